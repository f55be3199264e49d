//! The `gatehouse` command line (DESIGN.md "Command line"). Every flag also reads a
//! `GATEHOUSE_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gatehouse_domain::account::Email;
use gatehouse_domain::clock::{Clock, SystemClock};
use gatehouse_domain::error::DomainError;
use gatehouse_domain::service::{BootstrapCredentials, Gatehouse};
use gatehouse_domain::store::CapPolicy;
use serde_json::json;

use crate::config::{MasterKeySource, ServeConfig};
use crate::http::client_address::TrustedProxies;
use crate::startup::{Application, StartupError, open_gatehouse, open_store};
use crate::telemetry;

#[derive(Parser)]
#[command(name = "gatehouse", version, about = "API clients, credentials and access tokens for your APIs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Initialises an empty database and prints its credentials once.
    Serve(ServeArgs),
    /// Initialise a database: root account, owner, and a bootstrap admin client.
    Init(InitArgs),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage the token signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
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
    database: DatabaseArgs,
    /// Seconds between publishing the new key and signing with it. Keep it above the servers'
    /// key refresh interval (2 s), so every instance knows the key before a token carries it.
    #[arg(long, default_value_t = 10)]
    activate_after: u32,
    #[command(flatten)]
    keys: KeyArgs,
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

#[derive(Args)]
struct ServeArgs {
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
    #[arg(long, env = "GATEHOUSE_TOKEN_CAP_POLICY", value_enum, default_value_t = CapPolicyArg::RevokeOldest)]
    token_cap_policy: CapPolicyArg,
    /// Comma-separated addresses or CIDR blocks of proxies whose X-Forwarded-For and X-Real-IP
    /// are believed. Without it the TCP peer is the client.
    #[arg(long, env = "GATEHOUSE_TRUSTED_PROXIES", default_value = "")]
    trusted_proxies: String,
    /// Redis URL for rate-limit counters shared by every instance (redis://HOST:PORT).
    #[arg(long, env = "GATEHOUSE_REDIS_URL")]
    redis: Option<String>,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CapPolicyArg {
    RevokeOldest,
    Refuse,
}

impl From<CapPolicyArg> for CapPolicy {
    fn from(arg: CapPolicyArg) -> Self {
        match arg {
            CapPolicyArg::RevokeOldest => CapPolicy::RevokeOldest,
            CapPolicyArg::Refuse => CapPolicy::Refuse,
        }
    }
}

#[derive(Args)]
struct InitArgs {
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

pub async fn run() -> ExitCode {
    telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Init(args) => init(args).await,
        Command::Migrate(args) => migrate(args).await,
        Command::Keys { command: KeysCommand::Rotate(args) } => rotate_keys(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gatehouse: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = ServeConfig {
        listen: args.listen,
        database_url: args.database.database_url,
        issuer: args.issuer.map(|issuer| issuer.trim_end_matches('/').to_owned()),
        master_key: args.keys.source(),
        owner_email: args.owner_email,
        leeway_seconds: args.leeway_seconds,
        token_cap_policy: args.token_cap_policy.into(),
        key_refresh: std::time::Duration::from_secs(2),
        trusted_proxies: TrustedProxies::parse(&args.trusted_proxies)
            .map_err(|error| format!("--trusted-proxies: {error}"))?,
        redis_url: args.redis,
        header_read_timeout: std::time::Duration::from_secs(10),
    };
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
async fn open_for_command(database: DatabaseArgs, keys: KeyArgs) -> Result<Gatehouse, String> {
    let mut config = ServeConfig::new(database.database_url.clone());
    config.master_key = keys.source();
    open_gatehouse(&database.database_url, &config, "http://127.0.0.1:8080".to_owned(), &SystemClock)
        .await
        .map_err(|error| error.to_string())
}

async fn init(args: InitArgs) -> Result<(), String> {
    let owner = Email::parse(&args.owner_email).map_err(|_| "--owner-email is not an email address".to_owned())?;
    let clock = SystemClock;
    let gatehouse = open_for_command(args.database, args.keys).await?;
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

async fn rotate_keys(args: RotateArgs) -> Result<(), String> {
    let clock = SystemClock;
    let gatehouse = open_for_command(args.database, args.keys).await?;
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

async fn migrate(args: DatabaseArgs) -> Result<(), String> {
    open_store(&args.database_url).await.map_err(|error: StartupError| error.to_string())?;
    eprintln!("gatehouse: migrations applied to {}", redact_url(&args.database_url));
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
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@db/x"), "postgres://***@db/x");
        assert_eq!(redact_url("sqlite://g.db"), "sqlite://g.db");
    }
}
