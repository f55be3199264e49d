//! One test suite every storage backend must pass (enabled with the `contract` feature). Each
//! backend's tests call [`run_all`] with a fresh, migrated store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use time::OffsetDateTime;

use crate::account::{Account, Email, Product, Role, User};
use crate::audit::{AuditEvent, Outcome};
use crate::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, Scopes, TokenExpiry,
};
use crate::ids::{AccountId, ClientId, PolicyId, ProfileId, ProjectId, SecretId, TokenId, UserId};
use crate::policy::{Policy, PolicyName};
use crate::profile::{AccessProfile, AuthMethod};
use crate::project::{Project, ProjectName, ProjectScope};
use crate::quota::{Quota, QuotaPeriod};
use crate::secret::{LastUse, SecretHash, StoredSecret};
use crate::store::{
    AuditFilter, Bootstrap, CapPolicy, Change, ClientFilter, CredentialUse, HandoffRecord, LiveTokenCap, PageRequest,
    RecordOutcome, SessionRecord, Store, StoreError, StoredSigningKey, TokenRecord, UsedCredential, Written,
};
use crate::trust::ProfileTrust;

/// The value of a write that reported exactly `expected`: what it changed is what every cache
/// and every other instance will be told, so a write that forgets a change fails here.
#[track_caller]
fn reported<T>(written: Written<T>, expected: &[Change]) -> T {
    assert_eq!(written.changes(), expected, "the changes the write reported");
    written.into_parts().0
}

fn of_type(client_type: ClientType) -> ClientFilter {
    ClientFilter { client_type: Some(client_type), ..ClientFilter::default() }
}

/// Timestamps with whole-microsecond precision, which every backend stores exactly.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap()
}

fn client(account_id: &AccountId, owner: &User, name: &str, client_type: ClientType) -> Client {
    let at = now();
    Client {
        client_id: ClientId::generate(),
        account_id: account_id.clone(),
        name: ClientName::parse(name).unwrap(),
        description: Description::parse("contract").unwrap(),
        client_owner: owner.email.clone(),
        client_owner_id: owner.user_id.clone(),
        client_type,
        locked: None,
        enabled: true,
        scopes: Scopes {
            global_resources: if client_type == ClientType::Admin {
                [GlobalResource::ApiClients].into_iter().collect()
            } else {
                Default::default()
            },
            products: ["SuperSIM".to_owned()].into_iter().collect(),
        },
        token_expiry: TokenExpiry::DEFAULT,
        allowed_ips: AllowedIps::parse(&["10.0.0.0/8"]).unwrap(),
        rate_limit: None,
        date_created: at,
        date_updated: at,
        version: 1,
        secret_generation: 1,
        secret_expires_at: None,
        has_logo: false,
        project_id: None,
    }
}

fn hash(byte: u8) -> SecretHash {
    SecretHash::from_bytes(vec![byte; 32])
}

/// A new secret whose hash is `hash(byte)`.
fn secret(byte: u8) -> StoredSecret {
    StoredSecret {
        secret_id: SecretId::generate(),
        hash: hash(byte),
        prefix: Some(format!("gsec_test{byte:03}")),
        date_created: now(),
        expires_at: None,
        last_use: None,
    }
}

/// A client's secrets' hashes, oldest first.
async fn secret_hashes(store: &dyn Store, client_id: &ClientId) -> Vec<SecretHash> {
    let (_, secrets) = store.client_with_secrets(client_id).await.unwrap().unwrap();
    secrets.into_iter().map(|secret| secret.hash).collect()
}

/// What `init` writes, for a store that has not been initialised.
fn bootstrap_data() -> Bootstrap {
    let owner_id = UserId::generate();
    let account = Account {
        account_id: AccountId::generate(),
        name: "Contract".to_owned(),
        parent_account_id: None,
        owner_user_id: owner_id.clone(),
        date_created: now(),
    };
    let owner = User {
        user_id: owner_id,
        account_id: account.account_id.clone(),
        email: Email::parse(&format!("owner-{}@example.com", ClientId::generate())).unwrap(),
        role: Role::Owner,
        date_created: now(),
    };
    let admin = client(&account.account_id, &owner, "bootstrap", ClientType::Admin);
    Bootstrap {
        account,
        owner,
        owner_password_hash: "$argon2id$stand-in".to_owned(),
        products: Product::defaults(),
        client: admin,
        client_secret: secret(1),
    }
}

/// A further account with its owner and an admin client, as later issues create them.
async fn bootstrap(store: &dyn Store) -> (AccountId, User, Client) {
    let data = bootstrap_data();
    let account_id = data.account.account_id.clone();
    reported(store.insert_account(&data.account, &data.products).await.unwrap(), &[Change::Catalogue(account_id)]);
    store.insert_user(&data.owner, &data.owner_password_hash).await.unwrap();
    let client_id = data.client.client_id.clone();
    reported(store.insert_client(&data.client, &data.client_secret).await.unwrap(), &[Change::Client(client_id)]);
    (data.account.account_id, data.owner, data.client)
}

pub async fn run_all(store: Arc<dyn Store>) {
    let shared = store.clone();
    let store = store.as_ref();
    bootstrap_is_once_and_complete(store).await;
    clients_round_trip_page_and_version(store).await;
    renew_and_delete(store).await;
    secrets_rotate_end_and_record_their_uses(store).await;
    logos_round_trip(store).await;
    projects_members_and_who_sees_which_client(store).await;
    tokens_cap_state_revoke_and_purge(store).await;
    token_batches(store).await;
    the_purge_reaches_every_expired_token(store).await;
    users_sessions_and_hand_over(store).await;
    audit_is_newest_first_and_filtered(store).await;
    profiles_round_trip(store).await;
    jwt_and_oidc_profiles_and_used_jtis(store).await;
    usage_counts_add_up_and_go_with_their_profile(store).await;
    products_and_keys(store).await;
    the_ledger_records_concurrent_tokens_and_isolates_a_bad_one(shared).await;
    store.ping().await.unwrap();
}

async fn bootstrap_is_once_and_complete(store: &dyn Store) {
    assert!(!store.is_initialised().await.unwrap());
    let data = bootstrap_data();
    let (account_id, owner, admin) = (data.account.account_id.clone(), data.owner.clone(), data.client.clone());
    let expected = [Change::Catalogue(account_id.clone()), Change::Client(admin.client_id.clone())];
    reported(store.bootstrap(&data).await.unwrap(), &expected);
    assert!(store.is_initialised().await.unwrap());
    let account = store.account(&account_id).await.unwrap().unwrap();
    assert_eq!(account.owner_user_id, owner.user_id);
    assert_eq!(store.user(&owner.user_id).await.unwrap().unwrap(), owner);
    let (stored, secrets) = store.client_with_secrets(&admin.client_id).await.unwrap().unwrap();
    assert_eq!(stored, admin, "a client reads back exactly as written");
    assert_eq!(secrets, std::slice::from_ref(&data.client_secret), "a secret reads back exactly as written");
    assert_eq!(store.client(&admin.client_id).await.unwrap().unwrap(), admin);
    let names: Vec<String> = store.products(&account_id).await.unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["ProgrammableWireless", "SuperSIM"]);
    // A second bootstrap is refused and changes nothing.
    let again = Bootstrap {
        account: account.clone(),
        owner: owner.clone(),
        owner_password_hash: String::new(),
        products: vec![],
        client: client(&account_id, &owner, "again", ClientType::Admin),
        client_secret: secret(2),
    };
    assert!(matches!(store.bootstrap(&again).await, Err(StoreError::Conflict(_))));
}

