//! `POST /api-services/v1/auth/revoke`: RFC 7009 token revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_domain::oauth::RevokeError;

use super::error::{ErrorBody, OAuthError};
use super::form::OAuthForm;
use super::introspect::TokenForm;
use super::token::no_store;
use crate::http::AppState;

/// RFC 7009, by the token's own client.
#[utoipa::path(post, path = "/api-services/v1/auth/revoke", tag = "oauth", security((), ("client_secret_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "revoked, or unknown (RFC 7009 §2.2)"),
        (status = 400, body = ErrorBody, description = "invalid_request, or unauthorized_client for another client's token"),
        (status = 401, body = ErrorBody),
    ))]
pub async fn revoke(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    let caller = form.authenticate(&state).await?;
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("The token parameter is missing"))?;
    // §2.1: `token_type_hint` is only a hint; access tokens are the only kind issued here.
    match state.gatehouse.revoke(&caller, token, state.clock.now()).await {
        Ok(()) => {
            // §2.2: 200 whether or not the token was known.
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            Ok(response)
        }
        Err(RevokeError::NotOwner) => Err(OAuthError::unauthorized_client()),
        Err(RevokeError::Store(error)) => Err(OAuthError::from_token_error(error.into(), form.basic_attempted())),
    }
}
