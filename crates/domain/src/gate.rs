//! The gateway check (DESIGN.md "Gateway check"): may this credential call this product from
//! this address right now? Answered from memory in the common case. A token is verified and
//! looked up once; after that the check reads only in-process maps, which every local state
//! change (disable, renew, delete, revoke, scope edit) updates before it answers its caller,
//! so the very next check sees it.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;
use gatehouse_edge::original_path::{self, AmbiguousProduct};
use time::OffsetDateTime;

use crate::account::Product;
use crate::client::{Client, Scopes};
use crate::federation::ExternalRefusal;
use crate::ids::{AccountId, ClientId, ProfileId, TokenId};
use crate::profile::{AccessProfile, is_api_key};
use crate::ratelimit::RateDecision;
use crate::secret::{ClientSecret, SecretHash, StoredSecret};
use crate::service::{Gatehouse, scopes_from_claim};
use crate::store::{Change, StoreError, UsedCredential};
use crate::token::{AccessTokenClaims, TokenRejection};
use crate::usage::{Denial, OTHER_PRODUCT};

/// A credential that verified once: what later checks need of it.
struct SeenToken {
    client_id: ClientId,
    profile_id: Option<ProfileId>,
    /// What the credential may call: a token's scopes as minted; `None` for an API key, which
    /// calls its profile's current products.
    scopes: Option<Scopes>,
    scope: Arc<str>,
    /// Expiry in unix seconds; far in the future for an API key.
    exp: i64,
    /// The generation of the credential (client secret or profile credential) it belongs to.
    secret_generation: i64,
    /// The claims introspection reports beyond the above; `None` for an API key.
    minted: Option<Minted>,
    /// Unix time after which it is verified again rather than answered from memory: an
    /// identity provider's token, whose key the provider may have withdrawn since.
    recheck_at: i64,
}

/// An access token's own claims that nothing else in memory holds. `iss`, `aud`, `sub` and
/// `client_id` are not kept: the signature check found them equal to this instance's issuer and
/// audience and to the credential's holder.
struct Minted {
    jti: TokenId,
    iat: i64,
    account_id: String,
    client_type: String,
}

/// A client as it is held in memory, with its secrets' hashes for the token endpoint.
pub(crate) struct KnownClient {
    pub(crate) client: Arc<Client>,
    pub(crate) secrets: Vec<StoredSecret>,
}

/// An access profile as it is held in memory, with its credential hash.
pub(crate) struct KnownProfile {
    pub(crate) profile: Arc<AccessProfile>,
    pub(crate) credential_hash: SecretHash,
}

/// Credentials that verified, by the SHA-256 of the token (the keyed hash of an API key).
#[derive(Default)]
struct SeenTokens {
    by_hash: HashMap<[u8; 32], Arc<SeenToken>>,
    /// The seen access tokens by `jti`, so that a revocation finds and drops them.
    by_jti: HashMap<TokenId, [u8; 32]>,
    /// Tokens being looked up for the first time. A revocation that lands while the lookup is
    /// under way marks it here: the lookup may have read the state from before it.
    loading: HashMap<TokenId, Loading>,
    /// Bumped when everything is forgotten (a gap in the change feed): a lookup that began
    /// before may have missed a revocation announced in the gap, so it is not remembered.
    resyncs: u64,
    /// Access tokens refused for good (a bad signature, expired, revoked, long not on record), until
    /// a unix time. A client that keeps presenting its revoked or expired token then costs a
    /// map lookup per check, not a signature verification and a store read (97 µs a check,
    /// measured, against 10 for a live token). What may still become valid (an unknown key
    /// id, a token from a clock ahead of ours, a store that did not answer) is not kept.
    /// Unlike the rest, this survives `clear`: no missed change can make these tokens valid.
    refused: HashMap<[u8; 32], i64>,
    /// Reusable tokens of identity providers (`oidc` profiles), apart from the rest: a tenant
    /// running its own provider can mint any number of them, and filling this memory starts
    /// over only this one, never the memory of Gatehouse's own tokens and API keys (found in
    /// review).
    external: HashMap<[u8; 32], Arc<SeenToken>>,
}

struct Loading {
    lookups: u32,
    revoked: bool,
}

impl SeenTokens {
    fn clear(&mut self) {
        self.by_hash.clear();
        self.by_jti.clear();
        self.external.clear();
    }

    fn insert_external(&mut self, key: [u8; 32], token: Arc<SeenToken>, now: i64) {
        if self.external.len() >= MAX_EXTERNAL {
            self.external.retain(|_, token| token.recheck_at > now);
            if self.external.len() >= MAX_EXTERNAL {
                self.external.clear();
            }
        }
        self.external.insert(key, token);
    }

