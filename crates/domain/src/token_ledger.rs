//! The live-token bookkeeping (seed rule 11), written by group commit.
//!
//! Every minted token is on record before its response leaves ("a token the caller holds is
//! always one we know"; the one exception is a token that later tokens of the same credential,
//! in the same batch, evict at once: it is never written, exactly as if it had been recorded
//! and revoked before its response left), and the cap is enforced in the same transaction that records it, so it
//! holds across concurrent requests, instances and restarts. One transaction per token made the
//! database the token endpoint's ceiling (about 2,000 tokens/s on SQLite). Instead, requests
//! hand their records to one writer, which records everything that queued up while the previous
//! transaction ran in a single transaction, then answers each request. An idle server writes a
//! batch of one at once; a busy one writes larger batches, never waiting on a timer.
//!
//! The writer itself makes the gate follow what each transaction changed (the tokens the cap
//! evicted) before it answers anyone: a request that gave up meanwhile (its client went away)
//! must not leave an evicted token working at this instance's gateway check.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::gate::Gate;
use crate::ids::{ClientId, ProfileId, TokenId};
use crate::store::{
    CapPolicy, Change, LiveToken, LiveTokenCap, RecordOutcome, Store, StoreError, TokenRecord, Written,
};

/// The most records one transaction takes; more wait for the next.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer; beyond this, minting waits to enqueue (back-pressure).
const QUEUE_CAPACITY: usize = 8192;
/// How many times the writer lets the runtime run before it takes a batch that still grows.
const MAX_GATHER_PASSES: usize = 16;

struct Pending {
    record: TokenRecord,
    reply: oneshot::Sender<Result<RecordOutcome, StoreError>>,
}

/// The handle requests record their tokens through.
pub struct TokenLedger {
    queue: mpsc::Sender<Pending>,
}

impl TokenLedger {
    /// Starts the writer on the current Tokio runtime; it stops when the ledger is dropped.
    pub(crate) fn start(store: Arc<dyn Store>, cap: LiveTokenCap, gate: Arc<Gate>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(store, cap, gate, pending));
        Self { queue }
    }

    /// Records one token and waits until its transaction has committed.
    pub async fn record(&self, record: TokenRecord) -> Result<RecordOutcome, StoreError> {
        let stopped = || StoreError::Unavailable("the token ledger has stopped".to_owned());
        let (reply, outcome) = oneshot::channel();
        self.queue.send(Pending { record, reply }).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn write_batches(
    store: Arc<dyn Store>,
    cap: LiveTokenCap,
    gate: Arc<Gate>,
    mut pending: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = pending.recv().await {
        batch.push(first);
        // Woken by the first record, the writer lets every request that is ready to run reach
        // the queue before it takes what is there. Otherwise, on a busy runtime, it takes that
        // one record alone, again and again, and pays a transaction for each (measured: nine
        // batches in ten held one token). With nothing else to run, this costs one pass.
        gather(&pending).await;
        while batch.len() < MAX_BATCH
            && let Ok(next) = pending.try_recv()
        {
            batch.push(next);
        }
        let (records, replies): (Vec<TokenRecord>, Vec<_>) =
            batch.drain(..).map(|Pending { record, reply }| (record, reply)).unzip();
        // Live means unexpired when the newest of these was minted.
        let now = records.iter().map(|record| record.issued_at).max().unwrap_or_else(OffsetDateTime::now_utc);
        tracing::trace!(tokens = records.len(), "recording a batch");
        let (outcomes, changes) = record(store.as_ref(), &records, cap, now).await;
        for change in &changes {
            gate.follow(change);
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A request that gave up (its client went away) has nobody to answer.
            let _ = reply.send(outcome);
        }
    }
}

/// Yields until a pass of the runtime adds no record to the queue (or it holds a full batch).
///
/// One pass was not enough: requests whose bytes arrive during it (the runtime polls the
/// sockets on each yield) mint their tokens on the next. Measured on one core, 32 connections
/// minting: 7 tokens per batch after one pass, 16 after this, and 11% less CPU per token
/// (`python3 bench/ab.py token`); the transaction and the two thread switches around it cost the
/// same for 7 tokens as for 16.
async fn gather(pending: &mpsc::Receiver<Pending>) {
    let mut queued = pending.len();
    for _ in 0..MAX_GATHER_PASSES {
        tokio::task::yield_now().await;
        let now_queued = pending.len();
        if now_queued == queued || now_queued + 1 >= MAX_BATCH {
            return;
        }
        queued = now_queued;
    }
}

/// One outcome per record, and what the store reported changing. A batch that fails for a reason other than the store being
/// unreachable is recorded again one token at a time, so that one bad record (it should never
/// happen: a repeated `jti`, a broken row) does not fail every request that shared its batch.
async fn record(
    store: &dyn Store,
    records: &[TokenRecord],
    cap: LiveTokenCap,
    now: OffsetDateTime,
) -> (Vec<Result<RecordOutcome, StoreError>>, Vec<Change>) {
    let mut changes = Vec::new();
    let mut checked = |result: Result<Written<Vec<RecordOutcome>>, StoreError>, expected: usize| {
        let (outcomes, reported) = result?.into_parts();
        // What committed is followed even if its outcomes make no sense.
        changes.extend(reported);
        if outcomes.len() == expected {
            Ok(outcomes)
        } else {
            Err(StoreError::Internal(format!("{} outcomes for {expected} tokens", outcomes.len())))
        }
    };
    let outcomes = match checked(store.record_tokens(records, cap, now).await, records.len()) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error @ StoreError::Unavailable(_)) => vec![Err(error); records.len()],
        Err(error) if records.len() == 1 => vec![Err(error)],
        Err(error) => {
            tracing::warn!(%error, tokens = records.len(), "a token batch failed; recording its tokens one by one");
            let mut outcomes = Vec::with_capacity(records.len());
            for record in records {
                let result = checked(store.record_tokens(std::slice::from_ref(record), cap, now).await, 1);
                outcomes.push(result.and_then(|mut one| one.pop().ok_or(StoreError::NotFound)));
            }
            outcomes
        }
    };
    (outcomes, changes)
}

