//! Throttling of repeated authentication failures: five failures for one key (a login email; a
//! client id and source address at the token endpoint) within a quarter of an hour block that key
//! for 30 seconds. Memory stays bounded whatever keys an attacker invents.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

#[derive(Default)]
pub struct FailureThrottle {
    entries: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    window_start: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

impl FailureThrottle {
    const MAX_FAILURES: u32 = 5;
    const WINDOW_SECONDS: i64 = 15 * 60;
    const BLOCK_SECONDS: i64 = 30;
    const MAX_ENTRIES: usize = 100_000;

    /// Seconds until `key` may try again, if it is blocked.
    pub fn blocked(&self, email: &str, now: OffsetDateTime) -> Option<i64> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = entries.get(email)?.blocked_until?;
        (until > now).then(|| (until - now).whole_seconds().max(1))
    }

    pub fn failed(&self, email: &str, now: OffsetDateTime) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= Self::MAX_ENTRIES && !entries.contains_key(email) {
            let window = time::Duration::seconds(Self::WINDOW_SECONDS);
            entries.retain(|_, f| f.window_start + window > now || f.blocked_until.is_some_and(|until| until > now));
            if entries.len() >= Self::MAX_ENTRIES {
                // Keys that are blocked stay blocked: flooding with invented keys must not lift
                // the block on a real one. Counting of other keys starts over.
                tracing::warn!("failure throttle full; forgetting failures of keys not blocked");
                entries.retain(|_, f| f.blocked_until.is_some_and(|until| until > now));
                if entries.len() >= Self::MAX_ENTRIES {
                    return;
                }
            }
        }
        let entry =
            entries.entry(email.to_owned()).or_insert(Failures { count: 0, window_start: now, blocked_until: None });
        if entry.window_start + time::Duration::seconds(Self::WINDOW_SECONDS) <= now {
            *entry = Failures { count: 0, window_start: now, blocked_until: None };
        }
        entry.count += 1;
        if entry.count >= Self::MAX_FAILURES {
            entry.blocked_until = Some(now + time::Duration::seconds(Self::BLOCK_SECONDS));
            entry.count = 0;
            entry.window_start = now;
        }
    }

    pub fn succeeded(&self, email: &str) {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(email);
    }
}
