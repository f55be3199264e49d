//! The gateway check (DESIGN.md "Gateway check"): may this credential call this product from
//! this address right now? Answered from memory in the common case. A token is verified and
//! looked up once; after that the check reads only in-process maps, which every local state
//! change (disable, renew, delete, revoke, scope edit) updates before it answers its caller,
//! so the very next check sees it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aws_lc_rs::digest;
use time::OffsetDateTime;

use crate::account::Product;
use crate::client::{Client, Scopes};
use crate::ids::{AccountId, ClientId, ProfileId, TokenId};
use crate::profile::{AccessProfile, is_api_key};
use crate::ratelimit::RateDecision;
use crate::secret::ClientSecret;
use crate::service::{Gatehouse, scopes_from_claim};
use crate::store::StoreError;
use crate::token::MAX_TOKEN_LIFETIME_SECONDS;

/// A credential that verified once: what later checks need of it.
struct SeenToken {
    /// The token id; empty for an API key.
    jti: String,
    client_id: ClientId,
    profile_id: Option<ProfileId>,
    /// What the credential may call: a token's scopes as minted; `None` for an API key, which
    /// calls its profile's current products.
    scopes: Option<Scopes>,
    scope: String,
    /// Expiry in unix seconds; far in the future for an API key.
    exp: i64,
    /// The generation of the credential (client secret or profile credential) it belongs to.
    secret_generation: i64,
}

/// The in-memory state behind the check. Bounded: entries past these sizes are swept of
/// expired ones, and if that is not enough the cache starts over (it is only a cache).
#[derive(Default)]
pub struct Gate {
    tokens: RwLock<HashMap<[u8; 32], Arc<SeenToken>>>,
    /// `None`: the client is gone.
    clients: RwLock<HashMap<ClientId, Option<Arc<Client>>>>,
    /// `None`: the profile is gone.
    profiles: RwLock<HashMap<ProfileId, Option<Arc<AccessProfile>>>>,
    catalogues: RwLock<HashMap<AccountId, Arc<Vec<Product>>>>,
    /// Revoked token ids, with the time after which no token of that id can be valid anyway.
    revoked: RwLock<HashMap<String, i64>>,
    /// Bumped by every invalidation. A load that started before an invalidation is not cached:
    /// it may hold the state from before the change.
    epoch: AtomicU64,
}

const MAX_TOKENS: usize = 2_000_000;
const MAX_CLIENTS: usize = 1_000_000;

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Gate {
    /// A client changed (edit, disable, enable, renew, delete): the next check reloads it.
    pub fn forget_client(&self, client_id: &ClientId) {
        let mut clients = write(&self.clients);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        clients.remove(client_id);
    }

    /// A profile changed (edit, activate, deactivate, refresh, delete).
    pub fn forget_profile(&self, profile_id: &ProfileId) {
        let mut profiles = write(&self.profiles);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        profiles.remove(profile_id);
    }

    /// Tokens revoked (by RFC 7009 or by the live-token cap).
    pub fn forget_tokens(&self, jtis: &[TokenId]) {
        let keep_until = OffsetDateTime::now_utc().unix_timestamp() + MAX_TOKEN_LIFETIME_SECONDS + 60;
        let mut revoked = write(&self.revoked);
        for jti in jtis {
            revoked.insert(jti.to_string(), keep_until);
        }
    }

    /// An account's product catalogue changed.
    pub fn forget_catalogue(&self, account_id: &AccountId) {
        let mut catalogues = write(&self.catalogues);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        catalogues.remove(account_id);
    }

    /// Forgets everything cached: after a gap in the change feed nothing cached can be trusted.
    /// Revocations are kept (they only ever refuse), and reloaded state comes from the store.
    pub fn clear(&self) {
        let mut clients = write(&self.clients);
        let mut profiles = write(&self.profiles);
        let mut catalogues = write(&self.catalogues);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        clients.clear();
        profiles.clear();
        catalogues.clear();
        // Seen tokens hold the revocation state read at first sight: read it again.
        write(&self.tokens).clear();
    }

    /// Drops what can no longer matter: expired tokens and old revocations.
    pub fn sweep(&self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        write(&self.tokens).retain(|_, token| token.exp >= now - 60);
        write(&self.revoked).retain(|_, until| *until >= now);
    }

    fn remember_token(&self, key: [u8; 32], token: Arc<SeenToken>) {
        let mut tokens = write(&self.tokens);
        if tokens.len() >= MAX_TOKENS {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            tokens.retain(|_, token| token.exp >= now);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(key, token);
    }
}

/// A gateway's question.
pub struct CheckRequest<'a> {
    /// The bearer token from `Authorization`.
    pub credential: &'a str,
    /// `?product=`, if given.
    pub product: Option<&'a str>,
    /// The original request path (`X-Original-URI`, `X-Forwarded-Uri`), if given.
    pub path: Option<&'a str>,
    /// The caller's address, resolved through trusted proxies.
    pub client_ip: IpAddr,
}

