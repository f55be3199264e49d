//! [`UserStore`] and [`SessionStore`]: the users and their sessions.

use async_trait::async_trait;
use gatehouse_domain::account::{Email, Role, User};
use gatehouse_domain::ids::{AccountId, ClientId, UserId};
use gatehouse_domain::store::{Change, HandoffRecord, SessionRecord, SessionStore, StoreError, UserStore, Written};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::changes::commit;
use crate::rows::{UserRow, map_error};

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

    async fn delete_user(&self, user_id: &UserId) -> Result<Written<Vec<ClientId>>, StoreError> {
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
        let handed_over: Vec<ClientId> = handed_over.into_iter().map(ClientId::from_string).collect();
        let changes = handed_over.iter().cloned().map(Change::Client).collect();
        commit(tx, handed_over, changes).await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_handoff(&self, handoff: &HandoffRecord) -> Result<(), StoreError> {
        sqlx::query("insert into portal_handoffs (id_hash, session_hash, sealed, expires_at) values (?, ?, ?, ?)")
            .bind(&handoff.id_hash)
            .bind(&handoff.session_hash)
            .bind(&handoff.sealed)
            .bind(handoff.expires_at.unix_timestamp())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn purge_expired_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from portal_handoffs where expires_at <= ?")
            .bind(now.unix_timestamp())
            .execute(&self.writer)
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
            "delete from portal_handoffs where id_hash = ? and session_hash = ? and expires_at > ? returning sealed",
        )
        .bind(id_hash)
        .bind(session_hash)
        .bind(now.unix_timestamp())
        .fetch_optional(&self.writer)
        .await
        .map_err(map_error)
    }

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

pub(crate) async fn insert_user_in(
    tx: &mut Transaction<'_, Sqlite>,
    user: &User,
    password_hash: &str,
) -> Result<(), StoreError> {
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
