//! PostgreSQL storage for Gatehouse: one database shared by any number of instances. The same
//! behaviour as the SQLite backend, method for method; where SQLite gets atomicity from its
//! single writer, transactions here take explicit locks (see `record_token`, `insert_profile`,
//! `bootstrap` and `delete_user`). Writes that other instances cache send a notification in
//! their transaction, and [`Store::changes`] follows them (see the `changes` module).
//!
//! Every transaction runs at READ COMMITTED, whatever the server's default: each statement then
//! sees everything committed before it started, which is what makes "lock, then count" exact.

mod accounts;
mod audit;
mod changes;
mod clients;
mod keys;
mod people;
mod policies;
mod profiles;
mod projects;
mod rows;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_domain::store::{Change, Store, StoreError};
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use tokio::sync::mpsc;

use crate::rows::map_error;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How many changes the feed holds for a slow consumer before the listener waits for it.
const FEED_CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// For the change listener's own connections.
    listener_options: PgConnectOptions,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/database`) and applies
    /// pending migrations. A database that cannot be reached fails within a few seconds, as
    /// `Unavailable`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::Internal(format!("bad PostgreSQL URL: {error}")))?;
        let name = options.get_application_name().unwrap_or("gatehouse").to_owned();
        let options = options.application_name(&name);
        let listener_options = options.clone().application_name(&format!("{name}:listener"));
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // Covers connecting too: a database that is down fails a request fast (503) instead
            // of holding it for the default 30 s.
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(map_error)?;
        migrate(&pool).await?;
        Ok(Self { pool, listener_options })
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin_with("begin isolation level read committed").await.map_err(map_error)
    }
}

/// Applies pending migrations on a connection of their own, taken out of the pool and closed
/// afterwards.
///
/// Several instances starting at once are safe: `sqlx::migrate!` builds on `Migrator::DEFAULT`,
/// whose `locking` is true, so `Migrator::run` calls `Migrate::lock`
/// before it reads `_sqlx_migrations`, which for PostgreSQL (sqlx-postgres 0.8.6,
/// `src/migrate.rs`) is a session-level `pg_advisory_lock` keyed on a CRC of the database name,
/// released by `unlock` once every migration is applied. Each migration runs in a transaction
/// together with its `_sqlx_migrations` row, so the instances that wait see it applied and skip
/// it. A failed migration returns before `unlock`: closing (or dropping) the dedicated connection
/// ends the session and with it the lock, which a pooled connection would have kept.
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn: PgConnection = pool.acquire().await.map_err(map_error)?.detach();
    let applied = MIGRATOR.run(&mut conn).await;
    if let Err(error) = conn.close().await {
        tracing::debug!(%error, "closing the migration connection failed");
    }
    applied.map_err(|error| match error {
        MigrateError::Execute(error) | MigrateError::ExecuteMigration(error, _) => match map_error(error) {
            StoreError::Unavailable(message) => StoreError::Unavailable(message),
            other => StoreError::Internal(format!("migration failed: {other}")),
        },
        other => StoreError::Internal(format!("migration failed: {other}")),
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.pool).await.map_err(map_error)?;
        Ok(())
    }

    async fn close(&self) {
        // Also ends every change feed of this store (its follower watches the pool's close).
        self.pool.close().await;
    }

    async fn changes(&self) -> Result<Option<mpsc::Receiver<Change>>, StoreError> {
        if self.pool.is_closed() {
            return Err(StoreError::Unavailable("the store is closed".to_owned()));
        }
        // Subscribed before this returns: every change committed from now on is delivered.
        let listener = changes::open_listener(&self.listener_options).await.map_err(map_error)?;
        let (sender, receiver) = mpsc::channel(FEED_CAPACITY);
        tokio::spawn(changes::follow(listener, self.listener_options.clone(), self.pool.clone(), sender));
        Ok(Some(receiver))
    }
}
