//! Request-body pieces shared by several routes.

use gatehouse_domain::client::RateLimit;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// `{"requests_per_second", "burst"}` as sent, before its bounds are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitBody {
    requests_per_second: i64,
    burst: i64,
}

pub fn rate_limit(body: Option<RateLimitBody>) -> Result<Option<RateLimit>, ApiError> {
    body.map(|limit| RateLimit::parse(limit.requests_per_second, limit.burst)).transpose().map_err(Into::into)
}
