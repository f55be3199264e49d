//! The OAuth 2.0 operations: the client-credentials grant (RFC 6749 §4.4), bearer-token
//! authentication, introspection (RFC 7662) and revocation (RFC 7009).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use time::OffsetDateTime;
use tracing::instrument;

use crate::account::Role;
use crate::actor::{Actor, Principal};
use crate::client::{Client, GlobalResource, Scopes};
use crate::error::{AuthError, InternalError, TokenError};
use crate::federation::ExternalRefusal;
use crate::ids::{AccountId, ClientId, CredentialId, ProfileId, SecretId, TokenId, UserId};
use crate::profile::{AccessProfile, AuthMethod};
use crate::secret::ClientSecret;
use crate::service::{Gatehouse, scopes_from_claim};
use crate::store::{Change, RecordOutcome, StoreError, TokenRecord, UsedCredential};
use crate::throttle::network_of;
use crate::token::AccessTokenClaims;

/// The token endpoint's URL under `issuer`: what the metadata publishes, and one of the two
/// audiences a consumer's JWT may name (RFC 7523 §3).
pub fn token_endpoint(issuer: &str) -> String {
    format!("{issuer}/api-services/v1/auth/token")
}

/// Client credentials as presented at an OAuth endpoint, the id already parsed.
pub struct PresentedCredentials {
    pub id: CredentialId,
    pub proof: Proof,
}

/// What proves the caller holds `id`.
pub enum Proof {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(ClientSecret),
    /// RFC 7523 `private_key_jwt`: a JWT signed by a key a `jwt` profile trusts, or a token an
    /// `oidc` profile's identity provider issued.
    Assertion(String),
}

/// A successful client-credentials grant (RFC 6749 §4.4.3).
pub struct IssuedAccessToken {
    pub access_token: String,
    pub expires_in: u32,
    pub scope: String,
}

/// What introspection reveals about an active token (RFC 7662 §2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveToken {
    pub claims: AccessTokenClaims,
}

/// Why a revocation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    /// RFC 7009 §2.1: a client may revoke only its own tokens; another client's is refused with
    /// 400 `unauthorized_client` and left untouched.
    #[error("the token belongs to another client")]
    NotOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who authenticated at an OAuth endpoint: a client with its own secret, or one of its access
/// profiles with the profile's credential.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client: Arc<Client>,
    pub profile: Option<Arc<AccessProfile>>,
    /// The client secret presented; `None` for a profile.
    pub secret_id: Option<SecretId>,
}

impl Caller {
    /// The `client_id` this caller's tokens carry.
    pub fn id(&self) -> &str {
        match &self.profile {
            Some(profile) => profile.profile_id.as_str(),
            None => self.client.client_id.as_str(),
        }
    }

    /// The scopes this caller may be granted.
    fn scopes(&self) -> Cow<'_, Scopes> {
        match &self.profile {
            // A profile grants its products only while the client still holds them.
            Some(profile) => Cow::Owned(Scopes {
                global_resources: Default::default(),
                products: profile.products.intersection(&self.client.scopes.products).cloned().collect(),
            }),
            None => Cow::Borrowed(&self.client.scopes),
        }
    }

    fn secret_generation(&self) -> i64 {
        self.profile.as_ref().map_or(self.client.secret_generation, |profile| profile.secret_generation)
    }

    fn used_credential(&self) -> Option<UsedCredential> {
        match &self.profile {
            Some(profile) => Some(UsedCredential::Profile(profile.profile_id.clone())),
            None => self.secret_id.clone().map(UsedCredential::ClientSecret),
        }
    }
}

/// How often a token is minted again when the state it was minted from turned out to have
/// changed (another instance edited the client meanwhile) before the request gives up with 503.
const MINT_ATTEMPTS: usize = 3;

/// Where client authentication reads the client from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// What is held in memory, if the presented secret matches it; the store otherwise. For the
    /// token endpoint, whose write re-checks that the client is still current.
    Memory,
    /// The store, always: for answers that must reflect changes made on another instance the
    /// moment they commit.
    Store,
}

