//! Data written under an earlier schema is still there, and still right, after the later
//! migrations run.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use gatehouse_domain::account::{Email, Role, User};
use gatehouse_domain::ids::{AccountId, ClientId, TokenId, UserId};
use gatehouse_domain::secret::SecretHash;
use gatehouse_domain::store::{
    AccountStore, ClientStore, LiveTokenCap, RecordOutcome, SessionStore, TokenRecord, TokenStore, UserStore,
};
use gatehouse_store_sqlite::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// A database migrated by the first `count` migrations, empty.
async fn migrated_by(path: &Path, count: usize) -> SqlitePool {
    let mut first = Migrator::new(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))).await.unwrap();
    // In version order: the directory may list them in any.
    let mut all = first.migrations.to_vec();
    all.sort_by_key(|migration| migration.version);
    first.migrations = all.into_iter().take(count).collect::<Vec<_>>().into();
    let options = SqliteConnectOptions::new().filename(path).create_if_missing(true).foreign_keys(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    first.run(&pool).await.unwrap();
    pool
}

#[tokio::test]
async fn tokens_on_record_survive_the_rebuild_of_the_token_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let url = format!("sqlite://{}", path.display());

    // The schema as the first release left it, and a token on record in it.
    let pool = migrated_by(&path, 1).await;
    for statement in [
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('acc', 'a', 'u', 'now')",
        "insert into users (user_id, account_id, email, role, password_hash, date_created) \
         values ('u', 'acc', 'o@example.com', 'owner', 'hash', 'now')",
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
        secret_id: None,
        issued_at: at,
        expires_at: at + time::Duration::hours(1),
        client_version: 1,
        profile_version: None,
    };
    let cap = LiveTokenCap::default();
    for _ in 0..9 {
        let (outcome, _) = store.record_token(&record(), cap, at).await.unwrap().into_parts();
        assert_eq!(outcome, RecordOutcome::Recorded { evicted: vec![] });
    }
    let (outcome, _) = store.record_token(&record(), cap, at).await.unwrap().into_parts();
    assert_eq!(outcome, RecordOutcome::Recorded { evicted: vec![TokenId::from_string("old-live")] });
}

/// Emails became unique per account, and clients' owners user ids: the users table is rebuilt
/// and every client learns its owner's id, with nobody signed out on the way.
#[tokio::test]
async fn owners_become_user_ids_and_sessions_survive_the_rebuild_of_the_users_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let pool = migrated_by(&path, 3).await;
    for statement in [
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('acc', 'a', 'u-owner', '2026-01-01T00:00:00Z')",
        // A child account whose owner was removed: it and its clients pass to the root's owner.
        "insert into accounts (account_id, name, parent_account_id, owner_user_id, date_created) \
         values ('orphan', 'o', 'acc', 'u-removed', '2026-01-01T00:00:00Z')",
        "insert into users (user_id, account_id, email, role, password_hash, date_created) values \
         ('u-owner', 'acc', 'owner@example.com', 'owner', 'hash', '2026-01-01T00:00:00Z'), \
         ('u-dev', 'acc', 'dev@example.com', 'developer', 'hash', '2026-01-01T00:00:00Z')",
        "insert into sessions (token_hash, user_id, created_at, expires_at) values (x'0909', 'u-dev', 1, 4000000000)",
        "insert into clients (client_id, account_id, name, client_owner, client_type, enabled, \
         token_expiry_seconds, secret_hash, secret_generation, version, date_created, date_updated) values \
         ('cli-dev', 'acc', 'c', 'dev@example.com', 'standard', 1, 3600, x'00', 1, 1, '2026-01-01T00:00:00Z', \
          '2026-01-01T00:00:00Z'), \
         ('cli-gone', 'acc', 'c', 'gone@example.com', 'standard', 1, 3600, x'00', 1, 1, '2026-01-01T00:00:00Z', \
          '2026-01-01T00:00:00Z'), \
         ('cli-orphan', 'orphan', 'c', 'removed@example.com', 'standard', 1, 3600, x'00', 1, 1, \
          '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = SqliteStore::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let owner_of = |client_id: &'static str| {
        let store = &store;
        async move {
            let client = store.client(&ClientId::from_string(client_id)).await.unwrap().unwrap();
            (client.client_owner.to_string(), client.client_owner_id.to_string())
        }
    };
    assert_eq!(owner_of("cli-dev").await, ("dev@example.com".to_owned(), "u-dev".to_owned()));
    // An owner who was no user at all (never written by Gatehouse) falls to the account owner.
    assert_eq!(owner_of("cli-gone").await, ("owner@example.com".to_owned(), "u-owner".to_owned()));
    assert_eq!(owner_of("cli-orphan").await, ("owner@example.com".to_owned(), "u-owner".to_owned()));
    let orphan = store.account(&AccountId::from_string("orphan")).await.unwrap().unwrap();
    assert_eq!(orphan.owner_user_id.as_str(), "u-owner", "an account whose owner was removed passes to root's");
    let signed_in = store.session_user(&[9, 9], time::OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(signed_in.map(|user| user.user_id), Some(UserId::from_string("u-dev")), "still signed in");

    // The same email in another account is now a user of its own; in the same account, not.
    sqlx::query(
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('other', 'b', 'x', 'now')",
    )
    .execute(&SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap())
    .await
    .unwrap();
    let copy = |account: &str| User {
        user_id: UserId::generate(),
        account_id: AccountId::from_string(account),
        email: Email::parse("dev@example.com").unwrap(),
        role: Role::Developer,
        date_created: time::OffsetDateTime::now_utc(),
    };
    store.insert_user(&copy("other"), "hash").await.unwrap();
    assert!(store.insert_user(&copy("acc"), "hash").await.is_err());
}

