//! Planned rotation of client secrets: two secrets during a grace period, each refused by itself
//! when its time ends; ending one early, with or without its tokens; expiry; last use, written
//! in batches. Renewal (`renew-key`), which ends everything at once, is in `lifecycle`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use gatehouse_domain::clock::Clock;

use crate::test_app::{Credentials, TestApp, assert_api_error};

const SUPERSIM: &str = "/v1/auth/products/SuperSIM/check";

async fn check(app: &TestApp, token: &str) -> StatusCode {
    app.http.get(app.url(SUPERSIM)).bearer_auth(token).send().await.unwrap().status()
}

async fn mints(app: &TestApp, credentials: &Credentials) -> StatusCode {
    app.token_request_basic(credentials, &[("grant_type", "client_credentials")]).await.status()
}

async fn rotate(app: &TestApp, token: &str, client_id: &str, body: Value) -> (Credentials, Value) {
    let response = app.post_json(&format!("/v1/clients/{client_id}/rotate-secret"), token, &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store", "a secret is never cached");
    let body: Value = response.json().await.unwrap();
    let credentials = Credentials {
        client_id: client_id.to_owned(),
        client_secret: body["client_secret"].as_str().unwrap().to_owned(),
    };
    (credentials, body)
}

async fn secrets(app: &TestApp, token: &str, client_id: &str) -> Vec<Value> {
    let response = app.get(&format!("/v1/clients/{client_id}/secrets"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["secrets"].as_array().unwrap().clone()
}

fn instant(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

/// Expiries are kept to the second.
fn second(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap()
}

fn at(value: OffsetDateTime) -> String {
    value.format(&Rfc3339).unwrap()
}

#[tokio::test]
async fn both_secrets_work_until_the_grace_period_ends_and_then_only_the_new_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (old, _) = app.create_client(&admin, json!({"token_expiry_seconds": 86_400})).await;
    let minted_before = app.token(&old).await;
    let rotated_at = app.clock.now();

    let (new, body) = rotate(&app, &admin, &old.client_id, json!({"grace_period_seconds": 3600})).await;
    assert_ne!(new.client_secret, old.client_secret);
    assert!(new.client_secret.starts_with("gsec_"));
    assert_eq!(instant(&body["previous_secret_expires_at"]), second(rotated_at + time::Duration::hours(1)));
    assert_eq!(mints(&app, &old).await, StatusCode::OK, "the previous secret works during the grace period");
    assert_eq!(mints(&app, &new).await, StatusCode::OK, "the new one at once");
    let minted_during = app.token(&old).await;

    // Listed oldest first, the current last; a prefix to recognise each, never a value.
    let listed = secrets(&app, &admin, &old.client_id).await;
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(&old.client_secret) && !text.contains(&new.client_secret));
    assert_eq!(listed.len(), 2);
    assert_eq!((&listed[0]["current"], &listed[1]["current"]), (&json!(false), &json!(true)));
    assert_eq!(listed[1]["secret_id"], body["secret_id"]);
    assert!(old.client_secret.starts_with(listed[0]["prefix"].as_str().unwrap()));
    assert!(new.client_secret.starts_with(listed[1]["prefix"].as_str().unwrap()));
    assert_eq!(listed[1]["prefix"].as_str().unwrap().len(), "gsec_".len() + 7);
    assert_eq!(listed[0]["expires_at"], body["previous_secret_expires_at"]);
    assert_eq!((&listed[0]["expired"], &listed[0]["expires_soon"]), (&json!(false), &json!(true)));
    assert_eq!(listed[1]["expires_at"], Value::Null);

    // The grace period ends by itself: the previous secret is refused as a wrong one is.
    app.clock.advance(3600);
    let refused = app.token_request_basic(&old, &[("grant_type", "client_credentials")]).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"], "invalid_client");
    assert_eq!(mints(&app, &new).await, StatusCode::OK);
    assert_eq!(secrets(&app, &admin, &old.client_id).await[0]["expired"], true);
    // Tokens minted with it keep their own expiry.
    assert_eq!(check(&app, &minted_before).await, StatusCode::OK);
    assert_eq!(check(&app, &minted_during).await, StatusCode::OK);

    // The rotation is on the record, without the secret.
    let events = app.get("/v1/audit-events?page_size=50&page_number=1&action=client.rotate_secret", &admin).await;
    let events = events.text().await.unwrap();
    assert!(events.contains(body["secret_id"].as_str().unwrap()), "{events}");
    assert!(!events.contains(&new.client_secret));
}

#[tokio::test]
async fn rotating_again_during_a_grace_period_ends_the_oldest_secret_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (first, _) = app.create_client(&admin, json!({})).await;
    let (second, _) = rotate(&app, &admin, &first.client_id, json!({})).await;
    let (third, _) = rotate(&app, &admin, &first.client_id, json!({"grace_period_seconds": 60})).await;
    assert_eq!(mints(&app, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(mints(&app, &second).await, StatusCode::OK);
    assert_eq!(mints(&app, &third).await, StatusCode::OK);
    assert_eq!(secrets(&app, &admin, &first.client_id).await.len(), 2, "never more than two");
}

#[tokio::test]
async fn the_grace_period_is_a_day_unless_given_and_at_most_a_week() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (old, _) = app.create_client(&admin, json!({})).await;
    let path = format!("/v1/clients/{}/rotate-secret", old.client_id);
    for refused in [json!({"grace_period_seconds": 604_801}), json!({"grace_period_seconds": -1}), json!({"grace": 1})]
    {
        let response = app.post_json(&path, &admin, &refused).await;
        assert_api_error(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(secrets(&app, &admin, &old.client_id).await.len(), 1, "a refused rotation changes nothing");

    let now = app.clock.now();
    let (renewed, body) = rotate(&app, &admin, &old.client_id, json!({})).await;
    assert_eq!(instant(&body["previous_secret_expires_at"]), second(now + time::Duration::days(1)));
    // None at all: the previous secret ends now.
    let (_, body) = rotate(&app, &admin, &old.client_id, json!({"grace_period_seconds": 0})).await;
    assert_eq!(body["previous_secret_expires_at"], Value::Null);
    assert_eq!(mints(&app, &renewed).await, StatusCode::UNAUTHORIZED);
    assert_eq!(secrets(&app, &admin, &old.client_id).await.len(), 1);
    let (_, body) = rotate(&app, &admin, &old.client_id, json!({"grace_period_seconds": 604_800})).await;
    assert_eq!(instant(&body["previous_secret_expires_at"]), second(now + time::Duration::weeks(1)));
}

#[tokio::test]
async fn a_secret_ended_early_is_refused_and_its_tokens_only_if_asked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (old, _) = app.create_client(&admin, json!({})).await;
    let old_token = app.token(&old).await;
    let (new, body) = rotate(&app, &admin, &old.client_id, json!({})).await;
    let new_token = app.token(&new).await;
    let listed = secrets(&app, &admin, &old.client_id).await;
    let (old_id, new_id) = (listed[0]["secret_id"].as_str().unwrap(), body["secret_id"].as_str().unwrap());
    let secret_path = |id: &str| format!("/v1/clients/{}/secrets/{id}", old.client_id);

    // The current secret stays, whatever else the client holds: ending it during the grace
    // period would leave only a secret about to expire.
    let current = assert_api_error(app.delete(&secret_path(new_id), &admin).await, StatusCode::CONFLICT).await;
    assert!(current["message"].as_str().unwrap().contains("current secret"), "{current}");
    let malformed = app.delete(&format!("{}?revoke_tokens=yes", secret_path(old_id)), &admin).await;
    assert_api_error(malformed, StatusCode::BAD_REQUEST).await;
    assert_api_error(app.delete(&secret_path("sid_unknown"), &admin).await, StatusCode::NOT_FOUND).await;
    assert_api_error(app.delete(&secret_path("../x"), &admin).await, StatusCode::NOT_FOUND).await;

    // Without its tokens: the secret is refused, what it minted lives on.
    assert_eq!(app.delete(&secret_path(old_id), &admin).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(mints(&app, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(&app, &old_token).await, StatusCode::OK);
    assert_eq!(secrets(&app, &admin, &old.client_id).await.len(), 1);
    let last = assert_api_error(app.delete(&secret_path(new_id), &admin).await, StatusCode::CONFLICT).await;
    assert!(last["message"].as_str().unwrap().contains("renew"), "{last}");
    assert_eq!(mints(&app, &new).await, StatusCode::OK);

    // With them: only the tokens that secret minted end.
    let (newest, _) = rotate(&app, &admin, &old.client_id, json!({})).await;
    let newest_token = app.token(&newest).await;
    let ended = app.delete(&format!("{}?revoke_tokens=true", secret_path(new_id)), &admin).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(check(&app, &new_token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(&app, &old_token).await, StatusCode::OK);
    assert_eq!(check(&app, &newest_token).await, StatusCode::OK);
    assert_eq!(mints(&app, &new).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_secret_may_expire_and_is_then_refused_like_a_wrong_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = app.clock.now();
    let past = json!({"name": "x", "locked": null, "scopes": {}, "secret_expires_at": at(now)});
    assert_api_error(app.post_json("/v1/clients", &admin, &past).await, StatusCode::BAD_REQUEST).await;
    let unreadable = json!({"name": "x", "locked": null, "scopes": {}, "secret_expires_at": "next tuesday"});
    let error =
        assert_api_error(app.post_json("/v1/clients", &admin, &unreadable).await, StatusCode::BAD_REQUEST).await;
    assert!(error["message"].as_str().unwrap().contains("secret_expires_at"), "{error}");
    // Past the end of year 9999 in UTC (found in review: it was a 500), and merely far off.
    let (target, _) = app.create_client(&admin, json!({})).await;
    for far in ["9999-12-31T23:59:59-01:00", "9999-12-31T00:00:00Z", "2200-01-01T00:00:00Z"] {
        let body = json!({"name": "x", "locked": null, "scopes": {}, "secret_expires_at": far});
        assert_api_error(app.post_json("/v1/clients", &admin, &body).await, StatusCode::BAD_REQUEST).await;
        let path = format!("/v1/clients/{}/rotate-secret", target.client_id);
        let rotate = app.post_json(&path, &admin, &json!({"secret_expires_at": far})).await;
        assert_api_error(rotate, StatusCode::BAD_REQUEST).await;
    }

    let expires = now + time::Duration::days(20);
    let (credentials, _) = app.create_client(&admin, json!({"secret_expires_at": at(expires)})).await;
    let client: Value = app.get(&format!("/v1/clients/{}", credentials.client_id), &admin).await.json().await.unwrap();
    assert_eq!(instant(&client["client"]["secret_expires_at"]), second(expires));
    assert_eq!(secrets(&app, &admin, &credentials.client_id).await[0]["expires_soon"], false);
    app.clock.advance(7 * 86_400);
    let admin = app.admin_token().await;
    assert_eq!(secrets(&app, &admin, &credentials.client_id).await[0]["expires_soon"], true, "within 14 days");
    assert_eq!(mints(&app, &credentials).await, StatusCode::OK);

    app.clock.advance(13 * 86_400);
    let admin = app.admin_token().await;
    let expired = app.token_request_basic(&credentials, &[("grant_type", "client_credentials")]).await;
    let wrong = Credentials { client_secret: "gsec_wrong".to_owned(), ..credentials.clone() };
    let wrong = app.token_request_basic(&wrong, &[("grant_type", "client_credentials")]).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(expired.text().await.unwrap(), wrong.text().await.unwrap(), "an expired secret answers as a wrong one");
    let listed = secrets(&app, &admin, &credentials.client_id).await;
    assert_eq!((&listed[0]["expired"], &listed[0]["expires_soon"]), (&json!(true), &json!(false)));

    // A rotation gives a new secret, with an expiry of its own.
    let later = app.clock.now() + time::Duration::days(90);
    let (renewed, _) = rotate(
        &app,
        &admin,
        &credentials.client_id,
        json!({"secret_expires_at": at(later), "grace_period_seconds": 0}),
    )
    .await;
    assert_eq!(mints(&app, &renewed).await, StatusCode::OK);
    assert_eq!(instant(&secrets(&app, &admin, &credentials.client_id).await[0]["expires_at"]), second(later));
}

#[tokio::test]
async fn last_use_is_gathered_in_memory_and_written_in_one_batch() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (credentials, _) = app.create_client(&admin, json!({})).await;
    // Drain what earlier requests (the admin's token) left.
    app.gatehouse.write_credential_uses().await.unwrap();
    for _ in 0..5 {
        app.token(&credentials).await;
    }
    assert_eq!(secrets(&app, &admin, &credentials.client_id).await[0]["last_used_at"], Value::Null, "not yet written");
    assert_eq!(app.gatehouse.write_credential_uses().await.unwrap(), 1, "five uses, one write");
    let listed = secrets(&app, &admin, &credentials.client_id).await;
    assert_eq!(listed[0]["last_used_ip"], "127.0.0.1");
    assert!(instant(&listed[0]["last_used_at"]) <= app.clock.now());

    // An API key is used at the check.
    let path = format!("/v1/clients/{}/access-profiles", credentials.client_id);
    let created =
        app.post_json(&path, &admin, &json!({"name": "key", "products": ["SuperSIM"], "auth_method": "api_key"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let key = created["credential"]["api_key"].as_str().unwrap();
    let profile_path = format!("{path}/{}", created["access_profile"]["profile_id"].as_str().unwrap());
    assert_eq!(check(&app, key).await, StatusCode::OK);
    app.gatehouse.write_credential_uses().await.unwrap();
    let profile: Value = app.get(&profile_path, &admin).await.json().await.unwrap();
    assert_eq!(profile["access_profile"]["last_used_ip"], "127.0.0.1");
}

/// The point of a grace period: a client that mints and calls all the time, and switches to the
/// new secret at some moment during the grace period, is never refused. On PostgreSQL the
/// rotation is made through one instance while the client uses another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_switches_secrets_during_the_grace_period_is_never_refused() {
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let app = TestApp::spawn_with(|config| config.issuer = Some("http://gatehouse.test".to_owned())).await;
    let other = if on_postgres { Some(Arc::new(app.spawn_beside(|_| {}).await)) } else { None };
    let admin = app.admin_token().await;
    let (old, _) = app.create_client(&admin, json!({})).await;
    let app = Arc::new(app);
    let used = other.clone().unwrap_or_else(|| app.clone());

    let current = Arc::new(tokio::sync::RwLock::new(old.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    // One worker, as a client is: it mints a token and calls with it three times, over and over.
    // Not several: the live-token cap (ten per credential) evicts the oldest tokens, and on a
    // busy machine one worker can mint ten while another waits to use its token (seen in CI,
    // as a token refused for all its calls at once; nothing else ends a token here).
    let worker = {
        let (used, current, stop, calls, refused) =
            (used.clone(), current.clone(), stop.clone(), calls.clone(), refused.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let credentials = current.read().await.clone();
                let response = used.token_request_basic(&credentials, &[("grant_type", "client_credentials")]).await;
                calls.fetch_add(1, Ordering::Relaxed);
                if response.status() != StatusCode::OK {
                    refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let body: Value = response.json().await.unwrap();
                let token = body["access_token"].as_str().unwrap();
                for _ in 0..3 {
                    calls.fetch_add(1, Ordering::Relaxed);
                    if check(&used, token).await != StatusCode::OK {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(300));
    settle().await;
    let (new, _) = rotate(&app, &admin, &old.client_id, json!({"grace_period_seconds": 600})).await;
    settle().await;
    *current.write().await = new.clone();
    settle().await;
    // The previous secret is ended early, once the client has moved on.
    let listed = secrets(&app, &admin, &old.client_id).await;
    let old_id = listed[0]["secret_id"].as_str().unwrap();
    let ended = app.delete(&format!("/v1/clients/{}/secrets/{old_id}", old.client_id), &admin).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    settle().await;
    stop.store(true, Ordering::Relaxed);
    worker.await.unwrap();
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls > 40, "the client kept calling ({calls} calls)");
    assert_eq!(refused.load(Ordering::Relaxed), 0, "refused during a planned rotation, of {calls} calls");
    assert_eq!(mints(&used, &old).await, StatusCode::UNAUTHORIZED, "and the old secret ended after");
}

/// Uses noted since the last batch are written when the server stops, not lost with it.
#[tokio::test]
async fn last_uses_not_yet_written_survive_a_restart() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (credentials, _) = app.create_client(&admin, json!({})).await;
    app.gatehouse.write_credential_uses().await.unwrap();
    app.token(&credentials).await;
    let app = app.restart().await;
    let admin = app.admin_token().await;
    let listed = secrets(&app, &admin, &credentials.client_id).await;
    assert_eq!(listed[0]["last_used_ip"], "127.0.0.1", "written at shutdown");
}