    /// Keeps the tokens that expire at or after `exp`, and their `jti` entries.
    fn retain_expiring_from(&mut self, exp: i64) {
        self.by_hash.retain(|_, token| token.exp >= exp);
        let by_hash = &self.by_hash;
        self.by_jti.retain(|_, key| by_hash.contains_key(key));
    }

    fn refuse(&mut self, key: [u8; 32], now: i64) {
        if self.refused.len() >= MAX_REFUSED {
            self.refused.retain(|_, until| *until > now);
            if self.refused.len() >= MAX_REFUSED {
                self.refused.clear();
            }
        }
        self.refused.insert(key, now + REFUSAL_SECONDS);
    }

    fn insert(&mut self, key: [u8; 32], jti: Option<TokenId>, token: Arc<SeenToken>) {
        if self.by_hash.len() >= MAX_TOKENS {
            self.retain_expiring_from(OffsetDateTime::now_utc().unix_timestamp());
            if self.by_hash.len() >= MAX_TOKENS {
                self.clear();
            }
        }
        self.by_hash.insert(key, token);
        if let Some(jti) = jti {
            self.by_jti.insert(jti, key);
        }
    }
}

/// The in-memory state behind the check and the token endpoint. Bounded: entries past these
/// sizes are swept of expired ones, and if that is not enough the cache starts over (it is only
/// a cache). Revoked tokens are dropped, not remembered, so a burst of evictions by the
/// live-token cap costs no memory.
#[derive(Default)]
pub struct Gate {
    tokens: RwLock<SeenTokens>,
    /// `None`: the client is gone.
    clients: RwLock<HashMap<ClientId, Option<Arc<KnownClient>>>>,
    /// `None`: the profile is gone.
    profiles: RwLock<HashMap<ProfileId, Option<Arc<KnownProfile>>>>,
    catalogues: RwLock<HashMap<AccountId, Arc<Vec<Product>>>>,
    /// Bumped by every invalidation. A load that started before an invalidation is not cached:
    /// it may hold the state from before the change.
    epoch: AtomicU64,
}

const MAX_TOKENS: usize = 2_000_000;
/// Reusable provider tokens held at once; each is verified again within a minute anyway.
const MAX_EXTERNAL: usize = 100_000;
/// About 5 MiB when full; a flood of distinct bad tokens only starts it over.
const MAX_REFUSED: usize = 100_000;
/// How long a refusal is remembered; the next presentation after that is verified again.
const REFUSAL_SECONDS: i64 = 300;
/// How old a token missing from the store must be for its absence to be remembered.
const RECORD_SETTLE_SECONDS: i64 = 60;
const MAX_CLIENTS: usize = 1_000_000;

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Gate {
    /// Follows a change a store write reported, here or on another instance: the one way
    /// anything outside this module makes the gate forget. Signing keys are not the gate's.
    pub(crate) fn follow(&self, change: &Change) {
        match change {
            Change::Client(client_id) => self.forget_client(client_id),
            Change::Profile(profile_id) => self.forget_profile(profile_id),
            Change::TokensRevoked(jtis) => self.forget_tokens(jtis),
            Change::Catalogue(account_id) => self.forget_catalogue(account_id),
            Change::Keys => {}
            Change::Resync => self.clear(),
        }
    }

    /// A client changed (edit, disable, enable, renew, delete): the next check reloads it.
    fn forget_client(&self, client_id: &ClientId) {
        let mut clients = write(&self.clients);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        clients.remove(client_id);
    }

    /// A profile changed (edit, activate, deactivate, refresh, delete).
    fn forget_profile(&self, profile_id: &ProfileId) {
        let mut profiles = write(&self.profiles);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        profiles.remove(profile_id);
    }

    /// Tokens revoked (by RFC 7009 or by the live-token cap): called once the revocation is in
    /// the store, so a later first sight reads it there.
    fn forget_tokens(&self, jtis: &[TokenId]) {
        let mut tokens = write(&self.tokens);
        for jti in jtis {
            if let Some(key) = tokens.by_jti.remove(jti) {
                tokens.by_hash.remove(&key);
            }
            if let Some(loading) = tokens.loading.get_mut(jti) {
                loading.revoked = true;
            }
        }
    }

    /// An account's product catalogue changed.
    fn forget_catalogue(&self, account_id: &AccountId) {
        let mut catalogues = write(&self.catalogues);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        catalogues.remove(account_id);
    }

    /// Forgets everything cached: after a gap in the change feed nothing cached can be trusted.
    fn clear(&self) {
        let mut clients = write(&self.clients);
        let mut profiles = write(&self.profiles);
        let mut catalogues = write(&self.catalogues);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        clients.clear();
        profiles.clear();
        catalogues.clear();
        // Seen tokens hold the revocation state read at first sight: read it again.
        let mut tokens = write(&self.tokens);
        tokens.clear();
        tokens.resyncs += 1;
    }

    /// Drops what can no longer matter: expired tokens, and refusals past their time.
    pub fn sweep(&self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        let mut tokens = write(&self.tokens);
        tokens.retain_expiring_from(now - 60);
        tokens.refused.retain(|_, until| *until > now);
        tokens.external.retain(|_, token| token.recheck_at > now);
    }

    fn remember_refusal(&self, key: [u8; 32], now: OffsetDateTime) {
        write(&self.tokens).refuse(key, now.unix_timestamp());
    }

    fn remember_token(&self, key: [u8; 32], token: Arc<SeenToken>) {
        write(&self.tokens).insert(key, None, token);
    }

    fn remember_external(&self, key: [u8; 32], token: Arc<SeenToken>, now: OffsetDateTime) {
        write(&self.tokens).insert_external(key, token, now.unix_timestamp());
    }

    /// Caches `value` under `key`, unless an invalidation happened since `epoch` was read.
    fn remember<K: Eq + Hash, V>(&self, map: &RwLock<HashMap<K, V>>, epoch: u64, key: K, value: V) {
        let mut map = write(map);
        if self.epoch.load(Ordering::SeqCst) == epoch {
            if map.len() >= MAX_CLIENTS {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    /// The client as held in memory: `None` if not held, `Some(None)` if known to be gone.
    pub(crate) fn cached_client(&self, client_id: &ClientId) -> Option<Option<Arc<KnownClient>>> {
        read(&self.clients).get(client_id).cloned()
    }

    pub(crate) fn cached_profile(&self, profile_id: &ProfileId) -> Option<Option<Arc<KnownProfile>>> {
        read(&self.profiles).get(profile_id).cloned()
    }

    /// Registers a first-sight lookup of `jti`; see [`SeenTokens::loading`].
    fn start_lookup(&self, jti: &TokenId) -> Lookup<'_> {
        let mut tokens = write(&self.tokens);
        tokens.loading.entry(jti.clone()).or_insert(Loading { lookups: 0, revoked: false }).lookups += 1;
        Lookup { gate: self, jti: jti.clone(), resyncs: tokens.resyncs }
    }
}

/// A first-sight lookup under way. Ended (and unregistered) when dropped, also when the request
/// is abandoned midway.
struct Lookup<'a> {
    gate: &'a Gate,
    jti: TokenId,
    resyncs: u64,
}

impl Lookup<'_> {
    /// Whether the token, as read, may be used: not if it was revoked while it was looked up.
    /// Remembered unless the cache was reset meanwhile.
    fn finish(self, key: [u8; 32], token: Arc<SeenToken>) -> bool {
        // Checked and inserted under one lock: a revocation lands either before (and is seen
        // here) or after (and finds the token in `by_jti`).
        let mut tokens = write(&self.gate.tokens);
        let revoked = tokens.loading.get(&self.jti).is_some_and(|loading| loading.revoked);
        if !revoked && tokens.resyncs == self.resyncs {
            tokens.insert(key, Some(self.jti.clone()), token);
        }
        drop(tokens);
        !revoked
    }
}

