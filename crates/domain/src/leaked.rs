//! Reports of leaked credentials, taken as GitHub's credential-revocation API takes them:
//! whoever finds a Gatehouse client secret or API key where it should not be (a public
//! repository, a paste, a log) lists it, and every listed value that is live stops working.
//! Reporters are not authenticated and learn nothing: the answer is the same whatever the values
//! were, and the HTTP layer gives it before any of them is looked up.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::instrument;

use crate::audit::{AuditEvent, Outcome};
use crate::client::RateLimit;
use crate::error::DomainError;
use crate::ids::AccountId;
use crate::random;
use crate::ratelimit::RateDecision;
use crate::secret::{ClientSecret, SecretHash, is_credential_shaped};
use crate::service::Gatehouse;
use crate::store::StoreError;

/// The most values one report lists.
pub const MAX_REPORTED: usize = 100;
/// Reports per address (an IPv6 /64 counting as one): a burst of ten, then one a second.
const REPORTS: RateLimit = RateLimit { requests_per_second: 1, burst: 10 };
/// Reports waiting or being worked on, from everyone: beyond this, a report is dropped (and
/// logged) rather than queued, so that reports from many addresses cannot pile up work.
pub const MAX_PENDING_REPORTS: usize = 64;
/// Reports worked on at once: each holds store connections the token endpoint needs too.
pub const REPORT_WORKERS: usize = 2;

/// The store's side of a report: the hashes of the values shaped like credentials, once each.
/// The values themselves are dropped as soon as they are hashed.
pub struct LeakReport {
    hashes: Vec<SecretHash>,
    reporter: IpAddr,
    _pending: OwnedSemaphorePermit,
}

/// Bounds the work reports cause, and lets shutdown wait for it.
pub(crate) struct LeakReports {
    pending: Arc<Semaphore>,
    workers: Semaphore,
}

impl Default for LeakReports {
    fn default() -> Self {
        Self { pending: Arc::new(Semaphore::new(MAX_PENDING_REPORTS)), workers: Semaphore::new(REPORT_WORKERS) }
    }
}

impl Gatehouse {
    /// Counts a report from `reporter` against its address's rate.
    pub async fn admit_leak_report(&self, reporter: IpAddr, now: OffsetDateTime) -> Result<RateDecision, StoreError> {
        let key = format!("leak-report:{}", crate::throttle::network_of(reporter));
        self.limiter.acquire(&key, REPORTS, now).await
    }

    /// Takes a report for [`Self::end_leaked`]; `None` when too many are pending (the report is
    /// dropped, and the reporter, answered the same either way, may send it again). Values not
    /// shaped like a Gatehouse credential (checked offline, by the checksum) are left out here.
    pub fn take_leak_report(&self, values: &[String], reporter: IpAddr) -> Option<LeakReport> {
        let Ok(pending) = self.leak_reports.pending.clone().try_acquire_owned() else {
            tracing::warn!("a leaked-credential report was dropped: too many are pending");
            return None;
        };
        let mut hashes: Vec<SecretHash> = Vec::new();
        for value in values.iter().take(MAX_REPORTED).filter(|value| is_credential_shaped(value)) {
            let hash = self.hasher.hash(&ClientSecret::from_presented(value.clone()));
            if !hashes.contains(&hash) {
                hashes.push(hash);
            }
        }
        Some(LeakReport { hashes, reporter, _pending: pending })
    }

