//! Gatehouse's operations: each one authorises its actor, applies the seed's rules and calls the
//! store. Handlers call these and nothing else.

use std::collections::BTreeSet;
use std::sync::Arc;

use arc_swap::ArcSwap;

use argon2::password_hash::{PasswordHasher, SaltString};
use time::OffsetDateTime;
use tracing::instrument;

use crate::account::{Account, Email, Product, Role, User};
use crate::actor::Actor;
use crate::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, Scopes, TokenExpiry,
};
use crate::error::{DomainError, ValidationError};
use crate::ids::{AccountId, ClientId, UserId};
use crate::master_key::MasterKey;
use crate::random;
use crate::secret::{ClientSecret, SecretHasher};
use crate::store::{Bootstrap, LiveTokenCap, PageRequest, Store, StoreError};
use crate::token::{KeyError, KeyRing, generate_signing_key};

/// Settings the domain needs from configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `iss` of every token; byte-identical to the configured issuer URL.
    pub issuer: String,
    /// Allowed clock skew for `exp` and `iat` (SECURITY.md: explicit, default 5 s).
    pub leeway_seconds: i64,
    /// What minting beyond the live-token cap does (seed rule 11).
    pub token_cap: LiveTokenCap,
}

/// Scopes as requested, before the product names are checked against the catalogue.
#[derive(Clone, Debug, Default)]
pub struct RequestedScopes {
    pub global_resources: Vec<GlobalResource>,
    pub products: Vec<String>,
}

