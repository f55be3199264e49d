//! The audit log: who did what to which object, when, from where, and how it ended. Events
//! hold ids, field names and reasons, never a secret, a password or a token.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use time::OffsetDateTime;

use crate::actor::Actor;
use crate::error::DomainError;
use crate::ids::AccountId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Refused by a rule: permission, lock, validation, a missing object.
    Denied,
    /// Failed for a reason of ours (storage).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "success" => Some(Outcome::Success),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    pub event_id: String,
    pub account_id: AccountId,
    /// `user`, `client` or `anonymous`.
    pub actor_type: String,
    pub actor_id: String,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub source_ip: Option<String>,
    pub occurred_at: OffsetDateTime,
    pub details: Value,
}

/// What an action was aimed at.
pub struct Target<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    /// The account the object lives in, when known; the actor's otherwise.
    pub account_id: Option<&'a AccountId>,
}

impl AuditEvent {
    /// An event for `actor` doing `action` to `target`, ending as `result` says.
    pub fn of<T>(
        actor: &Actor,
        action: &str,
        target: &Target<'_>,
        result: &Result<T, DomainError>,
        details: Value,
        now: OffsetDateTime,
    ) -> Self {
        let (outcome, reason) = match result {
            Ok(_) => (Outcome::Success, None),
            Err(DomainError::Store(_)) => (Outcome::Failed, Some("internal error".to_owned())),
            Err(error) => (Outcome::Denied, Some(error.to_string())),
        };
        // A refused attempt on an object the actor cannot see is recorded in the actor's own
        // account: the other account learns nothing, the actor's account sees the attempt.
        let account_id = match (outcome, target.account_id) {
            (Outcome::Success, Some(account_id)) => account_id.clone(),
            _ => actor.account_id.clone(),
        };
        Self {
            event_id: crate::random::random_token(16),
            account_id,
            actor_type: actor.kind().to_owned(),
            actor_id: actor.id().to_owned(),
            actor_email: Some(actor.email().to_string()),
            action: action.to_owned(),
            target_type: target.kind.to_owned(),
            // A refused attempt may name anything the caller typed; keep it printable and short
            // (and storable: PostgreSQL text holds no NUL).
            target_id: target.id.chars().filter(|c| !c.is_control()).take(200).collect(),
            outcome,
            reason,
            source_ip: actor.source_ip.map(|ip| ip.to_string()),
            occurred_at: now,
            details,
        }
    }
}

/// How many refusals reach the audit log: a flood of refused requests (bad tokens, guessed
/// passwords, probing for other accounts' ids) must not fill the disk, and one source must not
/// use up what is left for everyone else. Within each minute a source (an actor, or for
/// anonymous callers their network) records at most `PER_SOURCE` refusals and all sources
/// together at most `TOTAL`; the rest are counted, not written. Successes are never limited:
/// every change that happened is on record.
///
/// Sources are kept as 64-bit hashes, at most `TOTAL` of them, so memory is bounded in bytes
/// whatever the callers send.
pub struct RefusalBudget {
    hasher: RandomState,
    window: Mutex<Window>,
    suppressed: AtomicU64,
}

struct Window {
    started: OffsetDateTime,
    total: u32,
    suppressed: u64,
    per_source: HashMap<u64, u32>,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            window: Mutex::new(Window {
                started: OffsetDateTime::UNIX_EPOCH,
                total: 0,
                suppressed: 0,
                per_source: HashMap::new(),
            }),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl RefusalBudget {
    pub const WINDOW_SECONDS: i64 = 60;
    pub const PER_SOURCE: u32 = 10;
    /// About 170,000 events a day at most, some 70 MB, under a sustained flood.
    pub const TOTAL: u32 = 120;

    /// Whether a refusal from `source` may be written now; if not, it is counted.
    pub fn admit(&self, source: impl Hash, now: OffsetDateTime) -> bool {
        let slot = self.hasher.hash_one(source);
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if now - window.started >= time::Duration::seconds(Self::WINDOW_SECONDS) || now < window.started {
            if window.suppressed > 0 {
                tracing::warn!(
                    suppressed = window.suppressed,
                    "refusals beyond the audit budget were counted in /metrics, not written"
                );
            }
            *window = Window { started: now, total: 0, suppressed: 0, per_source: HashMap::new() };
        }
        let admitted = window.total < Self::TOTAL && {
            let count = window.per_source.entry(slot).or_insert(0);
            *count < Self::PER_SOURCE && {
                *count += 1;
                true
            }
        };
        if admitted {
            window.total += 1;
        } else {
            window.suppressed += 1;
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// Refusals counted but not written since the process started.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_and_all_together_write_a_bounded_number_per_minute() {
        let budget = RefusalBudget::default();
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let admitted = (0..50).filter(|_| budget.admit("198.51.100.7", start)).count();
        assert_eq!(admitted, RefusalBudget::PER_SOURCE as usize);
        // Another source still has its own share.
        assert!(budget.admit("203.0.113.9", start));
        // Invented sources stop at the total, and memory with them.
        let invented = (0..10_000).filter(|n| budget.admit(n, start)).count();
        assert_eq!(invented, RefusalBudget::TOTAL as usize - RefusalBudget::PER_SOURCE as usize - 1);
        assert!(budget.window.lock().unwrap().per_source.len() <= RefusalBudget::TOTAL as usize);
        assert_eq!(budget.suppressed(), 50 + 10_000 - invented as u64 - u64::from(RefusalBudget::PER_SOURCE));
        // A minute later the source writes again.
        assert!(budget.admit("198.51.100.7", start + time::Duration::seconds(60)));
    }
}
