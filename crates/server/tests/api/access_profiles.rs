//! Access profiles (seed file 002, limits from file 003): extra credentials of a client with
//! their own products, method, addresses, rate limit and active switch.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, TestApp, assert_api_error, decode_jwt, whole_answer};

const GRANT: [(&str, &str); 1] = [("grant_type", "client_credentials")];

struct Setup {
    app: TestApp,
    admin: String,
    client: Credentials,
    base: String,
}

async fn setup() -> Setup {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) =
        app.create_client(&admin, json!({"scopes": {"products": ["SuperSIM", "ProgrammableWireless"]}})).await;
    let base = format!("/v1/clients/{}/access-profiles", client.client_id);
    Setup { app, admin, client, base }
}

async fn create(setup: &Setup, body: Value) -> Value {
    let response = setup.app.post_json(&setup.base, &setup.admin, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn check(app: &TestApp, credential: &str, product: &str) -> reqwest::Response {
    app.http.get(app.url(&format!("/v1/auth/products/{product}/check"))).bearer_auth(credential).send().await.unwrap()
}

fn secret_credentials(created: &Value) -> Credentials {
    Credentials {
        client_id: created["credential"]["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["credential"]["client_secret"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test]
async fn a_client_secret_profile_mints_tokens_for_its_own_products() {
    let setup = setup().await;
    let app = &setup.app;
    let response = app
        .post_json(
            &setup.base,
            &setup.admin,
            &json!({"name": "ACME", "products": ["SuperSIM"], "auth_method": "client_secret"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["access_profile"]["products"], json!(["SuperSIM"]));
    assert_eq!(created["access_profile"]["active"], true);
    let profile = secret_credentials(&created);
    assert!(profile.client_id.starts_with("prf_"));

    // Never shown again.
    let listed = app.get(&setup.base, &setup.admin).await.text().await.unwrap();
    assert!(!listed.contains(&profile.client_secret) && !listed.contains("gsec_"));

    let response = app.token_request_basic(&profile, &GRANT).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "SuperSIM");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(decode_jwt(token).1["client_id"], profile.client_id);

    let allowed = check(app, token, "SuperSIM").await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-gatehouse-client-id"], setup.client.client_id.as_str());
    assert_eq!(allowed.headers()["x-gatehouse-profile-id"], profile.client_id.as_str());
    assert_eq!(check(app, token, "ProgrammableWireless").await.status(), StatusCode::FORBIDDEN);
    let response = app.token_request_basic(&profile, &[GRANT[0], ("scope", "ProgrammableWireless")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The profile introspects and revokes its own tokens.
    assert_eq!(app.introspect(&profile, token).await["active"], true);
    let revoked = app.oauth_post("/api-services/v1/auth/revoke", &profile, &[("token", token)]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(check(app, token, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_api_key_profile_calls_the_gateway_directly() {
    let setup = setup().await;
    let app = &setup.app;
    let created =
        create(&setup, json!({"name": "key", "products": ["ProgrammableWireless"], "auth_method": "api_key"})).await;
    let key = created["credential"]["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gak_"));
    let response = check(app, &key, "ProgrammableWireless").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-gatehouse-scopes"], "ProgrammableWireless");
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(check(app, "gak_not-a-key", "ProgrammableWireless").await.status(), StatusCode::UNAUTHORIZED);
    // An API key is not a secret for the token endpoint.
    let as_secret = Credentials {
        client_id: created["access_profile"]["profile_id"].as_str().unwrap().to_owned(),
        client_secret: key.clone(),
    };
    assert_eq!(app.token_request_basic(&as_secret, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn inactive_profiles_call_nothing_and_refresh_revokes_the_old_credential() {
    let setup = setup().await;
    let app = &setup.app;
    let secret_profile =
        create(&setup, json!({"name": "s", "products": ["SuperSIM"], "auth_method": "client_secret"})).await;
    let key_profile = create(&setup, json!({"name": "k", "products": ["SuperSIM"], "auth_method": "api_key"})).await;
    let credentials = secret_credentials(&secret_profile);
    let key = key_profile["credential"]["api_key"].as_str().unwrap().to_owned();
    let token = app.token(&credentials).await;
    let secret_path = format!("{}/{}", setup.base, credentials.client_id);
    let key_path = format!("{}/{}", setup.base, key_profile["access_profile"]["profile_id"].as_str().unwrap());

    // Rule 14: inactive refuses the credential and everything minted with it.
    for path in [&secret_path, &key_path] {
        let response = app.patch_json(path, &setup.admin, &json!({"active": false})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.token_request_basic(&credentials, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &token, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&token).await, StatusCode::UNAUTHORIZED);
    for path in [&secret_path, &key_path] {
        app.patch_json(path, &setup.admin, &json!({"active": true})).await;
    }
    assert_eq!(check(app, &token, "SuperSIM").await.status(), StatusCode::OK);
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::OK);

    // Refresh: a new credential; the old one and its tokens stop at once.
    let refreshed: Value =
        app.post_json(&format!("{secret_path}/refresh"), &setup.admin, &json!({})).await.json().await.unwrap();
    let renewed = secret_credentials(&refreshed);
    assert_eq!(renewed.client_id, credentials.client_id);
    assert_ne!(renewed.client_secret, credentials.client_secret);
    assert_eq!(app.token_request_basic(&credentials, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &token, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &app.token(&renewed).await, "SuperSIM").await.status(), StatusCode::OK);

    let response = app.post_json(&format!("{key_path}/refresh"), &setup.admin, &json!({})).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let new_key = response.json::<Value>().await.unwrap()["credential"]["api_key"].as_str().unwrap().to_owned();
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &new_key, "SuperSIM").await.status(), StatusCode::OK);

    // Disabling the client stops its profiles too.
    let client_path = format!("/v1/clients/{}", setup.client.client_id);
    app.patch_json(&client_path, &setup.admin, &json!({"enabled": false})).await;
    assert_eq!(check(app, &new_key, "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.token_request_basic(&renewed, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn profile_limits_products_and_deletion() {
    let setup = setup().await;
    let app = &setup.app;
    // Products must be the client's own.
    let response = app
        .post_json(&setup.base, &setup.admin, &json!({"name": "x", "products": ["Billing"], "auth_method": "api_key"}))
        .await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    let response = app
        .post_json(&setup.base, &setup.admin, &json!({"name": "x", "products": [], "auth_method": "password"}))
        .await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;

    // Seed rule 11: at most ten per client.
    let mut keys = Vec::new();
    for index in 0..10 {
        let created =
            create(&setup, json!({"name": format!("p{index}"), "products": ["SuperSIM"], "auth_method": "api_key"}))
                .await;
        keys.push(created["credential"]["api_key"].as_str().unwrap().to_owned());
    }
    let response = app
        .post_json(&setup.base, &setup.admin, &json!({"name": "eleventh", "products": [], "auth_method": "api_key"}))
        .await;
    assert_api_error(response, StatusCode::CONFLICT).await;
    let listed: Value = app.get(&setup.base, &setup.admin).await.json().await.unwrap();
    assert_eq!(listed["access_profiles"].as_array().unwrap().len(), 10);

    // Deleting the client deletes its profiles: their keys stop at once.
    assert_eq!(check(app, &keys[0], "SuperSIM").await.status(), StatusCode::OK);
    app.delete(&format!("/v1/clients/{}", setup.client.client_id), &setup.admin).await;
    assert_eq!(check(app, &keys[0], "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(check(app, &keys[1], "SuperSIM").await.status(), StatusCode::UNAUTHORIZED);
    assert_api_error(app.get(&setup.base, &setup.admin).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_profile_has_its_own_addresses_rate_limit_and_token_cap() {
    let setup = setup().await;
    let app = &setup.app;
    let created = create(
        &setup,
        json!({"name": "limited", "products": ["SuperSIM"], "auth_method": "api_key",
               "rate_limit": {"requests_per_second": 1, "burst": 2}}),
    )
    .await;
    let key = created["credential"]["api_key"].as_str().unwrap().to_owned();
    let path = format!("{}/{}", setup.base, created["access_profile"]["profile_id"].as_str().unwrap());
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::OK);
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::OK);
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::TOO_MANY_REQUESTS);

    app.patch_json(&path, &setup.admin, &json!({"allowed_ips": ["192.0.2.0/24"], "rate_limit": null})).await;
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::FORBIDDEN);

    // The live-token cap counts per credential: ten for the client and ten for a profile.
    let secret =
        create(&setup, json!({"name": "tokens", "products": ["SuperSIM"], "auth_method": "client_secret"})).await;
    let profile = secret_credentials(&secret);
    let mut tokens = Vec::new();
    for _ in 0..10 {
        tokens.push(app.token(&setup.client).await);
        tokens.push(app.token(&profile).await);
    }
    for token in &tokens {
        assert_eq!(check(app, token, "SuperSIM").await.status(), StatusCode::OK);
    }
}

/// A profile grants its products only while the client holds them; renewing the client's own
/// key leaves its profiles' credentials and tokens alone, at every check alike.
#[tokio::test]
async fn profiles_follow_the_clients_products_and_not_its_key() {
    let setup = setup().await;
    let app = &setup.app;
    let key_profile = create(&setup, json!({"name": "k", "products": ["SuperSIM"], "auth_method": "api_key"})).await;
    let key = key_profile["credential"]["api_key"].as_str().unwrap().to_owned();
    let secret_profile =
        create(&setup, json!({"name": "s", "products": ["SuperSIM"], "auth_method": "client_secret"})).await;
    let profile = secret_credentials(&secret_profile);
    let (first, second) = (app.token(&profile).await, app.token(&profile).await);
    assert_eq!(check(app, &first, "SuperSIM").await.status(), StatusCode::OK);

    let client_path = format!("/v1/clients/{}", setup.client.client_id);
    app.post_json(&format!("{client_path}/renew-key"), &setup.admin, &json!({})).await;
    assert_eq!(check(app, &first, "SuperSIM").await.status(), StatusCode::OK, "a warm profile token");
    assert_eq!(check(app, &second, "SuperSIM").await.status(), StatusCode::OK, "a cold profile token");
    assert_eq!(app.introspect(&profile, &second).await["active"], true);

    app.patch_json(&client_path, &setup.admin, &json!({"scopes": {"products": ["ProgrammableWireless"]}})).await;
    assert_eq!(check(app, &key, "SuperSIM").await.status(), StatusCode::FORBIDDEN);
    let response = app.token_request_basic(&profile, &GRANT).await;
    assert_eq!(response.json::<Value>().await.unwrap()["scope"], "", "nothing left to grant");
}

/// A credential that once worked (its client deleted or disabled, its profile inactive) is
/// refused with exactly the answer a wrong secret gets, headers and body, so the token endpoint
/// never tells which credentials exist or how they died.
#[tokio::test]
async fn every_dead_credential_is_refused_exactly_as_a_wrong_secret_is() {
    let setup = setup().await;
    let app = &setup.app;
    let (deleted, _) = app.create_client(&setup.admin, json!({"name": "to delete"})).await;
    let (disabled, _) = app.create_client(&setup.admin, json!({"name": "to disable"})).await;
    let profile = create(&setup, json!({"name": "p", "products": ["SuperSIM"], "auth_method": "client_secret"})).await;
    let inactive = secret_credentials(&profile);
    for live in [&deleted, &disabled, &inactive] {
        app.token(live).await;
    }
    assert_eq!(app.delete(&format!("/v1/clients/{}", deleted.client_id), &setup.admin).await.status(), 204);
    let off =
        app.patch_json(&format!("/v1/clients/{}", disabled.client_id), &setup.admin, &json!({"enabled": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let path = format!("{}/{}", setup.base, inactive.client_id);
    assert_eq!(app.patch_json(&path, &setup.admin, &json!({"active": false})).await.status(), StatusCode::OK);

    let wrong = Credentials { client_id: setup.client.client_id.clone(), client_secret: "wrong".to_owned() };
    let baseline = whole_answer(app.token_request_basic(&wrong, &GRANT).await).await;
    assert_eq!(baseline.0, StatusCode::UNAUTHORIZED);
    for (name, value) in
        [("cache-control", "no-store"), ("pragma", "no-cache"), ("www-authenticate", "Basic realm=\"gatehouse\"")]
    {
        assert!(baseline.1.contains(&(name.to_owned(), value.to_owned())), "{name}: {:?}", baseline.1);
    }
    let unknown = Credentials { client_id: "never-issued-0123456789".to_owned(), client_secret: "wrong".to_owned() };
    for (what, credentials) in [
        ("unknown id", &unknown),
        ("deleted client", &deleted),
        ("disabled client", &disabled),
        ("inactive profile", &inactive),
    ] {
        let answer = whole_answer(app.token_request_basic(credentials, &GRANT).await).await;
        assert_eq!(answer, baseline, "{what}");
    }
}