impl Drop for Lookup<'_> {
    fn drop(&mut self) {
        let mut tokens = write(&self.gate.tokens);
        if let Some(loading) = tokens.loading.get_mut(&self.jti) {
            loading.lookups -= 1;
            if loading.lookups == 0 {
                tokens.loading.remove(&self.jti);
            }
        }
    }
}

/// A gateway's question.
pub struct CheckRequest<'a> {
    /// The bearer token from `Authorization`.
    pub credential: &'a str,
    /// The product the gateway's own configuration named (the check's path), if any. Never a
    /// value the end user could have set: the HTTP layer decides what it believes.
    pub named_product: Option<&'a str>,
    /// The original request path the gateway passed, raw, if any. It decides the product when
    /// none is named; either way it must be one every resolver reads alike.
    pub path: Option<&'a str>,
    /// The caller's address, resolved through trusted proxies.
    pub client_ip: IpAddr,
}

/// The answer to pass upstream: shared with the gate's memory rather than copied out of it,
/// since the check answers tens of thousands of these a second.
#[derive(Debug)]
pub struct CheckGrant {
    pub client: Arc<Client>,
    pub profile: Option<Arc<AccessProfile>>,
    pub scope: Arc<str>,
    pub product: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CheckDenial {
    /// 401: missing, malformed, expired or refused credential.
    Unauthenticated,
    /// 403, with the reason.
    Forbidden(&'static str),
    /// 429.
    RateLimited { retry_after_seconds: u64 },
    /// 503: the state needed is not in memory and the store cannot be reached.
    Unavailable,
}

impl CheckDenial {
    /// How a refusal is counted in a profile's usage, when the check found no finer reason.
    fn usage_reason(&self) -> Denial {
        match self {
            CheckDenial::Unauthenticated => Denial::Credential,
            CheckDenial::Forbidden(_) => Denial::Product,
            CheckDenial::RateLimited { .. } => Denial::RateLimit,
            CheckDenial::Unavailable => Denial::Unavailable,
        }
    }
}

/// What a check learnt on its way that its profile's usage is counted by.
#[derive(Default)]
struct Usage {
    profile_id: Option<ProfileId>,
    profile: Option<Arc<AccessProfile>>,
    product: Option<String>,
    /// Set where the refusal's kind is finer than its status: the address, the quota.
    denial: Option<Denial>,
}

impl From<StoreError> for CheckDenial {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "gateway check could not reach the store");
        CheckDenial::Unavailable
    }
}

