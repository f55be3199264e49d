//! [`AccountStore`]: the accounts and their products.

use async_trait::async_trait;
use gatehouse_domain::account::{Account, Product};
use gatehouse_domain::ids::AccountId;
use gatehouse_domain::store::{AccountStore, Bootstrap, Change, StoreError, Written};
use sqlx::{Sqlite, Transaction};

use crate::SqliteStore;
use crate::changes::commit;
use crate::clients::insert_client_in;
use crate::people::insert_user_in;
use crate::rows::{self, AccountRow, json, map_error};

#[async_trait]
impl AccountStore for SqliteStore {
    async fn is_initialised(&self) -> Result<bool, StoreError> {
        let count: i64 =
            sqlx::query_scalar("select count(*) from accounts").fetch_one(&self.readers).await.map_err(map_error)?;
        Ok(count > 0)
    }

    async fn bootstrap(&self, bootstrap: &Bootstrap) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        // Checked inside the write transaction: two racing `init`s cannot both succeed.
        let count: i64 =
            sqlx::query_scalar("select count(*) from accounts").fetch_one(&mut *tx).await.map_err(map_error)?;
        if count > 0 {
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
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts where account_id = ?",
        )
        .bind(account_id.as_str())
        .fetch_optional(&self.readers)
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
        let rows: Vec<AccountRow> = sqlx::query_as(
            "select account_id, name, parent_account_id, owner_user_id, date_created from accounts \
             where parent_account_id = ? order by date_created, account_id",
        )
        .bind(parent.as_str())
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(rows.into_iter().map(AccountRow::into_account).collect())
    }

    async fn products(&self, account_id: &AccountId) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("select name, description, path_prefixes from products where account_id = ? order by name")
                .bind(account_id.as_str())
                .fetch_all(&self.readers)
                .await
                .map_err(map_error)?;
        rows.into_iter()
            .map(|(name, description, prefixes)| {
                Ok(Product { name, description, path_prefixes: rows::from_json(&prefixes)? })
            })
            .collect()
    }

    async fn insert_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError> {
        sqlx::query("insert into products (account_id, name, description, path_prefixes) values (?, ?, ?, ?)")
            .bind(account_id.as_str())
            .bind(&product.name)
            .bind(&product.description)
            .bind(json(&product.path_prefixes)?)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(Written::new((), vec![Change::Catalogue(account_id.clone())]))
    }

    async fn update_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError> {
        let result =
            sqlx::query("update products set description = ?, path_prefixes = ? where account_id = ? and name = ?")
                .bind(&product.description)
                .bind(json(&product.path_prefixes)?)
                .bind(account_id.as_str())
                .bind(&product.name)
                .execute(&self.writer)
                .await
                .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(Written::new((), vec![Change::Catalogue(account_id.clone())]))
    }

    async fn delete_product(&self, account_id: &AccountId, name: &str) -> Result<Written<()>, StoreError> {
        let result = sqlx::query("delete from products where account_id = ? and name = ?")
            .bind(account_id.as_str())
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        let changes = if result.rows_affected() > 0 { vec![Change::Catalogue(account_id.clone())] } else { Vec::new() };
        Ok(Written::new((), changes))
    }

    async fn product_in_use(&self, account_id: &AccountId, name: &str) -> Result<bool, StoreError> {
        let used: Option<i64> = sqlx::query_scalar(
            "select 1 from clients, json_each(clients.products) where clients.account_id = ? and json_each.value = ? limit 1",
        )
        .bind(account_id.as_str())
        .bind(name)
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(used.is_some())
    }

    async fn root_product_names(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "select distinct p.name from products p join accounts a on a.account_id = p.account_id \
             where a.parent_account_id is null order by p.name",
        )
        .fetch_all(&self.readers)
        .await
        .map_err(map_error)
    }

    async fn root_account(&self) -> Result<Option<AccountId>, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "select account_id from accounts where parent_account_id is null order by date_created, account_id limit 1",
        )
        .fetch_optional(&self.readers)
        .await
        .map_err(map_error)?;
        Ok(found.map(AccountId::from_string))
    }
}

async fn insert_account_in(
    tx: &mut Transaction<'_, Sqlite>,
    account: &Account,
    products: &[Product],
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into accounts (account_id, name, parent_account_id, owner_user_id, date_created) values (?, ?, ?, ?, ?)",
    )
    .bind(account.account_id.as_str())
    .bind(&account.name)
    .bind(account.parent_account_id.as_ref().map(AccountId::as_str))
    .bind(account.owner_user_id.as_str())
    .bind(account.date_created)
        .execute(&mut **tx)
        .await
        .map_err(map_error)?;
    for product in products {
        sqlx::query("insert into products (account_id, name, description, path_prefixes) values (?, ?, ?, ?)")
            .bind(account.account_id.as_str())
            .bind(&product.name)
            .bind(&product.description)
            .bind(json(&product.path_prefixes)?)
            .execute(&mut **tx)
            .await
            .map_err(map_error)?;
    }
    Ok(())
}
