//! The product catalogue (DESIGN.md "Concepts"): the APIs an account's clients are scoped to,
//! and the path prefixes the gateway check maps requests to them by.

use gatehouse_edge::original_path;
use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::account::Product;
use crate::actor::Actor;
use crate::audit::Target;
use crate::client::GlobalResource;
use crate::error::{DomainError, ValidationError};
use crate::ids::AccountId;
use crate::service::Gatehouse;
use crate::store::StoreError;

/// A product name: a letter, then letters, digits, `_`, `.` or `-`, at most 64 in all, and not
/// a global resource's name (token scopes hold both kinds side by side).
pub fn parse_product_name(value: &str) -> Result<String, ValidationError> {
    let valid = value.len() <= 64
        && value.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(ValidationError::new(
            "name",
            "must start with a letter and hold only letters, digits, '_', '.' and '-' (at most 64)",
        ));
    }
    if GlobalResource::parse(value).is_some() {
        return Err(ValidationError::new("name", "is reserved for a global resource"));
    }
    Ok(value.to_owned())
}

/// The most path prefixes a product has.
pub const MAX_PATH_PREFIXES: usize = 20;
/// The longest path prefix (ASCII only, so characters and bytes agree).
pub const MAX_PATH_PREFIX_CHARS: usize = 200;

/// Path prefixes: each a plain path the gateway check can match (starts with `/`, no empty or
/// dot segment, no escape, `;`, `\`, `?`, `#`, space or control: see
/// `gatehouse_edge::original_path`), at most 200 characters; at most 20 per product.
pub fn parse_path_prefixes(values: &[String]) -> Result<Vec<String>, ValidationError> {
    if values.len() > MAX_PATH_PREFIXES {
        return Err(ValidationError::new("path_prefixes", "must hold at most 20 entries"));
    }
    let mut prefixes = Vec::with_capacity(values.len());
    for value in values {
        if value.len() > MAX_PATH_PREFIX_CHARS || !original_path::is_valid_prefix(value) {
            return Err(ValidationError::new(
                "path_prefixes",
                "each entry must be a path starting with '/', without empty or dot segments, escapes, \
                 spaces, controls or any of ';\\?#', at most 200 characters",
            ));
        }
        if !prefixes.contains(value) {
            prefixes.push(value.clone());
        }
    }
    Ok(prefixes)
}

pub fn parse_product_description(value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.chars().count() > 1000 || trimmed.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new("description", "must be at most 1000 characters without control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Changes to a product.
#[derive(Debug, Default)]
pub struct ProductPatch {
    pub description: Option<String>,
    pub path_prefixes: Option<Vec<String>>,
}

impl Gatehouse {
    pub async fn list_products(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Product>, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_account(actor, &account_id).await?;
            Ok(self.store.products(&account_id).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "product.list", &target, result, now).await
    }

    /// A product of `account_id` (the actor's own account if `None`; an owner or admin also
    /// names one below it, as for every catalogue operation).
    pub async fn get_product(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<Product, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let account_id = self.catalogue_account(actor, account_id).await?;
            self.find_product(&account_id, name).await
        }
        .await;
        let target = Target { kind: "product", id: name, account_id: None };
        self.audited_read(actor, "product.read", &target, result, now).await
    }

    /// The account whose catalogue is meant: the actor's own, or one it may see.
    async fn catalogue_account(&self, actor: &Actor, account_id: Option<AccountId>) -> Result<AccountId, DomainError> {
        match account_id {
            Some(account_id) if account_id != actor.account_id => {
                Ok(self.visible_account(actor, &account_id).await?.account_id)
            }
            _ => Ok(actor.account_id.clone()),
        }
    }

    async fn find_product(&self, account_id: &AccountId, name: &str) -> Result<Product, DomainError> {
        self.store
            .products(account_id)
            .await?
            .into_iter()
            .find(|product| product.name == name)
            .ok_or(DomainError::NotFound("product"))
    }

    /// Only owners and admins shape the catalogue.
    fn may_edit_catalogue(actor: &Actor) -> Result<(), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        if !actor.role.is_owner_or_admin() {
            return Err(DomainError::Forbidden(
                "only the account owner and admins change the product catalogue".to_owned(),
            ));
        }
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn create_product(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        product: Product,
        now: OffsetDateTime,
    ) -> Result<Product, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            Self::may_edit_catalogue(actor)?;
            self.visible_account(actor, &account_id).await?;
            let written = self.store.insert_product(&account_id, &product).await.map_err(|error| match error {
                StoreError::Conflict(_) => DomainError::Conflict("a product with this name already exists".to_owned()),
                other => other.into(),
            })?;
            self.settle(written, now).await;
            Ok(product)
        }
        .await;
        let target = Target {
            kind: "product",
            id: result.as_ref().map(|p| p.name.as_str()).unwrap_or(""),
            account_id: Some(&account_id),
        };
        self.audit(actor, "product.create", &target, &result, json!({}), now).await;
        result
    }

    #[instrument(skip_all)]
    pub async fn update_product(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        name: &str,
        patch: ProductPatch,
        now: OffsetDateTime,
    ) -> Result<Product, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            Self::may_edit_catalogue(actor)?;
            let account_id = self.catalogue_account(actor, Some(account_id.clone())).await?;
            let mut product = self.find_product(&account_id, name).await?;
            if let Some(description) = patch.description {
                product.description = description;
            }
            if let Some(prefixes) = patch.path_prefixes {
                product.path_prefixes = prefixes;
            }
            let written = self.store.update_product(&account_id, &product).await?;
            self.settle(written, now).await;
            Ok(product)
        }
        .await;
        let target = Target { kind: "product", id: name, account_id: Some(&account_id) };
        self.audit(actor, "product.update", &target, &result, json!({}), now).await;
        result
    }

    /// A product still granted to a client cannot be deleted (409): remove it from the clients
    /// first, so no client silently loses access.
    #[instrument(skip_all)]
    pub async fn delete_product(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            Self::may_edit_catalogue(actor)?;
            let account_id = self.catalogue_account(actor, Some(account_id.clone())).await?;
            self.find_product(&account_id, name).await?;
            if self.store.product_in_use(&account_id, name).await? {
                return Err(DomainError::Conflict("the product is still granted to clients".to_owned()));
            }
            let written = self.store.delete_product(&account_id, name).await?;
            self.settle(written, now).await;
            Ok(())
        }
        .await;
        let target = Target { kind: "product", id: name, account_id: Some(&account_id) };
        self.audit(actor, "product.delete", &target, &result, json!({}), now).await;
        result
    }
}
