//! The `gatehouse` command line (DESIGN.md "Command line"). Every flag also reads a
//! `GATEHOUSE_*` environment variable; `serve` also reads a TOML file (`--config`).

mod clients;
mod projects;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use gatehouse_domain::account::Email;
use gatehouse_domain::clock::{Clock, SystemClock};
use gatehouse_domain::error::DomainError;
use gatehouse_domain::service::{BootstrapCredentials, Gatehouse};
use serde_json::json;

use crate::config::{ConfigFile, ConnectionSettings, MasterKeySource, ServeConfig, TokenCapPolicy};
use crate::http::client_address::TrustedProxies;
use crate::http::cors::CorsOrigins;
use crate::startup::{Application, StartupError, open_gatehouse, open_store};
use crate::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "API clients, credentials and access tokens for your APIs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines are written: `text` for people, `json` (one object per line) for log
    /// shippers.
    #[arg(long, global = true, env = "GATEHOUSE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Initialises an empty database and prints its credentials once.
    Serve(ServeArgs),
    /// Initialise a database: root account, owner, and a bootstrap admin client.
    Init(InitArgs),
    /// Apply pending database migrations and exit.
    Migrate(MigrateArgs),
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the API clients of a running server through its JSON API.
    Clients(clients::ClientsArgs),
    /// Manage the projects of a running server, and their members, through its JSON API.
    Projects(projects::ProjectsArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key. It is published at once and starts signing after
    /// --activate-after seconds; the previous key keeps verifying until its tokens expire.
    Rotate(RotateArgs),
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Seconds between publishing the new key and signing with it. Keep it above the servers'
    /// key refresh interval (2 s), so every instance knows the key before a token carries it.
    #[arg(long, default_value_t = 10)]
    activate_after: u32,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Args)]
struct MigrateArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[command(flatten)]
    database: DatabaseArgs,
}

/// The configuration file `serve` reads. The one-shot commands read it too, for the database
/// and the master key: with `GATEHOUSE_CONFIG` set for the server, `gatehouse migrate` or
/// `gatehouse keys rotate` must work on the server's database, not on a new SQLite file
/// created by the default.
#[derive(Args)]
struct ConfigArg {
    /// TOML file with any of the settings (keys named like the flags, with underscores). The
    /// environment and flags override it.
    #[arg(long, env = "GATEHOUSE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> Result<Option<ConfigFile>, String> {
        self.config.as_deref().map(ConfigFile::load).transpose().map_err(|error| error.to_string())
    }
}

impl DatabaseArgs {
    /// Takes the file's database unless a flag or the environment gave one.
    fn layer_file(&mut self, file: &ConfigFile, matches: &ArgMatches) {
        if let (Some(database), true) = (&file.database, file_may_set(matches.value_source("database_url"))) {
            self.database_url = database.clone();
        }
    }
}

impl KeyArgs {
    /// The key and its file are one setting: a key file given by a flag must not lose to an
    /// inline key from the file just because inline keys take precedence.
    fn layer_file(&mut self, file: &ConfigFile, matches: &ArgMatches) {
        let from_file = |id: &str| file_may_set(matches.value_source(id));
        if from_file("master_key") && from_file("master_key_file") {
            if let Some(key) = &file.master_key {
                self.master_key = Some(key.clone());
            }
            if let Some(path) = &file.master_key_file {
                self.master_key_file = Some(path.clone());
            }
        }
    }
}

#[derive(Args)]
struct DatabaseArgs {
    /// Database URL: sqlite://PATH (created if missing).
    #[arg(long = "database", env = "GATEHOUSE_DATABASE_URL", default_value = "sqlite://gatehouse.db")]
    database_url: String,
}

#[derive(Args)]
struct KeyArgs {
    /// File holding the base64 master key; defaults to the SQLite file's name plus `.key`.
    #[arg(long, env = "GATEHOUSE_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
    /// The base64 master key itself (takes precedence over the file).
    #[arg(long, env = "GATEHOUSE_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
}

