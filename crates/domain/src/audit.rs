//! The audit log: who did what to which object, when, from where, and how it ended. Events
//! hold ids, field names and reasons, never a secret, a password or a token.

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
