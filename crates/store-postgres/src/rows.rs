//! Stored rows: the shared row types, and this backend's mapping of database errors.

use gatehouse_domain::store::StoreError;
pub(crate) use gatehouse_store_rows::{
    AccountRow, AuditRow, ClientRow, MemberRow, POLICY_COLUMNS, PROJECT_COLUMNS, PolicyRow, ProfileRow, ProjectRow,
    SECRET_COLUMNS, SecretRow, SigningKeyRow, UserRow, from_json, json, projects_from, trust_columns,
};

/// For a write that names another row (a client's project, a member's user): that row being
/// deleted meanwhile, which the domain checked before, is a conflict to answer, not a fault.
/// 23503 is foreign_key_violation.
pub(crate) fn map_reference_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23503") => {
            StoreError::Conflict("a row it names was deleted meanwhile".to_owned())
        }
        _ => map_error(error),
    }
}

/// Maps sqlx errors onto the store's: uniqueness violations are conflicts, connection, pool,
/// lock and resource trouble is transient, everything else (including foreign-key and check
/// violations, as in the SQLite backend) is internal.
pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            match code.as_ref() {
                // unique_violation (primary keys included)
                "23505" => StoreError::Conflict(db.message().to_owned()),
                // serialization_failure, deadlock_detected, lock_not_available, query_canceled
                // (statement timeout), read_only_sql_transaction (a standby after a failover)
                "40001" | "40P01" | "55P03" | "57014" | "25006" => StoreError::Unavailable(db.message().to_owned()),
                // connection_exception (08), insufficient_resources (53: disk full, out of
                // memory, too many connections), operator_intervention (57: shutdown, cannot
                // connect now), system_error (58: I/O)
                code if ["08", "53", "57", "58"].iter().any(|class| code.starts_with(class)) => {
                    StoreError::Unavailable(db.message().to_owned())
                }
                _ => StoreError::Internal(error.to_string()),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string()),
    }
}
