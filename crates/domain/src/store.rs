//! The storage traits. Each backend (SQLite, PostgreSQL) implements them; the domain
//! and the HTTP layer see nothing else of storage.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::account::{Account, Email, Product, Role, User};
use crate::audit::AuditEvent;
use crate::client::{Client, ClientType};
use crate::ids::{AccountId, ClientId, PolicyId, ProfileId, ProjectId, SecretId, TokenId, UserId};
use crate::logo::Logo;
use crate::policy::Policy;
use crate::profile::AccessProfile;
use crate::project::{Project, ProjectScope};
use crate::secret::{LastUse, SecretHash, StoredSecret};

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The row to change does not exist (any more).
    #[error("not found")]
    NotFound,
    /// An optimistic-concurrency check failed: the row changed since it was read.
    #[error("version mismatch")]
    VersionMismatch,
    /// A uniqueness rule was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or refused the write for a transient reason (busy, disk
    /// full, connection lost): the HTTP layer answers 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: corrupt rows, broken invariants. The detail goes to the log only.
    #[error("store error: {0}")]
    Internal(String),
}

/// Everything `init` creates, written in one transaction.
pub struct Bootstrap {
    pub account: Account,
    pub owner: User,
    pub owner_password_hash: String,
    pub products: Vec<Product>,
    pub client: Client,
    pub client_secret: StoredSecret,
}

/// Which clients a listing shows; `None` fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientFilter {
    pub client_type: Option<ClientType>,
    pub enabled: Option<bool>,
    /// Clients whose name holds this text, ignoring the case of ASCII letters (and, on
    /// PostgreSQL, of every letter).
    pub name_contains: Option<String>,
    /// Only the clients of this project.
    pub project_id: Option<ProjectId>,
}

/// One page of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    pub number: u32,
}