async fn clients_round_trip_page_and_version(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let mut made = Vec::new();
    for index in 0..5 {
        let mut c = client(&account_id, &owner, &format!("c{index}"), ClientType::Standard);
        c.locked = Some(index % 2 == 0);
        reported(store.insert_client(&c, &secret(3)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
        made.push(c);
    }
    let duplicate = store.insert_client(&made[0], &secret(3)).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))));
    let (page, total) = store
        .list_clients(
            &account_id,
            &of_type(ClientType::Standard),
            &ProjectScope::Every,
            PageRequest { size: 2, number: 2 },
        )
        .await
        .unwrap();
    assert_eq!(total, 5);
    assert_eq!(page.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c2", "c3"], "oldest first");
    let (admins, total) = store
        .list_clients(
            &account_id,
            &of_type(ClientType::Admin),
            &ProjectScope::Every,
            PageRequest { size: 10, number: 1 },
        )
        .await
        .unwrap();
    assert_eq!((admins.len(), total), (1, 1));

    let mut edited = made[1].clone();
    edited.name = ClientName::parse("edited").unwrap();
    edited.enabled = false;
    let updated = reported(store.update_client(&edited, 1).await.unwrap(), &[Change::Client(edited.client_id.clone())]);
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name.as_str(), "edited");
    assert!(!updated.enabled);
    assert!(matches!(store.update_client(&edited, 1).await, Err(StoreError::VersionMismatch)));
    // Filters combine; a name matches anywhere in it, whatever the case of ASCII letters.
    let account = &account_id;
    let names = |filter: ClientFilter| async move {
        let (page, total) = store
            .list_clients(account, &filter, &ProjectScope::Every, PageRequest { size: 10, number: 1 })
            .await
            .unwrap();
        assert_eq!(total, page.len() as u64);
        page.into_iter().map(|c| c.name.as_str().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(names(ClientFilter { enabled: Some(false), ..ClientFilter::default() }).await, ["edited"]);
    assert_eq!(
        names(ClientFilter { name_contains: Some("DIT".to_owned()), ..ClientFilter::default() }).await,
        ["edited"]
    );
    let enabled_c =
        ClientFilter { enabled: Some(true), name_contains: Some("c".to_owned()), ..of_type(ClientType::Standard) };
    assert_eq!(names(enabled_c).await, ["c0", "c2", "c3", "c4"]);
    assert!(names(ClientFilter { name_contains: Some("%".to_owned()), ..ClientFilter::default() }).await.is_empty());
    let mut missing = edited.clone();
    missing.client_id = ClientId::generate();
    assert!(matches!(store.update_client(&missing, 1).await, Err(StoreError::NotFound)));
}

async fn renew_and_delete(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "renewed", ClientType::Standard);
    reported(store.insert_client(&c, &secret(4)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let changed = [Change::Client(c.client_id.clone())];
    let fifth = secret(5);
    let renewed = reported(store.renew_client_secret(&c.client_id, &fifth, None, now()).await.unwrap(), &changed);
    assert_eq!(renewed.secret_generation, 2);
    assert_eq!(renewed.version, 2);
    assert_eq!(secret_hashes(store, &c.client_id).await, [hash(5)]);
    assert_eq!(store.client_by_secret_hash(&hash(5)).await.unwrap(), Some((c.client_id.clone(), fifth.secret_id)));
    assert_eq!(store.client_by_secret_hash(&hash(4)).await.unwrap(), None, "the renewed secret is nobody's");
    // Replacing a secret that is no longer the stored one changes nothing.
    let stale = store.renew_client_secret(&c.client_id, &secret(60), Some(&hash(4)), now()).await;
    assert!(matches!(stale, Err(StoreError::NotFound)));
    assert_eq!(secret_hashes(store, &c.client_id).await, [hash(5)]);
    let ended =
        reported(store.renew_client_secret(&c.client_id, &secret(61), Some(&hash(5)), now()).await.unwrap(), &changed);
    assert_eq!(ended.secret_generation, 3);
    reported(store.delete_client(&c.client_id).await.unwrap(), &changed);
    assert!(store.client(&c.client_id).await.unwrap().is_none());
    assert!(matches!(store.delete_client(&c.client_id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.renew_client_secret(&c.client_id, &secret(6), None, now()).await,
        Err(StoreError::NotFound)
    ));
}

async fn secrets_rotate_end_and_record_their_uses(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "rotated", ClientType::Standard);
    let first = secret(70);
    reported(store.insert_client(&c, &first).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let changed = [Change::Client(c.client_id.clone())];
    let at = now();
    let grace_end = at + time::Duration::hours(1);

    // A rotation keeps the current secret beside the new one until the grace period ends, and
    // touches neither the generation nor the tokens.
    let second = StoredSecret { expires_at: Some(at + time::Duration::days(30)), ..secret(71) };
    let rotated = reported(store.rotate_client_secret(&c.client_id, &second, grace_end, at).await.unwrap(), &changed);
    assert_eq!((rotated.client.version, rotated.client.secret_generation), (2, 1));
    assert_eq!(rotated.client.secret_expires_at, second.expires_at, "the client shows its current secret's expiry");
    assert_eq!(rotated.previous, Some(StoredSecret { expires_at: Some(grace_end), ..first.clone() }));
    let (_, secrets) = store.client_with_secrets(&c.client_id).await.unwrap().unwrap();
    assert_eq!(secrets, [rotated.previous.clone().unwrap(), second.clone()], "oldest first, the current last");
    let (listed, _) = store
        .list_clients(&account_id, &ClientFilter::default(), &ProjectScope::Every, PageRequest { size: 10, number: 1 })
        .await
        .unwrap();
    let listed = listed.into_iter().find(|listed| listed.client_id == c.client_id).unwrap();
    assert_eq!(listed.secret_expires_at, second.expires_at, "and so does the list");

    // Again during the grace period: the oldest ends at once; the previous keeps the earlier of
    // its own expiry and the new grace period's end.
    let third = secret(72);
    let later = at + time::Duration::days(60);
    let rotated = reported(store.rotate_client_secret(&c.client_id, &third, later, at).await.unwrap(), &changed);
    let previous = rotated.previous.as_ref().map(|previous| (&previous.secret_id, previous.expires_at));
    assert_eq!(previous, Some((&second.secret_id, second.expires_at)));
    assert_eq!(secret_hashes(store, &c.client_id).await, [hash(71), hash(72)]);
    assert_eq!(store.client_by_secret_hash(&hash(70)).await.unwrap(), None);

    // Tokens minted with each secret; ending one secret with its tokens ends only those.
    let mut with_second = token(&rotated.client, None, at);
    with_second.secret_id = Some(second.secret_id.clone());
    let mut with_third = token(&rotated.client, None, at);
    with_third.secret_id = Some(third.secret_id.clone());
    for record in [&with_second, &with_third] {
        let (outcome, _) = store.record_token(record, LiveTokenCap::default(), at).await.unwrap().into_parts();
        assert_eq!(outcome, RecordOutcome::Recorded { evicted: vec![] });
    }
    let ended = store.delete_client_secret(&c.client_id, &second.secret_id, true, at).await.unwrap();
    assert_eq!(ended.changes(), [changed[0].clone(), Change::TokensRevoked(vec![with_second.jti.clone()])]);
    let (client, _) = ended.into_parts();
    assert_eq!(client.version, 4);
    assert!(store.token_state(&with_second.jti).await.unwrap().is_none());
    assert!(store.token_state(&with_third.jti).await.unwrap().is_some());

    // The current secret stays; what is not there is not found, and changes nothing.
    let last = store.delete_client_secret(&c.client_id, &third.secret_id, false, at).await;
    assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
    let unknown = store.delete_client_secret(&c.client_id, &SecretId::generate(), false, at).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)));
    let gone = store.delete_client_secret(&ClientId::generate(), &third.secret_id, false, at).await;
    assert!(matches!(gone, Err(StoreError::NotFound)));
    assert_eq!(store.client(&c.client_id).await.unwrap().unwrap().version, 4);

    // Without a grace period the current secret goes at once; an expired one never lingers.
    let fourth = secret(73);
    let rotated = reported(store.rotate_client_secret(&c.client_id, &fourth, at, at).await.unwrap(), &changed);
    assert_eq!(rotated.previous, None);
    assert_eq!(secret_hashes(store, &c.client_id).await, [hash(73)]);

    // Uses: the latest wins, whatever order the batches arrive in; unknown credentials are
    // ignored.
    let use_at = |seconds: i64, ip: &str| LastUse {
        at: at.replace_nanosecond(0).unwrap() + time::Duration::seconds(seconds),
        ip: ip.parse().unwrap(),
    };
    let batch = |secret_id: &SecretId, last_use: LastUse| {
        vec![
            CredentialUse { credential: UsedCredential::ClientSecret(secret_id.clone()), last_use },
            CredentialUse { credential: UsedCredential::ClientSecret(SecretId::generate()), last_use },
            CredentialUse { credential: UsedCredential::Profile(ProfileId::generate()), last_use },
        ]
    };
    let client_id = &c.client_id;
    let last_use = || async move { store.client_with_secrets(client_id).await.unwrap().unwrap().1[0].last_use };
    store.record_credential_uses(&batch(&fourth.secret_id, use_at(10, "192.0.2.1"))).await.unwrap();
    assert_eq!(last_use().await, Some(use_at(10, "192.0.2.1")));
    store.record_credential_uses(&batch(&fourth.secret_id, use_at(5, "2001:db8::5"))).await.unwrap();
    assert_eq!(last_use().await, Some(use_at(10, "192.0.2.1")), "an older use does not win");
    store.record_credential_uses(&batch(&fourth.secret_id, use_at(11, "2001:db8::5"))).await.unwrap();
    assert_eq!(last_use().await, Some(use_at(11, "2001:db8::5")));
    store.record_credential_uses(&[]).await.unwrap();
}

