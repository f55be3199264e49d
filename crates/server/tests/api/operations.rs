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
    let check = |token: Option<&str>| {
        let mut request = app.http.get(app.url("/v1/auth/check?product=SuperSIM"));
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
    assert_eq!(sample(&after, r#"gatehouse_gateway_checks_total{decision="allowed"}"#), 2);
    assert_eq!(sample(&after, r#"gatehouse_gateway_checks_total{decision="unauthenticated"}"#), 1);
    assert_eq!(sample(&after, r#"gatehouse_introspections_total{active="true"}"#), 1);
    assert!(after.ends_with("# EOF\n"));
    // Counts only: no id, token or secret is ever a label.
    for secret in [&client.client_id, &client.client_secret, &token] {
        assert!(!after.contains(secret.as_str()));
    }
}
