//! SQLite storage for Gatehouse: one file in WAL mode, a pool of readers and two writers: sqlx's
//! single writer connection for everything but the live-token batches, and the token writer's
//! own connection for those (see [`token_writer`]). Both take SQLite's write lock up front
//! (`BEGIN IMMEDIATE`) and wait out the busy timeout for each other, so no `SQLITE_BUSY`
//! between our own writes reaches a client.

mod rows;
mod token_writer;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_domain::account::{Account, Email, Product, Role, User};
use gatehouse_domain::audit::AuditEvent;
use gatehouse_domain::client::{Client, ClientType};
use gatehouse_domain::ids::{AccountId, ClientId, ProfileId, TokenId, UserId};
use gatehouse_domain::profile::AccessProfile;
use gatehouse_domain::secret::SecretHash;
use gatehouse_domain::store::{
    AccountStore, AuditFilter, AuditStore, Bootstrap, ClientStore, KeyStore, LiveTokenCap, PageRequest, ProfileStore,
    RecordOutcome, SessionRecord, SessionStore, Store, StoreError, StoredSigningKey, TokenRecord, TokenState,
    TokenStore, UserStore,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;

use crate::rows::{AccountRow, AuditRow, ClientRow, ProfileRow, SigningKeyRow, UserRow, json, map_error};
use crate::token_writer::TokenWriter;

/// How long a write waits for SQLite's write lock, held by the other writer or another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Column list shared by every query that reads a whole client.
const CLIENT_COLUMNS: &str = "client_id, account_id, name, description, client_owner, client_owner_id, client_type, locked, enabled, \
     global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_generation, version, \
     date_created, date_updated";

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

    async fn client_from(&self, sql: &str, client_id: &ClientId) -> Result<Option<ClientRow>, StoreError> {
        sqlx::query_as::<_, ClientRow>(sql)
            .bind(client_id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)
    }
}