impl KeyArgs {
    fn source(self) -> Option<MasterKeySource> {
        match (self.master_key, self.master_key_file) {
            (Some(inline), _) => Some(MasterKeySource::Inline(inline)),
            (None, Some(path)) => Some(MasterKeySource::File(path)),
            (None, None) => None,
        }
    }
}

/// The ids below (`listen`, `database_url`, ...) are also the names `layer_file` asks clap about.
#[derive(Args)]
struct ServeArgs {
    /// TOML file with any of these settings (keys named like the flags, with underscores).
    /// The environment and flags override it.
    #[arg(long, env = "GATEHOUSE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "GATEHOUSE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Public base URL, the `iss` of every token. Defaults to http://<listen address>.
    #[arg(long, env = "GATEHOUSE_ISSUER")]
    issuer: Option<String>,
    /// Owner of the account created on an empty database.
    #[arg(long, env = "GATEHOUSE_OWNER_EMAIL", default_value = "owner@localhost")]
    owner_email: String,
    /// Allowed clock skew, in seconds, for token `exp` and `iat`.
    #[arg(long, env = "GATEHOUSE_LEEWAY_SECONDS", default_value_t = 5)]
    leeway_seconds: i64,
    /// What minting an 11th live token for one credential does: revoke the oldest, or refuse.
    #[arg(long, env = "GATEHOUSE_TOKEN_CAP_POLICY", value_enum, default_value_t = TokenCapPolicy::RevokeOldest)]
    token_cap_policy: TokenCapPolicy,
    /// Comma-separated addresses or CIDR blocks of proxies whose X-Forwarded-For and X-Real-IP
    /// are believed. Without it the TCP peer is the client.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Redis URL for rate-limit counters shared by every instance (redis://HOST:PORT).
    #[arg(long, env = "GATEHOUSE_REDIS_URL")]
    redis: Option<String>,
    /// Let `oidc` profiles' identity-provider keys be fetched from private, link-local and
    /// loopback addresses (an internal provider, a test). Off: only public addresses.
    #[arg(long, env = "GATEHOUSE_ALLOW_PRIVATE_JWKS")]
    allow_private_jwks: bool,
    /// Comma-separated origins (https://app.example.com) whose browser apps may call the JSON
    /// API and the OAuth endpoints, or `*` for any. CORS is off without it.
    #[arg(long, env = "GATEHOUSE_CORS_ALLOWED_ORIGINS", default_value = "")]
    cors_allowed_origins: String,
    #[command(flatten)]
    keys: KeyArgs,
}

impl ServeArgs {
    /// STYLE.md point 8: defaults < file < environment < flags. clap has already merged the
    /// environment, the flags and the defaults; a file value replaces only what clap filled in
    /// from a default (or left empty).
    fn layer_file(mut self, file: ConfigFile, matches: &ArgMatches) -> Self {
        let from_file = |id: &str| file_may_set(matches.value_source(id));
        if let (Some(listen), true) = (file.listen, from_file("listen")) {
            self.listen = listen;
        }
        self.database.layer_file(&file, matches);
        self.keys.layer_file(&file, matches);
        if let (Some(issuer), true) = (file.issuer, from_file("issuer")) {
            self.issuer = Some(issuer);
        }
        if let (Some(owner_email), true) = (file.owner_email, from_file("owner_email")) {
            self.owner_email = owner_email;
        }
        if let (Some(leeway), true) = (file.leeway_seconds, from_file("leeway_seconds")) {
            self.leeway_seconds = leeway;
        }
        if let (Some(policy), true) = (file.token_cap_policy, from_file("token_cap_policy")) {
            self.token_cap_policy = policy;
        }
        if let (Some(proxies), true) = (file.trusted_proxies, from_file("trusted_proxies")) {
            self.trusted_proxies = proxies.join(",");
        }
        if let (Some(redis), true) = (file.redis, from_file("redis")) {
            self.redis = Some(redis);
        }
        if let (Some(allow), true) = (file.allow_private_jwks, from_file("allow_private_jwks")) {
            self.allow_private_jwks = allow;
        }
        if let (Some(origins), true) = (file.cors_allowed_origins, from_file("cors_allowed_origins")) {
            self.cors_allowed_origins = origins.join(",");
        }
        self
    }

