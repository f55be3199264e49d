//! The audit log: who did what to which object, when, from where, and how it ended. Events
//! hold ids, field names and reasons, never a secret, a password or a token.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
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

/// What a caller typed as an id, fit for the log: printable, at most 200 characters (and
/// storable: PostgreSQL text holds no NUL).
pub(crate) fn printable_id(id: &str) -> String {
    id.chars().filter(|c| !c.is_control()).take(200).collect()
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
        // account (the one it switched from, if it acts in another): the other account learns
        // nothing, the actor's account sees the attempt.
        let account_id = match (outcome, target.account_id) {
            (Outcome::Success, Some(account_id)) => account_id.clone(),
            (Outcome::Success, None) => actor.account_id.clone(),
            _ => actor.acting_from.clone().unwrap_or_else(|| actor.account_id.clone()),
        };
        Self {
            event_id: crate::random::random_token(16),
            account_id,
            actor_type: actor.kind().to_owned(),
            actor_id: actor.id().to_owned(),
            actor_email: Some(actor.email().to_string()),
            action: action.to_owned(),
            target_type: target.kind.to_owned(),
            // A refused attempt may name anything the caller typed.
            target_id: printable_id(target.id),
            outcome,
            reason,
            source_ip: actor.source_ip.map(|ip| ip.to_string()),
            occurred_at: now,
            details,
        }
    }
}

/// How many refusals reach the audit log: a flood of refused requests (bad tokens, guessed
/// passwords, probing for other accounts' ids) must not fill the disk. Refused *changes* by a
/// signed-in person or a client are not budgeted at all: they are always written. Within each
/// minute, an authenticated actor writes at most `PER_ACTOR` refused reads; the wrong
/// passwords tried for one user at most `PER_ACTOR` events in that user's account; an
/// anonymous caller's network at most `PER_NETWORK`, and all anonymous callers together at
/// most `ANONYMOUS_TOTAL`. Actors, users and anonymous callers never share a budget, so no
/// caller can use up an actor's or a user's; anonymous callers do share their total, so a
/// flood from many networks silences other anonymous refusals for the rest of the minute (the
/// notice and `/metrics` say so). The first refusal over a budget is replaced by one
/// `audit.suppressed` event, so the log shows that refusals went unwritten and whose; the rest
/// are counted in `/metrics`. Successes are never limited.
///
/// Sources are kept as 64-bit hashes: one entry per actor or user refused this minute, and at
/// most `ANONYMOUS_TOTAL` for anonymous networks, whatever the callers send.
pub struct RefusalBudget {
    hasher: RandomState,
    window: Mutex<Window>,
    suppressed: AtomicU64,
}

struct Window {
    started: OffsetDateTime,
    anonymous_total: u32,
    anonymous_noticed: bool,
    suppressed: u64,
    counts: HashMap<u64, u32>,
}

impl Window {
    fn starting(started: OffsetDateTime) -> Self {
        Self { started, anonymous_total: 0, anonymous_noticed: false, suppressed: 0, counts: HashMap::new() }
    }
}

