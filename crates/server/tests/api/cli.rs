//! The real `gatehouse` binary as an operator uses it: `serve --config` layered under the
//! environment and flags, and `gatehouse clients ...` and `gatehouse projects ...` against a
//! running server.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use gatehouse_domain::account::Role;
use gatehouse_domain::store::CapPolicy;
use reqwest::StatusCode;
use serde_json::Value;

use crate::processes::{BIN, Nginx, free_port, wait_healthy};
use crate::test_app::{Credentials, TestApp, decode_jwt};

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

impl Run {
    /// The standard output of a successful run.
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "the command failed: {}", self.stderr);
        self.stdout
    }

    fn json(self) -> Value {
        let stdout = self.ok();
        serde_json::from_str(&stdout)
            .unwrap_or_else(|error| panic!("--json printed no JSON document ({error}): {stdout}"))
    }
}

/// Runs to completion off the async runtime, which keeps serving the `TestApp` meanwhile.
async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `gatehouse clients ARGS --url <app>` with nothing else.
fn clients(app: &TestApp, args: &[&str]) -> Command {
    let mut command = gatehouse(&["clients"]);
    command.args(args).args(["--url", &app.base_url]);
    command
}

/// `gatehouse clients ARGS` as the bootstrap admin client, its credentials in the environment.
async fn as_admin(app: &TestApp, args: &[&str]) -> Run {
    let mut command = clients(app, args);
    command.env("GATEHOUSE_CLIENT_ID", &app.admin.client_id).env("GATEHOUSE_CLIENT_SECRET", &app.admin.client_secret);
    run(command).await
}

/// `gatehouse projects ARGS --url <app>` with nothing else.
fn projects(app: &TestApp, args: &[&str]) -> Command {
    let mut command = gatehouse(&["projects"]);
    command.args(args).args(["--url", &app.base_url]);
    command
}

/// `command` with `token` (a session or access token) in `GATEHOUSE_TOKEN`.
async fn with_token(mut command: Command, token: &str) -> Run {
    command.env("GATEHOUSE_TOKEN", token);
    run(command).await
}

/// The value of a `key: value` line of the text output.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")).map(|value| value.trim().to_owned()))
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

async fn client_json(app: &TestApp, client_id: &str) -> Value {
    let response = app.get(&format!("/v1/clients/{client_id}"), &app.admin_token().await).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["client"].clone()
}

async fn token_status(app: &TestApp, credentials: &Credentials) -> StatusCode {
    app.token_request_basic(credentials, &[("grant_type", "client_credentials")]).await.status()
}

