//! [`KeyStore`]: the signing keys.

use async_trait::async_trait;
use gatehouse_domain::store::{Change, KeyStore, StoreError, StoredSigningKey, Written};

use crate::PostgresStore;
use crate::changes::commit;
use crate::rows::{SigningKeyRow, map_error};

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

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<Written<()>, StoreError> {
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
        commit(tx, (), vec![Change::Keys]).await
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from signing_keys where kid = $1")
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let changes = if result.rows_affected() > 0 { vec![Change::Keys] } else { Vec::new() };
        commit(tx, (), changes).await
    }
}
