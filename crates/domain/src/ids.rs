//! Identifiers. Every id is random, so guessing one reveals nothing and another account's object
//! cannot be found by enumeration.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
impl TokenId {
    /// The `jti` of a token minted at `now`: its millisecond in 12 hex digits, then 96 random
    /// bits. As unique as a random id (RFC 7519 §4.1.7: collision-resistant; nothing relies on
    /// a `jti` being unguessable, the token is signed), and ordered by time, so recording
    /// tokens appends to the token table's index instead of rewriting a random page of it per
    /// token: with a million tokens on record that cost a page of WAL per token.
    pub fn minted_at(now: time::OffsetDateTime) -> Self {
        use std::fmt::Write;
        let millis = u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0) & 0xffff_ffff_ffff;
        let mut random = [0u8; 12];
        crate::random::fill_id_bytes(&mut random);
        let mut id = String::with_capacity(28);
        let _ = write!(id, "{millis:012x}");
        URL_SAFE_NO_PAD.encode_string(random, &mut id);
        Self(id)
    }
}

id_newtype!(
    /// An access profile (seed file 002). Also the `client_id` its `client_secret` credential
    /// presents at the token endpoint, hence the recognisable prefix.
    ProfileId,
    "prf_"
);

impl ProfileId {
    pub const PREFIX: &'static str = "prf_";
}

id_newtype!(
    /// One of a client's secrets (the current one, or the previous one during a planned
    /// rotation's grace period). Public: it names the secret in lists and paths, never its value.
    SecretId,
    "sid_"
);

id_newtype!(
    /// A project (seed file 002): clients in it are seen only by its members among developers.
    ProjectId,
    "prj_"
);

id_newtype!(
    /// A policy (seed file 002): limits an account puts its access profiles under.
    PolicyId,
    "pol_"
);

/// How long the random part of a generated id is: 16 bytes in unpadded base64url.
const RANDOM_ID_CHARS: usize = 22;

/// The `client_id` presented at an OAuth endpoint: a client's own id, or an access profile's, whose
/// `client_secret` credential presents the profile id. Parsed before any throttle, cache or store
/// sees it, so invented ids cannot grow their memory: at most 64 URL-safe characters, or it names
/// nothing Gatehouse ever issued. A profile id is `prf_` and 22 more characters; a client id never
/// has that shape (it is 22 characters in all), so which one was meant is never guessed from a
/// prefix alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CredentialId {
    Client(ClientId),
    Profile(ProfileId),
}

impl CredentialId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Option<Self> {
        let url_safe = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !url_safe {
            return None;
        }
        Some(match raw.strip_prefix(ProfileId::PREFIX) {
            Some(random) if random.len() == RANDOM_ID_CHARS => Self::Profile(ProfileId(raw.to_owned())),
            _ => Self::Client(ClientId(raw.to_owned())),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Client(id) => id.as_str(),
            Self::Profile(id) => id.as_str(),
        }
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_sort_by_mint_time_and_never_repeat() {
        let t0 = time::OffsetDateTime::now_utc();
        let ids: Vec<TokenId> = (0..1000).map(|i| TokenId::minted_at(t0 + time::Duration::milliseconds(i))).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "later tokens sort after earlier ones");
        assert!(ids.iter().all(TokenId::is_well_formed));
        let same_ms: std::collections::HashSet<TokenId> = (0..1000).map(|_| TokenId::minted_at(t0)).collect();
        assert_eq!(same_ms.len(), 1000, "ids minted in one millisecond still differ");
    }

    /// Ids are 128 random bits, not counters or clocks: 10,000 of each kind are distinct, and
    /// every bit of their random part is set in about half of them (a counter's or a
    /// timestamp's high bits would be constant).
    #[test]
    fn object_ids_are_random() {
        fn random_parts(prefix: &str, ids: impl Iterator<Item = String>) -> Vec<Vec<u8>> {
            ids.map(|id| {
                let random = id.strip_prefix(prefix).unwrap();
                assert_eq!(random.len(), RANDOM_ID_CHARS, "{id}");
                URL_SAFE_NO_PAD.decode(random).unwrap()
            })
            .collect()
        }
        const N: usize = 10_000;
        for (prefix, parts) in [
            ("", random_parts("", (0..N).map(|_| ClientId::generate().to_string()))),
            ("acc_", random_parts("acc_", (0..N).map(|_| AccountId::generate().to_string()))),
            ("usr_", random_parts("usr_", (0..N).map(|_| UserId::generate().to_string()))),
            ("prf_", random_parts("prf_", (0..N).map(|_| ProfileId::generate().to_string()))),
        ] {
            let distinct: std::collections::HashSet<&Vec<u8>> = parts.iter().collect();
            assert_eq!(distinct.len(), N, "{prefix}: no repeats");
            for bit in 0..128 {
                let set = parts.iter().filter(|bytes| bytes[bit / 8] & (0x80 >> (bit % 8)) != 0).count();
                // 6 standard deviations either side of N/2 (sd = 50): never fails by chance.
                assert!((4_700..=5_300).contains(&set), "{prefix}: bit {bit} set in {set} of {N}");
            }
        }
    }

    #[test]
    fn presented_ids_are_parsed_at_the_door() {
        let client = ClientId::generate();
        let profile = ProfileId::generate();
        assert_eq!(CredentialId::parse(client.as_str()), Some(CredentialId::Client(client)));
        assert_eq!(CredentialId::parse(profile.as_str()), Some(CredentialId::Profile(profile)));
        // A client id that happens to start with `prf_` is still a client id: the kind is never
        // guessed from a prefix alone.
        assert_eq!(
            CredentialId::parse("prf_abcdefghijklmnopq"),
            Some(CredentialId::Client(ClientId::from_string("prf_abcdefghijklmnopq")))
        );
        for bad in ["", "has space", "semi;colon", "üñí", &"a".repeat(65), &"x".repeat(48 * 1024)] {
            assert_eq!(CredentialId::parse(bad), None, "{bad:.20}");
        }
    }
}