/// What a store writes for a batch: decided here, once for every backend.
#[derive(Debug, PartialEq, Eq)]
pub struct RecordingPlan {
    /// One per token of the batch, in order.
    pub outcomes: Vec<RecordOutcome>,
    /// Indexes into the batch of the tokens to insert. A token the cap evicts within the same
    /// batch is left out: by the time its response leaves, it would already be revoked.
    pub insert: Vec<usize>,
    /// Tokens already on record that the cap evicts.
    pub delete: Vec<TokenId>,
}

impl RecordingPlan {
    /// What carrying out the plan changes that anyone follows: the evicted tokens on record,
    /// which whoever has seen them must drop. Tokens evicted within the batch were never handed
    /// out.
    pub fn changes(&self) -> Vec<Change> {
        if self.delete.is_empty() { Vec::new() } else { vec![Change::TokensRevoked(self.delete.clone())] }
    }
}

enum Slot {
    OnRecord(TokenId),
    InBatch(usize),
}

/// Applies the cap to `batch` as if its tokens were recorded one after the other.
///
/// `clients` and `profiles` hold the current versions of the batch's clients and profiles (a
/// missing entry: gone); `live` holds the live tokens on record of the batch's clients, oldest
/// first, read in the same transaction.
pub fn plan_recording(
    batch: &[TokenRecord],
    clients: &HashMap<ClientId, i64>,
    profiles: &HashMap<ProfileId, i64>,
    live: Vec<LiveToken>,
    cap: LiveTokenCap,
) -> RecordingPlan {
    let mut queues: HashMap<(ClientId, Option<ProfileId>, i64), VecDeque<Slot>> = HashMap::new();
    for token in live {
        queues
            .entry((token.client_id, token.profile_id, token.secret_generation))
            .or_default()
            .push_back(Slot::OnRecord(token.jti));
    }
    let max_live = usize::try_from(cap.max_live).unwrap_or(usize::MAX);
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut inserted = vec![false; batch.len()];
    let mut delete = Vec::new();
    for (index, record) in batch.iter().enumerate() {
        let current = clients.get(&record.client_id) == Some(&record.client_version)
            && match &record.profile_id {
                None => true,
                Some(profile_id) => profiles.get(profile_id).copied() == record.profile_version,
            };
        if !current {
            outcomes.push(RecordOutcome::Stale);
            continue;
        }
        // Tokens of an earlier secret generation are refused anyway and do not count.
        let key = (record.client_id.clone(), record.profile_id.clone(), record.secret_generation);
        let queue = queues.entry(key).or_default();
        if queue.len() >= max_live && cap.policy == CapPolicy::Refuse {
            outcomes.push(RecordOutcome::Refused);
            continue;
        }
        let mut evicted = Vec::new();
        while queue.len() >= max_live {
            match queue.pop_front() {
                Some(Slot::OnRecord(jti)) => {
                    delete.push(jti.clone());
                    evicted.push(jti);
                }
                Some(Slot::InBatch(earlier)) => {
                    inserted[earlier] = false;
                    evicted.push(batch[earlier].jti.clone());
                }
                None => break,
            }
        }
        queue.push_back(Slot::InBatch(index));
        inserted[index] = true;
        outcomes.push(RecordOutcome::Recorded { evicted });
    }
    let insert = inserted.iter().enumerate().filter(|(_, inserted)| **inserted).map(|(index, _)| index).collect();
    RecordingPlan { outcomes, insert, delete }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(client: &str, profile: Option<&str>) -> TokenRecord {
        let now = OffsetDateTime::now_utc();
        TokenRecord {
            jti: TokenId::generate(),
            client_id: ClientId::from_string(client),
            profile_id: profile.map(ProfileId::from_string),
            secret_generation: 1,
            secret_id: None,
            issued_at: now,
            expires_at: now + time::Duration::hours(1),
            client_version: 3,
            profile_version: profile.map(|_| 7),
        }
    }

    fn on_record(record: &TokenRecord) -> LiveToken {
        LiveToken {
            jti: record.jti.clone(),
            client_id: record.client_id.clone(),
            profile_id: record.profile_id.clone(),
            secret_generation: record.secret_generation,
        }
    }

    fn versions() -> (HashMap<ClientId, i64>, HashMap<ProfileId, i64>) {
        (
            [("a", 3), ("b", 3)].into_iter().map(|(id, v)| (ClientId::from_string(id), v)).collect(),
            [(ProfileId::from_string("prf_a"), 7)].into_iter().collect(),
        )
    }

    fn cap(max_live: u32, policy: CapPolicy) -> LiveTokenCap {
        LiveTokenCap { max_live, policy }
    }

    #[test]
    fn a_full_credential_evicts_its_oldest_token_on_record_first() {
        let (clients, profiles) = versions();
        let old: Vec<TokenRecord> = (0..3).map(|_| record("a", None)).collect();
        let batch = vec![record("a", None), record("b", None), record("a", None)];
        let plan = plan_recording(
            &batch,
            &clients,
            &profiles,
            old.iter().map(on_record).collect(),
            cap(3, CapPolicy::RevokeOldest),
        );
        assert_eq!(
            plan.outcomes,
            vec![
                RecordOutcome::Recorded { evicted: vec![old[0].jti.clone()] },
                RecordOutcome::Recorded { evicted: vec![] },
                RecordOutcome::Recorded { evicted: vec![old[1].jti.clone()] },
            ]
        );
        assert_eq!(plan.delete, vec![old[0].jti.clone(), old[1].jti.clone()]);
        assert_eq!(plan.insert, vec![0, 1, 2]);
    }

    #[test]
    fn a_burst_beyond_the_cap_in_one_batch_keeps_only_the_newest() {
        let (clients, profiles) = versions();
        let batch: Vec<TokenRecord> = (0..5).map(|_| record("a", None)).collect();
        let plan = plan_recording(&batch, &clients, &profiles, vec![], cap(2, CapPolicy::RevokeOldest));
        assert_eq!(plan.insert, vec![3, 4], "tokens evicted within the batch are never written");
        assert!(plan.delete.is_empty());
        assert_eq!(plan.outcomes[2], RecordOutcome::Recorded { evicted: vec![batch[0].jti.clone()] });
        assert_eq!(plan.outcomes[4], RecordOutcome::Recorded { evicted: vec![batch[2].jti.clone()] });
    }

    #[test]
    fn the_refusing_policy_refuses_once_full_and_counts_per_credential() {
        let (clients, profiles) = versions();
        let old = record("a", None);
        let batch = vec![record("a", None), record("a", None), record("a", Some("prf_a"))];
        let plan = plan_recording(&batch, &clients, &profiles, vec![on_record(&old)], cap(2, CapPolicy::Refuse));
        assert_eq!(
            plan.outcomes,
            vec![
                RecordOutcome::Recorded { evicted: vec![] },
                RecordOutcome::Refused,
                RecordOutcome::Recorded { evicted: vec![] },
            ]
        );
        assert_eq!(plan.insert, vec![0, 2]);
    }

    #[test]
    fn tokens_minted_from_changed_or_missing_state_are_stale() {
        let (clients, profiles) = versions();
        let mut edited = record("a", None);
        edited.client_version = 2;
        let mut refreshed_profile = record("a", Some("prf_a"));
        refreshed_profile.profile_version = Some(6);
        let batch = vec![edited, record("gone", None), refreshed_profile, record("a", Some("prf_gone"))];
        let plan = plan_recording(&batch, &clients, &profiles, vec![], LiveTokenCap::default());
        assert_eq!(plan.outcomes, vec![RecordOutcome::Stale; 4]);
        assert!(plan.insert.is_empty());
    }

    #[test]
    fn tokens_of_an_earlier_secret_generation_do_not_count() {
        let (clients, profiles) = versions();
        let mut before_renewal = record("a", None);
        before_renewal.secret_generation = 0;
        let plan = plan_recording(
            &[record("a", None)],
            &clients,
            &profiles,
            vec![on_record(&before_renewal)],
            cap(1, CapPolicy::Refuse),
        );
        assert_eq!(plan.outcomes, vec![RecordOutcome::Recorded { evicted: vec![] }]);
    }
}
