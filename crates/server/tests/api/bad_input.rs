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

/// Serde reads a struct from an array of its fields as readily as from an object, so `[null,
/// null]` once passed for `{}` (a PATCH that changed nothing and answered 200), and
/// `{"scopes": [[], ["SuperSIM"]]}` for `{"scopes": {"products": ["SuperSIM"]}}`. Found by
/// schemathesis. Every body, and every object inside one, must be a JSON object.
#[tokio::test]
async fn arrays_never_stand_in_for_objects() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (client, _) = app.create_client(&token, json!({"name": "objects only"})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let before: Value = app.get(&path, &token).await.json().await.unwrap();
    for (target, body) in [
        (path.as_str(), json!([null, null])),
        (path.as_str(), json!(["renamed"])),
        (path.as_str(), json!({"scopes": [[], ["SuperSIM"]]})),
        (path.as_str(), json!({"rate_limit": [5, 10]})),
        ("/v1/products/SuperSIM", json!([null, null])),
    ] {
        let response = app.patch_json(target, &token, &body).await;
        assert_api_error(response, StatusCode::BAD_REQUEST).await;
    }
    let body = json!({"name": "x", "locked": null, "scopes": [[], ["SuperSIM"]]});
    assert_api_error(app.post_json("/v1/clients", &token, &body).await, StatusCode::BAD_REQUEST).await;
    let after: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(after, before, "nothing changed");
    assert_eq!(app.client_count(&token).await, 2);
}

/// serde_json reads an enum's unit variant from `{"admin": null}` as well as from `"admin"`;
/// the document says a string, and only a string is taken.
#[tokio::test]
async fn enum_values_are_strings_only() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for body in [
        json!({"name": "x", "locked": null, "scopes": {}, "client_type": {"standard": null}}),
        json!({"name": "x", "locked": null, "scopes": {"global_resources": [{"audit": null}]}}),
    ] {
        assert_api_error(app.post_json("/v1/clients", &token, &body).await, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(app.client_count(&token).await, 1);
}

/// Preconditions are judged after what the request alone decides and before the change is
/// weighed against the client's current state (RFC 9110 §13.2.1): with a stale `If-Match`, a
/// misspelled change is 400 (its own fault, whatever the version), and a well-formed one naming
/// a product that does not exist is 412 (the caller has not seen the current client). Found by
/// schemathesis: a malformed change answered 412.
#[tokio::test]
async fn with_a_stale_if_match_a_misspelled_change_is_400_and_a_well_formed_one_412() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (client, _) = app.create_client(&token, json!({"name": "conditional"})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let patch = |products: &[&str]| {
        app.http
            .patch(app.url(&path))
            .bearer_auth(&token)
            .header("if-match", "\"999\"")
            .json(&json!({"scopes": {"products": products}}))
            .send()
    };
    assert_api_error(patch(&["no such product"]).await.unwrap(), StatusCode::BAD_REQUEST).await;
    assert_api_error(patch(&["NoSuchProduct"]).await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    // A caller who may not change the client learns nothing of its version: 403 either way.
    let admin_client = format!("/v1/clients/{}", app.admin.client_id);
    for version in ["\"1\"", "\"999\""] {
        let response = app
            .http
            .patch(app.url(&admin_client))
            .bearer_auth(&token)
            .header("if-match", version)
            .json(&json!({"name": "renamed"}))
            .send()
            .await
            .unwrap();
        assert_api_error(response, StatusCode::FORBIDDEN).await;
    }
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
