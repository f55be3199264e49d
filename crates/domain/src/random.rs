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

/// Bytes drawn from the DRBG a page at a time, per thread, for values that must be unique and
/// unpredictable but protect nothing if read from memory: token ids (`jti`). One DRBG call costs
/// about as much as drawing a page from it (it re-keys and mixes in the CPU's RNG per call), and
/// a call per token was 2% of the token endpoint. Secrets, keys and nonces use [`fill`].
pub fn fill_id_bytes(buf: &mut [u8]) {
    const RESERVE: usize = 4096;
    thread_local! {
        static RESERVE_BYTES: std::cell::RefCell<(Box<[u8; RESERVE]>, usize)> =
            std::cell::RefCell::new((Box::new([0; RESERVE]), RESERVE));
    }
    if buf.len() > RESERVE / 8 {
        return fill(buf);
    }
    RESERVE_BYTES.with_borrow_mut(|(bytes, used)| {
        if RESERVE - *used < buf.len() {
            fill(&mut bytes[..]);
            *used = 0;
        }
        let taken = &mut bytes[*used..*used + buf.len()];
        buf.copy_from_slice(taken);
        // Ids already handed out do not linger in the reserve for a later read of memory.
        taken.fill(0);
        *used += buf.len();
    });
}
