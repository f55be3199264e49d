//! DESIGN.md rules 1-10 through PATCH, DELETE, renew-key and transfer-ownership.

use gatehouse_domain::account::Role;
use gatehouse_domain::clients::ClientPatch;
use gatehouse_domain::error::DomainError;
use gatehouse_domain::ids::ClientId;
use gatehouse_server::http::client_address::TrustedProxies;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, OWNER_EMAIL, TestApp, assert_api_error, decode_jwt};

const GRANT: [(&str, &str); 1] = [("grant_type", "client_credentials")];

fn client_path(client: &Credentials) -> String {
    format!("/v1/clients/{}", client.client_id)
}

/// Rule 6: tokens keep the scopes they were minted with; new tokens get the new ones.
#[tokio::test]
async fn editing_scopes_and_expiry_affects_only_new_tokens() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let old_token = app.token(&client).await;

    let response = app
        .patch_json(
            &client_path(&client),
            &admin,
            &json!({"scopes": {"products": ["ProgrammableWireless"]}, "token_expiry_seconds": 300}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client"]["scopes"]["products"], json!(["ProgrammableWireless"]));
    assert_eq!(body["client"]["token_expiry_seconds"], 300);

    let (_, old_claims) = decode_jwt(&old_token);
    assert_eq!(old_claims["scope"], "SuperSIM");
    assert_eq!(app.ping_status(&old_token).await, StatusCode::OK, "the old token still works");

    let response = app.token_request_basic(&client, &GRANT).await;
    let fresh: Value = response.json().await.unwrap();
    assert_eq!(fresh["scope"], "ProgrammableWireless");
    assert_eq!(fresh["expires_in"], 300);
    let response = app.token_request_basic(&client, &[GRANT[0], ("scope", "SuperSIM")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Rule 7: disable refuses credentials and tokens; enable restores both.
#[tokio::test]
async fn disable_refuses_everything_and_enable_restores_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let token = app.token(&client).await;

    let response = app.patch_json(&client_path(&client), &admin, &json!({"enabled": false})).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client"]["enabled"], false);
    assert_eq!(app.ping_status(&token).await, StatusCode::UNAUTHORIZED);
    let refused = app.token_request_basic(&client, &GRANT).await;
    let wrong =
        app.token_request_basic(&Credentials { client_secret: "gsec_x".into(), ..client.clone() }, &GRANT).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.text().await.unwrap(), wrong.text().await.unwrap());

    app.patch_json(&client_path(&client), &admin, &json!({"enabled": true})).await;
    assert_eq!(app.ping_status(&token).await, StatusCode::OK, "unexpired tokens work again");
    assert_eq!(app.token_request_basic(&client, &GRANT).await.status(), StatusCode::OK, "same credentials");
}

/// Rule 8: the old secret and every earlier token are refused at once, also after a restart.
#[tokio::test]
async fn renew_key_refuses_the_old_secret_and_tokens_even_after_restart() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let old_token = app.token(&client).await;

    let response = app.post_json(&format!("{}/renew-key", client_path(&client)), &admin, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client_id"], client.client_id);
    assert!(body["message"].is_string());
    let renewed = Credentials {
        client_id: client.client_id.clone(),
        client_secret: body["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(renewed.client_secret, client.client_secret);

    assert_eq!(app.token_request_basic(&client, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&old_token).await, StatusCode::UNAUTHORIZED);
    let new_token = app.token(&renewed).await;
    assert_eq!(app.ping_status(&new_token).await, StatusCode::OK);

    let app = app.restart().await;
    assert_eq!(app.token_request_basic(&client, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&old_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&new_token).await, StatusCode::OK, "tokens survive a restart");
    assert_eq!(app.token_request_basic(&renewed, &GRANT).await.status(), StatusCode::OK);
}

/// Concurrent renewals leave exactly one working secret.
#[tokio::test]
async fn concurrent_renewals_leave_one_working_secret() {
    // Each secret is tried from its own address, so the failed-attempt throttle (per client and
    // address) never hides the one that works.
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let url = app.url(&format!("{}/renew-key", client_path(&client)));
    let renewals: Vec<_> = (0..8)
        .map(|_| {
            let (http, url, admin) = (app.http.clone(), url.clone(), admin.clone());
            tokio::spawn(async move { http.post(url).bearer_auth(admin).send().await.unwrap() })
        })
        .collect();
    let mut secrets = Vec::new();
    for renewal in renewals {
        let response = renewal.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        secrets.push(body["client_secret"].as_str().unwrap().to_owned());
    }
    let mut working = 0;
    for (index, secret) in secrets.iter().enumerate() {
        let response = app
            .http
            .post(app.url("/api-services/v1/auth/token"))
            .basic_auth(&client.client_id, Some(secret))
            .header("x-forwarded-for", format!("198.51.100.{index}"))
            .form(&GRANT)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => working += 1,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(working, 1);
}

/// Rule 10: delete refuses everything at once and the client is gone.
#[tokio::test]
async fn delete_refuses_everything_and_the_client_is_gone() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let token = app.token(&client).await;

    let response = app.delete(&client_path(&client), &admin).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.ping_status(&token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.token_request_basic(&client, &GRANT).await.status(), StatusCode::UNAUTHORIZED);
    assert_api_error(app.get(&client_path(&client), &admin).await, StatusCode::NOT_FOUND).await;
    assert_api_error(app.delete(&client_path(&client), &admin).await, StatusCode::NOT_FOUND).await;
    let list = app.get("/v1/clients?page_size=500&page_number=1", &admin).await.text().await.unwrap();
    assert!(!list.contains(&client.client_id));
}

/// ETag and If-Match: a stale PATCH gets 412 and changes nothing.
#[tokio::test]
async fn a_stale_if_match_gets_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({"name": "before"})).await;
    let path = client_path(&client);
    let etag = app.get(&path, &admin).await.headers()["etag"].to_str().unwrap().to_owned();

    let response = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"name": "first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let new_etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);

    let response = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&admin)
        .header("if-match", &etag)
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    assert_api_error(response, StatusCode::PRECONDITION_FAILED).await;
    let current: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(current["client"]["name"], "first");

    // Without If-Match the update is unconditional.
    let response = app.patch_json(&path, &admin, &json!({"name": "third"})).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Rule 4: a standard client cannot hold global resources, and an API client cannot make one
/// admin.
#[tokio::test]
async fn standard_clients_cannot_gain_global_resources() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let path = client_path(&client);
    let response = app.patch_json(&path, &admin, &json!({"scopes": {"global_resources": ["api_clients"]}})).await;
    let body = assert_api_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["info"], "scopes.global_resources");
    let response = app.patch_json(&path, &admin, &json!({"client_type": "admin"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    let current: Value = app.get(&path, &admin).await.json().await.unwrap();
    assert_eq!(current["client"]["client_type"], "standard");
    assert_eq!(current["client"]["scopes"]["global_resources"], json!([]));
}

/// Rule 3: a locked client is changed only by the account owner, admins and the client owner.
#[tokio::test]
async fn the_lock_rule_holds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (locked, _) = app.create_client(&admin, json!({"locked": true})).await;

    // The bootstrap client acts with the account owner's role: it may edit a locked client.
    let response = app.patch_json(&client_path(&locked), &admin, &json!({"description": "owner edit"})).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A developer who does not own it may not (people act through sessions; the rule itself
    // lives in the domain and is exercised there, directly).
    let developer = app.add_user("dev@example.com", Role::Developer).await;
    let client_id = ClientId::from_string(locked.client_id.clone());
    let now = time::OffsetDateTime::now_utc();
    let patch = || ClientPatch { enabled: Some(false), ..ClientPatch::default() };
    let refused = app.gatehouse.update_client(&developer, &client_id, patch(), None, now).await;
    assert!(matches!(refused, Err(DomainError::Locked)));
    assert!(DomainError::Locked.to_string().contains("locked"));
    assert!(matches!(app.gatehouse.renew_key(&developer, &client_id, now).await, Err(DomainError::Locked)));
    assert!(matches!(app.gatehouse.delete_client(&developer, &client_id, now).await, Err(DomainError::Locked)));

    // Once the developer owns it, they may.
    let response = app
        .post_json(
            &format!("{}/transfer-ownership", client_path(&locked)),
            &admin,
            &json!({"client_owner": "dev@example.com"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(app.gatehouse.update_client(&developer, &client_id, patch(), None, now).await.is_ok());
    // An admin may too, and unlocked clients are open to developers.
    let admin_user = app.add_user("admin@example.com", Role::Admin).await;
    let unlock = ClientPatch { locked: Some(Some(false)), ..ClientPatch::default() };
    assert!(app.gatehouse.update_client(&admin_user, &client_id, unlock, None, now).await.is_ok());
    let other_developer = app.add_user("dev2@example.com", Role::Developer).await;
    assert!(app.gatehouse.update_client(&other_developer, &client_id, patch(), None, now).await.is_ok());
}

/// Rule 9: ownership moves only to a user of the same account; an admin client only to an owner
/// or admin.
#[tokio::test]
async fn transfer_ownership_follows_rule_9() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.add_user("dev@example.com", Role::Developer).await;
    app.add_user("boss@example.com", Role::Admin).await;
    app.add_account("stranger@other.example").await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let transfer = format!("{}/transfer-ownership", client_path(&client));

    let response = app.post_json(&transfer, &admin, &json!({"client_owner": "DEV@example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["client"]["client_owner"], "dev@example.com");

    for email in ["nobody@example.com", "stranger@other.example"] {
        let response = app.post_json(&transfer, &admin, &json!({"client_owner": email})).await;
        let body = assert_api_error(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(body["info"], "client_owner");
    }
    let response = app.post_json(&transfer, &admin, &json!({"client_owner": "not an email"})).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;

    // The bootstrap client is an admin client: changed by owners and admins in person only, and
    // never owned by a developer.
    let admin_transfer = format!("/v1/clients/{}/transfer-ownership", app.admin.client_id);
    let response = app.post_json(&admin_transfer, &admin, &json!({"client_owner": "boss@example.com"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    let owner = app.owner_session().await;
    let response = app.post_json(&admin_transfer, &owner, &json!({"client_owner": "dev@example.com"})).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    let response = app.post_json(&admin_transfer, &owner, &json!({"client_owner": "boss@example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_ne!(body["client"]["client_owner"], OWNER_EMAIL);
}

/// A PATCH without `If-Match` asks for no precondition: fifty at once, eight at a time, all
/// succeed (the server retries its own lost races instead of answering 409), each lands
/// exactly once, and a stale `If-Match` still gets 412. The same for access profiles.
#[tokio::test]
async fn concurrent_unconditional_patches_all_succeed() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let scopes = json!({"products": ["SuperSIM", "ProgrammableWireless"]});
    let (client, _) = app.create_client(&token, json!({"name": "raced", "scopes": scopes})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let profiles = format!("{path}/access-profiles");
    let body = json!({"name": "p", "products": ["SuperSIM"], "auth_method": "api_key"});
    let profile: Value = app.post_json(&profiles, &token, &body).await.json().await.unwrap();
    let profile_path = format!("{profiles}/{}", profile["access_profile"]["profile_id"].as_str().unwrap());
    let etag = |response: &reqwest::Response| {
        let tag = response.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
        tag.parse::<i64>().unwrap_or_else(|_| panic!("an ETag of a version number: {tag}"))
    };
    let before = etag(&app.get(&path, &token).await);

    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(8));
    let mut edits = tokio::task::JoinSet::new();
    for index in 0..50 {
        let (http, permits, token) = (app.http.clone(), permits.clone(), token.clone());
        let (url, body) = if index % 2 == 0 {
            (app.url(&path), json!({"description": format!("edit {index}")}))
        } else {
            (app.url(&profile_path), json!({"name": format!("edit {index}")}))
        };
        edits.spawn(async move {
            let _permit = permits.acquire().await.unwrap();
            http.patch(url).bearer_auth(token).json(&body).send().await.unwrap().status()
        });
    }
    while let Some(status) = edits.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK, "an unconditional PATCH was refused");
    }
    let response = app.get(&path, &token).await;
    assert_eq!(etag(&response), before + 25, "each of the 25 edits of the client landed once");
    let after: Value = response.json().await.unwrap();
    assert!(after["client"]["description"].as_str().unwrap().starts_with("edit "), "{after}");
    let stale = app
        .http
        .patch(app.url(&path))
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"description": "stale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
}
