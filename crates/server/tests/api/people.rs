//! Users, login sessions, child accounts and the audit log (README.md, "People, roles and the
//! audit log").

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{OWNER_EMAIL, TestApp, assert_api_error};

#[tokio::test]
async fn the_owner_logs_in_and_the_session_works_as_a_bearer_token_not_as_a_cookie() {
    let app = TestApp::spawn().await;
    let response = app.login_response(OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("gatehouse_session=gss_"));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], OWNER_EMAIL);
    assert_eq!(body["user"]["role"], "owner");
    assert_eq!(body["expires_in"], 8 * 3600);
    let session = body["session_token"].as_str().unwrap();

    assert_eq!(app.ping_status(session).await, StatusCode::OK);
    assert_eq!(app.get("/v1/clients?page_size=5&page_number=1", session).await.status(), StatusCode::OK);
    let cookie_pair = cookie.split(';').next().unwrap();
    // The cookie is the portal's, which checks CSRF; /v1 takes bearer tokens only, so a form on
    // another port of this host cannot renew a key with the cookie the browser attaches.
    let by_cookie = app.http.get(app.url("/v1/ping")).header("cookie", cookie_pair).send().await.unwrap();
    assert_eq!(by_cookie.status(), StatusCode::UNAUTHORIZED);
    let (client, _) = app.create_client(session, serde_json::json!({})).await;
    let forged = app
        .http
        .post(app.url(&format!("/v1/clients/{}/renew-key", client.client_id)))
        .header("cookie", cookie_pair)
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.token_request_basic(&client, &[("grant_type", "client_credentials")]).await.status(),
        StatusCode::OK,
        "the secret still works"
    );

    let logout = app.http.post(app.url("/v1/auth/logout")).bearer_auth(session).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.ping_status(session).await, StatusCode::UNAUTHORIZED);
    // Nothing to end without a valid session: the same 401 as every route that needs one.
    let again = app.http.post(app.url("/v1/auth/logout")).bearer_auth(session).send().await.unwrap();
    assert_api_error(again, StatusCode::UNAUTHORIZED).await;
    let anonymous = app.http.post(app.url("/v1/auth/logout")).send().await.unwrap();
    assert_api_error(anonymous, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401_and_failures_are_throttled() {
    let app = TestApp::spawn().await;
    let unknown = app.login_response("nobody@example.com", "whatever").await;
    let wrong = app.login_response(OWNER_EMAIL, "wrong-password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.text().await.unwrap(), wrong.text().await.unwrap());

    for _ in 0..4 {
        assert_eq!(app.login_response(OWNER_EMAIL, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = app.login_response(OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry));
    assert_api_error(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    // Another email is not affected; the owner gets in once the block has passed.
    assert_eq!(app.login_response("someone@example.com", "x").await.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(31);
    app.login(OWNER_EMAIL, &app.owner_password).await;
}

#[tokio::test]
async fn owners_and_admins_manage_users_and_only_the_owner_grants_admin() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let response = app.post_json("/v1/users", &owner, &json!({"email": "Admin@Example.com", "role": "admin"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["user"]["email"], "admin@example.com");
    assert_eq!(created["user"]["account_id"], app.account_id);
    let admin = app.login("admin@example.com", created["password"].as_str().unwrap()).await;
    let admin_id = created["user"]["user_id"].as_str().unwrap().to_owned();

    // An admin creates developers but not admins.
    let (dev_id, developer) = app.create_user(&admin, "dev@example.com", "developer").await;
    let response = app.post_json("/v1/users", &admin, &json!({"email": "a2@example.com", "role": "admin"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    let response = app.patch_json(&format!("/v1/users/{dev_id}"), &admin, &json!({"role": "admin"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    // Nobody creates a second owner; emails are unique within an account.
    let response = app.post_json("/v1/users", &owner, &json!({"email": "o2@example.com", "role": "owner"})).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    let response = app.post_json("/v1/users", &owner, &json!({"email": "dev@example.com", "role": "developer"})).await;
    assert_api_error(response, StatusCode::CONFLICT).await;

    // Developers manage no users.
    assert_api_error(app.get("/v1/users", &developer).await, StatusCode::FORBIDDEN).await;
    let response =
        app.post_json("/v1/users", &developer, &json!({"email": "x@example.com", "role": "developer"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;

    let list: Value = app.get("/v1/users", &admin).await.json().await.unwrap();
    let emails: Vec<&str> = list["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert_eq!(emails, [OWNER_EMAIL, "admin@example.com", "dev@example.com"]);
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("password") && !text.contains("argon2"));

    // The owner grants and removes admin.
    let response = app.patch_json(&format!("/v1/users/{dev_id}"), &owner, &json!({"role": "admin"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.patch_json(&format!("/v1/users/{dev_id}"), &owner, &json!({"role": "developer"})).await;
    assert_eq!(response.json::<Value>().await.unwrap()["user"]["role"], "developer");

    // The owner is never demoted or removed; admins are removed only by the owner.
    let owner_id = list["users"][0]["user_id"].as_str().unwrap().to_owned();
    let response = app.patch_json(&format!("/v1/users/{owner_id}"), &owner, &json!({"role": "admin"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    assert_api_error(app.delete(&format!("/v1/users/{owner_id}"), &admin).await, StatusCode::FORBIDDEN).await;
    assert_api_error(app.delete(&format!("/v1/users/{owner_id}"), &owner).await, StatusCode::FORBIDDEN).await;
    let (other_admin_id, _) = app.create_user(&owner, "admin2@example.com", "admin").await;
    let response = app.delete(&format!("/v1/users/{other_admin_id}"), &admin).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;
    assert_eq!(app.delete(&format!("/v1/users/{other_admin_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.delete(&format!("/v1/users/{admin_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.ping_status(&admin).await, StatusCode::UNAUTHORIZED, "a removed user's session ends");
}

#[tokio::test]
async fn a_user_who_leaves_hands_their_clients_to_the_account_owner() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (dev_id, developer) = app.create_user(&owner, "leaver@example.com", "developer").await;
    let (client, created) = app.create_client(&developer, json!({"locked": true})).await;
    assert_eq!(created["client_owner"], "leaver@example.com");
    assert_eq!(app.delete(&format!("/v1/users/{dev_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    let view: Value = app.get(&format!("/v1/clients/{}", client.client_id), &owner).await.json().await.unwrap();
    assert_eq!(view["client"]["client_owner"], OWNER_EMAIL);
    // The client itself keeps working.
    app.token(&client).await;
}

#[tokio::test]
async fn developers_create_standard_clients_they_own_but_not_admin_clients() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let (_, created) = app.create_client(&developer, json!({})).await;
    assert_eq!(created["client_owner"], "dev@example.com");
    assert_eq!(created["client_type"], "standard");
    let body =
        json!({"name": "x", "locked": null, "scopes": {"global_resources": ["api_clients"]}, "client_type": "admin"});
    assert_api_error(app.post_json("/v1/clients", &developer, &body).await, StatusCode::FORBIDDEN).await;
    // An owner in person may.
    let response = app.post_json("/v1/clients", &owner, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<Value>().await.unwrap()["client_type"], "admin");
}

#[tokio::test]
async fn child_accounts_are_visible_downwards_only() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, parent_admin) = app.create_user(&owner, "padmin@example.com", "admin").await;
    let (_, parent_dev) = app.create_user(&owner, "pdev@example.com", "developer").await;

    let response = app.post_json("/v1/accounts", &owner, &json!({"name": "EMEA"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let emea: Value = response.json().await.unwrap();
    assert_eq!(emea["account"]["parent_account_id"], app.account_id);
    let emea_id = emea["account"]["account_id"].as_str().unwrap().to_owned();
    let apac: Value = app.post_json("/v1/accounts", &owner, &json!({"name": "APAC"})).await.json().await.unwrap();
    let apac_id = apac["account"]["account_id"].as_str().unwrap().to_owned();
    assert_api_error(app.post_json("/v1/accounts", &parent_admin, &json!({"name": "x"})).await, StatusCode::FORBIDDEN)
        .await;
    let admin_token = app.admin_token().await;
    assert_api_error(app.post_json("/v1/accounts", &admin_token, &json!({"name": "x"})).await, StatusCode::FORBIDDEN)
        .await;

    let listed: Value = app.get("/v1/accounts", &owner).await.json().await.unwrap();
    assert_eq!(listed["accounts"].as_array().unwrap().len(), 3);

    // The parent's owner and admins switch into the child; its developers do not.
    let (emea_client, created) = app.create_client(&parent_admin, json!({"account_id": emea_id})).await;
    assert_eq!(created["account_id"], emea_id);
    let in_child = format!("/v1/clients?page_size=10&page_number=1&account_id={emea_id}");
    let page: Value = app.get(&in_child, &owner).await.json().await.unwrap();
    assert_eq!(page["meta"]["count"], 1);
    assert_api_error(app.get(&in_child, &parent_dev).await, StatusCode::NOT_FOUND).await;
    let parent_clients: Value = app.get("/v1/clients?page_size=100&page_number=1", &owner).await.json().await.unwrap();
    assert!(!serde_json::to_string(&parent_clients).unwrap().contains(&emea_client.client_id));

    // A user of the child sees nothing of its parent or its sibling.
    let response = app
        .post_json("/v1/users", &owner, &json!({"email": "emea@example.com", "role": "admin", "account_id": emea_id}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let password = response.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    let emea_admin = app.login_to(&emea_id, "emea@example.com", &password).await;
    let own: Value = app.get("/v1/clients?page_size=10&page_number=1", &emea_admin).await.json().await.unwrap();
    assert_eq!(own["meta"]["count"], 1);
    for path in [
        format!("/v1/clients?page_size=10&page_number=1&account_id={}", app.account_id),
        format!("/v1/clients?page_size=10&page_number=1&account_id={apac_id}"),
        format!("/v1/clients/{}", app.admin.client_id),
        format!("/v1/users?account_id={}", app.account_id),
    ] {
        assert_api_error(app.get(&path, &emea_admin).await, StatusCode::NOT_FOUND).await;
    }
    let accounts: Value = app.get("/v1/accounts", &emea_admin).await.json().await.unwrap();
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 1);
    let body = json!({"name": "x", "locked": null, "scopes": {}, "account_id": app.account_id});
    assert_api_error(app.post_json("/v1/clients", &emea_admin, &body).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_audit_log_answers_who_did_what_to_a_client() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (dev_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let admin_token = app.admin_token().await;
    let (client, _) = app.create_client(&owner, json!({"locked": true})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    app.patch_json(&path, &owner, &json!({"name": "renamed"})).await;
    app.patch_json(&path, &admin_token, &json!({"enabled": false})).await;
    // A refused attempt: the developer may not touch a locked client.
    assert_api_error(app.patch_json(&path, &developer, &json!({"enabled": true})).await, StatusCode::FORBIDDEN).await;
    let renewed: Value = app.post_json(&format!("{path}/renew-key"), &owner, &json!({})).await.json().await.unwrap();
    app.post_json(&format!("{path}/transfer-ownership"), &owner, &json!({"client_owner": "dev@example.com"})).await;
    assert_eq!(app.delete(&path, &owner).await.status(), StatusCode::NO_CONTENT);

    let response =
        app.get(&format!("/v1/audit-events?page_size=50&page_number=1&target_id={}", client.client_id), &owner).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let log: Value = serde_json::from_str(&text).unwrap();
    let events = log["audit_events"].as_array().unwrap();
    let actions: Vec<(&str, &str)> =
        events.iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(
        actions,
        [
            ("client.delete", "success"),
            ("client.transfer_ownership", "success"),
            ("client.renew_key", "success"),
            ("client.enable", "denied"),
            ("client.disable", "success"),
            ("client.update", "success"),
            ("client.create", "success"),
        ],
        "newest first"
    );
    let denied = &events[3];
    assert_eq!(denied["actor"]["type"], "user");
    assert_eq!(denied["actor"]["id"], dev_id);
    assert_eq!(denied["actor"]["email"], "dev@example.com");
    assert!(denied["reason"].as_str().unwrap().contains("locked"));
    let disabled = &events[4];
    assert_eq!(disabled["actor"]["type"], "client");
    assert_eq!(disabled["actor"]["id"], app.admin.client_id);
    assert_eq!(events[5]["details"], json!({"fields": ["name"]}));
    for event in events {
        assert_eq!(event["source_ip"], "127.0.0.1");
        assert_eq!(event["target"]["id"], client.client_id);
        time::OffsetDateTime::parse(
            event["occurred_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
    }
    // No secret, token or password anywhere in the log.
    let everything = app.get("/v1/audit-events?page_size=500&page_number=1", &owner).await.text().await.unwrap();
    for secret in [
        client.client_secret.as_str(),
        renewed["client_secret"].as_str().unwrap(),
        &owner,
        &admin_token,
        &app.owner_password,
    ] {
        assert!(!everything.contains(secret) && !text.contains(secret));
    }

    // Filter by actor.
    let by_dev: Value = app
        .get(&format!("/v1/audit-events?page_size=50&page_number=1&actor_id={dev_id}"), &owner)
        .await
        .json()
        .await
        .unwrap();
    assert!(by_dev["audit_events"].as_array().unwrap().iter().all(|e| e["actor"]["id"] == dev_id.as_str()));
    assert!(by_dev["meta"]["count"].as_u64().unwrap() >= 2, "the refused edit and the login");
}

#[tokio::test]
async fn the_audit_log_is_for_owners_admins_and_the_audit_resource() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let path = "/v1/audit-events?page_size=10&page_number=1";
    assert_eq!(app.get(path, &owner).await.status(), StatusCode::OK);
    assert_eq!(app.get(path, &admin).await.status(), StatusCode::OK);
    assert_eq!(app.get(path, &app.admin_token().await).await.status(), StatusCode::OK);
    assert_api_error(app.get(path, &developer).await, StatusCode::FORBIDDEN).await;
    let admin_token = app.admin_token().await;
    let (standard, _) = app.create_client(&admin_token, json!({})).await;
    assert_api_error(app.get(path, &app.token(&standard).await).await, StatusCode::FORBIDDEN).await;
    let bad = app.get("/v1/audit-events?page_size=501&page_number=1", &owner).await;
    assert_api_error(bad, StatusCode::BAD_REQUEST).await;
}

/// The owner is demoted only by handing the account to another of its users.
#[tokio::test]
async fn the_owner_hands_the_account_over_and_stays_on_as_admin() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, successor) = app.create_user(&owner, "next@example.com", "admin").await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let path = format!("/v1/accounts/{}/transfer-ownership", app.account_id);

    for (who, token) in [("an admin", &successor), ("a developer", &developer)] {
        let response = app.post_json(&path, token, &json!({"email": "next@example.com"})).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{who}");
    }
    let admin_client = app.admin_token().await;
    assert_api_error(
        app.post_json(&path, &admin_client, &json!({"email": "next@example.com"})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_api_error(
        app.post_json(&path, &owner, &json!({"email": "nobody@example.com"})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let response = app.post_json(&path, &owner, &json!({"email": "next@example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["user"]["role"], "owner");

    // Roles change at once, for sessions already open too.
    let users: Value = app.get("/v1/users", &successor).await.json().await.unwrap();
    let role_of = |email: &str| {
        users["users"].as_array().unwrap().iter().find(|u| u["email"] == email).unwrap()["role"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(role_of("next@example.com"), "owner");
    assert_eq!(role_of(crate::test_app::OWNER_EMAIL), "admin");
    let dev = users["users"].as_array().unwrap().iter().find(|u| u["email"] == "dev@example.com").unwrap();
    let dev_id = dev["user_id"].as_str().unwrap().to_owned();
    let promote = app.patch_json(&format!("/v1/users/{dev_id}"), &owner, &json!({"role": "admin"})).await;
    assert_api_error(promote, StatusCode::FORBIDDEN).await;
    assert_eq!(
        app.patch_json(&format!("/v1/users/{dev_id}"), &successor, &json!({"role": "admin"})).await.status(),
        StatusCode::OK
    );
    assert_api_error(app.post_json(&path, &owner, &json!({"email": "next@example.com"})).await, StatusCode::FORBIDDEN)
        .await;

    let log: Value = app
        .get(&format!("/v1/audit-events?page_size=5&page_number=1&target_id={}", app.account_id), &successor)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        log["audit_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "account.transfer_ownership" && e["outcome"] == "success")
    );
}

/// A removed admin's admin client passes to the owner disabled: otherwise it would act with the
/// owner's role, more than its creator ever held.
#[tokio::test]
async fn a_removed_admins_admin_clients_are_disabled_not_promoted() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (admin_id, admin) = app.create_user(&owner, "leaving-admin@example.com", "admin").await;
    let body =
        json!({"name": "ops", "locked": null, "client_type": "admin", "scopes": {"global_resources": ["users"]}});
    let created: Value = app.post_json("/v1/clients", &admin, &body).await.json().await.unwrap();
    let credentials = crate::test_app::Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.token(&credentials).await;
    let grant_admin = json!({"email": "x@example.com", "role": "admin"});
    assert_api_error(app.post_json("/v1/users", &token, &grant_admin).await, StatusCode::FORBIDDEN).await;

    assert_eq!(app.delete(&format!("/v1/users/{admin_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.post_json("/v1/users", &token, &grant_admin).await.status(), StatusCode::UNAUTHORIZED);
    let view: Value = app.get(&format!("/v1/clients/{}", credentials.client_id), &owner).await.json().await.unwrap();
    assert_eq!(view["client"]["enabled"], false);
    assert_eq!(view["client"]["client_owner"], OWNER_EMAIL);
    let denied = app.token_request_basic(&credentials, &[("grant_type", "client_credentials")]).await;
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
}

/// Listing accounts needs the same standing as managing clients.
#[tokio::test]
async fn a_standard_client_cannot_list_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (standard, _) = app.create_client(&admin, json!({})).await;
    assert_api_error(app.get("/v1/accounts", &app.token(&standard).await).await, StatusCode::FORBIDDEN).await;
    assert_eq!(app.get("/v1/accounts", &admin).await.status(), StatusCode::OK);
}
