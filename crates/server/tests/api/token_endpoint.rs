//! `POST /api-services/v1/auth/token`: RFC 6749 §4.4 and the token-endpoint rules listed in
//! docs/security.md.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, TestApp, decode_jwt};

const TOKEN_PATH: &str = "/api-services/v1/auth/token";

async fn oauth_error(response: reqwest::Response, status: StatusCode, error: &str) -> reqwest::header::HeaderMap {
    assert_eq!(response.status(), status);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'));
    headers
}

#[tokio::test]
async fn basic_auth_issues_an_eddsa_at_jwt_with_the_documented_claims() {
    let app = TestApp::spawn().await;
    let response = app.token_request_basic(&app.admin, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "api_clients users audit introspection ProgrammableWireless SuperSIM");
    assert!(body.get("refresh_token").is_none());

    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["aud"], app.issuer);
    assert_eq!(claims["sub"], app.admin.client_id);
    assert_eq!(claims["client_id"], app.admin.client_id);
    assert_eq!(claims["account_id"], app.account_id);
    assert_eq!(claims["client_type"], "admin");
    assert_eq!(claims["scope"], body["scope"]);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
}

#[tokio::test]
async fn client_secret_post_works_and_every_token_is_distinct() {
    let app = TestApp::spawn().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", app.admin.client_id.as_str()),
        ("client_secret", app.admin.client_secret.as_str()),
    ];
    let first: Value = app.http.post(app.url(TOKEN_PATH)).form(&form).send().await.unwrap().json().await.unwrap();
    let second: Value = app.http.post(app.url(TOKEN_PATH)).form(&form).send().await.unwrap().json().await.unwrap();
    assert_ne!(first["access_token"], second["access_token"]);
    assert_eq!(app.ping_status(first["access_token"].as_str().unwrap()).await, StatusCode::OK);
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded() {
    let app = TestApp::spawn().await;
    // RFC 6749 §2.3.1: each part is form-urlencoded before base64; `%5F` is `_`.
    let encoded_id = app.admin.client_id.replace('_', "%5F").replace('-', "%2D");
    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(encoded_id, Some(&app.admin.client_secret.replace('_', "%5F")))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_secret_and_unknown_client_are_indistinguishable() {
    let app = TestApp::spawn().await;
    let wrong = Credentials { client_id: app.admin.client_id.clone(), client_secret: "gsec_wrong".to_owned() };
    let unknown = Credentials { client_id: "no-such-client".to_owned(), client_secret: "gsec_wrong".to_owned() };
    let form = [("grant_type", "client_credentials")];
    let a = app.token_request_basic(&wrong, &form).await;
    let b = app.token_request_basic(&unknown, &form).await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(a.status(), b.status());
    assert_eq!(a.headers()["www-authenticate"], r#"Basic realm="gatehouse""#);
    assert_eq!(a.headers()["www-authenticate"], b.headers()["www-authenticate"]);
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client() {
    let app = TestApp::spawn().await;
    let grant = [("grant_type", "client_credentials")];
    // Bad base64 and a missing colon: 401 with the Basic challenge.
    for header in ["Basic !!!not-base64", "Basic bm9jb2xvbg=="] {
        let response =
            app.http.post(app.url(TOKEN_PATH)).header("authorization", header).form(&grant).send().await.unwrap();
        let headers = oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
        assert_eq!(headers["www-authenticate"], r#"Basic realm="gatehouse""#);
    }
    // No credentials at all.
    let response = app.http.post(app.url(TOKEN_PATH)).form(&grant).send().await.unwrap();
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // A wrong secret in the body.
    let form =
        [("grant_type", "client_credentials"), ("client_id", app.admin.client_id.as_str()), ("client_secret", "x")];
    let response = app.http.post(app.url(TOKEN_PATH)).form(&form).send().await.unwrap();
    oauth_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = TestApp::spawn().await;
    let id = app.admin.client_id.as_str();
    let secret = app.admin.client_secret.as_str();

    // Two authentication methods at once.
    let form = [("grant_type", "client_credentials"), ("client_secret", secret)];
    let response = app.token_request_basic(&app.admin, &form).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    // A repeated parameter.
    let body =
        format!("grant_type=client_credentials&grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    // The secret in the query string.
    let response = app
        .http
        .post(app.url(&format!("{TOKEN_PATH}?client_secret={secret}")))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    // JSON, empty and missing grant_type.
    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(id, Some(secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app
        .http
        .post(app.url(TOKEN_PATH))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = app.token_request_basic(&app.admin, &[("scope", "SuperSIM")]).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    // Another grant.
    let response = app.token_request_basic(&app.admin, &[("grant_type", "password")]).await;
    oauth_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
}

#[tokio::test]
async fn only_post_is_allowed_and_large_bodies_are_refused() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url(TOKEN_PATH)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");

    let padding = "x".repeat(70 * 1024);
    let response = app
        .token_request_basic(&app.admin, &[("grant_type", "client_credentials"), ("padding", padding.as_str())])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn scope_down_scopes_and_refuses_what_the_client_lacks() {
    let app = TestApp::spawn().await;
    let response =
        app.token_request_basic(&app.admin, &[("grant_type", "client_credentials"), ("scope", "SuperSIM")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "SuperSIM");
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "SuperSIM");
    // A down-scoped admin token no longer manages clients.
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(app.get("/v1/clients?page_size=1&page_number=1", token).await.status(), StatusCode::FORBIDDEN);

    let admin_token = app.admin_token().await;
    let (standard, _) = app.create_client(&admin_token, json!({})).await;
    for scope in ["api_clients", "ProgrammableWireless", "NoSuchProduct"] {
        let response =
            app.token_request_basic(&standard, &[("grant_type", "client_credentials"), ("scope", scope)]).await;
        oauth_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

#[tokio::test]
async fn token_lifetime_follows_the_client_setting() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&admin_token, json!({"token_expiry_seconds": 120})).await;
    let response = app.token_request_basic(&client, &[("grant_type", "client_credentials")]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
}

#[tokio::test]
async fn allowed_ips_are_enforced_at_the_token_endpoint() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (elsewhere, _) = app.create_client(&admin_token, json!({"allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]})).await;
    let (local, _) = app.create_client(&admin_token, json!({"allowed_ips": ["127.0.0.0/8"]})).await;
    let grant = [("grant_type", "client_credentials")];
    let refused = app.token_request_basic(&elsewhere, &grant).await;
    let wrong_secret =
        app.token_request_basic(&Credentials { client_secret: "gsec_nope".into(), ..elsewhere.clone() }, &grant).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Same answer as a wrong secret: the caller learns nothing about the allow-list.
    assert_eq!(refused.text().await.unwrap(), wrong_secret.text().await.unwrap());
    assert_eq!(app.token_request_basic(&local, &grant).await.status(), StatusCode::OK);
}

/// Repeated failures for one client from one address are throttled (429 with Retry-After at
/// most 30 s), so a secret cannot be guessed quickly; the same client calling from another
/// address is not locked out, so an attacker cannot shut the real client out.
#[tokio::test]
async fn guessing_a_secret_is_throttled_per_client_and_address() {
    use gatehouse_server::http::client_address::TrustedProxies;
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let request = |secret: &str, from: &str| {
        app.http
            .post(app.url(TOKEN_PATH))
            .basic_auth(&app.admin.client_id, Some(secret))
            .header("x-forwarded-for", from)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let attacker = "203.0.113.66";
    for _ in 0..5 {
        assert_eq!(request("gsec_guess", attacker).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = request(&app.admin.client_secret, attacker).await.unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry));
    assert_eq!(blocked.json::<Value>().await.unwrap()["error"], "slow_down");

    // The real client, from its own address, is unaffected.
    assert_eq!(request(&app.admin.client_secret, "198.51.100.10").await.unwrap().status(), StatusCode::OK);
    // And the block lifts.
    app.clock.advance(31);
    assert_eq!(request(&app.admin.client_secret, attacker).await.unwrap().status(), StatusCode::OK);
}

/// Unknown parameters are ignored (RFC 6749 §3.2); a multipart body is refused like any body
/// that is not a form.
#[tokio::test]
async fn unknown_parameters_are_ignored_and_multipart_bodies_refused() {
    let app = TestApp::spawn().await;
    let form = [("grant_type", "client_credentials"), ("audience", "https://api.example"), ("x-custom", "1")];
    let response = app.token_request_basic(&app.admin, &form).await;
    assert_eq!(response.status(), StatusCode::OK);

    let body = "--XYZ\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--XYZ--\r\n";
    let response = app
        .http
        .post(app.url("/api-services/v1/auth/token"))
        .basic_auth(&app.admin.client_id, Some(&app.admin.client_secret))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(body)
        .send()
        .await
        .unwrap();
    oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}