/// A client to create (file 001 `CreateClient` plus DESIGN.md's extended fields).
#[derive(Debug)]
pub struct NewClient {
    pub account_id: Option<AccountId>,
    pub name: ClientName,
    pub description: Description,
    pub locked: Option<bool>,
    pub client_type: Option<ClientType>,
    pub scopes: RequestedScopes,
    pub token_expiry: Option<TokenExpiry>,
    pub allowed_ips: AllowedIps,
    pub rate_limit: Option<RateLimit>,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ClientPatch {
    pub name: Option<ClientName>,
    pub description: Option<Description>,
    pub locked: Option<Option<bool>>,
    pub enabled: Option<bool>,
    pub client_type: Option<ClientType>,
    pub scopes: Option<RequestedScopes>,
    pub token_expiry: Option<TokenExpiry>,
    pub allowed_ips: Option<AllowedIps>,
    pub rate_limit: Option<Option<RateLimit>>,
}

/// What `init` prints once.
pub struct BootstrapCredentials {
    pub account_id: AccountId,
    pub owner_email: Email,
    pub owner_password: String,
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
}

pub struct Gatehouse {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: SecretHasher,
    master_key: MasterKey,
    /// Swapped whole when keys are reloaded; readers never wait.
    pub(crate) keys: ArcSwap<KeyRing>,
    pub(crate) settings: Settings,
}

/// The outcome of a key rotation.
#[derive(Clone, Debug)]
pub struct RotatedKey {
    pub kid: String,
    pub activates_at: OffsetDateTime,
    /// Keys deleted because no valid token can carry them any more.
    pub retired: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Gatehouse {
    /// Loads the signing keys, generating and persisting the first one on a new database.
    pub async fn start(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        settings: Settings,
        now: OffsetDateTime,
    ) -> Result<Self, StartError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let key = generate_signing_key(&master_key, now, now)?;
            store.insert_signing_key(&key).await?;
            stored = store.signing_keys().await?;
            tracing::info!(kid = %key.kid, "generated the first signing key");
        }
        let keys = KeyRing::load(&master_key, &stored, settings.issuer.clone(), settings.leeway_seconds, now)?;
        Ok(Self {
            store,
            hasher: SecretHasher::new(&master_key),
            master_key,
            keys: ArcSwap::from_pointee(keys),
            settings,
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key ring as it is now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.load_full()
    }

    /// Re-reads the signing keys, so a rotation made by another process or instance is picked
    /// up without a restart.
    pub async fn reload_keys(&self, now: OffsetDateTime) -> Result<(), StartError> {
        let stored = self.store.signing_keys().await?;
        let ring =
            KeyRing::load(&self.master_key, &stored, self.settings.issuer.clone(), self.settings.leeway_seconds, now)?;
        self.keys.store(Arc::new(ring));
        Ok(())
    }

    /// Adds a new signing key that starts signing after `activate_after`, published at once so
    /// that every instance and every resource server's JWKS cache can know it first. Keys that
    /// no valid token can carry any more are deleted.
    pub async fn rotate_keys(
        &self,
        now: OffsetDateTime,
        activate_after: time::Duration,
    ) -> Result<RotatedKey, StartError> {
        let key = generate_signing_key(&self.master_key, now, now + activate_after)?;
        self.store.insert_signing_key(&key).await?;
        let stored = self.store.signing_keys().await?;
        let mut retired = Vec::new();
        for old in &stored {
            if crate::token::retired(old, &stored, self.settings.leeway_seconds, now) {
                self.store.delete_signing_key(&old.kid).await?;
                retired.push(old.kid.clone());
            }
        }
        self.reload_keys(now).await?;
        tracing::info!(kid = %key.kid, activates_at = %key.activates_at, retired = retired.len(), "signing key rotated");
        Ok(RotatedKey { kid: key.kid, activates_at: key.activates_at, retired })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Creates the root account, its owner with a generated password, the default product
    /// catalogue and a bootstrap `admin` client holding every global resource and product.
    #[instrument(skip_all)]
    pub async fn bootstrap(
        &self,
        owner_email: Email,
        account_name: &str,
        now: OffsetDateTime,
    ) -> Result<BootstrapCredentials, DomainError> {
        if self.store.is_initialised().await? {
            return Err(DomainError::Conflict("the database is already initialised".to_owned()));
        }
        let account = Account {
            account_id: AccountId::generate(),
            name: account_name.to_owned(),
            parent_account_id: None,
            date_created: now,
        };
        let owner = User {
            user_id: UserId::generate(),
            account_id: account.account_id.clone(),
            email: owner_email.clone(),
            role: Role::Owner,
            date_created: now,
        };
        let owner_password = random::random_token(18);
        let owner_password_hash = hash_password(&owner_password)?;
        let products = Product::defaults();
        let secret = ClientSecret::generate();
        let client = Client {
            client_id: ClientId::generate(),
            account_id: account.account_id.clone(),
            name: ClientName::parse("Bootstrap admin client")?,
            description: Description::parse("Created by gatehouse init")?,
            client_owner: owner_email.clone(),
            client_type: ClientType::Admin,
            locked: Some(true),
            enabled: true,
            scopes: Scopes {
                global_resources: GlobalResource::ALL.into_iter().collect(),
                products: products.iter().map(|p| p.name.clone()).collect(),
            },
            token_expiry: TokenExpiry::DEFAULT,
            allowed_ips: AllowedIps::default(),
            rate_limit: None,
            date_created: now,
            date_updated: now,
            version: 1,
            secret_generation: 1,
        };
        let bootstrap = Bootstrap {
            client_secret_hash: self.hasher.hash(&secret),
            account,
            owner,
            owner_password_hash,
            products,
            client,
        };
        self.store.bootstrap(&bootstrap).await.map_err(|error| match error {
            StoreError::Conflict(_) => DomainError::Conflict("the database is already initialised".to_owned()),
            other => DomainError::Store(other),
        })?;
        Ok(BootstrapCredentials {
            account_id: bootstrap.account.account_id,
            owner_email,
            owner_password,
            client_id: bootstrap.client.client_id,
            client_secret: secret,
        })
    }

    /// Drops the bookkeeping of tokens that can no longer verify (expired beyond the leeway).
    pub async fn purge_expired_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.store.purge_expired_tokens(now - time::Duration::seconds(self.settings.leeway_seconds)).await
    }

    #[instrument(skip_all)]
    pub async fn create_client(
        &self,
        actor: &Actor,
        new: NewClient,
        now: OffsetDateTime,
    ) -> Result<(Client, ClientSecret), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let account_id = match new.account_id {
            Some(account_id) if !actor.can_see(&account_id) => return Err(DomainError::NotFound("account")),
            Some(account_id) => account_id,
            None => actor.account_id.clone(),
        };
        let client_type = new.client_type.unwrap_or(ClientType::Standard);
        if client_type == ClientType::Admin {
            actor.may_grant_admin()?;
        }
        let scopes = self.check_scopes(&account_id, client_type, new.scopes).await?;
        if !scopes.global_resources.is_empty() {
            actor.may_grant_admin()?;
        }
        let secret = ClientSecret::generate();
        let client = Client {
            client_id: ClientId::generate(),
            account_id,
            name: new.name,
            description: new.description,
            // Seed rule 2: the creator owns the client; an API client's owner owns what it
            // creates.
            client_owner: actor.email().clone(),
            client_type,
            locked: new.locked,
            enabled: true,
            scopes,
            token_expiry: new.token_expiry.unwrap_or_default(),
            allowed_ips: new.allowed_ips,
            rate_limit: new.rate_limit,
            date_created: now,
            date_updated: now,
            version: 1,
            secret_generation: 1,
        };
        self.store.insert_client(&client, &self.hasher.hash(&secret)).await?;
        tracing::info!(client_id = %client.client_id, "client created");
        Ok((client, secret))
    }

