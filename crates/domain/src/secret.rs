//! Client secrets and how they are stored.
//!
//! Secrets are 256 random bits, so a fast keyed hash is the right storage (NIST SP 800-63B
//! §5.1.2.2: secrets with at least 112 bits of entropy may use a plain approved one-way
//! function). A password-grade hash would make every token request cost tens of milliseconds
//! (Hydra's bcrypt: ory/hydra#1477) and buy nothing against a 2^256 search.

use aws_lc_rs::{constant_time, hmac};
use secrecy::{ExposeSecret, SecretString};

use crate::master_key::MasterKey;
use crate::random::random_token;

/// Prefix that lets secret scanners recognise a leaked Gatehouse secret.
const SECRET_PREFIX: &str = "gsec_";

/// A client secret in clear. Only ever held between generation and the one response that shows
/// it, or between the token request that presents it and the hash comparison.
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// 256 bits from the OS random source.
    pub fn generate() -> Self {
        Self(SecretString::from(format!("{SECRET_PREFIX}{}", random_token(32))))
    }

    pub fn from_presented(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// The clear text, for the single response that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
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
        assert_eq!(secret.expose().len(), SECRET_PREFIX.len() + 43);
        assert_eq!(format!("{secret:?}"), "ClientSecret([REDACTED])");
    }

    #[test]
    fn a_different_server_key_gives_a_different_hash() {
        let secret = ClientSecret::generate();
        let a = SecretHasher::new(&MasterKey::generate()).hash(&secret);
        let b = SecretHasher::new(&MasterKey::generate()).hash(&secret);
        assert_ne!(a, b);
    }
}
