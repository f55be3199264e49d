//! Seed file 001's Client API: create, get and list, to the letter.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{OWNER_EMAIL, TestApp, assert_api_error};

#[tokio::test]
async fn create_answers_201_with_the_seed_body_and_the_secret_once() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let response = app
        .post_json(
            "/v1/clients",
            &token,
            &json!({"name": "Billing sync", "locked": true, "scopes": {"products": ["SuperSIM"]}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "message",
        "client_id",
        "client_secret",
        "client_type",
        "account_id",
        "name",
        "date_created",
        "client_owner",
        "locked",
    ];
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    expected.sort();
    assert_eq!(sorted_keys, expected);
    assert_eq!(body["client_type"], "standard");
    assert_eq!(body["account_id"], app.account_id);
    assert_eq!(body["name"], "Billing sync");
    // Seed rule 2: a client created by an API client is owned by that client's owner.
    assert_eq!(body["client_owner"], OWNER_EMAIL);
    assert_eq!(body["locked"], true);
    let secret = body["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "at least 256 bits");
    time::OffsetDateTime::parse(body["date_created"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap();
    assert_eq!(location, format!("/v1/clients/{}", body["client_id"].as_str().unwrap()));

    // Never shown again: not in get, not in list.
    let get = app.get(&location, &token).await.text().await.unwrap();
    let list = app.get("/v1/clients?page_size=500&page_number=1", &token).await.text().await.unwrap();
    assert!(!get.contains(secret) && !list.contains(secret));
    assert!(!get.contains("client_secret") && !list.contains("client_secret"));
}

#[tokio::test]
async fn locked_null_means_never_locked() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (_, created) = app.create_client(&token, json!({"locked": null})).await;
    assert_eq!(created["locked"], Value::Null);
    let (_, created) = app.create_client(&token, json!({"locked": false})).await;
    assert_eq!(created["locked"], false);
}

#[tokio::test]
async fn get_returns_the_client_with_kore_fields_first_and_an_etag() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (client, _) = app
        .create_client(
            &token,
            json!({"description": "nightly export", "token_expiry_seconds": 600, "allowed_ips": ["192.0.2.0/24"],
                   "rate_limit": {"requests_per_second": 5, "burst": 10}}),
        )
        .await;
    let response = app.get(&format!("/v1/clients/{}", client.client_id), &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("etag"));
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let view = &body["client"];
    assert_eq!(view["client_id"], client.client_id);
    assert_eq!(view["enabled"], true);
    assert_eq!(view["description"], "nightly export");
    assert_eq!(view["token_expiry_seconds"], 600);
    assert_eq!(view["allowed_ips"], json!(["192.0.2.0/24"]));
    assert_eq!(view["rate_limit"], json!({"requests_per_second": 5, "burst": 10}));
    assert_eq!(view["scopes"], json!({"global_resources": [], "products": ["SuperSIM"]}));
    // DESIGN.md: the KORE fields first, in file 001's order, the extended ones after.
    let order =
        ["client_id", "account_id", "name", "client_owner", "client_type", "locked", "date_created", "description"];
    let positions: Vec<usize> = order.iter().map(|key| text.find(&format!("\"{key}\"")).unwrap()).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "field order: {text}");

    let missing = app.get("/v1/clients/nope", &token).await;
    assert_api_error(missing, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn list_pages_oldest_first_with_working_links() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for index in 0..5 {
        app.create_client(&token, json!({"name": format!("client {index}")})).await;
    }
    let first: Value = app.get("/v1/clients?page_size=2&page_number=1", &token).await.json().await.unwrap();
    assert_eq!(first["meta"]["count"], 6);
    assert_eq!(first["meta"]["page_number"], 1);
    assert_eq!(first["meta"]["page_size"], 2);
    assert_eq!(first["meta"]["previous_page_url"], Value::Null);
    assert_eq!(first["clients"][0]["name"], "Bootstrap admin client");
    assert_eq!(first["clients"][1]["name"], "client 0");

    // Follow next_page_url to the end, collecting every name.
    let mut names: Vec<String> =
        first["clients"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    let mut next = first["meta"]["next_page_url"].as_str().map(str::to_owned);
    let mut last = first;
    while let Some(url) = next {
        let page: Value = app.http.get(&url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        names.extend(page["clients"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()));
        next = page["meta"]["next_page_url"].as_str().map(str::to_owned);
        last = page;
    }
    assert_eq!(names, ["Bootstrap admin client", "client 0", "client 1", "client 2", "client 3", "client 4"]);
    assert_eq!(last["meta"]["page_number"], 3);
    // And back again.
    let previous = last["meta"]["previous_page_url"].as_str().unwrap();
    let page: Value = app.http.get(previous).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(page["meta"]["page_number"], 2);
    assert_eq!(page["clients"][0]["name"], "client 1");
}

#[tokio::test]
async fn list_filters_by_client_type_and_keeps_the_filter_in_links() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for _ in 0..3 {
        app.create_client(&token, json!({})).await;
    }
    let admins: Value =
        app.get("/v1/clients?page_size=10&page_number=1&client_type=admin", &token).await.json().await.unwrap();
    assert_eq!(admins["meta"]["count"], 1);
    assert_eq!(admins["clients"][0]["client_type"], "admin");
    let standard: Value =
        app.get("/v1/clients?page_size=2&page_number=1&client_type=standard", &token).await.json().await.unwrap();
    assert_eq!(standard["meta"]["count"], 3);
    assert!(standard["meta"]["next_page_url"].as_str().unwrap().contains("client_type=standard"));
}

#[tokio::test]
async fn paging_parameters_are_required_and_never_clamped() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let cases = [
        ("page_number=1", "page_size"),
        ("page_size=10", "page_number"),
        ("page_size=0&page_number=1", "page_size"),
        ("page_size=501&page_number=1", "page_size"),
        ("page_size=-1&page_number=1", "page_size"),
        ("page_size=abc&page_number=1", "page_size"),
        ("page_size=10&page_number=0", "page_number"),
        ("page_size=10&page_number=1.5", "page_number"),
        ("page_size=10&page_number=1&client_type=root", "client_type"),
        ("page_size=10&page_size=20&page_number=1", "page_size"),
    ];
    for (query, parameter) in cases {
        let response = app.get(&format!("/v1/clients?{query}"), &token).await;
        let body = assert_api_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["info"], parameter, "{query}");
        assert!(body["message"].as_str().unwrap().contains(parameter), "{query}");
    }
    let max: Value = app.get("/v1/clients?page_size=500&page_number=1", &token).await.json().await.unwrap();
    assert_eq!(max["meta"]["page_size"], 500);
    let beyond: Value = app.get("/v1/clients?page_size=10&page_number=9", &token).await.json().await.unwrap();
    assert_eq!(beyond["clients"], json!([]));
    assert_eq!(beyond["meta"]["next_page_url"], Value::Null);
    assert!(beyond["meta"]["previous_page_url"].as_str().unwrap().contains("page_number=8"));
}

#[tokio::test]
async fn create_refuses_what_file_001_does_not_allow() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let cases = [
        (json!({"locked": null, "scopes": {}}), "name"),
        (json!({"name": "x", "scopes": {}}), "locked"),
        (json!({"name": "x", "locked": null}), "scopes"),
        (json!({"name": "x", "locked": null, "scopes": {}, "client_id": "mine"}), "client_id"),
        (json!({"name": "x", "locked": null, "scopes": {}, "client_secret": "mine"}), "client_secret"),
        (json!({"name": "x", "locked": null, "scopes": {}, "client_owner": "a@b.c"}), "client_owner"),
        (json!({"name": "x", "locked": null, "scopes": {"products": ["Nope"]}}), "scopes.products"),
        (json!({"name": "x", "locked": null, "scopes": {"resources": []}}), "scopes.resources"),
        (json!({"name": "x", "locked": "yes", "scopes": {}}), "locked"),
        (json!({"name": 5, "locked": null, "scopes": {}}), "name"),
        (json!({"name": "x", "locked": null, "scopes": {"products": "SuperSIM"}}), "scopes.products"),
        (json!({"name": "x", "locked": null, "scopes": {"global_resources": ["root"]}}), "scopes.global_resources[0]"),
        (json!({"name": "x", "locked": null, "scopes": {}, "token_expiry_seconds": 59}), "token_expiry_seconds"),
        (json!({"name": "x", "locked": null, "scopes": {}, "token_expiry_seconds": 86401}), "token_expiry_seconds"),
        (json!({"name": "x", "locked": null, "scopes": {}, "allowed_ips": ["300.1.1.1/8"]}), "allowed_ips"),
        (
            json!({"name": "x", "locked": null, "scopes": {}, "rate_limit": {"requests_per_second": 0, "burst": 1}}),
            "rate_limit.requests_per_second",
        ),
        // Seed rule 4: standard clients hold products only.
        (json!({"name": "x", "locked": null, "scopes": {"global_resources": ["users"]}}), "scopes.global_resources"),
    ];
    for (body, field) in cases {
        let response = app.post_json("/v1/clients", &token, &body).await;
        let error = assert_api_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["info"], field, "{body}");
    }
    // File 001: a client created with an API client's token is always standard.
    let response = app
        .post_json("/v1/clients", &token, &json!({"name": "x", "locked": null, "scopes": {}, "client_type": "admin"}))
        .await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    assert_eq!(app.client_count(&token).await, 1, "nothing was created");
}

