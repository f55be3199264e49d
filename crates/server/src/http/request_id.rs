//! Request ids. Every request runs in a `request` span carrying one, so that any log line it
//! causes (a refusal, a store failure, a panic) can be tied to the request, and the response
//! echoes it in `X-Request-Id` for the caller to quote. A trusted proxy's id is kept, so one id
//! follows the request through the proxy's logs and ours; anyone else's is replaced.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longer than any id a proxy makes (a UUID is 36 characters, a W3C trace parent 55).
const MAX_LEN: usize = 128;

/// A proxy's id, if it is one we can log as it is: at most `MAX_LEN` characters from a set
/// without spaces, quotes or control characters, so that it can never forge or break a log
/// line, in text or JSON.
fn acceptable(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.:+/=".contains(&b);
    (!text.is_empty() && text.len() <= MAX_LEN && text.bytes().all(allowed)).then_some(text)
}

/// A random prefix for this process and a counter: unique across instances and restarts, and
/// cheap enough for the gateway check, where a random id per request would be a visible cost.
/// Ids need not be secret: they only name a request.
fn generate() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        gatehouse_domain::random::fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    });
    format!("{prefix}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

pub async fn with_request_id(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
    let from_proxy = peer
        .filter(|peer| state.trusted_proxies.trusts(*peer))
        .and_then(|_| request.headers().get(&HEADER))
        .and_then(acceptable)
        .map(str::to_owned);
    let id = from_proxy.unwrap_or_else(generate);
    let span = tracing::info_span!("request", id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ids_that_cannot_break_a_log_line_are_kept() {
        for kept in ["abc", "550e8400-e29b-41d4-a716-446655440000", "00-4bf92f3577b34da6-01", &"a".repeat(MAX_LEN)] {
            assert_eq!(acceptable(&HeaderValue::from_str(kept).unwrap()), Some(kept));
        }
        for refused in ["", "has space", "quote\"d", "new\tline", "{\"json\":1}", &"a".repeat(MAX_LEN + 1)] {
            assert_eq!(acceptable(&HeaderValue::from_str(refused).unwrap()), None, "{refused:?}");
        }
        assert_eq!(acceptable(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()), None);
    }

    #[test]
    fn generated_ids_are_distinct_and_acceptable() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| acceptable(&HeaderValue::from_str(id).unwrap()).is_some()));
    }
}
