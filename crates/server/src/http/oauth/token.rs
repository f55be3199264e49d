//! `POST /api-services/v1/auth/token`: the client-credentials grant (RFC 6749 §4.4).

use std::io::Write;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use gatehouse_domain::oauth::IssuedAccessToken;

use super::error::{ErrorBody, OAuthError};
use super::form::OAuthForm;
use crate::http::AppState;

/// RFC 6749 §5.1: what `token_body` writes, and the schema `/openapi.json` shows for it.
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
    scope: String,
}

/// The token request's form (RFC 6749 §4.4.2), as `OAuthForm` reads it: for `/openapi.json`
/// only.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes the form for the OpenAPI document; OAuthForm parses it")]
pub(super) struct TokenRequest {
    /// `client_credentials`
    grant_type: String,
    /// Space-separated subset of the client's scopes; none means all of them.
    scope: Option<String>,
    /// With `client_secret`, instead of HTTP Basic (`client_secret_post`); never both. With
    /// `client_assertion`, the access profile's id (optional for a consumer's JWT, whose `sub`
    /// names it).
    client_id: Option<String>,
    client_secret: Option<String>,
    /// `urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (RFC 7523, `private_key_jwt`).
    client_assertion_type: Option<String>,
    /// A JWT a `jwt` or `oidc` access profile trusts.
    client_assertion: Option<String>,
}

/// RFC 6749 §4.4: the client-credentials grant.
#[utoipa::path(post, path = "/api-services/v1/auth/token", tag = "oauth", security((), ("client_secret_basic" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, body = ErrorBody, description = "invalid_request, unsupported_grant_type or invalid_scope"),
        (status = 401, body = ErrorBody, description = "invalid_client: unknown, wrong secret, disabled, deleted, inactive or address not allowed", headers(("WWW-Authenticate" = String))),
        (status = 413, body = ErrorBody), (status = 429, body = ErrorBody, headers(("Retry-After" = u32))),
        (status = 503, body = ErrorBody),
    ))]
pub async fn token(State(state): State<AppState>, form: Result<OAuthForm, OAuthError>) -> Result<Response, OAuthError> {
    // The form's own refusals (content type, repeated parameters, a secret in the query) are
    // counted too: they are what misconfigured and hostile callers produce.
    let result = match form {
        Ok(form) => issue(&state, form).await,
        Err(refused) => Err(refused),
    };
    match &result {
        Ok(_) => state.metrics.token_issued(),
        Err(error) => state.metrics.token_refused(error.code()),
    }
    result
}

async fn issue(state: &AppState, form: OAuthForm) -> Result<Response, OAuthError> {
    match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("The grant_type parameter is missing")),
        Some("client_credentials") => {}
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
    }
    let credentials = form.credentials()?;
    let issued = state
        .gatehouse
        .issue_token(credentials, form.get("scope"), form.client_ip, state.clock.now())
        .await
        .map_err(|error| OAuthError::from_token_error(error, form.basic_attempted()))?;

    let mut response =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], token_body(&issued)).into_response();
    no_store(&mut response);
    Ok(response)
}

/// The [`TokenResponse`] body, written out directly. The access token is most of it, and
/// serde_json would look at each of its characters for one to escape, where a JWT has none
/// (base64url and dots): measured, that was 2% of the token endpoint's CPU.
fn token_body(issued: &IssuedAccessToken) -> Vec<u8> {
    debug_assert!(issued.access_token.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte)));
    let mut body = Vec::with_capacity(issued.access_token.len() + issued.scope.len() + 80);
    body.extend_from_slice(br#"{"access_token":""#);
    body.extend_from_slice(issued.access_token.as_bytes());
    // Writing to a Vec cannot fail. The scope is the client's own text (product names), so
    // serde escapes it.
    let _ = write!(body, r#"","token_type":"Bearer","expires_in":{},"scope":"#, issued.expires_in);
    let _ = serde_json::to_writer(&mut body, &issued.scope);
    body.push(b'}');
    body
}

/// RFC 6749 §5.1: responses carrying tokens or token data are never cached.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_body_is_what_serde_writes() {
        for scope in ["", "SuperSIM Voice", "odd \"quoted\" \\ \u{7f} scope"] {
            let issued = IssuedAccessToken {
                access_token: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln-_".to_owned(),
                expires_in: 3600,
                scope: scope.to_owned(),
            };
            let expected = serde_json::to_string(&TokenResponse {
                access_token: issued.access_token.clone(),
                token_type: "Bearer",
                expires_in: 3600,
                scope: scope.to_owned(),
            })
            .unwrap();
            assert_eq!(String::from_utf8(token_body(&issued)).unwrap(), expected);
        }
    }
}
