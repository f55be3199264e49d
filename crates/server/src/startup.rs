//! Builds the application from configuration: store, keys, bootstrap, listener, router.

use crate::jwks_fetch::HttpJwksFetcher;
use std::net::SocketAddr;
use std::sync::Arc;

use gatehouse_domain::account::Email;
use gatehouse_domain::clock::{Clock, SystemClock};
use gatehouse_domain::error::DomainError;
use gatehouse_domain::service::{BootstrapCredentials, Gatehouse, Settings, StartError};
use gatehouse_domain::store::{Change, Store, StoreError};
use gatehouse_store_postgres::PostgresStore;
use gatehouse_store_sqlite::SqliteStore;
use tokio::net::TcpListener;

use crate::config::{ConfigError, ConnectionSettings, ServeConfig, load_master_key};
use crate::http::connections::ConnectionLimits;
use crate::http::{self, AppState, Shared};
use crate::metrics::Metrics;
use crate::redis_limiter::{RedisQuotas, RedisRateLimiter};
use gatehouse_domain::quota::StoreQuotas;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("start: {0}")]
    Start(#[from] StartError),
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] DomainError),
    #[error("cannot listen on {address}: {source}")]
    Bind { address: SocketAddr, source: std::io::Error },
    #[error("unsupported database URL (expected sqlite://PATH or postgres://...)")]
    UnsupportedDatabase,
}

/// Opens the store named by `database_url` and applies its migrations.
pub async fn open_store(database_url: &str) -> Result<Arc<dyn Store>, StartupError> {
    if database_url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(database_url).await?))
    } else {
        Err(StartupError::UnsupportedDatabase)
    }
}

/// Opens the store and the domain service on it, with its master key.
pub async fn open_gatehouse(
    database_url: &str,
    config: &ServeConfig,
    issuer: String,
    clock: &dyn Clock,
) -> Result<Gatehouse, StartupError> {
    let store = open_store(database_url).await?;
    let has_keys = !store.signing_keys().await?.is_empty();
    let master_key = load_master_key(config.master_key.as_ref(), database_url, has_keys)?;
    let settings = Settings { issuer, leeway_seconds: config.leeway_seconds, token_cap: config.token_cap() };
    Ok(Gatehouse::start(store, master_key, settings, clock.now()).await?)
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Set when this start initialised an empty database; shown to the operator once.
    pub bootstrap: Option<BootstrapCredentials>,
    key_refresh: std::time::Duration,
    connections: ConnectionSettings,
}

impl Application {
    pub async fn build(config: ServeConfig) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: ServeConfig, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind { address: config.listen, source })?;
        let bound = listener.local_addr().map_err(|source| StartupError::Bind { address: config.listen, source })?;
        let issuer = config.issuer_for(bound);
        let mut gatehouse = open_gatehouse(&config.database_url, &config, issuer.clone(), clock.as_ref()).await?;
        if let Some(url) = &config.redis_url {
            let limiter = RedisRateLimiter::connect(url).await.map_err(ConfigError::Invalid)?;
            gatehouse = gatehouse.with_rate_limiter(Arc::new(limiter));
            let in_database = Arc::new(StoreQuotas(gatehouse.store().clone()));
            let quotas = RedisQuotas::connect(url, in_database).await.map_err(ConfigError::Invalid)?;
            gatehouse = gatehouse.with_quota_counter(Arc::new(quotas));
            tracing::info!("rate-limit and quota counters are shared through Redis");
        }
        let fetcher = HttpJwksFetcher::new(config.allow_private_jwks).map_err(ConfigError::Invalid)?;
        gatehouse = gatehouse.with_jwks_fetcher(Arc::new(fetcher), config.jwks_timing);
        if config.allow_private_jwks {
            tracing::warn!("identity providers' keys may be fetched from private and loopback addresses");
        }
        if config.cors_allowed_origins.allows_any() {
            tracing::warn!("CORS allows any origin: every site's pages may call the API from their visitors' browsers");
        }
        let bootstrap = if gatehouse.store().is_initialised().await? {
            None
        } else {
            let owner = Email::parse(&config.owner_email)
                .map_err(|_| ConfigError::Invalid("--owner-email is not an email address".to_owned()))?;
            match gatehouse.bootstrap(owner, "Root account", clock.now()).await {
                Ok(credentials) => Some(credentials),
                // Another process initialised it between the check and the write.
                Err(DomainError::Conflict(_)) => None,
                Err(other) => return Err(other.into()),
            }
        };
        let state = AppState::new(Shared {
            gatehouse: Arc::new(gatehouse),
            clock,
            public_url: issuer.into(),
            trusted_proxies: config.trusted_proxies.clone(),
            metrics: Metrics::new(),
            cors: config.cors_allowed_origins.clone(),
        });
        Ok(Self { listener, state, bootstrap, key_refresh: config.key_refresh, connections: config.connections })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The domain service, for operators' tooling and tests that set up state directly.
    pub fn gatehouse(&self) -> Arc<Gatehouse> {
        self.state.gatehouse.clone()
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until `shutdown` completes, then drains in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(purge_expired_tokens(self.state.gatehouse.clone(), self.state.clock.clone()));
        let key_refresh =
            tokio::spawn(refresh_keys(self.state.gatehouse.clone(), self.state.clock.clone(), self.key_refresh));
        let changes = tokio::spawn(follow_changes(self.state.gatehouse.clone(), self.state.clock.clone()));
        let (stop_writing_uses, stopped) = tokio::sync::watch::channel(false);
        let credential_uses = tokio::spawn(write_credential_uses(self.state.gatehouse.clone(), stopped));
        let trusted_proxies = self.state.trusted_proxies.clone();
        let gatehouse = self.state.gatehouse.clone();
        let app = http::router(self.state);
        let served = serve(self.listener, app, self.connections, trusted_proxies, shutdown).await;
        // Reports of leaked credentials already answered are worked off: a leaked key must not
        // stay live because the server was restarting.
        gatehouse.finish_leak_reports(std::time::Duration::from_secs(10)).await;
        housekeeping.abort();
        key_refresh.abort();
        changes.abort();
        // Not aborted: a batch it has taken would be lost with it. It writes what is left and ends.
        let _ = stop_writing_uses.send(true);
        if credential_uses.await.is_err() {
            tracing::warn!("the writer of credential uses ended abnormally");
        }
        served
    }
}

