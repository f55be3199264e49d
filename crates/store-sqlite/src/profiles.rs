//! [`ProfileStore`]: the clients' access profiles.

use async_trait::async_trait;
use gatehouse_domain::ids::{ClientId, ProfileId};
use gatehouse_domain::profile::AccessProfile;
use gatehouse_domain::secret::SecretHash;
use gatehouse_domain::store::{Change, ProfileStore, StoreError, Written};
use gatehouse_domain::usage::{Denial, UsageCount};
use time::{Date, OffsetDateTime};

use crate::SqliteStore;
use crate::changes::commit;
use crate::rows::{ProfileRow, json, map_error, map_reference_error, trust_columns};

const PROFILE_COLUMNS: &str = "profile_id, client_id, name, products, auth_method, allowed_ips, rate_limit, active, trust, \
     secret_generation, version, date_created, date_updated, last_used_at, last_used_ip, \
     policy_id, \
     (select p.rate_limit from policies p where p.policy_id = access_profiles.policy_id) as policy_rate_limit, \
     (select p.quota from policies p where p.policy_id = access_profiles.policy_id) as policy_quota, \
     (select p.allowed_ips from policies p where p.policy_id = access_profiles.policy_id) as policy_allowed_ips";

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
    async fn insert_profile(
        &self,
        profile: &AccessProfile,
        hash: &SecretHash,
        max: usize,
    ) -> Result<Written<()>, StoreError> {
        let (trust, oidc_issuer, oidc_audience) = trust_columns(profile);
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
             allowed_ips, rate_limit, active, secret_generation, version, date_created, date_updated, policy_id, \
             trust, oidc_issuer, oidc_audience) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .bind(profile.policy.as_ref().map(|policy| policy.policy_id.as_str()))
        .bind(&trust)
        .bind(oidc_issuer)
        .bind(oidc_audience)
        .execute(&mut *tx)
        .await
        .map_err(map_reference_error)?;
        // A check may have asked after the id before it existed, and remembered that it did not.
        commit(tx, (), vec![Change::Profile(profile.profile_id.clone())]).await
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

    async fn profile_by_credential_hash(&self, hash: &SecretHash) -> Result<Option<AccessProfile>, StoreError> {
        let sql =
            format!("select {PROFILE_COLUMNS}, null as credential_hash from access_profiles where credential_hash = ?");
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(hash.as_bytes()).fetch_optional(&self.readers).await.map_err(map_error)?;
        row.map(ProfileRow::into_profile).transpose()
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

    async fn profile_by_oidc(&self, issuer: &str, audience: &str) -> Result<Option<AccessProfile>, StoreError> {
        let sql = format!(
            "select {PROFILE_COLUMNS}, null as credential_hash from access_profiles \
             where oidc_issuer = ? and oidc_audience = ?"
        );
        let row: Option<ProfileRow> =
            sqlx::query_as(&sql).bind(issuer).bind(audience).fetch_optional(&self.readers).await.map_err(map_error)?;
        row.map(ProfileRow::into_profile).transpose()
    }

    async fn update_profile(
        &self,
        profile: &AccessProfile,
        expected_version: i64,
    ) -> Result<Written<AccessProfile>, StoreError> {
        let (trust, oidc_issuer, oidc_audience) = trust_columns(profile);
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update access_profiles set name = ?, products = ?, allowed_ips = ?, rate_limit = ?, active = ?, \
             date_updated = ?, policy_id = ?, trust = ?, oidc_issuer = ?, oidc_audience = ?, secret_generation = ?, \
             version = version + 1 where profile_id = ? and version = ?",
        )
        .bind(profile.name.as_str())
        .bind(json(&profile.products)?)
        .bind(json(&profile.allowed_ips)?)
        .bind(profile.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(profile.active)
        .bind(profile.date_updated)
        .bind(profile.policy.as_ref().map(|policy| policy.policy_id.as_str()))
        .bind(&trust)
        .bind(oidc_issuer)
        .bind(oidc_audience)
        .bind(profile.secret_generation)
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
        commit(tx, row.into_profile()?, vec![Change::Profile(profile.profile_id.clone())]).await
    }

    async fn refresh_profile_credential(
        &self,
        profile_id: &ProfileId,
        hash: &SecretHash,
        replacing: Option<&SecretHash>,
        now: OffsetDateTime,
    ) -> Result<Written<AccessProfile>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update access_profiles set credential_hash = ?, secret_generation = secret_generation + 1, \
             version = version + 1, date_updated = ? where profile_id = ? and (?4 is null or credential_hash = ?4)",
        )
        .bind(hash.as_bytes())
        .bind(now)
        .bind(profile_id.as_str())
        .bind(replacing.map(SecretHash::as_bytes))
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
        commit(tx, row.into_profile()?, vec![Change::Profile(profile_id.clone())]).await
    }

    async fn delete_profile(&self, profile_id: &ProfileId) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from access_profiles where profile_id = ?")
            .bind(profile_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        sqlx::query("delete from usage_counts where profile_id = ?")
            .bind(profile_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let changes = if result.rows_affected() > 0 { vec![Change::Profile(profile_id.clone())] } else { Vec::new() };
        commit(tx, (), changes).await
    }

    async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for count in counts {
            sqlx::query(
                "insert into usage_counts (profile_id, day, product, outcome, count) values (?1, ?2, ?3, ?4, ?5) \
                 on conflict (profile_id, day, product, outcome) do update set count = usage_counts.count + excluded.count",
            )
            .bind(count.profile_id.as_str())
            .bind(count.day)
            .bind(&count.product)
            .bind(count.denied.map_or("allowed", Denial::as_str))
            .bind(i64::try_from(count.count).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        }
        // Nothing in memory follows usage counts.
        let _ = commit(tx, (), Vec::new()).await?;
        Ok(())
    }

    async fn usage(&self, profile_id: &ProfileId, from: Date, to: Date) -> Result<Vec<UsageCount>, StoreError> {
        let rows: Vec<(Date, String, String, i64)> = sqlx::query_as(
            "select day, product, outcome, count from usage_counts \
             where profile_id = ?1 and day >= ?2 and day <= ?3 order by day, product, outcome",
        )
        .bind(profile_id.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)?;
        rows.into_iter()
            .map(|(day, product, outcome, count)| {
                let denied = match outcome.as_str() {
                    "allowed" => None,
                    other => Some(
                        Denial::parse(other)
                            .ok_or_else(|| StoreError::Internal(format!("unknown usage outcome {other:?}")))?,
                    ),
                };
                Ok(UsageCount {
                    profile_id: profile_id.clone(),
                    day,
                    product,
                    denied,
                    count: u64::try_from(count).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn purge_usage(&self, before: Date) -> Result<u64, StoreError> {
        let result = sqlx::query("delete from usage_counts where day < ?1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(result.rows_affected())
    }
}
