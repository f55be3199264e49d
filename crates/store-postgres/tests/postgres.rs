//! The PostgreSQL store against a real server. Runs only when `GATEHOUSE_TEST_POSTGRES_URL` names
//! one (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each test then works in a database
//! of its own, created here and dropped at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gatehouse_domain::project::ProjectScope;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use gatehouse_domain::account::{Account, Email, Product, Role, User};
use gatehouse_domain::audit::{AuditEvent, Outcome};
use gatehouse_domain::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, Scopes, TokenExpiry,
};
use gatehouse_domain::ids::{AccountId, ClientId, ProfileId, SecretId, TokenId, UserId};
use gatehouse_domain::profile::{AccessProfile, AuthMethod};
use gatehouse_domain::secret::{SecretHash, StoredSecret};
use gatehouse_domain::store::{
    AccountStore, AuditFilter, AuditStore, Bootstrap, CapPolicy, Change, ClientFilter, ClientStore, KeyStore,
    LiveTokenCap, PageRequest, ProfileStore, RecordOutcome, SessionRecord, SessionStore, Store, StoreError,
    StoredSigningKey, TokenRecord, TokenStore, UserStore, Written,
};
use gatehouse_store_postgres::PostgresStore;
use sqlx::{Connection, Executor, PgConnection};
use time::OffsetDateTime;
use tokio::sync::mpsc::Receiver;

/// A database of its own on the test server, dropped with the value (a failed test included).
struct TestDb {
    server: String,
    name: String,
    url: String,
}

impl TestDb {
    /// `None` (after saying so) when no test server is configured.
    async fn create(test: &str) -> Option<TestDb> {
        let Some(server) = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty()) else {
            println!("{test}: skipped, GATEHOUSE_TEST_POSTGRES_URL is not set");
            return None;
        };
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let name = format!("gh_test_{}_{}_{}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::SeqCst));
        let mut admin = PgConnection::connect(&server).await.expect("the test PostgreSQL server is unreachable");
        admin.execute(&*format!("create database {name}")).await.unwrap();
        admin.close().await.unwrap();
        let url = with_database(&server, &name);
        Some(TestDb { server, name, url })
    }

    async fn connect(&self) -> PostgresStore {
        PostgresStore::connect(&self.url).await.unwrap()
    }