    pub async fn get_client(&self, actor: &Actor, client_id: &ClientId) -> Result<Client, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        self.visible_client(actor, client_id).await
    }

    pub async fn list_clients(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        client_type: Option<ClientType>,
        page: PageRequest,
    ) -> Result<(Vec<Client>, u64), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        if !actor.can_see(&account_id) {
            return Err(DomainError::NotFound("account"));
        }
        Ok(self.store.list_clients(&account_id, client_type, page).await?)
    }

    /// Applies `patch`. With `if_match`, only if the client is still at that version (412
    /// otherwise); without it, a concurrent change is re-read and the patch re-applied.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn update_client(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        patch: ClientPatch,
        if_match: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let current = self.visible_client(actor, client_id).await?;
            if if_match.is_some_and(|version| version != current.version) {
                return Err(DomainError::PreconditionFailed);
            }
            actor.may_change(&current)?;
            let updated = self.apply_patch(actor, &current, &patch, now).await?;
            match self.store.update_client(&updated, current.version).await {
                Ok(client) => {
                    tracing::info!("client updated");
                    return Ok(client);
                }
                Err(StoreError::VersionMismatch) if if_match.is_some() => return Err(DomainError::PreconditionFailed),
                Err(StoreError::VersionMismatch) => continue,
                Err(StoreError::NotFound) => return Err(DomainError::NotFound("client")),
                Err(other) => return Err(other.into()),
            }
        }
        Err(DomainError::Conflict("the client is being changed concurrently; try again".to_owned()))
    }

    /// Seed rule 10: the client, its credentials and every token are gone at once.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn delete_client(&self, actor: &Actor, client_id: &ClientId) -> Result<(), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let client = self.visible_client(actor, client_id).await?;
        actor.may_change(&client)?;
        match self.store.delete_client(client_id).await {
            Ok(()) => {
                tracing::info!("client deleted");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(DomainError::NotFound("client")),
            Err(other) => Err(other.into()),
        }
    }

    /// Seed rule 8: a new secret; the old one and every earlier token are refused at once.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn renew_key(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<(Client, ClientSecret), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let client = self.visible_client(actor, client_id).await?;
        actor.may_change(&client)?;
        let secret = ClientSecret::generate();
        let client = match self.store.renew_client_secret(client_id, &self.hasher.hash(&secret), now).await {
            Ok(client) => client,
            Err(StoreError::NotFound) => return Err(DomainError::NotFound("client")),
            Err(other) => return Err(other.into()),
        };
        tracing::info!("client key renewed");
        Ok((client, secret))
    }

    /// Seed rule 9: to another user of the same account; an `admin` client only to an owner or
    /// admin.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn transfer_ownership(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        new_owner: &Email,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        for _ in 0..5 {
            let current = self.visible_client(actor, client_id).await?;
            actor.may_change(&current)?;
            let Some(user) = self.store.user_by_email(&current.account_id, new_owner).await? else {
                return Err(ValidationError::new("client_owner", "must be a user of the client's account").into());
            };
            if current.client_type == ClientType::Admin && !user.role.is_owner_or_admin() {
                return Err(ValidationError::new(
                    "client_owner",
                    "an admin client can only be owned by the account owner or an admin",
                )
                .into());
            }
            let mut updated = current.clone();
            updated.client_owner = user.email;
            updated.date_updated = now;
            match self.store.update_client(&updated, current.version).await {
                Ok(client) => {
                    tracing::info!("client ownership transferred");
                    return Ok(client);
                }
                Err(StoreError::VersionMismatch) => continue,
                Err(StoreError::NotFound) => return Err(DomainError::NotFound("client")),
                Err(other) => return Err(other.into()),
            }
        }
        Err(DomainError::Conflict("the client is being changed concurrently; try again".to_owned()))
    }

    async fn visible_client(&self, actor: &Actor, client_id: &ClientId) -> Result<Client, DomainError> {
        match self.store.client(client_id).await? {
            Some(client) if actor.can_see(&client.account_id) => Ok(client),
            _ => Err(DomainError::NotFound("client")),
        }
    }

    async fn apply_patch(
        &self,
        actor: &Actor,
        current: &Client,
        patch: &ClientPatch,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        let mut next = current.clone();
        if let Some(name) = &patch.name {
            next.name = name.clone();
        }
        if let Some(description) = &patch.description {
            next.description = description.clone();
        }
        if let Some(locked) = patch.locked {
            next.locked = locked;
        }
        if let Some(enabled) = patch.enabled {
            next.enabled = enabled;
        }
        if let Some(client_type) = patch.client_type {
            if client_type == ClientType::Admin && current.client_type != ClientType::Admin {
                actor.may_grant_admin()?;
            }
            next.client_type = client_type;
        }
        if let Some(requested) = &patch.scopes {
            let scopes = self.check_scopes(&current.account_id, next.client_type, requested.clone()).await?;
            if !scopes.global_resources.is_subset(&current.scopes.global_resources) {
                actor.may_grant_admin()?;
            }
            next.scopes = scopes;
        } else if next.client_type == ClientType::Standard && !next.scopes.global_resources.is_empty() {
            return Err(standard_cannot_hold_global_resources());
        }
        if let Some(expiry) = patch.token_expiry {
            next.token_expiry = expiry;
        }
        if let Some(allowed_ips) = &patch.allowed_ips {
            next.allowed_ips = allowed_ips.clone();
        }
        if let Some(rate_limit) = patch.rate_limit {
            next.rate_limit = rate_limit;
        }
        next.date_updated = now;
        Ok(next)
    }

    /// Seed rule 4 and the catalogue: standard clients hold products only, and every product
    /// must exist in the account.
    async fn check_scopes(
        &self,
        account_id: &AccountId,
        client_type: ClientType,
        requested: RequestedScopes,
    ) -> Result<Scopes, DomainError> {
        if client_type == ClientType::Standard && !requested.global_resources.is_empty() {
            return Err(standard_cannot_hold_global_resources());
        }
        let catalogue = self.store.products(account_id).await?;
        let mut products = BTreeSet::new();
        for product in requested.products {
            if !catalogue.iter().any(|known| known.name == product) {
                return Err(ValidationError::new(
                    "scopes.products",
                    "names a product that is not in the account's catalogue",
                )
                .into());
            }
            products.insert(product);
        }
        Ok(Scopes { global_resources: requested.global_resources.into_iter().collect(), products })
    }
}