async fn logos_round_trip(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "logo", ClientType::Standard);
    reported(store.insert_client(&c, &secret(80)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x00IEND\xaeB`\x82";
    let jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\xff\xd9";
    assert_eq!(store.client_logo(&c.client_id).await.unwrap(), None);
    assert!(!store.client(&c.client_id).await.unwrap().unwrap().has_logo);
    for bytes in [png.to_vec(), jpeg.to_vec()] {
        let logo = crate::logo::Logo::sniff(bytes).unwrap();
        store.set_client_logo(&c.client_id, &logo, now()).await.unwrap();
        assert_eq!(store.client_logo(&c.client_id).await.unwrap(), Some(logo), "set, then replaced");
    }
    assert!(store.client(&c.client_id).await.unwrap().unwrap().has_logo);
    store.delete_client_logo(&c.client_id).await.unwrap();
    assert_eq!(store.client_logo(&c.client_id).await.unwrap(), None);
    store.delete_client_logo(&c.client_id).await.unwrap();
    let jpeg_logo = crate::logo::Logo::sniff(jpeg.to_vec()).unwrap();
    let missing = ClientId::generate();
    assert!(matches!(store.set_client_logo(&missing, &jpeg_logo, now()).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_client_logo(&missing).await, Err(StoreError::NotFound)));
    store.set_client_logo(&c.client_id, &jpeg_logo, now()).await.unwrap();
    reported(store.delete_client(&c.client_id).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    assert_eq!(store.client_logo(&c.client_id).await.unwrap(), None, "it goes with its client");
}

fn token(client: &Client, profile: Option<&AccessProfile>, issued: OffsetDateTime) -> TokenRecord {
    TokenRecord {
        jti: TokenId::minted_at(issued),
        client_id: client.client_id.clone(),
        profile_id: profile.map(|profile| profile.profile_id.clone()),
        secret_generation: client.secret_generation,
        secret_id: None,
        issued_at: issued,
        expires_at: issued + time::Duration::hours(1),
        client_version: client.version,
        profile_version: profile.map(|profile| profile.version),
    }
}

/// The group-commit writer over this store: concurrent requests share batches, the cap holds
/// over them, and a record that cannot be written fails alone.
fn project(account_id: &AccountId, name: &str) -> Project {
    let now = now();
    Project {
        project_id: ProjectId::generate(),
        account_id: account_id.clone(),
        name: ProjectName::parse(name).unwrap(),
        description: Description::parse("a team").unwrap(),
        members: Vec::new(),
        date_created: now,
        date_updated: now,
    }
}

async fn projects_members_and_who_sees_which_client(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let developer = User {
        user_id: UserId::generate(),
        account_id: account_id.clone(),
        email: Email::parse("member@contract.example").unwrap(),
        role: Role::Developer,
        date_created: OffsetDateTime::now_utc(),
    };
    store.insert_user(&developer, "hash").await.unwrap();
    let billing = project(&account_id, "Billing");
    let search = project(&account_id, "Search");
    store.insert_project(&billing).await.unwrap();
    store.insert_project(&search).await.unwrap();
    assert!(matches!(store.insert_project(&project(&account_id, "Billing")).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.project(&billing.project_id).await.unwrap().unwrap(), billing);
    assert!(store.project(&ProjectId::generate()).await.unwrap().is_none());

    let now = now();
    store.add_project_member(&billing.project_id, &developer.user_id, now).await.unwrap();
    store.add_project_member(&billing.project_id, &developer.user_id, now).await.unwrap();
    store.add_project_member(&billing.project_id, &owner.user_id, now).await.unwrap();
    let missing = store.add_project_member(&billing.project_id, &UserId::generate(), now).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    let missing = store.add_project_member(&ProjectId::generate(), &developer.user_id, now).await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
    let read = store.project(&billing.project_id).await.unwrap().unwrap();
    let emails: Vec<&str> = read.members.iter().map(|member| member.email.as_str()).collect();
    assert_eq!(emails, ["member@contract.example", owner.email.as_str()], "each once, by email");
    assert_eq!(read.date_updated, now);
    assert!(store.is_project_member(&billing.project_id, &developer.user_id).await.unwrap());
    assert!(!store.is_project_member(&search.project_id, &developer.user_id).await.unwrap());
    let all = store.projects(&account_id, None).await.unwrap();
    assert_eq!(all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Billing", "Search"]);
    assert_eq!(all[0].members.len(), 2);
    let theirs = store.projects(&account_id, Some(&developer.user_id)).await.unwrap();
    assert_eq!(theirs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["Billing"]);

    // Clients in projects: a member's listing holds those of their projects and those outside
    // any; everyone else's holds all.
    let mut in_billing = client(&account_id, &owner, "in billing", ClientType::Standard);
    in_billing.project_id = Some(billing.project_id.clone());
    let mut in_search = client(&account_id, &owner, "in search", ClientType::Standard);
    in_search.project_id = Some(search.project_id.clone());
    for c in [&in_billing, &in_search] {
        let _ = store.insert_client(c, &secret(7)).await.unwrap();
    }
    assert_eq!(store.client(&in_billing.client_id).await.unwrap().unwrap().project_id, in_billing.project_id);
    let account = &account_id;
    let names = |filter: ClientFilter, scope: ProjectScope| async move {
        let (page, total) =
            store.list_clients(account, &filter, &scope, PageRequest { size: 10, number: 1 }).await.unwrap();
        assert_eq!(total, page.len() as u64);
        let mut names: Vec<String> = page.into_iter().map(|c| c.name.as_str().to_owned()).collect();
        names.sort();
        names
    };
    let member = ProjectScope::MemberOf(developer.user_id.clone());
    assert_eq!(names(ClientFilter::default(), ProjectScope::Every).await, ["bootstrap", "in billing", "in search"]);
    assert_eq!(names(ClientFilter::default(), member.clone()).await, ["bootstrap", "in billing"]);
    let only_search = ClientFilter { project_id: Some(search.project_id.clone()), ..ClientFilter::default() };
    assert_eq!(names(only_search.clone(), ProjectScope::Every).await, ["in search"]);
    assert!(names(only_search, member.clone()).await.is_empty());

    // Moving a client is an update like any other.
    let mut moved = in_search.clone();
    moved.project_id = Some(billing.project_id.clone());
    let moved = reported(store.update_client(&moved, 1).await.unwrap(), &[Change::Client(moved.client_id.clone())]);
    assert_eq!(moved.project_id, Some(billing.project_id.clone()));
    assert_eq!(names(ClientFilter::default(), member.clone()).await, ["bootstrap", "in billing", "in search"]);

    // A project deleted between the domain's check and the write is a conflict to answer, never
    // a fault or a client pointing nowhere.
    let mut orphan = client(&account_id, &owner, "orphan", ClientType::Standard);
    orphan.project_id = Some(ProjectId::generate());
    assert!(matches!(store.insert_client(&orphan, &secret(8)).await, Err(StoreError::Conflict(_))));
    assert!(store.client(&orphan.client_id).await.unwrap().is_none());
    let mut astray = store.client(&in_billing.client_id).await.unwrap().unwrap();
    astray.project_id = Some(ProjectId::generate());
    assert!(matches!(store.update_client(&astray, astray.version).await, Err(StoreError::Conflict(_))));

    // A project with clients stays; an empty one goes, and its members with it.
    assert!(matches!(store.delete_project(&billing.project_id).await, Err(StoreError::Conflict(_))));
    let mut renamed = search.clone();
    renamed.name = ProjectName::parse("Billing").unwrap();
    assert!(matches!(store.update_project(&renamed).await, Err(StoreError::Conflict(_))));
    renamed.name = ProjectName::parse("Discovery").unwrap();
    store.update_project(&renamed).await.unwrap();
    assert_eq!(store.project(&search.project_id).await.unwrap().unwrap().name.as_str(), "Discovery");
    store.add_project_member(&search.project_id, &developer.user_id, now).await.unwrap();
    store.delete_project(&search.project_id).await.unwrap();
    assert!(matches!(store.delete_project(&search.project_id).await, Err(StoreError::NotFound)));
    assert!(matches!(store.update_project(&renamed).await, Err(StoreError::NotFound)));

    // Members leave one at a time, or with their user.
    store.remove_project_member(&billing.project_id, &owner.user_id, now).await.unwrap();
    let again = store.remove_project_member(&billing.project_id, &owner.user_id, now).await;
    assert!(matches!(again, Err(StoreError::NotFound)));
    let _ = store.delete_user(&developer.user_id).await.unwrap();
    assert!(store.project(&billing.project_id).await.unwrap().unwrap().members.is_empty());
}

async fn the_ledger_records_concurrent_tokens_and_isolates_a_bad_one(store: Arc<dyn Store>) {
    let (account_id, owner, _) = bootstrap(store.as_ref()).await;
    let c = client(&account_id, &owner, "ledger", ClientType::Standard);
    reported(store.insert_client(&c, &secret(50)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let gate = Arc::new(crate::gate::Gate::default());
    let ledger = Arc::new(crate::token_ledger::TokenLedger::start(store.clone(), LiveTokenCap::default(), gate));
    let at = now();
    // All minted in the same instant: the cap's oldest is the one recorded first.
    let mut records: Vec<TokenRecord> = (0..20).map(|_| token(&c, None, at)).collect();
    // A copy of the newest, which no later token evicts (an evicted token is deleted, so its
    // jti could be recorded again).
    let duplicate = records[19].clone();
    records.push(duplicate.clone());
    let requests: Vec<_> = records
        .iter()
        .cloned()
        .map(|record| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.record(record).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for request in requests {
        outcomes.push(request.await.unwrap());
    }
    let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    assert_eq!(failed, 1, "only the repeated jti fails: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .filter_map(|outcome| outcome.as_ref().ok())
            .all(|o| matches!(o, RecordOutcome::Recorded { .. }))
    );
    let mut live = 0;
    for record in &records[..20] {
        live += usize::from(store.token_state(&record.jti).await.unwrap().is_some());
    }
    assert_eq!(live, 10, "the cap holds across the ledger's batches");
}

fn recorded(evicted: Vec<TokenId>) -> RecordOutcome {
    RecordOutcome::Recorded { evicted }
}

/// What a write that revoked `jtis` reports: nothing when it revoked none.
fn revoked(jtis: &[&TokenId]) -> Vec<Change> {
    if jtis.is_empty() {
        Vec::new()
    } else {
        vec![Change::TokensRevoked(jtis.iter().map(|&jti| jti.clone()).collect())]
    }
}

async fn tokens_cap_state_revoke_and_purge(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "tokens", ClientType::Standard);
    reported(store.insert_client(&c, &secret(7)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let start = now();
    let cap = LiveTokenCap::default();
    let mut records: Vec<TokenRecord> = Vec::new();
    for second in 0..11 {
        let record = token(&c, None, start + time::Duration::seconds(second));
        let written = store.record_token(&record, cap, record.issued_at).await.unwrap();
        if second == 10 {
            let outcome = reported(written, &revoked(&[&records[0].jti]));
            assert_eq!(outcome, recorded(vec![records[0].jti.clone()]), "the oldest is evicted");
        } else {
            assert_eq!(reported(written, &[]), recorded(vec![]));
        }
        records.push(record);
    }
    assert_eq!(store.token_state(&records[0].jti).await.unwrap(), None, "an evicted token is off the books");
    let last = store.token_state(&records[10].jti).await.unwrap().unwrap();
    assert_eq!(
        (last.client_id.clone(), last.profile_id.clone(), last.secret_generation, last.revoked),
        (c.client_id.clone(), None, 1, false)
    );

    let refuse = LiveTokenCap { policy: CapPolicy::Refuse, ..cap };
    let later = start + time::Duration::seconds(20);
    let refused = token(&c, None, later);
    assert_eq!(reported(store.record_token(&refused, refuse, later).await.unwrap(), &[]), RecordOutcome::Refused);
    assert_eq!(store.token_state(&refused.jti).await.unwrap(), None, "a refused token is not recorded");
    reported(store.revoke_token(&records[5].jti).await.unwrap(), &revoked(&[&records[5].jti]));
    assert!(store.token_state(&records[5].jti).await.unwrap().unwrap().revoked);
    let outcome = reported(store.record_token(&token(&c, None, later), refuse, later).await.unwrap(), &[]);
    assert_eq!(outcome, recorded(vec![]), "a revoked token frees a place");
    reported(store.revoke_token(&TokenId::generate()).await.unwrap(), &[]);

    let purged = store.purge_expired_tokens(start + time::Duration::hours(2)).await.unwrap();
    assert!(purged >= 11);
    assert!(store.token_state(&records[1].jti).await.unwrap().is_none());
}

/// More tokens than a store may look at in one step of its purge (SQLite walks the table in
/// windows of 2,000): every expired one goes, every live one stays.
async fn the_purge_reaches_every_expired_token(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "many tokens", ClientType::Standard);
    reported(store.insert_client(&c, &secret(50)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let start = now();
    let uncapped = LiveTokenCap { max_live: 10_000, policy: CapPolicy::Refuse };
    // Tokens alternate between expiring after a minute and after an hour, so expired and live
    // ones share every window.
    let records: Vec<TokenRecord> = (0..4_500)
        .map(|n| {
            let mut record = token(&c, None, start);
            if n % 2 == 0 {
                record.expires_at = start + time::Duration::minutes(1);
            }
            record
        })
        .collect();
    for batch in records.chunks(500) {
        let outcomes = reported(store.record_tokens(batch, uncapped, start).await.unwrap(), &[]);
        assert!(outcomes.iter().all(|outcome| *outcome == recorded(vec![])));
    }

    let purged = store.purge_expired_tokens(start + time::Duration::minutes(2)).await.unwrap();
    assert_eq!(purged, 2_250, "every token that expired, and no other");
    for (n, record) in records.iter().enumerate().step_by(7) {
        let state = store.token_state(&record.jti).await.unwrap();
        assert_eq!(state.is_some(), n % 2 == 1, "token {n} after the purge");
    }
    assert_eq!(store.purge_expired_tokens(start + time::Duration::minutes(2)).await.unwrap(), 0);
}

/// Many tokens in one call behave as if recorded one after the other, and a token minted from
/// a client that has changed since is not recorded at all.
async fn token_batches(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let a = client(&account_id, &owner, "batch a", ClientType::Standard);
    let b = client(&account_id, &owner, "batch b", ClientType::Standard);
    reported(store.insert_client(&a, &secret(40)).await.unwrap(), &[Change::Client(a.client_id.clone())]);
    reported(store.insert_client(&b, &secret(41)).await.unwrap(), &[Change::Client(b.client_id.clone())]);
    let at = now();
    let cap = LiveTokenCap { max_live: 3, policy: CapPolicy::RevokeOldest };
    let earlier = token(&a, None, at);
    reported(store.record_token(&earlier, cap, at).await.unwrap(), &[]);

    let batch: Vec<TokenRecord> = (0..4).map(|i| token(if i == 1 { &b } else { &a }, None, at)).collect();
    let outcomes = reported(store.record_tokens(&batch, cap, at).await.unwrap(), &revoked(&[&earlier.jti]));
    assert_eq!(
        outcomes,
        vec![recorded(vec![]), recorded(vec![]), recorded(vec![]), recorded(vec![earlier.jti.clone()])]
    );
    assert_eq!(store.token_state(&earlier.jti).await.unwrap(), None);
    for record in &batch {
        assert!(store.token_state(&record.jti).await.unwrap().is_some(), "every token of the batch is on record");
    }
    let burst: Vec<TokenRecord> = (0..5).map(|_| token(&b, None, at)).collect();
    // Two of the five evict the other two within the batch: never handed out, never on
    // record, so nobody needs to hear of them. The batch's own `b` token goes too.
    let outcomes = reported(store.record_tokens(&burst, cap, at).await.unwrap(), &revoked(&[&batch[1].jti]));
    assert_eq!(outcomes.len(), 5);
    let mut live = 0;
    for record in batch.iter().chain(&burst).filter(|record| record.client_id == b.client_id) {
        live += usize::from(store.token_state(&record.jti).await.unwrap().is_some());
    }
    assert_eq!(live, 3, "the cap holds within one batch");

    let mut edited = a.clone();
    edited.name = ClientName::parse("batch a, renamed").unwrap();
    reported(store.update_client(&edited, a.version).await.unwrap(), &[Change::Client(a.client_id.clone())]);
    let stale = token(&a, None, at);
    reported(store.delete_client(&b.client_id).await.unwrap(), &[Change::Client(b.client_id.clone())]);
    let gone = token(&b, None, at);
    let outcomes = reported(store.record_tokens(&[stale.clone(), gone.clone()], cap, at).await.unwrap(), &[]);
    assert_eq!(outcomes, vec![RecordOutcome::Stale, RecordOutcome::Stale]);
    assert_eq!(store.token_state(&stale.jti).await.unwrap(), None);
    assert_eq!(store.token_state(&gone.jti).await.unwrap(), None);
    assert_eq!(reported(store.record_tokens(&[], cap, at).await.unwrap(), &[]), vec![]);

    // A batch that fails writes nothing of itself and leaves the store writable.
    let a = store.client(&a.client_id).await.unwrap().unwrap();
    let twice = token(&a, None, at);
    assert!(store.record_tokens(&[twice.clone(), twice.clone()], cap, at).await.is_err(), "a jti is unique");
    assert_eq!(store.token_state(&twice.jti).await.unwrap(), None);
    let after = token(&a, None, at);
    let outcome = store.record_token(&after, cap, at).await.unwrap().into_parts().0;
    assert!(matches!(outcome, RecordOutcome::Recorded { .. }));
    let c = client(&account_id, &owner, "after a failed batch", ClientType::Standard);
    reported(store.insert_client(&c, &secret(42)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
}

async fn users_sessions_and_hand_over(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let dev = User {
        user_id: UserId::generate(),
        account_id: account_id.clone(),
        email: Email::parse(&format!("dev-{}@example.com", ClientId::generate())).unwrap(),
        role: Role::Developer,
        date_created: now(),
    };
    store.insert_user(&dev, "$argon2id$dev").await.unwrap();
    let clash = User { user_id: UserId::generate(), ..dev.clone() };
    assert!(matches!(store.insert_user(&clash, "x").await, Err(StoreError::Conflict(_))));
    let (found, password_hash) = store.user_for_login(&account_id, &dev.email).await.unwrap().unwrap();
    assert_eq!((found, password_hash.as_str()), (dev.clone(), "$argon2id$dev"));
    assert_eq!(store.user_by_email(&account_id, &dev.email).await.unwrap().unwrap(), dev);

    // Another account may have a user with the same email: each is found in its own account.
    let (other_account, other_owner, _) = bootstrap(store).await;
    let copy = User { user_id: UserId::generate(), account_id: other_account.clone(), ..dev.clone() };
    store.insert_user(&copy, "$argon2id$copy").await.unwrap();
    let login = |account: AccountId| {
        let email = dev.email.clone();
        async move { store.user_for_login(&account, &email).await.unwrap().map(|(user, hash)| (user.user_id, hash)) }
    };
    assert_eq!(login(other_account.clone()).await, Some((copy.user_id.clone(), "$argon2id$copy".to_owned())));
    assert_eq!(login(account_id.clone()).await, Some((dev.user_id.clone(), "$argon2id$dev".to_owned())));
    assert_eq!(login(AccountId::generate()).await, None);
    assert_eq!(store.user_by_email(&other_account, &dev.email).await.unwrap().unwrap(), copy);
    // Ownership follows the user id, not the email: the copy's removal hands over only its own.
    let copys = client(&other_account, &copy, "the copy's", ClientType::Standard);
    reported(store.insert_client(&copys, &secret(11)).await.unwrap(), &[Change::Client(copys.client_id.clone())]);
    let handed = reported(store.delete_user(&copy.user_id).await.unwrap(), &[Change::Client(copys.client_id.clone())]);
    assert_eq!(handed, std::slice::from_ref(&copys.client_id));
    let copys = store.client(&copys.client_id).await.unwrap().unwrap();
    assert_eq!((copys.client_owner, copys.client_owner_id), (other_owner.email, other_owner.user_id));
    let listed: Vec<UserId> = store.users(&account_id).await.unwrap().into_iter().map(|u| u.user_id).collect();
    assert_eq!(listed, [owner.user_id.clone(), dev.user_id.clone()]);
    store.update_user_role(&dev.user_id, Role::Admin).await.unwrap();
    assert_eq!(store.user(&dev.user_id).await.unwrap().unwrap().role, Role::Admin);

    let session = SessionRecord {
        token_hash: vec![9; 32],
        user_id: dev.user_id.clone(),
        created_at: now(),
        expires_at: now() + time::Duration::hours(1),
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(store.session_user(&session.token_hash, now()).await.unwrap().unwrap().user_id, dev.user_id);
    assert!(store.session_user(&session.token_hash, now() + time::Duration::hours(2)).await.unwrap().is_none());

    // A handoff is taken once, by its own session, before it expires; an expired one is
    // dropped by the purge, and every one goes with its session.
    let at = now();
    let handoff = |id: u8| HandoffRecord {
        id_hash: vec![id; 32],
        session_hash: session.token_hash.clone(),
        sealed: vec![id, id],
        expires_at: at + time::Duration::minutes(5),
    };
    store.insert_handoff(&handoff(1)).await.unwrap();
    store.insert_handoff(&handoff(2)).await.unwrap();
    assert_eq!(store.take_handoff(&[1; 32], &[8; 32], at).await.unwrap(), None, "another session's");
    assert_eq!(store.take_handoff(&[1; 32], &session.token_hash, at).await.unwrap(), Some(vec![1, 1]));
    assert_eq!(store.take_handoff(&[1; 32], &session.token_hash, at).await.unwrap(), None, "taken once");
    let later = at + time::Duration::minutes(6);
    assert_eq!(store.take_handoff(&[2; 32], &session.token_hash, later).await.unwrap(), None, "expired");
    assert_eq!(store.purge_expired_handoffs(later).await.unwrap(), 1, "the second, never taken");
    assert_eq!(store.take_handoff(&[2; 32], &session.token_hash, at).await.unwrap(), None, "dropped");
    store.insert_handoff(&handoff(3)).await.unwrap();
    store.delete_session(&session.token_hash).await.unwrap();
    assert_eq!(store.take_handoff(&[3; 32], &session.token_hash, at).await.unwrap(), None, "gone with the session");
    store.insert_session(&session).await.unwrap();

    // Ownership moves to another user of the account; the previous owner stays on as an admin.
    store.transfer_account_ownership(&account_id, &dev.user_id).await.unwrap();
    assert_eq!(store.account(&account_id).await.unwrap().unwrap().owner_user_id, dev.user_id);
    assert_eq!(store.user(&dev.user_id).await.unwrap().unwrap().role, Role::Owner);
    assert_eq!(store.user(&owner.user_id).await.unwrap().unwrap().role, Role::Admin);
    store.transfer_account_ownership(&account_id, &owner.user_id).await.unwrap();
    assert_eq!(store.user(&dev.user_id).await.unwrap().unwrap().role, Role::Admin);
    assert!(matches!(
        store.transfer_account_ownership(&account_id, &UserId::generate()).await,
        Err(StoreError::NotFound)
    ));
    store.update_user_role(&dev.user_id, Role::Developer).await.unwrap();
    // Whoever owns an account stays: their clients would have nobody to pass to.
    assert!(matches!(store.delete_user(&owner.user_id).await, Err(StoreError::Conflict(_))));
    assert!(store.user(&owner.user_id).await.unwrap().is_some());

    let owned = client(&account_id, &dev, "owned", ClientType::Standard);
    reported(store.insert_client(&owned, &secret(8)).await.unwrap(), &[Change::Client(owned.client_id.clone())]);
    let admin_client = client(&account_id, &dev, "owned admin", ClientType::Admin);
    reported(
        store.insert_client(&admin_client, &secret(9)).await.unwrap(),
        &[Change::Client(admin_client.client_id.clone())],
    );
    let (mut handed, mut changes) = store.delete_user(&dev.user_id).await.unwrap().into_parts();
    handed.sort();
    changes.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    let mut expected = vec![owned.client_id.clone(), admin_client.client_id.clone()];
    expected.sort();
    assert_eq!(handed, expected);
    assert_eq!(changes, expected.iter().cloned().map(Change::Client).collect::<Vec<_>>(), "each handed-over client");
    let kept = store.client(&owned.client_id).await.unwrap().unwrap();
    let owned_by = |client: &Client| (client.client_owner.clone(), client.client_owner_id.clone(), client.enabled);
    assert_eq!(owned_by(&kept), (owner.email.clone(), owner.user_id.clone(), true), "handed over");
    let admin_after = store.client(&admin_client.client_id).await.unwrap().unwrap();
    assert_eq!(
        owned_by(&admin_after),
        (owner.email.clone(), owner.user_id.clone(), false),
        "admin clients are disabled"
    );
    assert!(store.session_user(&session.token_hash, now()).await.unwrap().is_none(), "sessions go with the user");
    assert!(matches!(store.delete_user(&dev.user_id).await, Err(StoreError::NotFound)));
}

async fn audit_is_newest_first_and_filtered(store: &dyn Store) {
    let (account_id, _, admin) = bootstrap(store).await;
    for (index, target) in ["a", "b", "a"].into_iter().enumerate() {
        let event = AuditEvent {
            event_id: TokenId::generate().to_string(),
            account_id: account_id.clone(),
            actor_type: "client".to_owned(),
            actor_id: admin.client_id.to_string(),
            actor_email: None,
            action: format!("client.step{index}"),
            target_type: "client".to_owned(),
            target_id: target.to_owned(),
            outcome: Outcome::Success,
            reason: None,
            source_ip: Some("127.0.0.1".to_owned()),
            occurred_at: now(),
            details: serde_json::json!({"fields": ["name"]}),
        };
        store.record_audit_event(&event).await.unwrap();
    }
    let filter = AuditFilter { target_id: Some("a".to_owned()), actor_id: None };
    let (events, total) = store.audit_events(&account_id, &filter, PageRequest { size: 10, number: 1 }).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["client.step2", "client.step0"]);
    assert_eq!(events[0].details, serde_json::json!({"fields": ["name"]}));
    let (page, total) =
        store.audit_events(&account_id, &AuditFilter::default(), PageRequest { size: 1, number: 2 }).await.unwrap();
    assert_eq!((page[0].action.as_str(), total), ("client.step1", 3));
}

async fn profiles_round_trip(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "profiled", ClientType::Standard);
    reported(store.insert_client(&c, &secret(10)).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    let profile = |index: u8, method: AuthMethod| AccessProfile {
        profile_id: ProfileId::generate(),
        client_id: c.client_id.clone(),
        name: ClientName::parse(&format!("p{index}")).unwrap(),
        products: ["SuperSIM".to_owned()].into_iter().collect(),
        auth_method: method,
        allowed_ips: AllowedIps::default(),
        rate_limit: None,
        active: true,
        date_created: now(),
        date_updated: now(),
        version: 1,
        secret_generation: 1,
        last_use: None,
        policy: None,
        trust: None,
    };
    let key = profile(0, AuthMethod::ApiKey);
    let changed = |profile: &AccessProfile| [Change::Profile(profile.profile_id.clone())];
    reported(store.insert_profile(&key, &hash(20), 2).await.unwrap(), &changed(&key));
    let secret = profile(1, AuthMethod::ClientSecret);
    reported(store.insert_profile(&secret, &hash(21), 2).await.unwrap(), &changed(&secret));
    assert!(matches!(
        store.insert_profile(&profile(2, AuthMethod::ApiKey), &hash(22), 2).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.profiles(&c.client_id).await.unwrap(), vec![key.clone(), secret.clone()]);
    assert_eq!(store.profile_by_key_hash(&hash(20)).await.unwrap().unwrap(), key);
    assert!(store.profile_by_key_hash(&hash(21)).await.unwrap().is_none(), "a secret is no API key");
    assert_eq!(store.profile_with_secret(&secret.profile_id).await.unwrap().unwrap().1, hash(21));
    assert_eq!(store.profile_by_credential_hash(&hash(21)).await.unwrap().unwrap(), secret, "a secret, too");
    assert_eq!(store.profile_by_credential_hash(&hash(20)).await.unwrap().unwrap(), key);
    assert!(store.profile_by_credential_hash(&hash(99)).await.unwrap().is_none());

    let mut inactive = key.clone();
    inactive.active = false;
    let updated = reported(store.update_profile(&inactive, 1).await.unwrap(), &changed(&key));
    assert_eq!((updated.active, updated.version), (false, 2));
    assert!(matches!(store.update_profile(&inactive, 1).await, Err(StoreError::VersionMismatch)));
    let refreshed = reported(
        store.refresh_profile_credential(&key.profile_id, &hash(23), None, now()).await.unwrap(),
        &changed(&key),
    );
    assert_eq!(refreshed.secret_generation, 2);
    let stale = store.refresh_profile_credential(&key.profile_id, &hash(62), Some(&hash(20)), now()).await;
    assert!(matches!(stale, Err(StoreError::NotFound)), "the credential is no longer that one");
    assert_eq!(store.profile_by_credential_hash(&hash(23)).await.unwrap().unwrap().secret_generation, 2);
    assert!(store.profile_by_key_hash(&hash(20)).await.unwrap().is_none());

    // A profile's credential's uses are recorded as a client secret's are, latest first.
    let used = LastUse { at: now().replace_nanosecond(0).unwrap(), ip: "198.51.100.7".parse().unwrap() };
    let earlier = LastUse { at: used.at - time::Duration::seconds(1), ..used };
    for last_use in [used, earlier] {
        let uses = [CredentialUse { credential: UsedCredential::Profile(key.profile_id.clone()), last_use }];
        store.record_credential_uses(&uses).await.unwrap();
    }
    assert_eq!(store.profile(&key.profile_id).await.unwrap().unwrap().last_use, Some(used));

    // The cap counts per profile, apart from the client's own tokens.
    let start = now();
    for second in 0..10 {
        let at = start + time::Duration::seconds(second);
        reported(store.record_token(&token(&c, None, at), LiveTokenCap::default(), at).await.unwrap(), &[]);
        let written = store.record_token(&token(&c, Some(&secret), at), LiveTokenCap::default(), at).await.unwrap();
        assert_eq!(reported(written, &[]), recorded(vec![]));
    }

    // A profile reads its policy's limits with it; a change to the policy is a change to each
    // profile under it; a policy with profiles under it stays.
    let policy = Policy {
        policy_id: PolicyId::generate(),
        account_id: account_id.clone(),
        name: PolicyName::parse("Partners").unwrap(),
        description: Description::default(),
        rate_limit: Some(RateLimit { requests_per_second: 5, burst: 10 }),
        quota: Some(Quota { requests: 1000, period: QuotaPeriod::Day }),
        allowed_ips: AllowedIps::parse(&["10.0.0.0/8"]).unwrap(),
        version: 1,
        date_created: now(),
        date_updated: now(),
    };
    store.insert_policy(&policy).await.unwrap();
    let same_name = Policy { policy_id: PolicyId::generate(), ..policy.clone() };
    assert!(matches!(store.insert_policy(&same_name).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.policy(&policy.policy_id).await.unwrap().unwrap(), policy);
    assert_eq!(store.policies(&account_id).await.unwrap(), vec![policy.clone()]);
    let governed =
        AccessProfile { policy: Some(policy.limits()), ..store.profile(&secret.profile_id).await.unwrap().unwrap() };
    let governed = reported(store.update_profile(&governed, governed.version).await.unwrap(), &changed(&secret));
    assert_eq!(governed.policy, Some(policy.limits()));
    let mut loosened = policy.clone();
    loosened.rate_limit = None;
    loosened.allowed_ips = AllowedIps::default();
    reported(store.update_policy(&loosened, 1).await.unwrap(), &changed(&secret));
    assert!(matches!(store.update_policy(&loosened, 1).await, Err(StoreError::VersionMismatch)));
    assert_eq!(store.profile(&secret.profile_id).await.unwrap().unwrap().policy, Some(loosened.limits()));
    assert_eq!(store.policy(&policy.policy_id).await.unwrap().unwrap().version, 2);
    assert!(matches!(store.delete_policy(&policy.policy_id).await, Err(StoreError::Conflict(_))));
    let mut astray = governed.clone();
    astray.policy = Some(Policy { policy_id: PolicyId::generate(), ..policy.clone() }.limits());
    assert!(
        store.update_profile(&astray, astray.version).await.is_err(),
        "no profile under a policy that is not there"
    );
    let freed = AccessProfile { policy: None, ..governed.clone() };
    reported(store.update_profile(&freed, governed.version).await.unwrap(), &changed(&secret));
    reported(store.update_policy(&loosened, 2).await.unwrap(), &[]);
    store.delete_policy(&policy.policy_id).await.unwrap();
    assert!(matches!(store.delete_policy(&policy.policy_id).await, Err(StoreError::NotFound)));

    // Quota counts: per counter and period, never past the limit, purged once the period ends.
    let start = now();
    let end = start + time::Duration::MINUTE;
    for _ in 0..3 {
        assert!(store.take_quota_use("quota:a", start, end, 3).await.unwrap());
    }
    assert!(!store.take_quota_use("quota:a", start, end, 3).await.unwrap(), "used up");
    assert!(store.take_quota_use("quota:a", start, end, 4).await.unwrap(), "a raised quota has room again");
    assert!(!store.take_quota_use("quota:a", start, end, 4).await.unwrap(), "and the refusals were not counted");
    assert!(store.take_quota_use("quota:b", start, end, 1).await.unwrap(), "a counter of its own");
    assert!(store.take_quota_use("quota:a", end, end + time::Duration::MINUTE, 1).await.unwrap(), "a new period");
    assert_eq!(store.purge_quota_counts(end).await.unwrap(), 0, "nothing has ended before its end");
    assert_eq!(store.purge_quota_counts(end + time::Duration::SECOND).await.unwrap(), 2);
    assert!(store.take_quota_use("quota:b", start, end, 1).await.unwrap(), "purged");
    assert!(matches!(store.update_policy(&loosened, 3).await, Err(StoreError::NotFound)));

    reported(store.delete_profile(&secret.profile_id).await.unwrap(), &changed(&secret));
    assert!(store.profile(&secret.profile_id).await.unwrap().is_none());
    reported(store.delete_profile(&secret.profile_id).await.unwrap(), &[]);
    reported(store.delete_client(&c.client_id).await.unwrap(), &[Change::Client(c.client_id.clone())]);
    assert!(store.profile(&key.profile_id).await.unwrap().is_none(), "profiles go with their client");
}

async fn jwt_and_oidc_profiles_and_used_jtis(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let c = client(&account_id, &owner, "federated", ClientType::Standard);
    let _ = store.insert_client(&c, &secret(11)).await.unwrap();
    let profile_id = ProfileId::generate();
    let oidc = |audience: &str| {
        let trust = serde_json::json!({"issuer": "https://idp.example", "jwks_uri": "https://idp.example/keys",
            "audience": audience, "claims": {"repository": "acme/billing"}});
        ProfileTrust::parse_oidc(&trust, &profile_id, "https://gatehouse.example").unwrap()
    };
    let profile = AccessProfile {
        profile_id: profile_id.clone(),
        client_id: c.client_id.clone(),
        name: ClientName::parse("ci").unwrap(),
        products: ["SuperSIM".to_owned()].into_iter().collect(),
        auth_method: AuthMethod::Oidc,
        allowed_ips: AllowedIps::default(),
        rate_limit: None,
        active: true,
        date_created: now(),
        date_updated: now(),
        version: 1,
        secret_generation: 1,
        last_use: None,
        policy: None,
        trust: Some(oidc("billing")),
    };
    let _ = store.insert_profile(&profile, &hash(40), 10).await.unwrap();
    assert_eq!(store.profile(&profile_id).await.unwrap().unwrap(), profile, "the trust reads back as written");
    assert_eq!(store.profile_by_oidc("https://idp.example", "billing").await.unwrap().unwrap(), profile);
    assert!(store.profile_by_oidc("https://idp.example", "other").await.unwrap().is_none());
    let twin = AccessProfile { profile_id: ProfileId::generate(), ..profile.clone() };
    assert!(
        matches!(store.insert_profile(&twin, &hash(41), 10).await, Err(StoreError::Conflict(_))),
        "(issuer, audience) names one profile"
    );
    let moved = AccessProfile { trust: Some(oidc("payments")), secret_generation: 2, ..profile.clone() };
    let moved = store.update_profile(&moved, 1).await.unwrap().into_parts().0;
    assert_eq!((moved.secret_generation, moved.trust), (2, Some(oidc("payments"))));
    assert!(store.profile_by_oidc("https://idp.example", "billing").await.unwrap().is_none());
    let _ = store.insert_profile(&twin, &hash(41), 10).await.unwrap();

    let expires = now() + time::Duration::minutes(5);
    assert!(store.claim_jti("prf_a", "j1", expires).await.unwrap());
    assert!(!store.claim_jti("prf_a", "j1", expires).await.unwrap(), "once only");
    assert!(store.claim_jti("prf_b", "j1", expires).await.unwrap(), "per issuer");
    assert_eq!(store.purge_used_jtis(expires).await.unwrap(), 0);
    assert_eq!(store.purge_used_jtis(expires + time::Duration::SECOND).await.unwrap(), 2);
    assert!(store.claim_jti("prf_a", "j1", expires).await.unwrap(), "forgotten once expired");
}

async fn usage_counts_add_up_and_go_with_their_profile(store: &dyn Store) {
    use crate::usage::{Denial, UsageCount};
    let profile_id = ProfileId::generate();
    let day = time::macros::date!(2027 - 03 - 01);
    let count = |day: time::Date, denied: Option<Denial>, count: u64| UsageCount {
        profile_id: profile_id.clone(),
        day,
        product: "SuperSIM".to_owned(),
        denied,
        count,
    };
    let next = day.next_day().unwrap();
    store.add_usage(&[count(day, None, 2), count(day, Some(Denial::Quota), 1), count(next, None, 5)]).await.unwrap();
    store.add_usage(&[count(day, None, 3)]).await.unwrap();
    assert_eq!(
        store.usage(&profile_id, day, next).await.unwrap(),
        vec![count(day, None, 5), count(day, Some(Denial::Quota), 1), count(next, None, 5)],
        "added to, by day, product and outcome"
    );
    assert_eq!(store.usage(&profile_id, next, next).await.unwrap(), vec![count(next, None, 5)], "both ends included");
    assert_eq!(store.purge_usage(next).await.unwrap(), 2);
    let _ = store.delete_profile(&profile_id).await.unwrap();
    assert!(store.usage(&profile_id, day, next).await.unwrap().is_empty(), "gone with the profile");
}

async fn products_and_keys(store: &dyn Store) {
    let (account_id, owner, _) = bootstrap(store).await;
    let product = Product {
        name: "Billing".to_owned(),
        description: "d".to_owned(),
        path_prefixes: vec!["/billing/".to_owned()],
    };
    let catalogue = [Change::Catalogue(account_id.clone())];
    reported(store.insert_product(&account_id, &product).await.unwrap(), &catalogue);
    assert!(matches!(store.insert_product(&account_id, &product).await, Err(StoreError::Conflict(_))));
    let changed = Product { path_prefixes: vec!["/b/".to_owned()], ..product.clone() };
    reported(store.update_product(&account_id, &changed).await.unwrap(), &catalogue);
    assert!(store.products(&account_id).await.unwrap().contains(&changed));
    assert!(!store.product_in_use(&account_id, "Billing").await.unwrap());
    assert!(store.product_in_use(&account_id, "SuperSIM").await.unwrap(), "the bootstrap client holds it");
    let mut user = client(&account_id, &owner, "billing", ClientType::Standard);
    user.scopes.products = ["Billing".to_owned()].into_iter().collect();
    reported(store.insert_client(&user, &secret(30)).await.unwrap(), &[Change::Client(user.client_id.clone())]);
    assert!(store.product_in_use(&account_id, "Billing").await.unwrap());
    reported(store.delete_product(&account_id, "SuperSIM").await.unwrap(), &catalogue);
    reported(store.delete_product(&account_id, "SuperSIM").await.unwrap(), &[]);
    assert!(!store.products(&account_id).await.unwrap().iter().any(|p| p.name == "SuperSIM"));
    assert!(store.root_product_names().await.unwrap().contains(&"Billing".to_owned()));

    let key = StoredSigningKey {
        kid: format!("kid-{}", ClientId::generate()),
        sealed_private_key: vec![1, 2, 3],
        public_key: vec![4; 32],
        created_at: now(),
        activates_at: now() + time::Duration::seconds(10),
    };
    reported(store.insert_signing_key(&key).await.unwrap(), &[Change::Keys]);
    assert!(store.signing_keys().await.unwrap().contains(&key));
    reported(store.delete_signing_key(&key.kid).await.unwrap(), &[Change::Keys]);
    reported(store.delete_signing_key(&key.kid).await.unwrap(), &[]);
    assert!(!store.signing_keys().await.unwrap().contains(&key));
}