/// Accepts connections until `shutdown`, then lets in-flight requests finish (at most 30 s).
/// A hand-written accept loop rather than `axum::serve`, which sets no header-read timeout: a
/// connection that does not finish its headers in time is closed, and one whose body does not
/// arrive in time is answered 408 and closed, so slow sockets cannot pile up and starve real
/// clients.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    settings: ConnectionSettings,
    trusted_proxies: http::client_address::TrustedProxies,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).keep_alive(true);
    let limits = ConnectionLimits::new(None, settings.max_connections_per_address);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // Room for one more connection first: at the limit, callers wait in the backlog.
        let room = tokio::select! {
            room = limits.wait_for_room() => room,
            () = &mut shutdown => break,
        };
        let Some(room) = room else { break };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(slot) = limits.admit(room, peer.ip(), trusted_proxies.trusts(peer.ip())) else {
                    tracing::debug!(%peer, "connection refused: the address holds its share already");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let stream = http::connections::StallGuard::new(stream, settings.write_stall_timeout);
                let service = app.clone().map_request(move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    http::request_body::with_deadline(request, settings.body_read_timeout)
                });
                let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _slot = slot;
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(std::time::Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("some connections were still busy 30 s after shutdown began");
    }
    Ok(())
}

/// Writes the credentials' last uses and the profiles' usage counts in batches (see
/// `gatehouse_domain::credential_use` and `gatehouse_domain::usage`), and
/// once more when `stop` turns true, so that a restart loses none. Only the wait between
/// batches is ever cut short, never a write under way.
async fn write_credential_uses(gatehouse: Arc<Gatehouse>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(gatehouse_domain::credential_use::WRITE_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = interval.tick() => false,
            _ = stop.wait_for(|stop| *stop) => true,
        };
        match gatehouse.write_credential_uses().await {
            Ok(0) => {}
            Ok(written) => tracing::debug!(written, "credential uses written"),
            Err(error) if stopping => {
                tracing::warn!(%error, "the last credential uses could not be written at shutdown")
            }
            Err(error) => tracing::warn!(%error, "credential uses could not be written; kept for the next batch"),
        }
        match gatehouse.write_usage().await {
            Ok(0) => {}
            Ok(written) => tracing::debug!(written, "usage counts written"),
            Err(error) if stopping => tracing::warn!(%error, "the last usage counts could not be written at shutdown"),
            Err(error) => tracing::warn!(%error, "usage counts could not be written; kept for the next batch"),
        }
        if stopping {
            return;
        }
    }
}

/// Applies what other instances change, as the store reports it. A store that cannot report
/// changes (SQLite: one instance) ends this at once; a feed that cannot be opened, or that
/// ends, is opened again, and everything cached is forgotten in between.
async fn follow_changes(gatehouse: Arc<Gatehouse>, clock: Arc<dyn Clock>) {
    let mut backoff = std::time::Duration::from_millis(200);
    loop {
        match gatehouse.store().changes().await {
            Ok(None) => return,
            Ok(Some(mut feed)) => {
                backoff = std::time::Duration::from_millis(200);
                gatehouse.apply_change(&Change::Resync, clock.now()).await;
                while let Some(change) = feed.recv().await {
                    gatehouse.apply_change(&change, clock.now()).await;
                }
                tracing::warn!("the change feed ended; subscribing again");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to other instances' changes; retrying"),
        }
        gatehouse.apply_change(&Change::Resync, clock.now()).await;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
}

/// Re-reads the signing keys on a short interval: a rotation made by `gatehouse keys rotate` or
/// another instance is published here well before the new key signs anything.
async fn refresh_keys(gatehouse: Arc<Gatehouse>, clock: Arc<dyn Clock>, every: std::time::Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = gatehouse.reload_keys(clock.now()).await {
            tracing::warn!(%error, "reloading signing keys failed; keeping the current ones");
        }
    }
}

/// Every few minutes, forget tokens that have expired, so the token table holds live tokens
/// only. A failure is logged and retried on the next round.
async fn purge_expired_tokens(gatehouse: Arc<Gatehouse>, clock: Arc<dyn Clock>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(300));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match gatehouse.purge_expired_tokens(clock.now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired tokens purged"),
            Err(error) => tracing::warn!(%error, "purging expired tokens failed"),
        }
    }
}
