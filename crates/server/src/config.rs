//! Typed configuration for `serve`, validated before anything starts.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use gatehouse_domain::master_key::MasterKey;
use gatehouse_domain::store::{CapPolicy, LiveTokenCap};

use crate::http::client_address::TrustedProxies;

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
    /// How long a connection may take to send a request's headers (SECURITY.md: slow sockets
    /// must not starve real clients).
    pub header_read_timeout: std::time::Duration,
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
            header_read_timeout: std::time::Duration::from_secs(10),
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
}
