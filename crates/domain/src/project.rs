//! Projects (seed file 002): "Only members with access to this project are able to see the
//! client." A client belongs to at most one project of its account. Among developers, only the
//! project's members see and manage its clients; clients outside any project are seen by every
//! developer of the account, as before projects existed. Owners and admins see every client.

use serde::Serialize;
use time::OffsetDateTime;

use crate::account::Email;
use crate::client::{Description, parse_name};
use crate::error::ValidationError;
use crate::ids::{AccountId, ProjectId, UserId};

/// A project's name: 1 to 100 characters after trimming, unique within its account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ProjectName(String);

impl ProjectName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        parse_name(value, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most projects an account has: every client form and list offers them all.
pub const MAX_PROJECTS: usize = 1000;

/// A member of a project: a user of the project's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectMember {
    pub user_id: UserId,
    pub email: Email,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub project_id: ProjectId,
    pub account_id: AccountId,
    pub name: ProjectName,
    pub description: Description,
    /// By email.
    pub members: Vec<ProjectMember>,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
}

impl Project {
    pub fn has_member(&self, user_id: &UserId) -> bool {
        self.members.iter().any(|member| &member.user_id == user_id)
    }
}

/// A project to create.
#[derive(Debug)]
pub struct NewProject {
    /// A child account's, for an owner or admin above it; `None`: the actor's own.
    pub account_id: Option<AccountId>,
    pub name: ProjectName,
    pub description: Description,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProjectPatch {
    pub name: Option<ProjectName>,
    pub description: Option<Description>,
}

/// Which clients a listing may show, by project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every client of the account: owners and admins.
    Every,
    /// Clients outside any project, and those of projects the user is a member of: developers
    /// (and API clients a developer owns).
    MemberOf(UserId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(ProjectName::parse("  Billing  ").unwrap().as_str(), "Billing");
        assert!(ProjectName::parse("   ").is_err());
        assert!(ProjectName::parse(&"x".repeat(101)).is_err());
        assert!(ProjectName::parse(&"é".repeat(100)).is_ok());
        assert!(ProjectName::parse("a\u{202E}b").is_err());
        assert!(ProjectName::parse("a\nb").is_err());
    }
}
