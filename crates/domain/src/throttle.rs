//! Throttling of repeated authentication failures: a number of failures for one key (a client id
//! and source address at the token endpoint; an email and source address, or a source address
//! alone, at login) within a quarter of an hour block that key for 30 seconds.
//!
//! Keys are kept only as 64-bit hashes under a key random to this process, so every entry costs
//! the same few bytes whatever the caller sent, and the number of entries is capped: memory is
//! bounded in bytes, however many keys an attacker invents. A collision between two real keys
//! (one in 2^64 per pair) could only share a block, never lift one.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use time::OffsetDateTime;

/// How many failures block a key, and for how long.
/// The part of an address that a throttle counts by: an IPv4 address, or an IPv6 address's /64.
/// One IPv6 host usually holds a whole /64 and can change address within it at will, so
/// counting per address would let it guess on unthrottled.
pub fn network_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_failures: u32,
    pub window_seconds: i64,
    pub block_seconds: i64,
}

impl Limits {
    /// Five failures within a quarter of an hour block for 30 s: guessing is slowed, and a
    /// client that got its secret wrong is not kept out for long.
    pub const PER_CREDENTIAL: Limits = Limits { max_failures: 5, window_seconds: 15 * 60, block_seconds: 30 };
    /// Logins from one address, whatever the email: enough for an office behind one NAT to
    /// mistype, too few to try many people's passwords.
    pub const PER_ADDRESS: Limits = Limits { max_failures: 30, window_seconds: 15 * 60, block_seconds: 60 };
}

pub struct FailureThrottle {
    limits: Limits,
    hasher: RandomState,
    entries: Mutex<HashMap<u64, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    window_start: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

impl Default for FailureThrottle {
    fn default() -> Self {
        Self::new(Limits::PER_CREDENTIAL)
    }
}

impl FailureThrottle {
    /// At most this many keys are remembered: about 4 MiB.
    const MAX_ENTRIES: usize = 100_000;

    pub fn new(limits: Limits) -> Self {
        Self { limits, hasher: RandomState::new(), entries: Mutex::new(HashMap::new()) }
    }

    fn slot(&self, key: impl Hash) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Seconds until `key` may try again, if it is blocked. Rounded up, so that waiting what it
    /// says always suffices.
    pub fn blocked(&self, key: impl Hash, now: OffsetDateTime) -> Option<i64> {
        let slot = self.slot(key);
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let until = entries.get(&slot)?.blocked_until?;
        (until > now).then(|| {
            let remaining = until - now;
            let whole = remaining.whole_seconds();
            if remaining > time::Duration::seconds(whole) { whole + 1 } else { whole.max(1) }
        })
    }

    pub fn failed(&self, key: impl Hash, now: OffsetDateTime) {
        let slot = self.slot(key);
        let limits = self.limits;
        let window = time::Duration::seconds(limits.window_seconds);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= Self::MAX_ENTRIES && !entries.contains_key(&slot) {
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
        let entry = entries.entry(slot).or_insert(Failures { count: 0, window_start: now, blocked_until: None });
        if entry.window_start + window <= now {
            *entry = Failures { count: 0, window_start: now, blocked_until: None };
        }
        entry.count += 1;
        if entry.count >= limits.max_failures {
            entry.blocked_until = Some(now + time::Duration::seconds(limits.block_seconds));
            entry.count = 0;
            entry.window_start = now;
        }
    }

    pub fn succeeded(&self, key: impl Hash) {
        let slot = self.slot(key);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The token endpoint calls this for every token: most of the time there is nothing to
        // forget, and no entry is looked for in an empty map.
        if !entries.is_empty() {
            entries.remove(&slot);
        }
    }
}

/// Keys that succeeded recently (a person who signed in from a network), so that a block meant
/// for a guesser on a shared address (a NAT, an office) does not lock out the people who
/// already sign in from there. Bounded like the throttle: hashed keys, capped entries.
pub struct RecentSuccesses {
    hasher: RandomState,
    entries: Mutex<HashMap<u64, OffsetDateTime>>,
}

impl Default for RecentSuccesses {
    fn default() -> Self {
        Self { hasher: RandomState::new(), entries: Mutex::new(HashMap::new()) }
    }
}

impl RecentSuccesses {
    const REMEMBERED_SECONDS: i64 = 24 * 3600;
    const MAX_ENTRIES: usize = 100_000;

    pub fn remember(&self, key: impl Hash, now: OffsetDateTime) {
        let slot = self.hasher.hash_one(key);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= Self::MAX_ENTRIES && !entries.contains_key(&slot) {
            let horizon = now - time::Duration::seconds(Self::REMEMBERED_SECONDS);
            entries.retain(|_, at| *at > horizon);
            if entries.len() >= Self::MAX_ENTRIES {
                return;
            }
        }
        entries.insert(slot, now);
    }

    pub fn knows(&self, key: impl Hash, now: OffsetDateTime) -> bool {
        let slot = self.hasher.hash_one(key);
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(&slot).is_some_and(|at| *at + time::Duration::seconds(Self::REMEMBERED_SECONDS) > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_after_its_failures_and_waiting_what_it_says_suffices() {
        let throttle = FailureThrottle::default();
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        for _ in 0..4 {
            throttle.failed(("client", "198.51.100.1"), start);
        }
        assert_eq!(throttle.blocked(("client", "198.51.100.1"), start), None);
        throttle.failed(("client", "198.51.100.1"), start);
        assert_eq!(throttle.blocked(("client", "198.51.100.1"), start), Some(30));
        // Another address is not blocked by these failures.
        assert_eq!(throttle.blocked(("client", "203.0.113.9"), start), None);
        // Half a second in, 29.5 s remain; the answer is 30, never 29, so waiting what it says
        // suffices.
        let later = start + time::Duration::milliseconds(500);
        assert_eq!(throttle.blocked(("client", "198.51.100.1"), later), Some(30));
        assert_eq!(throttle.blocked(("client", "198.51.100.1"), start + time::Duration::seconds(30)), None);
    }

    #[test]
    fn successes_are_remembered_for_a_day() {
        let successes = RecentSuccesses::default();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        successes.remember(("ann@example.com", "192.0.2.1"), now);
        assert!(successes.knows(("ann@example.com", "192.0.2.1"), now + time::Duration::hours(23)));
        assert!(!successes.knows(("ann@example.com", "192.0.2.1"), now + time::Duration::hours(25)));
        assert!(!successes.knows(("bob@example.com", "192.0.2.1"), now));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff::60".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(one), network_of(other));
        assert_ne!(network_of(one), network_of(elsewhere));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
    }

    #[test]
    fn invented_keys_neither_grow_memory_nor_lift_a_block() {
        let throttle = FailureThrottle::default();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        for _ in 0..5 {
            throttle.failed("real", now);
        }
        let long = "x".repeat(512);
        for index in 0..(FailureThrottle::MAX_ENTRIES + 10) {
            throttle.failed((&long, index), now);
        }
        let entries = throttle.entries.lock().unwrap();
        assert!(entries.len() <= FailureThrottle::MAX_ENTRIES);
        drop(entries);
        assert!(throttle.blocked("real", now).is_some());
    }
}