async fn insert_client_in(
    tx: &mut Transaction<'_, Sqlite>,
    client: &Client,
    secret_hash: &SecretHash,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into clients (client_id, account_id, name, description, client_owner, client_owner_id, client_type, \
         locked, enabled, global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_hash, \
         secret_generation, version, date_created, date_updated) \
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(client.client_id.as_str())
    .bind(client.account_id.as_str())
    .bind(client.name.as_str())
    .bind(client.description.as_str())
    .bind(client.client_owner.as_str())
    .bind(client.client_owner_id.as_str())
    .bind(client.client_type.as_str())
    .bind(client.locked)
    .bind(client.enabled)
    .bind(json(&client.scopes.global_resources)?)
    .bind(json(&client.scopes.products)?)
    .bind(i64::from(client.token_expiry.seconds()))
    .bind(json(&client.allowed_ips)?)
    .bind(client.rate_limit.map(|limit| json(&limit)).transpose()?)
    .bind(secret_hash.as_bytes())
    .bind(client.secret_generation)
    .bind(client.version)
    .bind(client.date_created)
    .bind(client.date_updated)
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    Ok(())
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
impl AccountStore for SqliteStore {
    async fn is_initialised(&self) -> Result<bool, StoreError> {
        let count: i64 =
            sqlx::query_scalar("select count(*) from accounts").fetch_one(&self.readers).await.map_err(map_error)?;
        Ok(count > 0)
    }

    async fn bootstrap(&self, bootstrap: &Bootstrap) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Checked inside the write transaction: two racing `init`s cannot both succeed.
        let count: i64 =
            sqlx::query_scalar("select count(*) from accounts").fetch_one(&mut *tx).await.map_err(map_error)?;
        if count > 0 {
            return Err(StoreError::Conflict("already initialised".to_owned()));
        }
        insert_account_in(&mut tx, &bootstrap.account, &bootstrap.products).await?;
        insert_user_in(&mut tx, &bootstrap.owner, &bootstrap.owner_password_hash).await?;
        insert_client_in(&mut tx, &bootstrap.client, &bootstrap.client_secret_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts where account_id = ?",
        )
        .bind(account_id.as_str())
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(row.map(AccountRow::into_account))
    }

    async fn child_accounts(&self, parent: &AccountId) -> Result<Vec<Account>, StoreError> {
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts \
             where parent_account_id = ? order by date_created, account_id",
        )
        .bind(parent.as_str())
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(rows.into_iter().map(AccountRow::into_account).collect())
    }

    async fn insert_product(&self, account_id: &AccountId, product: &Product) -> Result<(), StoreError> {
        sqlx::query("insert into products (account_id, name, description, path_prefixes) values (?, ?, ?, ?)")
            .bind(account_id.as_str())
            .bind(&product.name)
            .bind(&product.description)
            .bind(json(&product.path_prefixes)?)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn update_product(&self, account_id: &AccountId, product: &Product) -> Result<(), StoreError> {
        let result =
            sqlx::query("update products set description = ?, path_prefixes = ? where account_id = ? and name = ?")
                .bind(&product.description)
                .bind(json(&product.path_prefixes)?)
                .bind(account_id.as_str())
                .bind(&product.name)
                .execute(&self.writer)
                .await
                .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_product(&self, account_id: &AccountId, name: &str) -> Result<(), StoreError> {
        sqlx::query("delete from products where account_id = ? and name = ?")
            .bind(account_id.as_str())
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn product_in_use(&self, account_id: &AccountId, name: &str) -> Result<bool, StoreError> {
        let used: Option<i64> = sqlx::query_scalar(
            "select 1 from clients, json_each(clients.products) where clients.account_id = ? and json_each.value = ? limit 1",
        )
        .bind(account_id.as_str())
        .bind(name)
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(used.is_some())
    }

    async fn root_account(&self) -> Result<Option<AccountId>, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "select account_id from accounts where parent_account_id is null order by date_created, account_id limit 1",
        )
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(found.map(AccountId::from_string))
    }

    async fn root_product_names(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "select distinct p.name from products p join accounts a on a.account_id = p.account_id \
             where a.parent_account_id is null order by p.name",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)
    }

    async fn insert_account(&self, account: &Account, products: &[Product]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_account_in(&mut tx, account, products).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn products(&self, account_id: &AccountId) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("select name, description, path_prefixes from products where account_id = ? order by name")
                .bind(account_id.as_str())
                .fetch_all(&self.readers)
                .await
                .map_err(map_error)?;
        rows.into_iter()
            .map(|(name, description, prefixes)| {
                Ok(Product { name, description, path_prefixes: rows::from_json(&prefixes)? })
            })
            .collect()
    }
}

async fn insert_account_in(
    tx: &mut Transaction<'_, Sqlite>,
    account: &Account,
    products: &[Product],
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into accounts (account_id, name, parent_account_id, owner_user_id, date_created) values (?, ?, ?, ?, ?)",
    )
    .bind(account.account_id.as_str())
    .bind(&account.name)
    .bind(account.parent_account_id.as_ref().map(AccountId::as_str))
    .bind(account.owner_user_id.as_str())
    .bind(account.date_created)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    for product in products {
        sqlx::query("insert into products (account_id, name, description, path_prefixes) values (?, ?, ?, ?)")
            .bind(account.account_id.as_str())
            .bind(&product.name)
            .bind(&product.description)
            .bind(json(&product.path_prefixes)?)
            .execute(&mut **tx)
            .await
            .map_err(map_error)?;
    }
    Ok(())
}

async fn insert_user_in(tx: &mut Transaction<'_, Sqlite>, user: &User, password_hash: &str) -> Result<(), StoreError> {
    sqlx::query(
        "insert into users (user_id, account_id, email, role, password_hash, date_created) values (?, ?, ?, ?, ?, ?)",
    )
    .bind(user.user_id.as_str())
    .bind(user.account_id.as_str())
    .bind(user.email.as_str())
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(user.date_created)
    .execute(&mut **tx)
    .await
    .map_err(map_error)?;
    Ok(())
}

