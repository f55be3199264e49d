//! [`PolicyStore`]: an account's policies. A profile reads its policy's limits with it, so a
//! write to a policy reports a change to each of its profiles.

use async_trait::async_trait;
use gatehouse_domain::ids::{AccountId, PolicyId, ProfileId};
use gatehouse_domain::policy::Policy;
use gatehouse_domain::store::{Change, PolicyStore, StoreError, Written};
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::changes::commit;
use crate::rows::{POLICY_COLUMNS, PolicyRow, json, map_error};

#[async_trait]
impl PolicyStore for PostgresStore {
    async fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError> {
        sqlx::query(
            "insert into policies (policy_id, account_id, name, description, rate_limit, quota, allowed_ips, \
             date_created, date_updated) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(policy.policy_id.as_str())
        .bind(policy.account_id.as_str())
        .bind(policy.name.as_str())
        .bind(policy.description.as_str())
        .bind(policy.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(policy.quota.map(|quota| json(&quota)).transpose()?)
        .bind(json(&policy.allowed_ips)?)
        .bind(policy.date_created)
        .bind(policy.date_updated)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn policy(&self, policy_id: &PolicyId) -> Result<Option<Policy>, StoreError> {
        let row: Option<PolicyRow> =
            sqlx::query_as(&format!("select {POLICY_COLUMNS} from policies where policy_id = $1"))
                .bind(policy_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
        row.map(PolicyRow::into_policy).transpose()
    }

    async fn policies(&self, account_id: &AccountId) -> Result<Vec<Policy>, StoreError> {
        let rows: Vec<PolicyRow> =
            sqlx::query_as(&format!("select {POLICY_COLUMNS} from policies where account_id = $1 order by name"))
                .bind(account_id.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(map_error)?;
        rows.into_iter().map(PolicyRow::into_policy).collect()
    }

    async fn update_policy(&self, policy: &Policy, expected_version: i64) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        // FOR UPDATE conflicts with the KEY SHARE lock a profile write naming the policy takes:
        // a profile put under it meanwhile is either in the list below, or written after this
        // commits and reads the new limits. (The UPDATE alone takes a lock that does not.)
        sqlx::query("select 1 from policies where policy_id = $1 for update")
            .bind(policy.policy_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let result = sqlx::query(
            "update policies set name = $1, description = $2, rate_limit = $3, quota = $4, allowed_ips = $5, \
             date_updated = $6, version = version + 1 where policy_id = $7 and version = $8",
        )
        .bind(policy.name.as_str())
        .bind(policy.description.as_str())
        .bind(policy.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(policy.quota.map(|quota| json(&quota)).transpose()?)
        .bind(json(&policy.allowed_ips)?)
        .bind(policy.date_updated)
        .bind(policy.policy_id.as_str())
        .bind(expected_version)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            let exists: Option<i32> = sqlx::query_scalar("select 1 from policies where policy_id = $1")
                .bind(policy.policy_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_error)?;
            return Err(if exists.is_some() { StoreError::VersionMismatch } else { StoreError::NotFound });
        }
        let governed: Vec<String> = sqlx::query_scalar("select profile_id from access_profiles where policy_id = $1")
            .bind(policy.policy_id.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_error)?;
        let changes = governed.into_iter().map(|id| Change::Profile(ProfileId::from_string(id))).collect();
        commit(tx, (), changes).await
    }

    async fn delete_policy(&self, policy_id: &PolicyId) -> Result<(), StoreError> {
        self.delete_unreferenced("policies", "policy_id", policy_id.as_str(), "access_profiles").await
    }

    async fn take_quota_use(
        &self,
        key: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        limit: u64,
    ) -> Result<bool, StoreError> {
        // One statement: concurrent uses on every instance queue on the row, and once `limit`
        // were taken the row is left as it is and nothing is returned.
        let taken: Option<i64> = sqlx::query_scalar(
            "insert into quota_counts (counter, period_start, period_end, uses) values ($1, $2, $3, 1) \
             on conflict (counter, period_start) do update set uses = quota_counts.uses + 1 \
             where quota_counts.uses < $4 returning uses",
        )
        .bind(key)
        .bind(start)
        .bind(end)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(taken.is_some())
    }

    async fn purge_quota_counts(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from quota_counts where period_end < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }
}
