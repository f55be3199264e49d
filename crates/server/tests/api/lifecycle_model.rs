//! The client lifecycle against a model. Random sequences of create, token, disable, enable, lock,
//! unlock, renew, transfer, delete, revoke and role changes run against the real domain and store;
//! after every step the answer (done, or refused) and which credentials and tokens work must be
//! what a small model of the seed's rules says. Tokens are checked on both paths that accept them:
//! `/v1` (the store) and the gateway check (memory).
//!
//! Each sequence runs in a fresh root account of its own, with four people: the owner, an admin
//! and two developers. Every change is made either by a person, signed in, or by an admin
//! client (holding `api_clients`) through its latest working token, acting with its owner's
//! current role narrowed by the rules for API clients. `PROPTEST_CASES` sets how many
//! sequences run (2,000 by default; 500 on PostgreSQL).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, Ordering};

use gatehouse_domain::account::{Email, Role};
use gatehouse_domain::actor::{Actor, Principal};
use gatehouse_domain::client::{ClientName, ClientType, Description, GlobalResource};
use gatehouse_domain::clients::{ClientPatch, NewClient, RequestedScopes};
use gatehouse_domain::error::DomainError;
use gatehouse_domain::gate::CheckRequest;
use gatehouse_domain::ids::{AccountId, ClientId, CredentialId, UserId};
use gatehouse_domain::oauth::{PresentedCredentials, Proof};
use gatehouse_domain::secret::ClientSecret;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use time::OffsetDateTime;

use crate::test_app::TestApp;

const PEOPLE: usize = 4;
const OWNER: usize = 0;
/// `by` in an operation: 0..PEOPLE is a person; from PEOPLE on, a client (taken modulo the
/// clients made so far), acting through its latest working token.
const ACTORS: usize = PEOPLE + 4;
/// At most this many tokens are minted per client, below the live-token cap, which is tested
/// on its own elsewhere.
const TOKENS_PER_CLIENT: usize = 6;

#[derive(Clone, Debug)]
enum Op {
    Create {
        by: usize,
        admin: bool,
        locked: bool,
    },
    Token {
        client: usize,
    },
    Disable {
        by: usize,
        client: usize,
    },
    Enable {
        by: usize,
        client: usize,
    },
    Lock {
        by: usize,
        client: usize,
    },
    Unlock {
        by: usize,
        client: usize,
    },
    Renew {
        by: usize,
        client: usize,
    },
    Transfer {
        by: usize,
        client: usize,
        to: usize,
    },
    Delete {
        by: usize,
        client: usize,
    },
    Revoke {
        client: usize,
        token: usize,
    },
    /// The owner, in person, makes person 1..=3 an admin or a developer.
    SetRole {
        person: usize,
        admin: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let person = 0..PEOPLE;
    let actor = 0..ACTORS;
    let client = 0..8usize;
    prop_oneof![
        2 => (actor.clone(), any::<bool>(), any::<bool>()).prop_map(|(by, admin, locked)| Op::Create { by, admin, locked }),
        3 => client.clone().prop_map(|client| Op::Token { client }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Disable { by, client }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Enable { by, client }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Lock { by, client }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Unlock { by, client }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Renew { by, client }),
        1 => (actor.clone(), client.clone(), person.clone()).prop_map(|(by, client, to)| Op::Transfer { by, client, to }),
        1 => (actor.clone(), client.clone()).prop_map(|(by, client)| Op::Delete { by, client }),
        1 => (client.clone(), 0..TOKENS_PER_CLIENT).prop_map(|(client, token)| Op::Revoke { client, token }),
        1 => (1..PEOPLE, any::<bool>()).prop_map(|(person, admin)| Op::SetRole { person, admin }),
    ]
}

#[derive(Clone, Debug)]
struct Person {
    user_id: UserId,
    email: Email,
    role: Role,
}

impl Person {
    fn owner_or_admin(&self) -> bool {
        matches!(self.role, Role::Owner | Role::Admin)
    }
}

#[derive(Debug)]
struct Token {
    value: String,
    generation: u32,
    revoked: bool,
}

/// What the model knows of one client.
#[derive(Debug)]
struct ModelClient {
    id: ClientId,
    exists: bool,
    admin: bool,
    owner: usize,
    locked: bool,
    enabled: bool,
    /// Bumped by every new secret: tokens of an earlier generation are refused.
    generation: u32,
    /// The secret that works, if anyone holds it (an admin client handed to someone else gets
    /// one that nobody holds).
    secret: Option<String>,
    /// Every earlier secret: none of them may work.
    old_secrets: Vec<String>,
    tokens: Vec<Token>,
}

impl ModelClient {
    fn credentials_work(&self) -> bool {
        self.exists && self.enabled && self.secret.is_some()
    }

