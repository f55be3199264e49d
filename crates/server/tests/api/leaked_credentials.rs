//! `POST /api-services/v1/auth/leaked`: whoever finds a Gatehouse credential in public reports
//! it, every live one among the values stops working, the owner sees who reported it from
//! where, and the reporter learns nothing about which values were real.

use std::time::{Duration, Instant};

use gatehouse_domain::secret::ClientSecret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, TestApp};

const LEAKED: &str = "/api-services/v1/auth/leaked";
const SUPERSIM: &str = "/v1/auth/products/SuperSIM/check";

async fn report(app: &TestApp, values: &[&str]) -> (StatusCode, Value) {
    let response = app.http.post(app.url(LEAKED)).json(&json!({"credentials": values})).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn check(app: &TestApp, credential: &str) -> StatusCode {
    app.http.get(app.url(SUPERSIM)).bearer_auth(credential).send().await.unwrap().status()
}

/// Waits up to a second for `credential` to be refused at the check.
async fn refused_within_a_second(app: &TestApp, credential: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while check(app, credential).await != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "still accepted a second after the report");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reported_credentials_stop_working_and_the_reporter_learns_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (client, _) = app.create_client(&owner, json!({"name": "leaky"})).await;
    let token = app.token(&client).await;
    assert_eq!(check(&app, &token).await, StatusCode::OK);
    let profiles = format!("/v1/clients/{}/access-profiles", client.client_id);
    let body = json!({"name": "k", "products": ["SuperSIM"], "auth_method": "api_key"});
    let profile: Value = app.post_json(&profiles, &owner, &body).await.json().await.unwrap();
    let api_key = profile["credential"]["api_key"].as_str().unwrap().to_owned();
    assert_eq!(check(&app, &api_key).await, StatusCode::OK);
    let (bystander, _) = app.create_client(&owner, json!({"name": "bystander"})).await;

    // New credentials carry a checksum a scanner can verify offline.
    for value in [&client.client_secret, &api_key] {
        assert!(gatehouse_domain::secret::is_credential_shaped(value), "{value}");
    }

    // Fakes alone, then fakes with two real values: the same answer.
    let fake = ClientSecret::generate();
    let fakes = [fake.expose(), "gsec_not-a-real-one", "hello"];
    let answer_to_fakes = report(&app, &fakes).await;
    assert_eq!(answer_to_fakes.0, StatusCode::ACCEPTED);
    let real = [fake.expose(), client.client_secret.as_str(), "hello", api_key.as_str()];
    assert_eq!(report(&app, &real).await, answer_to_fakes, "the answer never says which values were real");

    refused_within_a_second(&app, &token).await;
    refused_within_a_second(&app, &api_key).await;
    let minted = app.token_request_basic(&client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(minted.status(), StatusCode::UNAUTHORIZED, "the reported secret mints nothing");
    assert_eq!(
        app.token_request_basic(&bystander, &[("grant_type", "client_credentials")]).await.status(),
        StatusCode::OK
    );

    // The owner sees who reported what, from where.
    let events: Value = app.get("/v1/audit-events?page_size=50&page_number=1", &owner).await.json().await.unwrap();
    let leaked: Vec<&Value> = events["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"].as_str().unwrap_or_default().ends_with("_leaked"))
        .collect();
    assert_eq!(leaked.len(), 2, "{events}");
    for event in &leaked {
        assert_eq!(event["source_ip"], "127.0.0.1");
        assert_eq!(event["actor"]["type"], "anonymous");
    }
    assert!(leaked.iter().any(|event| event["target"]["id"] == client.client_id.as_str()));
    assert!(!events.to_string().contains(&client.client_secret), "no secret in the audit log");

    // Renewing the key puts the client back to work.
    let path = format!("/v1/clients/{}/renew-key", client.client_id);
    let renewed: Value = app.post_json(&path, &owner, &json!({})).await.json().await.unwrap();
    let client = Credentials { client_secret: renewed["client_secret"].as_str().unwrap().to_owned(), ..client };
    assert_eq!(check(&app, &app.token(&client).await).await, StatusCode::OK);
}

/// During a rotation's grace period, a leaked previous secret ends alone, with the tokens it
/// minted: the client, already moving to its new secret, goes on working.
/// Rotates `old`'s secret with the default grace period: the new credentials, and the answer.
async fn rotate(app: &TestApp, owner: &str, old: &Credentials) -> (Credentials, Value) {
    let path = format!("/v1/clients/{}/rotate-secret", old.client_id);
    let rotated: Value = app.post_json(&path, owner, &json!({})).await.json().await.unwrap();
    let new = Credentials { client_secret: rotated["client_secret"].as_str().unwrap().to_owned(), ..old.clone() };
    (new, rotated)
}

#[tokio::test]
async fn a_leaked_previous_secret_ends_alone_during_a_rotation() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (old, _) = app.create_client(&owner, json!({"name": "rotating"})).await;
    let old_token = app.token(&old).await;
    let (new, rotated) = rotate(&app, &owner, &old).await;
    let new_token = app.token(&new).await;

    assert_eq!(report(&app, &[&old.client_secret]).await.0, StatusCode::ACCEPTED);
    refused_within_a_second(&app, &old_token).await;
    assert_eq!(
        app.token_request_basic(&old, &[("grant_type", "client_credentials")]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(check(&app, &new_token).await, StatusCode::OK);
    assert_eq!(check(&app, &app.token(&new).await).await, StatusCode::OK);
    let listed: Value = app.get(&format!("/v1/clients/{}/secrets", old.client_id), &owner).await.json().await.unwrap();
    assert_eq!(listed["secrets"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["secrets"][0]["secret_id"], rotated["secret_id"]);
}

/// A leaked current secret ends everything, as a renewal does, even during a grace period: the
/// previous secret is about to expire and cannot carry the client.
#[tokio::test]
async fn a_leaked_current_secret_ends_every_secret_even_during_a_rotation() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (old, _) = app.create_client(&owner, json!({"name": "rotating"})).await;
    let (new, _) = rotate(&app, &owner, &old).await;
    let new_token = app.token(&new).await;
    assert_eq!(report(&app, &[&new.client_secret]).await.0, StatusCode::ACCEPTED);
    refused_within_a_second(&app, &new_token).await;
    for credentials in [&old, &new] {
        let minted = app.token_request_basic(credentials, &[("grant_type", "client_credentials")]).await;
        assert_eq!(minted.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn reports_are_rate_limited_per_address_and_bounded() {
    let app = TestApp::spawn().await;
    let too_many: Vec<String> = (0..101).map(|_| ClientSecret::generate().expose().to_owned()).collect();
    let response = app.http.post(app.url(LEAKED)).json(&json!({"credentials": too_many})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let mut limited = None;
    for _ in 0..20 {
        let response = app.http.post(app.url(LEAKED)).json(&json!({"credentials": []})).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    let limited = limited.expect("twenty reports in a row from one address are not all taken");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
}
