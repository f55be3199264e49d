//! RFC 8414 metadata, the JWKS, key rotation, RFC 7662 introspection, RFC 7009 revocation and
//! the live-token cap of seed file 003.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::clock::Clock;
use gatehouse_domain::store::CapPolicy;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, TestApp, decode_jwt};

const INTROSPECT: &str = "/api-services/v1/auth/introspect";
const REVOKE: &str = "/api-services/v1/auth/revoke";

async fn jwks(app: &TestApp) -> Value {
    let response = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    response.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|key| key["kid"].as_str().unwrap().to_owned()).collect()
}

fn kid_of(token: &str) -> String {
    decode_jwt(token).0["kid"].as_str().unwrap().to_owned()
}

/// Verifies a token the way a resource server would, with the `jsonwebtoken` crate and nothing
/// but the published JWKS.
async fn verify_offline(app: &TestApp, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
    let set: JwkSet = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let kid = kid_of(token);
    let jwk = set.find(&kid).expect("the token's kid is published");
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&app.issuer]);
    validation.set_audience(&[&app.issuer]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims)
}

#[tokio::test]
async fn metadata_describes_the_server_with_the_configured_issuer() {
    let app = TestApp::spawn_with(|config| config.issuer = Some("https://auth.example.com/gatehouse".into())).await;
    let response = app.http.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(text.contains(r#""issuer":"https://auth.example.com/gatehouse""#), "byte-identical issuer: {text}");
    let metadata: Value = serde_json::from_str(&text).unwrap();
    let base = "https://auth.example.com/gatehouse";
    assert_eq!(metadata["token_endpoint"], format!("{base}/api-services/v1/auth/token"));
    assert_eq!(metadata["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(metadata["introspection_endpoint"], format!("{base}/api-services/v1/auth/introspect"));
    assert_eq!(metadata["revocation_endpoint"], format!("{base}/api-services/v1/auth/revoke"));
    assert_eq!(metadata["grant_types_supported"], json!(["client_credentials"]));
    let methods = json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]);
    assert_eq!(metadata["token_endpoint_auth_methods_supported"], methods);
    // RFC 8414 §2: with private_key_jwt, the algorithms an assertion may use; never "none".
    let algorithms = metadata["token_endpoint_auth_signing_alg_values_supported"].as_array().unwrap();
    assert!(algorithms.contains(&json!("EdDSA")) && algorithms.contains(&json!("RS256")));
    assert!(!algorithms.iter().any(|alg| alg == "none" || alg.as_str().is_some_and(|alg| alg.starts_with("HS"))));
    assert!(metadata.get("response_types_supported").is_none());
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    for scope in ["api_clients", "users", "audit", "introspection", "SuperSIM", "ProgrammableWireless"] {
        assert!(scopes.contains(&json!(scope)), "{scope}");
    }
    // Tokens carry the same issuer.
    let token = app.admin_token().await;
    assert_eq!(decode_jwt(&token).1["iss"], base);
}

#[tokio::test]
async fn the_jwks_publishes_public_ed25519_keys_that_verify_tokens_offline() {
    let app = TestApp::spawn().await;
    let set = jwks(&app).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap().len(), 32);
    assert!(key.get("d").is_none(), "never the private part");
    assert_eq!(key.as_object().unwrap().len(), 6);

    let token = app.admin_token().await;
    let claims = verify_offline(&app, &token).await.unwrap();
    assert_eq!(claims["client_id"], app.admin.client_id);

    // jsonwebtoken refuses what Gatehouse would refuse too.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = decode_jwt(&token).1;
    payload["scope"] = json!("api_clients");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2]);
    assert!(verify_offline(&app, &tampered).await.is_err());
    assert_eq!(app.ping_status(&tampered).await, StatusCode::UNAUTHORIZED);
}

/// HS256 made with the public key, an unknown kid, a token not yet valid: all refused, at the
/// API and at introspection, so a forger cannot choose the algorithm or key a token is checked
/// with.
#[tokio::test]
async fn algorithm_confusion_unknown_keys_and_future_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let set = jwks(&app).await;
    let public_key = URL_SAFE_NO_PAD.decode(set["keys"][0]["x"].as_str().unwrap()).unwrap();
    let claims = decode_jwt(&token).1;

    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(kid_of(&token));
    let hs256 = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&public_key)).unwrap();
    let unknown_kid = {
        let parts: Vec<&str> = token.split('.').collect();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","typ":"at+jwt","kid":"' OR 1=1 --"}"#);
        format!("{header}.{}.{}", parts[1], parts[2])
    };
    // Minted with the clock 100 s ahead, presented with the clock back at now.
    app.clock.advance(100);
    let future = app.admin_token().await;
    app.clock.advance(-100);

    for forged in [&hs256, &unknown_kid, &future] {
        assert_eq!(app.ping_status(forged).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.introspect(&app.admin, forged).await, json!({"active": false}));
    }
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);
}