const USER_COLUMNS: &str = "user_id, account_id, email, role, date_created";

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_user_in(&mut tx, user, password_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn user(&self, user_id: &UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!("select {USER_COLUMNS} from users where user_id = ?"))
            .bind(user_id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_by_email(&self, account_id: &AccountId, email: &Email) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("select {USER_COLUMNS} from users where account_id = ? and email = ?"))
                .bind(account_id.as_str())
                .bind(email.as_str())
                .fetch_optional(&self.readers)
                .await
                .map_err(map_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_for_login(
        &self,
        account_id: &AccountId,
        email: &Email,
    ) -> Result<Option<(User, String)>, StoreError> {
        let row: Option<(String, String, String, String, OffsetDateTime, String)> = sqlx::query_as(
            "select user_id, account_id, email, role, date_created, password_hash from users \
             where account_id = ? and email = ?",
        )
        .bind(account_id.as_str())
        .bind(email.as_str())
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        row.map(|(user_id, account_id, email, role, date_created, hash)| {
            UserRow { user_id, account_id, email, role, date_created }.into_user().map(|user| (user, hash))
        })
        .transpose()
    }

    async fn users(&self, account_id: &AccountId) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("select {USER_COLUMNS} from users where account_id = ? order by seq"))
                .bind(account_id.as_str())
                .fetch_all(&self.readers)
                .await
                .map_err(map_error)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn update_user_role(&self, user_id: &UserId, role: Role) -> Result<(), StoreError> {
        let result = sqlx::query("update users set role = ? where user_id = ?")
            .bind(role.as_str())
            .bind(user_id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn transfer_account_ownership(&self, account_id: &AccountId, new_owner: &UserId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let previous: Option<String> = sqlx::query_scalar("select owner_user_id from accounts where account_id = ?")
            .bind(account_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        let previous = previous.ok_or(StoreError::NotFound)?;
        let promoted = sqlx::query("update users set role = 'owner' where user_id = ? and account_id = ?")
            .bind(new_owner.as_str())
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if promoted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("update users set role = 'admin' where user_id = ? and account_id = ? and user_id <> ?")
            .bind(&previous)
            .bind(account_id.as_str())
            .bind(new_owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        sqlx::query("update accounts set owner_user_id = ? where account_id = ?")
            .bind(new_owner.as_str())
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<ClientId>, StoreError> {
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("select 1 from users where user_id = ?")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        exists.ok_or(StoreError::NotFound)?;
        // An account's owner stays: their clients would have nobody to pass to. That includes
        // an owner who handed their own account on but still owns child accounts they made.
        let owns: Option<i64> = sqlx::query_scalar("select 1 from accounts where owner_user_id = ? limit 1")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        if owns.is_some() {
            return Err(StoreError::Conflict("the user owns an account".to_owned()));
        }
        // Each client the user owned passes to the owner of the client's own account.
        let handed_over: Vec<String> = sqlx::query_scalar(
            "update clients set (client_owner_id, client_owner) = ( \
               select u.user_id, u.email from accounts a join users u on u.user_id = a.owner_user_id \
               where a.account_id = clients.account_id), \
               enabled = case when client_type = 'admin' then 0 else enabled end, version = version + 1 \
             where client_owner_id = ? returning client_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        sqlx::query("delete from users where user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(handed_over.into_iter().map(ClientId::from_string).collect())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query("insert into sessions (token_hash, user_id, created_at, expires_at) values (?, ?, ?, ?)")
            .bind(&session.token_hash)
            .bind(session.user_id.as_str())
            .bind(session.created_at.unix_timestamp())
            .bind(session.expires_at.unix_timestamp())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "select u.user_id, u.account_id, u.email, u.role, u.date_created from sessions s \
             join users u on u.user_id = s.user_id where s.token_hash = ? and s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now.unix_timestamp())
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("delete from sessions where token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_events (event_id, account_id, actor_type, actor_id, actor_email, action, target_type, \
             target_id, outcome, reason, source_ip, occurred_at, details) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&event.event_id)
        .bind(event.account_id.as_str())
        .bind(&event.actor_type)
        .bind(&event.actor_id)
        .bind(&event.actor_email)
        .bind(&event.action)
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(event.outcome.as_str())
        .bind(&event.reason)
        .bind(&event.source_ip)
        .bind(event.occurred_at)
        .bind(json(&event.details)?)
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn audit_events(
        &self,
        account_id: &AccountId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<(Vec<AuditEvent>, u64), StoreError> {
        const WHERE: &str =
            "where account_id = ?1 and (?2 is null or target_id = ?2) and (?3 is null or actor_id = ?3)";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from audit_events {WHERE}"))
            .bind(account_id.as_str())
            .bind(&filter.target_id)
            .bind(&filter.actor_id)
            .fetch_one(&self.readers)
            .await
            .map_err(map_error)?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "select event_id, account_id, actor_type, actor_id, actor_email, action, target_type, target_id, outcome, \
             reason, source_ip, occurred_at, details from audit_events {WHERE} order by seq desc limit ?4 offset ?5"
        ))
        .bind(account_id.as_str())
        .bind(&filter.target_id)
        .bind(&filter.actor_id)
        .bind(i64::from(page.size))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)?;
        let events = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok((events, u64::try_from(total).unwrap_or_default()))
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &Client, secret_hash: &SecretHash) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_client_in(&mut tx, client, secret_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS}, null as secret_hash from clients where client_id = ?");
        self.client_from(&sql, client_id).await?.map(ClientRow::into_client).transpose()
    }

    async fn client_with_secret(&self, client_id: &ClientId) -> Result<Option<(Client, SecretHash)>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS}, secret_hash from clients where client_id = ?");
        let Some(row) = self.client_from(&sql, client_id).await? else {
            return Ok(None);
        };
        let hash = row.secret_hash.clone().ok_or_else(|| StoreError::Internal("client without a secret".into()))?;
        Ok(Some((row.into_client()?, SecretHash::from_bytes(hash))))
    }

    async fn list_clients(
        &self,
        account_id: &AccountId,
        client_type: Option<ClientType>,
        page: PageRequest,
    ) -> Result<(Vec<Client>, u64), StoreError> {
        let client_type = client_type.map(ClientType::as_str);
        // One statement per filter, so each uses its own index (a `?2 is null or ...` clause
        // defeats the planner); the page is found in the index first, then its rows are read.
        let filter = if client_type.is_some() { "and client_type = ?2" } else { "and ?2 is null" };
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from clients where account_id = ?1 {filter}"))
            .bind(account_id.as_str())
            .bind(client_type)
            .fetch_one(&self.readers)
            .await
            .map_err(map_error)?;
        let sql = format!(
            "select {CLIENT_COLUMNS}, null as secret_hash from clients where seq in ( \
               select seq from clients where account_id = ?1 {filter} order by seq limit ?3 offset ?4) \
             order by seq"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(i64::from(page.size))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await
            .map_err(map_error)?;
        let clients = rows.into_iter().map(ClientRow::into_client).collect::<Result<Vec<_>, _>>()?;
        Ok((clients, u64::try_from(total).unwrap_or_default()))
    }

    async fn update_client(&self, client: &Client, expected_version: i64) -> Result<Client, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update clients set name = ?, description = ?, client_owner = ?, client_owner_id = ?, client_type = ?, \
             locked = ?, enabled = ?, global_resources = ?, products = ?, token_expiry_seconds = ?, allowed_ips = ?, rate_limit = ?, \
             date_updated = ?, version = version + 1 \
             where client_id = ? and version = ?",
        )
        .bind(client.name.as_str())
        .bind(client.description.as_str())
        .bind(client.client_owner.as_str())
        .bind(client.client_owner_id.as_str())
        .bind(client.client_type.as_str())
        .bind(client.locked)
        .bind(client.enabled)
        .bind(json(&client.scopes.global_resources)?)
        .bind(json(&client.scopes.products)?)
        .bind(i64::from(client.token_expiry.seconds()))
        .bind(json(&client.allowed_ips)?)
        .bind(client.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(client.date_updated)
        .bind(client.client_id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            let exists: Option<i64> = sqlx::query_scalar("select 1 from clients where client_id = ?")
                .bind(client.client_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_error)?;
            return Err(if exists.is_some() { StoreError::VersionMismatch } else { StoreError::NotFound });
        }
        let updated = fetch_client_in(&mut tx, &client.client_id).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn renew_client_secret(
        &self,
        client_id: &ClientId,
        secret_hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<Client, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update clients set secret_hash = ?, secret_generation = secret_generation + 1, version = version + 1, \
             date_updated = ? where client_id = ?",
        )
        .bind(secret_hash.as_bytes())
        .bind(now)
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        // The generation bump already refuses them; deleting keeps the table small.
        sqlx::query("delete from access_tokens where client_id = ? and profile_id is null")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let updated = fetch_client_in(&mut tx, client_id).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from clients where client_id = ?")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_error)
    }
}

async fn fetch_client_in(tx: &mut Transaction<'_, Sqlite>, client_id: &ClientId) -> Result<Client, StoreError> {
    let sql = format!("select {CLIENT_COLUMNS}, null as secret_hash from clients where client_id = ?");
    let row: ClientRow = sqlx::query_as(&sql)
        .bind(client_id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(map_error)?
        .ok_or(StoreError::NotFound)?;
    row.into_client()
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn record_tokens(
        &self,
        tokens: &[TokenRecord],
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        self.tokens.record(tokens.to_vec(), cap, now).await
    }

    async fn revoke_token(&self, jti: &TokenId) -> Result<(), StoreError> {
        sqlx::query("update access_tokens set revoked = 1 where jti = ?")
            .bind(jti.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn token_state(&self, jti: &TokenId) -> Result<Option<TokenState>, StoreError> {
        let row: Option<(String, Option<String>, i64, bool)> =
            sqlx::query_as("select client_id, profile_id, secret_generation, revoked from access_tokens where jti = ?")
                .bind(jti.as_str())
                .fetch_optional(&self.readers)
                .await
                .map_err(map_error)?;
        Ok(row.map(|(client_id, profile_id, secret_generation, revoked)| TokenState {
            client_id: ClientId::from_string(client_id),
            profile_id: profile_id.map(ProfileId::from_string),
            secret_generation,
            revoked,
        }))
    }

    /// Walks the table in key order, a window of [`PURGE_WINDOW`] tokens per transaction: no
    /// index on the expiry (see the migration `token_table_by_jti`), and no transaction that
    /// holds the writer, and so the token endpoint, for longer than one window's scan.
    async fn purge_expired_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut purged = 0;
        let mut after = String::new();
        loop {
            let window_end: Option<String> = sqlx::query_scalar(
                "select max(jti) from (select jti from access_tokens where jti > ? order by jti limit ?)",
            )
            .bind(&after)
            .bind(PURGE_WINDOW)
            .fetch_one(&self.readers)
            .await
            .map_err(map_error)?;
            let Some(window_end) = window_end else {
                return Ok(purged);
            };
            let result = sqlx::query("delete from access_tokens where jti > ? and jti <= ? and expires_at < ?")
                .bind(&after)
                .bind(&window_end)
                .bind(before.unix_timestamp())
                .execute(&self.writer)
                .await
                .map_err(map_error)?;
            purged += result.rows_affected();
            after = window_end;
        }
    }
}

/// Tokens the purge looks at per transaction: about a millisecond of the writer's time.
const PURGE_WINDOW: i64 = 2_000;

const PROFILE_COLUMNS: &str = "profile_id, client_id, name, products, auth_method, allowed_ips, rate_limit, active, \
     secret_generation, version, date_created, date_updated";

impl SqliteStore {
    async fn profile_row(&self, profile_id: &ProfileId) -> Result<Option<(ProfileRow, Vec<u8>)>, StoreError> {
        let sql = format!("select {PROFILE_COLUMNS}, credential_hash from access_profiles where profile_id = ?");
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(profile_id.as_str()).fetch_optional(&self.readers).await.map_err(map_error)?;
        Ok(row.map(|row| {
            let hash = row.credential_hash.clone().unwrap_or_default();
            (row, hash)
        }))
    }
}

#[async_trait]
impl ProfileStore for SqliteStore {
    async fn insert_profile(&self, profile: &AccessProfile, hash: &SecretHash, max: usize) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let count: i64 = sqlx::query_scalar("select count(*) from access_profiles where client_id = ?")
            .bind(profile.client_id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(map_error)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            return Err(StoreError::Conflict("too many access profiles".to_owned()));
        }
        sqlx::query(
            "insert into access_profiles (profile_id, client_id, name, products, auth_method, credential_hash, \
             allowed_ips, rate_limit, active, secret_generation, version, date_created, date_updated) \
             values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(profile.profile_id.as_str())
        .bind(profile.client_id.as_str())
        .bind(profile.name.as_str())
        .bind(json(&profile.products)?)
        .bind(profile.auth_method.as_str())
        .bind(hash.as_bytes())
        .bind(json(&profile.allowed_ips)?)
        .bind(profile.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(profile.active)
        .bind(profile.secret_generation)
        .bind(profile.version)
        .bind(profile.date_created)
        .bind(profile.date_updated)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn profiles(&self, client_id: &ClientId) -> Result<Vec<AccessProfile>, StoreError> {
        let sql = format!(
            "select {PROFILE_COLUMNS}, null as credential_hash from access_profiles where client_id = ? order by seq"
        );
        let rows: Vec<ProfileRow> =
            sqlx::query_as(&sql).bind(client_id.as_str()).fetch_all(&self.readers).await.map_err(map_error)?;
        rows.into_iter().map(ProfileRow::into_profile).collect()
    }

    async fn profile(&self, profile_id: &ProfileId) -> Result<Option<AccessProfile>, StoreError> {
        self.profile_row(profile_id).await?.map(|(row, _)| row.into_profile()).transpose()
    }

    async fn profile_with_secret(
        &self,
        profile_id: &ProfileId,
    ) -> Result<Option<(AccessProfile, SecretHash)>, StoreError> {
        let Some((row, hash)) = self.profile_row(profile_id).await? else {
            return Ok(None);
        };
        Ok(Some((row.into_profile()?, SecretHash::from_bytes(hash))))
    }

    async fn profile_by_key_hash(&self, hash: &SecretHash) -> Result<Option<AccessProfile>, StoreError> {
        let sql = format!(
            "select {PROFILE_COLUMNS}, null as credential_hash from access_profiles \
             where credential_hash = ? and auth_method = 'api_key'"
        );
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(hash.as_bytes()).fetch_optional(&self.readers).await.map_err(map_error)?;
        row.map(ProfileRow::into_profile).transpose()
    }

    async fn update_profile(
        &self,
        profile: &AccessProfile,
        expected_version: i64,
    ) -> Result<AccessProfile, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update access_profiles set name = ?, products = ?, allowed_ips = ?, rate_limit = ?, active = ?, \
             date_updated = ?, version = version + 1 where profile_id = ? and version = ?",
        )
        .bind(profile.name.as_str())
        .bind(json(&profile.products)?)
        .bind(json(&profile.allowed_ips)?)
        .bind(profile.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(profile.active)
        .bind(profile.date_updated)
        .bind(profile.profile_id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::VersionMismatch);
        }
        let sql =
            format!("select {PROFILE_COLUMNS}, null as credential_hash from access_profiles where profile_id = ?");
        let row: ProfileRow =
            sqlx::query_as(&sql).bind(profile.profile_id.as_str()).fetch_one(&mut *tx).await.map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        row.into_profile()
    }

    async fn refresh_profile_credential(
        &self,
        profile_id: &ProfileId,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<AccessProfile, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update access_profiles set credential_hash = ?, secret_generation = secret_generation + 1, \
             version = version + 1, date_updated = ? where profile_id = ?",
        )
        .bind(hash.as_bytes())
        .bind(now)
        .bind(profile_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let sql =
            format!("select {PROFILE_COLUMNS}, null as credential_hash from access_profiles where profile_id = ?");
        let row: ProfileRow =
            sqlx::query_as(&sql).bind(profile_id.as_str()).fetch_one(&mut *tx).await.map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        row.into_profile()
    }

    async fn delete_profile(&self, profile_id: &ProfileId) -> Result<(), StoreError> {
        sqlx::query("delete from access_profiles where profile_id = ?")
            .bind(profile_id.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "select kid, sealed_private_key, public_key, created_at, activates_at from signing_keys order by activates_at desc",
        )
        .fetch_all(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(rows.into_iter().map(SigningKeyRow::into_key).collect())
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        sqlx::query(
            "insert into signing_keys (kid, sealed_private_key, public_key, created_at, activates_at) \
             values (?, ?, ?, ?, ?)",
        )
        .bind(&key.kid)
        .bind(&key.sealed_private_key)
        .bind(&key.public_key)
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        sqlx::query("delete from signing_keys where kid = ?")
            .bind(kid)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

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
