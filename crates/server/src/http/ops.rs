//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// 200 as soon as the server accepts requests.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "the process is up")))]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 only while the store answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "the store answers"), (status = 503, description = "the store is unreachable")))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.gatehouse.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "store": "ok"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "store": "unreachable"})))
        }
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String)))]
/// Prometheus scrapes this (DESIGN.md "Operations"). It holds counts only, never an id or a
/// secret; still, expose it only where your monitoring can reach it.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut response = state.metrics.render(state.gatehouse.audit_refusals_suppressed()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// The operations routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(healthz, readyz, metrics))]
pub(super) struct OpsApi;
