//! Typed configuration for `serve`, validated before anything starts.

use gatehouse_domain::jwks::JwksTiming;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gatehouse_domain::master_key::MasterKey;
use gatehouse_domain::store::{CapPolicy, LiveTokenCap};
use serde::Deserialize;

use crate::http::client_address::TrustedProxies;
use crate::http::cors::CorsOrigins;

/// Where the master key comes from: the environment, a file, or (for SQLite) a file beside the
/// database that is created on first start.
#[derive(Clone, Debug)]
pub enum MasterKeySource {
    /// Base64 of 32 bytes, from `GATEHOUSE_MASTER_KEY`.
    Inline(String),
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the master key file {path}: {source}")]
    ReadKey { path: PathBuf, source: std::io::Error },
    #[error("cannot create the master key file {path}: {source}")]
    WriteKey { path: PathBuf, source: std::io::Error },
    #[error("the master key {0} is not 32 bytes of base64")]
    BadKey(String),
    #[error(
        "the master key file {0} is missing but the database already holds keys: restore the file or set GATEHOUSE_MASTER_KEY"
    )]
    MissingKey(PathBuf),
    #[error("no master key configured: set GATEHOUSE_MASTER_KEY or --master-key-file for a non-SQLite database")]
    NoKey,
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read the configuration file {path}: {source}")]
    ReadFile { path: PathBuf, source: std::io::Error },
    #[error("the configuration file {path} is not valid: {message}")]
    BadFile { path: PathBuf, message: String },
}

/// Seed rule 11, as `--token-cap-policy` and the configuration file spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenCapPolicy {
    RevokeOldest,
    Refuse,
}

impl From<TokenCapPolicy> for CapPolicy {
    fn from(policy: TokenCapPolicy) -> Self {
        match policy {
            TokenCapPolicy::RevokeOldest => CapPolicy::RevokeOldest,
            TokenCapPolicy::Refuse => CapPolicy::Refuse,
        }
    }
}

