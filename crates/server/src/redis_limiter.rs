//! Rate-limit and quota counters in Redis, shared by every instance (seed rule 12, `--redis`).
//! One round trip per check: a script runs the same GCRA step as the in-process limiter,
//! atomically, on Redis's own clock so instances with drifting clocks still agree.

use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_domain::client::RateLimit;
use gatehouse_domain::quota::QuotaCounter;
use gatehouse_domain::ratelimit::{RateDecision, RateLimiter};
use gatehouse_domain::store::StoreError;
use redis::Script;
use redis::aio::ConnectionManager;
use time::OffsetDateTime;

/// KEYS[1]: the counter. ARGV[1]: emission interval, ARGV[2]: tolerance (interval × burst), both
/// in microseconds. Returns 0 when allowed, otherwise how many microseconds too early.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
local excess = new_tat - now - tonumber(ARGV[2])
if excess > 0 then return excess end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1000)
return 0
";

pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: Script,
}

impl RedisRateLimiter {
    pub async fn connect(url: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| format!("bad Redis URL: {error}"))?;
        let connection =
            ConnectionManager::new(client).await.map_err(|error| format!("cannot connect to Redis: {error}"))?;
        Ok(Self { connection, script: Script::new(GCRA) })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    /// When Redis cannot be reached the request is let through and the failure logged: a
    /// limiter outage must not become an outage of every API behind the gateway.
    async fn acquire(&self, key: &str, limit: RateLimit, _now: OffsetDateTime) -> Result<RateDecision, StoreError> {
        let interval = 1_000_000i64 / i64::from(limit.requests_per_second.max(1));
        let tolerance = interval * i64::from(limit.burst.max(1));
        let mut connection = self.connection.clone();
        let result: Result<i64, redis::RedisError> = self
            .script
            .key(format!("gatehouse:rate:{key}"))
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok(0) => Ok(RateDecision::Allowed),
            Ok(excess) => {
                let seconds = u64::try_from((excess + 999_999) / 1_000_000).unwrap_or(1).max(1);
                Ok(RateDecision::Limited { retry_after_seconds: seconds })
            }
            Err(error) => {
                tracing::warn!(%error, "Redis rate limiter unreachable; letting the request through");
                Ok(RateDecision::Allowed)
            }
        }
    }
}

/// KEYS[1]: the counter of one period. ARGV[1]: the quota. ARGV[2]: seconds to keep the counter
/// (to its period's end and a minute more, relative, so a clock that differs from Redis's does
/// not end it early). Returns 1 when the use was taken, 0 when the quota was used up (and nothing
/// counted).
const QUOTA: &str = r"
local uses = tonumber(redis.call('GET', KEYS[1]) or '0')
if uses >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
return 1
";

/// Quota counts in Redis, shared by every instance (`--redis`): one round trip per check of a
/// profile under a quota, instead of a database write.
pub struct RedisQuotas {
    connection: ConnectionManager,
    script: Script,
    /// Where counts go while Redis cannot be reached: a quota is a promise to the API's owner,
    /// so an outage does not make it unlimited (though the two counts are apart, so during an
    /// outage a profile may get up to twice its quota).
    fallback: Arc<dyn QuotaCounter>,
}

impl RedisQuotas {
    pub async fn connect(url: &str, fallback: Arc<dyn QuotaCounter>) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|error| format!("bad Redis URL: {error}"))?;
        let connection =
            ConnectionManager::new(client).await.map_err(|error| format!("cannot connect to Redis: {error}"))?;
        Ok(Self { connection, script: Script::new(QUOTA), fallback })
    }
}

#[async_trait]
impl QuotaCounter for RedisQuotas {
    async fn take(
        &self,
        key: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        limit: u64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let keep_seconds = gatehouse_domain::quota::seconds_until(end, now).saturating_add(60);
        let mut connection = self.connection.clone();
        let result: Result<i64, redis::RedisError> = self
            .script
            .key(format!("gatehouse:{key}:{}", start.unix_timestamp()))
            .arg(limit)
            .arg(keep_seconds)
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok(taken) => Ok(taken == 1),
            Err(error) => {
                tracing::warn!(%error, "Redis quota counter unreachable; counting in the database meanwhile");
                self.fallback.take(key, start, end, limit, now).await
            }
        }
    }
}
