//! The server's master key, given in configuration or a key file: the root of the secret-hash key
//! and of the key that encrypts signing keys at rest. It never enters the database, so a stolen
//! database alone yields neither usable hashes nor signing keys.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretBox};

use crate::random;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be 32 bytes, base64-encoded")]
    Malformed,
    #[error("a stored key could not be decrypted: wrong master key, or the data is damaged")]
    Decrypt,
    #[error("the encryption library refused the operation")]
    Crypto,
}

pub struct MasterKey(SecretBox<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        random::fill(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Reads the base64 form written by [`Self::to_base64`].
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| MasterKeyError::Malformed)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }

    /// A 32-byte subkey for one purpose (HKDF-SHA-256, RFC 5869), so no two uses share a key.
    pub fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gatehouse");
        let prk = salt.extract(self.0.expose_secret());
        let mut out = [0u8; 32];
        let info = [purpose];
        // Expanding to 32 bytes is within HKDF-SHA-256's 255 * 32 limit, so neither step fails.
        if let Ok(okm) = prk.expand(&info, Len32) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    /// AES-256-GCM encryption of `plaintext`, bound to `context` (for example a key id), as
    /// nonce || ciphertext || tag, under the key that wraps signing keys.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        self.seal_for(SIGNING_KEY_WRAP, context, plaintext)
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        self.open_for(SIGNING_KEY_WRAP, context, sealed)
    }

    /// [`Self::seal`] under the subkey for `purpose`, so that no two uses share a key.
    pub fn seal_for(&self, purpose: &[u8], context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let key = self.aead_key(purpose)?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        random::fill(&mut nonce);
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut in_out)
            .map_err(|_| MasterKeyError::Crypto)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    pub fn open_for(&self, purpose: &[u8], context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        if sealed.len() < aead::NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(aead::NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .aead_key(purpose)?
            .open_in_place(nonce, Aad::from(context), &mut in_out)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }

    fn aead_key(&self, purpose: &[u8]) -> Result<LessSafeKey, MasterKeyError> {
        let bytes = self.derive(purpose);
        let key = UnboundKey::new(&aead::AES_256_GCM, &bytes).map_err(|_| MasterKeyError::Crypto)?;
        Ok(LessSafeKey::new(key))
    }
}

/// The subkey purpose signing keys are sealed under (unchanged since the first release).
const SIGNING_KEY_WRAP: &[u8] = b"gatehouse signing key wrap v1";

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"kid-1", b"private key").unwrap();
        assert_eq!(key.open(b"kid-1", &sealed).unwrap(), b"private key");
        assert!(key.open(b"kid-2", &sealed).is_err());
        assert!(MasterKey::generate().open(b"kid-1", &sealed).is_err());
    }

    #[test]
    fn base64_round_trip() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.derive(b"x"), again.derive(b"x"));
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
