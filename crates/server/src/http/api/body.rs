//! Request-body pieces shared by several routes.

use gatehouse_domain::client::RateLimit;
use gatehouse_domain::ids::AccountId;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, StringDeserializer};
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::ApiError;

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A JSON object read into `T`. Serde reads a struct from an array of its fields in order as
/// readily as from an object, so `[null, null]` would pass for `{}`; the documented bodies are
/// objects, and anything else is refused.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            // The fields are read through the same map, so errors keep their full path.
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_map(ObjectVisitor(PhantomData)).map(Object)
    }
}

/// A value sent as a JSON string, such as an enum's name. serde_json would also read a unit
/// variant from an object (`{"admin": null}` for `"admin"`), which the document does not allow.
pub struct Text<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Text<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::deserialize(StringDeserializer::<D::Error>::new(text)).map(Text)
    }
}

/// `{"requests_per_second", "burst"}` as sent, before its bounds are checked.
pub struct RateLimitBody {
    requests_per_second: i64,
    burst: i64,
}

impl<'de> Deserialize<'de> for RateLimitBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            requests_per_second: Whole,
            burst: Whole,
        }
        let Object(Fields { requests_per_second, burst }) = Object::deserialize(deserializer)?;
        Ok(Self { requests_per_second: requests_per_second.0, burst: burst.0 })
    }
}

/// A whole number, however JSON spells it: `910` or `910.0` (JSON Schema's `integer` allows
/// both). A fraction, or a number past `i64`, is refused.
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        number
            .as_i64()
            .or_else(|| {
                number.as_f64().filter(|value| value.fract() == 0.0 && value.abs() < 9.0e18).map(|value| value as i64)
            })
            .map(Whole)
            .ok_or_else(|| serde::de::Error::custom("expected a whole number"))
    }
}

/// `?account_id=`: a child account the request means, for an owner or admin above it.
pub fn account_of(query: Option<String>) -> Option<AccountId> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "account_id")
        .map(|(_, value)| AccountId::from_string(value.into_owned()))
}

/// An instant sent as RFC 3339 text (`2027-01-31T00:00:00Z`), in UTC.
pub fn instant(field: &str, value: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .map(|text| {
            // `checked_to_offset`: an instant near the end of year 9999 with a negative offset
            // lies past it in UTC, where `to_offset` would panic.
            OffsetDateTime::parse(text.trim(), &Rfc3339)
                .ok()
                .and_then(|at| at.checked_to_offset(time::UtcOffset::UTC))
                .ok_or_else(|| {
                    ApiError::invalid_field(field, "must be an RFC 3339 date and time, such as 2027-01-31T00:00:00Z")
                })
        })
        .transpose()
}

pub fn rate_limit(body: Option<RateLimitBody>) -> Result<Option<RateLimit>, ApiError> {
    body.map(|limit| RateLimit::parse(limit.requests_per_second, limit.burst)).transpose().map_err(Into::into)
}