impl Gatehouse {
    /// `GET /v1/auth/check`.
    pub async fn check(&self, request: CheckRequest<'_>, now: OffsetDateTime) -> Result<CheckGrant, CheckDenial> {
        let mut usage = Usage::default();
        let decision = self.decide(request, now, &mut usage).await;
        // Seed file 002: a profile's usage, counted for every decision its credential got.
        if let Some(profile_id) = &usage.profile_id {
            let (product, denied) = match &decision {
                Ok(grant) => (grant.product.as_str(), None),
                Err(denial) => {
                    // Only a product the profile holds is named: invented names never count.
                    let held =
                        |product: &&String| usage.profile.as_ref().is_some_and(|p| p.products.contains(*product));
                    let product = usage.product.as_ref().filter(held).map_or(OTHER_PRODUCT, String::as_str);
                    (product, Some(usage.denial.unwrap_or_else(|| denial.usage_reason())))
                }
            };
            self.usage.note(profile_id, product, denied, now);
        }
        decision
    }

    async fn decide(
        &self,
        request: CheckRequest<'_>,
        now: OffsetDateTime,
        usage: &mut Usage,
    ) -> Result<CheckGrant, CheckDenial> {
        let seen = if is_api_key(request.credential) {
            self.seen_api_key(request.credential).await?
        } else {
            self.seen_token(request.credential, true, now).await?
        };
        usage.profile_id.clone_from(&seen.profile_id);
        let (client, profile) = self.live_holder(&seen, now).await?;
        usage.profile.clone_from(&profile);
        // Seed rule 13, for the client and its profile (and the profile's policy).
        let ip_allowed = client.allowed_ips.allows(request.client_ip)
            && profile.as_ref().is_none_or(|p| p.allows(request.client_ip));
        if !ip_allowed {
            usage.denial = Some(Denial::Address);
            return Err(CheckDenial::Forbidden("the client may not call from this address"));
        }
        let path = request.path.map(original_path::resolve).transpose().map_err(|refusal| {
            // A path two resolvers could read differently routes to one product and is
            // checked as another: refused even where a product is named.
            CheckDenial::Forbidden(refusal.reason())
        })?;
        let product = match (request.named_product, path) {
            (Some(product), _) => product.to_owned(),
            (None, Some(path)) => self
                .product_for_path(&client.account_id, &path)
                .await?
                .ok_or(CheckDenial::Forbidden("the path belongs to no product"))?,
            (None, None) => return Err(CheckDenial::Forbidden("no original path to map to a product")),
        };
        // Seed rule 6: a token's own scopes, as minted; an API key its profile's products.
        usage.product = Some(product.clone());
        let granted = match (&seen.scopes, &profile) {
            (Some(scopes), _) => scopes.products.contains(&product),
            // A profile grants its products only while the client still holds them.
            (None, Some(profile)) => profile.products.contains(&product) && client.scopes.products.contains(&product),
            (None, None) => false,
        };
        if !granted {
            return Err(CheckDenial::Forbidden("the credential does not grant this product"));
        }
        // Seed rule 12: the client's limit, the profile's and its policy's, each counted on its
        // own, so the stricter holds; and taking a profile out from under its policy leaves its
        // own count as it was.
        let limits = [
            client.rate_limit.map(|limit| (format!("client:{}", client.client_id), limit)),
            profile.as_ref().and_then(|p| p.rate_limit.map(|limit| (format!("profile:{}", p.profile_id), limit))),
            profile.as_ref().and_then(|p| {
                let policy = p.policy.as_ref()?;
                policy.rate_limit.map(|limit| (format!("policy:{}:{}", policy.policy_id, p.profile_id), limit))
            }),
        ];
        for (key, limit) in limits.into_iter().flatten() {
            if let RateDecision::Limited { retry_after_seconds } = self.limiter.acquire(&key, limit, now).await? {
                return Err(CheckDenial::RateLimited { retry_after_seconds });
            }
        }
        // The policy's quota, last: only checks every other rule allowed are counted.
        if let Some(profile) = &profile
            && let Some(policy) = &profile.policy
            && let Some(quota) = policy.quota
        {
            let (start, end) = quota.period.window(now);
            // The period in the key: a quota changed from a day to a month counts afresh rather
            // than in the day's count, which ends (and is purged) with the day.
            let key = format!("quota:{}:{}:{}", policy.policy_id, profile.profile_id, quota.period.as_str());
            let refused = CheckDenial::RateLimited { retry_after_seconds: crate::quota::seconds_until(end, now) };
            if self.quota_used_up.holds(&key, quota.requests, now) {
                usage.denial = Some(Denial::Quota);
                return Err(refused);
            }
            if !self.quotas.take(&key, start, end, quota.requests, now).await? {
                self.quota_used_up.remember(&key, quota.requests, end, now);
                usage.denial = Some(Denial::Quota);
                return Err(refused);
            }
        }
        let scope = match (&seen.scopes, &profile) {
            (None, Some(profile)) => {
                profile.products.intersection(&client.scopes.products).cloned().collect::<Vec<_>>().join(" ").into()
            }
            _ => seen.scope.clone(),
        };
        // An API key is the credential itself; a token's use is its secret's, at the token
        // endpoint.
        if seen.minted.is_none()
            && let Some(profile) = &profile
        {
            self.credential_uses.note(UsedCredential::Profile(profile.profile_id.clone()), request.client_ip, now);
        }
        Ok(CheckGrant { client, profile, scope, product })
    }

