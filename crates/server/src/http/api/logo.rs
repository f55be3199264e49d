//! `/v1/clients/{client_id}/logo`: a client's logo (seed file 002). Uploaded as the raw image,
//! whatever `Content-Type` says; served with the type its bytes showed, and headers that keep a
//! browser from reading it as anything else.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use gatehouse_domain::ids::ClientId;
use gatehouse_domain::logo::{Logo, MAX_LOGO_BYTES};

use super::error::{ApiError, ErrorBody};
use super::extract::Authenticated;
use crate::http::AppState;
use crate::http::request_body::{self, BodyFailure};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/clients/{client_id}/logo", put(set_logo).get(get_logo).delete(delete_logo))
}

/// The logo as a response: the sniffed type, never sniffed again by the browser, never run.
pub fn logo_response(logo: &Logo) -> Response {
    let mut response = Body::from(logo.bytes().to_vec()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(logo.image_type().content_type()));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline; filename=\"logo\""));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    response
}

/// The uploaded bytes, at most [`MAX_LOGO_BYTES`].
pub async fn read_logo(body: Body) -> Result<Logo, ApiError> {
    let bytes = request_body::read(body, MAX_LOGO_BYTES).await.map_err(|failure| match failure {
        BodyFailure::TooLarge => ApiError::payload_too_large("a logo is at most 256 KiB"),
        BodyFailure::TimedOut => ApiError::request_timeout(),
    })?;
    Ok(Logo::sniff(bytes.to_vec())?)
}

/// `PUT /v1/clients/{client_id}/logo`: the image itself as the body, a PNG or JPEG of at most
/// 256 KiB, recognised by its bytes.
#[utoipa::path(put, path = "/v1/clients/{client_id}/logo", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    request_body(content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg")), description = "a PNG or JPEG image, at most 256 KiB"),
    responses(
        (status = 204, description = "the logo is set"), (status = 400, body = ErrorBody, description = "not a whole PNG or JPEG image"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
async fn set_logo(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let logo = read_logo(request.into_body()).await?;
    state.gatehouse.set_logo(&actor, &ClientId::from_string(client_id), &logo, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/clients/{client_id}/logo`: the image, as `logo_url` names it.
#[utoipa::path(get, path = "/v1/clients/{client_id}/logo", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses(
        (status = 200, content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg")), description = "the logo"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "no such client, or no logo"),
    ))]
async fn get_logo(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let logo = state.gatehouse.logo(&actor, &ClientId::from_string(client_id)).await?;
    logo.map(|logo| logo_response(&logo)).ok_or_else(|| ApiError::not_found("logo"))
}

/// `DELETE /v1/clients/{client_id}/logo`: 204, with or without a logo before.
#[utoipa::path(delete, path = "/v1/clients/{client_id}/logo", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 204, description = "no logo now"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_logo(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_logo(&actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logo routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(set_logo, get_logo, delete_logo))]
pub(super) struct LogoApi;