#[tokio::test]
async fn an_operator_manages_a_client_from_the_command_line() {
    let app = TestApp::spawn().await;

    let created = as_admin(
        &app,
        &[
            "create",
            "--name",
            "Billing sync",
            "--description",
            "nightly export",
            "--product",
            "SuperSIM",
            "--token-expiry-seconds",
            "600",
            "--json",
        ],
    )
    .await
    .json();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let credentials = Credentials {
        client_id: client_id.clone(),
        client_secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let (_, claims) = decode_jwt(&app.token(&credentials).await);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);

    let listed = as_admin(&app, &["list"]).await.ok();
    let row = listed.lines().find(|line| line.contains(&client_id)).unwrap_or_else(|| panic!("not listed:\n{listed}"));
    assert!(row.contains("Billing sync") && row.contains("standard") && row.contains("enabled"), "{row}");
    let shown = as_admin(&app, &["get", &client_id]).await.ok();
    assert_eq!(field(&shown, "name"), "Billing sync");
    assert_eq!(field(&shown, "products"), "SuperSIM");
    for output in [&listed, &shown] {
        assert!(!output.contains(&credentials.client_secret) && !output.contains(&app.admin.client_secret));
    }

    // Only the fields given change.
    let updated = as_admin(
        &app,
        &[
            "update",
            &client_id,
            "--name",
            "Billing export",
            "--allowed-ip",
            "127.0.0.0/8",
            "--rate-limit",
            "5:10",
            "--lock",
        ],
    )
    .await
    .ok();
    assert_eq!(field(&updated, "name"), "Billing export");
    let client = client_json(&app, &client_id).await;
    assert_eq!(client["name"], "Billing export");
    assert_eq!(client["allowed_ips"], serde_json::json!(["127.0.0.0/8"]));
    assert_eq!(client["rate_limit"], serde_json::json!({"requests_per_second": 5, "burst": 10}));
    assert_eq!(client["locked"], true);
    assert_eq!(client["description"], "nightly export");
    assert_eq!(client["token_expiry_seconds"], 600);

    // Seed rule 7: a disabled client's secret is refused; enabling restores it.
    as_admin(&app, &["update", &client_id, "--disable"]).await.ok();
    assert_eq!(token_status(&app, &credentials).await, StatusCode::UNAUTHORIZED);
    as_admin(&app, &["update", &client_id, "--enable", "--no-rate-limit"]).await.ok();
    assert_eq!(token_status(&app, &credentials).await, StatusCode::OK);
    assert_eq!(client_json(&app, &client_id).await["rate_limit"], Value::Null);

    // Seed rule 8: the new secret works, the old one is refused.
    let renewed = as_admin(&app, &["renew-key", &client_id]).await.ok();
    assert!(renewed.contains("shown only this once"), "{renewed}");
    let renewed_credentials =
        Credentials { client_id: client_id.clone(), client_secret: field(&renewed, "client_secret") };
    assert_ne!(renewed_credentials.client_secret, credentials.client_secret);
    assert_eq!(token_status(&app, &credentials).await, StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(&app, &renewed_credentials).await, StatusCode::OK);

    // A planned rotation: both secrets work, the list shows them, ending the previous one early
    // leaves only the new one.
    let rotated = as_admin(&app, &["rotate-secret", &client_id, "--grace-period", "3600"]).await.ok();
    assert!(rotated.contains("shown only this once"), "{rotated}");
    let rotated_credentials =
        Credentials { client_id: client_id.clone(), client_secret: field(&rotated, "client_secret") };
    assert_eq!(token_status(&app, &renewed_credentials).await, StatusCode::OK, "in its grace period");
    assert_eq!(token_status(&app, &rotated_credentials).await, StatusCode::OK);
    let listed = as_admin(&app, &["secrets", &client_id]).await.ok();
    assert!(listed.starts_with("SECRET_ID"), "{listed}");
    assert!(listed.contains("previous") && listed.contains("current"), "{listed}");
    assert!(!listed.contains(&rotated_credentials.client_secret), "never a value");
    let secrets = as_admin(&app, &["secrets", &client_id, "--json"]).await.json();
    let previous = secrets["secrets"][0]["secret_id"].as_str().unwrap().to_owned();
    let refused = as_admin(&app, &["delete-secret", &client_id, &field(&rotated, "secret_id")]).await;
    assert_eq!(refused.code, Some(1), "the current secret stays");
    assert!(refused.stderr.contains("409") && refused.stderr.contains("renew"), "{}", refused.stderr);
    let ended = as_admin(&app, &["delete-secret", &client_id, &previous, "--revoke-tokens"]).await.ok();
    assert!(ended.contains("its tokens too"), "{ended}");
    assert_eq!(token_status(&app, &renewed_credentials).await, StatusCode::UNAUTHORIZED);
    let renewed_credentials = rotated_credentials;
    assert_eq!(token_status(&app, &renewed_credentials).await, StatusCode::OK);
    let bad = as_admin(&app, &["rotate-secret", &client_id, "--grace-period", "604801"]).await;
    assert_eq!(bad.code, Some(1));

    app.add_user("dev@example.com", Role::Admin).await;
    let moved = as_admin(&app, &["transfer", &client_id, "--owner", "dev@example.com", "--json"]).await.json();
    assert_eq!(moved["client"]["client_owner"], "dev@example.com");
    assert_eq!(client_json(&app, &client_id).await["client_owner"], "dev@example.com");

    // Seed rule 10: gone from get, its secret refused; `--json` has no body to print for a 204.
    let deleted = as_admin(&app, &["delete", &client_id, "--json"]).await.ok();
    assert!(deleted.is_empty(), "{deleted}");
    let response = app.get(&format!("/v1/clients/{client_id}"), &app.admin_token().await).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(token_status(&app, &renewed_credentials).await, StatusCode::UNAUTHORIZED);
    let gone = as_admin(&app, &["get", &client_id]).await;
    assert_eq!(gone.code, Some(1), "a refusal exits 1");
    assert!(gone.stdout.is_empty());
    assert!(gone.stderr.contains("not found") && gone.stderr.contains("404"), "{}", gone.stderr);
}

