//! RFC 6749 §5.2 error responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::error::TokenError;
use gatehouse_domain::store::StoreError;
use serde::Serialize;

/// One OAuth error. `error_description` is a fixed, printable-ASCII text without `"` or `\`
/// (RFC 6749 §5.2), never derived from the request.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    /// RFC 6749 §5.2: a 401 `invalid_client` answers an HTTP Basic attempt with a challenge.
    basic_challenge: bool,
    /// Seconds for `Retry-After`.
    retry_after: Option<i64>,
}

/// RFC 6749 §5.2.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OAuthErrorBody)]
pub struct ErrorBody {
    error: &'static str,
    error_description: &'static str,
}

impl OAuthError {
    const fn new(status: StatusCode, error: &'static str, description: &'static str) -> Self {
        Self { status, error, description, basic_challenge: false, retry_after: None }
    }

    /// The §5.2 `error` code, e.g. `invalid_client`.
    pub fn code(&self) -> &'static str {
        self.error
    }

    pub const fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// §5.2 `invalid_client`, identical for every cause, so a caller cannot tell a wrong secret
    /// from an unknown, disabled or deleted client.
    pub fn invalid_client(basic_attempted: bool) -> Self {
        Self {
            basic_challenge: basic_attempted,
            ..Self::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed")
        }
    }

    pub const fn unsupported_grant_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Only the client_credentials grant is supported")
    }

    pub const fn invalid_scope() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is unknown or not granted to the client",
        )
    }

    /// RFC 7009 §2.1: revoking another client's token is refused with 400 and the token is left
    /// untouched.
    pub const fn unauthorized_client() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", "A client may revoke only its own tokens")
    }

    pub const fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large")
    }

    /// The body did not arrive within the body-read timeout (RFC 6749 has no code of its own).
    pub const fn request_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "invalid_request", "The request body did not arrive in time")
    }

    pub fn from_token_error(error: TokenError, basic_attempted: bool) -> Self {
        match error {
            TokenError::InvalidClient => Self::invalid_client(basic_attempted),
            TokenError::InvalidScope => Self::invalid_scope(),
            // Repeated failures get 429 with Retry-After (at most 30 s), so guessing is slow.
            TokenError::Throttled { retry_after_seconds } => Self {
                retry_after: Some(retry_after_seconds),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "slow_down", "Too many failed attempts: try again later")
            },
            TokenError::TooManyLiveTokens => Self::invalid_request(
                "The client already holds the maximum of 10 live tokens: revoke one or wait for one to expire",
            ),
            TokenError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "store unavailable at the token endpoint");
                Self {
                    retry_after: Some(1),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "Try again shortly")
                }
            }
            TokenError::Store(
                error @ (StoreError::NotFound
                | StoreError::VersionMismatch
                | StoreError::Conflict(_)
                | StoreError::Internal(_)),
            ) => {
                tracing::error!(%error, "store error at the token endpoint");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal server error")
            }
            TokenError::Internal(error) => {
                tracing::error!(%error, "internal error at the token endpoint");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal server error")
            }
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.error, error_description: self.description };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.basic_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::error::InternalError;

    use super::*;

    /// A failure inside Gatehouse is a plain 500 that names nothing of it: the detail is for the
    /// log, where it is written as an internal error, not a store error.
    #[tokio::test]
    async fn an_internal_failure_is_a_500_that_tells_nothing() {
        let failure = TokenError::Internal(InternalError::PasswordHashing("detail for the log only".to_owned()));
        let response = OAuthError::from_token_error(failure, false).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("server_error") && !body.contains("detail"), "{body}");
    }
}
