//! Row types shared by the SQLite and PostgreSQL stores (sqlx decodes the same structs from
//! either), and their conversion into domain values. Stored data is parsed with the same
//! functions as input, so a row that no longer parses is reported, not trusted.

use std::collections::BTreeSet;

use gatehouse_domain::account::{Account, Email, Role, User};
use gatehouse_domain::audit::{AuditEvent, Outcome};
use gatehouse_domain::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, Scopes, TokenExpiry,
};
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::{AccountId, ClientId, PolicyId, ProfileId, ProjectId, SecretId, UserId};
use gatehouse_domain::policy::{Policy, PolicyLimits, PolicyName};
use gatehouse_domain::profile::{AccessProfile, AuthMethod};
use gatehouse_domain::project::{Project, ProjectMember, ProjectName};
use gatehouse_domain::quota::Quota;
use gatehouse_domain::secret::{LastUse, SecretHash, StoredSecret};
use gatehouse_domain::store::{StoreError, StoredSigningKey};
use gatehouse_domain::trust::ProfileTrust;
use time::OffsetDateTime;

pub fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::Internal(error.to_string()))
}

pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Internal(format!("bad stored JSON: {error}")))
}

fn corrupt(error: ValidationError) -> StoreError {
    StoreError::Internal(format!("stored value no longer valid: {error}"))
}

#[derive(sqlx::FromRow)]
pub struct ClientRow {
    client_id: String,
    account_id: String,
    name: String,
    description: String,
    client_owner: String,
    /// Nullable in SQLite only, where a column added later cannot be `not null`; always written.
    client_owner_id: Option<String>,
    client_type: String,
    locked: Option<bool>,
    enabled: bool,
    global_resources: String,
    products: String,
    token_expiry_seconds: i64,
    allowed_ips: String,
    rate_limit: Option<String>,
    secret_generation: i64,
    version: i64,
    date_created: OffsetDateTime,
    date_updated: OffsetDateTime,
    secret_expires_at: Option<OffsetDateTime>,
    has_logo: bool,
    project_id: Option<String>,
}

impl ClientRow {
    pub fn into_client(self) -> Result<Client, StoreError> {
        let global_resources: BTreeSet<GlobalResource> = from_json(&self.global_resources)?;
        let products: BTreeSet<String> = from_json(&self.products)?;
        Ok(Client {
            client_id: ClientId::from_string(self.client_id),
            account_id: AccountId::from_string(self.account_id),
            name: ClientName::parse(&self.name).map_err(corrupt)?,
            description: Description::parse(&self.description).map_err(corrupt)?,
            client_owner: Email::parse(&self.client_owner).map_err(corrupt)?,
            client_owner_id: UserId::from_string(
                self.client_owner_id.ok_or_else(|| StoreError::Internal("a client without an owner id".to_owned()))?,
            ),
            client_type: self.client_type.parse::<ClientType>().map_err(corrupt)?,
            locked: self.locked,
            enabled: self.enabled,
            scopes: Scopes { global_resources, products },
            token_expiry: TokenExpiry::parse(self.token_expiry_seconds).map_err(corrupt)?,
            allowed_ips: allowed_ips(&self.allowed_ips)?,
            rate_limit: rate_limit(self.rate_limit.as_deref())?,
            date_created: self.date_created,
            date_updated: self.date_updated,
            version: self.version,
            secret_generation: self.secret_generation,
            secret_expires_at: self.secret_expires_at,
            has_logo: self.has_logo,
            project_id: self.project_id.map(ProjectId::from_string),
        })
    }
}

/// The columns [`SecretRow`] reads.
pub const SECRET_COLUMNS: &str = "secret_id, secret_hash, prefix, date_created, expires_at, last_used_at, last_used_ip";

#[derive(sqlx::FromRow)]
pub struct SecretRow {
    secret_id: String,
    secret_hash: Vec<u8>,
    prefix: Option<String>,
    date_created: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    last_used_ip: Option<String>,
}

impl SecretRow {
    pub fn into_secret(self) -> Result<StoredSecret, StoreError> {
        Ok(StoredSecret {
            secret_id: SecretId::from_string(self.secret_id),
            hash: SecretHash::from_bytes(self.secret_hash),
            prefix: self.prefix,
            date_created: self.date_created,
            expires_at: self.expires_at,
            last_use: last_use(self.last_used_at, self.last_used_ip)?,
        })
    }
}

