//! The OAuth 2.0 endpoints (RFC 6749 error format `{"error","error_description"}`).

mod error;
mod token;

use axum::Router;
use axum::routing::post;

use super::AppState;

pub use error::OAuthError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api-services/v1/auth/token", post(token::token))
}
