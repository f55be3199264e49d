//! [`AccountStore`]: the accounts and their products.

use async_trait::async_trait;
use gatehouse_domain::account::{Account, Product};
use gatehouse_domain::ids::AccountId;
use gatehouse_domain::store::{AccountStore, Bootstrap, Change, StoreError, Written};
use sqlx::PgConnection;

use crate::PostgresStore;
use crate::changes::commit;
use crate::clients::insert_client_in;
use crate::people::insert_user_in;
use crate::rows::{self, AccountRow, json, map_error};

#[async_trait]
impl AccountStore for PostgresStore {
    async fn is_initialised(&self) -> Result<bool, StoreError> {
        sqlx::query_scalar("select exists (select 1 from accounts)").fetch_one(&self.pool).await.map_err(map_error)
    }

    async fn bootstrap(&self, bootstrap: &Bootstrap) -> Result<Written<()>, StoreError> {
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
        insert_client_in(&mut tx, &bootstrap.client, &bootstrap.client_secret).await?;
        let changes = vec![
            Change::Catalogue(bootstrap.account.account_id.clone()),
            Change::Client(bootstrap.client.client_id.clone()),
        ];
        commit(tx, (), changes).await
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

    async fn insert_account(&self, account: &Account, products: &[Product]) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        insert_account_in(&mut tx, account, products).await?;
        commit(tx, (), vec![Change::Catalogue(account.account_id.clone())]).await
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

    async fn insert_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        insert_product_in(&mut tx, account_id, product).await?;
        commit(tx, (), vec![Change::Catalogue(account_id.clone())]).await
    }

    async fn update_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError> {
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
        commit(tx, (), vec![Change::Catalogue(account_id.clone())]).await
    }

    async fn delete_product(&self, account_id: &AccountId, name: &str) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from products where account_id = $1 and name = $2")
            .bind(account_id.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let changes = if result.rows_affected() > 0 { vec![Change::Catalogue(account_id.clone())] } else { Vec::new() };
        commit(tx, (), changes).await
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

    async fn root_product_names(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "select distinct p.name collate \"C\" as name from products p join accounts a on a.account_id = p.account_id \
             where a.parent_account_id is null order by name",
        )
        .fetch_all(&self.pool)
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
