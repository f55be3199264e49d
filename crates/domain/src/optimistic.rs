//! Retrying a write that another write to the same object overtook. A change without a
//! precondition (no `If-Match`) asks for none: the server's own concurrency must never turn it
//! into a conflict, so it is read again, re-applied and written again until it lands.

use std::time::Duration;

use crate::random;

/// Each lost race means another writer won, so N writers at once need at most N tries; the
/// bound only stops a livelock, far beyond any real burst of edits to one object.
pub(crate) const ATTEMPTS: usize = 32;

/// Tries for a transfer of ownership, whose every try may replace an admin client's secret.
pub(crate) const TRANSFER_ATTEMPTS: usize = 8;

/// A short random pause before the next try, growing with the tries, so that writers that
/// collided do not collide again in step.
pub(crate) async fn back_off(attempt: usize) {
    let mut random_bytes = [0u8; 2];
    random::fill(&mut random_bytes);
    let ceiling_micros = 250 * u64::try_from(attempt.clamp(1, 16)).unwrap_or(16);
    let micros = u64::from(u16::from_le_bytes(random_bytes)) % ceiling_micros;
    tokio::time::sleep(Duration::from_micros(micros)).await;
}