/// No mass assignment on PATCH either: fields that are not the client's to edit, or that do not
/// exist, are a 400 naming the field, and the client is left exactly as it was.
#[tokio::test]
async fn patch_refuses_fields_it_does_not_allow_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (client, _) = app.create_client(&token, json!({"name": "Before"})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let before: Value = app.get(&path, &token).await.json().await.unwrap();
    let cases = [
        (json!({"name": "After", "client_id": "mine"}), "client_id"),
        (json!({"name": "After", "client_secret": "mine"}), "client_secret"),
        (json!({"name": "After", "client_owner": "a@b.c"}), "client_owner"),
        (json!({"name": "After", "account_id": "acc_other"}), "account_id"),
        (json!({"name": "After", "secret_generation": 1}), "secret_generation"),
        (json!({"name": "After", "date_created": "2020-01-01T00:00:00Z"}), "date_created"),
        (json!({"name": "After", "scopes": {"resources": []}}), "scopes.resources"),
        (json!({"name": "After", "nmae": "typo"}), "nmae"),
    ];
    for (body, field) in cases {
        let response = app.patch_json(&path, &token, &body).await;
        let error = assert_api_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error["info"], field, "{body}");
    }
    let after: Value = app.get(&path, &token).await.json().await.unwrap();
    assert_eq!(after, before, "nothing changed");
}

