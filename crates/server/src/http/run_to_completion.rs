//! Requests that change something run to their end, even if the caller goes away.
//!
//! Hyper drops a request's future when its connection closes. For a write that means stopping
//! at whatever `.await` it had reached: after the store committed but before this instance's
//! caches followed the change (on SQLite nothing else would tell them: a disabled client would
//! keep passing the gateway check here), before the audit event was written (a caller could
//! hide what it did by hanging up at the right moment), or between the two writes of one
//! operation (an admin client handed to a new owner before its secret is replaced would keep
//! working for whoever held it, with its new owner's role). So a request with an unsafe method
//! runs in a task of its own, and the connection only waits for its answer.
//!
//! Safe methods (reads) are left as they are: dropping them loses nothing. The token endpoint
//! is not wrapped: its one write, the token's record, is made by the token ledger's own task,
//! which follows it before answering anyone.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::http::api::error::ApiError;

#[derive(Clone, Copy, Debug, Default)]
pub struct RunToCompletionLayer;

impl<S> Layer<S> for RunToCompletionLayer {
    type Service = RunToCompletion<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RunToCompletion { inner }
    }
}

#[derive(Clone, Debug)]
pub struct RunToCompletion<S> {
    inner: S,
}

impl<S> Service<Request> for RunToCompletion<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let safe = request.method().is_safe();
        let answer = self.inner.call(request);
        if safe {
            return Box::pin(answer);
        }
        // In the request's span (entered around this call), so its log lines keep the id.
        let task = tokio::spawn(answer.instrument(tracing::Span::current()));
        Box::pin(async move {
            match task.await {
                Ok(answer) => answer,
                // A panic goes on unwinding here, to the layer that turns it into a 500.
                Err(error) => match error.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    // Only a runtime shutting down cancels a task: nobody is left to answer.
                    Err(_) => Ok(ApiError::unavailable().into_response()),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::any;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    /// A route that waits to be released, then marks that it ran to its end.
    fn app(started: Arc<Notify>, release: Arc<Notify>, finished: Arc<AtomicBool>) -> Router {
        let handler = move || async move {
            started.notify_one();
            release.notified().await;
            finished.store(true, Ordering::SeqCst);
            "done"
        };
        Router::new().route("/", any(handler)).layer(RunToCompletionLayer)
    }

    async fn abandoned(method: &str) -> bool {
        let (started, release, finished) = (Arc::new(Notify::new()), Arc::new(Notify::new()), Arc::default());
        let app = app(started.clone(), release.clone(), Arc::clone(&finished));
        let request = Request::builder().method(method).uri("/").body(Body::empty()).unwrap();
        let answer = tokio::spawn(app.oneshot(request));
        started.notified().await;
        // The caller hangs up mid-request.
        answer.abort();
        let _ = answer.await;
        release.notify_one();
        tokio::time::sleep(Duration::from_millis(50)).await;
        finished.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_write_whose_caller_hangs_up_still_runs_to_its_end() {
        for method in ["POST", "PATCH", "PUT", "DELETE"] {
            assert!(abandoned(method).await, "{method}");
        }
    }

    #[tokio::test]
    async fn a_read_whose_caller_hangs_up_stops() {
        assert!(!abandoned("GET").await);
    }

    async fn panics() -> &'static str {
        panic!("boom")
    }

    #[tokio::test]
    async fn a_panicking_write_still_panics_where_the_panic_layer_sees_it() {
        let app = Router::new()
            .route("/", any(panics))
            .layer(RunToCompletionLayer)
            .layer(tower_http::catch_panic::CatchPanicLayer::new());
        let request = Request::builder().method("POST").uri("/").body(Body::empty()).unwrap();
        let answer = app.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}
