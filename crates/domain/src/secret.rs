//! Client secrets and how they are stored.
//!
//! Secrets are 256 random bits, so a fast keyed hash is the right storage (NIST SP 800-63B
//! §5.1.2.2: secrets with at least 112 bits of entropy may use a plain approved one-way
//! function). A password-grade hash would make every token request cost tens of milliseconds
//! (Hydra's bcrypt: ory/hydra#1477) and buy nothing against a 2^256 search.

use std::net::IpAddr;

use aws_lc_rs::{constant_time, hmac};
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::ids::SecretId;
use crate::master_key::MasterKey;
use crate::random::random_token;

/// Prefix that lets secret scanners recognise a leaked Gatehouse client secret.
pub const SECRET_PREFIX: &str = "gsec_";
/// The prefix of an access profile's API key.
pub const API_KEY_PREFIX: &str = "gak_";

/// Base64url characters of 256 random bits.
const RANDOM_CHARS: usize = 43;
/// Base62 characters of the checksum: 62^6 > 2^32.
const CHECKSUM_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The checksum that ends a scannable credential: CRC-32 (IEEE, as zlib computes it) of
/// everything before it, in base62, most significant digit first, padded with `0` to six.
fn checksum(body: &str) -> [u8; CHECKSUM_CHARS] {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut value = CRC.checksum(body.as_bytes());
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// A new credential in the scannable format (as GitHub's tokens are): `prefix`, 43 base64url
/// characters of 256 random bits, and the six-character checksum of both. A secret scanner can
/// tell a real Gatehouse credential from random text offline.
fn scannable(prefix: &str) -> String {
    let mut value = format!("{prefix}{}", random_token(32));
    let sum = checksum(&value);
    value.extend(sum.iter().map(|&digit| char::from(digit)));
    value
}

/// Whether `value` has the shape of a Gatehouse client secret or API key, checked offline: a
/// prefix and 43 base64url characters, then a correct checksum (credentials made before
/// checksums have none, and go on working).
pub fn is_credential_shaped(value: &str) -> bool {
    let is_random = |text: &str| text.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    [SECRET_PREFIX, API_KEY_PREFIX].into_iter().any(|prefix| {
        let Some(rest) = value.strip_prefix(prefix) else { return false };
        let (Some(random), Some(sum)) = (rest.get(..RANDOM_CHARS), rest.get(RANDOM_CHARS..)) else { return false };
        let body = &value[..prefix.len() + RANDOM_CHARS];
        is_random(random) && (sum.is_empty() || sum.as_bytes() == checksum(body))
    })
}

/// A client secret in clear. Only ever held between generation and the one response that shows
/// it, or between the token request that presents it and the hash comparison.
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// A client secret: 256 bits from the OS random source, in the scannable format.
    pub fn generate() -> Self {
        Self(SecretString::from(scannable(SECRET_PREFIX)))
    }

    /// An access profile's API key, in the scannable format.
    pub fn generate_api_key() -> Self {
        Self(SecretString::from(scannable(API_KEY_PREFIX)))
    }

    pub fn from_presented(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// The clear text, for the single response that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// The public start of the value, to recognise it in a list: the prefix and seven random
    /// characters (42 of its 256 bits, which leaves 214 to guess). `None` for a value that is
    /// not one Gatehouse generated.
    pub fn public_prefix(&self) -> Option<String> {
        let value = self.expose();
        value.starts_with(SECRET_PREFIX).then(|| value.get(..PUBLIC_PREFIX_CHARS)).flatten().map(str::to_owned)
    }
}

/// How much of a secret [`ClientSecret::public_prefix`] shows.
const PUBLIC_PREFIX_CHARS: usize = SECRET_PREFIX.len() + 7;

/// When a secret's coming expiry is worth a warning.
pub const EXPIRES_SOON: Duration = Duration::days(14);

/// When and from where a credential was last used, as the batched record of uses last wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastUse {
    pub at: OffsetDateTime,
    pub ip: IpAddr,
}

/// One of a client's secrets as stored: never its value, only its hash and what may be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSecret {
    pub secret_id: SecretId,
    pub hash: SecretHash,
    /// [`ClientSecret::public_prefix`]; `None` for a secret made before prefixes were kept.
    pub prefix: Option<String>,
    pub date_created: OffsetDateTime,
    /// After this the secret is refused, as a wrong one is; `None`: never.
    pub expires_at: Option<OffsetDateTime>,
    pub last_use: Option<LastUse>,
}

