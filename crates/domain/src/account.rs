//! Accounts, the people in them and their product catalogue.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::error::ValidationError;
use crate::ids::{AccountId, UserId};

/// An email address, lower-cased so that ownership comparisons are exact.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// RFC 5321's limit, counted in characters as sent (as JSON Schema's `maxLength` counts
    /// them).
    pub const MAX_CHARS: usize = 254;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let sent = value.chars().count();
        let value = value.trim().to_lowercase();
        // Lowercasing can lengthen (`İ` becomes two characters): what is stored must parse
        // again when it is read back.
        let valid = sent <= Self::MAX_CHARS
            && value.chars().count() <= Self::MAX_CHARS
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(value.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
        if !valid {
            return Err(ValidationError::new("email", "must be an email address"));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user's role in their account (seed file 000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "developer" => Some(Role::Developer),
            _ => None,
        }
    }

    /// Owners and admins run the account: they may create `admin` clients and edit locked ones.
    pub fn is_owner_or_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub account_id: AccountId,
    pub name: String,
    pub parent_account_id: Option<AccountId>,
    /// The account's one owner. For a child account, the owner of the account that created it.
    pub owner_user_id: UserId,
    pub date_created: OffsetDateTime,
}

/// The most characters an account name may have, once trimmed.
pub const MAX_ACCOUNT_NAME_CHARS: usize = 200;

/// An account name: 1 to 200 characters after trimming.
pub fn parse_account_name(value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    let chars = trimmed.chars().count();
    if chars == 0 || chars > MAX_ACCOUNT_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new("name", "must be 1 to 200 characters without control characters"));
    }
    Ok(trimmed.to_owned())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub email: Email,
    pub role: Role,
    pub date_created: OffsetDateTime,
}

/// An API or API collection that client scopes grant (DESIGN.md "Concepts").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Product {
    pub name: String,
    pub description: String,
    pub path_prefixes: Vec<String>,
}

impl Product {
    /// The catalogue of a fresh account, so that the seed's examples work as written.
    pub fn defaults() -> Vec<Product> {
        vec![
            Product {
                name: "SuperSIM".to_owned(),
                description: "Super SIM connectivity API".to_owned(),
                path_prefixes: vec!["/supersim/".to_owned()],
            },
            Product {
                name: "ProgrammableWireless".to_owned(),
                description: "Programmable Wireless API".to_owned(),
                path_prefixes: vec!["/wireless/".to_owned()],
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_email_always_parses_again() {
        for sent in [format!("{}@b", "İ".repeat(127)), format!("  A{}@B.example  ", "b".repeat(240)), "x@y".to_owned()]
        {
            if let Ok(email) = Email::parse(&sent) {
                assert_eq!(Email::parse(email.as_str()).as_ref().map(Email::as_str), Ok(email.as_str()), "{sent}");
            }
        }
        assert!(Email::parse(&format!("{}@b", "İ".repeat(127))).is_err(), "256 characters once lowercased");
    }
}
