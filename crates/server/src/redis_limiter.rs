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

/// KEYS[1]: the counter of one period. ARGV[1]: when the period ends, in Unix seconds. Returns the
/// uses so far, this one included; the counter goes a minute after its period.
const QUOTA: &str = r"
local uses = redis.call('INCR', KEYS[1])
if uses == 1 then redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[1]) + 60) end
return uses
";

/// Quota counts in Redis, shared by every instance (`--redis`): one round trip per check of a
/// profile under a quota, instead of a database write.
pub struct RedisQuotas {
    connection: ConnectionManager,
    script: Script,
    /// Where counts go while Redis cannot be reached: a quota is a promise to the API's owner,
    /// so an outage does not make it unlimited.
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
    async fn count(&self, key: &str, start: OffsetDateTime, end: OffsetDateTime) -> Result<u64, StoreError> {
        let mut connection = self.connection.clone();
        let result: Result<i64, redis::RedisError> = self
            .script
            .key(format!("gatehouse:{key}:{}", start.unix_timestamp()))
            .arg(end.unix_timestamp())
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok(uses) => Ok(u64::try_from(uses).unwrap_or_default()),
            Err(error) => {
                tracing::warn!(%error, "Redis quota counter unreachable; counting in the database meanwhile");
                self.fallback.count(key, start, end).await
            }
        }
    }
}
