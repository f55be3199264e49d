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

/// Sends `GET target` with `headers` exactly as written (no client library tidies the target),
/// on a connection of its own from 127.0.0.2, so that a gateway on this machine (which reaches
/// Gatehouse from 127.0.0.1, its trusted proxy) and the caller have different addresses; the
/// status and the whole response, headers included.
pub async fn raw_exchange(address: &str, target: &str, headers: Vec<(&str, String)>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut socket = socket.connect(address.parse().unwrap()).await.unwrap();
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok());
    (status.unwrap_or_else(|| panic!("no status line in {response:?}")), response)
}

/// [`raw_exchange`], with the response's body alone.
pub async fn raw_get(address: &str, target: &str, headers: Vec<(&str, String)>) -> (u16, String) {
    let (status, response) = raw_exchange(address, target, headers).await;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_owned();
    (status, body)
}

/// Waits until something accepts connections on `listen`; fails with `log` if that takes
/// longer than ten seconds.
async fn wait_listening(listen: &str, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
        wait_listening(listen, "nginx", &dir.join("error.log")).await;
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its workers: SIGKILL left them running, orphaned,
        // holding their ports after every test.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Caddy, run from `config` (a Caddyfile written into `dir`) until dropped; started once it
/// accepts connections on `listen`.
pub struct Caddy {
    child: Child,
}

impl Caddy {
    pub async fn start(binary: &Path, dir: &Path, config: &str, listen: &str) -> Caddy {
        let file = dir.join("Caddyfile");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
        let child = Command::new(binary)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .env("XDG_CONFIG_HOME", dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let caddy = Caddy { child };
        wait_listening(listen, "Caddy", &dir.join("caddy.log")).await;
        caddy
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
