//! `POST /api-services/v1/auth/leaked`: reports of leaked credentials, as GitHub's
//! credential-revocation API takes them. Anyone may report; nobody learns which values were
//! real. Errors are in the management API's format: this is a JSON endpoint, not OAuth's.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::leaked::MAX_REPORTED;
use gatehouse_domain::ratelimit::RateDecision;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::api::error::{ApiError, ErrorBody};
use crate::http::api::extract::ApiJson;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LeakReport {
    /// Values found where they should not be: client secrets (`gsec_…`) and API keys (`gak_…`).
    #[schema(max_items = 100)]
    credentials: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct LeakAccepted {
    message: &'static str,
}

/// Every listed value that is a live client secret or API key stops working within a second:
/// it is replaced by one nobody holds, as a renewal would, and every token minted with it is
/// refused. The owner finds the report in the audit log with the reporter's address.
#[utoipa::path(post, path = "/api-services/v1/auth/leaked", tag = "oauth", request_body = LeakReport,
    responses(
        (status = 202, body = LeakAccepted, description = "the same answer whatever the values were"),
        (status = 429, body = ErrorBody, description = "too many reports from this address", headers(("Retry-After" = u32))),
    ))]
pub async fn leaked(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(report): ApiJson<LeakReport>,
) -> Result<Response, ApiError> {
    if report.credentials.len() > MAX_REPORTED {
        return Err(ApiError::invalid_field("credentials", "must list at most 100 values"));
    }
    let reporter = state.trusted_proxies.client_ip(peer, &headers);
    let now = state.clock.now();
    if let RateDecision::Limited { retry_after_seconds } = state.gatehouse.admit_leak_report(reporter, now).await? {
        let retry_after = i64::try_from(retry_after_seconds).unwrap_or(i64::MAX);
        return Err(ApiError::too_many_requests("too many reports from this address", retry_after));
    }
    // Answered before any value is looked up, so that how long the answer takes says nothing
    // about them; the work goes on in the request's span, a bounded amount of it at a time.
    if let Some(report) = state.gatehouse.take_leak_report(&report.credentials, reporter) {
        let gatehouse = state.gatehouse.clone();
        let work = async move { gatehouse.end_leaked(report, now).await };
        tokio::spawn(work.instrument(tracing::Span::current()));
    }
    let body = LeakAccepted { message: "reported; every value that is a live credential stops working" };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
