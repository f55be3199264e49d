//! The live-token batches, written on a thread of their own through a connection of their own.
//!
//! Through sqlx, a batch was two calls to its connection's worker thread, and the worker hands
//! each statement's result back as a message of its own; with the runtime and the worker on one
//! core, each message could cost a pair of context switches: minting over one connection (a
//! batch per token) took 14.5 switches per token (`perf stat -e context-switches`), 4 now. Here a
//! batch is one message in and one reply out, and its statements run back to back on the
//! thread. Everything else stays on sqlx's writer; SQLite's write lock (taken up front by
//! `BEGIN IMMEDIATE` on both) orders the two writers, and the busy timeout makes either wait.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use gatehouse_domain::ids::{ClientId, ProfileId, SecretId, TokenId};
use gatehouse_domain::store::{LiveToken, LiveTokenCap, RecordOutcome, StoreError, TokenRecord, Written};
use gatehouse_domain::token_ledger::plan_recording;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::rows::from_sqlite_code;

type Reply = oneshot::Sender<Result<Written<Vec<RecordOutcome>>, StoreError>>;

enum Command {
    Record { tokens: Vec<TokenRecord>, cap: LiveTokenCap, now: OffsetDateTime, reply: Reply },
    Ping { pong: oneshot::Sender<()> },
    Stop { stopped: oneshot::Sender<()> },
}

/// The handle to the thread; clones share it.
#[derive(Clone)]
pub(crate) struct TokenWriter {
    commands: mpsc::Sender<Command>,
    checkpoint_wanted: Arc<AtomicBool>,
}