    fn token_works(&self, token: &Token) -> bool {
        self.exists && self.enabled && !token.revoked && token.generation == self.generation
    }

    fn new_secret(&mut self, secret: Option<String>) {
        self.old_secrets.extend(self.secret.take());
        self.secret = secret;
        self.generation += 1;
    }
}

/// Who makes a change, as the model sees them.
#[derive(Clone, Copy, Debug)]
struct Who {
    /// The person whose role applies and by whom ownership is judged: the person acting, or
    /// the acting client's owner.
    person: usize,
    /// An API client acting through a token.
    client: bool,
}

/// Seed rule 3 and the admin-client rule (`Actor::may_change`): a locked client is changed by
/// owners, admins and its owner; an admin client only by owners and admins in person.
fn may_change(people: &[Person], who: Who, client: &ModelClient) -> bool {
    let role_ok = people[who.person].owner_or_admin();
    let unlocked_for = !client.locked || role_ok || who.person == client.owner;
    let admin_ok = !client.admin || (role_ok && !who.client);
    unlocked_for && admin_ok
}

struct Sequence<'a> {
    app: &'a TestApp,
    account_id: AccountId,
    people: Vec<Person>,
    clients: Vec<ModelClient>,
    now: OffsetDateTime,
}

fn person_of(actor: &Actor) -> Person {
    let Principal::User { user_id, email } = &actor.principal else { unreachable!("people only") };
    Person { user_id: user_id.clone(), email: email.clone(), role: actor.role }
}

/// A fresh source address for every client authentication, so that the failure throttle,
/// tested on its own elsewhere, never blocks a check the model expects to pass.
fn next_address() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// A refusal must be one of the rules' (403, 404, 400), never the store failing or a conflict.
fn expect_outcome<T>(result: &Result<T, DomainError>, allowed: bool, op: &Op) -> Result<(), TestCaseError> {
    match result {
        Ok(_) if allowed => Ok(()),
        Ok(_) => Err(TestCaseError::fail(format!("{op:?} was done; the model refuses it"))),
        Err(error) if allowed => Err(TestCaseError::fail(format!("{op:?} was refused ({error}); the model allows it"))),
        Err(
            DomainError::Forbidden(_) | DomainError::Locked | DomainError::NotFound(_) | DomainError::Validation(_),
        ) => Ok(()),
        Err(error) => Err(TestCaseError::fail(format!("{op:?} failed with {error}"))),
    }
}