impl PageRequest {
    pub fn offset(self) -> u64 {
        u64::from(self.number.saturating_sub(1)) * u64::from(self.size)
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Whether `init` has run.
    async fn is_initialised(&self) -> Result<bool, StoreError>;
    /// Writes the root account, its owner, its products and the bootstrap client at once; fails
    /// with `Conflict` if the store is already initialised.
    async fn bootstrap(&self, bootstrap: &Bootstrap) -> Result<Written<()>, StoreError>;
    async fn account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError>;
    /// Creates an account with its product catalogue.
    async fn insert_account(&self, account: &Account, products: &[Product]) -> Result<Written<()>, StoreError>;
    /// The direct children of an account, oldest first.
    async fn child_accounts(&self, parent: &AccountId) -> Result<Vec<Account>, StoreError>;
    async fn products(&self, account_id: &AccountId) -> Result<Vec<Product>, StoreError>;
    /// `Conflict` if the account has a product of that name.
    async fn insert_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError>;
    async fn update_product(&self, account_id: &AccountId, product: &Product) -> Result<Written<()>, StoreError>;
    /// Deleting a product that is not there changes nothing and succeeds.
    async fn delete_product(&self, account_id: &AccountId, name: &str) -> Result<Written<()>, StoreError>;
    /// Whether any client of the account holds the product in its scopes.
    async fn product_in_use(&self, account_id: &AccountId, name: &str) -> Result<bool, StoreError>;
    /// The product names of root accounts, for the server metadata's `scopes_supported`.
    async fn root_product_names(&self) -> Result<Vec<String>, StoreError>;
    /// The oldest account without a parent: the installation's own, made by `init`.
    async fn root_account(&self) -> Result<Option<AccountId>, StoreError>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Conflict` if the account has a user with this email. Other accounts may have one: an
    /// email is unique within an account only, so that no account learns which emails another
    /// holds.
    async fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), StoreError>;
    async fn user(&self, user_id: &UserId) -> Result<Option<User>, StoreError>;
    /// A user of `account_id` by email.
    async fn user_by_email(&self, account_id: &AccountId, email: &Email) -> Result<Option<User>, StoreError>;
    /// The user of `account_id` with this email and their Argon2id hash, for login only.
    async fn user_for_login(&self, account_id: &AccountId, email: &Email)
    -> Result<Option<(User, String)>, StoreError>;
    /// An account's users, oldest first.
    async fn users(&self, account_id: &AccountId) -> Result<Vec<User>, StoreError>;
    async fn update_user_role(&self, user_id: &UserId, role: Role) -> Result<(), StoreError>;
    /// Makes `new_owner` (a user of the account) its owner; the previous owner, if a user of
    /// this account, becomes an admin. One transaction.
    async fn transfer_account_ownership(&self, account_id: &AccountId, new_owner: &UserId) -> Result<(), StoreError>;
    /// Removes the user and their sessions, and hands every client they own to the owner of the
    /// client's account, in one transaction; `Conflict` if the user owns any account. Handed-over `admin` clients are also disabled: they
    /// would otherwise act with the account owner's role, more than their creator held. Returns
    /// the clients handed over.
    async fn delete_user(&self, user_id: &UserId) -> Result<Written<Vec<ClientId>>, StoreError>;
}

/// A login session, stored by the SHA-256 of its token.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub token_hash: Vec<u8>,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// A value shown once in the portal, sealed, on its way from the POST that made it to the page
/// after the redirect. Stored by the SHA-256 of its id.
#[derive(Clone, Debug)]
pub struct HandoffRecord {
    pub id_hash: Vec<u8>,
    /// The session it is for (the SHA-256 of its token); it goes with the session.
    pub session_hash: Vec<u8>,
    pub sealed: Vec<u8>,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_handoff(&self, handoff: &HandoffRecord) -> Result<(), StoreError>;
    /// Drops every handoff whose time has passed (they are never taken then); how many.
    async fn purge_expired_handoffs(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// Removes and returns the sealed value of the handoff `id_hash` of session `session_hash`,
    /// if its time has not passed: it can be taken once.
    async fn take_handoff(
        &self,
        id_hash: &[u8],
        session_hash: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError>;
    /// The session's user, if the session exists and has not expired at `now`.
    async fn session_user(&self, token_hash: &[u8], now: OffsetDateTime) -> Result<Option<User>, StoreError>;
    async fn delete_session(&self, token_hash: &[u8]) -> Result<(), StoreError>;
}

/// Filters on the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub target_id: Option<String>,
    pub actor_id: Option<String>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event. There is no update or delete: the log is append-only.
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// A page of an account's events, newest first, and the total that match.
    async fn audit_events(
        &self,
        account_id: &AccountId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<(Vec<AuditEvent>, u64), StoreError>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn insert_client(&self, client: &Client, secret: &StoredSecret) -> Result<Written<()>, StoreError>;
    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError>;
    /// The client and secret whose hash is `hash`, for reports of leaked secrets.
    async fn client_by_secret_hash(&self, hash: &SecretHash) -> Result<Option<(ClientId, SecretId)>, StoreError>;
    /// The client and its secrets, oldest first (the last is the current one), expired ones
    /// included: for the token endpoint and the list of secrets.
    async fn client_with_secrets(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<(Client, Vec<StoredSecret>)>, StoreError>;
    /// A page of an account's clients that pass `filter`, oldest first, and the total number
    /// that do.
    async fn list_clients(
        &self,
        account_id: &AccountId,
        filter: &ClientFilter,
        scope: &ProjectScope,
        page: PageRequest,
    ) -> Result<(Vec<Client>, u64), StoreError>;
    /// Writes `client` (everything but its id, account, creation date and secret) if the stored
    /// version is still `expected_version`, and bumps the version. `NotFound` or
    /// `VersionMismatch` otherwise.
    async fn update_client(&self, client: &Client, expected_version: i64) -> Result<Written<Client>, StoreError>;
    /// Replaces every secret of the client with `secret`, bumps the secret generation (so every
    /// earlier token is refused) and the version, in one write. Returns the updated client. With
    /// `replacing`, only if the client still holds a secret of that hash (`NotFound`
    /// otherwise): a secret reported leaked is ended, never the one its owner renewed it to
    /// meanwhile.
    async fn renew_client_secret(
        &self,
        client_id: &ClientId,
        secret: &StoredSecret,
        replacing: Option<&SecretHash>,
        now: OffsetDateTime,
    ) -> Result<Written<Client>, StoreError>;
    /// A planned rotation, in one write: `secret` becomes the current secret; the current one
    /// becomes the previous, its expiry brought forward to `previous_until` if later (removed
    /// if that is not after `now`); any older one is removed. Tokens are untouched and the
    /// secret generation stays. Bumps the version. `NotFound` if the client is gone.
    async fn rotate_client_secret(
        &self,
        client_id: &ClientId,
        secret: &StoredSecret,
        previous_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Written<Rotated>, StoreError>;
    /// Removes one of the client's previous secrets, and with `revoke_tokens` the tokens minted
    /// with it. Bumps the version. `NotFound` if the client or the secret is not there;
    /// `Conflict` for the current secret (see [`check_deletable`]).
    async fn delete_client_secret(
        &self,
        client_id: &ClientId,
        secret_id: &SecretId,
        revoke_tokens: bool,
        now: OffsetDateTime,
    ) -> Result<Written<Client>, StoreError>;
    /// Removes the client and everything that hangs off it. `NotFound` if it was not there.
    async fn delete_client(&self, client_id: &ClientId) -> Result<Written<()>, StoreError>;
    /// Sets or replaces the client's logo. `NotFound` if the client is not there. Not followed
    /// state: nothing the token endpoint or the check answers depends on it.
    async fn set_client_logo(&self, client_id: &ClientId, logo: &Logo, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Removes the client's logo, if any. `NotFound` if the client is not there.
    async fn delete_client_logo(&self, client_id: &ClientId) -> Result<(), StoreError>;
    async fn client_logo(&self, client_id: &ClientId) -> Result<Option<Logo>, StoreError>;
    /// Records when and from where credentials were last used, each only if later than what
    /// is recorded (several instances write their own batches: the latest use wins). Unknown
    /// credentials are ignored. Not followed state: the answers of the token endpoint and the
    /// check never depend on it.
    async fn record_credential_uses(&self, uses: &[CredentialUse]) -> Result<(), StoreError>;
}

/// Whether `secret_id` may be removed from `secrets` (oldest first), as every store decides it:
/// `NotFound` if it is not among them, `Conflict` if it is the current (newest) one. Only a
/// previous secret is ended early: ending the current one would leave the client with a
/// secret whose grace period runs out, or none, and then no way in; renewing the key or
/// rotating replaces the current secret.
pub fn check_deletable(secrets: &[StoredSecret], secret_id: &SecretId) -> Result<(), StoreError> {
    match secrets.iter().position(|secret| secret.secret_id == *secret_id) {
        None => Err(StoreError::NotFound),
        Some(index) if index + 1 == secrets.len() => {
            Err(StoreError::Conflict("the client's current secret".to_owned()))
        }
        Some(_) => Ok(()),
    }
}

/// A rotation as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    pub client: Client,
    /// The previous secret, now in its grace period; `None` if none remains (no grace, or it
    /// had expired).
    pub previous: Option<StoredSecret>,
}

/// A credential whose uses are recorded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UsedCredential {
    ClientSecret(SecretId),
    Profile(ProfileId),
}

/// The latest use of a credential in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialUse {
    pub credential: UsedCredential,
    pub last_use: LastUse,
}

/// The bookkeeping of one minted access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub jti: TokenId,
    pub client_id: ClientId,
    /// Set when the token was minted with an access profile's credential; the live-token cap
    /// then counts per profile.
    pub profile_id: Option<ProfileId>,
    pub secret_generation: i64,
    /// The client secret it was minted with; `None` for a profile's token.
    pub secret_id: Option<SecretId>,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The version of the client (and of the profile) the token was minted from. The record is
    /// written only while they are still current: a token minted from state that has changed
    /// since (disabled, renewed, edited, deleted, perhaps on another instance) is never handed
    /// out.
    pub client_version: i64,
    pub profile_version: Option<i64>,
}

impl TokenRecord {
    /// Whose live tokens this one counts among (seed rule 11: "per credential").
    pub fn credential(&self) -> (&ClientId, Option<&ProfileId>) {
        (&self.client_id, self.profile_id.as_ref())
    }
}

/// Seed rule 11 (file 003): at most this many live tokens per credential.
pub const MAX_LIVE_TOKENS: u32 = 10;

/// What minting a token beyond the cap does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapPolicy {
    /// The oldest live token is revoked to make room (the default).
    RevokeOldest,
    /// The new token is refused.
    Refuse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveTokenCap {
    pub max_live: u32,
    pub policy: CapPolicy,
}

impl Default for LiveTokenCap {
    fn default() -> Self {
        Self { max_live: MAX_LIVE_TOKENS, policy: CapPolicy::RevokeOldest }
    }
}

/// What recording one token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// On record. `evicted`: the older live tokens of the same credential the cap revoked to
    /// make room, oldest first.
    Recorded { evicted: Vec<TokenId> },
    /// Not recorded: the cap is full and the policy refuses.
    Refused,
    /// Not recorded: the client or profile is gone or has changed since the token was minted.
    Stale,
}

/// A live token on record, as a store reads it to apply the cap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveToken {
    pub jti: TokenId,
    pub client_id: ClientId,
    pub profile_id: Option<ProfileId>,
    pub secret_generation: i64,
}

/// What the store knows of a minted token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenState {
    pub client_id: ClientId,
    pub profile_id: Option<ProfileId>,
    pub secret_generation: i64,
    pub revoked: bool,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Records minted tokens in one transaction, as if one after the other in the given order:
    /// each is checked against the current version of its client and profile, and `cap` is
    /// enforced over its credential's live tokens (unexpired at `now`, unrevoked, of the current
    /// secret generation), so the cap holds under concurrent requests and across instances.
    /// Evicted tokens are deleted: a token that is not on record is refused everywhere, and the
    /// table keeps only the tokens that can still be used. One outcome per token, in order.
    /// See [`crate::token_ledger::plan_recording`], which every store uses to decide.
    async fn record_tokens(
        &self,
        tokens: &[TokenRecord],
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Written<Vec<RecordOutcome>>, StoreError>;
    /// [`Self::record_tokens`] for one token.
    async fn record_token(
        &self,
        token: &TokenRecord,
        cap: LiveTokenCap,
        now: OffsetDateTime,
    ) -> Result<Written<RecordOutcome>, StoreError> {
        let (mut outcomes, changes) = self.record_tokens(std::slice::from_ref(token), cap, now).await?.into_parts();
        let outcome =
            outcomes.pop().ok_or_else(|| StoreError::Internal("no outcome for a recorded token".to_owned()))?;
        Ok(Written::new(outcome, changes))
    }
    /// Marks a token revoked; unknown ids are ignored (and change nothing).
    async fn revoke_token(&self, jti: &TokenId) -> Result<Written<()>, StoreError>;
    /// The record of a minted token, whatever its state.
    async fn token_state(&self, jti: &TokenId) -> Result<Option<TokenState>, StoreError>;
    /// Forgets tokens that expired before `before`; returns how many.
    async fn purge_expired_tokens(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
    /// Remembers a single-use JWT's `jti` (by its issuer) until `expires_at`: `true` the first
    /// time, `false` if it was already remembered, on any instance.
    async fn claim_jti(&self, issuer: &str, jti: &str, expires_at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Forgets `jti`s that expired before `before`; returns how many.
    async fn purge_used_jtis(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// A signing key as stored: the private half sealed with the master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub sealed_private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// When the key starts signing; it verifies from the moment it is stored.
    pub activates_at: OffsetDateTime,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored signing key.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> Result<Written<()>, StoreError>;
    async fn delete_signing_key(&self, kid: &str) -> Result<Written<()>, StoreError>;
}

/// Policies (seed file 002, issue 21). A profile reads its policy's limits with it, so a write
/// to a policy reports a change to each of its profiles: the caches that hold profiles follow.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// `Conflict` when the account has a policy of that name already.
    async fn insert_policy(&self, policy: &Policy) -> Result<(), StoreError>;
    async fn policy(&self, policy_id: &PolicyId) -> Result<Option<Policy>, StoreError>;
    /// An account's policies by name.
    async fn policies(&self, account_id: &AccountId) -> Result<Vec<Policy>, StoreError>;
    /// Writes everything but its id, account and creation date if the stored version is still
    /// `expected_version`, and bumps it; reports a change to every profile under it.
    /// `NotFound`, `VersionMismatch`, or `Conflict` on a name the account has already.
    async fn update_policy(&self, policy: &Policy, expected_version: i64) -> Result<Written<()>, StoreError>;
    /// `Conflict` while any profile is under it.
    async fn delete_policy(&self, policy_id: &PolicyId) -> Result<(), StoreError>;
    /// Takes one use from the quota `limit` of `key` in the period starting at `start` (kept
    /// until `end` has passed): `true` and counted while fewer than `limit` were taken, `false`
    /// and nothing counted once all were. Atomic across instances.
    async fn take_quota_use(
        &self,
        key: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        limit: u64,
    ) -> Result<bool, StoreError>;
    /// Drops the counts of periods that ended before `before`.
    async fn purge_quota_counts(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Projects and their members (seed file 002). Nothing is cached from them: who sees a client is
/// read from the store on every request, so no change needs to reach another instance.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// `Conflict` when the account has a project of that name already.
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError>;
    async fn project(&self, project_id: &ProjectId) -> Result<Option<Project>, StoreError>;
    /// An account's projects by name; with `member`, only those the user is a member of.
    async fn projects(&self, account_id: &AccountId, member: Option<&UserId>) -> Result<Vec<Project>, StoreError>;
    /// Writes the name, the description and `date_updated`. `NotFound`, or `Conflict` on a
    /// name the account has already.
    async fn update_project(&self, project: &Project) -> Result<(), StoreError>;
    /// `Conflict` while any client is in it: its clients would otherwise become visible to every
    /// developer of the account at once.
    async fn delete_project(&self, project_id: &ProjectId) -> Result<(), StoreError>;
    /// Adds the user (no change if already a member). `NotFound` if either is gone.
    async fn add_project_member(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// `NotFound` if the user is not a member.
    async fn remove_project_member(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Whether the user is a member of the project.
    async fn is_project_member(&self, project_id: &ProjectId, user_id: &UserId) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Inserts a profile and its credential hash, unless the client already holds `max`
    /// profiles (`Conflict`), in one transaction.
    async fn insert_profile(
        &self,
        profile: &AccessProfile,
        hash: &SecretHash,
        max: usize,
    ) -> Result<Written<()>, StoreError>;
    /// A client's profiles, oldest first.
    async fn profiles(&self, client_id: &ClientId) -> Result<Vec<AccessProfile>, StoreError>;
    async fn profile(&self, profile_id: &ProfileId) -> Result<Option<AccessProfile>, StoreError>;
    /// The profile and its credential hash, for the token endpoint.
    async fn profile_with_secret(
        &self,
        profile_id: &ProfileId,
    ) -> Result<Option<(AccessProfile, SecretHash)>, StoreError>;
    /// The profile whose credential (API key or secret) hashes to `hash`, for reports of leaked
    /// credentials.
    async fn profile_by_credential_hash(&self, hash: &SecretHash) -> Result<Option<AccessProfile>, StoreError>;
    /// The profile whose API key hashes to `hash`.
    async fn profile_by_key_hash(&self, hash: &SecretHash) -> Result<Option<AccessProfile>, StoreError>;
    /// The `oidc` profile that trusts tokens of `issuer` for `audience` (at most one does).
    async fn profile_by_oidc(&self, issuer: &str, audience: &str) -> Result<Option<AccessProfile>, StoreError>;
    /// Writes the profile (its trust and secret generation included) if still at
    /// `expected_version`; returns it with the version bumped.
    async fn update_profile(
        &self,
        profile: &AccessProfile,
        expected_version: i64,
    ) -> Result<Written<AccessProfile>, StoreError>;
    /// Replaces the credential hash and bumps the secret generation; with `replacing`, only if
    /// the stored hash is still that one (`NotFound` otherwise).
    async fn refresh_profile_credential(
        &self,
        profile_id: &ProfileId,
        hash: &SecretHash,
        replacing: Option<&SecretHash>,
        now: OffsetDateTime,
    ) -> Result<Written<AccessProfile>, StoreError>;
    /// Deleting a profile that is not there changes nothing and succeeds. Its usage counts go
    /// with it.
    async fn delete_profile(&self, profile_id: &ProfileId) -> Result<Written<()>, StoreError>;
    /// Adds each count to the stored one (a new day, product or outcome starts at it), in one
    /// transaction. Counts of a profile deleted meanwhile are kept until purged, harmlessly.
    async fn add_usage(&self, counts: &[crate::usage::UsageCount]) -> Result<(), StoreError>;
    /// A profile's counts for the days from `from` to `to`, both included.
    async fn usage(
        &self,
        profile_id: &ProfileId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<crate::usage::UsageCount>, StoreError>;
    /// Forgets the counts of days before `before`; returns how many.
    async fn purge_usage(&self, before: time::Date) -> Result<u64, StoreError>;
}

/// What a write changed that something in memory follows: the gateway check's caches and the
/// signing keys, on this instance and on every other one sharing the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A client was edited, enabled, disabled, renewed or deleted.
    Client(ClientId),
    /// An access profile was edited, refreshed or deleted.
    Profile(ProfileId),
    /// Tokens were revoked (RFC 7009 or the live-token cap).
    TokensRevoked(Vec<TokenId>),
    /// An account's product catalogue changed.
    Catalogue(AccountId),
    /// A signing key was added or retired.
    Keys,
    /// Notifications may have been missed (the listener reconnected): forget everything cached.
    Resync,
}

/// The result of a write, with the changes it made, as the store's transaction committed them.
///
/// Every write of followed state returns one, and nothing else tells the rest of Gatehouse what
/// changed: the PostgreSQL store announces exactly `changes` to the other instances inside the
/// same transaction, and the domain applies them here through `Gatehouse::settle`, the function
/// that also applies what other instances announce. A store write whose state nothing follows
/// (sessions, the audit log, users' roles) returns its value alone; once something starts to
/// follow it, its signature changes to `Written` and the compiler finds every caller.
#[derive(Debug)]
#[must_use = "a write's changes must reach every cache: pass it to `Gatehouse::settle`"]
pub struct Written<T> {
    value: T,
    changes: Vec<Change>,
}

impl<T> Written<T> {
    pub fn new(value: T, changes: Vec<Change>) -> Self {
        Self { value, changes }
    }

    /// A write that changed nothing followed (for example, deleting what was not there).
    pub fn unchanged(value: T) -> Self {
        Self { value, changes: Vec::new() }
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    pub fn into_parts(self) -> (T, Vec<Change>) {
        (self.value, self.changes)
    }
}

/// A complete storage backend.
#[async_trait]
pub trait Store:
    AccountStore
    + UserStore
    + SessionStore
    + AuditStore
    + ClientStore
    + ProfileStore
    + ProjectStore
    + PolicyStore
    + TokenStore
    + KeyStore
{
    /// Whether the database answers (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes every connection; later calls fail as `Unavailable`. For shutdown.
    async fn close(&self);
    /// Changes made by other instances sharing this store, as they happen; `None` for a store
    /// only one instance can use (SQLite). The feed sends `Resync` after any gap.
    async fn changes(&self) -> Result<Option<tokio::sync::mpsc::Receiver<Change>>, StoreError> {
        Ok(None)
    }
}
