//! Time is injected so that expiry rules are tested without sleeping (STYLE.md habit 4).

use time::OffsetDateTime;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// `at` without its fraction of a second: how expiries and last uses are kept, so that every
/// store holds exactly the instant the API showed.
pub fn to_the_second(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}
