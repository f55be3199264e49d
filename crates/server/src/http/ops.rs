//! Liveness and readiness.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// 200 as soon as the server accepts requests.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only while the store answers.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.gatehouse.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "store": "ok"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "store": "unreachable"})))
        }
    }
}
