//! A client's logo (seed file 002): a PNG or JPEG of at most 256 KiB, judged by its bytes and
//! served back only as what they are.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{TestApp, assert_api_error};

/// A 1×1 PNG, as image tools write it.
pub const TINY_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";

async fn put_logo(app: &TestApp, token: &str, client_id: &str, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .put(app.url(&format!("/v1/clients/{client_id}/logo")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_logo_is_taken_by_its_bytes_and_served_as_what_they_are() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let view: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(view["client"]["logo_url"], Value::Null);

    // A page of HTML called an image, a GIF, a PNG cut short, and too much: refused, nothing set.
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let refused = put_logo(&app, &admin, &client.client_id, "image/png", html).await;
    assert_api_error(refused, StatusCode::BAD_REQUEST).await;
    for bad in [b"GIF89a\x01\x00\x01\x00".to_vec(), TINY_PNG[..40].to_vec()] {
        assert_api_error(put_logo(&app, &admin, &client.client_id, "image/png", bad).await, StatusCode::BAD_REQUEST)
            .await;
    }
    let mut big = b"\xff\xd8\xff".to_vec();
    big.resize(300 * 1024, 0);
    big.extend_from_slice(b"\xff\xd9");
    let too_big = put_logo(&app, &admin, &client.client_id, "image/jpeg", big).await;
    assert_api_error(too_big, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(app.get(&format!("{path}/logo"), &admin).await.status(), StatusCode::NOT_FOUND);

    // A PNG, whatever it was declared as, is served as a PNG that no browser sniffs or runs.
    let set = put_logo(&app, &admin, &client.client_id, "application/octet-stream", TINY_PNG.to_vec()).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let view: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(view["client"]["logo_url"], format!("/v1/clients/{}/logo", client.client_id));
    let served = app.get(&format!("{path}/logo"), &admin).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert!(served.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    assert_eq!(served.bytes().await.unwrap().as_ref(), TINY_PNG);
    let listed: Value = app.get("/v1/clients?page_size=50&page_number=1", &admin).await.json().await.unwrap();
    let listed = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == client.client_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["logo_url"], view["client"]["logo_url"]);

    assert_eq!(app.delete(&format!("{path}/logo"), &admin).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("{path}/logo"), &admin).await.status(), StatusCode::NOT_FOUND);
    let view: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(view["client"]["logo_url"], Value::Null);
    let events: Value = app.get("/v1/audit-events?page_size=50&page_number=1", &admin).await.json().await.unwrap();
    let actions: Vec<&str> =
        events["audit_events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"client.set_logo") && actions.contains(&"client.delete_logo"), "{actions:?}");
}
