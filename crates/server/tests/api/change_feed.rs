//! Every write that changes what the gateway check, the token endpoint or the JWKS answers is
//! followed at once by the instance that made it and, on PostgreSQL, within a second by another
//! instance on the same database, whatever they held in memory. A write that forgot to report
//! its change fails here. With SQLite there is one instance, and only the first half applies.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_app::{Credentials, TestApp};

const SUPERSIM: &str = "/v1/auth/products/SuperSIM/check";

/// What `token` gets at the check of `app`, through `route` (with the original path `uri`, as
/// nginx sends it, when given).
async fn check(app: &TestApp, token: &str, route: &str, uri: Option<&str>) -> StatusCode {
    let mut request = app.http.get(app.url(route)).bearer_auth(token);
    if let Some(uri) = uri {
        request = request.header("x-original-uri", uri);
    }
    request.send().await.unwrap().status()
}

/// The instance that made a change answers `expected` at once; the other within a second.
async fn followed(
    here: &TestApp,
    there: Option<&TestApp>,
    token: &str,
    route: &str,
    uri: Option<&str>,
    expected: StatusCode,
) {
    assert_eq!(check(here, token, route, uri).await, expected, "the instance that made the change");
    let Some(there) = there else { return };
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let status = check(there, token, route, uri).await;
        if status == expected {
            return;
        }
        assert!(Instant::now() < deadline, "the other instance still answers {status}, not {expected}, after a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both instances hold `token` in memory, answering `expected`.
async fn warm(a: &TestApp, b: Option<&TestApp>, token: &str, route: &str, expected: StatusCode) {
    for app in std::iter::once(a).chain(b) {
        assert_eq!(check(app, token, route, None).await, expected, "warm");
    }
}

#[tokio::test]
async fn every_write_is_followed_here_at_once_and_elsewhere_within_a_second() {
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    // One public URL for both, as behind a load balancer: a token from one is good at the other.
    let a = TestApp::spawn_with(|config| config.issuer = Some("http://gatehouse.test".to_owned())).await;
    let other = if on_postgres { Some(a.spawn_beside(|_| {}).await) } else { None };
    let b = other.as_ref();
    let owner = a.owner_session().await;
    let ok = StatusCode::OK;
    let (refused, forbidden) = (StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN);

    // Clients: scopes, disable and enable, renewal, revocation, the live-token cap, deletion.
    let (client, _) = a.create_client(&owner, json!({"name": "followed"})).await;
    let path = format!("/v1/clients/{}", client.client_id);
    let token = a.token(&client).await;
    warm(&a, b, &token, SUPERSIM, ok).await;
    let patch = |body: Value| {
        let (a, owner, path) = (&a, &owner, &path);
        async move { assert_eq!(a.patch_json(path, owner, &body).await.status(), StatusCode::OK, "{body}") }
    };
    // A token's scopes are fixed when it is minted; the addresses it may call from are not.
    patch(json!({"allowed_ips": ["192.0.2.0/24"]})).await;
    followed(&a, b, &token, SUPERSIM, None, forbidden).await;
    patch(json!({"allowed_ips": []})).await;
    followed(&a, b, &token, SUPERSIM, None, ok).await;
    patch(json!({"enabled": false})).await;
    followed(&a, b, &token, SUPERSIM, None, refused).await;
    patch(json!({"enabled": true})).await;
    followed(&a, b, &token, SUPERSIM, None, ok).await;
    let renewed: Value = a.post_json(&format!("{path}/renew-key"), &owner, &json!({})).await.json().await.unwrap();
    followed(&a, b, &token, SUPERSIM, None, refused).await;
    let client = Credentials { client_secret: renewed["client_secret"].as_str().unwrap().to_owned(), ..client };
    let first = a.token(&client).await;
    warm(&a, b, &first, SUPERSIM, ok).await;
    let second = a.token(&client).await;
    warm(&a, b, &second, SUPERSIM, ok).await;
    let revoked = a.oauth_post("/api-services/v1/auth/revoke", &client, &[("token", second.as_str())]).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    followed(&a, b, &second, SUPERSIM, None, refused).await;
    // Ten live tokens at most: the eleventh evicts the oldest live one, `first`.
    for _ in 0..10 {
        a.token(&client).await;
    }
    followed(&a, b, &first, SUPERSIM, None, refused).await;
    let last = a.token(&client).await;
    warm(&a, b, &last, SUPERSIM, ok).await;
    assert_eq!(a.delete(&path, &owner).await.status(), StatusCode::NO_CONTENT);
    followed(&a, b, &last, SUPERSIM, None, refused).await;

    // Access profiles: active, products, refresh, deletion.
    let scopes = json!({"products": ["SuperSIM", "ProgrammableWireless"]});
    let (client, _) = a.create_client(&owner, json!({"name": "profiled", "scopes": scopes})).await;
    let profiles = format!("/v1/clients/{}/access-profiles", client.client_id);
    let body = json!({"name": "p", "products": ["SuperSIM"], "auth_method": "api_key"});
    let profile: Value = a.post_json(&profiles, &owner, &body).await.json().await.unwrap();
    let profile_path = format!("{profiles}/{}", profile["access_profile"]["profile_id"].as_str().unwrap());
    let key = profile["credential"]["api_key"].as_str().unwrap().to_owned();
    warm(&a, b, &key, SUPERSIM, ok).await;
    for (body, expected) in [
        (json!({"active": false}), refused),
        (json!({"active": true}), ok),
        (json!({"products": ["ProgrammableWireless"]}), forbidden),
        (json!({"products": ["SuperSIM"]}), ok),
    ] {
        assert_eq!(a.patch_json(&profile_path, &owner, &body).await.status(), StatusCode::OK, "{body}");
        followed(&a, b, &key, SUPERSIM, None, expected).await;
    }
    let refreshed: Value =
        a.post_json(&format!("{profile_path}/refresh"), &owner, &json!({})).await.json().await.unwrap();
    followed(&a, b, &key, SUPERSIM, None, refused).await;
    let key = refreshed["credential"]["api_key"].as_str().unwrap().to_owned();
    warm(&a, b, &key, SUPERSIM, ok).await;
    assert_eq!(a.delete(&profile_path, &owner).await.status(), StatusCode::NO_CONTENT);
    followed(&a, b, &key, SUPERSIM, None, refused).await;

    // The product catalogue: a path prefix added to a product is how the check, given only
    // the original path, finds the product.
    let token = a.token(&client).await;
    let by_path = Some("/sims-v2/Sims");
    for app in std::iter::once(&a).chain(b) {
        assert_ne!(check(app, &token, "/v1/auth/check", by_path).await, ok, "no product has that path yet");
    }
    let body = json!({"path_prefixes": ["/supersim", "/sims-v2"]});
    assert_eq!(a.patch_json("/v1/products/SuperSIM", &owner, &body).await.status(), StatusCode::OK);
    followed(&a, b, &token, "/v1/auth/check", by_path, ok).await;

    // A removed user's admin client arrives disabled, with a secret nobody holds.
    let (user_id, admin) = a.create_user(&owner, "leaving@example.com", "admin").await;
    let body = json!({"name": "theirs", "client_type": "admin", "scopes": {"global_resources": ["api_clients"], "products": ["SuperSIM"]}});
    let (theirs, _) = a.create_client(&admin, body).await;
    let token = a.token(&theirs).await;
    warm(&a, b, &token, SUPERSIM, ok).await;
    assert_eq!(a.delete(&format!("/v1/users/{user_id}"), &owner).await.status(), StatusCode::NO_CONTENT);
    followed(&a, b, &token, SUPERSIM, None, refused).await;

    // Signing keys: a rotation is published by the other instance within a second.
    let rotated = a.gatehouse.rotate_keys(time::OffsetDateTime::now_utc(), time::Duration::hours(1)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    for app in std::iter::once(&a).chain(b) {
        loop {
            let jwks: Value =
                app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
            if jwks.to_string().contains(&rotated.kid) {
                break;
            }
            assert!(Instant::now() < deadline, "{} does not publish the new key after a second", app.url(""));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A token request whose caller gives up while its token is being recorded (the connection
/// drops, and the server drops the request with it) has still evicted the oldest live token
/// under the cap: that token stops working at the check at once, as if the request had been
/// answered. Otherwise a client could keep more live tokens at the gateway than the cap allows.
#[tokio::test]
async fn an_abandoned_token_request_still_ends_the_token_it_evicts() {
    use std::future::Future;
    use std::task::Poll;

    use gatehouse_domain::clock::Clock;
    use gatehouse_domain::ids::{CredentialId, TokenId};
    use gatehouse_domain::oauth::{PresentedCredentials, Proof};
    use gatehouse_domain::secret::ClientSecret;

    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    'attempt: for _ in 0..5 {
        let (client, _) = app.create_client(&owner, json!({"name": "impatient"})).await;
        let oldest = app.token(&client).await;
        warm(&app, None, &oldest, SUPERSIM, StatusCode::OK).await;
        for _ in 0..9 {
            app.token(&client).await;
        }
        let jti = TokenId::from_string(crate::test_app::decode_jwt(&oldest).1["jti"].as_str().unwrap());
        let credentials = PresentedCredentials {
            id: CredentialId::parse(&client.client_id).unwrap(),
            proof: Proof::Secret(ClientSecret::from_presented(client.client_secret.clone())),
        };
        let peer = "127.0.0.1".parse().unwrap();
        let mut mint = std::pin::pin!(app.gatehouse.issue_token(credentials, None, peer, app.clock.now()));
        // Driven one step at a time, and never again once its record (which evicts `oldest`)
        // has committed: from then on nobody is waiting for the answer.
        loop {
            if app.gatehouse.store().token_state(&jti).await.unwrap().is_none() {
                break;
            }
            let step = std::future::poll_fn(|cx| Poll::Ready(mint.as_mut().poll(cx).is_ready())).await;
            if step {
                // Answered between two looks at the store: try again from the start.
                continue 'attempt;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // A later token passes through the same writer, after the abandoned one's batch.
        app.token(&client).await;
        assert_eq!(check(&app, &oldest, SUPERSIM, None).await, StatusCode::UNAUTHORIZED, "the evicted token");
        return;
    }
    panic!("the token request was answered before it could be abandoned, five times");
}
