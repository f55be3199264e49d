//! The gateway check (DESIGN.md "Gateway check"): the forward-auth endpoint for nginx
//! `auth_request`, Caddy `forward_auth`, Traefik `ForwardAuth` and Envoy `ext_authz` (HTTP mode,
//! where the original path and query are appended to the check's path).
//!
//! It is a security boundary: gateways pass the end user's query string (Envoy, and Caddy unless
//! its `uri` has one) and copy the end user's headers (Caddy, Traefik, nginx by default). So the
//! product is believed only from where the end user cannot put it (the check's path, set by the
//! gateway's configuration) or worked out from the original path, which must be one that every
//! gateway and upstream resolves alike (`gatehouse_edge::original_path`).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use gatehouse_domain::gate::{CheckDenial, CheckGrant, CheckRequest};
use gatehouse_edge::original_path;

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
        ("X-Gatehouse-Profile-Id" = String, description = "the access profile whose credential was used; empty otherwise"),
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

/// Where the check's routes live: the plain one, the one Envoy appends the original path to,
/// and the one whose path names the product.
const CHECK: &str = "/v1/auth/check";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CHECK, any(check))
        .route("/v1/auth/check/{*path}", any(check_with_path))
        .route("/v1/auth/products/{product}/check", any(check_named))
        .route("/v1/auth/products/{product}/check/{*appended}", any(check_named))
}

/// Forward auth for nginx `auth_request`, Caddy `forward_auth` and Traefik `ForwardAuth` (any
/// method is accepted, as gateways forward the original one). The product is the one whose path
/// prefix the original path lies under. The check's own query string is never read: Caddy
/// passes the end user's there.
#[utoipa::path(get, path = "/v1/auth/check", tag = "gateway", security(("bearer" = [])),
    params(
        ("X-Original-URI" = Option<String>, Header, description = "the original path (nginx)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original path (Caddy, Traefik); must agree with X-Original-URI when both are sent"),
    ),
    responses(CheckAnswers))]
// Takes the request whole: the `HeaderMap` extractor would copy every header, on the one route
// that answers tens of thousands of requests a second.
async fn check(State(state): State<AppState>, request: Request) -> Response {
    let Some(peer) = peer(&request) else {
        return ApiError::internal().into_response();
    };
    decide(&state, peer, request.headers(), Target::Path(None)).await
}

/// Envoy's `ext_authz` (HTTP) appends the end user's path and query to the configured prefix
/// `/v1/auth/check`: the path is read raw from the request line and resolved once (never
/// decoded by the router first), and the query, the end user's, is ignored.
#[utoipa::path(get, path = "/v1/auth/check/{path}", tag = "gateway", security(("bearer" = [])),
    params(("path" = String, Path, description = "the original request path, slashes included")),
    responses(CheckAnswers))]
async fn check_with_path(State(state): State<AppState>, request: Request) -> Response {
    let Some(peer) = peer(&request) else {
        return ApiError::internal().into_response();
    };
    // The router matched `/v1/auth/check/{*path}`, so the prefix is there and a `/` follows.
    let appended = request.uri().path().strip_prefix(CHECK).unwrap_or_default();
    decide(&state, peer, request.headers(), Target::Path(Some(appended))).await
}

/// The product named by the gateway's configuration: the check's URL is set per route in the
/// gateway (`proxy_pass .../v1/auth/products/SuperSIM/check`, Caddy's `uri`, Traefik's
/// `address`), and what Envoy appends comes after it, so the end user cannot change it. An
/// original path, if the gateway sends one, must still be one every resolver reads alike.
#[utoipa::path(get, path = "/v1/auth/products/{product}/check", tag = "gateway", security(("bearer" = [])),
    params(
        ("product" = String, Path, description = "the product the gateway's route is for"),
        ("X-Original-URI" = Option<String>, Header, description = "the original path (nginx), refused if ambiguous"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "the original path (Caddy, Traefik), refused if ambiguous"),
    ),
    responses(CheckAnswers))]
async fn check_named(State(state): State<AppState>, Path(named): Path<NamedProduct>, request: Request) -> Response {
    let Some(peer) = peer(&request) else {
        return ApiError::internal().into_response();
    };
    // What Envoy appends after `/check`, raw, when this route is its prefix: held to the same
    // rules as an original-path header. The product segment holds no raw `/`.
    let appended = request
        .uri()
        .path()
        .strip_prefix("/v1/auth/products/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(_product, rest)| rest.strip_prefix("check"))
        .filter(|rest| rest.starts_with('/'));
    decide(&state, peer, request.headers(), Target::Product { product: &named.product, appended }).await
}

#[derive(serde::Deserialize)]
struct NamedProduct {
    product: String,
}

fn peer(request: &Request) -> Option<SocketAddr> {
    // The accept loop always sets it: its absence is a bug of ours.
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| *peer)
}

