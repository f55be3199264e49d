//! The OAuth 2.0 endpoints (RFC 6749 error format `{"error","error_description"}`) and
//! discovery.

mod discovery;
mod error;
mod form;
mod introspect;
mod leaked;
mod revoke;
mod token;

use axum::Router;
use axum::routing::{get, post};

use crate::http::run_to_completion::RunToCompletionLayer;

use super::AppState;

pub use error::OAuthError;

/// The OAuth endpoints' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    token::token,
    introspect::introspect,
    revoke::revoke,
    leaked::leaked,
    discovery::metadata,
    discovery::jwks
))]
pub(super) struct OAuthApi;

/// Reports of leaked credentials: server to server, as GitHub sends them, never from a browser
/// (kept out of the routes CORS opens, so that no web page can make its visitors report).
pub fn report_routes() -> Router<AppState> {
    Router::new().route("/api-services/v1/auth/leaked", post(leaked::leaked))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-services/v1/auth/token", post(token::token))
        .route("/api-services/v1/auth/introspect", post(introspect::introspect))
        .route("/api-services/v1/auth/revoke", post(revoke::revoke).layer(RunToCompletionLayer))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/.well-known/jwks.json", get(discovery::jwks))
}
