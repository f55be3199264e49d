//! The write-ahead log stays bounded under a mint that never pauses.

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_domain::ids::{ClientId, TokenId};
use gatehouse_domain::store::{LiveTokenCap, RecordOutcome, TokenRecord, TokenStore};
use gatehouse_store_sqlite::SqliteStore;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_mint_does_not_grow_the_wal_without_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path)).await.unwrap();
    for statement in [
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('acc', 'a', 'u', 'now')",
        "insert into clients (client_id, account_id, name, client_owner, client_type, enabled, \
         token_expiry_seconds, secret_generation, version, date_created, date_updated) \
         values ('cli', 'acc', 'c', 'o@example.com', 'standard', 1, 3600, 1, 1, 'now', 'now')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let wal = dir.path().join("wal.db-wal");
    // The WAL header's checkpoint sequence number: SQLite adds one each time it starts the log over.
    let wal_restarts = |wal: &Path| {
        let header = std::fs::read(wal).unwrap();
        u32::from_be_bytes(header[12..16].try_into().unwrap())
    };
    let restarts_before = wal_restarts(&wal);
    // Bytes this process has written through system calls (Linux `/proc/self/io`): the store's
    // WAL and database writes, as the test writes nothing else.
    let bytes_written = || {
        let io = std::fs::read_to_string("/proc/self/io").unwrap();
        io.lines().find_map(|line| line.strip_prefix("wchar: ")).unwrap().trim().parse::<u64>().unwrap()
    };
    let written_before = bytes_written();

    // Batches back to back, each evicting as many tokens as it records, for long enough that the
    // checkpointer (every second) finds the log past its limit a few times over.
    let cap = LiveTokenCap::default();
    let started = Instant::now();
    let mut written = 0usize;
    while started.elapsed() < Duration::from_secs(6) {
        let at = time::OffsetDateTime::now_utc();
        let batch: Vec<TokenRecord> = (0..10)
            .map(|_| TokenRecord {
                jti: TokenId::minted_at(at),
                client_id: ClientId::from_string("cli"),
                profile_id: None,
                secret_generation: 1,
                secret_id: None,
                issued_at: at,
                expires_at: at + time::Duration::hours(1),
                client_version: 1,
                profile_version: None,
            })
            .collect();
        let (outcomes, _) = store.record_tokens(&batch, cap, at).await.unwrap().into_parts();
        assert!(outcomes.iter().all(|outcome| matches!(outcome, RecordOutcome::Recorded { .. })));
        written += batch.len();
    }

    let restarts = wal_restarts(&wal) - restarts_before;
    let wal_bytes = std::fs::metadata(&wal).unwrap().len();
    let io_bytes = bytes_written() - written_before;
    eprintln!("{written} tokens, {io_bytes} bytes written, WAL {wal_bytes} bytes, started over {restarts} times");
    assert!(restarts >= 1, "the WAL was never started over while {written} tokens were written");
    // The file keeps its high-water mark: 4,096 pages before a restart is asked for, plus what
    // the writes add meanwhile. Measured against everything the mint wrote (log and database),
    // not in bytes, because a faster machine writes more in the same seconds: with restarts the
    // log is a small slice of it (a twelfth here); without them, most of it.
    assert!(wal_bytes < io_bytes / 4, "the WAL reached {wal_bytes} bytes of {io_bytes} written");
}