/// The TOML file of `serve --config`: every key optional, named after its flag with underscores.
/// It sits between the defaults and the environment (STYLE.md point 8); an unknown key is an
/// error, so a misspelt setting cannot be silently ignored.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub issuer: Option<String>,
    pub owner_email: Option<String>,
    pub leeway_seconds: Option<i64>,
    pub token_cap_policy: Option<TokenCapPolicy>,
    /// A TOML array, where the flag takes a comma-separated list.
    pub trusted_proxies: Option<Vec<String>>,
    pub redis: Option<String>,
    pub allow_private_jwks: Option<bool>,
    /// A TOML array, where the flag takes a comma-separated list.
    pub cors_allowed_origins: Option<Vec<String>>,
    pub master_key_file: Option<PathBuf>,
    pub master_key: Option<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|message| ConfigError::BadFile { path: path.to_owned(), message })
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        // toml's own Display quotes the offending line, which may hold the master key: report
        // the message and its position only.
        let file: Self = toml::from_str(text).map_err(|error| match error.span() {
            Some(span) => {
                let (line, column) = line_and_column(text, span.start);
                format!("line {line}, column {column}: {}", error.message())
            }
            None => error.message().to_owned(),
        })?;
        if file.master_key.is_some() && file.master_key_file.is_some() {
            return Err("set master_key or master_key_file, not both".to_owned());
        }
        if let Some(proxies) = &file.trusted_proxies {
            TrustedProxies::parse(&proxies.join(",")).map_err(|error| format!("trusted_proxies: {error}"))?;
        }
        if let Some(origins) = &file.cors_allowed_origins {
            CorsOrigins::parse(&origins.join(",")).map_err(|error| format!("cors_allowed_origins: {error}"))?;
        }
        Ok(file)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// Settings of a running server.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    /// Defaults to `http://<listen address>`.
    pub issuer: Option<String>,
    pub master_key: Option<MasterKeySource>,
    /// Owner of the account created when `serve` finds an empty database.
    pub owner_email: String,
    pub leeway_seconds: i64,
    /// Seed rule 11: what minting an 11th live token does.
    pub token_cap_policy: CapPolicy,
    /// How often signing keys are re-read, so a rotation made elsewhere is picked up.
    pub key_refresh: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` / `X-Real-IP` are believed (seed rule 13).
    pub trusted_proxies: TrustedProxies,
    /// Redis for rate-limit counters shared by every instance; in-process when absent.
    pub redis_url: Option<String>,
    /// Origins whose browser apps may call the API; none (CORS off) by default.
    pub cors_allowed_origins: CorsOrigins,
    /// What a connection may take of the server: time and sockets.
    pub connections: ConnectionSettings,
    /// Whether identity providers' keys (`oidc` profiles) may be fetched from private,
    /// link-local and loopback addresses: for internal providers and tests.
    pub allow_private_jwks: bool,
    /// How long fetched provider keys are used, and how soon an unknown key id fetches again.
    pub jwks_timing: JwksTiming,
}

/// How long a connection may take over each part of an exchange, and how many one address may
/// hold, so slow or idle sockets cannot starve real clients of the server's connections.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionSettings {
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// How long, once its headers are in, a request may take to send its body.
    pub body_read_timeout: std::time::Duration,
    /// How long a write to a caller may make no progress (it reads nothing) before the
    /// connection is closed.
    pub write_stall_timeout: std::time::Duration,
    /// Connections one address (an IPv6 /64) may hold at once; trusted proxies are exempt.
    pub max_connections_per_address: usize,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(10),
            write_stall_timeout: std::time::Duration::from_secs(30),
            max_connections_per_address: 256,
        }
    }
}

impl ServeConfig {
    /// Defaults suitable for tests and local runs: an ephemeral port.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            issuer: None,
            master_key: None,
            owner_email: "owner@localhost".to_owned(),
            leeway_seconds: 5,
            token_cap_policy: CapPolicy::RevokeOldest,
            key_refresh: std::time::Duration::from_secs(2),
            trusted_proxies: TrustedProxies::default(),
            redis_url: None,
            cors_allowed_origins: CorsOrigins::default(),
            connections: ConnectionSettings::default(),
            allow_private_jwks: false,
            jwks_timing: JwksTiming::default(),
        }
    }

    pub fn token_cap(&self) -> LiveTokenCap {
        LiveTokenCap { policy: self.token_cap_policy, ..LiveTokenCap::default() }
    }

    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        self.issuer.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// The file path of a `sqlite:` URL, or `None` for an in-memory database or another backend.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The default key file of a SQLite database: beside it, named after it.
pub fn default_key_file(database_url: &str) -> Option<PathBuf> {
    sqlite_path(database_url).map(|db| {
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(".key");
        db.with_file_name(name)
    })
}

/// Loads the master key, creating the default key file only for a database that holds no keys
/// yet: creating a new key for existing data would lock every secret and signing key out.
pub fn load_master_key(
    source: Option<&MasterKeySource>,
    database_url: &str,
    database_has_keys: bool,
) -> Result<MasterKey, ConfigError> {
    let source = match source {
        Some(source) => source.clone(),
        None => MasterKeySource::File(default_key_file(database_url).ok_or(ConfigError::NoKey)?),
    };
    match source {
        MasterKeySource::Inline(text) => {
            MasterKey::from_base64(&text).map_err(|_| ConfigError::BadKey("GATEHOUSE_MASTER_KEY".to_owned()))
        }
        MasterKeySource::File(path) => match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::from_base64(&text).map_err(|_| ConfigError::BadKey(path.display().to_string())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if database_has_keys {
                    return Err(ConfigError::MissingKey(path));
                }
                let key = MasterKey::generate();
                write_key_file(&path, &key)?;
                tracing::info!(path = %path.display(), "created a new master key file; back it up with the database");
                Ok(key)
            }
            Err(source) => Err(ConfigError::ReadKey { path, source }),
        },
    }
}

fn write_key_file(path: &Path, key: &MasterKey) -> Result<(), ConfigError> {
    let error = |source| ConfigError::WriteKey { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    writeln!(file, "{}", key.to_base64()).map_err(error)?;
    file.sync_all().map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_map_to_paths_and_key_files() {
        assert_eq!(sqlite_path("sqlite://gatehouse.db"), Some(PathBuf::from("gatehouse.db")));
        assert_eq!(sqlite_path("sqlite:///var/lib/g.db?mode=rwc"), Some(PathBuf::from("/var/lib/g.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(default_key_file("sqlite://data/g.db"), Some(PathBuf::from("data/g.db.key")));
    }

    #[test]
    fn the_config_file_reads_every_serve_setting() {
        let file = ConfigFile::parse(
            r#"
            listen = "0.0.0.0:9000"
            database = "postgres://db/gatehouse"
            issuer = "https://auth.example.com"
            owner_email = "ops@example.com"
            leeway_seconds = 10
            token_cap_policy = "refuse"
            trusted_proxies = ["10.0.0.0/8", "192.168.1.1"]
            redis = "redis://cache:6379"
            master_key_file = "/etc/gatehouse/master.key"
            "#,
        )
        .unwrap();
        assert_eq!(file.listen, Some(SocketAddr::from(([0, 0, 0, 0], 9000))));
        assert_eq!(file.token_cap_policy, Some(TokenCapPolicy::Refuse));
        assert_eq!(file.trusted_proxies.unwrap().len(), 2);
        assert_eq!(file.master_key_file, Some(PathBuf::from("/etc/gatehouse/master.key")));
        assert!(ConfigFile::parse("").is_ok(), "an empty file changes nothing");
    }

    #[test]
    fn config_file_errors_name_the_key_and_never_quote_the_file() {
        let unknown = ConfigFile::parse("listen = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n").err().unwrap();
        assert!(unknown.contains("listen_adress") && unknown.starts_with("line 2, column 1"), "{unknown}");

        let wrong_type = ConfigFile::parse("leeway_seconds = \"soon\"").err().unwrap();
        assert!(wrong_type.starts_with("line 1,"), "{wrong_type}");

        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw==";
        let broken = ConfigFile::parse(&format!("master_key = \"{secret}\"\nredis = [")).err().unwrap();
        assert!(!broken.contains(secret), "{broken}");

        let both = ConfigFile::parse("master_key = \"k\"\nmaster_key_file = \"f\"").err().unwrap();
        assert!(both.contains("not both"));
        let proxies = ConfigFile::parse("trusted_proxies = [\"10.0.0.0/8\", \"nope\"]").err().unwrap();
        assert!(proxies.contains("trusted_proxies") && proxies.contains("nope"), "{proxies}");
    }
}