impl Gatehouse {
    /// Authenticates a client, or an access profile by its `prf_` id, at introspection and
    /// revocation. Accepted from memory, as at the token endpoint and the check (introspection
    /// is called at their rate); refused only on the store's current state. Every refusal is
    /// the same `invalid_client`, and an unknown id costs a hash comparison too, so timing tells
    /// nothing.
    pub async fn authenticate_client(
        &self,
        credentials: &PresentedCredentials,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Caller, TokenError> {
        self.authenticate_from(Freshness::Memory, credentials, peer, now).await
    }

    async fn authenticate_from(
        &self,
        freshness: Freshness,
        credentials: &PresentedCredentials,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Caller, TokenError> {
        // Failures are throttled per (client id, source address), so guessing is slowed while the
        // real client, calling from its own address, is not locked out.
        let key = (&credentials.id, network_of(peer));
        if let Some(retry_after_seconds) = self.client_throttle.blocked(key, now) {
            return Err(TokenError::Throttled { retry_after_seconds });
        }
        let result = self.check_client_credentials(freshness, credentials, peer, now).await;
        match &result {
            Ok(caller) => {
                self.client_throttle.succeeded(key);
                if let Some(credential) = caller.used_credential() {
                    self.credential_uses.note(credential, peer, now);
                }
            }
            Err(TokenError::InvalidClient) => self.client_throttle.failed(key, now),
            Err(_) => {}
        }
        result
    }

    async fn check_client_credentials(
        &self,
        freshness: Freshness,
        credentials: &PresentedCredentials,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Caller, TokenError> {
        match self.admitted_caller(freshness, credentials, peer, now).await {
            // Memory only ever says yes. A refusal is decided on the store's state, which another
            // instance may have changed since it was cached (enabled again, addresses widened, a
            // profile reactivated).
            Err(TokenError::InvalidClient) if freshness == Freshness::Memory => {
                self.admitted_caller(Freshness::Store, credentials, peer, now).await
            }
            other => other,
        }
    }

    async fn admitted_caller(
        &self,
        freshness: Freshness,
        credentials: &PresentedCredentials,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Caller, TokenError> {
        let caller = match (&credentials.id, &credentials.proof) {
            (CredentialId::Profile(profile_id), Proof::Secret(secret)) => {
                self.authenticate_profile(freshness, profile_id, secret).await?
            }
            (CredentialId::Client(client_id), Proof::Secret(secret)) => {
                let (client, secret_id) = self.verified_client(freshness, client_id, secret, now).await?;
                Caller { client, profile: None, secret_id: Some(secret_id) }
            }
            (CredentialId::Profile(profile_id), Proof::Assertion(assertion)) => {
                return self.authenticate_assertion(freshness, profile_id, assertion, peer, now).await;
            }
            // Only access profiles hold keys: a client authenticates with its secret.
            (CredentialId::Client(_), Proof::Assertion(_)) => return Err(TokenError::InvalidClient),
        };
        self.admit(&caller, peer)?;
        Ok(caller)
    }

    /// Seed rules 7 and 13 for an authenticated caller.
    fn admit(&self, caller: &Caller, peer: IpAddr) -> Result<(), TokenError> {
        // Seed rule 7: a disabled client's credentials, and its profiles', are refused.
        if !caller.client.enabled {
            tracing::info!("client refused: disabled");
            return Err(TokenError::InvalidClient);
        }
        // Seed rule 13, for the client and the profile alike.
        let profile_allows = caller.profile.as_ref().is_none_or(|profile| profile.allows(peer));
        if !caller.client.allowed_ips.allows(peer) || !profile_allows {
            tracing::info!(%peer, "client refused: address not allowed");
            return Err(TokenError::InvalidClient);
        }
        Ok(())
    }

    /// RFC 7523 client authentication of a `jwt` or `oidc` profile. Everything else is checked
    /// before the assertion's `jti` is claimed, so a refusal from stale memory (retried on the
    /// store's state) never spends it.
    async fn authenticate_assertion(
        &self,
        freshness: Freshness,
        profile_id: &ProfileId,
        assertion: &str,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<Caller, TokenError> {
        let known = match freshness {
            Freshness::Memory => self.gate.cached_profile(profile_id).flatten(),
            Freshness::Store => self.load_profile(profile_id, false).await?,
        };
        let Some(known) = known else {
            return Err(TokenError::InvalidClient);
        };
        let profile = known.profile.clone();
        let unavailable =
            || TokenError::Store(StoreError::Unavailable("the assertion could not be checked".to_owned()));
        // The assertion first: found in review, a provider that could not be reached answered
        // 503 only once the profile's state had let the caller through, which told a stranger
        // the profile's addresses.
        let accepted = match self.verify_external(&profile, assertion, now).await {
            Ok(accepted) => accepted,
            Err(ExternalRefusal::Unavailable) => return Err(unavailable()),
            Err(ExternalRefusal::ForGood | ExternalRefusal::ForNow) => return Err(TokenError::InvalidClient),
        };
        if !profile.active {
            tracing::info!("access profile refused");
            return Err(TokenError::InvalidClient);
        }
        let client = match freshness {
            Freshness::Memory => self.gate_client(&profile.client_id).await?,
            Freshness::Store => self.load_client(&profile.client_id, false).await?.map(|known| known.client.clone()),
        };
        let client = client.ok_or(TokenError::InvalidClient)?;
        let caller = Caller { client, profile: Some(profile.clone()), secret_id: None };
        self.admit(&caller, peer)?;
        match self.spend(&profile, &accepted, now).await {
            Ok(()) => Ok(caller),
            Err(ExternalRefusal::Unavailable) => Err(unavailable()),
            Err(ExternalRefusal::ForGood | ExternalRefusal::ForNow) => Err(TokenError::InvalidClient),
        }
    }

    /// The client whose secret `secret` is, and which of its secrets it is; an expired secret
    /// is refused as a wrong one. From memory when what is held there matches; otherwise (not
    /// held, or no secret matches: it may have been renewed or rotated on another instance
    /// since) from the store.
    async fn verified_client(
        &self,
        freshness: Freshness,
        client_id: &ClientId,
        secret: &ClientSecret,
        now: OffsetDateTime,
    ) -> Result<(Arc<Client>, SecretId), TokenError> {
        // Memory only ever says yes. Everything else goes to the store pass, which every refusal
        // passes through, so that a wrong secret and an unknown id cost the same: one hash
        // here (the dummy one on a miss), one read and one hash there. (A refusal once read the
        // store in both passes for a known client, and its row was parsed twice: a wrong
        // secret took 28 us longer than an unknown id, measured by bench/refusal_timing.py.)
        let known = if freshness == Freshness::Memory {
            match self.gate.cached_client(client_id) {
                Some(Some(known)) => known,
                _ => {
                    self.hasher.verify_against_dummy(secret);
                    return Err(TokenError::InvalidClient);
                }
            }
        } else {
            let Some(known) = self.load_client(client_id, false).await? else {
                self.hasher.verify_against_dummy(secret);
                return Err(TokenError::InvalidClient);
            };
            known
        };
        let matched = self.hasher.matching(secret, &known.secrets).map(|index| &known.secrets[index]);
        match matched {
            Some(stored) if stored.is_live(now) => Ok((known.client.clone(), stored.secret_id.clone())),
            Some(_) => {
                if freshness == Freshness::Store {
                    tracing::info!("client refused: expired secret");
                }
                Err(TokenError::InvalidClient)
            }
            None => {
                if freshness == Freshness::Store {
                    tracing::info!("client refused: wrong secret");
                }
                Err(TokenError::InvalidClient)
            }
        }
    }

    async fn authenticate_profile(
        &self,
        freshness: Freshness,
        profile_id: &ProfileId,
        secret: &ClientSecret,
    ) -> Result<Caller, TokenError> {
        // As for clients: memory only ever says yes, and every refusal is the store pass's.
        let (known, verified) = match freshness {
            Freshness::Memory => match self.gate.cached_profile(profile_id).flatten() {
                Some(known) => {
                    let verified = self.hasher.verify(secret, &known.credential_hash);
                    (known, verified)
                }
                None => {
                    self.hasher.verify_against_dummy(secret);
                    return Err(TokenError::InvalidClient);
                }
            },
            Freshness::Store => {
                let Some(known) = self.load_profile(profile_id, false).await? else {
                    self.hasher.verify_against_dummy(secret);
                    return Err(TokenError::InvalidClient);
                };
                let verified = self.hasher.verify(secret, &known.credential_hash);
                (known, verified)
            }
        };
        let profile = &known.profile;
        // Rule 14: an inactive profile can call nothing; an API-key profile has no secret here.
        if !verified || !profile.active || profile.auth_method != AuthMethod::ClientSecret {
            tracing::info!("access profile refused");
            return Err(TokenError::InvalidClient);
        }
        let client = match freshness {
            Freshness::Memory => self.gate_client(&profile.client_id).await?,
            Freshness::Store => self.load_client(&profile.client_id, false).await?.map(|known| known.client.clone()),
        };
        let client = client.ok_or(TokenError::InvalidClient)?;
        Ok(Caller { client, profile: Some(profile.clone()), secret_id: None })
    }

    /// The client-credentials grant (RFC 6749 §4.4), under the live-token cap (seed rule 11).
    /// The caller is authenticated from memory; the token's record is written only if the
    /// client (and profile) are still the versions it was minted from, and otherwise it is
    /// minted again from the store's state, so nothing another instance changed is missed.
    #[instrument(skip_all, fields(client_id = %credentials.id))]
    pub async fn issue_token(
        &self,
        credentials: PresentedCredentials,
        requested_scope: Option<&str>,
        peer: IpAddr,
        now: OffsetDateTime,
    ) -> Result<IssuedAccessToken, TokenError> {
        let mut freshness = Freshness::Memory;
        // An assertion is verified (and its jti spent) once; a mint retried on fresher state
        // re-reads the profile and its client instead.
        let mut asserted: Option<Caller> = None;
        for _ in 0..MINT_ATTEMPTS {
            let caller = match &asserted {
                Some(first) => self.reread_caller(first, peer).await?,
                None => self.authenticate_from(freshness, &credentials, peer, now).await?,
            };
            if matches!(credentials.proof, Proof::Assertion(_)) && asserted.is_none() {
                asserted = Some(caller.clone());
            }
            match self.mint(&caller, requested_scope, now).await {
                Ok(Some(issued)) => return Ok(issued),
                Ok(None) => tracing::debug!("the client changed while its token was minted; minting again"),
                // A scope refused on what memory holds is asked of the store, as for refusals
                // at authentication: it may have been granted on another instance since.
                Err(TokenError::InvalidScope) if freshness == Freshness::Memory => {}
                Err(error) => return Err(error),
            }
            freshness = Freshness::Store;
        }
        Err(TokenError::Store(StoreError::Unavailable("the client kept changing while a token was minted".to_owned())))
    }

    /// `caller`, a profile that authenticated with an assertion, as the store has it now: still
    /// active, trusting the same keys, its client enabled and the address allowed.
    async fn reread_caller(&self, caller: &Caller, peer: IpAddr) -> Result<Caller, TokenError> {
        let Some(first) = &caller.profile else {
            return Err(TokenError::InvalidClient);
        };
        let profile =
            self.load_profile(&first.profile_id, false).await?.ok_or(TokenError::InvalidClient)?.profile.clone();
        if !profile.active || profile.secret_generation != first.secret_generation {
            return Err(TokenError::InvalidClient);
        }
        let client =
            self.load_client(&profile.client_id, false).await?.ok_or(TokenError::InvalidClient)?.client.clone();
        let caller = Caller { client, profile: Some(profile), secret_id: None };
        self.admit(&caller, peer)?;
        Ok(caller)
    }

    /// Signs a token for `caller` and records it; `None` if the caller's state is stale.
    async fn mint(
        &self,
        caller: &Caller,
        requested_scope: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Option<IssuedAccessToken>, TokenError> {
        let scope = grant_scope(&caller.scopes(), requested_scope)?;
        let client = &caller.client;

        let issued_at = now.unix_timestamp();
        let expires_in = client.token_expiry.seconds();
        let jti = TokenId::minted_at(now);
        let keys = self.keys.load();
        let claims = AccessTokenClaims {
            iss: keys.issuer().to_owned(),
            sub: caller.id().to_owned(),
            client_id: caller.id().to_owned(),
            aud: keys.audience().to_owned(),
            iat: issued_at,
            exp: issued_at + i64::from(expires_in),
            jti: jti.to_string(),
            scope,
            account_id: client.account_id.to_string(),
            client_type: client.client_type.as_str().to_owned(),
        };
        let access_token =
            keys.sign(&claims, now).map_err(|error| TokenError::Internal(InternalError::Signing(error)))?;
        let record = TokenRecord {
            jti,
            client_id: client.client_id.clone(),
            profile_id: caller.profile.as_ref().map(|profile| profile.profile_id.clone()),
            secret_generation: caller.secret_generation(),
            secret_id: caller.secret_id.clone(),
            issued_at: now,
            expires_at: now + time::Duration::seconds(i64::from(expires_in)),
            client_version: client.version,
            profile_version: caller.profile.as_ref().map(|profile| profile.version),
        };
        // Recorded before it is handed out: a token the caller holds is always one we know.
        match self.ledger.record(record).await? {
            RecordOutcome::Recorded { evicted } => {
                if !evicted.is_empty() {
                    // The cap's ordinary work, not news: a client that mints per call evicts
                    // on every token. The ledger has made the gate forget them already.
                    tracing::debug!(evicted = evicted.len(), "oldest live token revoked by the cap");
                }
                Ok(Some(IssuedAccessToken { access_token, expires_in, scope: claims.scope }))
            }
            RecordOutcome::Refused => {
                tracing::info!("token refused: live-token cap reached");
                Err(TokenError::TooManyLiveTokens)
            }
            RecordOutcome::Stale => {
                // Not a write: the store found the client (or profile) newer than the copy held
                // here. The write that changed it reported so, and another instance's report
                // may still be on its way; the copy is dropped now rather than then.
                self.gate.follow(&Change::Client(client.client_id.clone()));
                if let Some(profile) = &caller.profile {
                    self.gate.follow(&Change::Profile(profile.profile_id.clone()));
                }
                Ok(None)
            }
        }
    }

    /// The token's claims and its client, if the token is active now: signature and time claims
    /// hold, it is on record and unrevoked, its client exists and is enabled (seed rule 7), and
    /// its credential (the client's secret, or its profile's) has not been renewed since (seed
    /// rules 8 and 14); a profile token also needs its profile active. Read from the store on
    /// every call, unlike introspection: the JSON API's powers end at once on every instance.
    async fn active_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AccessTokenClaims, Client)>, StoreError> {
        let claims = match self.keys.load().verify(token, now) {
            Ok(claims) => claims,
            Err(rejection) => {
                tracing::debug!(%rejection, "token refused");
                return Ok(None);
            }
        };
        let jti = TokenId::from_string(claims.jti.clone());
        let Some(state) = self.store.token_state(&jti).await? else {
            return Ok(None);
        };
        if state.revoked {
            return Ok(None);
        }
        let Some(client) = self.store.client(&state.client_id).await? else {
            return Ok(None);
        };
        if !client.enabled {
            return Ok(None);
        }
        let current = match &state.profile_id {
            None => (client.client_id.as_str() == claims.client_id).then_some(client.secret_generation),
            Some(profile_id) => match self.store.profile(profile_id).await? {
                Some(profile) if profile.active && profile.profile_id.as_str() == claims.client_id => {
                    Some(profile.secret_generation)
                }
                _ => None,
            },
        };
        if current != Some(state.secret_generation) {
            return Ok(None);
        }
        Ok(Some((claims, client)))
    }

    /// Turns a bearer access token into an actor.
    pub async fn authenticate_access_token(
        &self,
        token: &str,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Actor, AuthError> {
        let (claims, client) = self.active_token(token, now).await?.ok_or(AuthError::InvalidToken)?;
        let role = self.owner_role(&client.account_id, &client.client_owner_id).await?;
        Ok(Actor {
            account_id: client.account_id.clone(),
            role,
            principal: Principal::Client {
                client_id: client.client_id,
                owner: client.client_owner,
                owner_id: client.client_owner_id,
                scopes: scopes_from_claim(&claims.scope),
            },
            source_ip: source,
            acting_from: None,
        })
    }

    /// The role a client's owner holds in the account that holds the client: their role there,
    /// or, for an owner or admin of an ancestor account, that role (DESIGN.md: the parent's
    /// owner and admins act in its child accounts; a child account's clients owned by the
    /// parent's owner were once treated as a developer's). An owner who is no longer a user of
    /// any of these accounts, or only a developer of an ancestor, lends no powers. The owner is
    /// the user the client names by id, never whoever shares their email in a nearer account.
    async fn owner_role(&self, account_id: &AccountId, owner_id: &UserId) -> Result<Role, StoreError> {
        let Some(owner) = self.store.user(owner_id).await? else {
            return Ok(Role::Developer);
        };
        if owner.account_id == *account_id {
            return Ok(owner.role);
        }
        if owner.role.is_owner_or_admin()
            && self.ancestors(self.parent_of(account_id).await?).await?.contains(&owner.account_id)
        {
            return Ok(owner.role);
        }
        Ok(Role::Developer)
    }

    /// RFC 7662 introspection by an authenticated client. A client holding the global resource
    /// `introspection` may introspect any token of its account, any other caller only its own.
    /// Everything else, including a token the caller may not see, is simply not active
    /// (§2.2: `{"active": false}` with no reason).
    #[instrument(skip_all, fields(caller = %caller.id()))]
    pub async fn introspect(
        &self,
        caller: &Caller,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<ActiveToken>, StoreError> {
        // The machine-rate path: answered as the gateway check answers, from memory.
        let Some((claims, client)) = self.gated_access_token(token, now).await? else {
            return Ok(None);
        };
        let own = claims.client_id == caller.id();
        let account_wide = caller.profile.is_none()
            && caller.client.scopes.has_global(GlobalResource::Introspection)
            && caller.client.account_id == client.account_id;
        if !(own || account_wide) {
            return Ok(None);
        }
        Ok(Some(ActiveToken { claims }))
    }

    /// RFC 7009 revocation by the token's own client (or profile). Unknown, malformed and
    /// expired tokens are accepted silently (§2.2: 200 either way).
    #[instrument(skip_all, fields(caller = %caller.id()))]
    pub async fn revoke(&self, caller: &Caller, token: &str, now: OffsetDateTime) -> Result<(), RevokeError> {
        let claims = match self.keys.load().verify(token, now) {
            Ok(claims) => claims,
            Err(_) => return Ok(()),
        };
        if claims.client_id != caller.id() {
            tracing::info!("revocation refused: another client's token");
            return Err(RevokeError::NotOwner);
        }
        let jti = TokenId::from_string(claims.jti);
        let written = self.store.revoke_token(&jti).await?;
        self.settle(written, now).await;
        tracing::info!("token revoked");
        Ok(())
    }
}

/// RFC 6749 §3.3: the granted scope is the requested subset of the client's scopes, or all of
/// them when none is requested. Anything not granted to the client is `invalid_scope`.
fn grant_scope(client_scopes: &Scopes, requested: Option<&str>) -> Result<String, TokenError> {
    let Some(requested) = requested.filter(|scope| !scope.trim().is_empty()) else {
        return Ok(client_scopes.to_scope_string());
    };
    let requested: BTreeSet<&str> = requested.split(' ').filter(|token| !token.is_empty()).collect();
    let held: BTreeSet<&str> = client_scopes.scope_tokens().collect();
    if !requested.is_subset(&held) {
        return Err(TokenError::InvalidScope);
    }
    Ok(client_scopes.scope_tokens().filter(|token| requested.contains(token)).collect::<Vec<_>>().join(" "))
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
    fn scope_is_down_scoped_to_the_request() {
        let held = scopes(&[GlobalResource::ApiClients], &["ProgrammableWireless", "SuperSIM"]);
        assert_eq!(grant_scope(&held, None).unwrap(), "api_clients ProgrammableWireless SuperSIM");
        assert_eq!(grant_scope(&held, Some("")).unwrap(), "api_clients ProgrammableWireless SuperSIM");
        assert_eq!(grant_scope(&held, Some("SuperSIM")).unwrap(), "SuperSIM");
        assert_eq!(grant_scope(&held, Some("SuperSIM  api_clients")).unwrap(), "api_clients SuperSIM");
        assert!(matches!(grant_scope(&held, Some("users")), Err(TokenError::InvalidScope)));
        assert!(matches!(grant_scope(&held, Some("Nope")), Err(TokenError::InvalidScope)));
    }

    #[test]
    fn claim_scopes_split_into_globals_and_products() {
        let parsed = scopes_from_claim("api_clients SuperSIM");
        assert_eq!(parsed, scopes(&[GlobalResource::ApiClients], &["SuperSIM"]));
    }
}
