//! The HTTP layer: routing, extraction and the mapping of domain results onto the wire. Handlers
//! are thin: extract, authorise through the domain, map the result.

pub mod api;
pub mod client_address;
pub mod connections;
pub mod cors;
mod gateway;
pub mod oauth;
mod openapi;
mod ops;
mod portal;
pub mod request_body;
pub mod request_id;
mod run_to_completion;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use gatehouse_domain::clock::Clock;
use gatehouse_domain::service::Gatehouse;
use tower_http::catch_panic::CatchPanicLayer;

use self::client_address::TrustedProxies;
use self::run_to_completion::RunToCompletionLayer;
use crate::metrics::Metrics;

/// Shared by every handler, and cloned for each request (axum's `State` clones it): one `Arc`,
/// so a clone and its drop are one atomic operation each, not one per field. On the gateway
/// check, which answers from memory, that was a visible share of the work.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What every handler reads: the domain service and the settings of this instance.
pub struct Shared {
    pub gatehouse: Arc<Gatehouse>,
    pub clock: Arc<dyn Clock>,
    /// The externally visible base URL (the issuer), for links such as paging URLs.
    pub public_url: Arc<str>,
    /// Whose forwarding headers are believed (seed rule 13).
    pub trusted_proxies: TrustedProxies,
    /// What `/metrics` exposes.
    pub metrics: Metrics,
    /// Origins whose browser apps may call the JSON API and the OAuth endpoints.
    pub cors: cors::CorsOrigins,
}

pub fn router(state: AppState) -> Router {
    let with_request_id = request_id::RequestIdLayer::new(state.clone());
    // Browsers may call the JSON API and the OAuth endpoints from the configured origins; the
    // portal, signing in and out, the gateway check and the operators' endpoints are not for
    // other sites.
    // Writes through the JSON API and the portal finish even if their caller hangs up.
    let writes = RunToCompletionLayer;
    let cross_origin = Router::new().merge(oauth::routes()).merge(api::routes().layer(writes));
    let cross_origin = match state.cors.layer() {
        Some(cors) => cross_origin.layer(cors),
        None => cross_origin,
    };
    let router = Router::new()
        .merge(ops::routes())
        .merge(openapi::routes(&state.public_url))
        .merge(cross_origin)
        .merge(api::session_routes().layer(writes))
        .merge(oauth::report_routes())
        .merge(gateway::routes())
        .merge(portal::routes(&state).layer(writes))
        .fallback(api::not_found)
        .with_state(state);
    // The request log is at INFO; when that level is off (the filter is fixed at start) the
    // layer is left out rather than run on every request for nothing.
    let router =
        if tracing::enabled!(tracing::Level::INFO) { router.layer(middleware::from_fn(log_request)) } else { router };
    // A panic becomes a plain 500 in the documented format; the detail stays in the log. The
    // request id is outermost, so that the panic's log line carries it and its 500 echoes it.
    router.layer(CatchPanicLayer::custom(api::error::panic_response)).layer(with_request_id)
}

/// The routes machines call once per API call, tens of thousands of times a second. Their
/// successes are logged at DEBUG: at INFO, one line each cost a fifth of the token endpoint's
/// throughput and nearly a third of the check's, and `/metrics` counts them anyway. Their
/// refusals stay at INFO with every other request.
const MACHINE_RATE_ROUTES: [&str; 6] = [
    "/api-services/v1/auth/token",
    "/api-services/v1/auth/introspect",
    "/v1/auth/check",
    "/v1/auth/check/{*path}",
    "/v1/auth/products/{product}/check",
    "/v1/auth/products/{product}/check/{*appended}",
];

/// One log line per request: method, route (never the query string, which could carry a
/// secret), status and duration.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("<unmatched>", MatchedPath::as_str);
    let status = response.status();
    let micros = started.elapsed().as_micros() as u64;
    if status.is_success() && MACHINE_RATE_ROUTES.contains(&route) {
        tracing::debug!(%method, route, status = status.as_u16(), micros, "request");
    } else {
        tracing::info!(%method, route, status = status.as_u16(), micros, "request");
    }
    response
}