    /// The client (and profile) behind a verified credential, if it may still be used now:
    /// unexpired, its client present and enabled (seed rule 7), its credential not renewed or
    /// refreshed since and its profile active (seed rules 8 and 14).
    async fn live_holder(
        &self,
        seen: &SeenToken,
        now: OffsetDateTime,
    ) -> Result<(Arc<Client>, Option<Arc<AccessProfile>>), CheckDenial> {
        if seen.exp.saturating_add(self.settings.leeway_seconds) <= now.unix_timestamp() {
            return Err(CheckDenial::Unauthenticated);
        }
        let client = self.gate_client(&seen.client_id).await?.ok_or(CheckDenial::Unauthenticated)?;
        if !client.enabled {
            return Err(CheckDenial::Unauthenticated);
        }
        let profile = match &seen.profile_id {
            None => None,
            Some(profile_id) => Some(self.gate_profile(profile_id).await?.ok_or(CheckDenial::Unauthenticated)?),
        };
        let generation = profile.as_ref().map_or(client.secret_generation, |p| p.secret_generation);
        if generation != seen.secret_generation || profile.as_ref().is_some_and(|p| !p.active) {
            return Err(CheckDenial::Unauthenticated);
        }
        Ok((client, profile))
    }

    /// An access token's claims and its client if the token is active now, decided as the
    /// check decides: from memory, after a signature check and one store read at first sight.
    /// Changes made through other instances apply once their change feed delivers them.
    pub(crate) async fn gated_access_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Option<(AccessTokenClaims, Arc<Client>)>, StoreError> {
        if is_api_key(token) {
            return Ok(None);
        }
        let live = async {
            // Introspection asks after Gatehouse's own tokens only (found in review: it spent
            // a consumer's single-use JWT).
            let seen = self.seen_token(token, false, now).await?;
            let (client, _) = self.live_holder(&seen, now).await?;
            Ok::<_, CheckDenial>((seen, client))
        };
        let (seen, client) = match live.await {
            Ok(live) => live,
            Err(CheckDenial::Unavailable) => {
                return Err(StoreError::Unavailable("the token's state could not be read".to_owned()));
            }
            Err(_) => return Ok(None),
        };
        let Some(minted) = &seen.minted else {
            return Ok(None);
        };
        let holder = seen.profile_id.as_ref().map_or(seen.client_id.as_str(), ProfileId::as_str);
        let keys = self.keys.load();
        let claims = AccessTokenClaims {
            iss: keys.issuer().to_owned(),
            sub: holder.to_owned(),
            client_id: holder.to_owned(),
            aud: keys.audience().to_owned(),
            iat: minted.iat,
            exp: seen.exp,
            jti: minted.jti.to_string(),
            scope: seen.scope.to_string(),
            account_id: minted.account_id.clone(),
            client_type: minted.client_type.clone(),
        };
        Ok(Some((claims, client)))
    }

    /// An API key (seed file 002), looked up by its keyed hash once, then from memory.
    async fn seen_api_key(&self, credential: &str) -> Result<Arc<SeenToken>, CheckDenial> {
        let hash = self.hasher.hash(&ClientSecret::from_presented(credential.to_owned()));
        let mut key = [0u8; 32];
        if hash.as_bytes().len() == key.len() {
            key.copy_from_slice(hash.as_bytes());
        }
        if let Some(seen) = read(&self.gate.tokens).by_hash.get(&key) {
            return Ok(seen.clone());
        }
        let profile = self.store.profile_by_key_hash(&hash).await?.ok_or(CheckDenial::Unauthenticated)?;
        let seen = Arc::new(SeenToken {
            client_id: profile.client_id.clone(),
            profile_id: Some(profile.profile_id.clone()),
            scopes: None,
            scope: Arc::from(""),
            exp: i64::MAX / 2,
            secret_generation: profile.secret_generation,
            minted: None,
            recheck_at: i64::MAX,
        });
        self.gate.remember_token(key, seen.clone());
        Ok(seen)
    }