/// Who a refusal is charged to.
#[derive(Clone, Copy, Debug)]
pub enum RefusalSource<'a> {
    /// An authenticated user or client, by id.
    Actor(&'a str),
    /// A user whose password was guessed wrong, by id: charged to the user, not the caller, so
    /// that nobody can keep wrong guesses out of the user's account by spending a budget first.
    GuessedUser(&'a str),
    /// An unauthenticated caller, by network (an IPv4 address or an IPv6 /64).
    Anonymous(Option<IpAddr>),
}

/// What to do with a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Write,
    /// Write an `audit.suppressed` event in its place: the source just went over its budget.
    Notice,
    /// Count it only.
    Drop,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            window: Mutex::new(Window::starting(OffsetDateTime::UNIX_EPOCH)),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl RefusalBudget {
    pub const WINDOW_SECONDS: i64 = 60;
    pub const PER_ACTOR: u32 = 30;
    pub const PER_NETWORK: u32 = 10;
    /// About 170,000 anonymous events a day at most, some 70 MB, under a sustained flood.
    pub const ANONYMOUS_TOTAL: u32 = 120;

    pub fn admit(&self, source: RefusalSource<'_>, now: OffsetDateTime) -> Admission {
        let mut window = self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A refusal stamped a little earlier than the window's start (requests finish out of
        // order) counts in the current window: only time moving on starts a new one.
        if now - window.started >= time::Duration::seconds(Self::WINDOW_SECONDS) {
            if window.suppressed > 0 {
                tracing::warn!(
                    suppressed = window.suppressed,
                    "refusals beyond the audit budget were counted in /metrics, not written"
                );
            }
            *window = Window::starting(now);
        }
        let admission = match source {
            RefusalSource::Actor(id) | RefusalSource::GuessedUser(id) => {
                // Tagged, so that a user's own refused reads and the guesses at their password
                // keep budgets of their own.
                let tag = if matches!(source, RefusalSource::Actor(_)) { "actor" } else { "guessed" };
                let count = window.counts.entry(self.hasher.hash_one((tag, id))).or_insert(0);
                *count = count.saturating_add(1);
                Self::judge(*count, Self::PER_ACTOR)
            }
            RefusalSource::Anonymous(_) if window.anonymous_total >= Self::ANONYMOUS_TOTAL => {
                if std::mem::replace(&mut window.anonymous_noticed, true) { Admission::Drop } else { Admission::Notice }
            }
            RefusalSource::Anonymous(network) => {
                let count = window.counts.entry(self.hasher.hash_one(("network", network))).or_insert(0);
                *count = count.saturating_add(1);
                let admission = Self::judge(*count, Self::PER_NETWORK);
                if admission != Admission::Drop {
                    window.anonymous_total += 1;
                }
                admission
            }
        };
        if admission != Admission::Write {
            window.suppressed += 1;
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        admission
    }

    fn judge(count: u32, budget: u32) -> Admission {
        match count {
            n if n <= budget => Admission::Write,
            n if n == budget + 1 => Admission::Notice,
            _ => Admission::Drop,
        }
    }

    /// Refusals counted but not written since the process started.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

impl AuditEvent {
    /// What is written in place of the first refusal over its source's budget.
    pub fn suppression_notice(&self) -> AuditEvent {
        AuditEvent {
            event_id: crate::random::random_token(16),
            action: "audit.suppressed".to_owned(),
            target_type: "action".to_owned(),
            target_id: self.action.clone(),
            outcome: Outcome::Denied,
            reason: Some(
                "more refusals from this source than the audit log takes in a minute; the rest of this minute's \
                 are counted in /metrics, not written"
                    .to_owned(),
            ),
            details: Value::Object(Default::default()),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(
        budget: &RefusalBudget,
        source: RefusalSource<'_>,
        times: usize,
        now: OffsetDateTime,
    ) -> Vec<Admission> {
        (0..times).map(|_| budget.admit(source, now)).collect()
    }

    #[test]
    fn each_source_writes_its_share_then_one_notice() {
        let budget = RefusalBudget::default();
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let network = Some("198.51.100.7".parse().unwrap());
        let answers = admitted(&budget, RefusalSource::Anonymous(network), 50, start);
        assert!(answers[..10].iter().all(|a| *a == Admission::Write));
        assert_eq!(answers[10], Admission::Notice);
        assert!(answers[11..].iter().all(|a| *a == Admission::Drop));
        assert_eq!(budget.suppressed(), 40);
        let actor = admitted(&budget, RefusalSource::Actor("usr_1"), 31, start);
        assert_eq!(actor.iter().filter(|a| **a == Admission::Write).count(), 30);
        assert_eq!(actor[30], Admission::Notice);
        // A minute later the source writes again.
        assert_eq!(
            budget.admit(RefusalSource::Anonymous(network), start + time::Duration::seconds(60)),
            Admission::Write
        );
    }

    #[test]
    fn an_anonymous_flood_cannot_silence_anyone_else() {
        let budget = RefusalBudget::default();
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        let mut notices = 0;
        for host in 0..10_000u32 {
            let network = Some(IpAddr::from(std::net::Ipv4Addr::from(0xc633_6400 + host)));
            notices += usize::from(budget.admit(RefusalSource::Anonymous(network), start) == Admission::Notice);
        }
        assert_eq!(notices, 1, "one notice when the anonymous budget runs out");
        assert!(budget.window.lock().unwrap().counts.len() <= RefusalBudget::ANONYMOUS_TOTAL as usize);
        // Authenticated actors keep their own budgets.
        assert_eq!(budget.admit(RefusalSource::Actor("usr_1"), start), Admission::Write);
        assert_eq!(budget.admit(RefusalSource::Actor("cli_2"), start), Admission::Write);
        assert_eq!(budget.admit(RefusalSource::GuessedUser("usr_1"), start), Admission::Write);
    }

    #[test]
    fn a_refusal_stamped_before_the_window_counts_in_it() {
        let budget = RefusalBudget::default();
        let start = OffsetDateTime::UNIX_EPOCH + time::Duration::hours(1);
        admitted(&budget, RefusalSource::Actor("usr_1"), 31, start);
        let earlier = start - time::Duration::milliseconds(30);
        assert_eq!(budget.admit(RefusalSource::Actor("usr_1"), earlier), Admission::Drop);
    }
}
