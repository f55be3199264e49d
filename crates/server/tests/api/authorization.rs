//! Who may call `/v1`: bearer tokens, scopes and account boundaries. No caller acts beyond its
//! token's scopes or sees another account's objects.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::client::{ClientName, Description, GlobalResource};
use gatehouse_domain::clients::{NewClient, RequestedScopes};
use reqwest::StatusCode;
use serde_json::{Value, json};

use gatehouse_domain::clock::Clock;

use crate::test_app::{Credentials, TestApp, assert_api_error, whole_answer};

#[tokio::test]
async fn missing_or_malformed_tokens_get_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/v1/ping")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], r#"Bearer realm="gatehouse", error="invalid_token""#);
    assert_api_error(response, StatusCode::UNAUTHORIZED).await;
    for header in ["Bearer", "Bearer not.a.jwt", "Basic abc", "Bearer a.b.c.d", "Bearer ...."] {
        let response = app.http.get(app.url("/v1/ping")).header("authorization", header).send().await.unwrap();
        assert_api_error(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn tampered_and_unsigned_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);
    let parts: Vec<&str> = token.split('.').collect();

    // An edited payload under the original signature.
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let edited = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_eq!(app.ping_status(&format!("{}.{}.{}", parts[0], edited, parts[2])).await, StatusCode::UNAUTHORIZED);

    // alg: none, with and without a signature segment.
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    assert_eq!(app.ping_status(&format!("{none}.{}.", parts[1])).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&format!("{none}.{}.{}", parts[1], parts[2])).await, StatusCode::UNAUTHORIZED);

    // A flipped signature byte.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(signature));
    assert_eq!(app.ping_status(&forged).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_expires_after_its_lifetime() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    app.clock.advance(3600 - 1);
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);
    // Past `exp` plus the 5 s leeway.
    app.clock.advance(6);
    assert_eq!(app.ping_status(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_from_another_gatehouse_is_refused() {
    let one = TestApp::spawn().await;
    let other = TestApp::spawn().await;
    let token = other.admin_token().await;
    assert_eq!(one.ping_status(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_standard_client_pings_but_cannot_manage_clients() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (standard, _) = app.create_client(&admin_token, json!({})).await;
    let token = app.token(&standard).await;
    assert_eq!(app.ping_status(&token).await, StatusCode::OK);
    let body: Value = app.get("/v1/ping", &token).await.json().await.unwrap();
    assert_eq!(body, json!({"message": "pong"}));

    let response = app.get("/v1/clients?page_size=10&page_number=1", &token).await;
    let body = assert_api_error(response, StatusCode::FORBIDDEN).await;
    assert!(body["message"].as_str().unwrap().contains("api_clients"));
    let response = app.post_json("/v1/clients", &token, &json!({"name": "x", "locked": null, "scopes": {}})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    let path = format!("/v1/clients/{}", standard.client_id);
    assert_api_error(app.get(&path, &token).await, StatusCode::FORBIDDEN).await;
    assert_api_error(app.delete(&path, &token).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.client_count(&admin_token).await, 2);
}

/// Objects of another account are 404, exactly like an id that never existed.
#[tokio::test]
async fn another_accounts_clients_are_invisible() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (ours, _) = app.create_client(&admin_token, json!({"name": "Ours"})).await;

    // A second tenant with its own admin client holding api_clients.
    let other_owner = app.add_account("owner@other.example").await;
    let new = NewClient {
        account_id: None,
        name: ClientName::parse("Theirs").unwrap(),
        description: Description::default(),
        locked: None,
        client_type: Some(gatehouse_domain::client::ClientType::Admin),
        scopes: RequestedScopes { global_resources: vec![GlobalResource::ApiClients], products: vec![] },
        token_expiry: None,
        allowed_ips: Default::default(),
        rate_limit: None,
        secret_expires_at: None,
        project_id: None,
    };
    let (theirs, secret) =
        app.gatehouse.create_client(&other_owner, new, time::OffsetDateTime::now_utc()).await.unwrap();
    let their_token = app
        .token(&Credentials { client_id: theirs.client_id.to_string(), client_secret: secret.expose().to_owned() })
        .await;

    // On every verb, our client answers them exactly as an id nobody issued does: status,
    // headers and body.
    let ours_path = format!("/v1/clients/{}", ours.client_id);
    let never_issued = format!("/v1/clients/{}", gatehouse_domain::ids::ClientId::generate());
    let answer = |method: reqwest::Method, path: String, body: Option<Value>| {
        let (app, token) = (&app, &their_token);
        async move {
            let mut request = app.http.request(method, app.url(&path)).bearer_auth(token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            whole_answer(request.send().await.unwrap()).await
        }
    };
    let transfer = json!({"client_owner": "owner@other.example"});
    for (method, suffix, body) in [
        (reqwest::Method::GET, "", None),
        (reqwest::Method::PATCH, "", Some(json!({"enabled": false}))),
        (reqwest::Method::DELETE, "", None),
        (reqwest::Method::POST, "/renew-key", Some(json!({}))),
        (reqwest::Method::POST, "/rotate-secret", Some(json!({}))),
        (reqwest::Method::GET, "/secrets", None),
        (reqwest::Method::DELETE, "/secrets/sid_x", None),
        (reqwest::Method::GET, "/logo", None),
        (reqwest::Method::DELETE, "/logo", None),
        (reqwest::Method::POST, "/transfer-ownership", Some(transfer)),
    ] {
        let foreign = answer(method.clone(), format!("{ours_path}{suffix}"), body.clone()).await;
        let unknown = answer(method.clone(), format!("{never_issued}{suffix}"), body).await;
        assert_eq!(foreign.0, StatusCode::NOT_FOUND, "{method} {suffix}");
        assert_eq!(foreign, unknown, "{method} {suffix}");
    }
    let page: Value = app.get(&ours_path, &admin_token).await.json().await.unwrap();
    assert_eq!(page["client"]["enabled"], true, "untouched");

    // Their list holds only their client; creating in our account is refused as unknown.
    let list: Value = app.get("/v1/clients?page_size=50&page_number=1", &their_token).await.json().await.unwrap();
    assert_eq!(list["meta"]["count"], 1);
    assert_eq!(list["clients"][0]["name"], "Theirs");
    let response = app
        .post_json(
            "/v1/clients",
            &their_token,
            &json!({"account_id": app.account_id, "name": "sneaky", "locked": null, "scopes": {}}),
        )
        .await;
    assert_api_error(response, StatusCode::NOT_FOUND).await;
    let listing_ours =
        app.get(&format!("/v1/clients?page_size=5&page_number=1&account_id={}", app.account_id), &their_token).await;
    assert_eq!(listing_ours.status(), StatusCode::NOT_FOUND);

    // Our client is untouched.
    let ours_now: Value = app.get(&ours_path, &admin_token).await.json().await.unwrap();
    assert_eq!(ours_now["client"]["enabled"], true);
    assert_eq!(app.token_request_basic(&ours, &[("grant_type", "client_credentials")]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_answer_in_the_error_format() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    assert_api_error(app.get("/v1/nothing-here", &token).await, StatusCode::NOT_FOUND).await;
}

/// Housekeeping forgets expired tokens only: a live token keeps working after a purge.
#[tokio::test]
async fn purging_expired_tokens_keeps_live_ones() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (short, _) = app.create_client(&admin_token, json!({"token_expiry_seconds": 60})).await;
    app.token(&short).await;
    app.token(&short).await;
    app.clock.advance(120);
    let live = app.admin_token().await;
    let purged = app.gatehouse.purge_expired_tokens(app.clock.now()).await.unwrap();
    assert_eq!(purged, 2);
    assert_eq!(app.ping_status(&live).await, StatusCode::OK);
    assert_eq!(app.gatehouse.purge_expired_tokens(app.clock.now()).await.unwrap(), 0);
}