/// Secrets moved to a table of their own, so that a client can hold two: each client's secret is
/// carried over as its only one, still found by its hash, and its live tokens are marked as
/// minted with it, so that ending the secret early can end them too.
#[tokio::test]
async fn each_clients_secret_becomes_its_first_secret_with_its_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let url = format!("sqlite://{}", path.display());
    let pool = migrated_by(&path, 5).await;
    for statement in [
        "insert into accounts (account_id, name, owner_user_id, date_created) values ('acc', 'a', 'u', '2026-01-01T00:00:00Z')",
        "insert into users (user_id, account_id, email, role, password_hash, date_created) \
         values ('u', 'acc', 'o@example.com', 'owner', 'hash', '2026-01-01T00:00:00Z')",
        "insert into clients (client_id, account_id, name, client_owner, client_owner_id, client_type, enabled, \
         token_expiry_seconds, secret_hash, secret_generation, version, date_created, date_updated) values \
         ('cli', 'acc', 'c', 'o@example.com', 'u', 'standard', 1, 3600, x'0a0b', 1, 1, '2026-01-01T00:00:00Z', \
          '2026-02-01T00:00:00Z')",
        "insert into access_tokens (jti, client_id, secret_generation, issued_at, expires_at, revoked, seq) \
         values ('live', 'cli', 1, 100, 4000000000, 0, 1)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = SqliteStore::connect(&url).await.unwrap();
    let client_id = ClientId::from_string("cli");
    let (client, secrets) = store.client_with_secrets(&client_id).await.unwrap().unwrap();
    assert_eq!(client.secret_expires_at, None);
    assert_eq!(secrets.len(), 1);
    let secret = &secrets[0];
    assert_eq!(secret.hash, SecretHash::from_bytes(vec![0x0a, 0x0b]));
    assert!(secret.secret_id.as_str().starts_with("sid_") && secret.secret_id.is_well_formed());
    assert_eq!((secret.prefix.as_deref(), secret.expires_at, secret.last_use), (None, None, None));
    let found = store.client_by_secret_hash(&secret.hash).await.unwrap();
    assert_eq!(found, Some((client_id, secret.secret_id.clone())));
    let pool = SqlitePool::connect(&url).await.unwrap();
    let minted_with: Option<String> =
        sqlx::query_scalar("select secret_id from access_tokens where jti = 'live'").fetch_one(&pool).await.unwrap();
    assert_eq!(minted_with.as_deref(), Some(secret.secret_id.as_str()));
}
