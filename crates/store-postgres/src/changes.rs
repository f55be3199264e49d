//! The change feed: every write commits through [`commit`], which sends `pg_notify` on one
//! channel, inside the write's own transaction, for each change the write reports (so a
//! rolled-back write is never announced, and a committed one always is); every instance follows
//! the channel with a `PgListener` on a connection of its own.
//!
//! PostgreSQL only delivers notifications to sessions listening when the writer commits: a lost
//! listener connection loses everything sent until it listens again. The follower therefore
//! treats any trouble as a gap: it sends `Change::Resync`, opens a new listener (retrying with a
//! backoff), and sends `Change::Resync` again once that listener is subscribed, so that whatever
//! the consumer reloads after it is covered by notifications. Trouble is:
//!
//! - `PgListener::try_recv` answering `Ok(None)`: its connection was lost (the server closed it,
//!   the socket ended or timed out). Eager reconnection is switched off, so the old listener is
//!   simply replaced; a reconnect hidden inside `try_recv` could otherwise go unnoticed;
//! - any error from the listener;
//! - a heartbeat (`select 1` on the listener's connection after a quiet spell) that fails or
//!   does not answer in time: a half-open connection (a network partition, a host that vanished
//!   without a reset) would otherwise wait for notifications forever.

use std::pin::Pin;
use std::time::Duration;

use gatehouse_domain::ids::{AccountId, ClientId, ProfileId, TokenId};
use gatehouse_domain::store::{Change, Written};
use sqlx::pool::CloseEvent;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::rows::map_error;
use gatehouse_domain::store::StoreError;

/// The one channel every instance listens on.
pub(crate) const CHANNEL: &str = "gatehouse_changes";

/// PostgreSQL refuses payloads of 8000 bytes or more; stay well under.
const MAX_PAYLOAD: usize = 7900;

/// How long the listener may stay quiet before its connection is checked.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// How long that check may take before the connection is given up.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The payload telling every listener to forget everything: sent when a change cannot be
/// described in one payload, and the meaning of any payload a listener does not understand.
const RESYNC: &str = "resync";
const KEYS: &str = "keys";

/// Announces `changes` inside `tx` and commits it: the other instances hear exactly what the
/// write reports, and only once it has committed.
pub(crate) async fn commit<T>(
    mut tx: Transaction<'_, Postgres>,
    value: T,
    changes: Vec<Change>,
) -> Result<Written<T>, StoreError> {
    let payloads = payloads(&changes);
    if !payloads.is_empty() {
        // One statement for the lot: a write's announcements cost one round trip.
        sqlx::query(
            "select pg_notify($1, payload) from unnest($2::text[]) with ordinality as p (payload, n) order by n",
        )
        .bind(CHANNEL)
        .bind(&payloads)
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
    }
    tx.commit().await.map_err(map_error)?;
    Ok(Written::new(value, changes))
}

/// The notifications announcing `changes`, in order; [`parse_payload`] reads each back.
fn payloads(changes: &[Change]) -> Vec<String> {
    let mut payloads = Vec::with_capacity(changes.len());
    for change in changes {
        match change {
            Change::Client(id) => payloads.push(payload("client", id.as_str())),
            Change::Profile(id) => payloads.push(payload("profile", id.as_str())),
            Change::Catalogue(id) => payloads.push(payload("catalogue", id.as_str())),
            Change::TokensRevoked(jtis) => payloads.extend(token_payloads(jtis)),
            Change::Keys => payloads.push(KEYS.to_owned()),
            Change::Resync => payloads.push(RESYNC.to_owned()),
        }
    }
    payloads
}

/// `kind:id`, or [`RESYNC`] if it would not fit in a notification.
fn payload(kind: &str, id: &str) -> String {
    if kind.len() + 1 + id.len() > MAX_PAYLOAD {
        return RESYNC.to_owned();
    }
    format!("{kind}:{id}")
}