/// A profile's `trust`, `oidc_issuer` and `oidc_audience` columns.
pub fn trust_columns(profile: &AccessProfile) -> (Option<String>, Option<&str>, Option<&str>) {
    let trust = profile.trust.as_ref();
    let (issuer, audience) = trust.and_then(ProfileTrust::oidc_key).unzip();
    (trust.map(|trust| trust.to_json().to_string()), issuer, audience)
}

fn rate_limit(text: Option<&str>) -> Result<Option<RateLimit>, StoreError> {
    Ok(text.map(from_json::<Option<RateLimit>>).transpose()?.flatten())
}

fn quota(text: Option<&str>) -> Result<Option<Quota>, StoreError> {
    Ok(text.map(from_json::<Option<Quota>>).transpose()?.flatten())
}

fn allowed_ips(text: &str) -> Result<AllowedIps, StoreError> {
    let entries: Vec<String> = from_json(text)?;
    AllowedIps::parse(&entries).map_err(corrupt)
}

/// The columns [`PolicyRow`] reads.
pub const POLICY_COLUMNS: &str =
    "policy_id, account_id, name, description, rate_limit, quota, allowed_ips, version, date_created, date_updated";

#[derive(sqlx::FromRow)]
pub struct PolicyRow {
    policy_id: String,
    account_id: String,
    name: String,
    description: String,
    rate_limit: Option<String>,
    quota: Option<String>,
    allowed_ips: String,
    version: i64,
    date_created: OffsetDateTime,
    date_updated: OffsetDateTime,
}

impl PolicyRow {
    pub fn into_policy(self) -> Result<Policy, StoreError> {
        Ok(Policy {
            policy_id: PolicyId::from_string(self.policy_id),
            account_id: AccountId::from_string(self.account_id),
            name: PolicyName::parse(&self.name).map_err(corrupt)?,
            description: Description::parse(&self.description).map_err(corrupt)?,
            rate_limit: rate_limit(self.rate_limit.as_deref())?,
            quota: quota(self.quota.as_deref())?,
            allowed_ips: allowed_ips(&self.allowed_ips)?,
            version: self.version,
            date_created: self.date_created,
            date_updated: self.date_updated,
        })
    }
}

fn last_use(at: Option<OffsetDateTime>, ip: Option<String>) -> Result<Option<LastUse>, StoreError> {
    match (at, ip) {
        (Some(at), Some(ip)) => {
            let ip = ip.parse().map_err(|_| StoreError::Internal("a stored last-use address does not parse".into()))?;
            Ok(Some(LastUse { at, ip }))
        }
        _ => Ok(None),
    }
}

/// The columns [`ProjectRow`] reads.
pub const PROJECT_COLUMNS: &str = "project_id, account_id, name, description, date_created, date_updated";

#[derive(sqlx::FromRow)]
pub struct ProjectRow {
    project_id: String,
    account_id: String,
    name: String,
    description: String,
    date_created: OffsetDateTime,
    date_updated: OffsetDateTime,
}

/// A member of a project, with the email it is shown by.
#[derive(sqlx::FromRow)]
pub struct MemberRow {
    project_id: String,
    user_id: String,
    email: String,
}

