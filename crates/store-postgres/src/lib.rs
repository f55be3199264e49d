//! PostgreSQL storage for Gatehouse: one database shared by any number of instances. The same
//! behaviour as the SQLite backend, method for method; where SQLite gets atomicity from its
//! single writer, transactions here take explicit locks (see `record_token`, `insert_profile`,
//! `bootstrap` and `delete_user`). Writes that other instances cache send a notification in
//! their transaction, and [`Store::changes`] follows them (see the `changes` module).
//!
//! Every transaction runs at READ COMMITTED, whatever the server's default: each statement then
//! sees everything committed before it started, which is what makes "lock, then count" exact.

mod changes;
mod rows;

use std::collections::{BTreeSet, HashMap};
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
    AccountStore, AuditFilter, AuditStore, Bootstrap, Change, ClientStore, KeyStore, LiveToken, LiveTokenCap,
    PageRequest, ProfileStore, RecordOutcome, SessionRecord, SessionStore, Store, StoreError, StoredSigningKey,
    TokenRecord, TokenState, TokenStore, UserStore,
};
use gatehouse_domain::token_ledger::plan_recording;
use sqlx::migrate::MigrateError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::changes::{notify, payload, token_payloads};
use crate::rows::{AccountRow, AuditRow, ClientRow, ProfileRow, SigningKeyRow, UserRow, json, map_error};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Column list shared by every query that reads a whole client.
const CLIENT_COLUMNS: &str = "client_id, account_id, name, description, client_owner, client_owner_id, client_type, locked, enabled, \
     global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_generation, version, \
     date_created, date_updated";

const USER_COLUMNS: &str = "user_id, account_id, email, role, date_created";

