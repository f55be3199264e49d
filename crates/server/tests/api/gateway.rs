//! The forward-auth check (README.md, "Guarding your APIs: the gateway check"), answered from
//! memory.

use gatehouse_server::http::client_address::TrustedProxies;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::test_app::{Credentials, TestApp, assert_api_error};

/// The plain check: the product follows from the original path.
const CHECK: &str = "/v1/auth/check";
/// The check for a gateway route that names its product.
const SUPERSIM: &str = "/v1/auth/products/SuperSIM/check";
const WIRELESS: &str = "/v1/auth/products/ProgrammableWireless/check";

async fn check(app: &TestApp, token: &str, route: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.http.get(app.url(route)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn status(app: &TestApp, token: &str) -> StatusCode {
    check(app, token, SUPERSIM, &[]).await.status()
}

async fn supersim_client(app: &TestApp, extra: serde_json::Value) -> (Credentials, String) {
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, extra).await;
    let token = app.token(&client).await;
    (client, token)
}

#[tokio::test]
async fn a_token_for_the_product_passes_with_identity_headers() {
    let app = TestApp::spawn().await;
    let (client, token) = supersim_client(&app, json!({})).await;
    let response = check(&app, &token, SUPERSIM, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    assert_eq!(headers["x-gatehouse-client-id"], client.client_id.as_str());
    assert_eq!(headers["x-gatehouse-account-id"], app.account_id.as_str());
    assert_eq!(headers["x-gatehouse-scopes"], "SuperSIM");
    assert_eq!(headers["x-gatehouse-product"], "SuperSIM");
    // Always sent, empty without a profile, so a gateway replaces the caller's own copy.
    assert_eq!(headers["x-gatehouse-profile-id"], "");

    // The product from the original path (nginx X-Original-URI, Traefik X-Forwarded-Uri) and from
    // Envoy's appended path.
    let by_path = check(&app, &token, CHECK, &[("x-original-uri", "/supersim/v1/Sims?page=2")]).await;
    assert_eq!(by_path.status(), StatusCode::OK);
    let by_traefik = check(&app, &token, CHECK, &[("x-forwarded-uri", "/supersim/v1/Fleets")]).await;
    assert_eq!(by_traefik.status(), StatusCode::OK);
    let envoy = app.http.post(app.url("/v1/auth/check/supersim/v1/Sims")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(envoy.status(), StatusCode::OK);
}

#[tokio::test]
async fn other_products_unknown_paths_and_bad_credentials_are_refused() {
    let app = TestApp::spawn().await;
    let (_, token) = supersim_client(&app, json!({})).await;
    assert_api_error(check(&app, &token, WIRELESS, &[]).await, StatusCode::FORBIDDEN).await;
    let other_path = check(&app, &token, CHECK, &[("x-original-uri", "/wireless/v1/Commands")]).await;
    assert_api_error(other_path, StatusCode::FORBIDDEN).await;
    assert_api_error(check(&app, &token, CHECK, &[("x-original-uri", "/nowhere")]).await, StatusCode::FORBIDDEN).await;
    // The path is judged as the upstream will resolve it.
    for sneaky in [
        "/supersim/../wireless/x",
        "/supersim/%2e%2e/wireless/x",
        "/supersim/%2E%2E/%2E%2E/wireless",
        "/%2e%2e/supersim/x",
    ] {
        let response = check(&app, &token, CHECK, &[("x-original-uri", sneaky)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{sneaky}");
    }
    // Dot segments are refused even where every resolver would land in the token's product:
    // which resolver is in front cannot be known, so no path that needs one is guessed at.
    let dotted = check(&app, &token, CHECK, &[("x-original-uri", "/wireless/../supersim/./v1")]).await;
    assert_eq!(dotted.status(), StatusCode::FORBIDDEN);
    assert_api_error(check(&app, &token, CHECK, &[]).await, StatusCode::FORBIDDEN).await;

    let none = app.http.get(app.url(SUPERSIM)).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], r#"Bearer realm="gatehouse", error="invalid_token""#);
    assert_api_error(none, StatusCode::UNAUTHORIZED).await;
    for bad in ["garbage", "a.b.c", &format!("{token}x")] {
        assert_eq!(status(&app, bad).await, StatusCode::UNAUTHORIZED);
    }
    app.clock.advance(3600 + 6);
    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED, "expired");
}

/// Sends `target` as the request line as it is: an HTTP client library would resolve its dot
/// segments before sending, as Envoy's own normalisation might not.
async fn raw_check_status(app: &TestApp, target: &str, token: &str) -> u16 {
    let address = app.base_url.trim_start_matches("http://");
    crate::processes::raw_exchange(address, target, vec![("Authorization", format!("Bearer {token}"))]).await.0
}

/// Nothing the end user controls widens what a token may call: the check is what stands between
/// a token and every product it was not granted. Each numbered case below was a way past it,
/// reproduced against the check before this test existed, with a token for SuperSIM only.
#[tokio::test]
async fn nothing_the_end_user_sends_chooses_the_product() {
    let app = TestApp::spawn().await;
    let (_, token) = supersim_client(&app, json!({})).await;

    // 1. Envoy appends the end user's path and query: the query is the end user's, never read.
    assert_eq!(raw_check_status(&app, "/v1/auth/check/wireless/sims?product=SuperSIM", &token).await, 403);
    assert_eq!(raw_check_status(&app, "/v1/auth/check/supersim/sims?product=ProgrammableWireless", &token).await, 200);
    // Caddy passes the end user's query to `/v1/auth/check` too.
    let by_query = check(&app, &token, "/v1/auth/check?product=SuperSIM", &[("x-forwarded-uri", "/wireless/x")]).await;
    assert_api_error(by_query, StatusCode::FORBIDDEN).await;
    let query_only = check(&app, &token, "/v1/auth/check?product=SuperSIM", &[]).await;
    assert_api_error(query_only, StatusCode::FORBIDDEN).await;

    // 2. Caddy and Traefik set X-Forwarded-Uri and copy the caller's X-Original-URI (nginx the
    // other way round): when the two disagree, neither is chosen.
    for (original, forwarded) in
        [("/supersim/v1/Sims", "/wireless/v1/Sims"), ("/wireless/v1/Sims", "/supersim/v1/Sims")]
    {
        let headers = [("x-original-uri", original), ("x-forwarded-uri", forwarded)];
        let body = assert_api_error(check(&app, &token, CHECK, &headers).await, StatusCode::FORBIDDEN).await;
        assert_eq!(body["message"], "the original-path headers disagree");
        let named = check(&app, &token, SUPERSIM, &headers).await;
        assert_eq!(named.status(), StatusCode::FORBIDDEN, "a named product does not make a conflict harmless");
    }
    let twice = app
        .http
        .get(app.url(CHECK))
        .bearer_auth(&token)
        .header("x-forwarded-uri", "/supersim/a")
        .header("x-forwarded-uri", "/wireless/a")
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::FORBIDDEN);
    let envoy_and_header = check(&app, &token, "/v1/auth/check/supersim/a", &[("x-original-uri", "/wireless/a")]).await;
    assert_eq!(envoy_and_header.status(), StatusCode::FORBIDDEN);
    // Agreeing headers (their queries may differ) are one path.
    let agreeing = [("x-original-uri", "/supersim/v1/Sims?a=1"), ("x-forwarded-uri", "/supersim/v1/Sims?b=2")];
    assert_eq!(check(&app, &token, CHECK, &agreeing).await.status(), StatusCode::OK);

    // 3. Paths that nginx (merging `//`) and the upstream (keeping it) resolve differently.
    for sneaky in ["/supersim//../wireless/x", "/supersim/.//../wireless/x", "/supersim/..;/wireless/x"] {
        for route in [CHECK, SUPERSIM] {
            let response = check(&app, &token, route, &[("x-original-uri", sneaky)]).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{route} {sneaky}");
        }
        let envoy = format!("/v1/auth/check{sneaky}");
        assert_eq!(raw_check_status(&app, &envoy, &token).await, 403, "{envoy}");
    }
    // The Envoy route decoded twice: `%252e%252e` became `..`.
    assert_eq!(raw_check_status(&app, "/v1/auth/check/wireless/%252e%252e/supersim/x", &token).await, 403);
    assert_eq!(raw_check_status(&app, "/v1/auth/check/wireless/%2e%2e/supersim/x", &token).await, 403);
    // Envoy's path appended to a named check is held to the same rules.
    assert_eq!(raw_check_status(&app, "/v1/auth/products/SuperSIM/check/supersim//../wireless/x", &token).await, 403);
    assert_eq!(raw_check_status(&app, "/v1/auth/products/SuperSIM/check/supersim/x", &token).await, 200);
    // What the router decodes is not what the check resolves: the product segment only.
    assert_eq!(raw_check_status(&app, "/v1/auth/products/Super%53IM/check", &token).await, 200);
    assert_eq!(
        raw_check_status(&app, "/v1/auth/products/ProgrammableWireless/check/x/../../SuperSIM/check", &token).await,
        403
    );
}

/// A path that routers ignoring letter case (Express, ASP.NET Core) or a `.json` suffix (Rails)
/// would send to a nested product is refused, not decided by exact match alone.
#[tokio::test]
async fn paths_that_case_or_format_insensitive_routers_read_as_another_product_are_refused() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let nested = json!({"name": "WirelessAdmin", "path_prefixes": ["/wireless/admin"]});
    assert_eq!(app.post_json("/v1/products", &owner, &nested).await.status(), StatusCode::CREATED);
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({"scopes": {"products": ["ProgrammableWireless"]}})).await;
    let token = app.token(&client).await;
    for (path, status) in [
        ("/wireless/v1/Commands", StatusCode::OK),
        ("/wireless/v1/Commands.json", StatusCode::OK),
        ("/wireless/admin/users", StatusCode::FORBIDDEN),
        ("/wireless/ADMIN/users", StatusCode::FORBIDDEN),
        ("/wireless/Admin", StatusCode::FORBIDDEN),
        ("/wireless/admin.json", StatusCode::FORBIDDEN),
    ] {
        let response = check(&app, &token, CHECK, &[("x-original-uri", path)]).await;
        assert_eq!(response.status(), status, "{path}");
    }
}