impl<'a> Sequence<'a> {
    async fn start(app: &'a TestApp, case: u32) -> Sequence<'a> {
        let owner = app.add_account(&format!("owner-{case}@model.example")).await;
        let mut people = vec![person_of(&owner)];
        for (index, role) in [Role::Admin, Role::Developer, Role::Developer].into_iter().enumerate() {
            let email = format!("person{}-{case}@model.example", index + 1);
            let actor = app.add_user_to(owner.account_id.as_str(), &email, role).await;
            people.push(person_of(&actor));
        }
        Sequence { app, account_id: owner.account_id, people, clients: Vec::new(), now: OffsetDateTime::now_utc() }
    }

    fn actor(&self, person: usize) -> Actor {
        let person = &self.people[person];
        Actor {
            account_id: self.account_id.clone(),
            role: person.role,
            principal: Principal::User { user_id: person.user_id.clone(), email: person.email.clone() },
            source_ip: None,
            acting_from: None,
        }
    }

    /// The actor `by` names, as the server authenticates it, and who the model says it is; or
    /// nothing when `by` is a client with no working token (nobody holds one, so nobody acts).
    async fn acting(&self, by: usize) -> Result<Option<(Actor, Who)>, TestCaseError> {
        if by < PEOPLE {
            return Ok(Some((self.actor(by), Who { person: by, client: false })));
        }
        let Some(index) = self.pick(by - PEOPLE) else { return Ok(None) };
        let model = &self.clients[index];
        let Some(token) = model.tokens.iter().rev().find(|token| model.token_works(token)) else { return Ok(None) };
        let actor = self.app.gatehouse.authenticate_access_token(&token.value, None, self.now).await;
        let actor = actor.map_err(|error| TestCaseError::fail(format!("a working token was refused: {error}")))?;
        prop_assert_eq!(actor.role, self.people[model.owner].role, "a client acts with its owner's role");
        Ok(Some((actor, Who { person: model.owner, client: true })))
    }

    /// Only admin clients hold `api_clients`, the resource every change to a client needs.
    fn holds_api_clients(&self, by: usize) -> bool {
        by < PEOPLE || self.pick(by - PEOPLE).is_some_and(|index| self.clients[index].admin)
    }

    fn pick(&self, client: usize) -> Option<usize> {
        (!self.clients.is_empty()).then(|| client % self.clients.len())
    }

    async fn authenticates(&self, client: &ModelClient, secret: &str) -> bool {
        let credentials = PresentedCredentials {
            id: CredentialId::parse(client.id.as_str()).expect("a client id"),
            proof: Proof::Secret(ClientSecret::from_presented(secret.to_owned())),
        };
        self.app.gatehouse.authenticate_client(&credentials, next_address(), self.now).await.is_ok()
    }

    async fn patch(&mut self, op: &Op, by: usize, client: usize, patch: ClientPatch) -> Result<(), TestCaseError> {
        let Some(index) = self.pick(client) else { return Ok(()) };
        let Some((actor, who)) = self.acting(by).await? else { return Ok(()) };
        let model = &self.clients[index];
        let allowed = self.holds_api_clients(by) && model.exists && may_change(&self.people, who, model);
        // The model follows the operation, never the server's answer, so that an answer that
        // ignored the change is caught here and by the checks of secrets and tokens.
        let (enabled, locked) = (patch.enabled, patch.locked.map(|locked| locked == Some(true)));
        let result = self.app.gatehouse.update_client(&actor, &model.id, patch, None, self.now).await;
        expect_outcome(&result, allowed, op)?;
        if let Ok(updated) = result {
            let model = &mut self.clients[index];
            model.enabled = enabled.unwrap_or(model.enabled);
            model.locked = locked.unwrap_or(model.locked);
            prop_assert_eq!(updated.enabled, model.enabled, "{:?}", op);
            prop_assert_eq!(updated.locked == Some(true), model.locked, "{:?}", op);
        }
        self.verify(index).await
    }

    async fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.now += time::Duration::seconds(1);
        let gatehouse = self.app.gatehouse.clone();
        match *op {
            Op::Create { by, admin, locked } => {
                let Some((actor, who)) = self.acting(by).await? else { return Ok(()) };
                // Owners and admins, in person, create admin clients; an API client only
                // standard ones.
                let allowed =
                    self.holds_api_clients(by) && (!admin || (self.people[who.person].owner_or_admin() && !who.client));
                let new = NewClient {
                    account_id: None,
                    name: ClientName::parse("modelled").expect("a name"),
                    description: Description::default(),
                    locked: locked.then_some(true),
                    client_type: Some(if admin { ClientType::Admin } else { ClientType::Standard }),
                    scopes: RequestedScopes {
                        global_resources: if admin { vec![GlobalResource::ApiClients] } else { vec![] },
                        products: vec!["SuperSIM".to_owned()],
                    },
                    token_expiry: None,
                    allowed_ips: Default::default(),
                    rate_limit: None,
                    secret_expires_at: None,
                    project_id: None,
                };
                let result = gatehouse.create_client(&actor, new, self.now).await;
                expect_outcome(&result, allowed, op)?;
                if let Ok((client, secret)) = result {
                    // Seed rule 2: the creator owns it; what a client creates, its owner owns.
                    self.clients.push(ModelClient {
                        id: client.client_id,
                        exists: true,
                        admin,
                        owner: who.person,
                        locked,
                        enabled: true,
                        generation: 0,
                        secret: Some(secret.expose().to_owned()),
                        old_secrets: Vec::new(),
                        tokens: Vec::new(),
                    });
                    self.verify(self.clients.len() - 1).await?;
                }
                Ok(())
            }
            Op::Token { client } => {
                let Some(index) = self.pick(client) else { return Ok(()) };
                let model = &self.clients[index];
                // What its holder would present: the current secret, or the last one they had.
                let presented = model.secret.clone().or_else(|| model.old_secrets.last().cloned());
                let (Some(secret), true) = (presented, model.tokens.len() < TOKENS_PER_CLIENT) else { return Ok(()) };
                let credentials = PresentedCredentials {
                    id: CredentialId::parse(model.id.as_str()).expect("a client id"),
                    proof: Proof::Secret(ClientSecret::from_presented(secret)),
                };
                let result = gatehouse.issue_token(credentials, None, next_address(), self.now).await;
                prop_assert_eq!(result.is_ok(), model.credentials_work(), "{:?}: {:?}", op, model);
                if let Ok(issued) = result {
                    let generation = model.generation;
                    self.clients[index].tokens.push(Token { value: issued.access_token, generation, revoked: false });
                }
                self.verify(index).await
            }
            Op::Disable { by, client } => {
                self.patch(op, by, client, ClientPatch { enabled: Some(false), ..Default::default() }).await
            }
            Op::Enable { by, client } => {
                self.patch(op, by, client, ClientPatch { enabled: Some(true), ..Default::default() }).await
            }
            Op::Lock { by, client } => {
                self.patch(op, by, client, ClientPatch { locked: Some(Some(true)), ..Default::default() }).await
            }
            Op::Unlock { by, client } => {
                self.patch(op, by, client, ClientPatch { locked: Some(Some(false)), ..Default::default() }).await
            }
            Op::Renew { by, client } => {
                let Some(index) = self.pick(client) else { return Ok(()) };
                let Some((actor, who)) = self.acting(by).await? else { return Ok(()) };
                let model = &self.clients[index];
                // An admin client's key: only its owner or the account owner, in person.
                let in_person = !who.client && (who.person == OWNER || who.person == model.owner);
                let allowed = self.holds_api_clients(by)
                    && model.exists
                    && may_change(&self.people, who, model)
                    && (!model.admin || in_person);
                let result = gatehouse.renew_key(&actor, &model.id, self.now).await;
                expect_outcome(&result, allowed, op)?;
                if let Ok((_, secret)) = result {
                    self.clients[index].new_secret(Some(secret.expose().to_owned()));
                }
                self.verify(index).await
            }
            Op::Transfer { by, client, to } => {
                let Some(index) = self.pick(client) else { return Ok(()) };
                let Some((actor, who)) = self.acting(by).await? else { return Ok(()) };
                let model = &self.clients[index];
                // Seed rule 9: an admin client only to an owner or admin.
                let allowed = self.holds_api_clients(by)
                    && model.exists
                    && may_change(&self.people, who, model)
                    && (!model.admin || self.people[to].owner_or_admin());
                let result = gatehouse.transfer_ownership(&actor, &model.id, &self.people[to].email, self.now).await;
                expect_outcome(&result, allowed, op)?;
                if result.is_ok() {
                    let model = &mut self.clients[index];
                    // Handed to someone else, an admin client's secret is one nobody holds.
                    let to_whoever_acts = !who.client && to == who.person;
                    if model.admin && !to_whoever_acts {
                        model.new_secret(None);
                    }
                    model.owner = to;
                }
                self.verify(index).await
            }
            Op::Delete { by, client } => {
                let Some(index) = self.pick(client) else { return Ok(()) };
                let Some((actor, who)) = self.acting(by).await? else { return Ok(()) };
                let model = &self.clients[index];
                let allowed = self.holds_api_clients(by) && model.exists && may_change(&self.people, who, model);
                let result = gatehouse.delete_client(&actor, &model.id, self.now).await;
                expect_outcome(&result, allowed, op)?;
                if result.is_ok() {
                    self.clients[index].exists = false;
                }
                self.verify(index).await
            }
            Op::Revoke { client, token } => {
                let Some(index) = self.pick(client) else { return Ok(()) };
                let model = &self.clients[index];
                let (Some(secret), Some(held)) = (model.secret.clone(), model.tokens.get(token)) else { return Ok(()) };
                let credentials = PresentedCredentials {
                    id: CredentialId::parse(model.id.as_str()).expect("a client id"),
                    proof: Proof::Secret(ClientSecret::from_presented(secret)),
                };
                let caller = gatehouse.authenticate_client(&credentials, next_address(), self.now).await;
                prop_assert_eq!(caller.is_ok(), model.credentials_work(), "{:?}", op);
                if let Ok(caller) = caller {
                    let revoked = gatehouse.revoke(&caller, &held.value, self.now).await;
                    prop_assert!(revoked.is_ok(), "{:?}: {:?}", op, revoked.err());
                    self.clients[index].tokens[token].revoked = true;
                }
                self.verify(index).await
            }
            Op::SetRole { person, admin } => {
                let role = if admin { Role::Admin } else { Role::Developer };
                let user_id = self.people[person].user_id.clone();
                let result = gatehouse.update_user_role(&self.actor(OWNER), &user_id, role, self.now).await;
                expect_outcome(&result, true, op)?;
                self.people[person].role = role;
                Ok(())
            }
        }
    }

