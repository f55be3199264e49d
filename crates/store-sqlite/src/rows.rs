//! Stored rows: the shared row types, and this backend's mapping of database errors.

use gatehouse_domain::store::StoreError;
pub(crate) use gatehouse_store_rows::{
    AccountRow, AuditRow, ClientRow, ProfileRow, SigningKeyRow, UserRow, from_json, json,
};

/// Maps sqlx errors onto the store's: see [`from_sqlite_code`]; a pool or socket failure is
/// transient, everything else is internal.
pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.code().and_then(|code| code.parse().ok()) {
            Some(code) => from_sqlite_code(code, db.message().to_owned(), error.to_string()),
            None => StoreError::Internal(error.to_string()),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

/// The store's error for an SQLite (extended) result code, for both SQLite drivers: constraint
/// violations are conflicts (with SQLite's `message`), lock and I/O trouble is transient,
/// everything else is internal (with the driver's `described` error).
pub(crate) fn from_sqlite_code(code: i32, message: String, described: String) -> StoreError {
    match code {
        // 2067 UNIQUE, 1555 PRIMARY KEY
        2067 | 1555 => StoreError::Conflict(message),
        // By primary code (the low byte), so that every extended code of a class counts: 5 BUSY
        // (517 BUSY_SNAPSHOT, 261 BUSY_RECOVERY), 6 LOCKED, 10 IOERR (778 IOERR_WRITE on a full
        // disk, 1034 IOERR_FSYNC, ...), 13 FULL, 14 CANTOPEN.
        _ if matches!(code & 0xff, 5 | 6 | 10 | 13 | 14) => StoreError::Unavailable(message),
        _ => StoreError::Internal(described),
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn every_extended_code_of_a_transient_class_is_transient() {
        let class = |code| from_sqlite_code(code, String::new(), String::new());
        // BUSY and its kinds, LOCKED, IOERR_WRITE and IOERR_FSYNC (a full disk), FULL, CANTOPEN.
        for code in [5, 517, 261, 6, 10, 778, 1034, 13, 14] {
            assert!(matches!(class(code), StoreError::Unavailable(_)), "{code}");
        }
        assert!(matches!(class(2067), StoreError::Conflict(_)));
        assert!(matches!(class(1555), StoreError::Conflict(_)));
        // CORRUPT and a foreign key violation are ours to fix, not to retry.
        assert!(matches!(class(11), StoreError::Internal(_)));
        assert!(matches!(class(787), StoreError::Internal(_)));
    }
}
