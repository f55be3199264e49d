//! Usage of access profiles (seed file 002, issue 21 item 5): the gateway check's decisions
//! per UTC day and product, allowed or refused by reason, written in batches, kept across a
//! restart, added up across instances, and shown in the portal.

use reqwest::StatusCode;
use serde_json::{Value, json};

use gatehouse_domain::clock::Clock;

use crate::test_app::TestApp;

/// A client holding SuperSIM and ProgrammableWireless, with an API-key profile for SuperSIM
/// under a policy whose quota is `quota` checks a day; its path and key.
async fn metered_profile(app: &TestApp, token: &str, quota: u64) -> (String, String) {
    let policy = app
        .post_json(
            "/v1/policies",
            token,
            &json!({"name": format!("Q{quota}"), "quota": {"requests": quota, "period": "day"}}),
        )
        .await;
    assert_eq!(policy.status(), StatusCode::CREATED);
    let policy: Value = policy.json().await.unwrap();
    let (client, _) =
        app.create_client(token, json!({"scopes": {"products": ["SuperSIM", "ProgrammableWireless"]}})).await;
    let path = format!("/v1/clients/{}/access-profiles", client.client_id);
    let body = json!({"name": "metered", "auth_method": "api_key", "products": ["SuperSIM"],
                      "policy_id": policy["policy"]["policy_id"]});
    let created: Value = app.post_json(&path, token, &body).await.json().await.unwrap();
    let profile_id = created["access_profile"]["profile_id"].as_str().unwrap();
    (format!("{path}/{profile_id}"), created["credential"]["api_key"].as_str().unwrap().to_owned())
}

async fn check(app: &TestApp, key: &str, product: &str) -> StatusCode {
    let url = app.url(&format!("/v1/auth/products/{product}/check"));
    app.http.get(url).bearer_auth(key).send().await.unwrap().status()
}

async fn usage(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.get(&format!("{path}/usage"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn checks_are_counted_by_day_product_and_outcome_and_survive_a_restart() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (path, key) = metered_profile(&app, &owner, 3).await;
    for _ in 0..3 {
        assert_eq!(check(&app, &key, "SuperSIM").await, StatusCode::OK);
    }
    assert_eq!(check(&app, &key, "SuperSIM").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(check(&app, &key, "ProgrammableWireless").await, StatusCode::FORBIDDEN);
    assert_eq!(check(&app, &key, "Invented").await, StatusCode::FORBIDDEN);
    assert_eq!(usage(&app, &owner, &path).await, json!({"usage": []}), "written in batches, not per check");

    app.gatehouse.write_usage().await.unwrap();
    let today = app.clock.now().date().to_string();
    let expected = json!({"usage": [
        {"date": today, "product": "(other)", "allowed": 0, "denied": {"product": 2}},
        {"date": today, "product": "SuperSIM", "allowed": 3, "denied": {"quota": 1}},
    ]});
    assert_eq!(usage(&app, &owner, &path).await, expected, "names a caller invents are never rows");
    let profile: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert_eq!(profile["access_profile"]["last_used_at"], Value::Null, "uses are written in their own batch");

    // Counted but not yet written when the server stops: written at shutdown.
    assert_eq!(check(&app, &key, "SuperSIM").await, StatusCode::TOO_MANY_REQUESTS);
    let app = app.restart().await;
    let owner = app.admin_token().await;
    let after = usage(&app, &owner, &path).await;
    assert_eq!(after["usage"][1]["denied"], json!({"quota": 2}), "{after}");
    let profile: Value = app.get(&path, &owner).await.json().await.unwrap();
    assert!(profile["access_profile"]["last_used_at"].is_string(), "the profile's last use, too");

    // A span: from and to as UTC days, both included, at most 366 days.
    let yesterday = (app.clock.now().date() - time::Duration::days(1)).to_string();
    let span = app.get(&format!("{path}/usage?from={yesterday}&to={yesterday}"), &owner).await;
    assert_eq!(span.json::<Value>().await.unwrap(), json!({"usage": []}));
    for query in [
        "from=2026-13-01&to=2026-12-31",
        "from=2026-12-02&to=2026-12-01",
        "from=2025-01-01&to=2026-12-31",
        "from=2026-12-01",
    ] {
        let response = app.get(&format!("{path}/usage?{query}"), &owner).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    let other = app.get("/v1/clients/nope/access-profiles/prf_nope/usage", &owner).await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_counts_of_every_instance_add_up() {
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").map_or(true, |url| url.is_empty()) {
        return;
    }
    let app = TestApp::spawn().await;
    let beside = app.spawn_beside(|_| {}).await;
    let owner = app.owner_session().await;
    let (path, key) = metered_profile(&app, &owner, 1000).await;
    for instance in [&app, &beside, &beside] {
        assert_eq!(check(instance, &key, "SuperSIM").await, StatusCode::OK);
    }
    app.gatehouse.write_usage().await.unwrap();
    beside.gatehouse.write_usage().await.unwrap();
    let counted = usage(&beside, &owner, &path).await;
    assert_eq!(counted["usage"][0]["allowed"], 3, "{counted}");
}

#[tokio::test]
async fn the_portal_draws_a_profiles_last_30_days_with_the_numbers_beside() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (path, key) = metered_profile(&app, &owner, 2).await;
    for _ in 0..3 {
        check(&app, &key, "SuperSIM").await;
    }
    app.gatehouse.write_usage().await.unwrap();
    let browser = crate::portal::Browser::signed_in_as_owner(&app).await;
    let page_path = path.replacen("/v1/clients/", "/clients/", 1).replacen("/access-profiles/", "/profiles/", 1);
    let page = browser.page(&format!("{page_path}/usage")).await;
    assert!(page.contains("<svg") && page.contains(r#"role="img""#), "a chart, drawn on the server");
    let figure = &page[page.find("<figure").unwrap()..page.find("</figure>").unwrap()];
    assert!(!figure.contains("<script") && !figure.contains(" on"), "no script in the chart");
    assert!(page.contains("2 allowed and 1 refused in all"), "described for screen readers");
    assert!(page.contains("<td>SuperSIM</td><td>2</td><td>1</td><td>quota: 1</td>"), "the numbers in a table: {page}");
    let client_page = browser.page(page_path.split("/profiles/").next().unwrap()).await;
    assert!(client_page.contains(&format!(r#"href="{page_path}/usage""#)), "linked from the client's page");
}
