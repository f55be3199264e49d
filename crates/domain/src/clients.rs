//! Client operations (seed files 000 and 001, DESIGN.md rules 1-10). Each authorises its actor,
//! applies the rules, calls the store and records the attempt in the audit log.

use std::collections::BTreeSet;

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::account::{Email, Role, User};
use crate::actor::Actor;
use crate::audit::Target;
use crate::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, Scopes, TokenExpiry,
};
use crate::error::{DomainError, ValidationError};
use crate::ids::{AccountId, ClientId, ProjectId, SecretId, UserId};
use crate::optimistic;
use crate::project::{Project, ProjectScope};
use crate::secret::{ClientSecret, StoredSecret};
use crate::service::Gatehouse;
use crate::store::{ClientFilter, PageRequest, StoreError};

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
    /// When the client's first secret stops working; `None`: never.
    pub secret_expires_at: Option<OffsetDateTime>,
    /// The project it belongs to (seed file 002); `None`: none.
    pub project_id: Option<ProjectId>,
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
    /// `Some(None)` takes the client out of its project.
    pub project_id: Option<Option<ProjectId>>,
}

impl ClientPatch {
    /// The names of the fields the patch sets, for the audit log (values are left out).
    fn field_names(&self) -> Vec<&'static str> {
        let fields = [
            ("name", self.name.is_some()),
            ("description", self.description.is_some()),
            ("locked", self.locked.is_some()),
            ("enabled", self.enabled.is_some()),
            ("client_type", self.client_type.is_some()),
            ("scopes", self.scopes.is_some()),
            ("token_expiry_seconds", self.token_expiry.is_some()),
            ("allowed_ips", self.allowed_ips.is_some()),
            ("rate_limit", self.rate_limit.is_some()),
            ("project_id", self.project_id.is_some()),
        ];
        fields.into_iter().filter(|(_, set)| *set).map(|(name, _)| name).collect()
    }

    /// `client.disable` / `client.enable` when that is all the patch does, so the audit log
    /// answers "who disabled it" directly.
    fn action(&self) -> &'static str {
        match (self.enabled, self.field_names().len()) {
            (Some(false), 1) => "client.disable",
            (Some(true), 1) => "client.enable",
            _ => "client.update",
        }
    }
}

/// How far ahead a secret's expiry may be set: further is no expiry in practice, and instants
/// near the end of the calendar overflow date arithmetic.
const MAX_SECRET_LIFETIME: time::Duration = time::Duration::days(3653);

fn client_target(client_id: &ClientId) -> Target<'_> {
    Target { kind: "client", id: client_id.as_str(), account_id: None }
}

impl Gatehouse {
    #[instrument(skip_all)]
    pub async fn create_client(
        &self,
        actor: &Actor,
        new: NewClient,
        now: OffsetDateTime,
    ) -> Result<(Client, ClientSecret), DomainError> {
        let requested_account = new.account_id.clone();
        let result = self.create_client_inner(actor, new, now).await;
        let (id, account) = match &result {
            Ok((client, _)) => (client.client_id.to_string(), Some(client.account_id.clone())),
            Err(_) => (String::new(), requested_account),
        };
        let target = Target { kind: "client", id: &id, account_id: account.as_ref() };
        self.audit(actor, "client.create", &target, &result, json!({}), now).await;
        result
    }

    async fn create_client_inner(
        &self,
        actor: &Actor,
        new: NewClient,
        now: OffsetDateTime,
    ) -> Result<(Client, ClientSecret), DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        let account_id = match new.account_id {
            Some(account_id) => {
                self.visible_account(actor, &account_id).await?;
                account_id
            }
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
        if let Some(project_id) = &new.project_id {
            self.project_for_client(actor, &account_id, project_id).await?;
        }
        let secret = ClientSecret::generate();
        let stored = self.stored_secret(&secret, new.secret_expires_at, now)?;
        let client = Client {
            client_id: ClientId::generate(),
            account_id,
            name: new.name,
            description: new.description,
            // Seed rule 2: the creator owns the client; an API client's owner owns what it
            // creates.
            client_owner: actor.email().clone(),
            client_owner_id: actor.owner_id().clone(),
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
            secret_expires_at: stored.expires_at,
            has_logo: false,
            project_id: new.project_id,
        };
        let written = self.store.insert_client(&client, &stored).await?;
        self.settle(written, now).await;
        tracing::info!(client_id = %client.client_id, "client created");
        Ok((client, secret))
    }