    /// A JWT that a `jwt` or `oidc` profile trusts, verified and checked against its rules. A
    /// single-use one (every consumer JWT) answers this one check and is refused from memory
    /// after; a provider's reusable token is remembered like any other, and verified again
    /// from time to time.
    async fn seen_external(
        &self,
        key: [u8; 32],
        credential: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<SeenToken>, CheckDenial> {
        let candidates = self.external_profiles(credential).await?;
        if candidates.is_empty() {
            // Found in review: a flood of invented JWTs cost a store read each, every time.
            // Refused for a while like any other: a profile made for it meanwhile waits that long.
            self.gate.remember_refusal(key, now);
            return Err(CheckDenial::Unauthenticated);
        }
        let mut refusal = ExternalRefusal::ForGood;
        let mut found = None;
        for profile in candidates {
            match self.verify_external(&profile, credential, now).await {
                Ok(accepted) => {
                    found = Some((profile, accepted));
                    break;
                }
                // What may pass later, or could not be decided, outweighs a refusal for good.
                Err(ExternalRefusal::ForGood) => {}
                Err(other) => refusal = other,
            }
        }
        let Some((profile, accepted)) = found else {
            return Err(match refusal {
                ExternalRefusal::ForGood => {
                    self.gate.remember_refusal(key, now);
                    CheckDenial::Unauthenticated
                }
                ExternalRefusal::ForNow => CheckDenial::Unauthenticated,
                ExternalRefusal::Unavailable => CheckDenial::Unavailable,
            });
        };
        match self.spend(&profile, &accepted, now).await {
            Ok(()) => {}
            Err(ExternalRefusal::Unavailable) => return Err(CheckDenial::Unavailable),
            Err(_) => {
                self.gate.remember_refusal(key, now);
                return Err(CheckDenial::Unauthenticated);
            }
        }
        let seen = Arc::new(SeenToken {
            client_id: profile.client_id.clone(),
            profile_id: Some(profile.profile_id.clone()),
            scopes: None,
            scope: Arc::from(""),
            exp: accepted.exp,
            secret_generation: profile.secret_generation,
            minted: None,
            recheck_at: now.unix_timestamp().saturating_add(self.jwks.timing().refetch_after_seconds),
        });
        if accepted.single_use.is_some() {
            self.gate.remember_refusal(key, now);
        } else {
            self.gate.remember_external(key, seen.clone(), now);
        }
        Ok(seen)
    }

    /// The verified token, from memory or (first sight only) signature check plus one lookup.
    /// `external`: a JWT Gatehouse did not sign may be one a `jwt` or `oidc` profile trusts.
    async fn seen_token(
        &self,
        credential: &str,
        external: bool,
        now: OffsetDateTime,
    ) -> Result<Arc<SeenToken>, CheckDenial> {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest::digest(&digest::SHA256, credential.as_bytes()).as_ref());
        {
            let tokens = read(&self.gate.tokens);
            if let Some(token) = tokens.by_hash.get(&key).or_else(|| tokens.external.get(&key))
                && token.recheck_at > now.unix_timestamp()
            {
                return Ok(token.clone());
            }
            if tokens.refused.get(&key).is_some_and(|until| *until > now.unix_timestamp()) {
                return Err(CheckDenial::Unauthenticated);
            }
        }
        let refused_for_good = || {
            self.gate.remember_refusal(key, now);
            CheckDenial::Unauthenticated
        };
        let claims = match self.keys.load().verify(credential, now) {
            Ok(claims) => claims,
            Err(TokenRejection::Invalid | TokenRejection::Expired) => return Err(refused_for_good()),
            // Not signed by Gatehouse (or by a key this instance has not loaded yet): perhaps a
            // JWT a `jwt` or `oidc` profile trusts.
            Err(TokenRejection::Header | TokenRejection::UnknownKey) if external => {
                return self.seen_external(key, credential, now).await;
            }
            Err(TokenRejection::Header | TokenRejection::UnknownKey) => return Err(CheckDenial::Unauthenticated),
            // Not kept: refused before the signature was checked (cheap to refuse again), or
            // may become valid (a clock ahead of ours).
            Err(TokenRejection::Malformed | TokenRejection::NotYetValid) => return Err(CheckDenial::Unauthenticated),
        };
        let jti = TokenId::from_string(claims.jti.clone());
        let lookup = self.gate.start_lookup(&jti);
        // Every token is on record before it is handed out, so one that is not never will be,
        // unless this store lags the one it was recorded in (a standby after a failover, a
        // pooler reading from a replica): a token minted moments ago is only refused.
        let Some(state) = self.store.token_state(&jti).await? else {
            let settled = claims.iat + RECORD_SETTLE_SECONDS < now.unix_timestamp();
            return Err(if settled { refused_for_good() } else { CheckDenial::Unauthenticated });
        };
        let holder = state.profile_id.as_ref().map_or(state.client_id.as_str(), ProfileId::as_str);
        if holder != claims.client_id || state.revoked {
            return Err(refused_for_good());
        }
        let token = Arc::new(SeenToken {
            client_id: state.client_id,
            profile_id: state.profile_id,
            scopes: Some(scopes_from_claim(&claims.scope)),
            scope: claims.scope.into(),
            exp: claims.exp,
            secret_generation: state.secret_generation,
            minted: Some(Minted {
                jti,
                iat: claims.iat,
                account_id: claims.account_id,
                client_type: claims.client_type,
            }),
            recheck_at: i64::MAX,
        });
        if !lookup.finish(key, token.clone()) {
            return Err(refused_for_good());
        }
        Ok(token)
    }