    /// A plain connection to the test database, for looking behind the store's back.
    async fn raw(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // On a thread of its own: this may run inside the test's runtime, which cannot block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await.unwrap();
                admin.execute(&*format!("drop database if exists {name} with (force)")).await.unwrap();
                admin.close().await.unwrap();
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

/// Timestamps as PostgreSQL keeps them (microseconds), so round trips compare equal.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap()
}

fn email(value: &str) -> Email {
    Email::parse(value).unwrap()
}

fn client_of(account_id: &AccountId, owner: &User, at: OffsetDateTime) -> Client {
    Client {
        client_id: ClientId::generate(),
        account_id: account_id.clone(),
        name: ClientName::parse("Robert'); DROP TABLE clients;-- 🦀").unwrap(),
        description: Description::parse("a test client").unwrap(),
        client_owner: owner.email.clone(),
        client_owner_id: owner.user_id.clone(),
        client_type: ClientType::Admin,
        locked: None,
        enabled: true,
        scopes: Scopes {
            global_resources: BTreeSet::from([GlobalResource::ApiClients]),
            products: BTreeSet::from(["SuperSIM".to_owned()]),
        },
        token_expiry: TokenExpiry::DEFAULT,
        allowed_ips: AllowedIps::parse(&["10.0.0.0/8"]).unwrap(),
        rate_limit: Some(RateLimit { requests_per_second: 5, burst: 10 }),
        date_created: at,
        date_updated: at,
        version: 1,
        secret_generation: 1,
        secret_expires_at: None,
        has_logo: false,
        project_id: None,
    }
}

fn bootstrap() -> Bootstrap {
    let at = now();
    let account_id = AccountId::generate();
    let owner_id = UserId::generate();
    let owner = User {
        user_id: owner_id.clone(),
        account_id: account_id.clone(),
        email: email("owner@example.com"),
        role: Role::Owner,
        date_created: at,
    };
    Bootstrap {
        account: Account {
            account_id: account_id.clone(),
            name: "Root".to_owned(),
            parent_account_id: None,
            owner_user_id: owner_id.clone(),
            date_created: at,
        },
        client: client_of(&account_id, &owner, at),
        owner,
        owner_password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        products: Product::defaults(),
        client_secret: secret(7),
    }
}

fn profile_of(client_id: &ClientId, at: OffsetDateTime) -> AccessProfile {
    AccessProfile {
        profile_id: ProfileId::generate(),
        client_id: client_id.clone(),
        name: ClientName::parse("profile").unwrap(),
        products: BTreeSet::from(["SuperSIM".to_owned()]),
        auth_method: AuthMethod::ApiKey,
        allowed_ips: AllowedIps::default(),
        rate_limit: None,
        active: true,
        date_created: at,
        date_updated: at,
        version: 1,
        secret_generation: 1,
        last_use: None,
        policy: None,
        trust: None,
    }
}

fn token_of(client: &Client, profile: Option<&AccessProfile>, at: OffsetDateTime) -> TokenRecord {
    TokenRecord {
        jti: TokenId::generate(),
        client_id: client.client_id.clone(),
        profile_id: profile.map(|profile| profile.profile_id.clone()),
        secret_generation: client.secret_generation,
        secret_id: None,
        issued_at: at,
        expires_at: at + time::Duration::hours(1),
        client_version: client.version,
        profile_version: profile.map(|profile| profile.version),
    }
}

/// The next change, if one arrives within `wait`.
async fn next_change(feed: &mut Receiver<Change>, wait: Duration) -> Option<Change> {
    tokio::time::timeout(wait, feed.recv()).await.ok().flatten()
}

fn hash(byte: u8) -> SecretHash {
    SecretHash::from_bytes(vec![byte; 32])
}

fn secret(byte: u8) -> StoredSecret {
    StoredSecret {
        secret_id: SecretId::generate(),
        hash: hash(byte),
        prefix: None,
        date_created: now(),
        expires_at: None,
        last_use: None,
    }
}

/// The value of a write, once another instance's feed has delivered exactly the changes it
/// reported (in order, each within a second, nothing else in between): the store announces
/// what its writes report, no more and no less. A write that reported nothing must announce
/// nothing; the next write's check catches it if it did.
async fn announced<T>(feed: &mut Receiver<Change>, written: Written<T>) -> T {
    let (value, changes) = written.into_parts();
    for expected in &changes {
        let arrived = next_change(feed, Duration::from_secs(1)).await;
        assert_eq!(arrived.as_ref(), Some(expected), "announced in the order reported, after {changes:?}");
    }
    value
}

/// A write's value, where the test is about something else: what writes report is checked by
/// the store contract and by `announced`.
fn done<T>(written: Written<T>) -> T {
    written.into_parts().0
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_run_concurrently_and_once() {
    let Some(db) = TestDb::create("migrations_run_concurrently_and_once").await else { return };
    let (a, b) = tokio::join!(PostgresStore::connect(&db.url), PostgresStore::connect(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    // And again on a migrated database.
    let c = db.connect().await;
    let mut raw = db.raw().await;
    let applied: i64 =
        sqlx::query_scalar("select count(*) from _sqlx_migrations where success").fetch_one(&mut raw).await.unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|ext| ext == "sql"))
        .count();
    assert_eq!(applied, i64::try_from(migrations).unwrap(), "each migration once");
    // No advisory lock is left behind by the migrator.
    let locks: i64 = sqlx::query_scalar(
        "select count(*) from pg_locks l join pg_database d on d.oid = l.database \
         where l.locktype = 'advisory' and d.datname = current_database()",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(locks, 0);
    for store in [&a, &b, &c] {
        store.ping().await.unwrap();
        assert!(!store.is_initialised().await.unwrap());
        store.close().await;
    }
    raw.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_database_fails_fast_as_unavailable() {
    let Some(db) = TestDb::create("an_unreachable_database_fails_fast_as_unavailable").await else { return };
    let started = std::time::Instant::now();
    // Port 1 on the loopback: refused at once.
    let result = PostgresStore::connect("postgres://postgres@127.0.0.1:1/postgres").await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{:?}", result.err());
    assert!(started.elapsed() < Duration::from_secs(10));
    let store = db.connect().await;
    store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(store.is_initialised().await, Err(StoreError::Unavailable(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_on_one_instance_reaches_another() {
    let Some(db) = TestDb::create("a_change_on_one_instance_reaches_another").await else { return };
    let a = db.connect().await;
    let b = db.connect().await;
    let mut feed = b.changes().await.unwrap().expect("PostgreSQL has a change feed");
    let boot = bootstrap();
    announced(&mut feed, a.bootstrap(&boot).await.unwrap()).await;

    let client = a.client(&boot.client.client_id).await.unwrap().unwrap();
    let mut edited = client.clone();
    edited.enabled = false;
    announced(&mut feed, a.update_client(&edited, client.version).await.unwrap()).await;
    announced(&mut feed, a.renew_client_secret(&client.client_id, &secret(8), None, now()).await.unwrap()).await;
    let twelfth = secret(12);
    let rotated = a.rotate_client_secret(&client.client_id, &twelfth, now() + time::Duration::hours(1), now());
    let previous = announced(&mut feed, rotated.await.unwrap()).await.previous.unwrap();
    let client = a.client(&client.client_id).await.unwrap().unwrap();
    let mut minted_with_previous = token_of(&client, None, now());
    minted_with_previous.secret_id = Some(previous.secret_id.clone());
    announced(&mut feed, a.record_token(&minted_with_previous, LiveTokenCap::default(), now()).await.unwrap()).await;
    let ended = a.delete_client_secret(&client.client_id, &previous.secret_id, true, now()).await.unwrap();
    assert_eq!(ended.changes()[1], Change::TokensRevoked(vec![minted_with_previous.jti.clone()]));
    announced(&mut feed, ended).await;

    let profile = profile_of(&client.client_id, now());
    announced(&mut feed, a.insert_profile(&profile, &hash(9), 10).await.unwrap()).await;
    let mut renamed = profile.clone();
    renamed.name = ClientName::parse("renamed").unwrap();
    announced(&mut feed, a.update_profile(&renamed, 1).await.unwrap()).await;
    announced(&mut feed, a.refresh_profile_credential(&profile.profile_id, &hash(10), None, now()).await.unwrap())
        .await;
    announced(&mut feed, a.delete_profile(&profile.profile_id).await.unwrap()).await;

    // Revoked by the client, then evicted by the live-token cap.
    let client = a.client(&client.client_id).await.unwrap().unwrap();
    let token = token_of(&client, None, now());
    announced(&mut feed, a.record_token(&token, LiveTokenCap::default(), now()).await.unwrap()).await;
    announced(&mut feed, a.revoke_token(&token.jti).await.unwrap()).await;
    let cap = LiveTokenCap { max_live: 2, policy: CapPolicy::RevokeOldest };
    let tokens: Vec<TokenRecord> = (0..3).map(|_| token_of(&client, None, now())).collect();
    announced(&mut feed, a.record_tokens(&tokens[..2], cap, now()).await.unwrap()).await;
    let evicting = a.record_tokens(&tokens[2..], cap, now()).await.unwrap();
    assert_eq!(evicting.changes(), [Change::TokensRevoked(vec![tokens[0].jti.clone()])]);
    announced(&mut feed, evicting).await;

    let account_id = boot.account.account_id.clone();
    let product = Product { name: "Voice".to_owned(), description: String::new(), path_prefixes: vec![] };
    announced(&mut feed, a.insert_product(&account_id, &product).await.unwrap()).await;
    let described = Product { description: "calls".to_owned(), ..product.clone() };
    announced(&mut feed, a.update_product(&account_id, &described).await.unwrap()).await;
    announced(&mut feed, a.delete_product(&account_id, "Voice").await.unwrap()).await;

    let key = StoredSigningKey {
        kid: "kid-1".to_owned(),
        sealed_private_key: vec![1, 2, 3],
        public_key: vec![4; 32],
        created_at: now(),
        activates_at: now(),
    };
    announced(&mut feed, a.insert_signing_key(&key).await.unwrap()).await;
    announced(&mut feed, a.delete_signing_key("kid-1").await.unwrap()).await;

    // A removed user's clients pass to the account owner.
    let dev = User {
        user_id: UserId::generate(),
        account_id: account_id.clone(),
        email: email("leaving@example.com"),
        role: Role::Developer,
        date_created: now(),
    };
    a.insert_user(&dev, "$argon2id$dev").await.unwrap();
    let theirs = client_of(&account_id, &dev, now());
    announced(&mut feed, a.insert_client(&theirs, &secret(11)).await.unwrap()).await;
    let handed_over = announced(&mut feed, a.delete_user(&dev.user_id).await.unwrap()).await;
    assert_eq!(handed_over, std::slice::from_ref(&theirs.client_id));

    announced(&mut feed, a.delete_client(&client.client_id).await.unwrap()).await;

    // A write that fails announces nothing.
    assert!(matches!(a.update_client(&edited, 1).await, Err(StoreError::NotFound)));
    assert_eq!(next_change(&mut feed, Duration::from_millis(300)).await, None);

    // Dropping the receiver ends the follower; closing the store ends the feed.
    drop(feed);
    let mut feed = b.changes().await.unwrap().unwrap();
    b.close().await;
    assert_eq!(tokio::time::timeout(Duration::from_secs(5), feed.recv()).await.unwrap(), None);
    a.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_listener_connection_resyncs_and_resubscribes() {
    let Some(db) = TestDb::create("a_lost_listener_connection_resyncs_and_resubscribes").await else { return };
    let store = db.connect().await;
    let boot = bootstrap();
    done(store.bootstrap(&boot).await.unwrap());
    let mut feed = store.changes().await.unwrap().unwrap();
    let mut raw = db.raw().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and application_name = 'gatehouse:listener'",
    )
    .fetch_all(&mut raw)
    .await
    .unwrap();
    assert_eq!(killed, vec![true]);
    // One `Resync` when the loss is noticed, one once a new listener is subscribed.
    assert_eq!(next_change(&mut feed, Duration::from_secs(5)).await, Some(Change::Resync));
    assert_eq!(next_change(&mut feed, Duration::from_secs(10)).await, Some(Change::Resync));
    // Subscribed again: a change made now is heard.
    let client = store.client(&boot.client.client_id).await.unwrap().unwrap();
    done(store.update_client(&client, client.version).await.unwrap());
    assert_eq!(next_change(&mut feed, Duration::from_secs(1)).await, Some(Change::Client(client.client_id.clone())));
    raw.close().await.unwrap();
    store.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_token_cap_holds_under_concurrent_requests() {
    let Some(db) = TestDb::create("the_live_token_cap_holds_under_concurrent_requests").await else { return };
    let a = Arc::new(db.connect().await);
    let b = Arc::new(db.connect().await);
    let boot = bootstrap();
    done(a.bootstrap(&boot).await.unwrap());
    let client = a.client(&boot.client.client_id).await.unwrap().unwrap();
    let cap = LiveTokenCap { max_live: 10, policy: CapPolicy::RevokeOldest };

    let mut tasks = Vec::new();
    for i in 0..25 {
        // Two instances, so two pools: the cap must hold across them.
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token_of(&client, None, now());
        tasks.push(tokio::spawn(async move {
            let outcome = done(store.record_token(&token, cap, now()).await.unwrap());
            (token.jti, outcome)
        }));
    }
    let mut jtis = Vec::new();
    let mut evicted = HashSet::new();
    for task in tasks {
        let (jti, outcome) = task.await.unwrap();
        let RecordOutcome::Recorded { evicted: evicted_now } = outcome else { panic!("not recorded: {outcome:?}") };
        for jti in evicted_now {
            assert!(evicted.insert(jti), "a token evicted twice");
        }
        jtis.push(jti);
    }
    let mut live = 0;
    for jti in &jtis {
        let state = a.token_state(jti).await.unwrap();
        assert_eq!(state.is_none(), evicted.contains(jti), "evicted tokens, and only they, are off the books");
        live += usize::from(state.is_some_and(|state| !state.revoked));
    }
    assert_eq!(live, 10);
    assert_eq!(evicted.len(), 15);

    // Refuse: exactly ten get in, per profile separately from the client itself.
    let profile = profile_of(&client.client_id, now());
    done(a.insert_profile(&profile, &SecretHash::from_bytes(vec![3; 32]), 10).await.unwrap());
    let refuse = LiveTokenCap { max_live: 10, policy: CapPolicy::Refuse };
    let mut tasks = Vec::new();
    for i in 0..25 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = token_of(&client, Some(&profile), now());
        tasks.push(tokio::spawn(async move { done(store.record_token(&token, refuse, now()).await.unwrap()) }));
    }
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            RecordOutcome::Recorded { evicted } => assert!(evicted.is_empty()),
            RecordOutcome::Refused => refused += 1,
            RecordOutcome::Stale => panic!("a current client's token was stale"),
        }
    }
    assert_eq!(refused, 15);
    let mut raw = db.raw().await;
    let counts: (i64, i64) = sqlx::query_as(
        "select count(*) filter (where profile_id is null and not revoked), \
         count(*) filter (where profile_id is not null and not revoked) from access_tokens",
    )
    .fetch_one(&mut raw)
    .await
    .unwrap();
    assert_eq!(counts, (10, 10));
    raw.close().await.unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_and_the_profile_limit_hold_under_concurrent_requests() {
    let Some(db) = TestDb::create("bootstrap_and_the_profile_limit_hold_under_concurrent_requests").await else {
        return;
    };
    let a = Arc::new(db.connect().await);
    let b = Arc::new(db.connect().await);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let mut boot = bootstrap();
        boot.owner.email = email(&format!("owner{i}@example.com"));
        tasks.push(tokio::spawn(async move { store.bootstrap(&boot).await.map(|written| (done(written), boot).1) }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(boot) => winners.push(boot),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    assert!(a.is_initialised().await.unwrap());
    let client_id = winners[0].client.client_id.clone();

    let mut tasks = Vec::new();
    for i in 0..15u8 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let profile = profile_of(&client_id, now());
        tasks.push(tokio::spawn(async move {
            store.insert_profile(&profile, &SecretHash::from_bytes(vec![i; 32]), 10).await
        }));
    }
    let mut inserted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(written) => {
                done(written);
                inserted += 1;
            }
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(inserted, 10);
    assert_eq!(a.profiles(&client_id).await.unwrap().len(), 10);
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_method_behaves_as_in_sqlite() {
    let Some(db) = TestDb::create("every_method_behaves_as_in_sqlite").await else { return };
    let store = db.connect().await;
    let boot = bootstrap();
    let account_id = boot.account.account_id.clone();
    assert!(!store.is_initialised().await.unwrap());
    done(store.bootstrap(&boot).await.unwrap());
    assert!(store.is_initialised().await.unwrap());
    assert!(matches!(store.bootstrap(&bootstrap()).await, Err(StoreError::Conflict(_))));

    // Accounts and products.
    assert_eq!(store.account(&account_id).await.unwrap(), Some(boot.account.clone()));
    assert_eq!(store.account(&AccountId::generate()).await.unwrap(), None);
    let child = Account {
        account_id: AccountId::generate(),
        name: "Child".to_owned(),
        parent_account_id: Some(account_id.clone()),
        owner_user_id: boot.owner.user_id.clone(),
        date_created: now(),
    };
    let lower = Product { name: "aardvark".to_owned(), description: String::new(), path_prefixes: vec!["/a/".into()] };
    done(store.insert_account(&child, std::slice::from_ref(&lower)).await.unwrap());
    assert_eq!(store.child_accounts(&account_id).await.unwrap(), vec![child.clone()]);
    let names: Vec<String> = store.products(&account_id).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, vec!["ProgrammableWireless", "SuperSIM"]);
    done(store.insert_product(&account_id, &lower).await.unwrap());
    assert!(matches!(store.insert_product(&account_id, &lower).await, Err(StoreError::Conflict(_))));
    // Byte order, as SQLite sorts: upper case first.
    assert_eq!(store.root_product_names().await.unwrap(), vec!["ProgrammableWireless", "SuperSIM", "aardvark"]);
    let missing = Product { name: "nope".to_owned(), description: String::new(), path_prefixes: vec![] };
    assert!(matches!(store.update_product(&account_id, &missing).await, Err(StoreError::NotFound)));
    done(store.delete_product(&account_id, "nope").await.unwrap());
    assert!(store.product_in_use(&account_id, "SuperSIM").await.unwrap());
    assert!(!store.product_in_use(&account_id, "aardvark").await.unwrap());
    assert!(!store.product_in_use(&child.account_id, "SuperSIM").await.unwrap());

    // Users and sessions.
    let dev = User {
        user_id: UserId::generate(),
        account_id: account_id.clone(),
        email: email("dev@example.com"),
        role: Role::Developer,
        date_created: now(),
    };
    store.insert_user(&dev, "hash").await.unwrap();
    let clash = User { user_id: UserId::generate(), ..dev.clone() };
    assert!(matches!(store.insert_user(&clash, "hash").await, Err(StoreError::Conflict(_))));
    assert_eq!(store.user(&dev.user_id).await.unwrap(), Some(dev.clone()));
    assert_eq!(store.user_by_email(&account_id, &dev.email).await.unwrap(), Some(dev.clone()));
    assert_eq!(store.user_by_email(&child.account_id, &dev.email).await.unwrap(), None);
    assert_eq!(store.user_for_login(&account_id, &dev.email).await.unwrap(), Some((dev.clone(), "hash".to_owned())));
    assert_eq!(store.users(&account_id).await.unwrap(), vec![boot.owner.clone(), dev.clone()]);
    store.update_user_role(&dev.user_id, Role::Admin).await.unwrap();
    assert_eq!(store.user(&dev.user_id).await.unwrap().unwrap().role, Role::Admin);
    assert!(matches!(store.update_user_role(&UserId::generate(), Role::Admin).await, Err(StoreError::NotFound)));
    let session = SessionRecord {
        token_hash: vec![5; 32],
        user_id: dev.user_id.clone(),
        created_at: now(),
        expires_at: now() + time::Duration::hours(1),
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(store.session_user(&session.token_hash, now()).await.unwrap().unwrap().user_id, dev.user_id);
    assert_eq!(store.session_user(&session.token_hash, now() + time::Duration::hours(2)).await.unwrap(), None);

    // Clients.
    let client = store.client(&boot.client.client_id).await.unwrap().unwrap();
    assert_eq!(client, boot.client);
    let (_, secrets) = store.client_with_secrets(&client.client_id).await.unwrap().unwrap();
    assert_eq!(secrets, std::slice::from_ref(&boot.client_secret));
    let mut standard = client_of(&account_id, &dev, now());
    standard.client_type = ClientType::Standard;
    standard.scopes.global_resources.clear();
    standard.locked = Some(false);
    standard.rate_limit = None;
    done(store.insert_client(&standard, &secret(2)).await.unwrap());
    assert!(matches!(store.insert_client(&standard, &secret(2)).await, Err(StoreError::Conflict(_))));
    let page = PageRequest { size: 1, number: 2 };
    assert_eq!(
        store.list_clients(&account_id, &ClientFilter::default(), &ProjectScope::Every, page).await.unwrap(),
        (vec![standard.clone()], 2)
    );
    let all = PageRequest { size: 10, number: 1 };
    assert_eq!(
        store
            .list_clients(
                &account_id,
                &ClientFilter { client_type: Some(ClientType::Admin), ..ClientFilter::default() },
                &ProjectScope::Every,
                all
            )
            .await
            .unwrap(),
        (vec![client.clone()], 1)
    );
    let mut edited = standard.clone();
    edited.name = ClientName::parse("edited").unwrap();
    let updated = done(store.update_client(&edited, 1).await.unwrap());
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name.as_str(), "edited");
    assert!(matches!(store.update_client(&edited, 1).await, Err(StoreError::VersionMismatch)));
    let renewed = store.renew_client_secret(&standard.client_id, &secret(4), None, now()).await;
    let renewed = done(renewed.unwrap());
    assert_eq!((renewed.version, renewed.secret_generation), (3, 2));
    assert!(matches!(
        store.renew_client_secret(&ClientId::generate(), &secret(4), None, now()).await,
        Err(StoreError::NotFound)
    ));

    // Deleting a user hands their clients to the account's owner.
    done(store.delete_user(&dev.user_id).await.unwrap());
    let handed = store.client(&standard.client_id).await.unwrap().unwrap();
    assert_eq!((handed.client_owner, handed.client_owner_id), (boot.owner.email.clone(), boot.owner.user_id.clone()));
    assert_eq!(handed.version, 4);
    assert_eq!(store.session_user(&session.token_hash, now()).await.unwrap(), None);
    assert!(matches!(store.delete_user(&dev.user_id).await, Err(StoreError::NotFound)));

    // Profiles.
    let profile = profile_of(&client.client_id, now());
    let key_hash = SecretHash::from_bytes(vec![11; 32]);
    done(store.insert_profile(&profile, &key_hash, 1).await.unwrap());
    let other = profile_of(&client.client_id, now());
    assert!(matches!(
        store.insert_profile(&other, &SecretHash::from_bytes(vec![12; 32]), 1).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.profiles(&client.client_id).await.unwrap(), vec![profile.clone()]);
    assert_eq!(store.profile(&profile.profile_id).await.unwrap(), Some(profile.clone()));
    assert_eq!(
        store.profile_with_secret(&profile.profile_id).await.unwrap(),
        Some((profile.clone(), key_hash.clone()))
    );
    assert_eq!(store.profile_by_key_hash(&key_hash).await.unwrap(), Some(profile.clone()));
    let mut limited = profile.clone();
    limited.rate_limit = Some(RateLimit { requests_per_second: 1, burst: 1 });
    let limited = done(store.update_profile(&limited, 1).await.unwrap());
    assert_eq!((limited.version, limited.rate_limit.is_some()), (2, true));
    assert!(matches!(store.update_profile(&limited, 1).await, Err(StoreError::VersionMismatch)));
    let refreshed = store
        .refresh_profile_credential(&profile.profile_id, &SecretHash::from_bytes(vec![13; 32]), None, now())
        .await
        .map(done)
        .unwrap();
    assert_eq!(refreshed.secret_generation, 2);
    assert_eq!(store.profile_by_key_hash(&key_hash).await.unwrap(), None);

    // Tokens, oldest evicted first.
    let base = now();
    let tokens: Vec<TokenRecord> = (0..3).map(|i| token_of(&client, None, base + time::Duration::seconds(i))).collect();
    let cap = LiveTokenCap { max_live: 2, policy: CapPolicy::RevokeOldest };
    for token in &tokens {
        done(store.record_token(token, cap, base).await.unwrap());
    }
    assert_eq!(store.token_state(&tokens[0].jti).await.unwrap(), None, "evicted");
    assert!(!store.token_state(&tokens[1].jti).await.unwrap().unwrap().revoked);
    let refused = store
        .record_token(&token_of(&client, None, base), LiveTokenCap { max_live: 2, policy: CapPolicy::Refuse }, base)
        .await
        .map(done)
        .unwrap();
    assert_eq!(refused, RecordOutcome::Refused);
    let profile_token = token_of(&client, Some(&refreshed), base);
    done(store.record_token(&profile_token, cap, base).await.unwrap());
    let state = store.token_state(&profile_token.jti).await.unwrap().unwrap();
    assert_eq!(state.profile_id, Some(profile.profile_id.clone()));
    done(store.revoke_token(&tokens[1].jti).await.unwrap());
    done(store.revoke_token(&TokenId::generate()).await.unwrap());
    assert!(store.token_state(&tokens[1].jti).await.unwrap().unwrap().revoked);
    assert_eq!(store.purge_expired_tokens(base + time::Duration::hours(2)).await.unwrap(), 3);
    assert_eq!(store.token_state(&tokens[2].jti).await.unwrap(), None);
    done(store.delete_profile(&profile.profile_id).await.unwrap());
    done(store.delete_profile(&profile.profile_id).await.unwrap());
    assert_eq!(store.profile(&profile.profile_id).await.unwrap(), None);

    // Audit.
    for i in 0..3 {
        let event = AuditEvent {
            event_id: format!("event-{i}"),
            account_id: account_id.clone(),
            actor_type: "user".to_owned(),
            actor_id: boot.owner.user_id.to_string(),
            actor_email: None,
            action: "client.update".to_owned(),
            target_type: "client".to_owned(),
            target_id: if i == 1 { "other".to_owned() } else { client.client_id.to_string() },
            outcome: Outcome::Success,
            reason: None,
            source_ip: Some("10.0.0.1".to_owned()),
            occurred_at: now(),
            details: serde_json::json!({ "fields": ["name"] }),
        };
        store.record_audit_event(&event).await.unwrap();
    }
    let filter = AuditFilter { target_id: Some(client.client_id.to_string()), actor_id: None };
    let (events, total) = store.audit_events(&account_id, &filter, all).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(events.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), vec!["event-2", "event-0"]);
    let (events, total) = store.audit_events(&account_id, &AuditFilter::default(), page).await.unwrap();
    assert_eq!((events.len(), total), (1, 3));
    assert_eq!(events[0].event_id, "event-1");

    // Keys.
    let older = StoredSigningKey {
        kid: "a".to_owned(),
        sealed_private_key: vec![1],
        public_key: vec![2],
        created_at: base,
        activates_at: base,
    };
    let newer = StoredSigningKey { kid: "b".to_owned(), activates_at: base + time::Duration::days(1), ..older.clone() };
    done(store.insert_signing_key(&older).await.unwrap());
    done(store.insert_signing_key(&newer).await.unwrap());
    assert!(matches!(store.insert_signing_key(&older).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.signing_keys().await.unwrap(), vec![newer.clone(), older.clone()]);
    done(store.delete_signing_key("a").await.unwrap());
    assert_eq!(store.signing_keys().await.unwrap(), vec![newer]);

    // Deleting a client takes what hangs off it.
    done(store.delete_client(&client.client_id).await.unwrap());
    assert!(matches!(store.delete_client(&client.client_id).await, Err(StoreError::NotFound)));
    assert_eq!(store.client(&client.client_id).await.unwrap(), None);

    store.close().await;
}

/// A TCP relay to the test server that can freeze the connections it carries: they stay open
/// but nothing more passes, as in a network partition. Later connections pass normally.
struct Relay {
    port: u16,
    accepted: Arc<std::sync::atomic::AtomicU64>,
    freeze: tokio::sync::watch::Sender<u64>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (freeze, _) = tokio::sync::watch::channel(0u64);
        let frozen_below = freeze.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let id = counter.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let mut frozen = frozen_below.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = async { drop(frozen.wait_for(|below| id < *below).await) } => {
                            // Keep both sockets open and silent.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        Relay { port, accepted, freeze }
    }

    /// Freezes every connection made so far.
    fn freeze_existing(&self) {
        let accepted = self.accepted.load(Ordering::SeqCst);
        self.freeze.send_modify(|below| *below = accepted);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_listener_connection_is_noticed_by_the_heartbeat() {
    let Some(db) = TestDb::create("a_silent_listener_connection_is_noticed_by_the_heartbeat").await else { return };
    // The same URL with the relay in place of the server's host and port.
    let (scheme, rest) = db.url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host_port) = authority.rsplit_once('@').map_or(("", authority), |(user, host)| (user, host));
    let upstream = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    let relay = Relay::start(upstream).await;
    let user = if user.is_empty() { String::new() } else { format!("{user}@") };
    let relayed_url = format!("{scheme}://{user}127.0.0.1:{}/{path}", relay.port);
    let direct = db.connect().await;
    let boot = bootstrap();
    done(direct.bootstrap(&boot).await.unwrap());
    let relayed = PostgresStore::connect(&relayed_url).await.unwrap();
    let mut feed = relayed.changes().await.unwrap().unwrap();
    relay.freeze_existing();
    // The heartbeat (after 15 s of quiet, 5 s to answer) gives the frozen connection up.
    assert_eq!(next_change(&mut feed, Duration::from_secs(30)).await, Some(Change::Resync));
    assert_eq!(next_change(&mut feed, Duration::from_secs(10)).await, Some(Change::Resync));
    let client = direct.client(&boot.client.client_id).await.unwrap().unwrap();
    done(direct.update_client(&client, client.version).await.unwrap());
    assert_eq!(next_change(&mut feed, Duration::from_secs(1)).await, Some(Change::Client(client.client_id.clone())));
    direct.close().await;
}

/// The storage contract every backend passes, here against PostgreSQL.
#[tokio::test]
async fn postgres_passes_the_store_contract() {
    let Some(db) = TestDb::create("postgres_passes_the_store_contract").await else {
        return;
    };
    gatehouse_domain::store_contract::run_all(std::sync::Arc::new(db.connect().await)).await;
}
