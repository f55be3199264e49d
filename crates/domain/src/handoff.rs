//! A value shown once in the portal (a new secret, a generated password) travels from the POST
//! that made it to the page after the POST's redirect, so that reloading that page or going back
//! never repeats the action. It is kept server-side, in the database (any instance may serve the
//! next request), sealed under the master key, bound to the session that made it, for five
//! minutes at most, and removed as it is read: never in a URL, a cookie or a log. The URL holds
//! only a random id, which is worth nothing without the session's cookie.

use aws_lc_rs::digest;
use time::{Duration, OffsetDateTime};

use crate::error::{DomainError, InternalError};
use crate::random::random_token;
use crate::service::Gatehouse;
use crate::store::HandoffRecord;

/// How long a handoff waits for its page to be read.
pub const HANDOFF_LIFETIME: Duration = Duration::minutes(5);

/// The master key's subkey for handoffs: no other use shares it.
const HANDOFF_KEY: &[u8] = b"gatehouse portal handoff v1";

fn sha256(value: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, value.as_bytes()).as_ref().to_vec()
}

/// What the seal is bound to: a sealed value moved to another row or session does not open.
fn context(id_hash: &[u8], session_hash: &[u8]) -> Vec<u8> {
    let mut context = b"gatehouse portal handoff v1".to_vec();
    context.extend_from_slice(id_hash);
    context.extend_from_slice(session_hash);
    context
}

impl Gatehouse {
    /// Keeps `payload` for the session whose token is `session_token`; returns the id that
    /// takes it back.
    pub async fn hand_off(
        &self,
        session_token: &str,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<String, DomainError> {
        let id = random_token(32);
        let (id_hash, session_hash) = (sha256(&id), sha256(session_token));
        let sealed = self
            .master_key
            .seal_for(HANDOFF_KEY, &context(&id_hash, &session_hash), payload)
            .map_err(|error| DomainError::Internal(InternalError::Sealing(error)))?;
        let record = HandoffRecord { id_hash, session_hash, sealed, expires_at: now + HANDOFF_LIFETIME };
        self.store.insert_handoff(&record).await?;
        Ok(id)
    }

    /// The payload handed off under `id` to this session, removed as it is read: `None` if it
    /// was read already, has expired, or is another session's.
    pub async fn take_handoff(
        &self,
        session_token: &str,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, DomainError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let (id_hash, session_hash) = (sha256(id), sha256(session_token));
        let Some(sealed) = self.store.take_handoff(&id_hash, &session_hash, now).await? else {
            return Ok(None);
        };
        match self.master_key.open_for(HANDOFF_KEY, &context(&id_hash, &session_hash), &sealed) {
            Ok(payload) => Ok(Some(payload)),
            Err(error) => {
                // Only a changed master key or a tampered row gets here: nothing to show.
                tracing::warn!(%error, "a portal handoff did not open");
                Ok(None)
            }
        }
    }
}
