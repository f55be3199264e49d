//! When and from where each credential was last used, without a database write per request:
//! uses are gathered in memory and written in batches (by the server every few seconds and at
//! shutdown). Each instance writes its own batches; the store keeps the latest use, so the
//! answer is right across instances within one batch interval.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::clock::to_the_second;
use crate::secret::LastUse;
use crate::service::Gatehouse;
use crate::store::{CredentialUse, StoreError, UsedCredential};

/// How often the server writes the uses gathered since the last batch.
pub const WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Uses gathered since the last batch: the latest per credential. Only credentials that
/// authenticated are noted, so its size is bounded by the credentials that exist.
#[derive(Default)]
pub(crate) struct CredentialUses {
    pending: Mutex<HashMap<UsedCredential, LastUse>>,
}

impl CredentialUses {
    /// Notes a use at `now`, to the second: finer would only make batches from several
    /// instances disagree about which is latest within a second.
    pub(crate) fn note(&self, credential: UsedCredential, ip: IpAddr, now: OffsetDateTime) {
        let last_use = LastUse { at: to_the_second(now), ip };
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.insert(credential, last_use);
    }

    fn take(&self) -> Vec<CredentialUse> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        taken.into_iter().map(|(credential, last_use)| CredentialUse { credential, last_use }).collect()
    }

    /// A batch that could not be written goes back, unless a later use replaced it meanwhile.
    fn put_back(&self, uses: Vec<CredentialUse>) {
        let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for CredentialUse { credential, last_use } in uses {
            pending.entry(credential).or_insert(last_use);
        }
    }
}

impl Gatehouse {
    /// Writes the uses gathered since the last call, in one batch; how many. On failure they are
    /// kept for the next call.
    pub async fn write_credential_uses(&self) -> Result<usize, StoreError> {
        let uses = self.credential_uses.take();
        if uses.is_empty() {
            return Ok(0);
        }
        match self.store.record_credential_uses(&uses).await {
            Ok(()) => Ok(uses.len()),
            Err(error) => {
                self.credential_uses.put_back(uses);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ProfileId, SecretId};

    #[test]
    fn the_latest_use_of_each_credential_is_kept_and_a_failed_batch_does_not_undo_a_later_use() {
        let uses = CredentialUses::default();
        let secret = UsedCredential::ClientSecret(SecretId::generate());
        let profile = UsedCredential::Profile(ProfileId::generate());
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let first: IpAddr = "192.0.2.1".parse().unwrap();
        let second: IpAddr = "192.0.2.2".parse().unwrap();
        uses.note(secret.clone(), first, at);
        uses.note(secret.clone(), second, at + time::Duration::milliseconds(1500));
        uses.note(profile.clone(), first, at);
        let mut batch = uses.take();
        batch.sort_by_key(|used| matches!(used.credential, UsedCredential::Profile(_)));
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].last_use, LastUse { at: at + time::Duration::seconds(1), ip: second });
        assert!(uses.take().is_empty(), "a batch is taken once");

        // The write failed; meanwhile the profile was used again.
        uses.note(profile.clone(), second, at + time::Duration::seconds(5));
        uses.put_back(batch);
        let retried: HashMap<_, _> = uses.take().into_iter().map(|used| (used.credential, used.last_use)).collect();
        assert_eq!(retried[&secret].ip, second);
        assert_eq!(retried[&profile], LastUse { at: at + time::Duration::seconds(5), ip: second });
    }
}
