//! People and governance (seed file 000): users and their roles, login sessions, child
//! accounts, and reading the audit log.

use std::net::IpAddr;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use aws_lc_rs::digest;
use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::account::{Account, Email, Product, Role, User, parse_account_name};
use crate::actor::{Actor, Principal};
use crate::audit::{AuditEvent, Outcome, RefusalSource, Target};
use crate::client::ClientType;
use crate::client::GlobalResource;
use crate::error::{AuthError, DomainError, ValidationError};
use crate::ids::{AccountId, UserId};
use crate::password_work::Busy;
use crate::random;
use crate::service::{AnonymousRefusal, Gatehouse, hash_password};
use crate::store::{AuditFilter, PageRequest, SessionRecord, StoreError};
use crate::throttle::network_of;

/// Prefix of session tokens: tells them apart from JWT access tokens at a glance.
pub const SESSION_PREFIX: &str = "gss_";
/// How long a login session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// A successful login.
pub struct LoginSession {
    pub token: String,
    pub expires_in: i64,
    pub user: User,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown email and wrong password alike.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many recent failures for this email from this address, or from this address.
    #[error("too many failed attempts; try again later")]
    Throttled { retry_after_seconds: i64 },
    /// Too many logins at once: 503, come back after `Busy::RETRY_AFTER_SECONDS`.
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A hash compared against when the email is unknown, so both failures cost the same Argon2id
/// work (seed rule: same answer for unknown email and wrong password, in time too).
fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random::random_token(18)).unwrap_or_default())
}

fn session_hash(token: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, token.as_bytes()).as_ref().to_vec()
}

/// Argon2id verification, on the bounded pool: it costs tens of milliseconds by design.
fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// A refused login that names no known user (an unknown email, or any email while throttled).
fn login_refusal<'a>(claimed: Option<&'a Email>, reason: &'a str, source: Option<IpAddr>) -> AnonymousRefusal<'a> {
    AnonymousRefusal {
        action: "user.login",
        claimed,
        target_type: "user",
        target_id: claimed.map_or("", Email::as_str),
        reason,
        source,
    }
}

/// A user to create.
pub struct NewUser {
    pub email: Email,
    pub role: Role,
    pub account_id: Option<AccountId>,
}

