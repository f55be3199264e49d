//! The OS random source, the only source of secrets and ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills `buf` from the OS random source. A failing OS RNG leaves no safe way to mint secrets,
/// and getrandom documents it as unreachable on Linux after boot, so it aborts the process rather
/// than hand out predictable bytes.
pub fn fill(buf: &mut [u8]) {
    if let Err(error) = getrandom::fill(buf) {
        tracing::error!(%error, "the OS random source failed");
        std::process::abort();
    }
}

/// `bytes` random bytes, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}