    fn into_config(self) -> Result<ServeConfig, String> {
        Ok(ServeConfig {
            listen: self.listen,
            database_url: self.database.database_url,
            issuer: self.issuer.map(|issuer| issuer.trim_end_matches('/').to_owned()),
            master_key: self.keys.source(),
            owner_email: self.owner_email,
            leeway_seconds: self.leeway_seconds,
            token_cap_policy: self.token_cap_policy.into(),
            key_refresh: std::time::Duration::from_secs(2),
            trusted_proxies: TrustedProxies::parse(&self.trusted_proxies)
                .map_err(|error| format!("trusted proxies: {error}"))?,
            redis_url: self.redis,
            cors_allowed_origins: CorsOrigins::parse(&self.cors_allowed_origins)
                .map_err(|error| format!("CORS allowed origins: {error}"))?,
            connections: ConnectionSettings::default(),
            allow_private_jwks: self.allow_private_jwks,
            jwks_timing: gatehouse_domain::jwks::JwksTiming::default(),
        })
    }
}

/// Whether a configuration file may set a value clap found from `source`: yes for a default or
/// nothing at all, no for the environment or the command line.
fn file_may_set(source: Option<ValueSource>) -> bool {
    !matches!(source, Some(ValueSource::EnvVariable | ValueSource::CommandLine))
}

#[derive(Args)]
struct InitArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Email of the account owner.
    #[arg(long, env = "GATEHOUSE_OWNER_EMAIL")]
    owner_email: String,
    /// Name of the root account.
    #[arg(long, default_value = "Root account")]
    account_name: String,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Print the credentials as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    keys: KeyArgs,
}

/// Why a command failed, and the exit status that says so.
struct Failure {
    message: String,
    code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, code: 1 }
    }
}

pub async fn run() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    telemetry::init(cli.log_format);
    warn_about_unknown_variables(std::env::vars_os().map(|(name, _)| name));
    let sub_matches = matches.subcommand().map_or(&matches, |(_, sub)| sub);
    let result = match cli.command {
        Command::Serve(args) => serve(args, sub_matches).await.map_err(Failure::from),
        Command::Init(args) => init(args, sub_matches).await.map_err(Failure::from),
        Command::Migrate(args) => migrate(args, sub_matches).await.map_err(Failure::from),
        Command::Keys { command: KeysCommand::Rotate(args) } => {
            let rotate_matches = sub_matches.subcommand().map_or(sub_matches, |(_, sub)| sub);
            rotate_keys(args, rotate_matches).await.map_err(Failure::from)
        }
        Command::Clients(args) => clients::run(args, sub_matches).await,
        Command::Projects(args) => projects::run(args, sub_matches).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("gatehouse: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Every `GATEHOUSE_*` variable some flag reads.
fn known_variables() -> BTreeSet<String> {
    fn collect(command: &clap::Command, known: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|name| name.to_str()) {
                known.insert(name.to_owned());
            }
        }
        for sub in command.get_subcommands() {
            collect(sub, known);
        }
    }
    let mut known = BTreeSet::new();
    collect(&Cli::command(), &mut known);
    known
}

/// The `GATEHOUSE_*` names among `names` that no flag reads: most likely misspelt settings that
/// would otherwise be ignored without a word.
fn unknown_variables(names: impl IntoIterator<Item = OsString>, known: &BTreeSet<String>) -> Vec<String> {
    let mut unknown: Vec<String> = names
        .into_iter()
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.starts_with("GATEHOUSE_") && !known.contains(name))
        .collect();
    unknown.sort();
    unknown
}

/// Names only: a variable's value may be a secret.
fn warn_about_unknown_variables(names: impl IntoIterator<Item = OsString>) {
    for variable in unknown_variables(names, &known_variables()) {
        tracing::warn!(%variable, "unknown GATEHOUSE_ environment variable, ignored");
    }
}

