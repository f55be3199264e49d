//! Helpers for the tests that run real processes (the `gatehouse` binary, nginx, PostgreSQL).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `base`/healthz answers 200; `describe` says what to show if it never does.
pub async fn wait_healthy(base: &str, describe: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == StatusCode::OK) {
        assert!(Instant::now() < deadline, "{base} did not come up: {}", describe());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET url` with a bearer token; the JSON body.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}
