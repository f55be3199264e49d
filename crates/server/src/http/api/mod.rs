//! The management API under `/v1` (DESIGN.md "Management API", seed file 001).

mod body;
mod clients;
pub mod error;
pub mod extract;
mod paging;
mod people;
mod products;
mod profiles;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use self::error::ApiError;
use self::extract::Authenticated;
use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ping", get(ping))
        .merge(clients::routes())
        .merge(people::routes())
        .merge(products::routes())
        .merge(profiles::routes())
}

/// 200 for any valid token, whatever its scopes (file 001's liveness check for credentials).
async fn ping(Authenticated(_actor): Authenticated) -> Json<Value> {
    Json(json!({"message": "pong"}))
}

/// Unknown routes answer in the documented error format too.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
