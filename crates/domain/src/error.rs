//! The domain's errors. The HTTP layer maps each variant to a status exactly once.

use crate::store::StoreError;
use crate::token::KeyError;

/// Bad input, naming the field it came from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Why a management operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// No such object, or one the caller may not see: the two are indistinguishable on purpose.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    /// Seed rule 3: the message says the client is locked.
    #[error("the client is locked: only the account owner, account admins and the client owner may change it")]
    Locked,
    /// `If-Match` named a version that is no longer current.
    #[error("the client has changed since it was read")]
    PreconditionFailed,
    #[error("{0}")]
    Conflict(String),
    /// Password hashing is at capacity (`password_work::Busy`): 503 with `Retry-After`.
    #[error("the server is busy; try again shortly")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// A failure inside Gatehouse that is neither the caller's doing nor the store's: signing a
/// token, hashing a password. Answered 500 like a store failure, but logged as what it is, so
/// that an operator looks at the keys or the host rather than the database.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("signing a token failed: {0}")]
    Signing(#[source] KeyError),
    #[error("hashing a password failed: {0}")]
    PasswordHashing(String),
    /// Sealing a value shown once for the page after a redirect failed.
    #[error("sealing a value for the portal failed: {0}")]
    Sealing(#[source] crate::master_key::MasterKeyError),
}

/// Why a bearer token was not accepted. Deliberately coarse: the caller learns only that the
/// token is no good, never which check failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is missing, malformed, expired or no longer valid")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// RFC 6749 §5.2 errors of the token endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// §5.2 `invalid_client`: unknown client, wrong secret, disabled, deleted, or address not
    /// allowed. All of these answer identically, so a caller cannot tell which it was.
    #[error("client authentication failed")]
    InvalidClient,
    /// §5.2 `invalid_scope`.
    #[error("the requested scope is invalid, unknown, or exceeds the scope granted to the client")]
    InvalidScope,
    /// Seed rule 11 with the `refuse` policy: the client already holds the maximum of live
    /// tokens.
    #[error("the client already holds the maximum number of live tokens")]
    TooManyLiveTokens,
    /// Too many recent authentication failures for this client id from this address.
    #[error("too many failed attempts; try again later")]
    Throttled { retry_after_seconds: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] InternalError),
}
