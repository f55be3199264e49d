//! DESIGN.md "Operations": `/metrics` in the Prometheus (OpenMetrics) text format.

use reqwest::StatusCode;
use serde_json::json;

use crate::test_app::{Credentials, TestApp};

/// The value of the one sample named `series` (name and labels, exactly as exposed).
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_count_what_the_token_endpoint_the_check_and_introspection_decided() {
    let app = TestApp::spawn().await;
    let (client, _) = app.create_client(&app.admin_token().await, json!({})).await;
    let before = scrape(&app).await;
    assert!(before.contains(r#"gatehouse_build_info{version=""#));
    assert!(sample(&before, "process_resident_memory_bytes") > 1024 * 1024);
    let issued = sample(&before, r#"gatehouse_token_requests_total{outcome="issued"}"#);

    let token = app.token(&client).await;
    let wrong = Credentials { client_id: client.client_id.clone(), client_secret: "gsec_wrong".to_owned() };
    let refused = app.token_request_basic(&wrong, &[("grant_type", "client_credentials")]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Refused by the form parser, before the grant is looked at: counted all the same.
    let as_json =
        app.http.post(app.url("/api-services/v1/auth/token")).json(&json!({"grant_type": "x"})).send().await.unwrap();
    assert_eq!(as_json.status(), StatusCode::BAD_REQUEST);
    let check = |token: Option<&str>| {
        let mut request = app.http.get(app.url("/v1/auth/products/SuperSIM/check"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(check(Some(&token)).await.unwrap().status(), StatusCode::OK);
    assert_eq!(check(Some(&token)).await.unwrap().status(), StatusCode::OK);
    assert_eq!(check(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let introspection = app.introspect(&client, &token).await;
    assert_eq!(introspection["active"], true);

    let after = scrape(&app).await;
    assert_eq!(sample(&after, r#"gatehouse_token_requests_total{outcome="issued"}"#), issued + 1);
    assert_eq!(sample(&after, r#"gatehouse_token_requests_total{outcome="invalid_client"}"#), 1);
    assert_eq!(sample(&after, r#"gatehouse_token_requests_total{outcome="invalid_request"}"#), 1);
    assert_eq!(sample(&after, r#"gatehouse_gateway_checks_total{decision="allowed"}"#), 2);
    assert_eq!(sample(&after, r#"gatehouse_gateway_checks_total{decision="unauthenticated"}"#), 1);
    assert_eq!(sample(&after, r#"gatehouse_introspections_total{active="true"}"#), 1);
    assert!(after.ends_with("# EOF\n"));
    // Counts only: no id, token or secret is ever a label.
    for secret in [&client.client_id, &client.client_secret, &token] {
        assert!(!after.contains(secret.as_str()));
    }
}

/// Every route of DESIGN.md's HTTP contract, as the router serves it.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/api-services/v1/auth/token"),
    ("post", "/api-services/v1/auth/introspect"),
    ("post", "/api-services/v1/auth/revoke"),
    ("post", "/api-services/v1/auth/leaked"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/v1/ping"),
    ("get", "/v1/clients"),
    ("post", "/v1/clients"),
    ("get", "/v1/clients/{client_id}"),
    ("patch", "/v1/clients/{client_id}"),
    ("delete", "/v1/clients/{client_id}"),
    ("post", "/v1/clients/{client_id}/renew-key"),
    ("post", "/v1/clients/{client_id}/rotate-secret"),
    ("get", "/v1/clients/{client_id}/secrets"),
    ("delete", "/v1/clients/{client_id}/secrets/{secret_id}"),
    ("put", "/v1/clients/{client_id}/logo"),
    ("get", "/v1/clients/{client_id}/logo"),
    ("delete", "/v1/clients/{client_id}/logo"),
    ("post", "/v1/clients/{client_id}/transfer-ownership"),
    ("get", "/v1/clients/{client_id}/access-profiles"),
    ("post", "/v1/clients/{client_id}/access-profiles"),
    ("get", "/v1/clients/{client_id}/access-profiles/{profile_id}"),
    ("patch", "/v1/clients/{client_id}/access-profiles/{profile_id}"),
    ("delete", "/v1/clients/{client_id}/access-profiles/{profile_id}"),
    ("post", "/v1/clients/{client_id}/access-profiles/{profile_id}/refresh"),
    ("get", "/v1/clients/{client_id}/access-profiles/{profile_id}/usage"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/users"),
    ("post", "/v1/users"),
    ("get", "/v1/users/{user_id}"),
    ("patch", "/v1/users/{user_id}"),
    ("delete", "/v1/users/{user_id}"),
    ("get", "/v1/accounts"),
    ("post", "/v1/accounts"),
    ("post", "/v1/accounts/{account_id}/transfer-ownership"),
    ("get", "/v1/products"),
    ("post", "/v1/products"),
    ("get", "/v1/products/{name}"),
    ("patch", "/v1/products/{name}"),
    ("delete", "/v1/products/{name}"),
    ("get", "/v1/policies"),
    ("post", "/v1/policies"),
    ("get", "/v1/policies/{policy_id}"),
    ("patch", "/v1/policies/{policy_id}"),
    ("delete", "/v1/policies/{policy_id}"),
    ("get", "/v1/projects"),
    ("post", "/v1/projects"),
    ("get", "/v1/projects/{project_id}"),
    ("patch", "/v1/projects/{project_id}"),
    ("delete", "/v1/projects/{project_id}"),
    ("put", "/v1/projects/{project_id}/members/{user_id}"),
    ("delete", "/v1/projects/{project_id}/members/{user_id}"),
    ("get", "/v1/audit-events"),
    ("get", "/v1/auth/check"),
    ("get", "/v1/auth/check/{path}"),
    ("get", "/v1/auth/products/{product}/check"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

#[tokio::test]
async fn openapi_describes_exactly_the_routes_that_are_served() {
    let app = TestApp::spawn().await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: serde_json::Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(document["servers"][0]["url"], app.issuer.as_str());

    let mut documented: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| (method.clone(), path.clone())))
        .collect();
    documented.sort();
    let mut contract: Vec<(String, String)> =
        CONTRACT.iter().map(|(method, path)| ((*method).to_owned(), (*path).to_owned())).collect();
    contract.sort();
    assert_eq!(documented, contract);

    // And each is really served: an unknown route answers "route not found", a known one with an
    // unknown id answers about the object, or 401 without credentials.
    for (method, path) in CONTRACT {
        let url = app.url(&path.replace('{', "x").replace('}', ""));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.http.request(method.clone(), url).send().await.unwrap();
        assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains("route not found"), "{method} {path} is documented but not served");
    }

    // The two error formats, as DESIGN.md names them.
    let schemas = &document["components"]["schemas"];
    let fields = |name: &str| {
        let mut fields: Vec<String> = schemas[name]["properties"].as_object().unwrap().keys().cloned().collect();
        fields.sort();
        fields
    };
    assert_eq!(fields("ErrorBody"), ["code", "info", "message", "status"]);
    assert_eq!(fields("OAuthErrorBody"), ["error", "error_description"]);
    assert_eq!(document["paths"]["/v1/clients"]["post"]["security"][0]["bearer"], serde_json::json!([]));
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}

/// `/openapi.json` is what integrators generate clients from: any change to it shows up in
/// review as a change to docs/openapi.json. After a deliberate change, rewrite the copy with
/// `GATEHOUSE_UPDATE_OPENAPI=1 cargo test -p gatehouse-server --test api openapi_matches`.
#[tokio::test]
async fn openapi_matches_the_committed_copy() {
    let app = TestApp::spawn().await;
    let mut document: serde_json::Value =
        app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    // The one server is wherever this instance runs.
    document["servers"][0]["url"] = serde_json::json!("https://gatehouse.example");
    let served = serde_json::to_string_pretty(&document).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("GATEHOUSE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "/openapi.json differs from docs/openapi.json; if the change is meant, rewrite the copy with \
         GATEHOUSE_UPDATE_OPENAPI=1 cargo test -p gatehouse-server --test api openapi_matches"
    );
}