/// The answer to pass upstream.
#[derive(Debug)]
pub struct CheckGrant {
    pub client_id: String,
    pub profile_id: Option<String>,
    pub account_id: String,
    pub scope: String,
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

impl From<StoreError> for CheckDenial {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "gateway check could not reach the store");
        CheckDenial::Unavailable
    }
}

impl Gatehouse {
    /// `GET /v1/auth/check`.
    pub async fn check(&self, request: CheckRequest<'_>, now: OffsetDateTime) -> Result<CheckGrant, CheckDenial> {
        let seen = if is_api_key(request.credential) {
            self.seen_api_key(request.credential).await?
        } else {
            self.seen_token(request.credential, now).await?
        };
        if seen.exp + self.settings.leeway_seconds <= now.unix_timestamp() {
            return Err(CheckDenial::Unauthenticated);
        }
        if !seen.jti.is_empty() && read(&self.gate.revoked).contains_key(&seen.jti) {
            return Err(CheckDenial::Unauthenticated);
        }
        let client = self.gate_client(&seen.client_id).await?.ok_or(CheckDenial::Unauthenticated)?;
        // Seed rule 7: nothing of a disabled client passes.
        if !client.enabled {
            return Err(CheckDenial::Unauthenticated);
        }
        let profile = match &seen.profile_id {
            None => None,
            Some(profile_id) => Some(self.gate_profile(profile_id).await?.ok_or(CheckDenial::Unauthenticated)?),
        };
        // Seed rules 8 and 14: renewed or refreshed since, or an inactive profile.
        let generation = profile.as_ref().map_or(client.secret_generation, |p| p.secret_generation);
        if generation != seen.secret_generation || profile.as_ref().is_some_and(|p| !p.active) {
            return Err(CheckDenial::Unauthenticated);
        }
        // Seed rule 13, for the client and its profile.
        let ip_allowed = client.allowed_ips.allows(request.client_ip)
            && profile.as_ref().is_none_or(|p| p.allowed_ips.allows(request.client_ip));
        if !ip_allowed {
            return Err(CheckDenial::Forbidden("the client may not call from this address"));
        }
        let product = match request.product {
            Some(product) => product.to_owned(),
            None => {
                let path =
                    request.path.ok_or(CheckDenial::Forbidden("no product given and no original path to map"))?;
                self.product_for_path(&client.account_id, path)
                    .await?
                    .ok_or(CheckDenial::Forbidden("the path belongs to no product"))?
            }
        };
        // Seed rule 6: a token's own scopes, as minted; an API key its profile's products.
        let granted = match (&seen.scopes, &profile) {
            (Some(scopes), _) => scopes.products.contains(&product),
            // A profile grants its products only while the client still holds them.
            (None, Some(profile)) => profile.products.contains(&product) && client.scopes.products.contains(&product),
            (None, None) => false,
        };
        if !granted {
            return Err(CheckDenial::Forbidden("the credential does not grant this product"));
        }
        // Seed rule 12: the client's limit and the profile's, each counted on its own.
        let limits = [
            client.rate_limit.map(|limit| (format!("client:{}", client.client_id), limit)),
            profile.as_ref().and_then(|p| p.rate_limit.map(|limit| (format!("profile:{}", p.profile_id), limit))),
        ];
        for (key, limit) in limits.into_iter().flatten() {
            if let RateDecision::Limited { retry_after_seconds } = self.limiter.acquire(&key, limit, now).await? {
                return Err(CheckDenial::RateLimited { retry_after_seconds });
            }
        }
        let scope = match (&seen.scopes, &profile) {
            (None, Some(profile)) => {
                profile.products.intersection(&client.scopes.products).cloned().collect::<Vec<_>>().join(" ")
            }
            _ => seen.scope.clone(),
        };
        Ok(CheckGrant {
            client_id: client.client_id.to_string(),
            profile_id: profile.map(|p| p.profile_id.to_string()),
            account_id: client.account_id.to_string(),
            scope,
            product,
        })
    }