#[tokio::test]
async fn a_user_session_changes_products_without_losing_global_resources() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let as_owner = |args: &[&str]| {
        let mut command = clients(&app, args);
        command.env("GATEHOUSE_TOKEN", &session);
        run(command)
    };
    let created = as_owner(&[
        "create",
        "--name",
        "Auditor",
        "--client-type",
        "admin",
        "--global-resource",
        "audit",
        "--product",
        "SuperSIM",
    ])
    .await
    .ok();
    assert!(created.contains("shown only this once"), "{created}");
    let client_id = field(&created, "client_id");
    assert_eq!(field(&created, "client_type"), "admin");

    as_owner(&["update", &client_id, "--product", "ProgrammableWireless"]).await.ok();
    let client = client_json(&app, &client_id).await;
    assert_eq!(client["scopes"]["products"], serde_json::json!(["ProgrammableWireless"]));
    assert_eq!(
        client["scopes"]["global_resources"],
        serde_json::json!(["audit"]),
        "the other half of the scopes stays"
    );

    let admins = as_owner(&["list", "--client-type", "admin", "--json"]).await.json();
    let ids: Vec<&str> =
        admins["clients"].as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&client_id.as_str()) && ids.contains(&app.admin.client_id.as_str()));
    assert_eq!(admins["meta"]["count"], 2);

    let everything = as_owner(&["list", "--all", "--json"]).await.json();
    assert_eq!(everything["clients"].as_array().unwrap().len(), 2);
    let first_page = as_owner(&["list", "--page-size", "1"]).await.ok();
    assert!(first_page.contains("page 1 of 2") && first_page.contains("--page-number 2"), "{first_page}");
}

#[tokio::test]
async fn the_command_line_explains_missing_and_refused_credentials() {
    let app = TestApp::spawn().await;

    let anonymous = run(clients(&app, &["list"])).await;
    assert_eq!(anonymous.code, Some(2));
    assert!(anonymous.stdout.is_empty());
    assert!(anonymous.stderr.contains("--token") && anonymous.stderr.contains("--client-id"), "{}", anonymous.stderr);

    let mut command = clients(&app, &["list"]);
    command.env("GATEHOUSE_TOKEN", "not-a-real-token");
    let bad_token = run(command).await;
    assert_eq!(bad_token.code, Some(1));
    assert!(bad_token.stderr.contains("a valid bearer token is required"), "{}", bad_token.stderr);
    assert!(!bad_token.stderr.contains("not-a-real-token"), "the token is never echoed");

    let mut command = clients(&app, &["list", "--client-id", &app.admin.client_id]);
    command.env("GATEHOUSE_CLIENT_SECRET", "wrong-secret");
    let bad_secret = run(command).await;
    assert_eq!(bad_secret.code, Some(1));
    assert!(bad_secret.stderr.contains("invalid_client"), "{}", bad_secret.stderr);

    let mut command = gatehouse(&["clients", "list", "--url", &format!("http://127.0.0.1:{}", free_port())]);
    command.env("GATEHOUSE_TOKEN", "any");
    let nobody_home = run(command).await;
    assert_eq!(nobody_home.code, Some(3), "an unreachable server has its own exit status");
    assert!(nobody_home.stderr.contains("cannot reach the server"), "{}", nobody_home.stderr);
}

/// Seed rule 11 caps live tokens per credential; each command revokes the token it minted, so
/// an operator can run more commands than the cap even where the cap refuses.
#[tokio::test]
async fn commands_leave_no_live_token_behind() {
    let app = TestApp::spawn_with(|config| config.token_cap_policy = CapPolicy::Refuse).await;
    for _ in 0..11 {
        as_admin(&app, &["list"]).await.ok();
    }
    app.admin_token().await;
}

