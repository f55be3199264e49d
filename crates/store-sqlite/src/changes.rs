//! What a write changed: the SQLite counterpart of the PostgreSQL store's change feed. A SQLite
//! file serves one instance, so nobody else needs to hear of a change; [`commit`] has the same
//! shape as PostgreSQL's, so that every write reads the same in both stores, and hands the
//! changes back for this instance to follow.

use gatehouse_domain::store::{Change, StoreError, Written};
use sqlx::{Sqlite, Transaction};

use crate::rows::map_error;

/// Commits `tx`, handing back its value and the changes it made.
pub(crate) async fn commit<T>(
    tx: Transaction<'_, Sqlite>,
    value: T,
    changes: Vec<Change>,
) -> Result<Written<T>, StoreError> {
    tx.commit().await.map_err(map_error)?;
    Ok(Written::new(value, changes))
}