/// The payloads announcing revoked tokens: `tokens:<jti>,<jti>,...`, split so that each fits.
fn token_payloads(jtis: &[TokenId]) -> Vec<String> {
    const PREFIX: &str = "tokens:";
    let mut payloads = Vec::new();
    let mut current = String::new();
    for jti in jtis.iter().map(TokenId::as_str) {
        if jti.is_empty() || jti.contains(',') || PREFIX.len() + jti.len() > MAX_PAYLOAD {
            // Not expressible in the list format (never the case for generated ids): make
            // every instance forget everything instead.
            payloads.push(RESYNC.to_owned());
            continue;
        }
        if !current.is_empty() && current.len() + 1 + jti.len() > MAX_PAYLOAD {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current.push_str(PREFIX);
        } else {
            current.push(',');
        }
        current.push_str(jti);
    }
    if !current.is_empty() {
        payloads.push(current);
    }
    payloads
}

/// What a payload says. Anything not understood (a newer instance's kind of change, a
/// malformed payload) becomes `Resync`: forgetting everything is always safe.
pub(crate) fn parse_payload(payload: &str) -> Change {
    let parsed = match payload.split_once(':') {
        Some(("client", id)) if !id.is_empty() => Some(Change::Client(ClientId::from_string(id))),
        Some(("profile", id)) if !id.is_empty() => Some(Change::Profile(ProfileId::from_string(id))),
        Some(("catalogue", id)) if !id.is_empty() => Some(Change::Catalogue(AccountId::from_string(id))),
        Some(("tokens", list)) => {
            let jtis: Vec<TokenId> = list.split(',').filter(|jti| !jti.is_empty()).map(TokenId::from_string).collect();
            (!jtis.is_empty()).then_some(Change::TokensRevoked(jtis))
        }
        None if payload == KEYS => Some(Change::Keys),
        _ => None,
    };
    parsed.unwrap_or_else(|| {
        if payload != RESYNC {
            tracing::warn!(payload, "unknown change notification; resynchronising");
        }
        Change::Resync
    })
}

/// A listener subscribed to [`CHANNEL`], on a connection of its own (a pool of one, so that the
/// store's pool keeps all its connections and a stuck old connection never holds up a new one).
pub(crate) async fn open_listener(options: &PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    // A lost connection makes `try_recv` answer `Ok(None)` without reconnecting: the follower
    // then replaces the whole listener, and no reconnection happens out of its sight.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

enum Event {
    Received(Result<Option<sqlx::postgres::PgNotification>, sqlx::Error>),
    Heartbeat,
}

/// Follows the channel until the feed's receiver is dropped or the store is closed.
pub(crate) async fn follow(
    mut listener: PgListener,
    options: PgConnectOptions,
    store_pool: PgPool,
    feed: mpsc::Sender<Change>,
) {
    let mut closed = Box::pin(store_pool.close_event());
    drop(store_pool);
    let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        // `try_recv` on a connected listener only waits for the socket, which is cancel-safe,
        // so losing the race to the heartbeat or to shutdown loses nothing.
        let event = tokio::select! {
            () = feed.closed() => return,
            () = &mut closed => return,
            _ = heartbeat.tick() => Event::Heartbeat,
            received = listener.try_recv() => Event::Received(received),
        };
        match event {
            Event::Received(Ok(Some(notification))) => {
                heartbeat.reset();
                if notification.channel() != CHANNEL {
                    continue;
                }
                if !send(&feed, &mut closed, parse_payload(notification.payload())).await {
                    return;
                }
                continue;
            }
            Event::Received(Ok(None)) => {
                tracing::warn!("the change listener lost its connection; reconnecting and resynchronising");
            }
            Event::Received(Err(error)) => {
                tracing::warn!(%error, "the change listener failed; reconnecting and resynchronising");
            }
            Event::Heartbeat => {
                match tokio::time::timeout(HEARTBEAT_TIMEOUT, sqlx::query("select 1").execute(&mut listener)).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the change listener's connection failed its check; reconnecting");
                    }
                    Err(_) => {
                        tracing::warn!("the change listener's connection did not answer its check; reconnecting");
                    }
                }
            }
        }
        // A gap: what was cached may be stale from now on, and stays so until a new listener
        // is subscribed. Forget it now, and again once listening, for whatever was reloaded in
        // between.
        if !send(&feed, &mut closed, Change::Resync).await {
            return;
        }
        drop(listener);
        listener = match reopen(&options, &feed, &mut closed).await {
            Some(listener) => listener,
            None => return,
        };
        tracing::info!("the change listener is subscribed again");
        if !send(&feed, &mut closed, Change::Resync).await {
            return;
        }
        heartbeat.reset();
    }
}

