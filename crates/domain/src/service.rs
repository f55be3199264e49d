//! Gatehouse's operations: each one authorises its actor, applies the seed's rules and calls the
//! store. Handlers call these and nothing else.

use std::sync::Arc;

use arc_swap::ArcSwap;

use argon2::password_hash::{PasswordHasher, SaltString};
use time::OffsetDateTime;
use tracing::instrument;

use crate::account::{Account, Email, Product, Role, User};
use crate::actor::Actor;
use crate::audit::{Admission, AuditEvent, Outcome, RefusalBudget, RefusalSource, Target};
use crate::client::{AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, Scopes, TokenExpiry};
use crate::error::{DomainError, InternalError};
use crate::ids::{AccountId, ClientId, UserId};
use crate::master_key::MasterKey;
use crate::random;
use crate::secret::{ClientSecret, SecretHasher};
use crate::store::{Bootstrap, Change, LiveTokenCap, Store, StoreError, Written};
use crate::token::{KeyError, KeyRing, generate_signing_key};

/// Settings the domain needs from configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `iss` of every token; byte-identical to the configured issuer URL.
    pub issuer: String,
    /// Allowed clock skew for `exp` and `iat`: always explicit, never a library's default
    /// (5 s unless configured).
    pub leeway_seconds: i64,
    /// What minting beyond the live-token cap does (seed rule 11).
    pub token_cap: LiveTokenCap,
}

/// What `init` prints once.
pub struct BootstrapCredentials {
    pub account_id: AccountId,
    pub owner_email: Email,
    pub owner_password: String,
    pub client_id: ClientId,
    pub client_secret: ClientSecret,
}

pub struct Gatehouse {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) hasher: SecretHasher,
    pub(crate) master_key: MasterKey,
    /// Swapped whole when keys are reloaded; readers never wait.
    pub(crate) keys: ArcSwap<KeyRing>,
    pub(crate) settings: Settings,
    /// Failed logins per (email, source address): a person is never locked out by failures
    /// from somewhere else.
    pub(crate) login_throttle: crate::throttle::FailureThrottle,
    /// Failed logins per source address, whatever the email: one address guessing at many
    /// people is slowed too.
    pub(crate) login_address_throttle: crate::throttle::FailureThrottle,
    /// People who signed in recently, and from where: an address's block does not apply to them.
    pub(crate) login_successes: crate::throttle::RecentSuccesses,
    /// Argon2id hashing and verification, a few at a time.
    pub(crate) password_work: crate::password_work::PasswordWork,
    /// Failed client authentications per (client id, source address) at the OAuth endpoints.
    pub(crate) client_throttle: crate::throttle::FailureThrottle,
    /// Shared with the token ledger, which applies the cap's evictions before it answers.
    pub(crate) gate: Arc<crate::gate::Gate>,
    pub(crate) limiter: Arc<dyn crate::ratelimit::RateLimiter>,
    /// Quota counts, shared by every instance: the store's by default, Redis's when configured.
    pub(crate) quotas: Arc<dyn crate::quota::QuotaCounter>,
    /// Quotas this instance found used up, refused from memory until their period ends.
    pub(crate) quota_used_up: crate::quota::UsedUp,
    /// Records minted tokens under the live-token cap, many per transaction.
    pub(crate) ledger: crate::token_ledger::TokenLedger,
    /// How many refusals each source writes to the audit log per minute.
    refusal_budget: RefusalBudget,
    /// Reports of leaked credentials waiting or being worked on.
    pub(crate) leak_reports: crate::leaked::LeakReports,
    /// Credentials used since the last batch of uses was written.
    pub(crate) credential_uses: crate::credential_use::CredentialUses,
    /// Identity providers' keys, for `oidc` profiles.
    pub(crate) jwks: crate::jwks::JwksCache,
    /// [`crate::oauth::token_endpoint`] of the issuer, made once.
    pub(crate) token_endpoint: String,
    /// Single-use JWTs accepted here, so a replay to this instance is refused from memory.
    pub(crate) jti_memory: crate::federation::JtiMemory,
    pub(crate) oidc_profiles: crate::federation::OidcProfiles,
    /// The gateway check's decisions per profile, day and product, since the last batch.
    pub(crate) usage: crate::usage::UsageCounts,
    root_account: std::sync::OnceLock<AccountId>,
}

/// A refusal with no known actor; see `Gatehouse::record_anonymous_refusal`.
pub struct AnonymousRefusal<'a> {
    /// For example `user.login` or `api.authenticate`.
    pub action: &'static str,
    /// The email a login claimed, if it was a well-formed one (never free text, which could be
    /// a password typed into the wrong field).
    pub claimed: Option<&'a Email>,
    pub target_type: &'static str,
    pub target_id: &'a str,
    pub reason: &'a str,
    pub source: Option<std::net::IpAddr>,
}