    pub(crate) async fn gate_profile(&self, profile_id: &ProfileId) -> Result<Option<Arc<AccessProfile>>, StoreError> {
        let known = match self.gate.cached_profile(profile_id) {
            Some(known) => known,
            None => self.load_profile(profile_id, true).await?,
        };
        Ok(known.map(|known| known.profile.clone()))
    }

    pub(crate) async fn gate_client(&self, client_id: &ClientId) -> Result<Option<Arc<Client>>, StoreError> {
        let known = match self.gate.cached_client(client_id) {
            Some(known) => known,
            None => self.load_client(client_id, true).await?,
        };
        Ok(known.map(|known| known.client.clone()))
    }

    /// Reads a client and its secret hash from the store and caches them, unless it changed
    /// meanwhile. `remember_absence`: cache that it is gone, too. The token endpoint never
    /// does, or invented client ids would fill the cache.
    pub(crate) async fn load_client(
        &self,
        client_id: &ClientId,
        remember_absence: bool,
    ) -> Result<Option<Arc<KnownClient>>, StoreError> {
        let epoch = self.gate.epoch.load(Ordering::SeqCst);
        let known = self
            .store
            .client_with_secrets(client_id)
            .await?
            .map(|(client, secrets)| Arc::new(KnownClient { client: Arc::new(client), secrets }));
        if known.is_some() || remember_absence {
            self.gate.remember(&self.gate.clients, epoch, client_id.clone(), known.clone());
        }
        Ok(known)
    }

    /// [`Self::load_client`] for an access profile and its credential hash.
    pub(crate) async fn load_profile(
        &self,
        profile_id: &ProfileId,
        remember_absence: bool,
    ) -> Result<Option<Arc<KnownProfile>>, StoreError> {
        let epoch = self.gate.epoch.load(Ordering::SeqCst);
        let known =
            self.store.profile_with_secret(profile_id).await?.map(|(profile, credential_hash)| {
                Arc::new(KnownProfile { profile: Arc::new(profile), credential_hash })
            });
        if known.is_some() || remember_absence {
            self.gate.remember(&self.gate.profiles, epoch, profile_id.clone(), known.clone());
        }
        Ok(known)
    }

