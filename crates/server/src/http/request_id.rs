//! Request ids. Every request runs in a `request` span carrying one, so that any log line it
//! causes (a refusal, a store failure, a panic) can be tied to the request, and the response
//! echoes it in `X-Request-Id` for the caller to quote. A trusted proxy's id is kept, so one id
//! follows the request through the proxy's logs and ours; anyone else's is replaced.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

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
fn generate() -> HeaderValue {
    static PREFIX: OnceLock<[u8; 12]> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let prefix = PREFIX.get_or_init(|| {
        let mut random = [0u8; 6];
        gatehouse_domain::random::fill(&mut random);
        let mut prefix = [0u8; 12];
        for (index, byte) in random.iter().enumerate() {
            prefix[2 * index] = HEX[usize::from(byte >> 4)];
            prefix[2 * index + 1] = HEX[usize::from(byte & 15)];
        }
        prefix
    });
    // Written into a buffer on the stack: the header value is the one allocation.
    let mut id = [0u8; 12 + 1 + 16];
    id[..12].copy_from_slice(prefix);
    id[12] = b'-';
    let mut count = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = HEX[(count & 15) as usize];
        count >>= 4;
        if count == 0 {
            break;
        }
    }
    let len = 13 + digits.len() - start;
    id[13..len].copy_from_slice(&digits[start..]);
    HeaderValue::from_bytes(&id[..len]).unwrap_or_else(|_| HeaderValue::from_static("unnamed"))
}

/// Runs each request in a `request` span with its id, and echoes the id in the response. A
/// hand-written layer rather than `axum::middleware::from_fn`, which boxes every request's
/// future and clones the routes below it: on the gateway check that was a tenth of its time.
#[derive(Clone)]
pub struct RequestIdLayer {
    state: AppState,
}

impl RequestIdLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner, state: self.state.clone() }
    }
}

#[derive(Clone)]
pub struct RequestIdService<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for RequestIdService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
        let from_proxy = peer
            .filter(|peer| self.state.trusted_proxies.trusts(*peer))
            .and_then(|_| request.headers().get(&HEADER))
            .filter(|value| acceptable(value).is_some())
            .cloned();
        let id = from_proxy.unwrap_or_else(generate);
        let span = tracing::info_span!("request", id = id.to_str().unwrap_or_default());
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        WithRequestId { inner: inner.instrument(span), id: Some(id) }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's answer, in the request's span, with the id added to it.
    pub struct WithRequestId<F> {
        #[pin]
        inner: Instrumented<F>,
        id: Option<HeaderValue>,
    }
}

impl<F, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(id)) = (&mut result, this.id.take()) {
            response.headers_mut().insert(HEADER.clone(), id);
        }
        Poll::Ready(result)
    }
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
        let ids: std::collections::HashSet<HeaderValue> = (0..1000).map(|_| generate()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| acceptable(id).is_some()));
        let id = generate().to_str().unwrap().to_owned();
        let (prefix, count) = id.split_once('-').unwrap();
        assert_eq!(prefix.len(), 12);
        assert!(u64::from_str_radix(count, 16).is_ok(), "{id}");
    }
}
