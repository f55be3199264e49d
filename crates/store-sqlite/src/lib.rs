//! SQLite storage for Gatehouse: one file in WAL mode, a pool of readers and two writers: sqlx's
//! single writer connection for everything but the live-token batches, and the token writer's
//! own connection for those (see [`token_writer`]). Both take SQLite's write lock up front
//! (`BEGIN IMMEDIATE`) and wait out the busy timeout for each other, so no `SQLITE_BUSY`
//! between our own writes reaches a client.

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
mod token_writer;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_domain::store::{Store, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::rows::map_error;
use crate::token_writer::TokenWriter;

/// How long a write waits for SQLite's write lock, held by the other writer or another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Whether a writer connection may go back to the pool. When a write fails for want of disk
/// space (or another I/O error), SQLite rolls the transaction back itself; sqlx's own ROLLBACK
/// then fails, and the connection believes it is still inside a transaction, refusing every
/// later BEGIN until the process restarts. The ping lets that queued ROLLBACK run first; a
/// connection still inside a transaction after it is closed, and the pool opens a fresh one.
async fn fresh_after_release(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::{Connection, TransactionManager};
    connection.ping().await?;
    let depth = <Sqlite as sqlx::Database>::TransactionManager::get_transaction_depth(connection);
    if depth > 0 {
        tracing::warn!("closing a writer connection left inside a failed transaction");
    }
    Ok(depth == 0)
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Runs the WAL checkpoints; see [`checkpoint_wal`].
    checkpointer: SqlitePool,
    /// Writes the live-token batches; see [`token_writer`].
    tokens: TokenWriter,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`) and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::Internal(format!("bad SQLite URL: {error}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL loses nothing when the process is killed: a committed
            // transaction is in the WAL before the commit returns. Only a power loss can cost
            // the last transactions, and FULL would halve write throughput for that.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // No ping before handing out a connection (sqlx's default): a connection to a local
        // file does not go stale, and each ping is a round trip to the connection's worker
        // thread, as dear as the statement itself.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .after_release(|connection, _| Box::pin(async move { fresh_after_release(connection).await }))
            .acquire_timeout(Duration::from_secs(10))
            // Checkpoints are the checkpointer's job, never a commit's.
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .map_err(map_error)?;
        MIGRATOR.run(&writer).await.map_err(|error| StoreError::Internal(format!("migration failed: {error}")))?;
        let tokens = TokenWriter::start(options.get_filename(), BUSY_TIMEOUT)?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            // 512 KiB of page cache each (SQLite's default is 2 MiB): the operating system caches
            // the file for all of them anyway, and four full caches were a quarter of the
            // process's memory after paging deep into 100k clients.
            .connect_with(options.clone().read_only(true).pragma("cache_size", "-512"))
            .await
            .map_err(map_error)?;
        let checkpointer =
            SqlitePoolOptions::new().max_connections(1).connect_with(options).await.map_err(map_error)?;
        tokio::spawn(checkpoint_wal(checkpointer.clone(), tokens.clone()));
        Ok(Self { writer, readers, checkpointer, tokens })
    }

    async fn begin(&self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        // The writer pool has one connection, so a transaction on it never waits for a lock
        // held by another of our writers. IMMEDIATE takes the write lock up front: another
        // process on the same file (`gatehouse init` beside a running server) then waits out
        // the busy timeout instead of failing a read-then-write transaction with SQLITE_BUSY.
        self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(map_error)
    }
}

/// Copies the WAL back into the database file every second, beside the writer. SQLite does
/// this by default in the commit that crosses 1,000 pages, and a checkpoint syncs the database
/// file: every token waiting on that commit waited for the disk too (token p99 10 ms at half
/// load, p50 0.8 ms). A passive checkpoint never blocks the writer.
///
/// But it never catches up with a writer that never pauses, and SQLite starts the WAL over only
/// once a checkpoint has copied all of it: under a steady mint the file grew without end (77 MB
/// after 12 s). So once it holds [`WAL_RESTART_FRAMES`], the token writer is asked to copy the
/// rest itself between two batches (no new frame can land meanwhile), and the next write starts
/// the WAL over.
async fn checkpoint_wal(pool: SqlitePool, tokens: TokenWriter) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if pool.is_closed() {
            return;
        }
        // (busy, frames in the WAL, frames copied)
        match sqlx::query_as::<_, (i64, i64, i64)>("pragma wal_checkpoint(passive)").fetch_one(&pool).await {
            Ok((_, frames, _)) if frames >= WAL_RESTART_FRAMES => tokens.checkpoint_after_next_batch(),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %map_error(error), "WAL checkpoint failed; retrying in a second"),
        }
    }
}

/// The WAL size (in pages: 16 MiB of 4 KiB pages) beyond which it is started over; see
/// [`checkpoint_wal`].
const WAL_RESTART_FRAMES: i64 = 4096;

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("select 1").execute(&self.readers).await.map_err(map_error)?;
        self.tokens.ping().await
    }

    async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
        self.checkpointer.close().await;
        self.tokens.stop().await;
    }
}
