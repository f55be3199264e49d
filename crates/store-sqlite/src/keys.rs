//! [`KeyStore`]: the signing keys.

use async_trait::async_trait;
use gatehouse_domain::store::{Change, KeyStore, StoreError, StoredSigningKey, Written};

use crate::SqliteStore;
use crate::rows::{SigningKeyRow, map_error};

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

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<Written<()>, StoreError> {
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
        Ok(Written::new((), vec![Change::Keys]))
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<Written<()>, StoreError> {
        let result = sqlx::query("delete from signing_keys where kid = ?")
            .bind(kid)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        let changes = if result.rows_affected() > 0 { vec![Change::Keys] } else { Vec::new() };
        Ok(Written::new((), changes))
    }
}