/// The client ids of `clients list --all --json` for `token`, with `args` added.
async fn listed_ids(app: &TestApp, token: &str, args: &[&str]) -> Vec<String> {
    let listed = with_token(clients(app, &[&["list", "--all", "--json"], args].concat()), token).await.json();
    listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|client| client["client_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Seed file 002 from the command line: a project, a developer in it who then sees its client,
/// the client listed by project, the member removed, the client taken out, the project deleted.
#[tokio::test]
async fn an_operator_manages_a_project_and_its_members_from_the_command_line() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (developer_id, developer) = app.create_user(&owner, "dev@example.com", "developer").await;

    let created =
        with_token(projects(&app, &["create", "Billing", "--description", "the billing team"]), &owner).await.ok();
    let project_id = field(&created, "project_id");
    assert!(project_id.starts_with("prj_"), "{created}");
    assert_eq!(field(&created, "name"), "Billing");
    assert_eq!(field(&created, "account_id"), app.account_id.as_str());
    assert_eq!(field(&created, "members"), "(none)");

    let joined = with_token(projects(&app, &["add-member", &project_id, &developer_id]), &owner).await.ok();
    assert_eq!(field(&joined, "members"), format!("dev@example.com ({developer_id})"));

    // A client in the project, and one outside any.
    let client =
        with_token(clients(&app, &["create", "--name", "Billing sync", "--project", &project_id]), &owner).await.ok();
    assert!(client.contains("shown only this once"), "{client}");
    let client_id = field(&client, "client_id");
    assert_eq!(field(&client, "project_id"), project_id);
    let shared = with_token(clients(&app, &["create", "--name", "Shared app"]), &owner).await.ok();
    let shared_id = field(&shared, "client_id");

    let in_project = with_token(clients(&app, &["list", "--project", &project_id]), &owner).await.ok();
    let row = in_project.lines().find(|line| line.contains(&client_id)).unwrap_or_else(|| panic!("{in_project}"));
    assert!(row.contains(&project_id) && row.contains("Billing sync"), "{row}");
    assert!(!in_project.contains(&shared_id) && !in_project.contains(&app.admin.client_id), "{in_project}");
    assert_eq!(listed_ids(&app, &owner, &["--project", &project_id]).await, [client_id.as_str()]);
    let shown = with_token(clients(&app, &["get", &client_id]), &owner).await.ok();
    assert_eq!(field(&shown, "project_id"), project_id);
    assert_eq!(field(&with_token(clients(&app, &["get", &shared_id]), &owner).await.ok(), "project_id"), "none");
    assert_eq!(client_json(&app, &client_id).await["project_id"], project_id.as_str());
    assert!(listed_ids(&app, &developer, &[]).await.contains(&client_id), "a member sees the project's client");

    let project = with_token(projects(&app, &["show", &project_id]), &owner).await.ok();
    assert_eq!(field(&project, "name"), "Billing");
    assert_eq!(field(&project, "description"), "the billing team");
    assert_eq!(field(&project, "members"), format!("dev@example.com ({developer_id})"));
    let as_json = with_token(projects(&app, &["show", &project_id, "--json"]), &owner).await.json();
    assert_eq!(
        as_json["project"]["members"],
        serde_json::json!([{"user_id": developer_id, "email": "dev@example.com"}])
    );
    let listed = with_token(projects(&app, &["list"]), &developer).await.ok();
    assert!(listed.starts_with("PROJECT_ID"), "{listed}");
    let row = listed.lines().find(|line| line.contains(&project_id)).unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains("Billing"), "a developer lists their own project: {row}");

    let renamed = with_token(projects(&app, &["update", &project_id, "--name", "Payments"]), &owner).await.ok();
    assert_eq!(field(&renamed, "name"), "Payments");
    assert_eq!(field(&renamed, "description"), "the billing team", "what is not given stays");
    let nothing = with_token(projects(&app, &["update", &project_id]), &owner).await;
    assert_eq!(nothing.code, Some(2), "{}", nothing.stderr);
    assert!(nothing.stderr.contains("nothing to update"), "{}", nothing.stderr);

    // Out of the project, the developer no longer sees its client...
    let removed = with_token(projects(&app, &["remove-member", &project_id, &developer_id]), &owner).await.ok();
    assert_eq!(removed, format!("user {developer_id} removed from project {project_id}\n"));
    let project = with_token(projects(&app, &["show", &project_id]), &owner).await.ok();
    assert_eq!(field(&project, "members"), "(none)");
    assert!(!listed_ids(&app, &developer, &[]).await.contains(&client_id));
    let hidden = with_token(clients(&app, &["get", &client_id]), &developer).await;
    assert_eq!(hidden.code, Some(1), "{}", hidden.stderr);
    assert!(with_token(projects(&app, &["list"]), &developer).await.ok().contains("no projects"));

    // ... until the client is taken out of it, when every developer sees it.
    let conflicting =
        with_token(clients(&app, &["update", &client_id, "--project", &project_id, "--no-project"]), &owner).await;
    assert_eq!(conflicting.code, Some(2), "{}", conflicting.stderr);
    let moved_out = with_token(clients(&app, &["update", &client_id, "--no-project"]), &owner).await.ok();
    assert_eq!(field(&moved_out, "project_id"), "none");
    assert_eq!(field(&moved_out, "name"), "Billing sync", "the rest stays");
    assert_eq!(client_json(&app, &client_id).await["project_id"], Value::Null);
    assert!(listed_ids(&app, &developer, &[]).await.contains(&client_id));
    assert!(listed_ids(&app, &owner, &["--project", &project_id]).await.is_empty());

    let deleted = with_token(projects(&app, &["delete", &project_id]), &owner).await.ok();
    assert_eq!(deleted, format!("project {project_id} deleted\n"));
    let gone = with_token(projects(&app, &["show", &project_id]), &owner).await;
    assert_eq!(gone.code, Some(1));
    assert!(gone.stdout.is_empty());
    assert!(gone.stderr.contains("project not found") && gone.stderr.contains("404"), "{}", gone.stderr);
}