/// Projects with their members (sorted by email), from one read of each.
pub fn projects_from(rows: Vec<ProjectRow>, members: Vec<MemberRow>) -> Result<Vec<Project>, StoreError> {
    let mut projects = rows
        .into_iter()
        .map(|row| {
            Ok(Project {
                project_id: ProjectId::from_string(row.project_id),
                account_id: AccountId::from_string(row.account_id),
                name: ProjectName::parse(&row.name).map_err(corrupt)?,
                description: Description::parse(&row.description).map_err(corrupt)?,
                members: Vec::new(),
                date_created: row.date_created,
                date_updated: row.date_updated,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let index: std::collections::HashMap<String, usize> =
        projects.iter().enumerate().map(|(at, project)| (project.project_id.to_string(), at)).collect();
    for member in members {
        if let Some(&at) = index.get(&member.project_id) {
            let email = Email::parse(&member.email).map_err(corrupt)?;
            projects[at].members.push(ProjectMember { user_id: UserId::from_string(member.user_id), email });
        }
    }
    for project in &mut projects {
        project.members.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
    }
    Ok(projects)
}

#[derive(sqlx::FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub account_id: String,
    pub email: String,
    pub role: String,
    pub date_created: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub struct AccountRow {
    account_id: String,
    name: String,
    parent_account_id: Option<String>,
    owner_user_id: String,
    date_created: OffsetDateTime,
}

impl AccountRow {
    pub fn into_account(self) -> Account {
        Account {
            account_id: AccountId::from_string(self.account_id),
            name: self.name,
            parent_account_id: self.parent_account_id.map(AccountId::from_string),
            owner_user_id: UserId::from_string(self.owner_user_id),
            date_created: self.date_created,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct AuditRow {
    event_id: String,
    account_id: String,
    actor_type: String,
    actor_id: String,
    actor_email: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    outcome: String,
    reason: Option<String>,
    source_ip: Option<String>,
    occurred_at: OffsetDateTime,
    details: String,
}

impl AuditRow {
    pub fn into_event(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            event_id: self.event_id,
            account_id: AccountId::from_string(self.account_id),
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            actor_email: self.actor_email,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            outcome: Outcome::parse(&self.outcome).ok_or_else(|| StoreError::Internal("unknown outcome".to_owned()))?,
            reason: self.reason,
            source_ip: self.source_ip,
            occurred_at: self.occurred_at,
            details: from_json(&self.details)?,
        })
    }
}

impl UserRow {
    pub fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            user_id: UserId::from_string(self.user_id),
            account_id: AccountId::from_string(self.account_id),
            email: Email::parse(&self.email).map_err(corrupt)?,
            role: Role::parse(&self.role).ok_or_else(|| StoreError::Internal("unknown role".to_owned()))?,
            date_created: self.date_created,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct SigningKeyRow {
    kid: String,
    sealed_private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: OffsetDateTime,
    activates_at: OffsetDateTime,
}

impl SigningKeyRow {
    pub fn into_key(self) -> StoredSigningKey {
        StoredSigningKey {
            kid: self.kid,
            sealed_private_key: self.sealed_private_key,
            public_key: self.public_key,
            created_at: self.created_at,
            activates_at: self.activates_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct ProfileRow {
    profile_id: String,
    client_id: String,
    name: String,
    products: String,
    auth_method: String,
    allowed_ips: String,
    rate_limit: Option<String>,
    active: bool,
    secret_generation: i64,
    version: i64,
    date_created: OffsetDateTime,
    date_updated: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    last_used_ip: Option<String>,
    policy_id: Option<String>,
    policy_rate_limit: Option<String>,
    policy_quota: Option<String>,
    policy_allowed_ips: Option<String>,
    trust: Option<String>,
    pub credential_hash: Option<Vec<u8>>,
}

impl ProfileRow {
    pub fn into_profile(self) -> Result<AccessProfile, StoreError> {
        let profile_id = ProfileId::from_string(self.profile_id);
        let trust = match self.trust {
            None => None,
            Some(text) => {
                let value: serde_json::Value = from_json(&text)?;
                Some(ProfileTrust::from_stored(&self.auth_method, &value, &profile_id).map_err(corrupt)?)
            }
        };
        Ok(AccessProfile {
            profile_id,
            client_id: ClientId::from_string(self.client_id),
            name: ClientName::parse(&self.name).map_err(corrupt)?,
            products: from_json(&self.products)?,
            auth_method: AuthMethod::parse(&self.auth_method).map_err(corrupt)?,
            allowed_ips: allowed_ips(&self.allowed_ips)?,
            rate_limit: rate_limit(self.rate_limit.as_deref())?,
            active: self.active,
            secret_generation: self.secret_generation,
            version: self.version,
            date_created: self.date_created,
            date_updated: self.date_updated,
            last_use: last_use(self.last_used_at, self.last_used_ip)?,
            trust,
            policy: match self.policy_id {
                None => None,
                Some(policy_id) => Some(PolicyLimits {
                    policy_id: PolicyId::from_string(policy_id),
                    rate_limit: rate_limit(self.policy_rate_limit.as_deref())?,
                    quota: quota(self.policy_quota.as_deref())?,
                    allowed_ips: allowed_ips(self.policy_allowed_ips.as_deref().unwrap_or("[]"))?,
                }),
            },
        })
    }
}
