//! Identity providers' key sets (issue 21, `oidc` profiles): fetched from the profile's
//! `jwks_uri` by a [`JwksFetcher`] the server supplies, cached here, and fetched again when a
//! token names a key not held, at most once a minute per URI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::jose::KeySet;

/// Why a key set could not be fetched. Only logged: the caller is simply refused.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URI or the address it resolves to is not one Gatehouse fetches from (a private
    /// address without `--allow-private-jwks`, plain http to a host that is not loopback).
    #[error("refused to fetch: {0}")]
    Refused(String),
    /// Unreachable, timed out, a status other than 200, a redirect, too large, not JSON.
    #[error("fetch failed: {0}")]
    Failed(String),
}

/// Fetches a JWKS document. Implemented by the server (an HTTP client with the SSRF rules);
/// never given a URL a token names (`jku`, `x5u`), only a profile's configured `jwks_uri`.
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    /// GETs `uri` and returns its JSON body.
    async fn fetch(&self, uri: &str) -> Result<serde_json::Value, FetchError>;
}

/// A fetcher for a server that trusts no identity provider: every fetch is refused.
pub struct NoFetcher;

#[async_trait]
impl JwksFetcher for NoFetcher {
    async fn fetch(&self, _uri: &str) -> Result<serde_json::Value, FetchError> {
        Err(FetchError::Refused("no JWKS fetcher is configured".to_owned()))
    }
}

/// How long fetched keys are used before they are fetched again, and how soon a token naming
/// an unknown key may cause another fetch.
#[derive(Clone, Copy, Debug)]
pub struct JwksTiming {
    pub max_age_seconds: i64,
    pub refetch_after_seconds: i64,
}

/// Keys held longer than this without a successful fetch are dropped: a provider that stays
/// unreachable does not keep a key it has withdrawn trusted for ever.
const MAX_STALE_SECONDS: i64 = 86_400;
/// At most this many key sets are held; past it the cache starts over.
const MAX_SETS: usize = 10_000;

impl Default for JwksTiming {
    fn default() -> Self {
        Self { max_age_seconds: 300, refetch_after_seconds: 60 }
    }
}

struct Entry {
    keys: Option<Arc<KeySet>>,
    fetched_at: i64,
    attempted_at: i64,
}

/// The key sets fetched so far, by URI. Bounded by the profiles that name a URI, which only
/// people managing clients create.
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetcher>,
    timing: JwksTiming,
    entries: Mutex<HashMap<String, Entry>>,
    /// One fetch at a time per URI: a burst of tokens with a new `kid` costs one fetch.
    fetching: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The keys to verify with, or why there are none.
#[derive(Debug, PartialEq, Eq)]
pub enum JwksUnavailable {
    /// Never fetched successfully: a token cannot be verified, so it is refused.
    Unreachable,
}

impl JwksCache {
    pub fn new(fetcher: Arc<dyn JwksFetcher>, timing: JwksTiming) -> Self {
        Self { fetcher, timing, entries: Mutex::default(), fetching: tokio::sync::Mutex::default() }
    }

    pub fn timing(&self) -> JwksTiming {
        self.timing
    }

    fn held(&self, uri: &str) -> Option<(Option<Arc<KeySet>>, i64, i64)> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(uri).map(|entry| (entry.keys.clone(), entry.fetched_at, entry.attempted_at))
    }

    /// The keys of `uri` that may verify a token naming `kid`: those held, unless they are
    /// older than the maximum age or lack `kid` and the last fetch is long enough ago, in
    /// which case they are fetched again. A failed fetch keeps the keys held (they were the
    /// provider's); with none held, nothing verifies.
    pub async fn keys(
        &self,
        uri: &str,
        kid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Arc<KeySet>, JwksUnavailable> {
        let now = now.unix_timestamp();
        if let Some(keys) = self.usable(uri, kid, now) {
            return Ok(keys);
        }
        let lock = {
            let mut fetching = self.fetching.lock().await;
            if fetching.len() >= MAX_SETS && !fetching.contains_key(uri) {
                fetching.clear();
            }
            fetching.entry(uri.to_owned()).or_default().clone()
        };
        let _fetching = lock.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(keys) = self.usable(uri, kid, now) {
            return Ok(keys);
        }
        let held = self.held(uri);
        let may_fetch = held.as_ref().is_none_or(|(_, _, attempted_at)| {
            now - attempted_at >= self.timing.refetch_after_seconds || now < *attempted_at
        });
        if may_fetch {
            // The URI's query may carry what its owner did not mean for logs.
            let shown = uri.split(['?', '#']).next().unwrap_or_default();
            // What the provider answered is authoritative, an empty or unusable set too (found
            // in review: such an answer kept the withdrawn keys trusted); only a failure to
            // answer leaves the keys held, for a day at most.
            let fetched = match self.fetcher.fetch(uri).await {
                Ok(document) => Some(KeySet::from_provider(&document).map(Arc::new).map_err(|error| {
                    tracing::warn!(uri = %shown, %error, "the identity provider's JWKS has no usable key");
                })),
                Err(error) => {
                    tracing::warn!(uri = %shown, %error, "the identity provider's JWKS could not be fetched");
                    None
                }
            };
            let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if entries.len() >= MAX_SETS && !entries.contains_key(uri) {
                entries.clear();
            }
            let entry =
                entries.entry(uri.to_owned()).or_insert(Entry { keys: None, fetched_at: now, attempted_at: now });
            entry.attempted_at = now;
            match fetched {
                Some(answer) => {
                    entry.keys = answer.ok();
                    entry.fetched_at = now;
                }
                None if now - entry.fetched_at > MAX_STALE_SECONDS => entry.keys = None,
                None => {}
            }
        }
        self.held(uri).and_then(|(keys, _, _)| keys).ok_or(JwksUnavailable::Unreachable)
    }

    /// The held keys, if they may be used without fetching.
    fn usable(&self, uri: &str, kid: Option<&str>, now: i64) -> Option<Arc<KeySet>> {
        let (keys, fetched_at, attempted_at) = self.held(uri)?;
        let keys = keys?;
        if now - fetched_at > MAX_STALE_SECONDS {
            return None;
        }
        let fresh = now - fetched_at < self.timing.max_age_seconds && now >= fetched_at;
        let has_kid = kid.is_none_or(|kid| keys.has_kid(kid));
        let recently_tried = now - attempted_at < self.timing.refetch_after_seconds && now >= attempted_at;
        // Keys held but stale or missing the kid: fetched again unless a fetch was just tried,
        // in which case they are used as they are (a refused fetch never widens trust).
        ((fresh && has_kid) || recently_tried).then_some(keys)
    }
}
