//! Policies (seed file 002, issue 21): limits an account puts its access profiles under. A
//! profile under a policy is held to the stricter of its own limits and the policy's, at the
//! gateway check and at the token endpoint, and a change to the policy holds at once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use gatehouse_server::http::client_address::TrustedProxies;

use crate::test_app::{TestApp, assert_api_error};

async fn create_policy(app: &TestApp, token: &str, body: Value) -> String {
    let response = app.post_json("/v1/policies", token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let policy_id = body["policy"]["policy_id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/policies/{policy_id}"));
    policy_id
}

/// A client with an API-key profile under `policy_id`; returns the profile's path and its key.
async fn profile_under(app: &TestApp, token: &str, policy_id: Option<&str>, extra: Value) -> (String, String) {
    let (client, _) = app.create_client(token, json!({})).await;
    let mut body = json!({"name": "partner", "auth_method": "api_key", "products": ["SuperSIM"]});
    if let Some(policy_id) = policy_id {
        body["policy_id"] = json!(policy_id);
    }
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let path = format!("/v1/clients/{}/access-profiles", client.client_id);
    let created = app.post_json(&path, token, &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["access_profile"]["policy_id"], json!(policy_id));
    let profile_id = created["access_profile"]["profile_id"].as_str().unwrap();
    (format!("{path}/{profile_id}"), created["credential"]["api_key"].as_str().unwrap().to_owned())
}

