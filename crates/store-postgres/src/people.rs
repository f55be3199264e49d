//! [`UserStore`] and [`SessionStore`]: the users and their sessions.

use async_trait::async_trait;
use gatehouse_domain::account::{Email, Role, User};
use gatehouse_domain::ids::{AccountId, ClientId, UserId};
use gatehouse_domain::store::{Change, HandoffRecord, SessionRecord, SessionStore, StoreError, UserStore, Written};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::changes::commit;
use crate::rows::{UserRow, map_error};

const USER_COLUMNS: &str = "user_id, account_id, email, role, date_created";

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

    async fn delete_user(&self, user_id: &UserId) -> Result<Written<Vec<ClientId>>, StoreError> {
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
        sqlx::query("delete from users where user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let handed_over: Vec<ClientId> = handed_over.into_iter().map(ClientId::from_string).collect();
        let changes = handed_over.iter().cloned().map(Change::Client).collect();
        commit(tx, handed_over, changes).await
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_handoff(&self, handoff: &HandoffRecord) -> Result<(), StoreError> {
        sqlx::query("insert into portal_handoffs (id_hash, session_hash, sealed, expires_at) values ($1, $2, $3, $4)")
            .bind(&handoff.id_hash)
            .bind(&handoff.session_hash)
            .bind(&handoff.sealed)
            .bind(handoff.expires_at.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn purge_expired_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from portal_handoffs where expires_at <= $1")
            .bind(now.unix_timestamp())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }

    async fn take_handoff(
        &self,
        id_hash: &[u8],
        session_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar(
            "delete from portal_handoffs where id_hash = $1 and session_hash = $2 and expires_at > $3 returning sealed",
        )
        .bind(id_hash)
        .bind(session_hash)
        .bind(now.unix_timestamp())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)
    }

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

pub(crate) async fn insert_user_in(
    conn: &mut PgConnection,
    user: &User,
    password_hash: &str,
) -> Result<(), StoreError> {
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
