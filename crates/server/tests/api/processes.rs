//! Helpers for the tests that run real processes (the `gatehouse` binary, nginx, PostgreSQL).

use std::path::Path;
use std::process::{Child, Command, Stdio};
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
    // Through `crate::http()`: `reqwest::get` builds a client before any test has installed the
    // TLS provider, and panics when this is the process's first client (a test run alone).
    let http = crate::http().build().unwrap();
    while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
        assert!(Instant::now() < deadline, "{base} did not come up: {}", describe());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET url` with a bearer token; the JSON body.
pub async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// Debian's nginx, run in the foreground from `config` (written into `dir`, which is also its
/// prefix) until dropped; started once it accepts connections on `listen`.
pub struct Nginx {
    child: Child,
}

impl Nginx {
    pub async fn start(dir: &Path, config: &str, listen: &str) -> Nginx {
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .expect("nginx is not installed: scripts/test installs Debian's nginx-light");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
