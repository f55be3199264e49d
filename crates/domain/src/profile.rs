//! Access profiles (seed file 002, limits from file 003): named extra credentials of a client,
//! each with its own products (a subset of the client's), authentication method, allowed IPs,
//! rate limit and active switch.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::{AllowedIps, Client, ClientName, GlobalResource, RateLimit};
use crate::error::{DomainError, ValidationError};
use crate::ids::{ClientId, PolicyId, ProfileId};
use crate::optimistic;
use crate::policy::{PolicyLimits, both_allow};
use crate::secret::{ClientSecret, LastUse, SecretHash};
use crate::service::Gatehouse;
use crate::store::StoreError;
use crate::trust::{ProfileTrust, TrustInput};

/// Seed rule 11: at most 10 access profiles per client.
pub const MAX_PROFILES_PER_CLIENT: usize = 10;

/// Prefix of API keys, so scanners and the gateway recognise them.
pub use crate::secret::API_KEY_PREFIX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// Its own client id (the profile id) and secret at the token endpoint.
    ClientSecret,
    /// A static key presented directly to the gateway.
    ApiKey,
    /// The consumer's own key pair: a short JWT it signs, at the gateway or the token endpoint.
    Jwt,
    /// Tokens an outside identity provider issued (OpenID Connect).
    Oidc,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecret => "client_secret",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Jwt => "jwt",
            AuthMethod::Oidc => "oidc",
        }
    }

    /// Whether Gatehouse makes the credential (and shows it once); `jwt` and `oidc` profiles
    /// have none, they trust keys instead.
    pub fn has_credential(self) -> bool {
        matches!(self, AuthMethod::ClientSecret | AuthMethod::ApiKey)
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        match value {
            "client_secret" => Ok(AuthMethod::ClientSecret),
            "api_key" => Ok(AuthMethod::ApiKey),
            "jwt" => Ok(AuthMethod::Jwt),
            "oidc" => Ok(AuthMethod::Oidc),
            _ => {
                Err(ValidationError::new("auth_method", "must be \"client_secret\", \"api_key\", \"jwt\" or \"oidc\""))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessProfile {
    pub profile_id: ProfileId,
    pub client_id: ClientId,
    pub name: ClientName,
    pub products: BTreeSet<String>,
    pub auth_method: AuthMethod,
    pub allowed_ips: AllowedIps,
    pub rate_limit: Option<RateLimit>,
    pub active: bool,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
    pub version: i64,
    /// Bumped by every refresh; tokens of an earlier generation are refused.
    pub secret_generation: i64,
    /// When and from where its credential was last used, as last written in a batch.
    pub last_use: Option<LastUse>,
    /// The policy it is under, as read with it.
    pub policy: Option<PolicyLimits>,
    /// The keys or identity provider a `jwt` or `oidc` profile trusts; `None` for the others.
    pub trust: Option<ProfileTrust>,
}

impl AccessProfile {
    /// Seed rule 13 for the profile: its own list and its policy's both allow `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        both_allow(&self.allowed_ips, self.policy.as_ref(), ip)
    }
}

/// A profile's credential, shown once (rule 1).
pub enum ProfileCredential {
    ClientSecret { client_id: ProfileId, client_secret: ClientSecret },
    ApiKey(ClientSecret),
}

impl ProfileCredential {
    fn generate(method: AuthMethod, profile_id: &ProfileId) -> Option<Self> {
        match method {
            AuthMethod::ClientSecret => Some(ProfileCredential::ClientSecret {
                client_id: profile_id.clone(),
                client_secret: ClientSecret::generate(),
            }),
            AuthMethod::ApiKey => Some(ProfileCredential::ApiKey(ClientSecret::generate_api_key())),
            AuthMethod::Jwt | AuthMethod::Oidc => None,
        }
    }

    fn secret(&self) -> &ClientSecret {
        match self {
            ProfileCredential::ClientSecret { client_secret, .. } => client_secret,
            ProfileCredential::ApiKey(key) => key,
        }
    }
}

pub struct NewProfile {
    pub name: ClientName,
    pub products: Vec<String>,
    pub auth_method: AuthMethod,
    pub allowed_ips: AllowedIps,
    pub rate_limit: Option<RateLimit>,
    pub active: bool,
    /// A policy of the client's account to put it under.
    pub policy_id: Option<PolicyId>,
    /// `jwt` or `oidc` as given, for a profile of that method.
    pub trust: TrustInput,
}

#[derive(Default)]
pub struct ProfilePatch {
    pub name: Option<ClientName>,
    pub products: Option<Vec<String>>,
    pub allowed_ips: Option<AllowedIps>,
    pub rate_limit: Option<Option<RateLimit>>,
    pub active: Option<bool>,
    /// `Some(None)` takes it out from under its policy.
    pub policy_id: Option<Option<PolicyId>>,
    /// New keys (`jwt`) or a new provider description (`oidc`), replacing the old whole.
    pub trust: TrustInput,
}

fn profile_products(client: &Client, requested: Vec<String>) -> Result<BTreeSet<String>, DomainError> {
    let products: BTreeSet<String> = requested.into_iter().collect();
    if !products.is_subset(&client.scopes.products) {
        return Err(ValidationError::new("products", "must be products the client itself holds").into());
    }
    Ok(products)
}

impl Gatehouse {
    pub async fn list_profiles(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<Vec<AccessProfile>, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            Ok(self.store.profiles(&client.client_id).await?)
        }
        .await;
        let target = Target { kind: "client", id: client_id.as_str(), account_id: None };
        self.audited_read(actor, "access_profile.list", &target, result, now).await
    }

    pub async fn get_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
        now: OffsetDateTime,
    ) -> Result<AccessProfile, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_profile(actor, client_id, profile_id).await.map(|(_, profile)| profile)
        }
        .await;
        let target = Target { kind: "access_profile", id: profile_id.as_str(), account_id: None };
        self.audited_read(actor, "access_profile.read", &target, result, now).await
    }

    pub(crate) async fn visible_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
    ) -> Result<(Client, AccessProfile), DomainError> {
        let client = self.visible_client(actor, client_id).await?;
        if !profile_id.is_well_formed() {
            return Err(DomainError::NotFound("access profile"));
        }
        match self.store.profile(profile_id).await? {
            Some(profile) if profile.client_id == client.client_id => Ok((client, profile)),
            _ => Err(DomainError::NotFound("access profile")),
        }
    }

    /// Creates a profile and its credential, shown this once. At most ten per client.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn create_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        new: NewProfile,
        now: OffsetDateTime,
    ) -> Result<(AccessProfile, Option<ProfileCredential>), DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            actor.may_change(&client)?;
            let policy = match &new.policy_id {
                Some(policy_id) => Some(self.policy_for_profile(actor, &client, policy_id).await?.limits()),
                None => None,
            };
            let profile_id = ProfileId::generate();
            let trust = new.trust.resolve(new.auth_method, &profile_id, &self.settings.issuer)?;
            if new.auth_method.has_credential() == trust.is_some() {
                return Err(ValidationError::new(
                    "auth_method",
                    "a jwt profile takes \"jwt\", an oidc profile \"oidc\", the others neither",
                )
                .into());
            }
            self.oidc_key_is_free(trust.as_ref(), &profile_id).await?;
            let profile = AccessProfile {
                profile_id,
                client_id: client.client_id.clone(),
                name: new.name,
                products: profile_products(&client, new.products)?,
                auth_method: new.auth_method,
                allowed_ips: new.allowed_ips,
                rate_limit: new.rate_limit,
                active: new.active,
                date_created: now,
                date_updated: now,
                version: 1,
                secret_generation: 1,
                last_use: None,
                policy,
                trust,
            };
            let credential = ProfileCredential::generate(profile.auth_method, &profile.profile_id);
            // A profile without a credential stores the hash of one nobody holds.
            let hash = match &credential {
                Some(credential) => self.hasher.hash(credential.secret()),
                None => self.hasher.hash(&ClientSecret::generate()),
            };
            let inserted = self.store.insert_profile(&profile, &hash, MAX_PROFILES_PER_CLIENT).await;
            let written = match inserted {
                Err(StoreError::Conflict(_)) => {
                    // Either the last place was taken, or another profile took the issuer and
                    // audience meanwhile: whichever it is, it is now visible.
                    self.oidc_key_is_free(profile.trust.as_ref(), &profile.profile_id).await?;
                    return Err(DomainError::Conflict("a client holds at most 10 access profiles".to_owned()));
                }
                other => other?,
            };
            self.settle(written, now).await;
            Ok((client, profile, credential))
        }
        .await;
        let account = result.as_ref().ok().map(|(client, _, _)| client.account_id.clone());
        let id = result.as_ref().map(|(_, p, _)| p.profile_id.to_string()).unwrap_or_default();
        let target = Target { kind: "access_profile", id: &id, account_id: account.as_ref() };
        self.audit(actor, "access_profile.create", &target, &result, json!({"client_id": client_id.as_str()}), now)
            .await;
        result.map(|(_, profile, credential)| (profile, credential))
    }

    #[instrument(skip_all, fields(profile_id = %profile_id))]
    pub async fn update_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
        patch: ProfilePatch,
        now: OffsetDateTime,
    ) -> Result<AccessProfile, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            for attempt in 0..optimistic::ATTEMPTS {
                let (client, current) = self.visible_profile(actor, client_id, profile_id).await?;
                actor.may_change(&client)?;
                let mut next = current.clone();
                if let Some(name) = &patch.name {
                    next.name = name.clone();
                }
                if let Some(products) = &patch.products {
                    next.products = profile_products(&client, products.clone())?;
                }
                if let Some(allowed_ips) = &patch.allowed_ips {
                    next.allowed_ips = allowed_ips.clone();
                }
                if let Some(rate_limit) = patch.rate_limit {
                    next.rate_limit = rate_limit;
                }
                if let Some(active) = patch.active {
                    next.active = active;
                }
                let trust = patch.trust.resolve_change(current.auth_method, profile_id, &self.settings.issuer)?;
                if let Some(trust) = trust
                    && Some(&trust) != current.trust.as_ref()
                {
                    self.oidc_key_is_free(Some(&trust), profile_id).await?;
                    // What the old keys or provider signed stops at once, tokens minted with
                    // them included, as when a credential is refreshed.
                    next.secret_generation += 1;
                    next.trust = Some(trust);
                }
                let current_policy = current.policy.as_ref().map(|policy| &policy.policy_id);
                if let Some(target) = patch.policy_id.as_ref().filter(|target| target.as_ref() != current_policy) {
                    // A policy binds whoever holds the credential, developers included: taking a
                    // profile out from under one (or moving it to another) is for those who
                    // shape policies. Putting one under a policy only narrows it.
                    if current.policy.is_some() {
                        actor.may_shape_policies()?;
                    }
                    next.policy = match target {
                        Some(policy_id) => Some(self.policy_for_profile(actor, &client, policy_id).await?.limits()),
                        None => None,
                    };
                }
                next.date_updated = now;
                // No precondition was asked for: another write getting in first is retried.
                match self.store.update_profile(&next, current.version).await {
                    Ok(written) => return Ok((client, self.settle(written, now).await)),
                    Err(StoreError::VersionMismatch) => optimistic::back_off(attempt).await,
                    Err(StoreError::NotFound) => return Err(DomainError::NotFound("access profile")),
                    Err(other) => return Err(other.into()),
                }
            }
            Err(DomainError::Conflict("the access profile kept changing; try again".to_owned()))
        }
        .await;
        let account = result.as_ref().ok().map(|(client, _)| client.account_id.clone());
        let target = Target { kind: "access_profile", id: profile_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "access_profile.update", &target, &result, json!({}), now).await;
        result.map(|(_, profile)| profile)
    }

    /// Seed file 002 and rule 14: a new credential; the old one and its tokens stop at once.
    #[instrument(skip_all, fields(profile_id = %profile_id))]
    pub async fn refresh_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
        now: OffsetDateTime,
    ) -> Result<(AccessProfile, ProfileCredential), DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let (client, current) = self.visible_profile(actor, client_id, profile_id).await?;
            actor.may_change(&client)?;
            let Some(credential) = ProfileCredential::generate(current.auth_method, profile_id) else {
                return Err(ValidationError::new(
                    "auth_method",
                    "a jwt or oidc profile has no credential to refresh: replace its keys or provider with PATCH",
                )
                .into());
            };
            let hash: SecretHash = self.hasher.hash(credential.secret());
            let written = self.store.refresh_profile_credential(profile_id, &hash, None, now).await.map_err(
                |error| match error {
                    StoreError::NotFound => DomainError::NotFound("access profile"),
                    other => other.into(),
                },
            )?;
            let profile = self.settle(written, now).await;
            Ok((client, profile, credential))
        }
        .await;
        let account = result.as_ref().ok().map(|(client, _, _)| client.account_id.clone());
        let target = Target { kind: "access_profile", id: profile_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "access_profile.refresh", &target, &result, json!({}), now).await;
        result.map(|(_, profile, credential)| (profile, credential))
    }

    #[instrument(skip_all, fields(profile_id = %profile_id))]
    pub async fn delete_profile(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let (client, _) = self.visible_profile(actor, client_id, profile_id).await?;
            actor.may_change(&client)?;
            let written = self.store.delete_profile(profile_id).await?;
            self.settle(written, now).await;
            Ok(client.account_id)
        }
        .await;
        let account = result.as_ref().ok().cloned();
        let target = Target { kind: "access_profile", id: profile_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "access_profile.delete", &target, &result, json!({}), now).await;
        result.map(|_| ())
    }
}

/// Whether a presented credential is an API key.
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(API_KEY_PREFIX)
}

impl ProfileCredential {
    /// The values to show, once.
    pub fn expose(&self) -> serde_json::Value {
        match self {
            ProfileCredential::ClientSecret { client_id, client_secret } => {
                json!({"client_id": client_id.as_str(), "client_secret": client_secret.expose()})
            }
            ProfileCredential::ApiKey(key) => json!({"api_key": key.expose()}),
        }
    }
}
