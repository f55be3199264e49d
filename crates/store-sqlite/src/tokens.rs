//! [`TokenStore`]: the issued access tokens.

use async_trait::async_trait;
use gatehouse_domain::ids::{ClientId, ProfileId, TokenId};
use gatehouse_domain::store::{
    Change, LiveTokenCap, RecordOutcome, StoreError, TokenRecord, TokenState, TokenStore, Written,
};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::rows::map_error;

#[async_trait]
impl TokenStore for SqliteStore {
    async fn record_tokens(
        &self,
        tokens: &[TokenRecord],
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Written<Vec<RecordOutcome>>, StoreError> {
        if tokens.is_empty() {
            return Ok(Written::unchanged(Vec::new()));
        }
        self.tokens.record(tokens.to_vec(), cap, now).await
    }

    async fn revoke_token(&self, jti: &TokenId) -> Result<Written<()>, StoreError> {
        let result = sqlx::query("update access_tokens set revoked = 1 where jti = ?")
            .bind(jti.as_str())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        let changes =
            if result.rows_affected() > 0 { vec![Change::TokensRevoked(vec![jti.clone()])] } else { Vec::new() };
        Ok(Written::new((), changes))
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

    async fn claim_jti(&self, issuer: &str, jti: &str, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        // One statement: of two instances claiming the same jti at once, one inserts.
        let result = sqlx::query(
            "insert into used_jtis (issuer, jti, expires_at) values (?1, ?2, ?3) on conflict (issuer, jti) do nothing",
        )
        .bind(issuer)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.writer)
        .await
        .map_err(map_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_used_jtis(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from used_jtis where expires_at < ?1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }
}

/// Tokens the purge looks at per transaction: about a millisecond of the writer's time.
const PURGE_WINDOW: i64 = 2_000;
