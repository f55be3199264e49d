//! Stored rows: the shared row types, and this backend's mapping of database errors.

use gatehouse_domain::store::StoreError;
pub(crate) use gatehouse_store_rows::{
    AccountRow, AuditRow, ClientRow, MemberRow, POLICY_COLUMNS, PROJECT_COLUMNS, PolicyRow, ProfileRow, ProjectRow,
    SECRET_COLUMNS, SecretRow, SigningKeyRow, UserRow, from_json, json, projects_from, trust_columns,
};

/// For a write that names another row (a client's project, a member's user): that row being
/// deleted meanwhile, which the domain checked before, is a conflict to answer, not a fault.
/// 787 is SQLITE_CONSTRAINT_FOREIGNKEY.
pub(crate) fn map_reference_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("787") => {
            StoreError::Conflict("a row it names was deleted meanwhile".to_owned())
        }
        _ => map_error(error),
    }
}

/// Maps sqlx errors onto the store's: see [`from_sqlite_code`]; a pool or socket failure is
/// transient, everything else is internal.
pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => match db.code().and_then(|code| code.parse().ok()) {
            Some(code) => from_sqlite_code(code, db.message().to_owned(), error.to_string()),
            None => StoreError::Internal(error.to_string()),
        },
        // InvalidSavePointStatement: a connection left inside a failed transaction (see
        // `fresh_after_release`), which is closed when it goes back to the pool.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::InvalidSavePointStatement => StoreError::Unavailable(error.to_string()),
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
        // Transient, by extended code, listed one by one: 5 BUSY (261 BUSY_RECOVERY, 517
        // BUSY_SNAPSHOT, 773 BUSY_TIMEOUT), 6 LOCKED (262 LOCKED_SHAREDCACHE), 10 IOERR and the
        // write side of a full or failing disk (778 IOERR_WRITE, 1034 IOERR_FSYNC, 1290
        // IOERR_DIR_FSYNC, 1546 IOERR_TRUNCATE, 3082 IOERR_NOMEM), 13 FULL, 14 CANTOPEN. Read
        // errors and corruption (266 IOERR_READ, 522 IOERR_SHORT_READ, 8202 IOERR_DATA, 8458
        // IOERR_CORRUPTFS, 11 CORRUPT) are not: they are ours to look into, not to retry.
        5 | 261 | 517 | 773 | 6 | 262 | 10 | 778 | 1034 | 1290 | 1546 | 3082 | 13 | 14 => {
            StoreError::Unavailable(message)
        }
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
        for code in [5, 517, 261, 773, 6, 262, 10, 778, 1034, 1290, 1546, 3082, 13, 14] {
            assert!(matches!(class(code), StoreError::Unavailable(_)), "{code}");
        }
        assert!(matches!(class(2067), StoreError::Conflict(_)));
        assert!(matches!(class(1555), StoreError::Conflict(_)));
        // Corruption, failing reads and a foreign key violation are ours to fix, not to retry.
        for code in [11, 266, 522, 8202, 8458, 787] {
            assert!(matches!(class(code), StoreError::Internal(_)), "{code}");
        }
    }
}