    pub async fn get_client(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_client(actor, client_id).await
        }
        .await;
        // A refused read is written within the actor's budget: a developer probing ids of
        // clients in other projects must not fill the log.
        self.audited_read(actor, "client.read", &client_target(client_id), result, now).await
    }

    pub async fn list_clients(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        filter: &ClientFilter,
        page: PageRequest,
        now: OffsetDateTime,
    ) -> Result<(Vec<Client>, u64), DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_account(actor, &account_id).await?;
            Ok(self.store.list_clients(&account_id, filter, &actor.project_scope(), page).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "client.list", &target, result, now).await
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
        let details = json!({"fields": patch.field_names()});
        let action = patch.action();
        let result = self.update_client_inner(actor, client_id, &patch, if_match, now).await;
        let account = result.as_ref().ok().map(|client| client.account_id.clone());
        let target = Target { kind: "client", id: client_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, action, &target, &result, details, now).await;
        result
    }

    async fn update_client_inner(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        patch: &ClientPatch,
        if_match: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        for attempt in 0..optimistic::ATTEMPTS {
            let current = self.visible_client(actor, client_id).await?;
            // Preconditions are judged after what the request alone decides (RFC 9110
            // §13.2.1): who may change the client (403), and, in the HTTP layer, how the change
            // is spelled (400); but before the change is weighed against the client's current
            // state, which the caller may not have seen.
            actor.may_change(&current)?;
            if if_match.is_some_and(|version| version != current.version) {
                return Err(DomainError::PreconditionFailed);
            }
            let updated = self.apply_patch(actor, &current, patch, now).await?;
            match self.store.update_client(&updated, current.version).await {
                Ok(written) => {
                    tracing::info!("client updated");
                    return Ok(self.settle(written, now).await);
                }
                Err(StoreError::VersionMismatch) if if_match.is_some() => return Err(DomainError::PreconditionFailed),
                Err(StoreError::VersionMismatch) => optimistic::back_off(attempt).await,
                Err(StoreError::NotFound) => return Err(DomainError::NotFound("client")),
                Err(other) => return Err(other.into()),
            }
        }
        Err(DomainError::Conflict("the client is being changed concurrently; try again".to_owned()))
    }

    /// Seed rule 10: the client, its credentials and every token are gone at once.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn delete_client(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            actor.may_change(&client)?;
            match self.store.delete_client(client_id).await {
                Ok(written) => {
                    self.settle(written, now).await;
                    tracing::info!("client deleted");
                    Ok(client.account_id)
                }
                Err(StoreError::NotFound) => Err(DomainError::NotFound("client")),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let account = result.as_ref().ok().cloned();
        let target = Target { kind: "client", id: client_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "client.delete", &target, &result, json!({}), now).await;
        result.map(|_| ())
    }

    /// Seed rule 8: a new secret; the old one and every earlier token are refused at once.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn renew_key(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<(Client, ClientSecret), DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            actor.may_change(&client)?;
            crate::rotation::may_hold_new_secret(actor, &client)?;
            let secret = ClientSecret::generate();
            let client = self.replace_secret(client_id, &secret, now).await?;
            tracing::info!("client key renewed");
            Ok((client, secret))
        }
        .await;
        let account = result.as_ref().ok().map(|(client, _)| client.account_id.clone());
        let target = Target { kind: "client", id: client_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "client.renew_key", &target, &result, json!({}), now).await;
        result
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
        let result = self.transfer_ownership_inner(actor, client_id, new_owner, now).await;
        let account = result.as_ref().ok().map(|client| client.account_id.clone());
        let target = Target { kind: "client", id: client_id.as_str(), account_id: account.as_ref() };
        let details = json!({"client_owner": new_owner.as_str()});
        self.audit(actor, "client.transfer_ownership", &target, &result, details, now).await;
        result
    }

    async fn transfer_ownership_inner(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        new_owner: &Email,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        actor.require(GlobalResource::ApiClients)?;
        // Fewer tries than an edit: handing an admin client to someone else replaces its secret
        // on each try, so a burst of transfers must not turn into a burst of key rotations.
        for attempt in 0..optimistic::TRANSFER_ATTEMPTS {
            let current = self.visible_client(actor, client_id).await?;
            actor.may_change(&current)?;
            // A user of the client's account, or the account's owner, who for a child account
            // lives in its parent. A user of the account whose email an owner or admin above
            // also has is refused: made by an admin who knows its password, it must never
            // receive what someone above meant to hand to themself.
            let user = match self.store.user_by_email(&current.account_id, new_owner).await? {
                Some(_) if self.email_acts_from_above(&current.account_id, new_owner).await? => {
                    return Err(ValidationError::new(
                        "client_owner",
                        "an owner or admin of a parent account has this email too; \
                         remove the client's account's user with it or transfer to another",
                    )
                    .into());
                }
                Some(user) => user,
                None => match self.account_owner(&current.account_id).await? {
                    Some(owner) if owner.email == *new_owner => User { role: Role::Owner, ..owner },
                    _ => {
                        return Err(
                            ValidationError::new("client_owner", "must be a user of the client's account").into()
                        );
                    }
                },
            };
            if current.client_type == ClientType::Admin && !user.role.is_owner_or_admin() {
                return Err(ValidationError::new(
                    "client_owner",
                    "an admin client can only be owned by the account owner or an admin",
                )
                .into());
            }
            // A developer who is not in the client's project would own a client they cannot see.
            if let Some(project_id) = &current.project_id
                && !user.role.is_owner_or_admin()
                && !self.store.is_project_member(project_id, &user.user_id).await?
            {
                return Err(ValidationError::new("client_owner", "must be a member of the client's project").into());
            }
            let current = self.rekeyed_if_handed_over(actor, current, &user.user_id, now).await?;
            match self.write_owner(&current, &user, now).await {
                Err(DomainError::Store(StoreError::VersionMismatch)) => optimistic::back_off(attempt).await,
                other => return other,
            }
        }
        Err(DomainError::Conflict("the client is being changed concurrently; try again".to_owned()))
    }

    /// Seed rule 8's renewal: `secret` replaces the client's, every earlier token is refused.
    pub(crate) async fn replace_secret(
        &self,
        client_id: &ClientId,
        secret: &ClientSecret,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        let stored = self.stored_secret(secret, None, now)?;
        match self.store.renew_client_secret(client_id, &stored, None, now).await {
            Ok(written) => Ok(self.settle(written, now).await),
            Err(StoreError::NotFound) => Err(DomainError::NotFound("client")),
            Err(other) => Err(other.into()),
        }
    }

    /// An admin client leaving the hands of whoever may hold its secret (handed to another
    /// owner, or its owner removed) gets a secret nobody holds: whoever created it or renewed
    /// it last must not keep acting with its next owner's powers. The new owner renews the key
    /// to use it.
    pub(crate) async fn rekey_for_new_owner(
        &self,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        let client = self.replace_secret(client_id, &ClientSecret::generate(), now).await?;
        tracing::info!("admin client's secret replaced for its new owner");
        Ok(client)
    }

    async fn write_owner(&self, current: &Client, owner: &User, now: OffsetDateTime) -> Result<Client, DomainError> {
        let mut updated = current.clone();
        updated.client_owner = owner.email.clone();
        updated.client_owner_id = owner.user_id.clone();
        updated.date_updated = now;
        match self.store.update_client(&updated, current.version).await {
            Ok(written) => {
                tracing::info!("client ownership transferred");
                Ok(self.settle(written, now).await)
            }
            Err(StoreError::NotFound) => Err(DomainError::NotFound("client")),
            Err(other) => Err(other.into()),
        }
    }

    /// An admin client handed by the actor to someone else arrives with a secret nobody holds.
    async fn rekeyed_if_handed_over(
        &self,
        actor: &Actor,
        current: Client,
        new_owner: &UserId,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        if current.client_type == ClientType::Admin && !actor.is_person(new_owner) {
            self.rekey_for_new_owner(&current.client_id, now).await
        } else {
            Ok(current)
        }
    }

    /// A new secret's stored form. `expires_at`, when given, must be in the future.
    pub(crate) fn stored_secret(
        &self,
        secret: &ClientSecret,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<StoredSecret, ValidationError> {
        let expires_at = expires_at.map(crate::clock::to_the_second);
        if expires_at.is_some_and(|expires_at| expires_at <= now) {
            return Err(ValidationError::new("secret_expires_at", "must be in the future"));
        }
        if expires_at.is_some_and(|expires_at| expires_at - now > MAX_SECRET_LIFETIME) {
            return Err(ValidationError::new("secret_expires_at", "must be within ten years"));
        }
        let stored = StoredSecret::new(SecretId::generate(), self.hasher.hash(secret), secret, now);
        Ok(StoredSecret { expires_at, ..stored })
    }

    pub(crate) async fn visible_client(&self, actor: &Actor, client_id: &ClientId) -> Result<Client, DomainError> {
        if !client_id.is_well_formed() {
            return Err(DomainError::NotFound("client"));
        }
        let client = self.store.client(client_id).await?.ok_or(DomainError::NotFound("client"))?;
        self.visible_account(actor, &client.account_id).await.map_err(|_| DomainError::NotFound("client"))?;
        if !self.sees_by_project(actor, &client).await? {
            return Err(DomainError::NotFound("client"));
        }
        Ok(client)
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
        if let Some(target) = patch.project_id.as_ref().filter(|target| **target != current.project_id) {
            // Which developers see a client was chosen by whoever put it in its project; moving it
            // out (to another project, or to none, which shows it to every developer of the
            // account) changes that choice, so only owners and admins do it. A developer puts a
            // client that is in no project into one of theirs.
            if current.project_id.is_some() && actor.project_scope() != ProjectScope::Every {
                return Err(DomainError::Forbidden(
                    "only the account owner and admins move a client out of its project".to_owned(),
                ));
            }
            if let Some(project_id) = target {
                let project = self.project_for_client(actor, &current.account_id, project_id).await?;
                self.owner_sees_clients_of(current, &project).await?;
            }
            next.project_id = target.clone();
        }
        next.date_updated = now;
        Ok(next)
    }

    /// A client goes into a project only if its owner would still see it there: an owner, an
    /// admin, or a member. Otherwise its owner would lose their own client to a move they cannot
    /// undo (as a transfer to a non-member is refused too).
    async fn owner_sees_clients_of(&self, client: &Client, project: &Project) -> Result<(), DomainError> {
        if project.has_member(&client.client_owner_id) {
            return Ok(());
        }
        let owner = self.store.user(&client.client_owner_id).await?;
        if owner.is_some_and(|owner| owner.role.is_owner_or_admin()) {
            return Ok(());
        }
        Err(ValidationError::new(
            "project_id",
            "the client's owner is not a member of this project: add them to it, or transfer the client first",
        )
        .into())
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
