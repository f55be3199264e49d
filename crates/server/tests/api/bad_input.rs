//! Bad input anywhere gets a 4xx in the documented format and changes nothing (the rows under
//! "Management API" in docs/security.md).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{TestApp, assert_api_error};

const MARKER: &str = "ZZ-HOSTILE-MARKER-ZZ";

#[tokio::test]
async fn malformed_bodies_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let json = Some("application/json");
    let bodies: Vec<Vec<u8>> = vec![
        format!("{{\"name\": \"{MARKER}\", ").into_bytes(),
        format!("{{\"name\": \"{MARKER}\", \"locked\": null, \"scopes\": {{}}}} trailing").into_bytes(),
        format!("{{\"name\": \"{MARKER}\", \"name\": \"again\", \"locked\": null, \"scopes\": {{}}}}").into_bytes(),
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        format!("{{\"name\": \"{MARKER}\", \"locked\": null, \"scopes\": {{}}, \"token_expiry_seconds\": 1e400}}").into_bytes(),
        format!("{{\"name\": \"{MARKER}\", \"locked\": null, \"scopes\": {{}}, \"token_expiry_seconds\": 99999999999999999999999}}").into_bytes(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"".to_vec(),
        vec![0xff, 0xfe, 0x00],
    ];
    for body in bodies {
        let response = app.post_raw("/v1/clients", &token, json, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let text = response.text().await.unwrap();
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["status"], 400);
        assert!(!text.contains(MARKER), "the error echoes the input: {text}");
    }
    assert_eq!(app.client_count(&token).await, 1);
}

#[tokio::test]
async fn content_type_and_size_are_enforced() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let body = serde_json::to_vec(&json!({"name": "x", "locked": null, "scopes": {}})).unwrap();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let response = app.post_raw("/v1/clients", &token, content_type, body.clone()).await;
        assert_api_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    let ok = app.post_raw("/v1/clients", &token, Some("application/json; charset=utf-8"), body).await;
    assert_eq!(ok.status(), StatusCode::CREATED);

    let big = json!({"name": "x", "locked": null, "scopes": {}, "description": "x".repeat(1024 * 1024)});
    let response = app.post_json("/v1/clients", &token, &big).await;
    assert_api_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let response = app
        .http
        .patch(app.url(&format!("/v1/clients/{}", app.admin.client_id)))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_api_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(app.client_count(&token).await, 2);
}

#[tokio::test]
async fn names_are_validated_in_characters_after_trimming() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let bad_names = [
        String::new(),
        "   ".to_owned(),
        "x".repeat(201),
        "🦀".repeat(201),
        "nul\u{0000}byte".to_owned(),
        "bell\u{0007}".to_owned(),
        "right-to-left \u{202E}override".to_owned(),
        "isolate \u{2066}x\u{2069}".to_owned(),
    ];
    for name in bad_names {
        let response = app.post_json("/v1/clients", &token, &json!({"name": name, "locked": null, "scopes": {}})).await;
        let body = assert_api_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["info"], "name");
    }
    // The same rules on PATCH, and a refused PATCH changes nothing.
    let path = format!("/v1/clients/{}", app.admin.client_id);
    let response = app.patch_json(&path, &token, &json!({"name": " ", "enabled": false})).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    let current: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(current["client"]["enabled"], true);
    assert_eq!(app.client_count(&token).await, 1);

    let (_, created) = app.create_client(&token, json!({"name": format!("  {}  ", "🦀".repeat(200))})).await;
    assert_eq!(created["name"].as_str().unwrap().chars().count(), 200);
}

#[tokio::test]
async fn hostile_strings_are_stored_and_returned_exactly() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let hostile = [
        "Robert'); DROP TABLE clients;--",
        "<script>alert(document.cookie)</script>",
        "\" OR 1=1 --",
        "emoji 🦀🔐 and ünïcødé",
        "%s %n {{7*7}} ${jndi:ldap://x}",
    ];
    for name in hostile {
        let (client, created) = app.create_client(&token, json!({"name": name, "description": name})).await;
        assert_eq!(created["name"], name);
        let fetched: Value = app.get(&format!("/v1/clients/{}", client.client_id), &token).await.json().await.unwrap();
        assert_eq!(fetched["client"]["name"], name);
        assert_eq!(fetched["client"]["description"], name);
    }
    assert_eq!(app.client_count(&token).await, 1 + hostile.len() as u64);
}

#[tokio::test]
async fn hostile_path_ids_are_plain_404s() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for id in ["'%20OR%201=1--", "..%2F..%2Fetc%2Fpasswd", "%00", &"a".repeat(5000)] {
        let response = app.get(&format!("/v1/clients/{id}"), &token).await;
        assert_api_error(response, StatusCode::NOT_FOUND).await;
    }
}
