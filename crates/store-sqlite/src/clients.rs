//! [`ClientStore`]: the clients and their secrets.

use async_trait::async_trait;
use gatehouse_domain::client::{Client, ClientType};
use gatehouse_domain::ids::{AccountId, ClientId};
use gatehouse_domain::secret::SecretHash;
use gatehouse_domain::store::{Change, ClientFilter, ClientStore, PageRequest, StoreError, Written};
use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use crate::SqliteStore;
use crate::changes::commit;
use crate::rows::{ClientRow, json, map_error};

/// Column list shared by every query that reads a whole client.
const CLIENT_COLUMNS: &str = "client_id, account_id, name, description, client_owner, client_owner_id, client_type, locked, enabled, \
     global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_generation, version, \
     date_created, date_updated";

impl SqliteStore {
    async fn client_from(&self, sql: &str, client_id: &ClientId) -> Result<Option<ClientRow>, StoreError> {
        sqlx::query_as::<_, ClientRow>(sql)
            .bind(client_id.as_str())
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &Client, secret_hash: &SecretHash) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        insert_client_in(&mut tx, client, secret_hash).await?;
        // A check may have asked after the id before it existed, and remembered that it did not.
        commit(tx, (), vec![Change::Client(client.client_id.clone())]).await
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS}, null as secret_hash from clients where client_id = ?");
        self.client_from(&sql, client_id).await?.map(ClientRow::into_client).transpose()
    }

    async fn client_by_secret_hash(&self, hash: &SecretHash) -> Result<Option<ClientId>, StoreError> {
        let found: Option<String> = sqlx::query_scalar("select client_id from clients where secret_hash = ?")
            .bind(hash.as_bytes())
            .fetch_optional(&self.readers)
            .await
            .map_err(map_error)?;
        Ok(found.map(ClientId::from_string))
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
        filter: &ClientFilter,
        page: PageRequest,
    ) -> Result<(Vec<Client>, u64), StoreError> {
        let client_type = filter.client_type.map(ClientType::as_str);
        // SQLite's `lower` folds ASCII letters only; the needle is folded the same way.
        let needle = filter.name_contains.as_deref().map(str::to_ascii_lowercase);
        // Only the filters given are in the statement, so each shape uses its own index (a
        // `?2 is null or ...` clause defeats the planner); the page is found in the index
        // first, then its rows are read.
        let mut conditions = String::new();
        conditions.push_str(if client_type.is_some() { " and client_type = ?2" } else { " and ?2 is null" });
        conditions.push_str(if filter.enabled.is_some() { " and enabled = ?3" } else { " and ?3 is null" });
        conditions.push_str(if needle.is_some() { " and instr(lower(name), ?4) > 0" } else { " and ?4 is null" });
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from clients where account_id = ?1{conditions}"))
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(filter.enabled)
            .bind(needle.as_deref())
            .fetch_one(&self.readers)
            .await
            .map_err(map_error)?;
        let sql = format!(
            "select {CLIENT_COLUMNS}, null as secret_hash from clients where seq in ( \
               select seq from clients where account_id = ?1{conditions} order by seq limit ?5 offset ?6) \
             order by seq"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(filter.enabled)
            .bind(needle.as_deref())
            .bind(i64::from(page.size))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
            .fetch_all(&self.readers)
            .await
            .map_err(map_error)?;
        let clients = rows.into_iter().map(ClientRow::into_client).collect::<Result<Vec<_>, _>>()?;
        Ok((clients, u64::try_from(total).unwrap_or_default()))
    }

    async fn update_client(&self, client: &Client, expected_version: i64) -> Result<Written<Client>, StoreError> {
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
        commit(tx, updated, vec![Change::Client(client.client_id.clone())]).await
    }

    async fn renew_client_secret(
        &self,
        client_id: &ClientId,
        secret_hash: &SecretHash,
        replacing: Option<&SecretHash>,
        now: OffsetDateTime,
    ) -> Result<Written<Client>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query(
            "update clients set secret_hash = ?, secret_generation = secret_generation + 1, version = version + 1, \
             date_updated = ? where client_id = ? and (?4 is null or secret_hash = ?4)",
        )
        .bind(secret_hash.as_bytes())
        .bind(now)
        .bind(client_id.as_str())
        .bind(replacing.map(SecretHash::as_bytes))
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
        commit(tx, updated, vec![Change::Client(client_id.clone())]).await
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from clients where client_id = ?")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        commit(tx, (), vec![Change::Client(client_id.clone())]).await
    }
}

pub(crate) async fn insert_client_in(
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