impl TokenWriter {
    /// Opens the connection (the schema must be migrated already) and starts the thread.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let connection =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|error| map_error(&error))?;
        connection.busy_timeout(busy_timeout).map_err(|error| map_error(&error))?;
        // As on sqlx's connections: WAL is the file's (set when it was created), NORMAL loses
        // nothing when the process dies, and checkpoints are the checkpointer's job.
        connection
            .execute_batch("pragma synchronous = normal; pragma foreign_keys = on; pragma wal_autocheckpoint = 0;")
            .map_err(|error| map_error(&error))?;
        let (commands, received) = mpsc::channel();
        let checkpoint_wanted = Arc::new(AtomicBool::new(false));
        let wanted = checkpoint_wanted.clone();
        std::thread::Builder::new()
            .name("gatehouse-tokens".to_owned())
            .spawn(move || run(connection, received, &wanted))
            .map_err(|error| StoreError::Internal(format!("cannot start the token writer: {error}")))?;
        Ok(Self { commands, checkpoint_wanted })
    }

    /// Asks for a passive checkpoint on this connection after its next batch has been answered:
    /// one that, unlike the checkpointer's, no write can overtake (see `checkpoint_wal`).
    pub(crate) fn checkpoint_after_next_batch(&self) {
        self.checkpoint_wanted.store(true, Ordering::Relaxed);
    }

    pub(crate) async fn record(
        &self,
        tokens: Vec<TokenRecord>,
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Written<Vec<RecordOutcome>>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.commands.send(Command::Record { tokens, cap, now, reply }).map_err(|_| stopped())?;
        // The batch runs to its end on the thread whether or not anyone still waits for it, so
        // a caller that gives up never leaves the connection inside a transaction.
        outcome.await.map_err(|_| stopped())?
    }

    /// Whether the thread still takes batches: every token waits on it, so readiness does too.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let (pong, answered) = oneshot::channel();
        self.commands.send(Command::Ping { pong }).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())
    }

    /// Finishes the batches already sent, closes the connection and ends the thread.
    pub(crate) async fn stop(&self) {
        let (stopped, done) = oneshot::channel();
        if self.commands.send(Command::Stop { stopped }).is_ok() {
            let _ = done.await;
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite token writer has stopped".to_owned())
}

fn run(mut connection: Connection, commands: mpsc::Receiver<Command>, checkpoint_wanted: &AtomicBool) {
    for command in commands {
        match command {
            Command::Record { tokens, cap, now, reply } => {
                // A caller that gave up has nobody to answer.
                let _ = reply.send(record(&mut connection, &tokens, cap, now));
                if checkpoint_wanted.swap(false, Ordering::Relaxed) {
                    // The checkpointer has copied all but the last second of the WAL; the rest
                    // is quick, and the next batch waits for it.
                    let copied = connection.query_row("pragma wal_checkpoint(passive)", [], |row| row.get::<_, i64>(0));
                    if let Err(error) = copied {
                        tracing::warn!(error = %map_error(&error), "WAL checkpoint on the token writer failed");
                    }
                }
            }
            Command::Ping { pong } => {
                let _ = pong.send(());
            }
            Command::Stop { stopped } => {
                drop(connection);
                let _ = stopped.send(());
                return;
            }
        }
    }
}

/// One transaction: what the cap needs is read, the plan decided by the domain, and its rows
/// written. An error rolls it all back (the transaction's drop), leaving nothing written.
fn record(
    connection: &mut Connection,
    tokens: &[TokenRecord],
    cap: LiveTokenCap,
    now: OffsetDateTime,
) -> Result<Written<Vec<RecordOutcome>>, StoreError> {
    let map = |error: rusqlite::Error| map_error(&error);
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(map)?;
    let written = write_batch(&transaction, tokens, cap, now).map_err(map)?;
    transaction.commit().map_err(map)?;
    Ok(written)
}

fn write_batch(
    connection: &Connection,
    tokens: &[TokenRecord],
    cap: LiveTokenCap,
    now: OffsetDateTime,
) -> rusqlite::Result<Written<Vec<RecordOutcome>>> {
    let client_ids: BTreeSet<&ClientId> = tokens.iter().map(|token| &token.client_id).collect();
    let profile_ids: BTreeSet<&ProfileId> = tokens.iter().filter_map(|token| token.profile_id.as_ref()).collect();

    let mut clients = HashMap::new();
    let mut client_version = connection.prepare_cached("select version from clients where client_id = ?1")?;
    for client_id in &client_ids {
        if let Some(version) = client_version.query_row([client_id.as_str()], |row| row.get(0)).optional()? {
            clients.insert((*client_id).clone(), version);
        }
    }
    let mut profiles = HashMap::new();
    let mut profile_version = connection.prepare_cached("select version from access_profiles where profile_id = ?1")?;
    for profile_id in &profile_ids {
        if let Some(version) = profile_version.query_row([profile_id.as_str()], |row| row.get(0)).optional()? {
            profiles.insert((*profile_id).clone(), version);
        }
    }

    // Each credential's live tokens, oldest first in the order they were recorded (`seq`; see the
    // migration `token_table_by_jti`), and the highest `seq` among them: the batch's tokens of
    // that credential are numbered after it.
    let mut live = Vec::new();
    let mut last_seq: HashMap<(ClientId, Option<ProfileId>), i64> = HashMap::new();
    let mut live_tokens = connection.prepare_cached(
        "select jti, profile_id, secret_generation, seq from access_tokens \
         where client_id = ?1 and revoked = 0 and expires_at > ?2 order by seq",
    )?;
    for client_id in &client_ids {
        let mut rows = live_tokens.query(params![client_id.as_str(), now.unix_timestamp()])?;
        while let Some(row) = rows.next()? {
            let profile_id = row.get::<_, Option<String>>(1)?.map(ProfileId::from_string);
            last_seq.insert(((*client_id).clone(), profile_id.clone()), row.get(3)?);
            live.push(LiveToken {
                jti: TokenId::from_string(row.get::<_, String>(0)?),
                client_id: (*client_id).clone(),
                profile_id,
                secret_generation: row.get(2)?,
            });
        }
    }

    let plan = plan_recording(tokens, &clients, &profiles, live, cap);
    let mut delete = connection.prepare_cached("delete from access_tokens where jti = ?1")?;
    for jti in &plan.delete {
        delete.execute([jti.as_str()])?;
    }
    let mut insert = connection.prepare_cached(
        "insert into access_tokens (jti, client_id, profile_id, secret_generation, secret_id, issued_at, expires_at, seq) \
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for &index in &plan.insert {
        let token = &tokens[index];
        let seq = last_seq.entry((token.client_id.clone(), token.profile_id.clone())).or_default();
        *seq += 1;
        insert.execute(params![
            token.jti.as_str(),
            token.client_id.as_str(),
            token.profile_id.as_ref().map(ProfileId::as_str),
            token.secret_generation,
            token.secret_id.as_ref().map(SecretId::as_str),
            token.issued_at.unix_timestamp(),
            token.expires_at.unix_timestamp(),
            *seq,
        ])?;
    }
    let changes = plan.changes();
    Ok(Written::new(plan.outcomes, changes))
}

/// As [`crate::rows::map_error`] does for sqlx, by the same result codes.
fn map_error(error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => from_sqlite_code(
            failure.extended_code,
            message.clone().unwrap_or_else(|| failure.to_string()),
            error.to_string(),
        ),
        _ => StoreError::Internal(error.to_string()),
    }
}
