//! Rate limits (seed rule 12): `{"requests_per_second", "burst"}` enforced with GCRA, the
//! generic cell rate algorithm. Hand-written rather than taken from `governor` because the same
//! arithmetic must run in-process and inside a Redis script shared by every instance, and both
//! must take the time from outside (the injected clock here, Redis's own clock there).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::client::RateLimit;
use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit; the earliest a request can succeed, in whole seconds (at least 1).
    Limited {
        retry_after_seconds: u64,
    },
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request against `key` under `limit`.
    async fn acquire(&self, key: &str, limit: RateLimit, now: OffsetDateTime) -> Result<RateDecision, StoreError>;
}

/// One GCRA step. `tat` is the theoretical arrival time of the next request, in nanoseconds;
/// `burst` requests may arrive at once, then one every `1 / requests_per_second`.
pub fn gcra(tat: Option<i128>, now: i128, limit: RateLimit) -> (RateDecision, Option<i128>) {
    let interval = 1_000_000_000i128 / i128::from(limit.requests_per_second.max(1));
    let tolerance = interval * i128::from(limit.burst.max(1));
    let new_tat = tat.unwrap_or(now).max(now) + interval;
    let excess = new_tat - now - tolerance;
    if excess > 0 {
        let seconds = (excess + 999_999_999) / 1_000_000_000;
        let retry_after_seconds = u64::try_from(seconds.max(1)).unwrap_or(u64::MAX);
        (RateDecision::Limited { retry_after_seconds }, tat)
    } else {
        (RateDecision::Allowed, Some(new_tat))
    }
}

/// Counters in this process only: each instance limits on its own.
#[derive(Default)]
pub struct InProcessRateLimiter {
    tats: Mutex<HashMap<String, i128>>,
}

impl InProcessRateLimiter {
    /// Keys beyond this many are swept of idle entries; the map never grows without bound.
    const MAX_KEYS: usize = 1_000_000;
}

#[async_trait]
impl RateLimiter for InProcessRateLimiter {
    async fn acquire(&self, key: &str, limit: RateLimit, now: OffsetDateTime) -> Result<RateDecision, StoreError> {
        let now = now.unix_timestamp_nanos();
        let mut tats = self.tats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if tats.len() >= Self::MAX_KEYS && !tats.contains_key(key) {
            // A key whose TAT has passed is indistinguishable from a new one: drop it.
            tats.retain(|_, tat| *tat > now);
        }
        let (decision, tat) = gcra(tats.get(key).copied(), now, limit);
        if let Some(tat) = tat {
            tats.insert(key.to_owned(), tat);
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let limit = RateLimit { requests_per_second: 2, burst: 3 };
        let mut tat = None;
        let start = 1_000_000_000_000i128;
        for _ in 0..3 {
            let (decision, next) = gcra(tat, start, limit);
            assert_eq!(decision, RateDecision::Allowed);
            tat = next;
        }
        let (decision, _) = gcra(tat, start, limit);
        assert_eq!(decision, RateDecision::Limited { retry_after_seconds: 1 });
        // Half a second later one more request fits.
        let (decision, _) = gcra(tat, start + 500_000_000, limit);
        assert_eq!(decision, RateDecision::Allowed);
    }

    #[tokio::test]
    async fn keys_are_independent() {
        let limiter = InProcessRateLimiter::default();
        let limit = RateLimit { requests_per_second: 1, burst: 1 };
        let now = OffsetDateTime::now_utc();
        assert_eq!(limiter.acquire("a", limit, now).await.unwrap(), RateDecision::Allowed);
        assert!(matches!(limiter.acquire("a", limit, now).await.unwrap(), RateDecision::Limited { .. }));
        assert_eq!(limiter.acquire("b", limit, now).await.unwrap(), RateDecision::Allowed);
    }
}
