//! `POST /api-services/v1/auth/introspect`: RFC 7662 token introspection.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ErrorBody, OAuthError};
use super::form::OAuthForm;
use super::token::no_store;
use crate::http::AppState;

/// RFC 7662 §2.2. An inactive token is exactly `{"active": false}`: every other member is
/// skipped, so no reason leaks.
#[derive(Serialize, Default, utoipa::ToSchema)]
struct Introspection {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_type: Option<String>,
}

/// The introspection request's form (RFC 7662 §2.1), for `/openapi.json` only.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document; OAuthForm parses it")]
pub(super) struct TokenForm {
    token: String,
    /// Accepted and ignored: access tokens are the only kind issued.
    token_type_hint: Option<String>,
    /// With `client_secret`, instead of HTTP Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7662. The caller is a client holding `introspection`, or the token's own client.
#[utoipa::path(post, path = "/api-services/v1/auth/introspect", tag = "oauth", security((), ("client_secret_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = Introspection, description = "exactly {\"active\": false} for anything unknown, expired, revoked, or from a disabled, renewed or deleted client"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody),
    ))]
pub async fn introspect(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    // §2.1: the caller must authenticate; an unauthenticated caller learns nothing.
    let caller = form.authenticate(&state).await?;
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("The token parameter is missing"))?;
    let active = state
        .gatehouse
        .introspect(&caller, token, state.clock.now())
        .await
        .map_err(|error| OAuthError::from_token_error(error.into(), form.basic_attempted()))?;
    state.metrics.introspection(active.is_some());
    let body = match active {
        None => Introspection::default(),
        Some(active) => {
            let claims = active.claims;
            Introspection {
                active: true,
                scope: Some(claims.scope),
                client_id: Some(claims.client_id),
                sub: Some(claims.sub),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                jti: Some(claims.jti),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
                token_type: Some("Bearer"),
                account_id: Some(claims.account_id),
                client_type: Some(claims.client_type),
            }
        }
    };
    let mut response = Json(body).into_response();
    no_store(&mut response);
    Ok(response)
}