/// Sends a change, waiting for room if the consumer is behind (PostgreSQL queues notifications
/// meanwhile, so nothing is lost). False when the feed or the store is gone.
async fn send(feed: &mpsc::Sender<Change>, closed: &mut Pin<Box<CloseEvent>>, change: Change) -> bool {
    tokio::select! {
        sent = feed.send(change) => sent.is_ok(),
        () = closed => false,
    }
}

/// Opens a new listener, retrying with a growing pause. `None` when the feed or the store is
/// gone meanwhile.
async fn reopen(
    options: &PgConnectOptions,
    feed: &mpsc::Sender<Change>,
    closed: &mut Pin<Box<CloseEvent>>,
) -> Option<PgListener> {
    let mut backoff = BACKOFF_MIN;
    loop {
        let attempt = tokio::select! {
            () = feed.closed() => return None,
            () = &mut *closed => return None,
            attempt = open_listener(options) => attempt,
        };
        match attempt {
            Ok(listener) => return Some(listener),
            Err(error) => tracing::warn!(%error, retry_in = ?backoff, "the change listener could not reconnect"),
        }
        tokio::select! {
            () = feed.closed() => return None,
            () = &mut *closed => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_change_reads_back_as_announced() {
        let changes = vec![
            Change::Client(ClientId::from_string("cli_1")),
            Change::Profile(ProfileId::from_string("prf_1")),
            Change::Catalogue(AccountId::from_string("acc_1")),
            Change::TokensRevoked(vec![TokenId::from_string("j1"), TokenId::from_string("j2")]),
            Change::Keys,
            Change::Resync,
        ];
        let read: Vec<Change> = payloads(&changes).iter().map(|payload| parse_payload(payload)).collect();
        assert_eq!(read, changes);
    }

    #[test]
    fn payloads_round_trip() {
        assert_eq!(parse_payload(&payload("client", "abc")), Change::Client(ClientId::from_string("abc")));
        assert_eq!(parse_payload(&payload("profile", "prf_x")), Change::Profile(ProfileId::from_string("prf_x")));
        assert_eq!(parse_payload(&payload("catalogue", "acc_1")), Change::Catalogue(AccountId::from_string("acc_1")));
        assert_eq!(parse_payload("keys"), Change::Keys);
        assert_eq!(parse_payload("resync"), Change::Resync);
        assert_eq!(parse_payload("something:new"), Change::Resync);
        assert_eq!(parse_payload("client:"), Change::Resync);
        assert_eq!(parse_payload("tokens:"), Change::Resync);
        assert_eq!(payload("client", &"x".repeat(8000)), "resync");
    }

    #[test]
    fn token_payloads_are_split_under_the_limit() {
        let jtis: Vec<TokenId> = (0..2000).map(|i| TokenId::from_string(format!("jti{i:0>19}"))).collect();
        let payloads = token_payloads(&jtis);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD);
            match parse_payload(payload) {
                Change::TokensRevoked(part) => seen.extend(part),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, jtis);
        assert!(token_payloads(&[]).is_empty());
        assert_eq!(token_payloads(&[TokenId::from_string("a,b")]), vec!["resync".to_owned()]);
    }
}