/// `matches` are the `serve` subcommand's: they tell which values came from a default.
async fn serve(args: ServeArgs, matches: &ArgMatches) -> Result<(), String> {
    let args = match &args.config {
        Some(path) => {
            let file = ConfigFile::load(path).map_err(|error| error.to_string())?;
            args.layer_file(file, matches)
        }
        None => args,
    };
    let config = args.into_config()?;
    let app = Application::build(config).await.map_err(|error| error.to_string())?;
    if let Some(credentials) = &app.bootstrap {
        print_bootstrap_banner(credentials, app.public_url());
    }
    tracing::info!(address = ?app.local_addr(), issuer = app.public_url(), "gatehouse is listening");
    app.run_until(shutdown_signal()).await.map_err(|error| error.to_string())?;
    tracing::info!("gatehouse stopped");
    Ok(())
}

/// The bootstrap credentials, once, clearly marked, to stderr (never through the log).
fn print_bootstrap_banner(credentials: &BootstrapCredentials, public_url: &str) {
    eprintln!(
        "\n==================== GATEHOUSE BOOTSTRAP CREDENTIALS (shown once) ====================\n\
         account_id:     {}\n\
         owner_email:    {}\n\
         owner_password: {}\n\
         client_id:      {}\n\
         client_secret:  {}\n\n\
         Get a token:\n  curl -s -u '{}:{}' -d grant_type=client_credentials {}/api-services/v1/auth/token\n\
         ======================================================================================\n",
        credentials.account_id,
        credentials.owner_email,
        credentials.owner_password,
        credentials.client_id,
        credentials.client_secret.expose(),
        credentials.client_id,
        credentials.client_secret.expose(),
        public_url,
    );
}

/// The domain service for a one-shot command. Such commands mint no tokens, so the issuer only
/// matters to a later `serve`.
/// The database and master key come from the flags, the environment or the configuration file,
/// in that order.
async fn open_for_command(
    config_file: &ConfigArg,
    mut database: DatabaseArgs,
    mut keys: KeyArgs,
    matches: &ArgMatches,
) -> Result<Gatehouse, String> {
    if let Some(file) = config_file.load()? {
        database.layer_file(&file, matches);
        keys.layer_file(&file, matches);
    }
    let mut config = ServeConfig::new(database.database_url.clone());
    config.master_key = keys.source();
    open_gatehouse(&database.database_url, &config, "http://127.0.0.1:8080".to_owned(), &SystemClock)
        .await
        .map_err(|error| error.to_string())
}

async fn init(args: InitArgs, matches: &ArgMatches) -> Result<(), String> {
    let owner = Email::parse(&args.owner_email).map_err(|_| "--owner-email is not an email address".to_owned())?;
    let clock = SystemClock;
    let gatehouse = open_for_command(&args.config, args.database, args.keys, matches).await?;
    let credentials = match gatehouse.bootstrap(owner, &args.account_name, clock.now()).await {
        Ok(credentials) => credentials,
        Err(DomainError::Conflict(_)) => {
            return Err("the database is already initialised; nothing was changed".to_owned());
        }
        Err(other) => return Err(other.to_string()),
    };
    if args.json {
        let object = json!({
            "account_id": credentials.account_id,
            "owner_email": credentials.owner_email,
            "owner_password": credentials.owner_password,
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.expose(),
        });
        println!("{object}");
    } else {
        println!("account_id:     {}", credentials.account_id);
        println!("owner_email:    {}", credentials.owner_email);
        println!("owner_password: {}", credentials.owner_password);
        println!("client_id:      {}", credentials.client_id);
        println!("client_secret:  {}", credentials.client_secret.expose());
        println!("These are shown once: store them now.");
    }
    Ok(())
}

