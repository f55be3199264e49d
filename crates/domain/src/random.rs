//! The random source (AWS-LC's DRBG over the OS source), the only source of secrets and ids.

use aws_lc_rs::rand::SecureRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills `buf` with cryptographically secure random bytes: AWS-LC's DRBG, seeded from the OS
/// and reseeded by it, fork-safe. Every token's `jti` comes from here, and a system call per
/// token cost more than the DRBG does. A failing random source leaves no safe way to mint
/// secrets, so it aborts the process rather than hand out predictable bytes.
pub fn fill(buf: &mut [u8]) {
    if aws_lc_rs::rand::SystemRandom::new().fill(buf).is_err() {
        tracing::error!("the random source failed");
        std::process::abort();
    }
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}
