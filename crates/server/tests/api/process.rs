//! The real `gatehouse` binary: `init`, `serve`'s bootstrap, `kill -9` durability, and logs that
//! never hold a secret.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::processes::{BIN, free_port, get_json, wait_healthy};

fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("g.db").display())
}

struct Server {
    child: Child,
    base_url: String,
}

impl Server {
    /// Starts `gatehouse serve` and waits for /healthz. stderr goes to `log`.
    async fn start(dir: &Path, log: &Path) -> Server {
        Self::start_on(free_port(), dir, log).await
    }

    async fn start_on(port: u16, dir: &Path, log: &Path) -> Server {
        Self::start_logging_at(port, dir, log, "debug").await
    }

    async fn start_logging_at(port: u16, dir: &Path, log: &Path, level: &str) -> Server {
        Self::start_with(port, dir, log, level, &[]).await
    }

    async fn start_with(port: u16, dir: &Path, log: &Path, level: &str, flags: &[&str]) -> Server {
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &database_url(dir)])
            .args(flags)
            .env("RUST_LOG", level)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let base_url = format!("http://127.0.0.1:{port}");
        wait_healthy(&base_url, || std::fs::read_to_string(log).unwrap_or_default()).await;
        Server { child, base_url }
    }

    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `PRAGMA integrity_check` of the database in `dir`, with no server running.
async fn assert_database_sound(dir: &Path) {
    let pool = sqlx::SqlitePool::connect(&database_url(dir)).await.unwrap();
    let integrity: String = sqlx::query_scalar("pragma integrity_check").fetch_one(&pool).await.unwrap();
    assert_eq!(integrity, "ok");
    pool.close().await;
}

