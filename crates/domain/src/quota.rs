//! Quotas (issue 21): at most so many allowed gateway checks per profile in a calendar period
//! (UTC), counted across instances (in the database, or in Redis when configured). Over it, the
//! check answers 429 with `Retry-After` to the period's end.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

use crate::error::ValidationError;
use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum QuotaPeriod {
    Minute,
    Hour,
    Day,
    Month,
}

/// `{"requests": N, "period": ...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quota {
    pub requests: u64,
    pub period: QuotaPeriod,
}

impl Quota {
    pub const MAX_REQUESTS: u64 = 1_000_000_000_000;

    pub fn parse(requests: i64, period: QuotaPeriod) -> Result<Self, ValidationError> {
        let requests = u64::try_from(requests)
            .ok()
            .filter(|requests| (1..=Self::MAX_REQUESTS).contains(requests))
            .ok_or_else(|| ValidationError::new("quota.requests", "must be between 1 and 1000000000000"))?;
        Ok(Self { requests, period })
    }
}

impl QuotaPeriod {
    pub const ALL: [QuotaPeriod; 4] = [QuotaPeriod::Minute, QuotaPeriod::Hour, QuotaPeriod::Day, QuotaPeriod::Month];

    /// Its name on the wire (as serde spells it) and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Minute => "minute",
            QuotaPeriod::Hour => "hour",
            QuotaPeriod::Day => "day",
            QuotaPeriod::Month => "month",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|period| period.as_str() == value)
    }

    /// The calendar period (UTC) `now` falls in: its first instant and the first instant after it.
    pub fn window(self, now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
        let now = now.to_offset(time::UtcOffset::UTC);
        let start = match self {
            QuotaPeriod::Minute => {
                now.replace_time(Time::from_hms(now.hour(), now.minute(), 0).unwrap_or(Time::MIDNIGHT))
            }
            QuotaPeriod::Hour => now.replace_time(Time::from_hms(now.hour(), 0, 0).unwrap_or(Time::MIDNIGHT)),
            QuotaPeriod::Day => now.replace_time(Time::MIDNIGHT),
            QuotaPeriod::Month => {
                now.replace_date(first_of_month(now.year(), now.month())).replace_time(Time::MIDNIGHT)
            }
        };
        let end = match self {
            QuotaPeriod::Minute => start + time::Duration::MINUTE,
            QuotaPeriod::Hour => start + time::Duration::HOUR,
            QuotaPeriod::Day => start + time::Duration::DAY,
            QuotaPeriod::Month => {
                let (year, month) = match now.month() {
                    Month::December => (now.year() + 1, Month::January),
                    month => (now.year(), month.next()),
                };
                start.replace_date(first_of_month(year, month))
            }
        };
        (start, end)
    }
}

fn first_of_month(year: i32, month: Month) -> Date {
    Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN)
}

/// Counts uses in a period, shared by every instance.
#[async_trait]
pub trait QuotaCounter: Send + Sync {
    /// Takes one use from the quota `limit` of `key` in the period `[start, end)`: `true` and
    /// counted while fewer than `limit` were taken, `false` (and nothing counted) once they all
    /// were. `now` is this instance's clock, for how long a count is kept.
    async fn take(
        &self,
        key: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        limit: u64,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

/// Counts in the database: every instance sharing it shares the counts.
pub struct StoreQuotas(pub std::sync::Arc<dyn crate::store::Store>);

#[async_trait]
impl QuotaCounter for StoreQuotas {
    async fn take(
        &self,
        key: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        limit: u64,
        _now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.0.take_quota_use(key, start, end, limit).await
    }
}

/// Quotas known to be used up, until their period ends: a caller over its quota is refused from
/// memory, without a write per refused check. Bounded; when full, refusals go to the counter.
#[derive(Default)]
pub struct UsedUp(std::sync::Mutex<std::collections::HashMap<String, (OffsetDateTime, u64)>>);

impl UsedUp {
    const MAX_KEYS: usize = 100_000;

    /// Whether `key`'s quota of `limit` is known to be used up at `now`. A raised limit is not.
    pub fn holds(&self, key: &str, limit: u64, now: OffsetDateTime) -> bool {
        let used_up = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used_up.get(key).is_some_and(|(end, known)| *end > now && *known >= limit)
    }

    pub fn remember(&self, key: &str, limit: u64, end: OffsetDateTime, now: OffsetDateTime) {
        let mut used_up = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if used_up.len() >= Self::MAX_KEYS {
            used_up.retain(|_, (ends, _)| *ends > now);
        }
        if used_up.len() < Self::MAX_KEYS {
            used_up.insert(key.to_owned(), (end, limit));
        }
    }

    /// Forgets periods that have ended.
    pub fn sweep(&self, now: OffsetDateTime) {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, (end, _)| *end > now);
    }
}

/// Whole seconds from `now` to `end`, at least 1: a `Retry-After`.
pub fn seconds_until(end: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let nanos = (end - now).whole_nanoseconds().max(1);
    u64::try_from((nanos + 999_999_999) / 1_000_000_000).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn periods_are_calendar_periods_in_utc() {
        let at = datetime!(2026-12-31 23:59:30.5 UTC);
        assert_eq!(QuotaPeriod::Minute.window(at), (datetime!(2026-12-31 23:59 UTC), datetime!(2027-01-01 0:00 UTC)));
        assert_eq!(QuotaPeriod::Hour.window(at), (datetime!(2026-12-31 23:00 UTC), datetime!(2027-01-01 0:00 UTC)));
        assert_eq!(QuotaPeriod::Day.window(at), (datetime!(2026-12-31 0:00 UTC), datetime!(2027-01-01 0:00 UTC)));
        assert_eq!(QuotaPeriod::Month.window(at), (datetime!(2026-12-01 0:00 UTC), datetime!(2027-01-01 0:00 UTC)));
        let february = datetime!(2028-02-29 12:00 +05:00);
        assert_eq!(
            QuotaPeriod::Month.window(february),
            (datetime!(2028-02-01 0:00 UTC), datetime!(2028-03-01 0:00 UTC))
        );
        assert_eq!(seconds_until(datetime!(2027-01-01 0:00 UTC), at), 30);
    }

    #[test]
    fn a_quota_counts_at_least_one_request() {
        assert!(Quota::parse(0, QuotaPeriod::Day).is_err());
        assert!(Quota::parse(-1, QuotaPeriod::Day).is_err());
        for period in QuotaPeriod::ALL {
            let spelled = serde_json::to_value(period).unwrap();
            assert_eq!(spelled, period.as_str(), "one spelling on the wire and in forms");
            assert_eq!(QuotaPeriod::parse(period.as_str()), Some(period));
        }
        assert_eq!(Quota::parse(5, QuotaPeriod::Hour).unwrap().requests, 5);
    }
}