/// What the route says the check is about.
enum Target<'a> {
    /// The product follows from the original path: from the headers, or Envoy's appended one.
    Path(Option<&'a str>),
    /// The gateway's configuration named the product; Envoy may have appended the path.
    Product { product: &'a str, appended: Option<&'a str> },
}

/// The headers gateways carry the original request target in. Caddy and Traefik copy the end
/// user's headers to the check and set only `X-Forwarded-Uri`; nginx sets what its location
/// says and, unless told otherwise, copies the rest. So either may have come from the end user,
/// and a disagreement is refused rather than settled by choosing one.
const ORIGINAL_PATH_HEADERS: [&str; 2] = ["x-original-uri", "x-forwarded-uri"];

/// The one original path the request carries (every candidate's path part agreeing), `None`
/// if it carries none, or the reason it is refused.
fn original_path<'a>(headers: &'a HeaderMap, appended: Option<&'a str>) -> Result<Option<&'a str>, &'static str> {
    let mut agreed: Option<&str> = appended;
    for name in ORIGINAL_PATH_HEADERS {
        for value in headers.get_all(name) {
            let value = value.to_str().map_err(|_| "an original-path header is not plain text")?;
            match agreed {
                Some(seen) if original_path::path_part(seen) != original_path::path_part(value) => {
                    return Err("the original-path headers disagree");
                }
                Some(_) => {}
                None => agreed = Some(value),
            }
        }
    }
    Ok(agreed)
}

async fn decide(state: &AppState, peer: SocketAddr, headers: &HeaderMap, target: Target<'_>) -> Response {
    let Some(credential) = bearer_token(headers) else {
        state.metrics.gateway_check(CheckDecision::Unauthenticated);
        return ApiError::unauthenticated().into_response();
    };
    let (named_product, appended) = match target {
        Target::Path(appended) => (None, appended),
        Target::Product { product, appended } => (Some(product), appended),
    };
    let decision = match original_path(headers, appended) {
        Ok(path) => {
            let client_ip = state.trusted_proxies.client_ip(peer, headers);
            let request = CheckRequest { credential, named_product, path, client_ip };
            state.gatehouse.check(request, state.clock.now()).await
        }
        Err(reason) => Err(CheckDenial::Forbidden(reason)),
    };
    state.metrics.gateway_check(match &decision {
        Ok(_) => CheckDecision::Allowed,
        Err(CheckDenial::Unauthenticated) => CheckDecision::Unauthenticated,
        Err(CheckDenial::Forbidden(_)) => CheckDecision::Forbidden,
        Err(CheckDenial::RateLimited { .. }) => CheckDecision::RateLimited,
        Err(CheckDenial::Unavailable) => CheckDecision::Unavailable,
    });
    match decision {
        Ok(grant) => allowed(&grant).unwrap_or_else(|| {
            // Ids, names and scopes are validated text: a value that is not a header value is a
            // bug of ours, and an answer without the identity would be a 200 for nobody.
            tracing::error!("an identity header of an allowed check is not a header value");
            ApiError::internal().into_response()
        }),
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

/// The 200 of an allowed check, with who is calling. Every `X-Gatehouse-*` header is always
/// present, `X-Gatehouse-Profile-Id` empty when no profile credential was used: Envoy's
/// `allowed_upstream_headers` and Traefik's `authResponseHeaders` replace only the headers the
/// answer carries, so a caller's own `X-Gatehouse-Profile-Id` would otherwise reach the API.
fn allowed(grant: &CheckGrant) -> Option<Response> {
    // Sized for what goes in, with hyper's date and content-length: grown from empty, the map
    // was rehashed twice per allowed request.
    let mut response = Response::new(Body::empty());
    *response.headers_mut() = HeaderMap::with_capacity(12);
    let headers = response.headers_mut();
    let profile_id = grant.profile.as_ref().map_or("", |profile| profile.profile_id.as_str());
    for (name, value) in [
        (&CLIENT_ID, grant.client.client_id.as_str()),
        (&ACCOUNT_ID, grant.client.account_id.as_str()),
        (&SCOPES, &*grant.scope),
        (&PRODUCT, grant.product.as_str()),
        (&PROFILE_ID, profile_id),
    ] {
        headers.insert(name.clone(), HeaderValue::from_str(value).ok()?);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Some(response)
}

/// The gateway check's part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(check, check_with_path, check_named))]
pub(super) struct GatewayApi;