impl Gatehouse {
    /// `POST /v1/auth/login`: email and password for a session. Unknown email and wrong password
    /// are the same error after the same work; repeated failures for one email are throttled.
    ///
    /// Users of different accounts may share an email, so a login is to one account: `account`,
    /// or the installation's own (root) account. Never "wherever the email is": whoever made a
    /// user somewhere would learn, from whether its password signs in, whether the email exists
    /// elsewhere.
    #[instrument(skip_all)]
    pub async fn login(
        &self,
        email: &str,
        account: Option<&str>,
        password: String,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<LoginSession, LoginError> {
        // An account id that cannot be one names nobody, like an unknown email.
        let account = match account {
            Some(account) => Some(AccountId::from_string(account)).filter(AccountId::is_well_formed),
            None => self.root_account().await?,
        };
        // Failures count per (account, email, address) and per address, never per email alone,
        // so nobody can lock a person out from elsewhere; and an address's block spares the
        // people who signed in from it lately, so a guesser behind a shared address (a NAT)
        // does not lock out everyone else behind it. The account is in the key: a user of
        // another account with the same email (whose password their admin knows) signing in
        // must never clear or lift the count of guesses at this one's password.
        let network = source.map(network_of);
        let key = (account.clone(), email.trim().to_lowercase(), network);
        let address_blocked =
            self.login_address_throttle.blocked(network, now).filter(|_| !self.login_successes.knows(&key, now));
        let blocked = [self.login_throttle.blocked(&key, now), address_blocked];
        let claimed = Email::parse(email).ok();
        if let Some(retry_after_seconds) = blocked.into_iter().flatten().max() {
            self.record_anonymous_refusal(login_refusal(claimed.as_ref(), "too many failed attempts", source), now)
                .await;
            return Err(LoginError::Throttled { retry_after_seconds });
        }
        let found = match (&claimed, &account) {
            (Some(email), Some(account)) => self.store.user_for_login(account, email).await?,
            _ => None,
        };
        let (user, hash) = found.unzip();
        // The dummy hash too is made on the bounded pool, the first time it is needed.
        let verified = self
            .password_work
            .run(move || verify_password(&password, hash.as_deref().unwrap_or_else(|| dummy_password_hash())))
            .await?;
        let user = match user {
            Some(user) if verified => user,
            known => {
                self.login_throttle.failed(&key, now);
                self.login_address_throttle.failed(network, now);
                match known {
                    Some(user) => self.record_login(&user, source, Outcome::Denied, now).await,
                    None => {
                        let refusal = login_refusal(claimed.as_ref(), "invalid email or password", source);
                        self.record_anonymous_refusal(refusal, now).await;
                    }
                }
                return Err(LoginError::InvalidCredentials);
            }
        };
        self.login_throttle.succeeded(&key);
        self.login_successes.remember(&key, now);
        let token = format!("{SESSION_PREFIX}{}", random::random_token(32));
        self.store
            .insert_session(&SessionRecord {
                token_hash: session_hash(&token),
                user_id: user.user_id.clone(),
                created_at: now,
                expires_at: now + time::Duration::seconds(SESSION_SECONDS),
            })
            .await?;
        self.record_login(&user, source, Outcome::Success, now).await;
        Ok(LoginSession { token, expires_in: SESSION_SECONDS, user })
    }

    async fn record_login(&self, user: &User, source: Option<IpAddr>, outcome: Outcome, now: OffsetDateTime) {
        let event = AuditEvent {
            event_id: random::random_token(16),
            account_id: user.account_id.clone(),
            actor_type: "user".to_owned(),
            actor_id: user.user_id.to_string(),
            actor_email: Some(user.email.to_string()),
            action: "user.login".to_owned(),
            target_type: "user".to_owned(),
            target_id: user.user_id.to_string(),
            outcome,
            reason: (outcome != Outcome::Success).then(|| "invalid email or password".to_owned()),
            source_ip: source.map(|ip| ip.to_string()),
            occurred_at: now,
            details: json!({}),
        };
        // A refused login is charged to the user it tried, in whose account it is written.
        let budget = (outcome != Outcome::Success).then_some(RefusalSource::GuessedUser(user.user_id.as_str()));
        self.write_audit(&event, budget).await;
    }

    /// A session token to an actor.
    pub async fn authenticate_session(
        &self,
        token: &str,
        source: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Actor, AuthError> {
        let user = self.store.session_user(&session_hash(token), now).await?.ok_or(AuthError::InvalidToken)?;
        Ok(Actor {
            account_id: user.account_id,
            role: user.role,
            principal: Principal::User { user_id: user.user_id, email: user.email },
            source_ip: source,
            acting_from: None,
        })
    }

    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        self.store.delete_session(&session_hash(token)).await
    }

    pub async fn list_users(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        now: OffsetDateTime,
    ) -> Result<Vec<User>, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::Users)?;
            self.visible_account(actor, &account_id).await?;
            Ok(self.store.users(&account_id).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "user.list", &target, result, now).await
    }

    pub async fn get_user(&self, actor: &Actor, user_id: &UserId, now: OffsetDateTime) -> Result<User, DomainError> {
        let result = async {
            actor.require(GlobalResource::Users)?;
            self.visible_user(actor, user_id).await
        }
        .await;
        let target = Target { kind: "user", id: user_id.as_str(), account_id: None };
        self.audited_read(actor, "user.read", &target, result, now).await
    }

    /// Owners and admins create users, with a generated password shown once; only the owner
    /// grants `admin`, and nobody creates a second owner.
    #[instrument(skip_all)]
    pub async fn create_user(
        &self,
        actor: &Actor,
        new: NewUser,
        now: OffsetDateTime,
    ) -> Result<(User, String), DomainError> {
        let requested_account = new.account_id.clone();
        let email = new.email.to_string();
        let result = async {
            actor.require(GlobalResource::Users)?;
            let account_id = match new.account_id {
                Some(account_id) => self.visible_account(actor, &account_id).await?.account_id,
                None => actor.account_id.clone(),
            };
            match new.role {
                Role::Owner => {
                    return Err(ValidationError::new(
                        "role",
                        "an account has exactly one owner; transfer account ownership instead",
                    )
                    .into());
                }
                Role::Admin => actor.require_owner_in_person("grants the admin role")?,
                Role::Developer => {}
            }
            let user =
                User { user_id: UserId::generate(), account_id, email: new.email, role: new.role, date_created: now };
            let password = random::random_token(18);
            let hash = {
                let password = password.clone();
                self.password_work.run(move || hash_password(&password)).await.map_err(|_| DomainError::Busy)??
            };
            self.store.insert_user(&user, &hash).await.map_err(|error| match error {
                StoreError::Conflict(_) => {
                    DomainError::Conflict("a user with this email already exists in this account".to_owned())
                }
                other => other.into(),
            })?;
            tracing::info!(user_id = %user.user_id, "user created");
            Ok((user, password))
        }
        .await;
        let (id, account) = match &result {
            Ok((user, _)) => (user.user_id.to_string(), Some(user.account_id.clone())),
            Err(_) => (String::new(), requested_account),
        };
        let target = Target { kind: "user", id: &id, account_id: account.as_ref() };
        self.audit(actor, "user.create", &target, &result, json!({"email": email}), now).await;
        result
    }

    /// Changes a user's role. Only the owner grants or removes `admin`; the owner is never
    /// demoted this way.
    #[instrument(skip_all, fields(user_id = %user_id))]
    pub async fn update_user_role(
        &self,
        actor: &Actor,
        user_id: &UserId,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<User, DomainError> {
        let result = async {
            actor.require(GlobalResource::Users)?;
            let mut user = self.visible_user(actor, user_id).await?;
            if user.role == Role::Owner {
                return Err(DomainError::Forbidden(
                    "the account owner cannot be demoted; transfer account ownership instead".to_owned(),
                ));
            }
            if role == Role::Owner {
                return Err(ValidationError::new("role", "an account has exactly one owner").into());
            }
            if role == Role::Admin || user.role == Role::Admin {
                actor.require_owner_in_person("grants or removes the admin role")?;
            }
            self.store.update_user_role(user_id, role).await?;
            user.role = role;
            Ok(user)
        }
        .await;
        let account = result.as_ref().ok().map(|user| user.account_id.clone());
        let target = Target { kind: "user", id: user_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "user.update_role", &target, &result, json!({"role": role.as_str()}), now).await;
        result
    }

    /// Removes a user; the clients they own pass to the account owner.
    #[instrument(skip_all, fields(user_id = %user_id))]
    pub async fn delete_user(&self, actor: &Actor, user_id: &UserId, now: OffsetDateTime) -> Result<(), DomainError> {
        let result = async {
            actor.require(GlobalResource::Users)?;
            let user = self.visible_user(actor, user_id).await?;
            let owner_refusal = || {
                DomainError::Forbidden(
                    "the account owner cannot be removed; transfer account ownership first".to_owned(),
                )
            };
            if user.role == Role::Owner {
                return Err(owner_refusal());
            }
            if user.role == Role::Admin {
                actor.require_owner_in_person("removes an admin")?;
            }
            // An owner who handed their own account on still owns the child accounts they made:
            // the store refuses, in the same transaction, to remove anyone who owns an account.
            let written = match self.store.delete_user(user_id).await {
                Err(StoreError::Conflict(_)) => return Err(owner_refusal()),
                other => other?,
            };
            for client_id in self.settle(written, now).await {
                // The removed user may hold an admin client's secret: it must not outlive them.
                let handed_over = self.store.client(&client_id).await?;
                if handed_over.is_some_and(|client| client.client_type == ClientType::Admin) {
                    self.rekey_for_new_owner(&client_id, now).await?;
                }
            }
            tracing::info!("user removed");
            Ok(user.account_id)
        }
        .await;
        let account = result.as_ref().ok().cloned();
        let target = Target { kind: "user", id: user_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "user.delete", &target, &result, json!({}), now).await;
        result.map(|_| ())
    }

    /// Hands the account to another of its users, who becomes its one owner; the previous owner
    /// stays on as an admin. Only the owner, in person, may do this: it is how the owner is ever
    /// demoted.
    #[instrument(skip_all)]
    pub async fn transfer_account_ownership(
        &self,
        actor: &Actor,
        account_id: &AccountId,
        new_owner: &Email,
        now: OffsetDateTime,
    ) -> Result<User, DomainError> {
        let result = async {
            let account = self.visible_account(actor, account_id).await?;
            let is_owner =
                matches!(&actor.principal, Principal::User { user_id, .. } if *user_id == account.owner_user_id);
            if !is_owner {
                return Err(DomainError::Forbidden(
                    "only the account owner, in person, transfers the account".to_owned(),
                ));
            }
            let Some(user) = self.store.user_by_email(&account.account_id, new_owner).await? else {
                return Err(ValidationError::new("email", "must be a user of the account").into());
            };
            if user.user_id == account.owner_user_id {
                return Err(ValidationError::new("email", "already owns the account").into());
            }
            // A user made in a child account with the email of its owner or of an admin above
            // (by an admin who knows its password) is never handed the account in their name.
            if self.email_acts_from_above(&account.account_id, new_owner).await? {
                return Err(ValidationError::new(
                    "email",
                    "an owner or admin of a parent account has this email too; remove this account's user with it first",
                )
                .into());
            }
            self.store.transfer_account_ownership(&account.account_id, &user.user_id).await?;
            Ok(User { role: Role::Owner, ..user })
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: Some(account_id) };
        self.audit(actor, "account.transfer_ownership", &target, &result, json!({"email": new_owner.as_str()}), now)
            .await;
        result
    }

    async fn visible_user(&self, actor: &Actor, user_id: &UserId) -> Result<User, DomainError> {
        if !user_id.is_well_formed() {
            return Err(DomainError::NotFound("user"));
        }
        let user = self.store.user(user_id).await?.ok_or(DomainError::NotFound("user"))?;
        self.visible_account(actor, &user.account_id).await.map_err(|_| DomainError::NotFound("user"))?;
        Ok(user)
    }

    /// The caller's account and its children.
    pub async fn list_accounts(&self, actor: &Actor, now: OffsetDateTime) -> Result<Vec<Account>, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let own = self.visible_account(actor, &actor.account_id).await?;
            let mut accounts = vec![own];
            if actor.role.is_owner_or_admin() {
                accounts.extend(self.store.child_accounts(&actor.account_id).await?);
            }
            Ok(accounts)
        }
        .await;
        let target = Target { kind: "account", id: actor.account_id.as_str(), account_id: None };
        self.audited_read(actor, "account.list", &target, result, now).await
    }

    /// The actor acting in `account_id` rather than its own account, as the portal's account
    /// switcher asks (seed 000: owners and admins "switch to the account"). The account must be
    /// one it sees (its own, or for owners and admins one below it); the role stays its own,
    /// as it is over every account below; the accounts above drop out of sight; and refusals
    /// are still recorded in its own account.
    pub async fn acting_in(&self, actor: &Actor, account_id: &AccountId) -> Result<(Actor, Account), DomainError> {
        let account = self.visible_account(actor, account_id).await?;
        let acting_from = (account.account_id != actor.account_id).then(|| actor.account_id.clone());
        let acting = Actor { account_id: account.account_id.clone(), acting_from, ..actor.clone() };
        Ok((acting, account))
    }

    /// A child account of the caller's account, created by its owner, who owns the child too.
    #[instrument(skip_all)]
    pub async fn create_account(&self, actor: &Actor, name: &str, now: OffsetDateTime) -> Result<Account, DomainError> {
        let result = async {
            let Principal::User { user_id, .. } = &actor.principal else {
                return Err(DomainError::Forbidden("accounts are created by the account owner in person".to_owned()));
            };
            if actor.role != Role::Owner {
                return Err(DomainError::Forbidden("only the account owner creates child accounts".to_owned()));
            }
            let account = Account {
                account_id: AccountId::generate(),
                name: parse_account_name(name)?,
                parent_account_id: Some(actor.account_id.clone()),
                owner_user_id: user_id.clone(),
                date_created: now,
            };
            let written = self.store.insert_account(&account, &Product::defaults()).await?;
            self.settle(written, now).await;
            tracing::info!(account_id = %account.account_id, "child account created");
            Ok(account)
        }
        .await;
        let (id, account) = match &result {
            Ok(account) => (account.account_id.to_string(), Some(account.account_id.clone())),
            Err(_) => (String::new(), None),
        };
        let target = Target { kind: "account", id: &id, account_id: account.as_ref() };
        self.audit(actor, "account.create", &target, &result, json!({}), now).await;
        result
    }

    /// `GET /v1/audit-events`: newest first, for holders of the `audit` resource (owners and
    /// admins in person).
    pub async fn audit_events(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        filter: &AuditFilter,
        page: PageRequest,
        now: OffsetDateTime,
    ) -> Result<(Vec<AuditEvent>, u64), DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::Audit)?;
            self.visible_account(actor, &account_id).await?;
            Ok(self.store.audit_events(&account_id, filter, page).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "audit.list", &target, result, now).await
    }
}