    /// Which of the client's secrets and tokens work, against the model.
    async fn verify(&self, index: usize) -> Result<(), TestCaseError> {
        let model = &self.clients[index];
        if let Some(secret) = &model.secret {
            prop_assert_eq!(self.authenticates(model, secret).await, model.credentials_work(), "{:?}", model);
        }
        for old in &model.old_secrets {
            prop_assert!(!self.authenticates(model, old).await, "a replaced secret still works: {:?}", model);
        }
        let gatehouse = &self.app.gatehouse;
        for token in &model.tokens {
            let expected = model.token_works(token);
            let by_store = gatehouse.authenticate_access_token(&token.value, None, self.now).await.is_ok();
            prop_assert_eq!(by_store, expected, "a token at /v1: {:?}", model);
            let request = CheckRequest {
                credential: &token.value,
                named_product: Some("SuperSIM"),
                path: None,
                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let by_gate = gatehouse.check(request, self.now).await.is_ok();
            prop_assert_eq!(by_gate, expected, "a token at the gateway check: {:?}", model);
        }
        Ok(())
    }
}

#[test]
fn the_client_lifecycle_follows_the_model() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    // PostgreSQL writes cost several times SQLite's: fewer sequences there, the same rules.
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let default_cases = if on_postgres { 500 } else { 2000 };
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(default_cases);
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let case = AtomicU32::new(0);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 1..24), |ops| {
        runtime.block_on(async {
            let mut sequence = Sequence::start(&app, case.fetch_add(1, Ordering::Relaxed)).await;
            for op in &ops {
                sequence.apply(op).await?;
            }
            // At the end, every client again: a step must not have changed one it did not touch.
            for index in 0..sequence.clients.len() {
                sequence.verify(index).await?;
            }
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
