//! Bounded work per request and no borrowed powers. Each test is a hole once found in the server
//! (listed under "abuse and privilege" in docs/security.md), reproduced against it before the
//! fix.

use std::time::Duration;

use gatehouse_server::http::client_address::TrustedProxies;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::test_app::{Credentials, OWNER_EMAIL, TestApp, assert_api_error};

/// Behind a trusted proxy on this machine, so a test can speak from any address.
async fn app_behind_a_proxy() -> TestApp {
    TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await
}

async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Ids of any length once went into the throttle's keys before they were parsed, so invented ids
/// grew its memory without bound; now they are refused at the door.
#[tokio::test]
async fn client_ids_are_parsed_before_anything_keeps_them() {
    let app = TestApp::spawn().await;
    let huge = "a".repeat(48 * 1024);
    for id in [huge.as_str(), "not an id", "prf_../../etc"] {
        let wrong = Credentials { client_id: id.to_owned(), client_secret: "secret".to_owned() };
        let response = app.token_request_basic(&wrong, &[("grant_type", "client_credentials")]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{id:.20}");
        assert_eq!(response.headers()["www-authenticate"], r#"Basic realm="gatehouse""#);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        let form = [("grant_type", "client_credentials"), ("client_id", id), ("client_secret", "secret")];
        let response = app.http.post(app.url("/api-services/v1/auth/token")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Garbage ids are refused at the door and block nothing: the real client still gets in.
    for _ in 0..10 {
        let junk = Credentials { client_id: format!("{}x", app.admin.client_id), client_secret: "wrong".to_owned() };
        app.token_request_basic(&junk, &[("grant_type", "client_credentials")]).await;
    }
    app.admin_token().await;
}

/// Five wrong passwords from anywhere once locked the owner out everywhere, so anyone could lock
/// a person out; now failures block only the address they came from.
#[tokio::test]
async fn failures_from_one_address_never_lock_a_person_out_at_another() {
    let app = app_behind_a_proxy().await;
    for _ in 0..5 {
        let response = login_from(&app, "203.0.113.9", OWNER_EMAIL, "wrong").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = login_from(&app, "203.0.113.9", OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers().contains_key("retry-after"));
    let elsewhere = login_from(&app, "198.51.100.7", OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(elsewhere.status(), StatusCode::OK, "the owner, from their own address, gets in");

    // One address guessing at many people is slowed too, and only that address, and not for
    // the people who signed in from it lately (everyone else behind the same NAT).
    let regular = login_from(&app, "192.0.2.66", OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(regular.status(), StatusCode::OK);
    for index in 0..30 {
        let response = login_from(&app, "192.0.2.66", &format!("person{index}@example.com"), "guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {index}");
    }
    let next = login_from(&app, "192.0.2.66", "someone-else@example.com", "guess").await;
    assert_eq!(next.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = login_from(&app, "192.0.2.67", "someone-else@example.com", "guess").await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    let known = login_from(&app, "192.0.2.66", OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(known.status(), StatusCode::OK, "someone who signs in from there is not locked out");
}

/// Every login once ran Argon2id (19 MiB) at once, however many came. Now a few run, a few wait,
/// and the rest are told to come back, and the server stays usable.
#[tokio::test]
async fn a_login_flood_is_told_to_come_back_and_the_server_stays_usable() {
    let app = app_behind_a_proxy().await;
    let mut logins = tokio::task::JoinSet::new();
    for index in 0..64 {
        // From as many addresses, so the per-address throttle is not what answers.
        let request = app
            .http
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("198.18.0.{}", index + 1))
            .json(&json!({"email": "x@example.com", "password": "guess"}));
        logins.spawn(async move { request.send().await.unwrap() });
    }
    let mut busy = 0;
    while let Some(response) = logins.join_next().await {
        let response = response.unwrap();
        match response.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()["retry-after"], "1");
                busy += 1;
            }
            other => panic!("a login in the flood answered {other}"),
        }
    }
    assert!(busy > 0, "64 logins at once on this machine must overflow the queue");
    app.login(OWNER_EMAIL, &app.owner_password).await;
}

/// A body that stalled after its headers once held the connection for ever; now, once the
/// body-read timeout passes, it is answered 408 and the connection closed.
#[tokio::test]
async fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let app = TestApp::spawn_with(|config| config.connections.body_read_timeout = Duration::from_secs(1)).await;
    let address = app.base_url.trim_start_matches("http://").to_owned();
    let admin = app.admin_token().await;
    for (path, content_type, authorization) in [
        ("/api-services/v1/auth/token", "application/x-www-form-urlencoded", String::new()),
        ("/v1/clients", "application/json", format!("Authorization: Bearer {admin}\r\n")),
        ("/v1/auth/login", "application/json", String::new()),
    ] {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: {content_type}\r\n{authorization}\
             Content-Length: 100\r\n\r\n{{"
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "{path}: the stalled connection was left open");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
    }
    // A body that arrives in time is read as before.
    app.admin_token().await;
}

/// An admin client in a child account, owned by the parent's owner, was once treated as a
/// developer's; it acts with its owner's role there.
#[tokio::test]
async fn a_client_in_a_child_account_acts_with_its_owners_role_there() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let child_id = app.create_child_account(&owner, "EMEA").await;
    let body = json!({
        "name": "EMEA admin", "locked": null, "client_type": "admin", "account_id": child_id,
        "scopes": {"global_resources": ["users", "audit", "api_clients"], "products": []},
    });
    let response = app.post_json("/v1/clients", &owner, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
    let created: Value = response.json().await.unwrap();
    let client = Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.token(&client).await;
    assert_eq!(app.get("/v1/users", &token).await.status(), StatusCode::OK);
    assert_eq!(app.get("/v1/audit-events?page_size=10&page_number=1", &token).await.status(), StatusCode::OK);
    let user = app.post_json("/v1/users", &token, &json!({"email": "emea-dev@example.com", "role": "developer"})).await;
    assert_eq!(user.status(), StatusCode::CREATED);
    let created: Value = user.json().await.unwrap();
    assert_eq!(created["user"]["account_id"], child_id.as_str(), "the client acts in its own account");
}

/// An admin of a child account once learnt from a 409 which emails existed in the parent or a
/// sibling account. Emails are now unique within an account only, and a copy made elsewhere
/// borrows nothing from the person it names.
#[tokio::test]
async fn creating_a_user_never_tells_whether_the_email_exists_in_another_account() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    app.create_user(&owner, "dev@example.com", "developer").await;
    let emea = app.create_child_account(&owner, "EMEA").await;
    let apac = app.create_child_account(&owner, "APAC").await;
    let user_in = |account: &str, email: &str, role: &str| json!({"email": email, "role": role, "account_id": account});
    let sibling = app.post_json("/v1/users", &owner, &user_in(&apac, "sibling@example.com", "developer")).await;
    assert_eq!(sibling.status(), StatusCode::CREATED);
    let created: Value = app
        .post_json("/v1/users", &owner, &user_in(&emea, "emea-admin@example.com", "admin"))
        .await
        .json()
        .await
        .unwrap();
    let emea_admin = app.login_to(&emea, "emea-admin@example.com", created["password"].as_str().unwrap()).await;

    // The parent's owner, a parent developer, a sibling's user and a new email: the same 201.
    let mut passwords = std::collections::HashMap::new();
    for email in [OWNER_EMAIL, "dev@example.com", "sibling@example.com", "fresh@example.com"] {
        let response = app.post_json("/v1/users", &emea_admin, &json!({"email": email, "role": "developer"})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{email}: {}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user"]["account_id"], emea.as_str());
        passwords.insert(email, body["password"].as_str().unwrap().to_owned());
    }
    // Within one account an email is still one person.
    let again =
        app.post_json("/v1/users", &emea_admin, &json!({"email": "fresh@example.com", "role": "developer"})).await;
    assert_api_error(again, StatusCode::CONFLICT).await;

    // Signing in never tells either: without an account a login is to the installation's own
    // account, where the copies are not, so a copy's password gets the same 401 whether its
    // email exists there or nowhere.
    for email in [OWNER_EMAIL, "dev@example.com", "sibling@example.com", "fresh@example.com"] {
        let response = app.login_response(email, &passwords[email]).await;
        let refusal = assert_api_error(response, StatusCode::UNAUTHORIZED).await;
        assert_eq!(refusal["message"], "invalid email or password", "{email}");
    }
    // The owner still signs in as themself; the copy signs in where it lives, with its own
    // password only.
    let signed_in: Value = app.login_response(OWNER_EMAIL, &app.owner_password).await.json().await.unwrap();
    assert_eq!(signed_in["user"]["role"], "owner");
    assert_ne!(signed_in["user"]["account_id"], emea.as_str());
    let copy: Value = app.login_response_to(&emea, OWNER_EMAIL, &passwords[OWNER_EMAIL]).await.json().await.unwrap();
    assert_eq!((&copy["user"]["account_id"], &copy["user"]["role"]), (&json!(emea), &json!("developer")));
    let owners_password_there = app.login_response_to(&emea, OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(owners_password_there.status(), StatusCode::UNAUTHORIZED);
    let copy_session = copy["session_token"].as_str().unwrap().to_owned();

    // A client the owner made in the child account still acts with the owner's role there,
    // and the copy, which shares only the email, is not its owner.
    let create = |client_type: &str, locked: bool, global_resources: Value| {
        let body = json!({
            "name": "EMEA", "locked": locked, "client_type": client_type, "account_id": emea,
            "scopes": {"global_resources": global_resources, "products": []},
        });
        let (app, owner) = (&app, &owner);
        async move {
            let created: Value = app.post_json("/v1/clients", owner, &body).await.json().await.unwrap();
            Credentials {
                client_id: created["client_id"].as_str().unwrap().to_owned(),
                client_secret: created["client_secret"].as_str().unwrap().to_owned(),
            }
        }
    };
    let admin_client = create("admin", false, json!(["users", "api_clients"])).await;
    let token = app.token(&admin_client).await;
    assert_eq!(app.get("/v1/users", &token).await.status(), StatusCode::OK, "the owner's role, not the copy's");
    // Seed rule 3: a locked client is changed by its owner, never by someone sharing an email.
    let locked = create("standard", true, json!([])).await;
    let path = format!("/v1/clients/{}", locked.client_id);
    let edit = app.patch_json(&path, &copy_session, &json!({"description": "mine now"})).await;
    let refusal = assert_api_error(edit, StatusCode::FORBIDDEN).await;
    assert_eq!(refusal["code"], 40301, "locked: {refusal}");
    let page: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(page["client"]["description"], "", "{page}");

    // Handing something to the owner by email never reaches the copy: a client transfer that
    // could mean either is refused, and the child account is not the copy's to be given.
    let transfer = json!({"client_owner": OWNER_EMAIL});
    let response = app.post_json(&format!("{path}/transfer-ownership"), &owner, &transfer).await;
    let refusal = assert_api_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(refusal["info"], "client_owner", "{refusal}");
    let response =
        app.post_json(&format!("/v1/accounts/{emea}/transfer-ownership"), &owner, &json!({"email": OWNER_EMAIL})).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    let users: Value = app.get(&format!("/v1/users?account_id={emea}"), &owner).await.json().await.unwrap();
    let copy_now = users["users"].as_array().unwrap().iter().find(|user| user["email"] == OWNER_EMAIL).unwrap();
    assert_eq!(copy_now["role"], "developer", "{users}");
    let edit = app.patch_json(&path, &copy_session, &json!({"description": "mine now"})).await;
    assert_eq!(edit.status(), StatusCode::FORBIDDEN, "still not the copy's to edit");

    // Removing a person reaches what they own wherever it is, and nothing of a copy that shares
    // their email: the parent's admin owns an admin client in the child account.
    let (parent_admin_id, parent_admin) = app.create_user(&owner, "parent-admin@example.com", "admin").await;
    let body = json!({
        "name": "parent admin's", "locked": null, "client_type": "admin", "account_id": emea,
        "scopes": {"global_resources": ["api_clients"], "products": []},
    });
    let created: Value = app.post_json("/v1/clients", &parent_admin, &body).await.json().await.unwrap();
    let kept = Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let body = json!({"email": "parent-admin@example.com", "role": "developer"});
    let copy: Value = app.post_json("/v1/users", &emea_admin, &body).await.json().await.unwrap();
    let copy_path = format!("/v1/users/{}", copy["user"]["user_id"].as_str().unwrap());
    // A copy of an admin above is never handed anything in their name either.
    let to_themself = json!({"client_owner": "parent-admin@example.com"});
    let response = app.post_json(&format!("{path}/transfer-ownership"), &parent_admin, &to_themself).await;
    let refusal = assert_api_error(response, StatusCode::BAD_REQUEST).await;
    assert!(refusal["message"].as_str().unwrap().contains("parent account has this email"), "{refusal}");
    let to_admin = json!({"email": "parent-admin@example.com"});
    let response = app.post_json(&format!("/v1/accounts/{emea}/transfer-ownership"), &owner, &to_admin).await;
    assert_api_error(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.delete(&copy_path, &emea_admin).await.status(), StatusCode::NO_CONTENT);
    app.token(&kept).await;
    assert_eq!(app.delete(&format!("/v1/users/{parent_admin_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    let after = app.token_request_basic(&kept, &[("grant_type", "client_credentials")]).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "the removed admin's secret is replaced");
    let page: Value = app.get(&format!("/v1/clients/{}", kept.client_id), &owner).await.json().await.unwrap();
    assert_eq!((&page["client"]["client_owner"], &page["client"]["enabled"]), (&json!(OWNER_EMAIL), &json!(false)));

    // Guesses at the owner's password are counted whatever the copy does: its sign-ins in its
    // own account never clear or lift the count (they did while the count was per email).
    for _ in 0..4 {
        assert_eq!(app.login_response(OWNER_EMAIL, "guess").await.status(), StatusCode::UNAUTHORIZED);
        let copy = app.login_response_to(&emea, OWNER_EMAIL, &passwords[OWNER_EMAIL]).await;
        assert_eq!(copy.status(), StatusCode::OK);
    }
    assert_eq!(app.login_response(OWNER_EMAIL, "guess").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_response(OWNER_EMAIL, "guess").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Found in review: an owner who handed their account on still owns the child accounts they
/// created, and could be removed, leaving those accounts (and the clients handed over to their
/// owner) owned by nobody.
#[tokio::test]
async fn the_owner_of_a_child_account_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let child_id = app.create_child_account(&owner, "EMEA").await;
    let (_, successor) = app.create_user(&owner, "next@example.com", "admin").await;
    let users: Value = app.get("/v1/users", &owner).await.json().await.unwrap();
    let owner_id = users["users"][0]["user_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{}/transfer-ownership", app.account_id);
    let response = app.post_json(&path, &owner, &json!({"email": "next@example.com"})).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app.delete(&format!("/v1/users/{owner_id}"), &successor).await;
    let refusal = assert_api_error(response, StatusCode::FORBIDDEN).await;
    assert!(refusal["message"].as_str().unwrap().contains("owner"), "{refusal}");
    let (_, created) = app.create_client(&owner, json!({"account_id": child_id})).await;
    assert_eq!(created["account_id"], child_id.as_str(), "the child account's owner still acts there");
}

/// An admin once created an admin client, transferred it to the owner, kept its secret, and through
/// it granted the admin role, which only the owner may do; renewing the key of the owner's own
/// admin client gave the same. A review then found the kept secret outliving the admin's removal.
#[tokio::test]
async fn no_credential_acts_with_more_power_than_the_people_who_can_hold_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (admin_id, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let admin_client = json!({
        "name": "borrowed", "locked": null, "client_type": "admin",
        "scopes": {"global_resources": ["users", "api_clients"], "products": []},
    });
    let grant = |token: String| {
        let app = &app;
        async move { app.post_json("/v1/users", &token, &json!({"email": "new-admin@example.com", "role": "admin"})).await }
    };

    // Handed to the owner, the client arrives with a secret nobody holds: the admin's copy
    // and the tokens minted with it are refused.
    let response = app.post_json("/v1/clients", &admin, &admin_client).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let kept = Credentials {
        client_id: client_id.clone(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let early_token = app.token(&kept).await;
    let transfer = json!({"client_owner": OWNER_EMAIL});
    let response = app.post_json(&format!("/v1/clients/{client_id}/transfer-ownership"), &admin, &transfer).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let refused = app.token_request_basic(&kept, &[("grant_type", "client_credentials")]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.ping_status(&early_token).await, StatusCode::UNAUTHORIZED);

    // An admin may not renew the key of the owner's admin client (the bootstrap one).
    let renew = app.post_json(&format!("/v1/clients/{}/renew-key", app.admin.client_id), &admin, &json!({})).await;
    assert_api_error(renew, StatusCode::FORBIDDEN).await;
    // Nor rotate its secret, which would hand the admin a secret of it just the same.
    let rotate = app.post_json(&format!("/v1/clients/{}/rotate-secret", app.admin.client_id), &admin, &json!({})).await;
    assert_api_error(rotate, StatusCode::FORBIDDEN).await;

    // The owner's own admin client acts with the owner's role, but owner-only actions need the
    // owner signed in: whoever created or renewed a client may hold its secret.
    let owners_client = app.admin_token().await;
    let refusal = assert_api_error(grant(owners_client.clone()).await, StatusCode::FORBIDDEN).await;
    assert!(refusal["message"].as_str().unwrap().contains("signed in"), "{refusal}");
    let (dev_id, _) = app.create_user(&owner, "dev@example.com", "developer").await;
    let promote = app.patch_json(&format!("/v1/users/{dev_id}"), &owners_client, &json!({"role": "admin"})).await;
    assert_api_error(promote, StatusCode::FORBIDDEN).await;
    let promote = app.patch_json(&format!("/v1/users/{dev_id}"), &owner, &json!({"role": "admin"})).await;
    assert_eq!(promote.status(), StatusCode::OK, "the owner in person still may");

    // An admin's own admin client does not outlive the admin: removed, its secret is replaced.
    let response = app.post_json("/v1/clients", &admin, &admin_client).await;
    let created: Value = response.json().await.unwrap();
    let own = Credentials {
        client_id: created["client_id"].as_str().unwrap().to_owned(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    app.token(&own).await;
    assert_eq!(app.delete(&format!("/v1/users/{admin_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    let after = app.token_request_basic(&own, &[("grant_type", "client_credentials")]).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

/// The audit events of an account (the root one when `account` is `None`), newest first.
async fn audit_events(app: &TestApp, session: &str, account: Option<&str>) -> Vec<Value> {
    let mut path = "/v1/audit-events?page_size=500&page_number=1".to_owned();
    if let Some(account) = account {
        path.push_str(&format!("&account_id={account}"));
    }
    let response = app.get(&path, session).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["audit_events"].as_array().unwrap().clone()
}

fn find<'a>(events: &'a [Value], action: &str, matches: impl Fn(&Value) -> bool) -> &'a Value {
    events
        .iter()
        .find(|event| event["action"] == action && matches(event))
        .unwrap_or_else(|| panic!("no {action} event in {events:#?}"))
}

/// Every refused management request and failed login is on record with its reason and address,
/// so abuse can be traced, and a flood of them is counted, not written, so it cannot fill the log.
#[tokio::test]
async fn every_refusal_is_on_record_and_a_flood_is_counted_not_written() {
    let app = app_behind_a_proxy().await;
    let owner = app.owner_session().await;
    let bad_token = |address: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .get(app.url("/v1/clients?page_size=1&page_number=1"))
                .header("x-forwarded-for", address)
                .bearer_auth("not-a-token")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    };

    // Logins: an unknown email, a wrong password, and one refused while throttled.
    assert_eq!(login_from(&app, "198.51.100.20", "nobody@example.com", "guess").await.status(), 401);
    for _ in 0..5 {
        login_from(&app, "198.51.100.22", OWNER_EMAIL, "wrong").await;
    }
    assert_eq!(login_from(&app, "198.51.100.22", OWNER_EMAIL, "wrong").await.status(), 429);
    // 401 on the management API.
    bad_token("198.51.100.21").await;
    // 403: a developer reading the users.
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    assert_eq!(app.get("/v1/users", &developer).await.status(), StatusCode::FORBIDDEN);
    // 404 on another account's object: a child account's admin reading the parent's owner.
    let child_id = app.create_child_account(&owner, "EMEA").await;
    let body = json!({"email": "emea-admin@example.com", "role": "admin", "account_id": child_id});
    let created: Value = app.post_json("/v1/users", &owner, &body).await.json().await.unwrap();
    let child_admin = app.login_to(&child_id, "emea-admin@example.com", created["password"].as_str().unwrap()).await;
    let me: Value = app.get("/v1/users", &owner).await.json().await.unwrap();
    let owner_id = me["users"][0]["user_id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/v1/users/{owner_id}"), &child_admin).await.status(), StatusCode::NOT_FOUND);

    let events = audit_events(&app, &owner, None).await;
    let unknown =
        find(&events, "user.login", |e| e["actor"]["type"] == "anonymous" && e["source_ip"] == "198.51.100.20");
    assert_eq!(unknown["actor"]["email"], "nobody@example.com");
    assert_eq!(unknown["outcome"], "denied");
    assert_eq!(unknown["reason"], "invalid email or password");
    let wrong = find(&events, "user.login", |e| e["actor"]["type"] == "user" && e["outcome"] == "denied");
    assert_eq!(wrong["source_ip"], "198.51.100.22");
    let throttled = find(&events, "user.login", |e| e["reason"] == "too many failed attempts");
    assert_eq!(throttled["source_ip"], "198.51.100.22");
    let unauthenticated = find(&events, "api.authenticate", |e| e["source_ip"] == "198.51.100.21");
    assert_eq!(unauthenticated["target"]["id"], "GET /v1/clients", "the route, never the query");
    assert_eq!(unauthenticated["reason"], "invalid, expired or revoked token");
    let forbidden = find(&events, "user.list", |e| e["outcome"] == "denied");
    assert_eq!(forbidden["actor"]["email"], "dev@example.com");
    let child_events = audit_events(&app, &owner, Some(&child_id)).await;
    let probe = find(&child_events, "user.read", |e| e["outcome"] == "denied");
    assert_eq!(probe["target"]["id"], owner_id.as_str());
    assert_eq!(probe["actor"]["email"], "emea-admin@example.com");
    for event in events.iter().chain(&child_events) {
        assert!(!event.to_string().contains("not-a-token") && !event.to_string().contains("guess"), "{event}");
    }

    // A flood from one address writes a bounded number of events and one notice that names
    // it; the rest are counted.
    for _ in 0..40 {
        bad_token("198.51.100.30").await;
    }
    let events = audit_events(&app, &owner, None).await;
    let flood: Vec<&Value> = events.iter().filter(|e| e["source_ip"] == "198.51.100.30").collect();
    assert_eq!(flood.iter().filter(|e| e["action"] == "api.authenticate").count(), 10, "one address's per minute");
    let notice = find(&events, "audit.suppressed", |e| e["source_ip"] == "198.51.100.30");
    assert_eq!(notice["target"]["id"], "api.authenticate");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("gatehouse_audit_refusals_suppressed_total 30\n"), "{metrics}");

    // Anonymous floods from many addresses use up only the anonymous budget: a person's
    // refusals are still written.
    for host in 0..14 {
        let address: &'static str = Box::leak(format!("203.0.113.{host}").into_boxed_str());
        for _ in 0..11 {
            bad_token(address).await;
        }
    }
    let users_path = format!("/v1/users/{owner_id}");
    assert_eq!(app.get(&users_path, &child_admin).await.status(), StatusCode::NOT_FOUND);
    let child_events = audit_events(&app, &owner, Some(&child_id)).await;
    let probes = child_events.iter().filter(|e| e["action"] == "user.read" && e["outcome"] == "denied").count();
    assert_eq!(probes, 2, "the second probe, after the flood, is on record too");
}
