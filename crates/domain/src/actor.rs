//! Who is acting, and what seed file 000 lets them do.

use std::net::IpAddr;

use crate::account::{Email, Role};
use crate::client::{Client, ClientType, GlobalResource, Scopes};
use crate::error::DomainError;
use crate::ids::{AccountId, ClientId, UserId};

/// The authenticated party behind a management request.
#[derive(Clone, Debug)]
pub enum Principal {
    /// A person, through a session.
    User { user_id: UserId, email: Email },
    /// An API client, through an access token. `scopes` are the token's, fixed when it was
    /// minted (seed rule 6), not the client's current ones.
    Client { client_id: ClientId, owner: Email, owner_id: UserId, scopes: Scopes },
}

/// An authenticated caller. An API client acts with its owner's role, narrowed by its scopes
/// (DESIGN.md "Management API").
#[derive(Clone, Debug)]
pub struct Actor {
    /// The actor's own account. Owners and admins also act in its descendants.
    pub account_id: AccountId,
    pub role: Role,
    pub principal: Principal,
    /// Where the request came from, for the audit log.
    pub source_ip: Option<IpAddr>,
    /// The person's own account when they act in one below it (`Gatehouse::acting_in`): their
    /// refusals are recorded there, never in the account they switched to.
    pub acting_from: Option<AccountId>,
}

impl Actor {
    /// The actor's email, for display and the audit log: the user's own, or the API client's
    /// owner's.
    pub fn email(&self) -> &Email {
        match &self.principal {
            Principal::User { email, .. } => email,
            Principal::Client { owner, .. } => owner,
        }
    }

    /// The person that ownership is judged by: the user, or the API client's owner. Never by
    /// email: users of different accounts may share one.
    pub fn owner_id(&self) -> &UserId {
        match &self.principal {
            Principal::User { user_id, .. } => user_id,
            Principal::Client { owner_id, .. } => owner_id,
        }
    }

    pub fn is_api_client(&self) -> bool {
        matches!(self.principal, Principal::Client { .. })
    }

    /// The account owner, signed in as themself. An API client owned by the owner does not count:
    /// whoever created it, or renewed its key, may hold its secret (an admin once created an admin
    /// client, transferred it to the owner and kept the secret), so no credential acts with more
    /// power than every person who can hold it.
    pub fn is_owner_in_person(&self) -> bool {
        self.role == Role::Owner && !self.is_api_client()
    }

    /// Whether this is the user `user_id`, signed in as themself.
    pub fn is_person(&self, user_id: &UserId) -> bool {
        matches!(&self.principal, Principal::User { user_id: own, .. } if own == user_id)
    }

    /// Owner-only actions (granting or removing the admin role, removing an admin): the owner
    /// in person, or the reason why not.
    pub fn require_owner_in_person(&self, what: &str) -> Result<(), DomainError> {
        if self.is_owner_in_person() {
            Ok(())
        } else if self.role == Role::Owner {
            Err(DomainError::Forbidden(format!("only the account owner, signed in, {what}; not an API client")))
        } else {
            Err(DomainError::Forbidden(format!("only the account owner {what}")))
        }
    }

    /// The id the audit log records for this actor.
    pub fn id(&self) -> &str {
        match &self.principal {
            Principal::User { user_id, .. } => user_id.as_str(),
            Principal::Client { client_id, .. } => client_id.as_str(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.principal {
            Principal::User { .. } => "user",
            Principal::Client { .. } => "client",
        }
    }

    /// An API client needs the global resource in its token; a person needs a role that the
    /// resource is open to.
    pub fn require(&self, resource: GlobalResource) -> Result<(), DomainError> {
        let allowed = match &self.principal {
            Principal::Client { scopes, .. } => scopes.has_global(resource),
            Principal::User { .. } => match resource {
                // Seed file 000: developers create and manage standard clients too.
                GlobalResource::ApiClients => true,
                GlobalResource::Users | GlobalResource::Audit => self.role.is_owner_or_admin(),
                GlobalResource::Introspection => false,
            },
        };
        // An API client acts with its owner's role, narrowed by its scopes: the `users` and
        // `audit` resources are worth no more than its owner could do.
        let allowed = allowed
            && match resource {
                GlobalResource::Users | GlobalResource::Audit => self.role.is_owner_or_admin(),
                GlobalResource::ApiClients | GlobalResource::Introspection => true,
            };
        if allowed {
            Ok(())
        } else {
            Err(DomainError::Forbidden(format!("this action needs the global resource `{}`", resource.as_str())))
        }
    }

    /// Seed file 000 "Client Type": owners and admins create `admin` clients; file 001: clients
    /// created with an API client's token are always `standard`. The same bar applies to
    /// granting global resources later, so nobody can edit their way past it.
    pub fn may_grant_admin(&self) -> Result<(), DomainError> {
        if self.is_api_client() {
            return Err(DomainError::Forbidden("an API client can only create and edit standard clients".to_owned()));
        }
        if !self.role.is_owner_or_admin() {
            return Err(DomainError::Forbidden(
                "only the account owner and admins can create or grant admin clients".to_owned(),
            ));
        }
        Ok(())
    }

    /// Whether the caller may change `client` at all: edit, enable or disable, renew, transfer
    /// or delete.
    pub fn may_change(&self, client: &Client) -> Result<(), DomainError> {
        let owner_or_admin = self.role.is_owner_or_admin();
        // Seed rule 3: a locked client is changed only by the account owner, its admins and
        // the client owner.
        if client.is_locked() && !owner_or_admin && self.owner_id() != &client.client_owner_id {
            return Err(DomainError::Locked);
        }
        // Renewing an admin client's key hands over its global powers, so only those who may
        // create admin clients may touch one: owners and admins in person. An API client never
        // may, or one holding only `api_clients` could take the key of one holding `users`.
        if client.client_type == ClientType::Admin && (!owner_or_admin || self.is_api_client()) {
            return Err(DomainError::Forbidden(
                "only the account owner and admins, in person, can change admin clients".to_owned(),
            ));
        }
        Ok(())
    }
}