async fn check(app: &TestApp, key: &str, from: &str) -> StatusCode {
    app.http
        .get(app.url("/v1/auth/products/SuperSIM/check"))
        .bearer_auth(key)
        .header("x-forwarded-for", from)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn policies_are_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let body = json!({"name": " Partners ", "description": "External partners",
                      "rate_limit": {"requests_per_second": 5, "burst": 10}, "allowed_ips": ["10.0.0.0/8"]});
    let policy_id = create_policy(&app, &owner, body).await;
    let path = format!("/v1/policies/{policy_id}");
    let got: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(got["policy"]["name"], "Partners");
    assert_eq!(got["policy"]["rate_limit"], json!({"requests_per_second": 5, "burst": 10}));
    assert_eq!(got["policy"]["allowed_ips"], json!(["10.0.0.0/8"]));
    assert_eq!(got["policy"]["account_id"], app.account_id.as_str());

    assert_api_error(app.post_json("/v1/policies", &owner, &json!({"name": "Partners"})).await, StatusCode::CONFLICT)
        .await;
    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "rate_limit": {"requests_per_second": 0, "burst": 1}}),
        json!({"name": "x", "allowed_ips": ["not an address"]}),
        json!({"name": "x", "quota_of_the_future": 1}),
    ] {
        assert_api_error(app.post_json("/v1/policies", &owner, &bad).await, StatusCode::BAD_REQUEST).await;
    }

    // JSON Schema's integers: `5.0` is 5; `5.5` is no whole number.
    let whole = json!({"name": "Whole", "rate_limit": {"requests_per_second": 5.0, "burst": 10}, "quota": {"requests": 7.0, "period": "day"}});
    assert_eq!(app.post_json("/v1/policies", &owner, &whole).await.status(), StatusCode::CREATED);
    let fraction = json!({"name": "Fraction", "rate_limit": {"requests_per_second": 5.5, "burst": 10}});
    assert_api_error(app.post_json("/v1/policies", &owner, &fraction).await, StatusCode::BAD_REQUEST).await;

    let changed = app.patch_json(&path, &owner, &json!({"rate_limit": null, "allowed_ips": []})).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(changed["policy"]["rate_limit"], Value::Null);
    assert_eq!(changed["policy"]["description"], "External partners", "a field left out is kept");
    let listed: Value = app.get("/v1/policies", &owner).await.json().await.unwrap();
    assert_eq!(listed["policies"].as_array().unwrap().len(), 2);

    assert_eq!(app.delete(&path, &owner).await.status(), StatusCode::NO_CONTENT);
    assert_api_error(app.get(&path, &owner).await, StatusCode::NOT_FOUND).await;
    let events: Value = app.get("/v1/audit-events?page_size=50&page_number=1", &owner).await.json().await.unwrap();
    let actions: Vec<&str> =
        events["audit_events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["policy.create", "policy.update", "policy.delete"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn owners_and_admins_shape_policies_and_developers_use_them() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (_, admin) = app.create_user(&owner, "admin@example.com", "admin").await;
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    assert_eq!(app.post_json("/v1/policies", &admin, &json!({"name": "by admin"})).await.status(), StatusCode::CREATED);
    let refused = app.post_json("/v1/policies", &developer, &json!({"name": "by developer"})).await;
    assert_api_error(refused, StatusCode::FORBIDDEN).await;
    let policy_id = create_policy(&app, &owner, json!({"name": "Partners"})).await;
    let path = format!("/v1/policies/{policy_id}");
    assert_api_error(app.patch_json(&path, &developer, &json!({"name": "mine"})).await, StatusCode::FORBIDDEN).await;
    assert_api_error(app.delete(&path, &developer).await, StatusCode::FORBIDDEN).await;
    // A developer reads the policies and puts their profiles under one.
    assert_eq!(app.get(&path, &developer).await.status(), StatusCode::OK);
    let (profile_path, _) = profile_under(&app, &developer, Some(&policy_id), json!({})).await;
    // A policy binds whoever holds the credential: a developer does not take their profile out
    // from under it, nor move it to another; owners and admins do.
    let looser = create_policy(&app, &owner, json!({"name": "Looser"})).await;
    for target in [json!(null), json!(looser)] {
        let escape = app.patch_json(&profile_path, &developer, &json!({"policy_id": target})).await;
        assert_api_error(escape, StatusCode::FORBIDDEN).await;
    }
    let got: Value = app.get(&profile_path, &owner).await.json().await.unwrap();
    assert_eq!(got["access_profile"]["policy_id"], policy_id.as_str(), "unchanged");
    let same = app.patch_json(&profile_path, &developer, &json!({"policy_id": policy_id, "name": "renamed"})).await;
    assert_eq!(same.status(), StatusCode::OK, "naming its own policy again moves nothing");
    let (free_path, _) = profile_under(&app, &developer, None, json!({})).await;
    let narrowed = app.patch_json(&free_path, &developer, &json!({"policy_id": policy_id})).await;
    assert_eq!(narrowed.status(), StatusCode::OK, "putting a profile under a policy only narrows it");
    assert_eq!(app.patch_json(&free_path, &owner, &json!({"policy_id": looser})).await.status(), StatusCode::OK);
    // A policy with profiles under it stays.
    assert_api_error(app.delete(&path, &owner).await, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn a_profile_goes_only_under_a_policy_of_its_clients_account() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let child = app.create_child_account(&owner, "Subsidiary").await;
    let theirs = create_policy(&app, &owner, json!({"name": "Child's", "account_id": child})).await;
    let (client, _) = app.create_client(&owner, json!({})).await;
    let path = format!("/v1/clients/{}/access-profiles", client.client_id);
    for policy_id in [theirs.as_str(), "pol_nothing"] {
        let body = json!({"name": "p", "auth_method": "api_key", "policy_id": policy_id});
        let refused = assert_api_error(app.post_json(&path, &owner, &body).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(refused["info"], "policy_id", "{refused}");
    }
}

/// The stricter of the profile's own limits and its policy's: both address lists must allow the
/// caller, and the lower rate and burst count. A change to the policy holds at the next check.
#[tokio::test]
async fn a_profile_is_held_to_the_stricter_of_its_limits_and_its_policys() {
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let owner = app.owner_session().await;
    let policy_id = create_policy(
        &app,
        &owner,
        json!({"name": "Partners", "rate_limit": {"requests_per_second": 1, "burst": 2}, "allowed_ips": ["10.0.0.0/8"]}),
    )
    .await;
    let own = json!({"rate_limit": {"requests_per_second": 100, "burst": 100}, "allowed_ips": ["10.1.0.0/16"]});
    let (profile_path, key) = profile_under(&app, &owner, Some(&policy_id), own).await;

    // Addresses: the profile's list allows 10.1/16, the policy's 10/8; only both count.
    assert_eq!(check(&app, &key, "10.2.0.1").await, StatusCode::FORBIDDEN, "the profile's own list refuses");
    assert_eq!(check(&app, &key, "192.0.2.1").await, StatusCode::FORBIDDEN, "both refuse");
    // The policy's burst of 2 is the stricter: two pass, the third waits.
    assert_eq!(check(&app, &key, "10.1.0.1").await, StatusCode::OK);
    assert_eq!(check(&app, &key, "10.1.0.1").await, StatusCode::OK);
    assert_eq!(check(&app, &key, "10.1.0.1").await, StatusCode::TOO_MANY_REQUESTS);

    // Narrowed to another network, the policy refuses the caller at the next check.
    let policy_path = format!("/v1/policies/{policy_id}");
    let narrowed =
        app.patch_json(&policy_path, &owner, &json!({"allowed_ips": ["172.16.0.0/12"], "rate_limit": null})).await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    assert_eq!(check(&app, &key, "10.1.0.1").await, StatusCode::FORBIDDEN);
    // Out from under the policy, the profile's own limits alone hold.
    let freed = app.patch_json(&profile_path, &owner, &json!({"policy_id": null})).await;
    assert_eq!(freed.status(), StatusCode::OK);
    let freed: Value = freed.json().await.unwrap();
    assert_eq!(freed["access_profile"]["policy_id"], Value::Null);
    assert_eq!(check(&app, &key, "10.1.0.1").await, StatusCode::OK);
    assert_eq!(app.delete(&policy_path, &owner).await.status(), StatusCode::NO_CONTENT, "no profile is under it now");
}

/// A client-secret profile under a policy mints tokens only from an address the policy allows.
#[tokio::test]
async fn the_token_endpoint_holds_a_profile_to_its_policys_addresses() {
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let owner = app.owner_session().await;
    let policy_id = create_policy(&app, &owner, json!({"name": "Office", "allowed_ips": ["10.0.0.0/8"]})).await;
    let (client, _) = app.create_client(&owner, json!({})).await;
    let body = json!({"name": "p", "auth_method": "client_secret", "products": ["SuperSIM"], "policy_id": policy_id});
    let created = app.post_json(&format!("/v1/clients/{}/access-profiles", client.client_id), &owner, &body).await;
    let created: Value = created.json().await.unwrap();
    let (id, secret) = (
        created["credential"]["client_id"].as_str().unwrap().to_owned(),
        created["credential"]["client_secret"].as_str().unwrap().to_owned(),
    );
    let mint = |from: &'static str| {
        let (app, id, secret) = (&app, id.clone(), secret.clone());
        async move {
            app.http
                .post(app.url("/api-services/v1/auth/token"))
                .basic_auth(id, Some(secret))
                .header("x-forwarded-for", from)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(mint("10.0.0.7").await, StatusCode::OK);
    assert_eq!(mint("192.0.2.7").await, StatusCode::UNAUTHORIZED);
}

/// On PostgreSQL, a change to a policy made through one instance holds at another within a
/// second: it reaches every cached profile under it as a change to that profile.
#[tokio::test]
async fn a_policy_change_reaches_every_instance() {
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let other = if on_postgres {
        Some(app.spawn_beside(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await)
    } else {
        None
    };
    let elsewhere = other.as_ref().unwrap_or(&app);
    let owner = app.owner_session().await;
    let policy_id = create_policy(&app, &owner, json!({"name": "Partners"})).await;
    let (_, key) = profile_under(&app, &owner, Some(&policy_id), json!({})).await;
    // Cached on the other instance by a first check.
    assert_eq!(check(elsewhere, &key, "10.0.0.1").await, StatusCode::OK);
    let path = format!("/v1/policies/{policy_id}");
    let narrowed = app.patch_json(&path, &owner, &json!({"allowed_ips": ["192.0.2.0/24"]})).await;
    assert_eq!(narrowed.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = check(elsewhere, &key, "10.0.0.1").await;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(Instant::now() < deadline, "the other instance still answers {status} after a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A quota counts a profile's allowed checks in calendar periods (UTC): over it, 429 with
/// `Retry-After` to the period's end; the next period starts afresh.
#[tokio::test]
async fn a_quota_runs_out_and_resets_with_its_period() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let body = json!({"name": "Trial", "quota": {"requests": 3, "period": "minute"}});
    let policy_id = create_policy(&app, &owner, body).await;
    let got: Value = app.get(&format!("/v1/policies/{policy_id}"), &owner).await.json().await.unwrap();
    assert_eq!(got["policy"]["quota"], json!({"requests": 3, "period": "minute"}));
    let (_, key) = profile_under(&app, &owner, Some(&policy_id), json!({})).await;
    let (_, other_key) = profile_under(&app, &owner, Some(&policy_id), json!({})).await;

    for _ in 0..3 {
        assert_eq!(check(&app, &key, "10.0.0.1").await, StatusCode::OK);
    }
    let over = app.http.get(app.url("/v1/auth/products/SuperSIM/check")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = over.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "to the minute's end: {retry_after}");
    // Each profile under the policy has a quota of its own.
    assert_eq!(check(&app, &other_key, "10.0.0.1").await, StatusCode::OK);

    app.clock.advance(i64::try_from(retry_after).unwrap());
    assert_eq!(check(&app, &key, "10.0.0.1").await, StatusCode::OK, "a new period");

    // Bad quotas are refused.
    for quota in
        [json!({"requests": 0, "period": "day"}), json!({"requests": 5, "period": "week"}), json!({"requests": 5})]
    {
        let refused = app.post_json("/v1/policies", &owner, &json!({"name": "bad", "quota": quota})).await;
        assert_api_error(refused, StatusCode::BAD_REQUEST).await;
    }
}

/// Quota counts are shared: checks through two instances on PostgreSQL, and through two sharing
/// Redis, add up to one count.
#[tokio::test]
async fn a_quota_holds_across_instances() {
    let redis_url = std::env::var("GATEHOUSE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    for redis in [None, Some(redis_url)] {
        let app = TestApp::spawn_with(|config| config.redis_url = redis.clone()).await;
        let other =
            if on_postgres { Some(app.spawn_beside(|config| config.redis_url = redis.clone()).await) } else { None };
        let elsewhere = other.as_ref().unwrap_or(&app);
        let owner = app.owner_session().await;
        let body = json!({"name": "Trial", "quota": {"requests": 4, "period": "day"}});
        let policy_id = create_policy(&app, &owner, body).await;
        let (_, key) = profile_under(&app, &owner, Some(&policy_id), json!({})).await;
        for instance in [&app, elsewhere, &app, elsewhere] {
            assert_eq!(check(instance, &key, "10.0.0.1").await, StatusCode::OK);
        }
        assert_eq!(check(&app, &key, "10.0.0.1").await, StatusCode::TOO_MANY_REQUESTS, "redis: {redis:?}");
        assert_eq!(check(elsewhere, &key, "10.0.0.1").await, StatusCode::TOO_MANY_REQUESTS, "redis: {redis:?}");
    }
}
