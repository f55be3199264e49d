//! The real `gatehouse` binary as an operator uses it: `serve --config` layered under the
//! environment and flags.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::processes::{BIN, free_port, wait_healthy};

/// The binary without the caller's `GATEHOUSE_*` variables, so only what a test sets counts.
fn gatehouse(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GATEHOUSE_") {
            command.env_remove(name);
        }
    }
    command.args(args).stdin(Stdio::null());
    command
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs to completion off the async runtime.
async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The value of a `key: value` line of the text output.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")).map(|value| value.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

// ---------------------------------------------------------------------------------------------
// serve --config

/// A `gatehouse serve` child, killed when dropped.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_file(path: &Path) -> std::fs::File {
    std::fs::File::create(path).unwrap()
}

#[tokio::test]
async fn serve_takes_settings_from_a_file_below_the_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\n\
             database = \"sqlite://{}\"\n\
             owner_email = \"file@example.com\"\n\
             issuer = \"http://file.example\"\n",
            dir.path().join("g.db").display()
        ),
    )
    .unwrap();
    let log = dir.path().join("serve.log");
    let mut command = gatehouse(&["serve", "--config", config.to_str().unwrap(), "--issuer", "http://flag.example"]);
    command
        .env("GATEHOUSE_OWNER_EMAIL", "env@example.com")
        .env("GATEHOUSE_LISTNE", "misspelt-value")
        .stdout(Stdio::null())
        .stderr(log_file(&log));
    let _server = Serving(command.spawn().unwrap());

    let base_url = format!("http://127.0.0.1:{port}");
    wait_healthy(&base_url, || std::fs::read_to_string(&log).unwrap_or_default()).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(field(&text, "owner_email"), "env@example.com", "the environment beats the file");
    let metadata: Value =
        reqwest::get(format!("{base_url}/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], "http://flag.example", "a flag beats the file");
    assert!(text.contains("GATEHOUSE_LISTNE"), "an unknown variable is named: {text}");
    assert!(!text.contains("misspelt-value"), "but its value is never shown");
}

#[tokio::test]
async fn serve_stops_before_starting_on_a_config_file_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, format!("listen = \"127.0.0.1:{port}\"\nlisten_port = 8080\n")).unwrap();
    let database = format!("sqlite://{}", dir.path().join("g.db").display());

    let unknown_key = run(gatehouse(&["serve", "--config", config.to_str().unwrap(), "--database", &database])).await;
    assert_ne!(unknown_key.code, Some(0));
    assert!(unknown_key.stdout.is_empty());
    assert!(unknown_key.stderr.contains("listen_port"), "the unknown key is named: {}", unknown_key.stderr);
    assert!(!dir.path().join("g.db").exists(), "nothing was started");

    let mut command = gatehouse(&["serve", "--database", &database]);
    command.env("GATEHOUSE_CONFIG", dir.path().join("missing.toml"));
    let missing = run(command).await;
    assert_ne!(missing.code, Some(0));
    assert!(missing.stderr.contains("cannot read the configuration file"), "{}", missing.stderr);
}