/// The outcome of a key rotation.
#[derive(Clone, Debug)]
pub struct RotatedKey {
    pub kid: String,
    pub activates_at: OffsetDateTime,
    /// Keys deleted because no valid token can carry them any more.
    pub retired: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Gatehouse {
    /// Loads the signing keys, generating and persisting the first one on a new database.
    pub async fn start(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        settings: Settings,
        now: OffsetDateTime,
    ) -> Result<Self, StartError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let key = generate_signing_key(&master_key, now, now)?;
            // Nothing in memory follows the store yet: the keys are read just below.
            let (_, _) = store.insert_signing_key(&key).await?.into_parts();
            stored = store.signing_keys().await?;
            tracing::info!(kid = %key.kid, "generated the first signing key");
        }
        let keys = KeyRing::load(&master_key, &stored, settings.issuer.clone(), settings.leeway_seconds, now)?;
        let gate = Arc::new(crate::gate::Gate::default());
        let quotas = Arc::new(crate::quota::StoreQuotas(store.clone()));
        let token_endpoint = crate::oauth::token_endpoint(&settings.issuer);
        Ok(Self {
            ledger: crate::token_ledger::TokenLedger::start(store.clone(), settings.token_cap, gate.clone()),
            store,
            hasher: SecretHasher::new(&master_key),
            master_key,
            keys: ArcSwap::from_pointee(keys),
            settings,
            login_throttle: crate::throttle::FailureThrottle::default(),
            login_address_throttle: crate::throttle::FailureThrottle::new(crate::throttle::Limits::PER_ADDRESS),
            login_successes: crate::throttle::RecentSuccesses::default(),
            password_work: crate::password_work::PasswordWork::default(),
            client_throttle: crate::throttle::FailureThrottle::default(),
            gate,
            limiter: Arc::new(crate::ratelimit::InProcessRateLimiter::default()),
            quotas,
            quota_used_up: crate::quota::UsedUp::default(),
            refusal_budget: RefusalBudget::default(),
            leak_reports: crate::leaked::LeakReports::default(),
            credential_uses: crate::credential_use::CredentialUses::default(),
            jwks: crate::jwks::JwksCache::new(Arc::new(crate::jwks::NoFetcher), crate::jwks::JwksTiming::default()),
            token_endpoint,
            jti_memory: crate::federation::JtiMemory::default(),
            oidc_profiles: crate::federation::OidcProfiles::default(),
            usage: crate::usage::UsageCounts::default(),
            root_account: std::sync::OnceLock::new(),
        })
    }

    /// Shares rate-limit counters through `limiter` (Redis) instead of this process's memory.
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn crate::ratelimit::RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Counts quotas in Redis instead of the database.
    pub fn with_quota_counter(mut self, quotas: Arc<dyn crate::quota::QuotaCounter>) -> Self {
        self.quotas = quotas;
        self
    }

    /// Fetches identity providers' keys (for `oidc` profiles) with `fetcher`; without one,
    /// no provider's token verifies.
    pub fn with_jwks_fetcher(
        mut self,
        fetcher: Arc<dyn crate::jwks::JwksFetcher>,
        timing: crate::jwks::JwksTiming,
    ) -> Self {
        self.jwks = crate::jwks::JwksCache::new(fetcher, timing);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key ring as it is now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.load_full()
    }

    /// Re-reads the signing keys, so a rotation made by another process or instance is picked
    /// up without a restart.
    pub async fn reload_keys(&self, now: OffsetDateTime) -> Result<(), StartError> {
        let stored = self.store.signing_keys().await?;
        let ring =
            KeyRing::load(&self.master_key, &stored, self.settings.issuer.clone(), self.settings.leeway_seconds, now)?;
        self.keys.store(Arc::new(ring));
        Ok(())
    }

    /// Adds a new signing key that starts signing after `activate_after`, published at once so
    /// that every instance and every resource server's JWKS cache can know it first. Keys that
    /// no valid token can carry any more are deleted.
    pub async fn rotate_keys(
        &self,
        now: OffsetDateTime,
        activate_after: time::Duration,
    ) -> Result<RotatedKey, StartError> {
        let key = generate_signing_key(&self.master_key, now, now + activate_after)?;
        let written = self.store.insert_signing_key(&key).await?;
        self.settle(written, now).await;
        let stored = self.store.signing_keys().await?;
        let mut retired = Vec::new();
        for old in &stored {
            if crate::token::retired(old, &stored, self.settings.leeway_seconds, now) {
                let written = self.store.delete_signing_key(&old.kid).await?;
                self.settle(written, now).await;
                retired.push(old.kid.clone());
            }
        }
        // Settling re-read the keys but only warned if that failed; a rotation is reported
        // done only if this instance can load the ring it leaves behind.
        self.reload_keys(now).await?;
        tracing::info!(kid = %key.kid, activates_at = %key.activates_at, retired = retired.len(), "signing key rotated");
        Ok(RotatedKey { kid: key.kid, activates_at: key.activates_at, retired })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Creates the root account, its owner with a generated password, the default product
    /// catalogue and a bootstrap `admin` client holding every global resource and product.
    #[instrument(skip_all)]
    pub async fn bootstrap(
        &self,
        owner_email: Email,
        account_name: &str,
        now: OffsetDateTime,
    ) -> Result<BootstrapCredentials, DomainError> {
        if self.store.is_initialised().await? {
            return Err(DomainError::Conflict("the database is already initialised".to_owned()));
        }
        let owner_user_id = UserId::generate();
        let account = Account {
            account_id: AccountId::generate(),
            name: account_name.to_owned(),
            parent_account_id: None,
            owner_user_id: owner_user_id.clone(),
            date_created: now,
        };
        let owner = User {
            user_id: owner_user_id,
            account_id: account.account_id.clone(),
            email: owner_email.clone(),
            role: Role::Owner,
            date_created: now,
        };
        let owner_password = random::random_token(18);
        let owner_password_hash = hash_password(&owner_password)?;
        let products = Product::defaults();
        let secret = ClientSecret::generate();
        let client = Client {
            client_id: ClientId::generate(),
            account_id: account.account_id.clone(),
            name: ClientName::parse("Bootstrap admin client")?,
            description: Description::parse("Created by gatehouse init")?,
            client_owner: owner_email.clone(),
            client_owner_id: owner.user_id.clone(),
            client_type: ClientType::Admin,
            locked: Some(true),
            enabled: true,
            scopes: Scopes {
                global_resources: GlobalResource::ALL.into_iter().collect(),
                products: products.iter().map(|p| p.name.clone()).collect(),
            },
            token_expiry: TokenExpiry::DEFAULT,
            allowed_ips: AllowedIps::default(),
            rate_limit: None,
            date_created: now,
            date_updated: now,
            version: 1,
            secret_generation: 1,
            secret_expires_at: None,
            has_logo: false,
            project_id: None,
        };
        let bootstrap = Bootstrap {
            client_secret: self.stored_secret(&secret, None, now)?,
            account,
            owner,
            owner_password_hash,
            products,
            client,
        };
        let written = self.store.bootstrap(&bootstrap).await.map_err(|error| match error {
            StoreError::Conflict(_) => DomainError::Conflict("the database is already initialised".to_owned()),
            other => DomainError::Store(other),
        })?;
        self.settle(written, now).await;
        Ok(BootstrapCredentials {
            account_id: bootstrap.account.account_id,
            owner_email,
            owner_password,
            client_id: bootstrap.client.client_id,
            client_secret: secret,
        })
    }

    /// Applies what a write of this instance changed, before anyone hears of its result, and
    /// hands the result back. Every write goes through here.
    pub async fn settle<T>(&self, written: Written<T>, now: OffsetDateTime) -> T {
        let (value, changes) = written.into_parts();
        self.apply_changes(&changes, now).await;
        value
    }

    /// Applies a change made by another instance (from the store's change feed; honoured
    /// everywhere within a second), as [`Self::settle`] does for this instance's writes.
    pub async fn apply_change(&self, change: &Change, now: OffsetDateTime) {
        self.apply_changes(std::slice::from_ref(change), now).await;
    }

    /// The gateway check forgets what changed, at once (nothing here waits before it has), and
    /// then the signing keys are re-read if they changed.
    async fn apply_changes(&self, changes: &[Change], now: OffsetDateTime) {
        for change in changes {
            if *change == Change::Resync {
                tracing::info!("change feed resynchronised: forgetting cached state");
            }
            self.gate.follow(change);
        }
        if changes.iter().any(|change| matches!(change, Change::Keys | Change::Resync)) {
            self.reload_keys_or_warn(now).await;
        }
    }

    async fn reload_keys_or_warn(&self, now: OffsetDateTime) {
        if let Err(error) = self.reload_keys(now).await {
            tracing::warn!(%error, "reloading signing keys failed; keeping the current ones");
        }
    }

    /// Records an attempt in the audit log. A failed audit write is logged, never hidden, and
    /// does not undo the action it describes.
    pub(crate) async fn audit<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: &Target<'_>,
        result: &Result<T, DomainError>,
        details: serde_json::Value,
        now: OffsetDateTime,
    ) {
        let event = AuditEvent::of(actor, action, target, result, details, now);
        // Changes, and attempts at them, are always written, refused or not: an actor must not
        // be able to hide a refused change by spending a budget on refused reads first.
        self.write_audit(&event, None).await;
    }

    /// Records a refused read (403, or 404 on an object the actor may not see); reads that
    /// succeed are not recorded.
    pub(crate) async fn audited_read<T>(
        &self,
        actor: &Actor,
        action: &str,
        target: &Target<'_>,
        result: Result<T, DomainError>,
        now: OffsetDateTime,
    ) -> Result<T, DomainError> {
        if result.is_err() {
            let event = AuditEvent::of(actor, action, target, &result, serde_json::json!({}), now);
            self.write_audit(&event, Some(RefusalSource::Actor(actor.id()))).await;
        }
        result
    }

    /// Writes `event`: always when it records a success or has no `budget`; a refusal charged
    /// to a budget only within it (see `RefusalBudget`), so that a flood of refused requests
    /// cannot fill the disk.
    pub(crate) async fn write_audit(&self, event: &AuditEvent, budget: Option<RefusalSource<'_>>) {
        let notice;
        let event = match (event.outcome, budget) {
            (Outcome::Success, _) | (_, None) => event,
            (_, Some(source)) => match self.refusal_budget.admit(source, event.occurred_at) {
                Admission::Write => event,
                Admission::Notice => {
                    notice = event.suppression_notice();
                    &notice
                }
                Admission::Drop => return,
            },
        };
        if let Err(error) = self.store.record_audit_event(event).await {
            tracing::error!(%error, action = %event.action, "an audit event could not be written");
        }
    }

    /// Records a refusal that names no known person or client: a login with an unknown email,
    /// a bearer token that is none of ours, a login refused while its address is throttled. It
    /// goes to the installation's root account, whose owner and admins read it.
    pub async fn record_anonymous_refusal(&self, refusal: AnonymousRefusal<'_>, now: OffsetDateTime) {
        let account_id = match self.root_account().await {
            Ok(Some(account_id)) => account_id,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(%error, "an audit event could not be written");
                return;
            }
        };
        let event = AuditEvent {
            event_id: random::random_token(16),
            account_id,
            actor_type: "anonymous".to_owned(),
            actor_id: refusal.claimed.map(|email| email.to_string()).unwrap_or_default(),
            actor_email: refusal.claimed.map(|email| email.to_string()),
            action: refusal.action.to_owned(),
            target_type: refusal.target_type.to_owned(),
            target_id: crate::audit::printable_id(refusal.target_id),
            outcome: Outcome::Denied,
            reason: Some(refusal.reason.to_owned()),
            source_ip: refusal.source.map(|ip| ip.to_string()),
            occurred_at: now,
            details: serde_json::json!({}),
        };
        self.write_audit(&event, Some(RefusalSource::Anonymous(refusal.source.map(crate::throttle::network_of)))).await;
    }

    /// The oldest root account: where refusals that name no account are recorded. It never
    /// changes once the store is initialised, so it is looked up once.
    pub(crate) async fn root_account(&self) -> Result<Option<AccountId>, StoreError> {
        if let Some(account_id) = self.root_account.get() {
            return Ok(Some(account_id.clone()));
        }
        let found = self.store.root_account().await?;
        if let Some(account_id) = &found {
            let _ = self.root_account.set(account_id.clone());
        }
        Ok(found)
    }

    /// Refusals counted but not written to the audit log (for `/metrics`).
    pub fn audit_refusals_suppressed(&self) -> u64 {
        self.refusal_budget.suppressed()
    }

    /// Whether `actor` may act in `account_id`: its own account, or, for owners and admins, any
    /// account below it. Anything else is 404, exactly like an account that does not exist.
    pub(crate) async fn visible_account(&self, actor: &Actor, account_id: &AccountId) -> Result<Account, DomainError> {
        if !account_id.is_well_formed() {
            return Err(DomainError::NotFound("account"));
        }
        let account = self.store.account(account_id).await?.ok_or(DomainError::NotFound("account"))?;
        if account.account_id == actor.account_id {
            return Ok(account);
        }
        if actor.role.is_owner_or_admin()
            && self.ancestors(account.parent_account_id.clone()).await?.contains(&actor.account_id)
        {
            return Ok(account);
        }
        Err(DomainError::NotFound("account"))
    }

    /// The accounts above an account, nearest first, from its parent `parent` up to the root.
    /// Accounts nest a few levels at most; a longer chain can only be a corrupt cycle, and is an
    /// error rather than a guess.
    pub(crate) async fn ancestors(&self, mut parent: Option<AccountId>) -> Result<Vec<AccountId>, StoreError> {
        const MAX_DEPTH: usize = 16;
        let mut chain = Vec::new();
        while let Some(account_id) = parent {
            if chain.len() == MAX_DEPTH {
                return Err(StoreError::Internal("the account tree is deeper than it can be: a cycle".to_owned()));
            }
            parent = self.store.account(&account_id).await?.and_then(|account| account.parent_account_id);
            chain.push(account_id);
        }
        Ok(chain)
    }

    /// The parent of `account_id`, if it has one.
    pub(crate) async fn parent_of(&self, account_id: &AccountId) -> Result<Option<AccountId>, StoreError> {
        Ok(self.store.account(account_id).await?.and_then(|account| account.parent_account_id))
    }

    /// Whether an owner or admin of an account above `account_id` has `email`. Emails are unique
    /// within an account only, so a user of `account_id` with the same email may have been made
    /// by its admins, who know that user's password: handing something "to this email" could
    /// then reach their user instead of the person above, who acts here too. Such a hand-over is
    /// refused rather than guessed.
    pub(crate) async fn email_acts_from_above(
        &self,
        account_id: &AccountId,
        email: &Email,
    ) -> Result<bool, StoreError> {
        for ancestor in self.ancestors(self.parent_of(account_id).await?).await? {
            if self.store.user_by_email(&ancestor, email).await?.is_some_and(|user| user.role.is_owner_or_admin()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The owner of an account (for a child account, a user of an ancestor).
    pub(crate) async fn account_owner(&self, account_id: &AccountId) -> Result<Option<User>, DomainError> {
        let Some(account) = self.store.account(account_id).await? else {
            return Ok(None);
        };
        Ok(self.store.user(&account.owner_user_id).await?)
    }

    /// Drops the bookkeeping of tokens that can no longer verify (expired beyond the leeway).
    pub async fn purge_expired_tokens(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.gate.sweep(now);
        // Values shown once that nobody came for: they hold secrets, sealed, for no one.
        let handoffs = self.store.purge_expired_handoffs(now).await?;
        // Counts of quota periods that have ended (kept a minute more, for clocks that differ).
        // Not worth stopping the rest of the purge for.
        self.quota_used_up.sweep(now);
        if let Err(error) = self.store.purge_quota_counts(now - time::Duration::MINUTE).await {
            tracing::warn!(%error, "purging ended quota counts failed; trying again at the next purge");
        }
        // Single-use JWTs past their expiry (and leeway) are refused for that alone.
        let expired = now - time::Duration::seconds(self.settings.leeway_seconds) - time::Duration::MINUTE;
        if let Err(error) = self.store.purge_used_jtis(expired).await {
            tracing::warn!(%error, "purging used jtis failed; trying again at the next purge");
        }
        self.jti_memory.sweep(now);
        let kept_from = now.date() - time::Duration::days(crate::usage::KEEP_USAGE_DAYS);
        if let Err(error) = self.store.purge_usage(kept_from).await {
            tracing::warn!(%error, "purging old usage counts failed; trying again at the next purge");
        }
        if handoffs > 0 {
            tracing::debug!(handoffs, "expired portal handoffs purged");
        }
        self.store.purge_expired_tokens(now - time::Duration::seconds(self.settings.leeway_seconds)).await
    }
}

/// Splits a token's `scope` claim back into global resources and products. Product names may
/// not collide with global resource names, so the split is unambiguous.
pub fn scopes_from_claim(scope: &str) -> Scopes {
    let mut scopes = Scopes::default();
    for token in scope.split(' ').filter(|token| !token.is_empty()) {
        match GlobalResource::parse(token) {
            Some(resource) => {
                scopes.global_resources.insert(resource);
            }
            None => {
                scopes.products.insert(token.to_owned());
            }
        }
    }
    scopes
}

pub(crate) fn hash_password(password: &str) -> Result<String, InternalError> {
    let failed = |error: argon2::password_hash::Error| InternalError::PasswordHashing(error.to_string());
    let mut salt = [0u8; 16];
    random::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(failed)?;
    // Argon2::default() is Argon2id, 19 MiB, t=2, p=1: the OWASP recommendation.
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).map_err(failed)
}