async fn rotate_keys(args: RotateArgs, matches: &ArgMatches) -> Result<(), String> {
    let clock = SystemClock;
    let gatehouse = open_for_command(&args.config, args.database, args.keys, matches).await?;
    let rotated = gatehouse
        .rotate_keys(clock.now(), time::Duration::seconds(i64::from(args.activate_after)))
        .await
        .map_err(|error| error.to_string())?;
    println!("new signing key {} signs from {}", rotated.kid, rotated.activates_at);
    for kid in rotated.retired {
        println!("retired signing key {kid}");
    }
    Ok(())
}

async fn migrate(mut args: MigrateArgs, matches: &ArgMatches) -> Result<(), String> {
    if let Some(file) = args.config.load()? {
        args.database.layer_file(&file, matches);
    }
    let database_url = args.database.database_url;
    open_store(&database_url).await.map_err(|error: StartupError| error.to_string())?;
    eprintln!("gatehouse: migrations applied to {}", redact_url(&database_url));
    Ok(())
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://***{}", &url[..scheme_end], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Ctrl-C or SIGTERM: stop accepting, drain in-flight requests, exit 0.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::store::CapPolicy;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    /// Client ids are random base64url: about one in 32 begins with `-`, and must still be taken
    /// as an id, not refused as an unknown flag.
    #[test]
    fn a_client_id_that_begins_with_a_hyphen_is_an_id() {
        for argv in [
            ["gatehouse", "clients", "get", "-Gx7Q"].as_slice(),
            &["gatehouse", "clients", "--client-id", "-Gx7Q", "--client-secret", "s", "delete", "-Gx7Q"],
            &["gatehouse", "clients", "transfer", "-Gx7Q", "--owner", "a@example.com"],
            &["gatehouse", "clients", "update", "-Gx7Q", "--project", "prj_1"],
        ] {
            let matches = Cli::command().try_get_matches_from(argv);
            assert!(matches.is_ok(), "{argv:?}: {}", matches.err().map(|e| e.to_string()).unwrap_or_default());
        }
    }

    /// `projects` takes the connection flags of `clients`, before or after its command.
    #[test]
    fn projects_share_the_connection_flags_and_a_client_leaves_a_project_one_way() {
        for argv in [
            ["gatehouse", "projects", "--url", "https://gh.example", "list", "--json"].as_slice(),
            &["gatehouse", "projects", "create", "Billing", "--description", "d", "--token", "t"],
            &["gatehouse", "projects", "add-member", "prj_1", "usr_1", "--client-id", "i", "--client-secret", "s"],
            &["gatehouse", "clients", "list", "--project", "prj_1", "--all"],
        ] {
            let matches = Cli::command().try_get_matches_from(argv);
            assert!(matches.is_ok(), "{argv:?}: {}", matches.err().map(|e| e.to_string()).unwrap_or_default());
        }
        for argv in [
            ["gatehouse", "clients", "update", "abc", "--project", "prj_1", "--no-project"].as_slice(),
            &["gatehouse", "clients", "create", "--name", "n", "--no-project"],
            &["gatehouse", "clients", "list", "--project", ""],
            &["gatehouse", "projects", "remove-member", "prj_1"],
        ] {
            assert!(Cli::command().try_get_matches_from(argv).is_err(), "{argv:?}");
        }
    }

    /// `serve` parsed from `argv` (after `gatehouse serve`), with `file` layered on.
    fn layered(argv: &[&str], file: &str) -> ServeConfig {
        let matches = Cli::command().try_get_matches_from(["gatehouse", "serve"].iter().chain(argv)).unwrap();
        let serve_matches = matches.subcommand_matches("serve").unwrap();
        let Command::Serve(args) = Cli::from_arg_matches(&matches).unwrap().command else { panic!("not serve") };
        args.layer_file(ConfigFile::parse(file).unwrap(), serve_matches).into_config().unwrap()
    }

    const EVERY_SETTING: &str = r#"
        listen = "127.0.0.1:9000"
        database = "sqlite://from-file.db"
        issuer = "https://file.example/"
        owner_email = "file@example.com"
        leeway_seconds = 30
        token_cap_policy = "refuse"
        trusted_proxies = ["10.0.0.0/8"]
        redis = "redis://file:6379"
        cors_allowed_origins = ["https://app.example"]
        master_key = "from-file"
    "#;

    #[test]
    fn the_config_file_beats_the_defaults() {
        let config = layered(&[], EVERY_SETTING);
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.database_url, "sqlite://from-file.db");
        assert_eq!(config.issuer.as_deref(), Some("https://file.example"));
        assert_eq!(config.owner_email, "file@example.com");
        assert_eq!(config.leeway_seconds, 30);
        assert_eq!(config.token_cap_policy, CapPolicy::Refuse);
        assert_eq!(
            config.trusted_proxies.client_ip("10.1.1.1:1".parse().unwrap(), &forwarded("192.0.2.7")).to_string(),
            "192.0.2.7"
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://file:6379"));
        assert_eq!(config.cors_allowed_origins, CorsOrigins::parse("https://app.example").unwrap());
        assert!(matches!(config.master_key, Some(MasterKeySource::Inline(ref key)) if key == "from-file"));

        let defaults = layered(&[], "");
        assert_eq!(defaults.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(defaults.database_url, "sqlite://gatehouse.db");
        assert_eq!(defaults.token_cap_policy, CapPolicy::RevokeOldest);
        assert_eq!(defaults.leeway_seconds, 5, "the clock skew allowed for exp and iat");
        assert!(defaults.cors_allowed_origins.is_off(), "CORS is off by default");
    }

    #[test]
    fn flags_beat_the_config_file() {
        let config = layered(
            &[
                "--listen=127.0.0.1:9100",
                "--database=sqlite://flag.db",
                "--issuer=https://flag.example",
                "--owner-email=flag@example.com",
                "--leeway-seconds=1",
                "--token-cap-policy=revoke-oldest",
                "--trusted-proxies=",
                "--redis=redis://flag:6379",
                "--master-key-file=flag.key",
            ],
            EVERY_SETTING,
        );
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 9100)));
        assert_eq!(config.database_url, "sqlite://flag.db");
        assert_eq!(config.issuer.as_deref(), Some("https://flag.example"));
        assert_eq!(config.owner_email, "flag@example.com");
        assert_eq!(config.leeway_seconds, 1);
        assert_eq!(config.token_cap_policy, CapPolicy::RevokeOldest);
        assert_eq!(
            config.trusted_proxies.client_ip("10.1.1.1:1".parse().unwrap(), &forwarded("192.0.2.7")).to_string(),
            "10.1.1.1"
        );
        assert_eq!(config.redis_url.as_deref(), Some("redis://flag:6379"));
        // The file's inline key would outrank a key file; the flag's key file wins all the same.
        assert!(
            matches!(config.master_key, Some(MasterKeySource::File(ref path)) if path == &PathBuf::from("flag.key"))
        );
    }

    #[test]
    fn only_defaults_and_absent_values_give_way_to_the_file() {
        assert!(file_may_set(None));
        assert!(file_may_set(Some(ValueSource::DefaultValue)));
        assert!(!file_may_set(Some(ValueSource::EnvVariable)));
        assert!(!file_may_set(Some(ValueSource::CommandLine)));
    }

    #[test]
    fn unknown_gatehouse_variables_are_found_by_name() {
        let known = known_variables();
        for name in
            ["GATEHOUSE_LISTEN", "GATEHOUSE_CONFIG", "GATEHOUSE_MASTER_KEY", "GATEHOUSE_URL", "GATEHOUSE_CLIENT_SECRET"]
        {
            assert!(known.contains(name), "{name}");
        }
        let names = ["GATEHOUSE_LISTNE", "GATEHOUSE_LISTEN", "PATH", "gatehouse_listen"].map(OsString::from);
        assert_eq!(unknown_variables(names, &known), ["GATEHOUSE_LISTNE"]);
    }

    fn forwarded(address: &str) -> axum::http::HeaderMap {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        headers
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@db/x"), "postgres://***@db/x");
        assert_eq!(redact_url("sqlite://g.db"), "sqlite://g.db");
    }
}