const PROFILE_COLUMNS: &str = "profile_id, client_id, name, products, auth_method, allowed_ips, rate_limit, active, \
     secret_generation, version, date_created, date_updated";

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

    async fn client_from(&self, sql: &str, client_id: &ClientId) -> Result<Option<ClientRow>, StoreError> {
        sqlx::query_as::<_, ClientRow>(sql).bind(client_id.as_str()).fetch_optional(&self.pool).await.map_err(map_error)
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

async fn insert_client_in(
    conn: &mut PgConnection,
    client: &Client,
    secret_hash: &SecretHash,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into clients (client_id, account_id, name, description, client_owner, client_owner_id, client_type, \
         locked, enabled, global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_hash, \
         secret_generation, version, date_created, date_updated) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
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
    .execute(conn)
    .await
    .map_err(map_error)?;
    Ok(())
}

async fn insert_account_in(conn: &mut PgConnection, account: &Account, products: &[Product]) -> Result<(), StoreError> {
    sqlx::query(
        "insert into accounts (account_id, name, parent_account_id, owner_user_id, date_created) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(account.account_id.as_str())
    .bind(&account.name)
    .bind(account.parent_account_id.as_ref().map(AccountId::as_str))
    .bind(account.owner_user_id.as_str())
    .bind(account.date_created)
    .execute(&mut *conn)
    .await
    .map_err(map_error)?;
    for product in products {
        insert_product_in(&mut *conn, &account.account_id, product).await?;
    }
    Ok(())
}

async fn insert_product_in(
    conn: &mut PgConnection,
    account_id: &AccountId,
    product: &Product,
) -> Result<(), StoreError> {
    sqlx::query("insert into products (account_id, name, description, path_prefixes) values ($1, $2, $3, $4)")
        .bind(account_id.as_str())
        .bind(&product.name)
        .bind(&product.description)
        .bind(json(&product.path_prefixes)?)
        .execute(conn)
        .await
        .map_err(map_error)?;
    Ok(())
}

async fn insert_user_in(conn: &mut PgConnection, user: &User, password_hash: &str) -> Result<(), StoreError> {
    sqlx::query(
        "insert into users (user_id, account_id, email, role, password_hash, date_created) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.user_id.as_str())
    .bind(user.account_id.as_str())
    .bind(user.email.as_str())
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(user.date_created)
    .execute(conn)
    .await
    .map_err(map_error)?;
    Ok(())
}

#[async_trait]
impl AccountStore for PostgresStore {
    async fn is_initialised(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("select exists (select 1 from accounts)").fetch_one(&self.pool).await.map_err(map_error)
    }

    async fn bootstrap(&self, bootstrap: &Bootstrap) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Two racing `init`s must not both succeed. SHARE ROW EXCLUSIVE conflicts with itself
        // and with every insert into accounts, but not with reads or foreign-key checks: the
        // second `init` waits here for the first to commit, and its count below (a new
        // statement, so a new snapshot) then sees the first one's account.
        sqlx::query("lock table accounts in share row exclusive mode").execute(&mut *tx).await.map_err(map_error)?;
        let initialised: bool = sqlx::query_scalar("select exists (select 1 from accounts)")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_error)?;
        if initialised {
            return Err(StoreError::Conflict("already initialised".to_owned()));
        }
        insert_account_in(&mut tx, &bootstrap.account, &bootstrap.products).await?;
        insert_user_in(&mut tx, &bootstrap.owner, &bootstrap.owner_password_hash).await?;
        insert_client_in(&mut tx, &bootstrap.client, &bootstrap.client_secret_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = sqlx::query_as(
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts \
             where account_id = $1",
        )
        .bind(account_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(row.map(AccountRow::into_account))
    }

    async fn insert_account(&self, account: &Account, products: &[Product]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_account_in(&mut tx, account, products).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn child_accounts(&self, parent: &AccountId) -> Result<Vec<Account>, StoreError> {
        // `collate "C"`: byte order, as SQLite compares text.
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts \
             where parent_account_id = $1 order by date_created, account_id collate \"C\"",
        )
        .bind(parent.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(rows.into_iter().map(AccountRow::into_account).collect())
    }

    async fn products(&self, account_id: &AccountId) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "select name, description, path_prefixes from products where account_id = $1 order by name collate \"C\"",
        )
        .bind(account_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        rows.into_iter()
            .map(|(name, description, prefixes)| {
                Ok(Product { name, description, path_prefixes: rows::from_json(&prefixes)? })
            })
            .collect()
    }

    async fn insert_product(&self, account_id: &AccountId, product: &Product) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_product_in(&mut tx, account_id, product).await?;
        notify(&mut tx, &payload("catalogue", account_id.as_str())).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn update_product(&self, account_id: &AccountId, product: &Product) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result =
            sqlx::query("update products set description = $1, path_prefixes = $2 where account_id = $3 and name = $4")
                .bind(&product.description)
                .bind(json(&product.path_prefixes)?)
                .bind(account_id.as_str())
                .bind(&product.name)
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        notify(&mut tx, &payload("catalogue", account_id.as_str())).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn delete_product(&self, account_id: &AccountId, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from products where account_id = $1 and name = $2")
            .bind(account_id.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() > 0 {
            notify(&mut tx, &payload("catalogue", account_id.as_str())).await?;
        }
        tx.commit().await.map_err(map_error)
    }

    async fn product_in_use(&self, account_id: &AccountId, name: &str) -> Result<bool, StoreError> {
        // `?`: whether the JSON array holds the string as an element.
        sqlx::query_scalar("select exists (select 1 from clients where account_id = $1 and products::jsonb ? $2)")
            .bind(account_id.as_str())
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)
    }

    async fn root_account(&self) -> Result<Option<AccountId>, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "select account_id from accounts where parent_account_id is null order by date_created, account_id limit 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(found.map(AccountId::from_string))
    }

    async fn root_product_names(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "select distinct p.name collate \"C\" as name from products p join accounts a on a.account_id = p.account_id \
             where a.parent_account_id is null order by name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_user_in(&mut tx, user, password_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn user(&self, user_id: &UserId) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!("select {USER_COLUMNS} from users where user_id = $1"))
            .bind(user_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn user_by_email(&self, account_id: &AccountId, email: &Email) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("select {USER_COLUMNS} from users where account_id = $1 and email = $2"))
                .bind(account_id.as_str())
                .bind(email.as_str())
                .fetch_optional(&self.pool)
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
             where account_id = $1 and email = $2",
        )
        .bind(account_id.as_str())
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        row.map(|(user_id, account_id, email, role, date_created, hash)| {
            UserRow { user_id, account_id, email, role, date_created }.into_user().map(|user| (user, hash))
        })
        .transpose()
    }

    async fn users(&self, account_id: &AccountId) -> Result<Vec<User>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("select {USER_COLUMNS} from users where account_id = $1 order by seq"))
                .bind(account_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(map_error)?;
        rows.into_iter().map(UserRow::into_user).collect()
    }

    async fn update_user_role(&self, user_id: &UserId, role: Role) -> Result<(), StoreError> {
        let result = sqlx::query("update users set role = $1 where user_id = $2")
            .bind(role.as_str())
            .bind(user_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn transfer_account_ownership(&self, account_id: &AccountId, new_owner: &UserId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // The account row is locked first, so two transfers of one account run one after the other.
        let previous: Option<String> =
            sqlx::query_scalar("select owner_user_id from accounts where account_id = $1 for update")
                .bind(account_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_error)?;
        let previous = previous.ok_or(StoreError::NotFound)?;
        let promoted = sqlx::query("update users set role = 'owner' where user_id = $1 and account_id = $2")
            .bind(new_owner.as_str())
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if promoted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("update users set role = 'admin' where user_id = $1 and account_id = $2 and user_id <> $3")
            .bind(&previous)
            .bind(account_id.as_str())
            .bind(new_owner.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        sqlx::query("update accounts set owner_user_id = $1 where account_id = $2")
            .bind(new_owner.as_str())
            .bind(account_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<Vec<ClientId>, StoreError> {
        let mut tx = self.begin().await?;
        // The hand-over below matches clients by owner. A client write in flight (an edit or
        // insert naming this user as owner, not yet committed) is invisible to it; the foreign
        // key to users would then fail that write with an error rather than leave a client
        // owned by nobody. Waiting out every client write first (the
        // mode conflicts with inserts, updates and deletes on clients, and with itself, not with
        // reads or with the foreign-key checks of token and profile inserts) gives the same
        // order SQLite's single writer gives. Edits that read the client before the hand-over
        // fail on its version bump.
        sqlx::query("lock table clients in share row exclusive mode").execute(&mut *tx).await.map_err(map_error)?;
        let exists: Option<i32> = sqlx::query_scalar("select 1 from users where user_id = $1 for update")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        exists.ok_or(StoreError::NotFound)?;
        // An account's owner stays: their clients would have nobody to pass to. That includes
        // an owner who handed their own account on but still owns child accounts they made.
        let owns: Option<i32> = sqlx::query_scalar("select 1 from accounts where owner_user_id = $1 limit 1")
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
               enabled = case when client_type = 'admin' then false else enabled end, version = version + 1 \
             where client_owner_id = $1 returning client_id",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        for client_id in &handed_over {
            notify(&mut tx, &payload("client", client_id)).await?;
        }
        sqlx::query("delete from users where user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(handed_over.into_iter().map(ClientId::from_string).collect())
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query("insert into sessions (token_hash, user_id, created_at, expires_at) values ($1, $2, $3, $4)")
            .bind(&session.token_hash)
            .bind(session.user_id.as_str())
            .bind(session.created_at.unix_timestamp())
            .bind(session.expires_at.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &[u8], now: OffsetDateTime) -> Result<Option<User>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(
            "select u.user_id, u.account_id, u.email, u.role, u.date_created from sessions s \
             join users u on u.user_id = s.user_id where s.token_hash = $1 and s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.unix_timestamp())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        row.map(UserRow::into_user).transpose()
    }

    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("delete from sessions where token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_events (event_id, account_id, actor_type, actor_id, actor_email, action, target_type, \
             target_id, outcome, reason, source_ip, occurred_at, details) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .execute(&self.pool)
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
        const WHERE: &str = "where account_id = $1 and ($2::text is null or target_id = $2) \
             and ($3::text is null or actor_id = $3)";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from audit_events {WHERE}"))
            .bind(account_id.as_str())
            .bind(&filter.target_id)
            .bind(&filter.actor_id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "select event_id, account_id, actor_type, actor_id, actor_email, action, target_type, target_id, outcome, \
             reason, source_ip, occurred_at, details from audit_events {WHERE} order by seq desc limit $4 offset $5"
        ))
        .bind(account_id.as_str())
        .bind(&filter.target_id)
        .bind(&filter.actor_id)
        .bind(i64::from(page.size))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        let events = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok((events, u64::try_from(total).unwrap_or_default()))
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn insert_client(&self, client: &Client, secret_hash: &SecretHash) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_client_in(&mut tx, client, secret_hash).await?;
        tx.commit().await.map_err(map_error)
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS}, null::bytea as secret_hash from clients where client_id = $1");
        self.client_from(&sql, client_id).await?.map(ClientRow::into_client).transpose()
    }

    async fn client_with_secret(&self, client_id: &ClientId) -> Result<Option<(Client, SecretHash)>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS}, secret_hash from clients where client_id = $1");
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
        // One statement per filter, so each uses its own index (a `$2 is null or ...` clause
        // defeats the planner); the page is found in the index first, then its rows are read.
        let filter = if client_type.is_some() { "and client_type = $2" } else { "and $2::text is null" };
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from clients where account_id = $1 {filter}"))
            .bind(account_id.as_str())
            .bind(client_type)
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        let sql = format!(
            "select {CLIENT_COLUMNS}, null::bytea as secret_hash from clients where seq in ( \
               select seq from clients where account_id = $1 {filter} order by seq limit $3 offset $4) \
             order by seq"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(i64::from(page.size))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        let clients = rows.into_iter().map(ClientRow::into_client).collect::<Result<Vec<_>, _>>()?;
        Ok((clients, u64::try_from(total).unwrap_or_default()))
    }

    async fn update_client(&self, client: &Client, expected_version: i64) -> Result<Client, StoreError> {
        let mut tx = self.begin().await?;
        // A concurrent update of the same version waits for this one's row lock, then finds
        // the version moved on and matches nothing.
        let row: Option<ClientRow> = sqlx::query_as(&format!(
            "update clients set name = $1, description = $2, client_owner = $3, client_owner_id = $4, \
             client_type = $5, locked = $6, enabled = $7, global_resources = $8, products = $9, \
             token_expiry_seconds = $10, allowed_ips = $11, rate_limit = $12, date_updated = $13, \
             version = version + 1 \
             where client_id = $14 and version = $15 \
             returning {CLIENT_COLUMNS}, null::bytea as secret_hash"
        ))
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
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_error)?;
        let Some(row) = row else {
            let exists: bool = sqlx::query_scalar("select exists (select 1 from clients where client_id = $1)")
                .bind(client.client_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(map_error)?;
            return Err(if exists { StoreError::VersionMismatch } else { StoreError::NotFound });
        };
        let updated = row.into_client()?;
        notify(&mut tx, &payload("client", client.client_id.as_str())).await?;
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
        let row: Option<ClientRow> = sqlx::query_as(&format!(
            "update clients set secret_hash = $1, secret_generation = secret_generation + 1, version = version + 1, \
             date_updated = $2 where client_id = $3 \
             returning {CLIENT_COLUMNS}, null::bytea as secret_hash"
        ))
        .bind(secret_hash.as_bytes())
        .bind(now)
        .bind(client_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_error)?;
        let row = row.ok_or(StoreError::NotFound)?;
        // The generation bump already refuses them; deleting keeps the table small.
        sqlx::query("delete from access_tokens where client_id = $1 and profile_id is null")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let updated = row.into_client()?;
        notify(&mut tx, &payload("client", client_id.as_str())).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from clients where client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        notify(&mut tx, &payload("client", client_id.as_str())).await?;
        tx.commit().await.map_err(map_error)
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn record_tokens(
        &self,
        tokens: &[TokenRecord],
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let client_ids: Vec<&str> =
            tokens.iter().map(|token| token.client_id.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        let profile_ids: Vec<&str> = tokens
            .iter()
            .filter_map(|token| token.profile_id.as_ref().map(ProfileId::as_str))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Counting, evicting and inserting must not interleave with another batch that holds
        // tokens of the same credential (on this instance or another), or both see room for one
        // more. The client rows are the locks, taken in id order so that two batches cannot
        // deadlock: FOR NO KEY UPDATE conflicts with itself (and with edits of the client) but
        // not with the foreign-key checks of other inserts. Caps per profile share their
        // client's lock, which is coarser than needed and still exact. Taking these row locks
        // before touching any token also orders this transaction before (or after) a
        // `delete_client` or `delete_profile`, whose cascades lock the same tokens: without it
        // the two could deadlock. A client that is gone locks nothing; its tokens are stale.
        // Profiles are held FOR SHARE: that waits for an edit or refresh of the profile (FOR NO
        // KEY UPDATE) and holds the next one off until the commit, so the version read below
        // is the one the tokens are recorded under; it does not conflict with foreign-key checks.
        let clients: Vec<(String, i64)> = sqlx::query_as(
            "select client_id, version from clients where client_id = any($1) order by client_id for no key update",
        )
        .bind(&client_ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        let clients: HashMap<ClientId, i64> =
            clients.into_iter().map(|(id, version)| (ClientId::from_string(id), version)).collect();
        let mut profiles = HashMap::new();
        if !profile_ids.is_empty() {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "select profile_id, version from access_profiles where profile_id = any($1) \
                 order by profile_id for share",
            )
            .bind(&profile_ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_error)?;
            profiles = rows.into_iter().map(|(id, version)| (ProfileId::from_string(id), version)).collect();
        }
        // A new statement after the locks: it sees every token committed by the previous holder.
        let live: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
            "select jti, client_id, profile_id, secret_generation from access_tokens \
             where client_id = any($1) and not revoked and expires_at > $2 order by issued_at, seq",
        )
        .bind(&client_ids)
        .bind(now.unix_timestamp())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        let live = live
            .into_iter()
            .map(|(jti, client_id, profile_id, secret_generation)| LiveToken {
                jti: TokenId::from_string(jti),
                client_id: ClientId::from_string(client_id),
                profile_id: profile_id.map(ProfileId::from_string),
                secret_generation,
            })
            .collect();

        let plan = plan_recording(tokens, &clients, &profiles, live, cap);
        if !plan.delete.is_empty() {
            let jtis: Vec<&str> = plan.delete.iter().map(TokenId::as_str).collect();
            sqlx::query("delete from access_tokens where jti = any($1)")
                .bind(&jtis)
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
            // Instances that have seen an evicted token must drop it.
            for payload in token_payloads(&plan.delete) {
                notify(&mut tx, &payload).await?;
            }
        }
        if !plan.insert.is_empty() {
            let inserted: Vec<&TokenRecord> = plan.insert.iter().map(|index| &tokens[*index]).collect();
            let column = |value: fn(&TokenRecord) -> i64| inserted.iter().map(|token| value(token)).collect::<Vec<_>>();
            sqlx::query(
                "insert into access_tokens (jti, client_id, profile_id, secret_generation, issued_at, expires_at) \
                 select jti, client_id, profile_id, secret_generation, issued_at, expires_at \
                 from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[]) \
                 with ordinality as batch (jti, client_id, profile_id, secret_generation, issued_at, expires_at, n) \
                 order by n",
            )
            .bind(inserted.iter().map(|token| token.jti.as_str()).collect::<Vec<_>>())
            .bind(inserted.iter().map(|token| token.client_id.as_str()).collect::<Vec<_>>())
            .bind(inserted.iter().map(|token| token.profile_id.as_ref().map(ProfileId::as_str)).collect::<Vec<_>>())
            .bind(column(|token| token.secret_generation))
            .bind(column(|token| token.issued_at.unix_timestamp()))
            .bind(column(|token| token.expires_at.unix_timestamp()))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(plan.outcomes)
    }

    async fn revoke_token(&self, jti: &TokenId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("update access_tokens set revoked = true where jti = $1")
            .bind(jti.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() > 0 {
            for payload in token_payloads(std::slice::from_ref(jti)) {
                notify(&mut tx, &payload).await?;
            }
        }
        tx.commit().await.map_err(map_error)
    }

    async fn token_state(&self, jti: &TokenId) -> Result<Option<TokenState>, StoreError> {
        let row: Option<(String, Option<String>, i64, bool)> = sqlx::query_as(
            "select client_id, profile_id, secret_generation, revoked from access_tokens where jti = $1",
        )
        .bind(jti.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(row.map(|(client_id, profile_id, secret_generation, revoked)| TokenState {
            client_id: ClientId::from_string(client_id),
            profile_id: profile_id.map(ProfileId::from_string),
            secret_generation,
            revoked,
        }))
    }

    async fn purge_expired_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from access_tokens where expires_at < $1")
            .bind(before.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }
}

impl PostgresStore {
    async fn profile_row(&self, profile_id: &ProfileId) -> Result<Option<(ProfileRow, Vec<u8>)>, StoreError> {
        let sql = format!("select {PROFILE_COLUMNS}, credential_hash from access_profiles where profile_id = $1");
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(profile_id.as_str()).fetch_optional(&self.pool).await.map_err(map_error)?;
        Ok(row.map(|row| {
            let hash = row.credential_hash.clone().unwrap_or_default();
            (row, hash)
        }))
    }
}

/// Locks a client's row for the rest of the transaction: FOR NO KEY UPDATE conflicts with itself
/// and with edits of the client, but not with the foreign-key checks of other inserts. The
/// live-token cap and the profile limit count under it.
async fn lock_client(tx: &mut Transaction<'static, Postgres>, client_id: &ClientId) -> Result<(), StoreError> {
    sqlx::query("select 1 from clients where client_id = $1 for no key update")
        .bind(client_id.as_str())
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    Ok(())
}

#[async_trait]
impl ProfileStore for PostgresStore {
    async fn insert_profile(&self, profile: &AccessProfile, hash: &SecretHash, max: usize) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Count and insert under the client's row lock (as in `record_token`), so that two
        // concurrent inserts cannot both take the last place.
        lock_client(&mut tx, &profile.client_id).await?;
        let count: i64 = sqlx::query_scalar("select count(*) from access_profiles where client_id = $1")
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
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
            "select {PROFILE_COLUMNS}, null::bytea as credential_hash from access_profiles \
             where client_id = $1 order by seq"
        );
        let rows: Vec<ProfileRow> =
            sqlx::query_as(&sql).bind(client_id.as_str()).fetch_all(&self.pool).await.map_err(map_error)?;
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
            "select {PROFILE_COLUMNS}, null::bytea as credential_hash from access_profiles \
             where credential_hash = $1 and auth_method = 'api_key'"
        );
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(hash.as_bytes()).fetch_optional(&self.pool).await.map_err(map_error)?;
        row.map(ProfileRow::into_profile).transpose()
    }

    async fn update_profile(
        &self,
        profile: &AccessProfile,
        expected_version: i64,
    ) -> Result<AccessProfile, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<ProfileRow> = sqlx::query_as(&format!(
            "update access_profiles set name = $1, products = $2, allowed_ips = $3, rate_limit = $4, active = $5, \
             date_updated = $6, version = version + 1 where profile_id = $7 and version = $8 \
             returning {PROFILE_COLUMNS}, null::bytea as credential_hash"
        ))
        .bind(profile.name.as_str())
        .bind(json(&profile.products)?)
        .bind(json(&profile.allowed_ips)?)
        .bind(profile.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(profile.active)
        .bind(profile.date_updated)
        .bind(profile.profile_id.as_str())
        .bind(expected_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_error)?;
        // As in SQLite: a profile that is gone is reported as a version mismatch too.
        let updated = row.ok_or(StoreError::VersionMismatch)?.into_profile()?;
        notify(&mut tx, &payload("profile", profile.profile_id.as_str())).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn refresh_profile_credential(
        &self,
        profile_id: &ProfileId,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<AccessProfile, StoreError> {
        let mut tx = self.begin().await?;
        let row: Option<ProfileRow> = sqlx::query_as(&format!(
            "update access_profiles set credential_hash = $1, secret_generation = secret_generation + 1, \
             version = version + 1, date_updated = $2 where profile_id = $3 \
             returning {PROFILE_COLUMNS}, null::bytea as credential_hash"
        ))
        .bind(hash.as_bytes())
        .bind(now)
        .bind(profile_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_error)?;
        let updated = row.ok_or(StoreError::NotFound)?.into_profile()?;
        notify(&mut tx, &payload("profile", profile_id.as_str())).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(updated)
    }

    async fn delete_profile(&self, profile_id: &ProfileId) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from access_profiles where profile_id = $1")
            .bind(profile_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() > 0 {
            notify(&mut tx, &payload("profile", profile_id.as_str())).await?;
        }
        tx.commit().await.map_err(map_error)
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows: Vec<SigningKeyRow> = sqlx::query_as(
            "select kid, sealed_private_key, public_key, created_at, activates_at from signing_keys \
             order by activates_at desc",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(rows.into_iter().map(SigningKeyRow::into_key).collect())
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "insert into signing_keys (kid, sealed_private_key, public_key, created_at, activates_at) \
             values ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.sealed_private_key)
        .bind(&key.public_key)
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        notify(&mut tx, "keys").await?;
        tx.commit().await.map_err(map_error)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from signing_keys where kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() > 0 {
            notify(&mut tx, "keys").await?;
        }
        tx.commit().await.map_err(map_error)
    }
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