    /// An API key (seed file 002), looked up by its keyed hash once, then from memory.
    async fn seen_api_key(&self, credential: &str) -> Result<Arc<SeenToken>, CheckDenial> {
        let hash = self.hasher.hash(&ClientSecret::from_presented(credential.to_owned()));
        let mut key = [0u8; 32];
        if hash.as_bytes().len() == key.len() {
            key.copy_from_slice(hash.as_bytes());
        }
        if let Some(seen) = read(&self.gate.tokens).get(&key) {
            return Ok(seen.clone());
        }
        let profile = self.store.profile_by_key_hash(&hash).await?.ok_or(CheckDenial::Unauthenticated)?;
        let seen = Arc::new(SeenToken {
            jti: String::new(),
            client_id: profile.client_id.clone(),
            profile_id: Some(profile.profile_id.clone()),
            scopes: None,
            scope: String::new(),
            exp: i64::MAX / 2,
            secret_generation: profile.secret_generation,
        });
        self.gate.remember_token(key, seen.clone());
        Ok(seen)
    }

    /// The verified token, from memory or (first sight only) signature check plus one lookup.
    async fn seen_token(&self, credential: &str, now: OffsetDateTime) -> Result<Arc<SeenToken>, CheckDenial> {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest::digest(&digest::SHA256, credential.as_bytes()).as_ref());
        if let Some(token) = read(&self.gate.tokens).get(&key) {
            return Ok(token.clone());
        }
        let claims = self.keys.load().verify(credential, now).map_err(|_| CheckDenial::Unauthenticated)?;
        let jti = TokenId::from_string(claims.jti.clone());
        let state = self.store.token_state(&jti).await?.ok_or(CheckDenial::Unauthenticated)?;
        let holder = state.profile_id.as_ref().map_or(state.client_id.as_str(), ProfileId::as_str);
        if holder != claims.client_id {
            return Err(CheckDenial::Unauthenticated);
        }
        if state.revoked {
            self.gate.forget_tokens(std::slice::from_ref(&jti));
            return Err(CheckDenial::Unauthenticated);
        }
        let token = Arc::new(SeenToken {
            jti: claims.jti,
            client_id: state.client_id,
            profile_id: state.profile_id,
            scopes: Some(scopes_from_claim(&claims.scope)),
            scope: claims.scope,
            exp: claims.exp,
            secret_generation: state.secret_generation,
        });
        self.gate.remember_token(key, token.clone());
        Ok(token)
    }

    async fn gate_profile(&self, profile_id: &ProfileId) -> Result<Option<Arc<AccessProfile>>, StoreError> {
        if let Some(profile) = read(&self.gate.profiles).get(profile_id) {
            return Ok(profile.clone());
        }
        let epoch = self.gate.epoch.load(Ordering::SeqCst);
        let profile = self.store.profile(profile_id).await?.map(Arc::new);
        let mut profiles = write(&self.gate.profiles);
        if self.gate.epoch.load(Ordering::SeqCst) == epoch {
            if profiles.len() >= MAX_CLIENTS {
                profiles.clear();
            }
            profiles.insert(profile_id.clone(), profile.clone());
        }
        Ok(profile)
    }

    async fn gate_client(&self, client_id: &ClientId) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = read(&self.gate.clients).get(client_id) {
            return Ok(client.clone());
        }
        let epoch = self.gate.epoch.load(Ordering::SeqCst);
        let client = self.store.client(client_id).await?.map(Arc::new);
        let mut clients = write(&self.gate.clients);
        if self.gate.epoch.load(Ordering::SeqCst) == epoch {
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
            clients.insert(client_id.clone(), client.clone());
        }
        Ok(client)
    }

    /// The product whose longest path prefix matches `path` (query string ignored).
    async fn product_for_path(&self, account_id: &AccountId, path: &str) -> Result<Option<String>, StoreError> {
        let cached = read(&self.gate.catalogues).get(account_id).cloned();
        let catalogue = match cached {
            Some(catalogue) => catalogue,
            None => {
                let epoch = self.gate.epoch.load(Ordering::SeqCst);
                let catalogue = Arc::new(self.store.products(account_id).await?);
                let mut catalogues = write(&self.gate.catalogues);
                if self.gate.epoch.load(Ordering::SeqCst) == epoch {
                    catalogues.insert(account_id.clone(), catalogue.clone());
                }
                catalogue
            }
        };
        let Some(path) = normalise_path(path) else {
            return Ok(None);
        };
        Ok(catalogue
            .iter()
            .flat_map(|product| product.path_prefixes.iter().map(move |prefix| (prefix, &product.name)))
            .filter(|(prefix, _)| prefix_matches(prefix, &path))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, name)| name.clone()))
    }
}