/// Disable, enable, renew, revoke and delete are honoured on the very next check.
#[tokio::test]
async fn state_changes_reach_the_very_next_check() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (client, token) = supersim_client(&app, json!({})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    assert_eq!(status(&app, &token).await, StatusCode::OK);

    app.patch_json(&path, &admin, &json!({"enabled": false})).await;
    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);
    app.patch_json(&path, &admin, &json!({"enabled": true})).await;
    assert_eq!(status(&app, &token).await, StatusCode::OK);

    // Rule 6: a scope edit does not change what an existing token may call.
    app.patch_json(&path, &admin, &json!({"scopes": {"products": ["ProgrammableWireless"]}})).await;
    assert_eq!(status(&app, &token).await, StatusCode::OK);

    let second = app.token(&client).await;
    app.oauth_post("/api-services/v1/auth/revoke", &client, &[("token", second.as_str())]).await;
    assert_eq!(check(&app, &second, WIRELESS, &[]).await.status(), StatusCode::UNAUTHORIZED);

    app.post_json(&format!("{path}/renew-key"), &admin, &json!({})).await;
    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);

    let (other, other_token) = supersim_client(&app, json!({})).await;
    assert_eq!(status(&app, &other_token).await, StatusCode::OK);
    app.delete(&format!("/v1/clients/{}", other.client_id), &admin).await;
    assert_eq!(status(&app, &other_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_token_evicted_by_the_live_token_cap_is_refused() {
    let app = TestApp::spawn().await;
    let (client, first) = supersim_client(&app, json!({})).await;
    assert_eq!(status(&app, &first).await, StatusCode::OK);
    for _ in 0..10 {
        app.clock.advance(1);
        app.token(&client).await;
    }
    assert_eq!(status(&app, &first).await, StatusCode::UNAUTHORIZED);
}

/// A token minted from loopback, whose client is then restricted to 198.51.100.0/24.
async fn token_then_restrict(app: &TestApp) -> String {
    let (client, token) = supersim_client(app, json!({})).await;
    let admin = app.admin_token().await;
    let path = format!("/v1/clients/{}", client.client_id);
    let response = app.patch_json(&path, &admin, &json!({"allowed_ips": ["198.51.100.0/24"]})).await;
    assert_eq!(response.status(), StatusCode::OK);
    token
}

#[tokio::test]
async fn allowed_ips_use_forwarded_addresses_only_from_trusted_proxies() {
    let app = TestApp::spawn_with(|config| config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
    let token = token_then_restrict(&app).await;
    assert_api_error(check(&app, &token, SUPERSIM, &[]).await, StatusCode::FORBIDDEN).await;
    let forwarded = check(&app, &token, SUPERSIM, &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(forwarded.status(), StatusCode::OK);
    // A client-supplied first hop does not help: the right-most untrusted address counts.
    let spoofed = check(&app, &token, SUPERSIM, &[("x-forwarded-for", "198.51.100.7, 203.0.113.1")]).await;
    assert_eq!(spoofed.status(), StatusCode::FORBIDDEN);
    let real_ip = check(&app, &token, SUPERSIM, &[("x-real-ip", "198.51.100.8")]).await;
    assert_eq!(real_ip.status(), StatusCode::OK);
    // An entry with a port is the caller; it is not skipped in favour of the allowed address
    // the caller wrote to its left.
    let ported = [("x-forwarded-for", "198.51.100.7, 203.0.113.9:41234")];
    assert_eq!(check(&app, &token, SUPERSIM, &ported).await.status(), StatusCode::FORBIDDEN);
    let with_port = [("x-forwarded-for", "203.0.113.9, 198.51.100.7:41234")];
    assert_eq!(check(&app, &token, SUPERSIM, &with_port).await.status(), StatusCode::OK);
    let v6 = [("x-forwarded-for", "198.51.100.7, [2001:db8::7]:443")];
    assert_eq!(check(&app, &token, SUPERSIM, &v6).await.status(), StatusCode::FORBIDDEN);
    // An entry that does not parse ends the walk at the proxy, never the claim left of it.
    let unreadable = [("x-forwarded-for", "198.51.100.7, unknown")];
    assert_eq!(check(&app, &token, SUPERSIM, &unreadable).await.status(), StatusCode::FORBIDDEN);

    // Without trusted proxies the headers are ignored.
    let plain = TestApp::spawn().await;
    let token = token_then_restrict(&plain).await;
    let spoof = check(&plain, &token, SUPERSIM, &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(spoof.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn over_the_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let (_, token) = supersim_client(&app, json!({"rate_limit": {"requests_per_second": 1, "burst": 3}})).await;
    for _ in 0..3 {
        assert_eq!(status(&app, &token).await, StatusCode::OK);
    }
    let limited = check(&app, &token, SUPERSIM, &[]).await;
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_api_error(limited, StatusCode::TOO_MANY_REQUESTS).await;
    app.clock.advance(1);
    assert_eq!(status(&app, &token).await, StatusCode::OK);
    assert_eq!(status(&app, &token).await, StatusCode::TOO_MANY_REQUESTS);

    // Clients without a limit are not limited.
    let (_, free) = supersim_client(&app, json!({})).await;
    for _ in 0..20 {
        assert_eq!(status(&app, &free).await, StatusCode::OK);
    }
}

/// The hot path touches no database: with the store closed, warm tokens still pass, and only
/// what was never seen needs the store. A store shared by several instances (PostgreSQL) also
/// loses its change feed when closed; the instance then cannot know what others change, so it
/// forgets what it cached and fails closed (503) rather than serve state that may be stale.
#[tokio::test]
async fn warm_checks_answer_with_the_store_gone() {
    let app = TestApp::spawn().await;
    let (_, token) = supersim_client(&app, json!({"rate_limit": {"requests_per_second": 100, "burst": 100}})).await;
    let (_, cold) = supersim_client(&app, json!({})).await;
    assert_eq!(status(&app, &token).await, StatusCode::OK);
    assert_eq!(check(&app, &token, CHECK, &[("x-original-uri", "/supersim/x")]).await.status(), StatusCode::OK);

    let shared_store = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    app.gatehouse.store().close().await;
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    if shared_store {
        // The feed's end reaches the instance asynchronously.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while status(&app, &token).await != StatusCode::SERVICE_UNAVAILABLE {
            assert!(std::time::Instant::now() < deadline, "a closed shared store went unnoticed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        return;
    }
    for _ in 0..10 {
        assert_eq!(status(&app, &token).await, StatusCode::OK);
        assert_eq!(check(&app, &token, CHECK, &[("x-original-uri", "/supersim/x")]).await.status(), StatusCode::OK);
    }
    assert_eq!(status(&app, &cold).await, StatusCode::SERVICE_UNAVAILABLE);
}

/// The product catalogue: a fresh account holds SuperSIM and ProgrammableWireless; new products
/// and path prefixes reach the gateway check at once.
#[tokio::test]
async fn the_catalogue_drives_scopes_and_path_mapping() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let listed: serde_json::Value = app.get("/v1/products", &owner).await.json().await.unwrap();
    let names: Vec<&str> = listed["products"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ProgrammableWireless", "SuperSIM"]);

    let body = json!({"name": "Billing", "description": "Invoices", "path_prefixes": ["/billing/"]});
    let response = app.post_json("/v1/products", &owner, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_api_error(app.post_json("/v1/products", &owner, &body).await, StatusCode::CONFLICT).await;
    for bad in [
        json!({"name": "api_clients"}),
        json!({"name": "9lives"}),
        json!({"name": "has space"}),
        json!({"name": "Ok", "path_prefixes": ["no-slash"]}),
    ] {
        assert_api_error(app.post_json("/v1/products", &owner, &bad).await, StatusCode::BAD_REQUEST).await;
    }
    let (_, developer) = app.create_user(&owner, "dev@example.com", "developer").await;
    let response = app.post_json("/v1/products", &developer, &json!({"name": "Mine"})).await;
    assert_api_error(response, StatusCode::FORBIDDEN).await;

    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({"scopes": {"products": ["Billing"]}})).await;
    let token = app.token(&client).await;
    let by_path = check(&app, &token, CHECK, &[("x-original-uri", "/billing/invoices/7")]).await;
    assert_eq!(by_path.headers()["x-gatehouse-product"], "Billing");

    // A new prefix is honoured by the next check; an in-use product cannot be deleted.
    let patch = json!({"path_prefixes": ["/billing/", "/invoices/"]});
    assert_eq!(app.patch_json("/v1/products/Billing", &owner, &patch).await.status(), StatusCode::OK);
    assert_eq!(check(&app, &token, CHECK, &[("x-original-uri", "/invoices/7")]).await.status(), StatusCode::OK);
    assert_api_error(app.delete("/v1/products/Billing", &owner).await, StatusCode::CONFLICT).await;
    app.delete(&format!("/v1/clients/{}", client.client_id), &admin).await;
    assert_eq!(app.delete("/v1/products/Billing", &owner).await.status(), StatusCode::NO_CONTENT);
    assert_api_error(app.get("/v1/products/Billing", &owner).await, StatusCode::NOT_FOUND).await;
}

/// With `--redis`, every instance counts against the same limit.
#[tokio::test]
async fn redis_shares_rate_limits_between_instances() {
    let redis_url = std::env::var("GATEHOUSE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    // Instances behind one load balancer share the public issuer.
    let one = TestApp::spawn_with(|config| {
        config.redis_url = Some(redis_url.clone());
        config.issuer = Some("http://gatehouse.test".to_owned());
    })
    .await;
    let two = one.spawn_beside(|_| {}).await;
    let (_, token) = supersim_client(&one, json!({"rate_limit": {"requests_per_second": 1, "burst": 3}})).await;
    assert_eq!(status(&one, &token).await, StatusCode::OK);
    assert_eq!(status(&two, &token).await, StatusCode::OK);
    assert_eq!(status(&one, &token).await, StatusCode::OK);
    let limited = check(&two, &token, SUPERSIM, &[]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS, "the fourth request, on either instance");
    assert!(limited.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(status(&one, &token).await, StatusCode::TOO_MANY_REQUESTS);
    // Real time passes for Redis: one request per second comes back.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(status(&two, &token).await, StatusCode::OK);
}

/// An owner or admin manages a child account's catalogue as they manage its clients: by naming
/// it (`?account_id=`); another tenant's catalogue is not found.
#[tokio::test]
async fn a_parent_manages_a_child_accounts_catalogue_by_naming_it() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let child = app.create_child_account(&owner, "Child").await;
    let body = json!({"name": "Voice", "path_prefixes": ["/voice"], "account_id": child});
    assert_eq!(app.post_json("/v1/products", &owner, &body).await.status(), StatusCode::CREATED);
    let in_child = format!("/v1/products/Voice?account_id={child}");
    assert_eq!(app.get("/v1/products/Voice", &owner).await.status(), StatusCode::NOT_FOUND, "not the root's");
    assert_eq!(app.get(&in_child, &owner).await.status(), StatusCode::OK);
    let patched = app.patch_json(&in_child, &owner, &json!({"path_prefixes": ["/voice/v2"]})).await;
    assert_eq!(patched.status(), StatusCode::OK);
    let product: serde_json::Value = app.get(&in_child, &owner).await.json().await.unwrap();
    assert_eq!(product["product"]["path_prefixes"], json!(["/voice/v2"]));

    let stranger = app.add_account("stranger@example.com").await;
    let theirs = format!("/v1/products/SuperSIM?account_id={}", stranger.account_id);
    assert_eq!(app.get(&theirs, &owner).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.patch_json(&theirs, &owner, &json!({"description": "x"})).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&theirs, &owner).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&in_child, &owner).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(&in_child, &owner).await.status(), StatusCode::NOT_FOUND);
}