impl StoredSecret {
    pub fn new(secret_id: SecretId, hash: SecretHash, secret: &ClientSecret, now: OffsetDateTime) -> Self {
        Self { secret_id, hash, prefix: secret.public_prefix(), date_created: now, expires_at: None, last_use: None }
    }

    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|expires_at| expires_at > now)
    }

    /// This secret as the previous one after a rotation at `now`: working until `until` at the
    /// latest. `None` if it would not work past `now` (no grace period, or already expired).
    pub fn in_grace_until(self, until: OffsetDateTime, now: OffsetDateTime) -> Option<StoredSecret> {
        let expires_at = self.expires_at.map_or(until, |expires_at| expires_at.min(until));
        (expires_at > now).then_some(StoredSecret { expires_at: Some(expires_at), ..self })
    }

    /// Live, but not for [`EXPIRES_SOON`] longer.
    pub fn expires_soon(&self, now: OffsetDateTime) -> bool {
        self.is_live(now) && self.expires_at.is_some_and(|expires_at| expires_at - now <= EXPIRES_SOON)
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

/// The stored form of a secret: HMAC-SHA-256 under a server key that never enters the database.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash(Vec<u8>);

impl SecretHash {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash([REDACTED])")
    }
}

/// Hashes and checks client secrets.
#[derive(Clone)]
pub struct SecretHasher {
    key: hmac::Key,
    /// Compared against when the client id is unknown, so that an unknown id and a wrong secret
    /// cost comparable time and timing does not reveal which ids exist (`bench/refusal_timing.py`
    /// measures it).
    dummy: SecretHash,
}

impl SecretHasher {
    pub fn new(master_key: &MasterKey) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &master_key.derive(b"gatehouse client secret hash v1"));
        let dummy = SecretHash(hmac::sign(&key, b"gatehouse dummy secret").as_ref().to_vec());
        Self { key, dummy }
    }

    pub fn hash(&self, secret: &ClientSecret) -> SecretHash {
        SecretHash(hmac::sign(&self.key, secret.expose().as_bytes()).as_ref().to_vec())
    }

    /// Constant-time check of a presented secret against a stored hash.
    pub fn verify(&self, presented: &ClientSecret, stored: &SecretHash) -> bool {
        let computed = self.hash(presented);
        constant_time::verify_slices_are_equal(computed.as_bytes(), stored.as_bytes()).is_ok()
    }

    /// Which of `stored` the presented secret is, if any. Every candidate is compared, in
    /// constant time, so the time taken depends on how many there are, never on which matched.
    pub fn matching(&self, presented: &ClientSecret, stored: &[StoredSecret]) -> Option<usize> {
        let computed = self.hash(presented);
        let mut found = None;
        for (index, candidate) in stored.iter().enumerate() {
            if constant_time::verify_slices_are_equal(computed.as_bytes(), candidate.hash.as_bytes()).is_ok() {
                found = Some(index);
            }
        }
        found
    }

    /// Spends the same work as [`Self::verify`] and always fails.
    pub fn verify_against_dummy(&self, presented: &ClientSecret) -> bool {
        let _ = self.verify(presented, &self.dummy);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_against_its_own_hash_only() {
        let hasher = SecretHasher::new(&MasterKey::generate());
        let secret = ClientSecret::generate();
        let other = ClientSecret::generate();
        let hash = hasher.hash(&secret);
        assert!(hasher.verify(&secret, &hash));
        assert!(!hasher.verify(&other, &hash));
        assert!(!hasher.verify_against_dummy(&secret));
    }

    #[test]
    fn secrets_carry_256_bits_and_never_print() {
        let secret = ClientSecret::generate();
        assert_eq!(secret.expose().len(), SECRET_PREFIX.len() + 43 + 6);
        assert_eq!(format!("{secret:?}"), "ClientSecret([REDACTED])");
    }

    #[test]
    fn the_checksum_tells_a_credential_from_random_text() {
        // Pinned, so that the rule in the README and every scanner built from it stay true:
        // CRC-32 of "gsec_" followed by 43 'A's is 0x65BE5138 = 1706971448, "1rWHFY" in base62
        // (Python: `zlib.crc32(b"gsec_" + b"A" * 43)`).
        let body = format!("{SECRET_PREFIX}{}", "A".repeat(43));
        assert_eq!(u64::from(crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(body.as_bytes())), 0x65BE_5138);
        assert_eq!(&checksum(&body), b"1rWHFY");
        for credential in [ClientSecret::generate(), ClientSecret::generate_api_key()] {
            let value = credential.expose();
            assert!(is_credential_shaped(value), "{value}");
            let mut altered = value.as_bytes().to_vec();
            altered[10] = if altered[10] == b'x' { b'y' } else { b'x' };
            assert!(!is_credential_shaped(std::str::from_utf8(&altered).unwrap()), "one character changed");
        }
        // Credentials from before checksums are still recognised; anything else is not.
        assert!(is_credential_shaped(&body));
        for other in
            ["", "gsec_", "gsec_short", &format!("gsec_{}", "é".repeat(43)), &format!("gxx_{}", "A".repeat(43))]
        {
            assert!(!is_credential_shaped(other), "{other}");
        }
        assert!(is_credential_shaped(&format!("{body}1rWHFY")));
        assert!(!is_credential_shaped(&format!("{body}1rWHFZ")), "a wrong checksum");
    }

    #[test]
    fn a_different_server_key_gives_a_different_hash() {
        let secret = ClientSecret::generate();
        let a = SecretHasher::new(&MasterKey::generate()).hash(&secret);
        let b = SecretHasher::new(&MasterKey::generate()).hash(&secret);
        assert_ne!(a, b);
    }
}
