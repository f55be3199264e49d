//! Identifiers. Every id is random (SECURITY.md: "Ids are random"), so guessing one reveals
//! nothing and another account's object cannot be found by enumeration.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::random::random_token;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh random id (128 bits from the OS random source).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_token(16)))
            }

            /// Wraps an id read from storage or from a request path. Ids are opaque: an id that
            /// was never issued simply matches nothing.
            pub fn from_string(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether this could be an id Gatehouse issued (URL-safe characters, at most 64).
            /// Anything else, from a request path or query, cannot name an object and is not
            /// worth a database lookup.
            pub fn is_well_formed(&self) -> bool {
                !self.0.is_empty()
                    && self.0.len() <= 64
                    && self.0.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_newtype!(
    /// A tenant.
    AccountId,
    "acc_"
);
id_newtype!(
    /// A person with portal access.
    UserId,
    "usr_"
);
id_newtype!(
    /// An API client. No prefix: it travels in HTTP Basic credentials and form bodies, where the
    /// plain URL-safe alphabet needs no escaping.
    ClientId,
    ""
);
id_newtype!(
    /// The `jti` of an access token (RFC 7519 §4.1.7).
    TokenId,
    ""
);
id_newtype!(
    /// An access profile (seed file 002). Also the `client_id` its `client_secret` credential
    /// presents at the token endpoint, hence the recognisable prefix.
    ProfileId,
    "prf_"
);
