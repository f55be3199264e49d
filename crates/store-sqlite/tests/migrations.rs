//! Data written under an earlier schema is still there, and still right, after the later
//! migrations run.

use std::path::Path;

use gatehouse_domain::ids::{ClientId, TokenId};
use gatehouse_domain::store::{LiveTokenCap, RecordOutcome, TokenRecord, TokenStore};
use gatehouse_store_sqlite::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

#[tokio::test]
async fn tokens_on_record_survive_the_rebuild_of_the_token_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let url = format!("sqlite://{}", path.display());

    // The schema as the first release left it, and a token on record in it.
    let mut first = Migrator::new(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))).await.unwrap();
    first.migrations = first.migrations.iter().take(1).cloned().collect::<Vec<_>>().into();
    let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true).foreign_keys(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    first.run(&pool).await.unwrap();
    for statement in [
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('acc', 'a', 'u', 'now')",
        "insert into clients (client_id, account_id, name, client_owner, client_type, enabled, \
         token_expiry_seconds, secret_hash, secret_generation, version, date_created, date_updated) \
         values ('cli', 'acc', 'c', 'o@example.com', 'standard', 1, 3600, x'00', 3, 1, 'now', 'now')",
        "insert into access_tokens (jti, client_id, secret_generation, issued_at, expires_at, revoked) \
         values ('old-live', 'cli', 3, 100, 4000000000, 0), ('old-revoked', 'cli', 2, 100, 4000000000, 1)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = SqliteStore::connect(&url).await.unwrap();
    let live = store.token_state(&TokenId::from_string("old-live")).await.unwrap().unwrap();
    assert_eq!((live.client_id.as_str(), live.secret_generation, live.revoked), ("cli", 3, false));
    let revoked = store.token_state(&TokenId::from_string("old-revoked")).await.unwrap().unwrap();
    assert_eq!((revoked.secret_generation, revoked.revoked), (2, true));
    assert_eq!(store.token_state(&TokenId::from_string("never")).await.unwrap(), None);

    // The carried-over live token counts towards the cap, and as the oldest it goes first.
    let at = time::OffsetDateTime::now_utc();
    let record = || TokenRecord {
        jti: TokenId::minted_at(at),
        client_id: ClientId::from_string("cli"),
        profile_id: None,
        secret_generation: 3,
        issued_at: at,
        expires_at: at + time::Duration::hours(1),
        client_version: 1,
        profile_version: None,
    };
    let cap = LiveTokenCap::default();
    for _ in 0..9 {
        assert_eq!(store.record_token(&record(), cap, at).await.unwrap(), RecordOutcome::Recorded { evicted: vec![] });
    }
    let outcome = store.record_token(&record(), cap, at).await.unwrap();
    assert_eq!(outcome, RecordOutcome::Recorded { evicted: vec![TokenId::from_string("old-live")] });
}