#[tokio::test]
async fn a_rotated_key_is_published_first_signs_later_and_old_tokens_keep_working() {
    let app = TestApp::spawn().await;
    let before = app.admin_token().await;
    let old_kid = kid_of(&before);

    let rotated = app.gatehouse.rotate_keys(app.clock.now(), time::Duration::seconds(30)).await.unwrap();
    let published = kids(&jwks(&app).await);
    assert!(published.contains(&old_kid) && published.contains(&rotated.kid), "both keys are published at once");
    assert_eq!(kid_of(&app.admin_token().await), old_kid, "the new key does not sign before its time");

    app.clock.advance(30);
    let after = app.admin_token().await;
    assert_eq!(kid_of(&after), rotated.kid);
    for token in [&before, &after] {
        assert_eq!(app.ping_status(token).await, StatusCode::OK);
        assert_eq!(app.introspect(&app.admin, token).await["active"], true);
        verify_offline(&app, token).await.unwrap();
    }

    // A day later no token can carry the old key: the next rotation retires it.
    app.clock.advance(86_400 + 10);
    let third = app.gatehouse.rotate_keys(app.clock.now(), time::Duration::ZERO).await.unwrap();
    assert_eq!(third.retired, vec![old_kid.clone()]);
    let published = kids(&jwks(&app).await);
    assert!(!published.contains(&old_kid));
    assert!(published.contains(&rotated.kid) && published.contains(&third.kid));
}

/// Tokens minted and verified continuously while keys rotate: not one valid request refused.
#[tokio::test]
async fn rotation_under_load_drops_no_valid_request() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    // A client per worker: with one shared client, ten mints by the other workers between one
    // worker's mint and its ping (a starved thread under a loaded CI machine) let the live-token
    // cap revoke the token it was about to use, which is the cap working, not a rotation bug.
    let mut clients = Vec::new();
    for index in 0..4 {
        clients.push(app.create_client(&admin_token, json!({"name": format!("worker {index}")})).await.0);
    }
    let client = clients[0].clone();
    let workers: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let (http, base) = (app.http.clone(), app.base_url.clone());
            tokio::spawn(async move {
                let mut seen_kids = std::collections::BTreeSet::new();
                for _ in 0..60 {
                    let response = http
                        .post(format!("{base}/api-services/v1/auth/token"))
                        .basic_auth(&client.client_id, Some(&client.client_secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
                    seen_kids.insert(kid_of(&token));
                    let ping = http.get(format!("{base}/v1/ping")).bearer_auth(&token).send().await.unwrap();
                    assert_eq!(ping.status(), StatusCode::OK, "a valid token was refused during rotation");
                }
                seen_kids
            })
        })
        .collect();
    let mut rotated = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // The test clock stands still; real rotations are seconds apart at least.
        app.clock.advance(1);
        rotated.push(app.gatehouse.rotate_keys(app.clock.now(), time::Duration::ZERO).await.unwrap().kid);
    }
    let mut seen = std::collections::BTreeSet::new();
    for worker in workers {
        seen.extend(worker.await.unwrap());
    }
    assert!(seen.len() >= 2, "tokens were signed by more than one key during the run: {seen:?}");
    assert_eq!(kid_of(&app.token(&client).await), rotated[2]);
}