fn standard_cannot_hold_global_resources() -> DomainError {
    ValidationError::new("scopes.global_resources", "standard clients cannot hold global resources").into()
}

/// Splits a token's `scope` claim back into global resources and products. Product names may
/// not collide with global resource names, so the split is unambiguous.
pub fn scopes_from_claim(scope: &str) -> Scopes {
    let mut scopes = Scopes::default();
    for token in scope.split(' ').filter(|token| !token.is_empty()) {
        match GlobalResource::parse(token) {
            Some(resource) => {
                scopes.global_resources.insert(resource);
            }
            None => {
                scopes.products.insert(token.to_owned());
            }
        }
    }
    scopes
}

fn hash_password(password: &str) -> Result<String, DomainError> {
    let mut salt = [0u8; 16];
    random::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|error| StoreError::Internal(error.to_string()))?;
    // Argon2::default() is Argon2id, 19 MiB, t=2, p=1: the OWASP recommendation.
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| DomainError::Store(StoreError::Internal(error.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(global: &[GlobalResource], products: &[&str]) -> Scopes {
        Scopes {
            global_resources: global.iter().copied().collect(),
            products: products.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn claim_scopes_split_into_globals_and_products() {
        let parsed = scopes_from_claim("api_clients SuperSIM");
        assert_eq!(parsed, scopes(&[GlobalResource::ApiClients], &["SuperSIM"]));
    }
}
