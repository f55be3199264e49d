//! [`TokenStore`]: the issued access tokens.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use gatehouse_domain::ids::{ClientId, ProfileId, SecretId, TokenId};
use gatehouse_domain::store::{
    Change, LiveToken, LiveTokenCap, RecordOutcome, StoreError, TokenRecord, TokenState, TokenStore, Written,
};
use gatehouse_domain::token_ledger::plan_recording;
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::changes::commit;
use crate::rows::map_error;

#[async_trait]
impl TokenStore for PostgresStore {
    async fn record_tokens(
        &self,
        tokens: &[TokenRecord],
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Written<Vec<RecordOutcome>>, StoreError> {
        if tokens.is_empty() {
            return Ok(Written::unchanged(Vec::new()));
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
        }
        if !plan.insert.is_empty() {
            let inserted: Vec<&TokenRecord> = plan.insert.iter().map(|index| &tokens[*index]).collect();
            let column = |value: fn(&TokenRecord) -> i64| inserted.iter().map(|token| value(token)).collect::<Vec<_>>();
            sqlx::query(
                "insert into access_tokens (jti, client_id, profile_id, secret_generation, secret_id, issued_at, expires_at) \
                 select jti, client_id, profile_id, secret_generation, secret_id, issued_at, expires_at \
                 from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int8[], $7::int8[]) \
                 with ordinality as batch (jti, client_id, profile_id, secret_generation, secret_id, issued_at, expires_at, n) \
                 order by n",
            )
            .bind(inserted.iter().map(|token| token.jti.as_str()).collect::<Vec<_>>())
            .bind(inserted.iter().map(|token| token.client_id.as_str()).collect::<Vec<_>>())
            .bind(inserted.iter().map(|token| token.profile_id.as_ref().map(ProfileId::as_str)).collect::<Vec<_>>())
            .bind(column(|token| token.secret_generation))
            .bind(inserted.iter().map(|token| token.secret_id.as_ref().map(SecretId::as_str)).collect::<Vec<_>>())
            .bind(column(|token| token.issued_at.unix_timestamp()))
            .bind(column(|token| token.expires_at.unix_timestamp()))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        }
        let changes = plan.changes();
        commit(tx, plan.outcomes, changes).await
    }

    async fn revoke_token(&self, jti: &TokenId) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("update access_tokens set revoked = true where jti = $1")
            .bind(jti.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let changes =
            if result.rows_affected() > 0 { vec![Change::TokensRevoked(vec![jti.clone()])] } else { Vec::new() };
        commit(tx, (), changes).await
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

    async fn claim_jti(&self, issuer: &str, jti: &str, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        // One statement: of two instances claiming the same jti at once, one inserts.
        let result = sqlx::query(
            "insert into used_jtis (issuer, jti, expires_at) values ($1, $2, $3) on conflict (issuer, jti) do nothing",
        )
        .bind(issuer)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_used_jtis(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from used_jtis where expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }
}