/// The path as the upstream will resolve it: query and fragment dropped, percent-escapes decoded,
/// dot segments removed (RFC 3986 §5.2.4). `None` for a path that cannot be decoded or that
/// escapes the root, which maps to no product. Without this, `/supersim/../wireless/x` would
/// pass as SuperSIM and reach the wireless API.
pub fn normalise_path(raw: &str) -> Option<String> {
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            decoded.push(value);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    let decoded = String::from_utf8(decoded).ok()?;
    if !decoded.starts_with('/') || decoded.contains(['\\', '\0']) {
        return None;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop()?;
            }
            other => segments.push(other),
        }
    }
    Some(format!("/{}", segments.join("/")))
}

/// A prefix ending in `/` matches everything below it; any other prefix matches itself and what
/// lies below it, never a longer sibling (`/billing` does not match `/billing-admin`).
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_before_matching() {
        assert_eq!(normalise_path("/supersim/v1/Sims?x=1").as_deref(), Some("/supersim/v1/Sims"));
        assert_eq!(normalise_path("/supersim/../wireless/x").as_deref(), Some("/wireless/x"));
        assert_eq!(normalise_path("/supersim/%2e%2e/wireless/x").as_deref(), Some("/wireless/x"));
        assert_eq!(normalise_path("/supersim/./v1").as_deref(), Some("/supersim/v1"));
        assert_eq!(normalise_path("/../etc"), None);
        assert_eq!(normalise_path("/a%zz"), None);
        assert_eq!(normalise_path("/a%00b"), None);
        assert_eq!(normalise_path("relative"), None);
        assert!(prefix_matches("/supersim/", "/supersim/v1"));
        assert!(!prefix_matches("/supersim/", "/supersim"));
        assert!(prefix_matches("/billing", "/billing"));
        assert!(prefix_matches("/billing", "/billing/7"));
        assert!(!prefix_matches("/billing", "/billing-admin"));
    }
}