    /// Ends every live credential a report lists. A client's secret, or a profile's credential,
    /// is replaced by one nobody holds, so that it and every token minted with it are refused
    /// at once, on every instance, as after a renewal; the owner finds it in the audit log with
    /// the reporter's address and renews the key to go on.
    #[instrument(skip_all, fields(values = report.hashes.len()))]
    pub async fn end_leaked(&self, report: LeakReport, now: OffsetDateTime) {
        let Ok(_worker) = self.leak_reports.workers.acquire().await else { return };
        let mut ended = 0;
        for hash in &report.hashes {
            match self.end_credential(hash, report.reporter, now).await {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "a reported credential could not be ended"),
            }
        }
        tracing::info!(ended, "leaked-credential report handled");
    }

    /// Waits, at shutdown, for the reports already answered to be worked off.
    pub async fn finish_leak_reports(&self, within: std::time::Duration) {
        let all = u32::try_from(MAX_PENDING_REPORTS).unwrap_or(u32::MAX);
        if tokio::time::timeout(within, self.leak_reports.pending.acquire_many(all)).await.is_err() {
            tracing::warn!("leaked-credential reports were still pending at shutdown");
        }
    }

    async fn end_credential(
        &self,
        hash: &SecretHash,
        reporter: IpAddr,
        now: OffsetDateTime,
    ) -> Result<bool, DomainError> {
        // Whatever the reported value was replaced by, nobody holds it.
        let nobodys = ClientSecret::generate();
        let nobodys_hash = self.hasher.hash(&nobodys);
        if let Some((client_id, secret_id)) = self.store.client_by_secret_hash(hash).await? {
            // A previous secret (in a rotation's grace period) ends with the tokens minted with
            // it, and the client goes on with its current one. The current secret is replaced,
            // with every other, by one nobody holds, as a renewal would, and every token ends
            // (only if the client still holds it: a renewal since the lookup is never undone).
            let (written, outcome) = match self.store.delete_client_secret(&client_id, &secret_id, true, now).await {
                Ok(written) => (written, LEAKED_SECRET_REMOVED),
                Err(StoreError::Conflict(_)) => {
                    let stored = self.stored_secret(&nobodys, None, now)?;
                    match self.store.renew_client_secret(&client_id, &stored, Some(hash), now).await {
                        Ok(written) => (written, LEAKED_CREDENTIAL_REPLACED),
                        Err(StoreError::NotFound) => return Ok(false),
                        Err(other) => return Err(other.into()),
                    }
                }
                Err(StoreError::NotFound) => return Ok(false),
                Err(other) => return Err(other.into()),
            };
            let client = self.settle(written, now).await;
            tracing::warn!(client_id = %client_id, secret_id = %secret_id, "a client secret was reported leaked and has been ended");
            let leak = Leak { action: "client.secret_leaked", kind: "client", id: client_id.as_str(), outcome };
            self.record_leak(&client.account_id, &leak, reporter, now).await;
            return Ok(true);
        }
        if let Some(profile) = self.store.profile_by_credential_hash(hash).await? {
            let written = match self
                .store
                .refresh_profile_credential(&profile.profile_id, &nobodys_hash, Some(hash), now)
                .await
            {
                Ok(written) => written,
                Err(StoreError::NotFound) => return Ok(false),
                Err(other) => return Err(other.into()),
            };
            self.settle(written, now).await;
            tracing::warn!(profile_id = %profile.profile_id, "an access profile's credential was reported leaked and has been ended");
            if let Some(client) = self.store.client(&profile.client_id).await? {
                let leak = Leak {
                    action: "access_profile.credential_leaked",
                    kind: "access_profile",
                    id: profile.profile_id.as_str(),
                    outcome: LEAKED_CREDENTIAL_REPLACED,
                };
                self.record_leak(&client.account_id, &leak, reporter, now).await;
            }
            return Ok(true);
        }
        Ok(false)
    }

    async fn record_leak(&self, account_id: &AccountId, leak: &Leak<'_>, reporter: IpAddr, now: OffsetDateTime) {
        let event = AuditEvent {
            event_id: random::random_token(16),
            account_id: account_id.clone(),
            actor_type: "anonymous".to_owned(),
            actor_id: String::new(),
            actor_email: None,
            action: leak.action.to_owned(),
            target_type: leak.kind.to_owned(),
            target_id: leak.id.to_owned(),
            outcome: Outcome::Success,
            reason: Some(leak.outcome.to_owned()),
            source_ip: Some(reporter.to_string()),
            occurred_at: now,
            details: json!({"reporter": reporter.to_string()}),
        };
        self.write_audit(&event, None).await;
    }
}

/// What the audit log says was done with a reported credential.
struct Leak<'a> {
    action: &'static str,
    kind: &'static str,
    id: &'a str,
    outcome: &'static str,
}

const LEAKED_SECRET_REMOVED: &str = "reported leaked: this previous secret and the tokens minted with it were ended; the current secret goes on working";
const LEAKED_CREDENTIAL_REPLACED: &str =
    "reported leaked: the credential was replaced by one nobody holds; renew it to go on";
