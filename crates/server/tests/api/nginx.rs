//! A real gateway: nginx (Debian's package) with `auth_request` to Gatehouse, configured by the
//! file the README documents, `deploy/nginx/gatehouse.conf`.

use reqwest::StatusCode;
use serde_json::json;

use crate::processes::{Nginx, free_port};
use crate::test_app::TestApp;

/// nginx with the documented configuration, and where it listens. Its directory (the prefix,
/// with its logs) lives as long as it does.
struct Gateway {
    _nginx: Nginx,
    base_url: String,
    _dir: tempfile::TempDir,
}

async fn start_nginx(gatehouse: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let upstream = format!("127.0.0.1:{}", free_port());
    let template = include_str!("../../../../deploy/nginx/gatehouse.conf");
    let config = template
        .replace("@GATEHOUSE@", gatehouse)
        .replace("@LISTEN@", &listen)
        .replace("@UPSTREAM@", &upstream)
        .replace("@PREFIX@", &dir.path().display().to_string());
    let nginx = Nginx::start(dir.path(), &config, &listen).await;
    Gateway { _nginx: nginx, base_url: format!("http://{listen}"), _dir: dir }
}

#[tokio::test]
async fn nginx_auth_request_lets_through_exactly_what_gatehouse_allows() {
    let app = TestApp::spawn().await;
    let nginx = start_nginx(app.base_url.trim_start_matches("http://")).await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({"rate_limit": {"requests_per_second": 1, "burst": 2}})).await;
    let token = app.token(&client).await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = app.http.get(format!("{}{path}", nginx.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    // A token for the product passes, and the upstream sees who is calling.
    let response = get("/supersim/v1/Sims", Some(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.text().await.unwrap();
    assert_eq!(body.trim(), format!("client={} account={}", client.client_id, app.account_id));

    // Another product: 403. No token: 401.
    assert_eq!(get("/wireless/v1/Commands", Some(&token)).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(get("/supersim/v1/Sims", None).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // Over the limit (burst 2, the first request above counted): 429 with Retry-After.
    assert_eq!(get("/supersim/v1/Sims", Some(&token)).await.unwrap().status(), StatusCode::OK);
    let limited = get("/supersim/v1/Sims", Some(&token)).await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");

    // Disabled: 401 on the next request.
    app.patch_json(&format!("/v1/clients/{}", client.client_id), &admin, &json!({"enabled": false})).await;
    app.clock.advance(5);
    assert_eq!(get("/supersim/v1/Sims", Some(&token)).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