/// A project that still has a client stays, and the command says why: the API's own message.
#[tokio::test]
async fn a_project_with_clients_is_not_deleted_from_the_command_line() {
    let app = TestApp::spawn().await;
    let as_admin_client = |command: Command| {
        let mut command = command;
        command
            .env("GATEHOUSE_CLIENT_ID", &app.admin.client_id)
            .env("GATEHOUSE_CLIENT_SECRET", &app.admin.client_secret);
        run(command)
    };
    let created = as_admin_client(projects(&app, &["create", "Search", "--json"])).await.json();
    let project_id = created["project"]["project_id"].as_str().unwrap().to_owned();
    assert_eq!(created["project"]["name"], "Search");
    let client = as_admin(&app, &["create", "--name", "Indexer", "--project", &project_id, "--json"]).await.json();
    let client_id = client["client_id"].as_str().unwrap().to_owned();

    let refused = as_admin_client(projects(&app, &["delete", &project_id])).await;
    assert_eq!(refused.code, Some(1), "a refusal exits 1: {}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert_eq!(
        refused.stderr,
        "gatehouse: the project still has clients; move them to another project or delete them first (HTTP 409)\n"
    );
    let still_there = as_admin_client(projects(&app, &["show", &project_id])).await.ok();
    assert_eq!(field(&still_there, "name"), "Search");

    as_admin(&app, &["delete", &client_id]).await.ok();
    let deleted = as_admin_client(projects(&app, &["delete", &project_id, "--json"])).await.ok();
    assert!(deleted.is_empty(), "204 has no body to print: {deleted}");
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
    let metadata: Value = crate::http()
        .build()
        .unwrap()
        .get(format!("{base_url}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

#[tokio::test]
async fn the_one_shot_commands_work_on_the_database_the_config_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file.db");
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, format!("database = \"sqlite://{}\"\n", from_file.display())).unwrap();
    let in_dir = |mut command: Command| {
        command.current_dir(dir.path());
        command
    };

    // GATEHOUSE_CONFIG, as set for the server: migrate and init must not fall back to a new
    // ./gatehouse.db.
    let mut migrate = in_dir(gatehouse(&["migrate"]));
    migrate.env("GATEHOUSE_CONFIG", &config);
    let migrated = run(migrate).await;
    assert_eq!(migrated.code, Some(0), "{}", migrated.stderr);
    assert!(migrated.stderr.contains("from-file.db"), "{}", migrated.stderr);
    let mut init = in_dir(gatehouse(&["init", "--owner-email", "ops@example.com", "--json"]));
    init.env("GATEHOUSE_CONFIG", &config);
    let credentials = run(init).await.json();
    assert_eq!(credentials["owner_email"], "ops@example.com");
    assert!(from_file.exists() && dir.path().join("from-file.db.key").exists());
    assert!(!dir.path().join("gatehouse.db").exists(), "nothing was made at the default path");

    let rotated = run(in_dir(gatehouse(&["keys", "rotate", "--config", config.to_str().unwrap()]))).await;
    assert!(rotated.ok().contains("new signing key"));
    assert!(!dir.path().join("gatehouse.db").exists());

    // A flag still beats the file.
    let by_flag = dir.path().join("by-flag.db");
    let database = format!("sqlite://{}", by_flag.display());
    let flagged =
        run(in_dir(gatehouse(&["migrate", "--config", config.to_str().unwrap(), "--database", &database]))).await;
    assert_eq!(flagged.code, Some(0), "{}", flagged.stderr);
    assert!(by_flag.exists());

    let mut broken = in_dir(gatehouse(&["keys", "rotate"]));
    broken.env("GATEHOUSE_CONFIG", dir.path().join("missing.toml"));
    let refused = run(broken).await;
    assert_ne!(refused.code, Some(0));
    assert!(refused.stderr.contains("cannot read the configuration file"), "{}", refused.stderr);
}

/// Debian's nginx terminating TLS with a self-signed certificate for `127.0.0.1`/`localhost`, in
/// front of `upstream` (a `TestApp`'s base URL). Stopped on drop.
struct TlsProxy {
    _nginx: Nginx,
    url: String,
    certificate: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start_tls_proxy(upstream: &str) -> TlsProxy {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().display().to_string();
    // An end-entity certificate (CA:FALSE, serverAuth), which rustls also accepts as its own
    // trust anchor; `openssl req -x509`'s default would be a CA, which rustls refuses as a server.
    std::fs::write(
        dir.path().join("openssl.cnf"),
        "[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = leaf\n\
         [dn]\nCN = localhost\n\
         [leaf]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
         extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    let openssl = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-config", "openssl.cnf", "-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run openssl, which this test needs: {error}"));
    assert!(openssl.status.success(), "openssl failed: {}", String::from_utf8_lossy(&openssl.stderr));

    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {prefix}/client_body;\n  proxy_temp_path {prefix}/proxy;\n\
         \x20 fastcgi_temp_path {prefix}/fastcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
         \x20 server {{\n    listen {listen} ssl;\n    ssl_certificate {prefix}/cert.pem;\n\
         \x20   ssl_certificate_key {prefix}/key.pem;\n\
         \x20   location / {{ proxy_pass {upstream}; proxy_set_header Host $http_host; }}\n  }}\n}}\n"
    );
    let nginx = Nginx::start(dir.path(), &config, &listen).await;
    TlsProxy { _nginx: nginx, url: format!("https://{listen}"), certificate: dir.path().join("cert.pem"), _dir: dir }
}