#[tokio::test]
async fn introspection_answers_for_own_tokens_and_account_wide_with_the_introspection_resource() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (alice, _) = app.create_client(&admin_token, json!({"name": "alice"})).await;
    let (bob, _) = app.create_client(&admin_token, json!({"name": "bob"})).await;
    let alice_token = app.token(&alice).await;

    // The first answer verifies the token; the second comes from what the first remembered.
    let claims = decode_jwt(&alice_token).1;
    for sight in ["first", "second"] {
        let own = app.introspect(&alice, &alice_token).await;
        assert_eq!(own["active"], true);
        for field in ["scope", "client_id", "sub", "exp", "iat", "jti", "iss", "aud", "account_id", "client_type"] {
            assert_eq!(own[field], claims[field], "{field} at {sight} sight");
        }
        assert_eq!(own["token_type"], "Bearer");
    }

    // Bob may not look at Alice's token; the bootstrap client (introspection) may.
    assert_eq!(app.introspect(&bob, &alice_token).await, json!({"active": false}));
    assert_eq!(app.introspect(&app.admin, &alice_token).await["active"], true);

    // Body authentication works too.
    let response = app
        .http
        .post(app.url(INTROSPECT))
        .form(&[
            ("token", alice_token.as_str()),
            ("client_id", &alice.client_id),
            ("client_secret", &alice.client_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["active"], true);
}

#[tokio::test]
async fn introspection_requires_an_authenticated_caller() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app.http.post(app.url(INTROSPECT)).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_client");
    let wrong = Credentials { client_secret: "gsec_wrong".into(), ..app.admin.clone() };
    let response = app.oauth_post(INTROSPECT, &wrong, &[("token", token.as_str())]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="gatehouse""#);
    let response = app.oauth_post(INTROSPECT, &app.admin, &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Every inactive case is exactly `{"active": false}`.
#[tokio::test]
async fn introspection_says_only_active_false_for_every_dead_token() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let inactive = json!({"active": false});
    let path = |c: &Credentials| format!("/v1/clients/{}", c.client_id);

    for garbage in ["", "not-a-token", "a.b.c", &"x".repeat(4000)] {
        let response = app.oauth_post(INTROSPECT, &app.admin, &[("token", garbage)]).await;
        if garbage.is_empty() {
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "an empty token counts as absent");
        } else {
            assert_eq!(response.json::<Value>().await.unwrap(), inactive);
        }
    }

    let (disabled, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&disabled).await;
    // Each token is seen alive first, so that its death has to reach what was remembered.
    assert_eq!(app.introspect(&app.admin, &token).await["active"], true);
    app.patch_json(&path(&disabled), &admin_token, &json!({"enabled": false})).await;
    assert_eq!(app.introspect(&app.admin, &token).await, inactive);

    let (renewed, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&renewed).await;
    assert_eq!(app.introspect(&app.admin, &token).await["active"], true);
    app.post_json(&format!("{}/renew-key", path(&renewed)), &admin_token, &json!({})).await;
    assert_eq!(app.introspect(&app.admin, &token).await, inactive);

    let (deleted, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&deleted).await;
    assert_eq!(app.introspect(&app.admin, &token).await["active"], true);
    app.delete(&path(&deleted), &admin_token).await;
    assert_eq!(app.introspect(&app.admin, &token).await, inactive);

    let (revoked, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&revoked).await;
    assert_eq!(app.introspect(&app.admin, &token).await["active"], true);
    app.oauth_post(REVOKE, &revoked, &[("token", token.as_str())]).await;
    assert_eq!(app.introspect(&app.admin, &token).await, inactive);

    let (expiring, _) = app.create_client(&admin_token, json!({"token_expiry_seconds": 60})).await;
    let token = app.token(&expiring).await;
    assert_eq!(app.introspect(&app.admin, &token).await["active"], true);
    app.clock.advance(66);
    assert_eq!(app.introspect(&app.admin, &token).await, inactive);
}

#[tokio::test]
async fn revocation_by_the_owner_takes_effect_everywhere() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&client).await;
    let other = app.token(&client).await;

    let response =
        app.oauth_post(REVOKE, &client, &[("token", token.as_str()), ("token_type_hint", "access_token")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(app.ping_status(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.introspect(&client, &token).await, json!({"active": false}));
    assert_eq!(app.ping_status(&other).await, StatusCode::OK, "only that token");

    // Again, and for tokens that never existed: still 200.
    for unknown in [token.as_str(), "garbage", "a.b.c"] {
        assert_eq!(app.oauth_post(REVOKE, &client, &[("token", unknown)]).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn revoking_another_clients_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (victim, _) = app.create_client(&admin_token, json!({})).await;
    let (attacker, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&victim).await;
    let response = app.oauth_post(REVOKE, &attacker, &[("token", token.as_str())]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);

    let response = app.http.post(app.url(REVOKE)).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);
}

/// Seed rule 11: at most 10 live tokens per credential; the 11th revokes the oldest.
#[tokio::test]
async fn the_eleventh_live_token_revokes_the_oldest() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&admin_token, json!({})).await;
    let mut tokens = Vec::new();
    for second in 0..11 {
        tokens.push(app.token(&client).await);
        // Distinct issue times, so "oldest" is unambiguous.
        if second < 10 {
            app.clock.advance(1);
        }
    }
    assert_eq!(app.ping_status(&tokens[0]).await, StatusCode::UNAUTHORIZED, "the oldest was revoked");
    for token in &tokens[1..] {
        assert_eq!(app.ping_status(token).await, StatusCode::OK);
    }
    // Revoked and expired tokens do not count against the cap.
    app.oauth_post(REVOKE, &client, &[("token", tokens[5].as_str())]).await;
    app.token(&client).await;
    assert_eq!(app.ping_status(&tokens[1]).await, StatusCode::OK, "a revoked token freed a place");
}

#[tokio::test]
async fn with_the_refuse_policy_the_eleventh_token_is_refused() {
    let app = TestApp::spawn_with(|config| config.token_cap_policy = CapPolicy::Refuse).await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&admin_token, json!({})).await;
    let tokens: Vec<String> = futures_in_order(&app, &client, 10).await;
    let response = app.token_request_basic(&client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("10 live tokens"));
    for token in &tokens {
        assert_eq!(app.ping_status(token).await, StatusCode::OK);
    }
    app.oauth_post(REVOKE, &client, &[("token", tokens[0].as_str())]).await;
    app.token(&client).await;
}