/// `GET /v1/clients` filters on the server by state and by text in the name, on top of
/// `client_type`, and its page links keep every filter.
#[tokio::test]
async fn the_list_filters_by_state_and_name() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    for name in ["Billing sync", "billing EXPORT", "Warehouse feed"] {
        app.create_client(&token, json!({"name": name})).await;
    }
    let list = app.get("/v1/clients?page_size=10&page_number=1", &token).await;
    let all: Value = list.json().await.unwrap();
    let warehouse = all["clients"].as_array().unwrap().iter().find(|c| c["name"] == "Warehouse feed").unwrap();
    let path = format!("/v1/clients/{}", warehouse["client_id"].as_str().unwrap());
    assert_eq!(app.patch_json(&path, &token, &json!({"enabled": false})).await.status(), StatusCode::OK);
    let names = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let body: Value = app.get(&format!("/v1/clients?{query}"), token).await.json().await.unwrap();
            body["clients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("page_size=10&page_number=1&name=BILLING").await, ["Billing sync", "billing EXPORT"]);
    assert_eq!(names("page_size=10&page_number=1&enabled=false").await, ["Warehouse feed"]);
    assert_eq!(
        names("page_size=10&page_number=1&enabled=true&client_type=standard&name=export").await,
        ["billing EXPORT"]
    );
    let first: Value =
        app.get("/v1/clients?page_size=1&page_number=1&name=bill&enabled=true", &token).await.json().await.unwrap();
    assert_eq!(first["meta"]["count"], 2);
    let next = first["meta"]["next_page_url"].as_str().unwrap();
    assert!(next.contains("name=bill") && next.contains("enabled=true"), "{next}");
    let response = app.get("/v1/clients?page_size=10&page_number=1&enabled=maybe", &token).await;
    let error = assert_api_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error["info"], "enabled");
}