fn init_json(dir: &Path) -> Value {
    let output = Command::new(BIN)
        .args(["init", "--owner-email", "ops@example.com", "--database", &database_url(dir), "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "exactly one JSON object: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> reqwest::Response {
    http.post(format!("{base}/api-services/v1/auth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn access_token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let response = token(http, base, id, secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn init_prints_one_json_object_and_refuses_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = init_json(dir.path());
    let keys: Vec<&str> = credentials.as_object().unwrap().keys().map(String::as_str).collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, ["account_id", "client_id", "client_secret", "owner_email", "owner_password"]);
    assert_eq!(credentials["owner_email"], "ops@example.com");

    let again = Command::new(BIN)
        .args(["init", "--owner-email", "other@example.com", "--database", &database_url(dir.path()), "--json"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"));

    // The first credentials still work: nothing was changed.
    let log = dir.path().join("serve.log");
    let server = Server::start(dir.path(), &log).await;
    let http = crate::http().build().unwrap();
    let id = credentials["client_id"].as_str().unwrap();
    let secret = credentials["client_secret"].as_str().unwrap();
    access_token(&http, &server.base_url, id, secret).await;
    // `serve` on an initialised database prints no new credentials.
    assert!(!std::fs::read_to_string(&log).unwrap().contains("BOOTSTRAP CREDENTIALS"));
}

#[tokio::test]
async fn serve_bootstraps_an_empty_database_and_prints_the_credentials_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let server = Server::start(dir.path(), &log).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("BOOTSTRAP CREDENTIALS"));
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("{name} missing from the banner"))
    };
    assert_eq!(field("owner_email"), "owner@localhost");
    let http = crate::http().build().unwrap();
    access_token(&http, &server.base_url, &field("client_id"), &field("client_secret")).await;
    assert_eq!(http.get(format!("{}/readyz", server.base_url)).send().await.unwrap().status(), StatusCode::OK);
}

/// Every acknowledged write survives `kill -9`, including a renewal; the database stays sound;
/// and no secret other than the bootstrap banner's ever reaches the log.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = init_json(dir.path());
    let log = dir.path().join("serve.log");
    let server = Server::start(dir.path(), &log).await;
    let http = crate::http().build().unwrap();
    let admin_id = credentials["client_id"].as_str().unwrap();
    let admin_secret = credentials["client_secret"].as_str().unwrap();
    let admin = access_token(&http, &server.base_url, admin_id, admin_secret).await;

    let mut created = Vec::new();
    for index in 0..20 {
        let response = http
            .post(format!("{}/v1/clients", server.base_url))
            .bearer_auth(&admin)
            .json(&json!({"name": format!("durable {index}"), "locked": null, "scopes": {"products": ["SuperSIM"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        created
            .push((body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned()));
    }
    let (renewed_id, old_secret) = created[0].clone();
    let response = http
        .post(format!("{}/v1/clients/{renewed_id}/renew-key", server.base_url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let new_secret = response.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
    let disabled_id = created[1].0.clone();
    let response = http
        .patch(format!("{}/v1/clients/{disabled_id}", server.base_url))
        .bearer_auth(&admin)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A secret sent in the query string must be refused without being logged.
    let leaked = &created[2].1;
    http.post(format!("{}/api-services/v1/auth/token?client_secret={leaked}", server.base_url))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let client_token = access_token(&http, &server.base_url, &created[3].0, &created[3].1).await;
    let port = server.base_url.rsplit(':').next().unwrap().parse().unwrap();
    server.kill_9();

    // The same address keeps the same issuer, so tokens minted before the kill stay valid.
    let server = Server::start_on(port, dir.path(), &log).await;
    let list = get_json(&http, &format!("{}/v1/clients?page_size=100&page_number=1", server.base_url), &admin).await;
    assert_eq!(list["meta"]["count"], 21);
    assert_eq!(token(&http, &server.base_url, &renewed_id, &old_secret).await.status(), StatusCode::UNAUTHORIZED);
    access_token(&http, &server.base_url, &renewed_id, &new_secret).await;
    assert_eq!(token(&http, &server.base_url, &disabled_id, &created[1].1).await.status(), StatusCode::UNAUTHORIZED);
    let ping = http.get(format!("{}/v1/ping", server.base_url)).bearer_auth(&client_token).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    drop(server);

    assert_database_sound(dir.path()).await;

    let mut text = String::new();
    std::fs::File::open(&log).unwrap().read_to_string(&mut text).unwrap();
    assert!(BufReader::new(text.as_bytes()).lines().count() > 10, "the server logged its requests");
    assert!(!text.contains('\x1b'), "a log written to a file is plain text, without colour codes");
    for (_, secret) in &created {
        assert!(!text.contains(secret.as_str()), "a client secret reached the log");
    }
    assert!(!text.contains(&new_secret));
    assert!(!text.contains(admin_secret));
    assert!(!text.contains(&admin), "an access token reached the log");

    // Neither the master key nor a private signing key is in the log, in any encoding; and
    // the private key is nowhere in the database's files, which hold it sealed.
    let master_text = std::fs::read_to_string(dir.path().join("g.db.key")).unwrap();
    assert!(!text.contains(master_text.trim()), "the master key reached the log");
    let master = gatehouse_domain::master_key::MasterKey::from_base64(&master_text).unwrap();
    let pool = sqlx::SqlitePool::connect(&database_url(dir.path())).await.unwrap();
    let keys: Vec<(String, Vec<u8>)> =
        sqlx::query_as("select kid, sealed_private_key from signing_keys").fetch_all(&pool).await.unwrap();
    pool.close().await;
    assert!(!keys.is_empty());
    let on_disk: Vec<u8> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_str().unwrap().starts_with("g.db") && !path.ends_with("g.db.key"))
        .flat_map(|path| std::fs::read(path).unwrap())
        .collect();
    use base64::Engine;
    for (kid, sealed) in keys {
        let pkcs8 = master.open(kid.as_bytes(), &sealed).unwrap();
        // RFC 8410: the private key is the 32-byte seed in an OCTET STRING within an OCTET
        // STRING (04 22 04 20); a v2 document ends with the public key, which is public.
        let at = pkcs8.windows(4).position(|w| w == [0x04, 0x22, 0x04, 0x20]).unwrap() + 4;
        let seed = &pkcs8[at..at + 32];
        for engine in [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD] {
            // Any 24 characters from the middle of an encoding would give it away.
            let encoded = engine.encode(seed);
            assert!(!text.contains(&encoded[4..28]), "a private key reached the log");
            assert!(!text.contains(&engine.encode(&pkcs8)[8..40]), "a private key reached the log");
        }
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!text.to_lowercase().contains(&hex[8..56]), "a private key reached the log");
        for half in seed.chunks(16) {
            assert!(!on_disk.windows(16).any(|window| window == half), "a private key is stored in the clear");
        }
    }
}

/// At the default level the log keeps every request but the successes of the endpoints that
/// machines call once per API call (`/metrics` counts those): their refusals stay.
#[tokio::test]
async fn the_default_log_keeps_refusals_but_not_each_issued_token_or_allowed_check() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = init_json(dir.path());
    let log = dir.path().join("serve.log");
    let server = Server::start_logging_at(free_port(), dir.path(), &log, "info").await;
    let http = crate::http().build().unwrap();
    let id = credentials["client_id"].as_str().unwrap();
    let access = access_token(&http, &server.base_url, id, credentials["client_secret"].as_str().unwrap()).await;
    let check = format!("{}/v1/auth/products/SuperSIM/check", server.base_url);
    assert_eq!(http.get(&check).bearer_auth(&access).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(http.get(&check).bearer_auth("not-a-token").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(token(&http, &server.base_url, id, "wrong").await.status(), StatusCode::UNAUTHORIZED);
    let ping = http.get(format!("{}/v1/ping", server.base_url)).bearer_auth(&access).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK);
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(r#"route="/api-services/v1/auth/token" status=401"#), "{text}");
    assert!(text.contains(r#"route="/v1/auth/products/{product}/check" status=401"#), "{text}");
    assert!(text.contains(r#"route="/v1/ping" status=200"#), "{text}");
    assert!(!text.contains(r#"route="/api-services/v1/auth/token" status=200"#), "{text}");
    assert!(!text.contains(r#"route="/v1/auth/products/{product}/check" status=200"#), "{text}");
}

/// `gatehouse keys rotate` beside a running server: the server publishes the new key, starts
/// signing with it once it activates, and keeps accepting tokens of the old one, no restart.
#[tokio::test]
async fn keys_rotate_reaches_a_running_server_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = init_json(dir.path());
    let log = dir.path().join("serve.log");
    let server = Server::start(dir.path(), &log).await;
    let http = crate::http().build().unwrap();
    let id = credentials["client_id"].as_str().unwrap();
    let secret = credentials["client_secret"].as_str().unwrap();
    let before = access_token(&http, &server.base_url, id, secret).await;
    let kid = |token: &str| crate::test_app::decode_jwt(token).0["kid"].as_str().unwrap().to_owned();

    let output = Command::new(BIN)
        .args(["keys", "rotate", "--activate-after", "3", "--database", &database_url(dir.path())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let new_kid = stdout.split_whitespace().nth(3).unwrap().to_owned();
    assert_ne!(new_kid, kid(&before));

    // Poll with another client, so the live-token cap never touches `before`.
    let created: Value = http
        .post(format!("{}/v1/clients", server.base_url))
        .bearer_auth(&before)
        .json(&json!({"name": "poller", "locked": null, "scopes": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (poller_id, poller_secret) =
        (created["client_id"].as_str().unwrap(), created["client_secret"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let token = access_token(&http, &server.base_url, poller_id, poller_secret).await;
        if kid(&token) == new_kid {
            break;
        }
        assert!(Instant::now() < deadline, "the running server never signed with the rotated key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jwks: Value =
        http.get(format!("{}/.well-known/jwks.json", server.base_url)).send().await.unwrap().json().await.unwrap();
    let published: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert!(published.contains(&new_kid.as_str()) && published.contains(&kid(&before).as_str()));
    let ping = http.get(format!("{}/v1/ping", server.base_url)).bearer_auth(&before).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK, "tokens of the previous key keep working");
}

/// A small, seeded generator for the moments of the kills: the seed is printed, so a failure
/// can be replayed with `GATEHOUSE_TEST_SEED`.
fn seeded() -> impl FnMut(u64) -> u64 {
    let seed = std::env::var("GATEHOUSE_TEST_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("GATEHOUSE_TEST_SEED={seed}");
    let mut state = seed;
    move |below| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    }
}

/// `kill -9` at random moments while several callers create clients and mint tokens, round
/// after round. Every client the server acknowledged is there afterwards with the secret it was
/// given, every token it handed out is still one it knows, and the database passes
/// `PRAGMA integrity_check`.
#[tokio::test]
async fn kill_9_at_random_moments_loses_no_acknowledged_write() {
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let init = init_json(dir.path());
    let credentials =
        (init["client_id"].as_str().unwrap().to_owned(), init["client_secret"].as_str().unwrap().to_owned());
    let log = dir.path().join("serve.log");
    let port = free_port();
    let http = crate::http().build().unwrap();
    let clients = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let tokens = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut random = seeded();

    for round in 0..5 {
        let server = Server::start_on(port, dir.path(), &log).await;
        let admin = access_token(&http, &server.base_url, &credentials.0, &credentials.1).await;
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..4 {
            let (http, base, admin) = (http.clone(), server.base_url.clone(), admin.clone());
            let (clients, tokens) = (clients.clone(), tokens.clone());
            writers.spawn(async move {
                for index in 0.. {
                    let body = json!({"name": format!("r{round} w{writer} #{index}"), "locked": null,
                        "scopes": {"products": ["SuperSIM"]}});
                    let Ok(response) =
                        http.post(format!("{base}/v1/clients")).bearer_auth(&admin).json(&body).send().await
                    else {
                        return;
                    };
                    assert_eq!(response.status(), StatusCode::CREATED, "a write refused while the server was up");
                    let Ok(created) = response.json::<Value>().await else { return };
                    let id = created["client_id"].as_str().unwrap().to_owned();
                    let secret = created["client_secret"].as_str().unwrap().to_owned();
                    clients.lock().unwrap().push((id.clone(), secret.clone()));
                    let minted = http
                        .post(format!("{base}/api-services/v1/auth/token"))
                        .basic_auth(&id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await;
                    let Ok(minted) = minted else { return };
                    assert_eq!(minted.status(), StatusCode::OK, "a token refused while the server was up");
                    let Ok(minted) = minted.json::<Value>().await else { return };
                    tokens.lock().unwrap().push(minted["access_token"].as_str().unwrap().to_owned());
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(150 + random(600))).await;
        server.kill_9();
        while let Some(writer) = writers.join_next().await {
            writer.unwrap();
        }
    }

    let server = Server::start_on(port, dir.path(), &log).await;
    let (clients, tokens) = (clients.lock().unwrap().clone(), tokens.lock().unwrap().clone());
    assert!(clients.len() >= 20 && tokens.len() >= 20, "{} clients, {} tokens written", clients.len(), tokens.len());
    for (id, secret) in &clients {
        assert_eq!(token(&http, &server.base_url, id, secret).await.status(), StatusCode::OK, "client {id} was lost");
    }
    for minted in &tokens {
        let ping = http.get(format!("{}/v1/ping", server.base_url)).bearer_auth(minted).send().await.unwrap();
        assert_eq!(ping.status(), StatusCode::OK, "a token handed out before a kill is unknown after it");
    }
    drop(server);
    assert_database_sound(dir.path()).await;
}

/// SIGTERM stops new connections, lets the requests in flight finish (here, eight creations
/// whose bodies are still arriving), and exits 0.
#[tokio::test]
async fn sigterm_lets_requests_in_flight_finish_and_exits_0() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let dir = tempfile::tempdir().unwrap();
    let credentials = init_json(dir.path());
    let log = dir.path().join("serve.log");
    let mut server = Server::start(dir.path(), &log).await;
    let http = crate::http().build().unwrap();
    let admin_id = credentials["client_id"].as_str().unwrap();
    let admin = access_token(&http, &server.base_url, admin_id, credentials["client_secret"].as_str().unwrap()).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();

    let mut in_flight = Vec::new();
    for index in 0..8 {
        let body = json!({"name": format!("in flight {index}"), "locked": null, "scopes": {"products": ["SuperSIM"]}})
            .to_string();
        let head = format!(
            "POST /v1/clients HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {admin}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let (first, rest) = body.split_at(body.len() / 2);
        in_flight.push((stream, (first.to_owned(), rest.to_owned())));
    }
    // `Expect: 100-continue` proves each request reached its handler before the signal.
    for (stream, _) in &mut in_flight {
        let mut interim = [0u8; 25];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut interim)).await.unwrap().unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let terminated = Command::new("kill").arg("-TERM").arg(server.child.id().to_string()).status().unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(&address).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting connections 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    for (mut stream, (first, rest)) in in_flight {
        stream.write_all(first.as_bytes()).await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(rest.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut response)).await.unwrap().unwrap();
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running 10 s after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");

    let server = Server::start(dir.path(), &log).await;
    let admin = access_token(&http, &server.base_url, admin_id, credentials["client_secret"].as_str().unwrap()).await;
    let list = get_json(&http, &format!("{}/v1/clients?page_size=100&page_number=1", server.base_url), &admin).await;
    assert_eq!(list["meta"]["count"], 9, "the bootstrap client and the eight that were in flight");
}

/// A small tmpfs, so a test can fill a disk without filling the machine's. Mounting needs root:
/// CI has it; elsewhere the test says why it did nothing.
struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            assert!(std::env::var_os("CI").is_none(), "CI runs as root and must be able to mount a tmpfs");
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(Tmpfs { path: path.to_owned() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// With the disk full, writes answer 503 in the documented format (never a 500, never a
/// half-written row), reads and warm tokens go on, and writes work again as soon as there is
/// space, without a restart; the database stays sound.
#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_when_space_returns() {
    use std::io::Write as _;

    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "24m") else { return };
    let credentials = init_json(&disk.path);
    let log = dir.path().join("serve.log");
    let server = Server::start(&disk.path, &log).await;
    let http = crate::http().build().unwrap();
    let (admin_id, admin_secret) =
        (credentials["client_id"].as_str().unwrap(), credentials["client_secret"].as_str().unwrap());
    let admin = access_token(&http, &server.base_url, admin_id, admin_secret).await;
    let create = |name: String| {
        let (http, base, admin) = (&http, &server.base_url, &admin);
        async move {
            let body = json!({"name": name, "locked": null, "scopes": {"products": ["SuperSIM"]}});
            http.post(format!("{base}/v1/clients")).bearer_auth(admin).json(&body).send().await.unwrap()
        }
    };
    assert_eq!(create("before".to_owned()).await.status(), StatusCode::CREATED);

    // Fill the disk.
    let filler_path = disk.path.join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while filler.write_all(&chunk).is_ok() {}
    drop(filler);

    // Eight writers at a time, as a busy server has them: a failed write must not leave the
    // store unable to take the next one.
    let mut refused = 0;
    for round in 0..40 {
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..8 {
            let (http, base, admin) = (http.clone(), server.base_url.clone(), admin.clone());
            writers.spawn(async move {
                let body = json!({"name": format!("full {round}.{writer}"), "locked": null,
                    "scopes": {"products": ["SuperSIM"]}});
                let response =
                    http.post(format!("{base}/v1/clients")).bearer_auth(&admin).json(&body).send().await.unwrap();
                let status = response.status();
                let retry_after = response.headers().contains_key("retry-after");
                (status, retry_after, response.text().await.unwrap())
            });
        }
        while let Some(answer) = writers.join_next().await {
            let (status, retry_after, body) = answer.unwrap();
            match status {
                StatusCode::CREATED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(retry_after, "a 503 without Retry-After");
                    let body: Value = serde_json::from_str(&body).unwrap();
                    assert!(body["code"].is_number() && body["message"].is_string(), "{body}");
                    refused += 1;
                }
                other => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    let tail = &log[log.len().saturating_sub(3000)..];
                    panic!("a write on a full disk answered {other}: {body}\n{tail}")
                }
            }
        }
        if refused >= 16 {
            break;
        }
    }
    assert!(refused >= 16, "writes kept succeeding on a full disk");
    let list = http
        .get(format!("{}/v1/clients?page_size=1&page_number=1", server.base_url))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK, "reads go on");
    let ping = http.get(format!("{}/v1/ping", server.base_url)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(ping.status(), StatusCode::OK, "a warm token goes on");
    let minted = token(&http, &server.base_url, admin_id, admin_secret).await.status();
    assert!(minted == StatusCode::OK || minted == StatusCode::SERVICE_UNAVAILABLE, "minting answered {minted}");

    std::fs::remove_file(&filler_path).unwrap();
    assert_eq!(create("after".to_owned()).await.status(), StatusCode::CREATED, "writes resume without a restart");
    assert_eq!(token(&http, &server.base_url, admin_id, admin_secret).await.status(), StatusCode::OK);
    drop(server);
    assert_database_sound(&disk.path).await;
}

/// Every request runs in a span whose id its log lines carry and its response echoes, so a log
/// line can be tied to a request a caller reports. A trusted proxy's id is kept (one id through
/// both logs); anyone else's is replaced, as is a proxy's that could break a log line.
/// `--log-format json` writes one JSON object per line.
#[tokio::test]
async fn each_request_has_an_id_in_its_log_lines_and_its_response() {
    let dir = tempfile::tempdir().unwrap();
    init_json(dir.path());
    let http = crate::http().build().unwrap();
    let send = |base: String, id: &'static str| {
        let http = http.clone();
        async move {
            let url = format!("{base}/v1/clients?page_size=1&page_number=1&client_secret=hunter2");
            let response = http.get(url).header("x-request-id", id).bearer_auth("not-a-token").send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        }
    };

    let direct_log = dir.path().join("direct.log");
    let server = Server::start_with(free_port(), dir.path(), &direct_log, "info", &["--log-format", "json"]).await;
    let first = send(server.base_url.clone(), "chosen-by-the-caller").await;
    let second = send(server.base_url.clone(), "chosen-by-the-caller").await;
    assert_ne!(first, "chosen-by-the-caller", "a caller's own id is replaced");
    assert_ne!(first, second);
    drop(server);

    let proxied_log = dir.path().join("proxied.log");
    let flags = ["--log-format", "json", "--trusted-proxies", "127.0.0.1"];
    let server = Server::start_with(free_port(), dir.path(), &proxied_log, "info", &flags).await;
    assert_eq!(send(server.base_url.clone(), "proxy-7f3a:1").await, "proxy-7f3a:1", "a trusted proxy's id is kept");
    let forged = send(server.base_url.clone(), "x\" level\":\"ERROR").await;
    assert!(!forged.contains('"'), "an id that could break a log line is replaced: {forged}");
    drop(server);

    let lines = |path: &Path| -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("hunter2"), "a query string reached the log");
        text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect()
    };
    let request_line = |lines: &[Value], id: &str| -> Value {
        let found = lines.iter().find(|line| line["span"]["id"] == id && line["fields"]["message"] == "request");
        found.unwrap_or_else(|| panic!("no request line with id {id}")).clone()
    };
    let direct = lines(&direct_log);
    let line = request_line(&direct, &first);
    assert_eq!((&line["fields"]["route"], &line["fields"]["status"]), (&json!("/v1/clients"), &json!(401)));
    assert_eq!(line["level"], "INFO");
    request_line(&direct, &second);
    request_line(&lines(&proxied_log), "proxy-7f3a:1");
}