    /// The product whose longest path prefix the resolved `path` lies under.
    async fn product_for_path(&self, account_id: &AccountId, path: &str) -> Result<Option<String>, CheckDenial> {
        let cached = read(&self.gate.catalogues).get(account_id).cloned();
        let catalogue = match cached {
            Some(catalogue) => catalogue,
            None => {
                let epoch = self.gate.epoch.load(Ordering::SeqCst);
                let catalogue = Arc::new(self.store.products(account_id).await?);
                self.gate.remember(&self.gate.catalogues, epoch, account_id.clone(), catalogue.clone());
                catalogue
            }
        };
        let prefixes = catalogue
            .iter()
            .flat_map(|product| product.path_prefixes.iter().map(move |prefix| (prefix.as_str(), &product.name)));
        match original_path::product_for(path, prefixes) {
            Ok(product) => Ok(product.cloned()),
            Err(AmbiguousProduct) => Err(CheckDenial::Forbidden(AmbiguousProduct::REASON)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(exp: i64) -> Arc<SeenToken> {
        Arc::new(SeenToken {
            client_id: ClientId::from_string("c"),
            profile_id: None,
            scopes: None,
            scope: Arc::from(""),
            exp,
            secret_generation: 1,
            minted: None,
            recheck_at: i64::MAX,
        })
    }

    fn cached(gate: &Gate, key: &[u8; 32]) -> bool {
        read(&gate.tokens).by_hash.contains_key(key)
    }

    #[test]
    fn a_revocation_during_a_first_sight_lookup_is_not_lost() {
        let gate = Gate::default();
        let jti = TokenId::from_string("j1");
        let lookup = gate.start_lookup(&jti);
        // The lookup has read "live" from the store; the revocation commits and lands now.
        gate.forget_tokens(std::slice::from_ref(&jti));
        assert!(!lookup.finish([1; 32], seen(i64::MAX)), "the lookup learns of the revocation");
        assert!(!cached(&gate, &[1; 32]));
        assert!(read(&gate.tokens).loading.is_empty(), "finished lookups are unregistered");
    }

    #[test]
    fn a_revocation_drops_a_seen_token_and_nothing_is_kept_of_it() {
        let gate = Gate::default();
        let jti = TokenId::from_string("j2");
        assert!(gate.start_lookup(&jti).finish([2; 32], seen(i64::MAX)));
        assert!(cached(&gate, &[2; 32]));
        let unseen: Vec<TokenId> = (0..1000).map(|i| TokenId::from_string(format!("evicted{i}"))).collect();
        gate.forget_tokens(&unseen);
        assert!(cached(&gate, &[2; 32]), "revoking other tokens leaves this one");
        gate.forget_tokens(std::slice::from_ref(&jti));
        assert!(!cached(&gate, &[2; 32]));
        let tokens = read(&gate.tokens);
        assert!(tokens.by_jti.is_empty() && tokens.loading.is_empty(), "revoked ids cost no memory");
    }

    #[test]
    fn an_abandoned_lookup_unregisters_and_a_lookup_across_a_resync_is_not_remembered() {
        let gate = Gate::default();
        drop(gate.start_lookup(&TokenId::from_string("j3")));
        assert!(read(&gate.tokens).loading.is_empty());
        let lookup = gate.start_lookup(&TokenId::from_string("j4"));
        gate.clear();
        assert!(lookup.finish([4; 32], seen(i64::MAX)), "what it read is still the answer");
        assert!(!cached(&gate, &[4; 32]), "but it may predate a revocation missed in the gap");
    }

    #[test]
    fn refusals_are_remembered_for_a_while_and_bounded() {
        let gate = Gate::default();
        let now = OffsetDateTime::now_utc();
        gate.remember_refusal([7; 32], now);
        gate.clear();
        let refused_until = |key: &[u8; 32]| read(&gate.tokens).refused.get(key).copied();
        assert_eq!(refused_until(&[7; 32]), Some(now.unix_timestamp() + REFUSAL_SECONDS), "a resync keeps them");
        gate.sweep(now + time::Duration::seconds(REFUSAL_SECONDS - 1));
        assert!(refused_until(&[7; 32]).is_some());
        gate.sweep(now + time::Duration::seconds(REFUSAL_SECONDS));
        assert!(refused_until(&[7; 32]).is_none(), "swept once their time is up");

        let mut tokens = SeenTokens::default();
        let now = now.unix_timestamp();
        for index in 0..MAX_REFUSED as u32 {
            let mut key = [0; 32];
            key[..4].copy_from_slice(&index.to_le_bytes());
            tokens.refuse(key, now);
        }
        assert_eq!(tokens.refused.len(), MAX_REFUSED);
        tokens.refuse([0xff; 32], now);
        assert_eq!(tokens.refused.len(), 1, "a full memory of live refusals starts over");
    }

    #[test]
    fn reusable_provider_tokens_are_held_apart_and_bounded() {
        let mut tokens = SeenTokens::default();
        tokens.insert([9; 32], None, seen(i64::MAX));
        let now = 1_000;
        let provider = |recheck_at| {
            Arc::new(SeenToken {
                client_id: ClientId::from_string("c"),
                profile_id: None,
                scopes: None,
                scope: Arc::from(""),
                exp: i64::MAX,
                secret_generation: 1,
                minted: None,
                recheck_at,
            })
        };
        for index in 0..MAX_EXTERNAL as u32 {
            let mut key = [0; 32];
            key[..4].copy_from_slice(&index.to_le_bytes());
            tokens.insert_external(key, provider(now + 60), now);
        }
        tokens.insert_external([0xee; 32], provider(now + 60), now);
        assert_eq!(tokens.external.len(), 1, "a full memory of provider tokens starts over");
        assert!(tokens.by_hash.contains_key(&[9; 32]), "and leaves Gatehouse's own tokens alone");
    }

    #[test]
    fn expired_tokens_are_swept() {
        let gate = Gate::default();
        let now = OffsetDateTime::now_utc();
        assert!(gate.start_lookup(&TokenId::from_string("old")).finish([5; 32], seen(now.unix_timestamp() - 61)));
        assert!(gate.start_lookup(&TokenId::from_string("new")).finish([6; 32], seen(now.unix_timestamp() + 60)));
        gate.sweep(now);
        assert!(!cached(&gate, &[5; 32]) && cached(&gate, &[6; 32]));
        assert_eq!(read(&gate.tokens).by_jti.len(), 1);
    }
}
