//! Stored rows: the shared row types, and this backend's mapping of database errors.

use gatehouse_domain::store::StoreError;
pub(crate) use gatehouse_store_rows::{
    AccountRow, AuditRow, ClientRow, ProfileRow, SigningKeyRow, UserRow, from_json, json,
};

/// Maps sqlx errors onto the store's: constraint violations are conflicts, lock and I/O trouble
/// is transient, everything else is internal.
pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Extended result codes: 2067 UNIQUE, 1555 PRIMARY KEY, 787 FOREIGN KEY. Primary
            // codes: 5 BUSY, 6 LOCKED, 10 IOERR, 13 FULL, 14 CANTOPEN.
            match code.as_ref() {
                "2067" | "1555" => StoreError::Conflict(db.message().to_owned()),
                "5" | "6" | "10" | "13" | "14" | "517" | "261" => StoreError::Unavailable(db.message().to_owned()),
                _ => StoreError::Internal(error.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}