/// `gatehouse clients ARGS --url URL` as the bootstrap admin client, trusting only what
/// `trust` names (no `SSL_CERT_*` from the caller's environment).
fn admin_over(app: &TestApp, url: &str, trust: Option<&Path>, args: &[&str]) -> Command {
    let mut command = gatehouse(&["clients"]);
    command.args(args).args(["--url", url]);
    command.env("GATEHOUSE_CLIENT_ID", &app.admin.client_id).env("GATEHOUSE_CLIENT_SECRET", &app.admin.client_secret);
    command.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    if let Some(certificate) = trust {
        command.env("SSL_CERT_FILE", certificate);
    }
    command
}

#[tokio::test]
async fn the_command_line_reaches_a_server_over_https_and_checks_its_certificate() {
    let app = TestApp::spawn().await;
    let proxy = start_tls_proxy(&app.base_url).await;

    let listed = run(admin_over(&app, &proxy.url, Some(&proxy.certificate), &["list", "--json"])).await.json();
    let ids: Vec<&str> = listed["clients"].as_array().unwrap().iter().filter_map(|c| c["client_id"].as_str()).collect();
    assert!(ids.contains(&app.admin.client_id.as_str()), "{listed}");

    // The same server, its certificate not trusted: refused before any secret is sent.
    let untrusted = run(admin_over(&app, &proxy.url, None, &["list", "--json"])).await;
    assert_eq!(untrusted.code, Some(3), "{}", untrusted.stderr);
    assert!(untrusted.stdout.is_empty(), "{}", untrusted.stdout);
    assert!(
        untrusted.stderr.contains("certificate") && untrusted.stderr.contains("SSL_CERT_FILE"),
        "{}",
        untrusted.stderr
    );

    // Plain HTTP beyond this machine is refused up front, and allowed when asked for.
    let cleartext = run(admin_over(&app, "http://gatehouse.invalid", None, &["list"])).await;
    assert_eq!(cleartext.code, Some(2), "{}", cleartext.stderr);
    assert!(cleartext.stderr.contains("cleartext") && cleartext.stderr.contains("--allow-insecure-http"));
    let allowed = run(admin_over(&app, "http://gatehouse.invalid", None, &["list", "--allow-insecure-http"])).await;
    assert_eq!(allowed.code, Some(3), "past the URL check, the name does not resolve: {}", allowed.stderr);
}