async fn futures_in_order(app: &TestApp, client: &Credentials, count: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        tokens.push(app.token(client).await);
    }
    tokens
}

/// The cap holds under concurrent requests: however they interleave, 10 stay live.
#[tokio::test]
async fn the_cap_holds_under_concurrent_minting() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&admin_token, json!({})).await;
    let mints: Vec<_> = (0..25)
        .map(|_| {
            let (http, base, client) = (app.http.clone(), app.base_url.clone(), client.clone());
            tokio::spawn(async move {
                let response = http
                    .post(format!("{base}/api-services/v1/auth/token"))
                    .basic_auth(&client.client_id, Some(&client.client_secret))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    // Every mint first, then the checks: a token checked while others are still being minted
    // may be evicted a moment later.
    let mut tokens = Vec::new();
    for mint in mints {
        tokens.push(mint.await.unwrap());
    }
    let mut live = 0;
    for token in &tokens {
        if app.ping_status(token).await == StatusCode::OK {
            live += 1;
        }
    }
    assert_eq!(live, 10);
}

/// Every answer that carries or judges a credential tells caches, HTTP/1.0 ones included, to
/// keep nothing: token errors, introspection and revocation (answers and refusals), renewed
/// keys and profile credentials.
#[tokio::test]
async fn answers_about_credentials_are_never_cached() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({"name": "cached?"})).await;
    let token = app.token(&client).await;
    let nobody = Credentials { client_id: client.client_id.clone(), client_secret: "wrong".to_owned() };
    let client_path = format!("/v1/clients/{}", client.client_id);
    let mut answers = vec![
        ("token error", app.token_request_basic(&nobody, &[("grant_type", "nope")]).await),
        ("introspection", app.oauth_post(INTROSPECT, &client, &[("token", &token)]).await),
        ("introspection 401", app.oauth_post(INTROSPECT, &nobody, &[("token", &token)]).await),
        ("revocation 401", app.oauth_post(REVOKE, &nobody, &[("token", &token)]).await),
        ("revocation", app.oauth_post(REVOKE, &client, &[("token", &token)]).await),
        ("renew-key", app.post_json(&format!("{client_path}/renew-key"), &admin, &json!({})).await),
    ];
    let profiles = format!("{client_path}/access-profiles");
    let body = json!({"name": "p", "products": ["SuperSIM"], "auth_method": "api_key"});
    let created = app.post_json(&profiles, &admin, &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created_headers = created.headers().clone();
    let profile: Value = created.json().await.unwrap();
    let refresh = format!("{profiles}/{}/refresh", profile["access_profile"]["profile_id"].as_str().unwrap());
    answers.push(("profile refresh", app.post_json(&refresh, &admin, &json!({})).await));
    let mut seen = vec![("profile create".to_owned(), StatusCode::CREATED, created_headers)];
    for (what, response) in answers {
        seen.push((what.to_owned(), response.status(), response.headers().clone()));
    }
    for (what, status, headers) in seen {
        assert_eq!(headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what} ({status})");
        assert_eq!(headers.get("pragma").map(|v| v.to_str().unwrap()), Some("no-cache"), "{what} ({status})");
    }
}
