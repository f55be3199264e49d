//! `GET /v1/auth/check`: the forward-auth endpoint for nginx `auth_request`, Traefik
//! `ForwardAuth` and Envoy `ext_authz` (HTTP mode, where the original path is appended to the
//! check path).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use gatehouse_domain::gate::{CheckDenial, CheckRequest};

use super::AppState;
use super::api::error::{ApiError, ErrorBody, ErrorCode};
use super::api::extract::bearer_token;
use crate::metrics::CheckDecision;

/// What both check routes answer, for `/openapi.json`.
#[derive(utoipa::IntoResponses)]
#[expect(dead_code, reason = "describes the responses for the OpenAPI document; decide() builds them")]
enum CheckAnswers {
    #[response(status = 200, description = "allowed; the headers say who", headers(
        ("X-Gatehouse-Client-Id" = String), ("X-Gatehouse-Account-Id" = String),
        ("X-Gatehouse-Scopes" = String, description = "space-separated"), ("X-Gatehouse-Product" = String),
        ("X-Gatehouse-Profile-Id" = String, description = "when an access profile's credential was used"),
    ))]
    Allowed,
    #[response(status = 401, description = "missing, bad, expired or refused credential")]
    Unauthenticated(ErrorBody<'static>),
    #[response(status = 403, description = "product outside the token's scopes, or address not allowed")]
    Forbidden(ErrorBody<'static>),
    #[response(status = 429, description = "over the rate limit", headers(("Retry-After" = u32)))]
    RateLimited(ErrorBody<'static>),
    #[response(status = 503, description = "the store is unreachable on a first sight")]
    Unavailable(ErrorBody<'static>),
}

// What the gateway passes upstream (DESIGN.md "Gateway check").
static CLIENT_ID: HeaderName = HeaderName::from_static("x-gatehouse-client-id");
static ACCOUNT_ID: HeaderName = HeaderName::from_static("x-gatehouse-account-id");
static SCOPES: HeaderName = HeaderName::from_static("x-gatehouse-scopes");
static PRODUCT: HeaderName = HeaderName::from_static("x-gatehouse-product");
static PROFILE_ID: HeaderName = HeaderName::from_static("x-gatehouse-profile-id");

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/auth/check", any(check)).route("/v1/auth/check/{*path}", any(check_with_path))
}

/// Forward auth for nginx `auth_request`, Traefik `ForwardAuth` and Envoy `ext_authz` (any
/// method is accepted, as gateways forward the original one).
#[utoipa::path(get, path = "/v1/auth/check", tag = "gateway", security(("bearer" = [])),
    params(
        ("product" = Option<String>, Query, description = "the product asked for; otherwise matched from the original path"),
        ("X-Original-URI" = Option<String>, Header, description = "the original path (nginx)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original path (Traefik)"),
    ),
    responses(CheckAnswers))]
// Takes the request whole: the `HeaderMap` extractor would copy every header, on the one route
// that answers tens of thousands of requests a second.
async fn check(State(state): State<AppState>, request: Request) -> Response {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        // The accept loop always sets it: its absence is a bug of ours.
        return ApiError::internal().into_response();
    };
    decide(&state, peer, request.uri().query(), request.headers(), None).await
}

/// Envoy's `ext_authz` appends the original path to the configured prefix.
#[utoipa::path(get, path = "/v1/auth/check/{path}", tag = "gateway", security(("bearer" = [])),
    params(("path" = String, Path, description = "the original request path, slashes included")),
    responses(CheckAnswers))]
async fn check_with_path(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = format!("/{path}");
    decide(&state, peer, query.as_deref(), &headers, Some(&path)).await
}

async fn decide(
    state: &AppState,
    peer: SocketAddr,
    query: Option<&str>,
    headers: &HeaderMap,
    path: Option<&str>,
) -> Response {
    let Some(credential) = bearer_token(headers) else {
        state.metrics.gateway_check(CheckDecision::Unauthenticated);
        return ApiError::unauthenticated().into_response();
    };
    let product = query.and_then(|query| {
        form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "product").map(|(_, value)| value)
    });
    // The original path matters only when no product is named.
    let original = product.is_none().then(|| {
        ["x-original-uri", "x-forwarded-uri"]
            .iter()
            .find_map(|name| headers.get(*name).and_then(|value| value.to_str().ok()))
    });
    let request = CheckRequest {
        credential,
        product: product.as_deref(),
        path: original.flatten().or(path),
        client_ip: state.trusted_proxies.client_ip(peer, headers),
    };
    let decision = state.gatehouse.check(request, state.clock.now()).await;
    state.metrics.gateway_check(match &decision {
        Ok(_) => CheckDecision::Allowed,
        Err(CheckDenial::Unauthenticated) => CheckDecision::Unauthenticated,
        Err(CheckDenial::Forbidden(_)) => CheckDecision::Forbidden,
        Err(CheckDenial::RateLimited { .. }) => CheckDecision::RateLimited,
        Err(CheckDenial::Unavailable) => CheckDecision::Unavailable,
    });
    match decision {
        Ok(grant) => {
            // Sized for what goes in, with hyper's date and content-length: grown from empty,
            // the map was rehashed twice per allowed request.
            let mut response = Response::new(Body::empty());
            *response.headers_mut() = HeaderMap::with_capacity(12);
            let headers = response.headers_mut();
            for (name, value) in [
                (&CLIENT_ID, grant.client.client_id.as_str()),
                (&ACCOUNT_ID, grant.client.account_id.as_str()),
                (&SCOPES, &*grant.scope),
                (&PRODUCT, grant.product.as_str()),
            ] {
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(name.clone(), value);
                }
            }
            if let Some(profile_id) =
                grant.profile.as_ref().and_then(|profile| HeaderValue::from_str(profile.profile_id.as_str()).ok())
            {
                headers.insert(PROFILE_ID.clone(), profile_id);
            }
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(CheckDenial::Unauthenticated) => ApiError::unauthenticated().into_response(),
        Err(CheckDenial::Forbidden(reason)) => {
            ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, reason, "").into_response()
        }
        Err(CheckDenial::RateLimited { retry_after_seconds }) => {
            ApiError::too_many_requests("rate limit exceeded", i64::try_from(retry_after_seconds).unwrap_or(i64::MAX))
                .into_response()
        }
        Err(CheckDenial::Unavailable) => ApiError::unavailable().into_response(),
    }
}

/// The gateway check's part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(check, check_with_path))]
pub(super) struct GatewayApi;
