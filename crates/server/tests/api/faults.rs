//! PostgreSQL faults: the database stopped under a running instance. Requests fail fast with 503,
//! `/readyz` says so, and the instance recovers by itself when the database is back. Uses a private
//! PostgreSQL cluster (the machine's binaries, run as the `postgres` user), so stopping it disturbs
//! nothing else.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse_domain::master_key::MasterKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::processes::{BIN, free_port, wait_healthy};

struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

fn as_postgres(bin: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(program))
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program} as postgres: {error}"))
}

impl PrivatePostgres {
    fn create() -> PrivatePostgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|mut versions| versions.next())
            .and_then(Result::ok)
            .map(|version| version.path().join("bin"))
            .expect("PostgreSQL server binaries are missing from /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chmod").arg("0777").arg(dir.path()).status().unwrap();
        assert!(status.success());
        let data = dir.path().join("data");
        let output =
            as_postgres(&bin, "initdb", &["-D", data.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(output.status.success(), "initdb failed: {}", String::from_utf8_lossy(&output.stderr));
        let port = free_port();
        PrivatePostgres { bin, dir, port }
    }

    fn start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("postgres.log");
        let output = as_postgres(
            &self.bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        assert!(
            output.status.success(),
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn stop(&self) {
        let data = self.dir.path().join("data");
        let output = as_postgres(&self.bin, "pg_ctl", &["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"]);
        assert!(output.status.success(), "PostgreSQL did not stop");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = as_postgres(&self.bin, "pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn postgres_down_means_fast_503s_and_recovery_without_a_restart() {
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").map_or(true, |url| url.is_empty()) {
        eprintln!("skipped: the PostgreSQL suite runs with GATEHOUSE_TEST_POSTGRES_URL set");
        return;
    }
    let postgres = PrivatePostgres::create();
    postgres.start();
    let key = MasterKey::generate().to_base64();
    let init = Command::new(BIN)
        .args(["init", "--owner-email", "ops@example.com", "--database", &postgres.url(), "--json"])
        .env("GATEHOUSE_MASTER_KEY", &key)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let credentials: Value = serde_json::from_slice(&init.stdout).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _serve = Serve(
        Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database", &postgres.url()])
            .env("GATEHOUSE_MASTER_KEY", &key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // A client that never waits forever: a hang is a failure, not a slow pass.
    let http = crate::http().timeout(Duration::from_secs(15)).build().unwrap();
    wait_healthy(&base, || "serve did not start".to_owned()).await;
    let id = credentials["client_id"].as_str().unwrap();
    let secret = credentials["client_secret"].as_str().unwrap();
    let mint = || {
        http.post(format!("{base}/api-services/v1/auth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let admin = mint().await.unwrap().json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let create = || {
        http.post(format!("{base}/v1/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "during", "locked": null, "scopes": {"products": ["SuperSIM"]}}))
            .send()
    };
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED);
    let check = || http.get(format!("{base}/v1/auth/products/SuperSIM/check")).bearer_auth(&admin).send();
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);

    postgres.stop();
    let down = create().await.expect("a write answers while the database is down");
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));
    assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let token = mint().await.expect("the token endpoint answers while the database is down");
    assert_eq!(token.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(token.json::<Value>().await.unwrap()["error"], "temporarily_unavailable");
    // With its change feed gone the instance cannot know what others change (a partition looks
    // like an outage from here): checks and introspection fail closed, as the README says.
    assert_eq!(check().await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    let introspect = http
        .post(format!("{base}/api-services/v1/auth/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspect.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A revocation that cannot be recorded is not answered 200: the caller must retry.
    let revoke = http
        .post(format!("{base}/api-services/v1/auth/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(revoke.headers().contains_key("retry-after"));

    postgres.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/readyz")).send().await.unwrap().status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "the instance did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(create().await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(mint().await.unwrap().status(), StatusCode::OK);
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);
}
