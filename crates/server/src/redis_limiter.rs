//! Rate-limit counters in Redis, shared by every instance (seed rule 12, `--redis`). One
//! round trip per check: a script runs the same GCRA step as the in-process limiter, atomically,
//! on Redis's own clock so instances with drifting clocks still agree.

use async_trait::async_trait;
use gatehouse_domain::client::RateLimit;
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
