//! Cross-origin calls from browser apps: off by default; when origins are configured, the JSON
//! API and the OAuth endpoints answer preflights and echo only a listed origin, never with
//! credentials; the portal and the gateway check never take part.

use gatehouse_server::http::cors::CorsOrigins;
use reqwest::{Method, StatusCode};

use crate::test_app::TestApp;

const ALLOWED: &str = "https://console.example";

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header("access-control-request-headers", "authorization, content-type, if-match")
        .send()
        .await
        .unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<&str> {
    response.headers().get("access-control-allow-origin").map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn cross_origin_calls_are_off_by_default() {
    let app = TestApp::spawn().await;
    assert_eq!(allowed_origin(&preflight(&app, "/v1/clients", ALLOWED).await), None);
    let response = app.http.get(app.url("/v1/ping")).header("origin", ALLOWED).send().await.unwrap();
    assert_eq!(allowed_origin(&response), None);
}

#[tokio::test]
async fn listed_origins_may_call_the_api_and_the_token_endpoint_without_credentials() {
    let app = TestApp::spawn_with(|config| config.cors_allowed_origins = CorsOrigins::parse(ALLOWED).unwrap()).await;

    let response = preflight(&app, "/v1/clients/some-id", ALLOWED).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(allowed_origin(&response), Some(ALLOWED));
    let methods = response.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("PATCH") && methods.contains("DELETE"), "{methods}");
    let headers = response.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(headers.contains("authorization") && headers.contains("if-match"), "{headers}");
    assert!(response.headers().get("access-control-allow-credentials").is_none(), "never with credentials");

    // Another site gets nothing it could use.
    assert_eq!(allowed_origin(&preflight(&app, "/v1/clients", "https://evil.example").await), None);

    // Real calls, refusals included, carry the headers the browser needs to read the answer.
    let token = app.admin_token().await;
    let ok = app.http.get(app.url("/v1/ping")).header("origin", ALLOWED).bearer_auth(&token).send().await.unwrap();
    assert_eq!((ok.status(), allowed_origin(&ok)), (StatusCode::OK, Some(ALLOWED)));
    let exposed = ok.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase();
    assert!(exposed.contains("etag") && exposed.contains("x-request-id"), "{exposed}");
    assert!(ok.headers()["vary"].to_str().unwrap().to_lowercase().contains("origin"));
    let refused = app.http.get(app.url("/v1/ping")).header("origin", ALLOWED).bearer_auth("nope").send().await.unwrap();
    assert_eq!((refused.status(), allowed_origin(&refused)), (StatusCode::UNAUTHORIZED, Some(ALLOWED)));
    let other = app.http.get(app.url("/v1/ping")).header("origin", "https://evil.example").bearer_auth(&token);
    assert_eq!(allowed_origin(&other.send().await.unwrap()), None);
    let minted = app
        .http
        .post(app.url("/api-services/v1/auth/token"))
        .header("origin", ALLOWED)
        .basic_auth(&app.admin.client_id, Some(&app.admin.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!((minted.status(), allowed_origin(&minted)), (StatusCode::OK, Some(ALLOWED)));

    // Not the portal, whose cookie must never ride on another site's request, nor signing in
    // (any site's visitors could guess passwords from their own addresses), nor the check.
    assert_eq!(allowed_origin(&preflight(&app, "/login", ALLOWED).await), None);
    for path in ["/v1/auth/login", "/v1/auth/logout"] {
        assert_eq!(allowed_origin(&preflight(&app, path, ALLOWED).await), None, "{path}");
    }
    let check = app.http.get(app.url("/v1/auth/products/SuperSIM/check")).header("origin", ALLOWED);
    assert_eq!(allowed_origin(&check.bearer_auth(&token).send().await.unwrap()), None);
}

#[tokio::test]
async fn any_origin_is_allowed_only_without_credentials() {
    let app = TestApp::spawn_with(|config| config.cors_allowed_origins = CorsOrigins::parse("*").unwrap()).await;
    let response = preflight(&app, "/v1/clients", "https://anyone.example").await;
    assert_eq!(allowed_origin(&response), Some("*"));
    assert!(response.headers().get("access-control-allow-credentials").is_none());
}

/// Leaked-credential reports come from servers (GitHub's scanner), never from a page: even with
/// every origin allowed, no web page can make its visitors' browsers send one, which would
/// spread an attacker's reports over other people's addresses and put them in owners' logs.
#[tokio::test]
async fn no_page_can_send_a_leaked_credential_report() {
    let app = TestApp::spawn_with(|config| config.cors_allowed_origins = CorsOrigins::parse("*").unwrap()).await;
    let response = preflight(&app, "/api-services/v1/auth/leaked", "https://anyone.example").await;
    assert_eq!(allowed_origin(&response), None);
}
