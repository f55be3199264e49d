//! `ApiError`: every `/v1` error, in file 001's `Error` body `{"status","code","message","info"}`.
//! Domain errors are mapped here, once, without wildcards; internal detail goes to the log and
//! the client gets a fixed message.

use std::any::Any;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::error::{AuthError, DomainError, ValidationError};
use gatehouse_domain::password_work::Busy;
use gatehouse_domain::store::StoreError;
use serde::Serialize;

/// The `code` of each error kind: the status times 100 plus a distinguishing digit, so clients
/// can branch on it without parsing messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidField = 40001,
    MalformedJson = 40002,
    InvalidParameter = 40003,
    Unauthenticated = 40100,
    Forbidden = 40300,
    Locked = 40301,
    NotFound = 40400,
    MethodNotAllowed = 40500,
    RequestTimeout = 40800,
    Conflict = 40900,
    PreconditionFailed = 41200,
    PayloadTooLarge = 41300,
    UnsupportedMediaType = 41500,
    TooManyRequests = 42900,
    Internal = 50000,
    Unavailable = 50300,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    info: String,
    retry_after_seconds: Option<i64>,
}

/// File 001's `Error`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    status: u16,
    code: i32,
    message: &'a str,
    info: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>, info: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), info: info.into(), retry_after_seconds: None }
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: i64) -> Self {
        Self {
            retry_after_seconds: Some(retry_after_seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests, message, "retry after the delay")
        }
    }

    /// 400 naming the field at fault.
    pub fn invalid_field(field: &str, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidField, format!("{field}: {message}"), field)
    }

    pub fn invalid_parameter(parameter: &str, message: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter, format!("{parameter}: {message}"), parameter)
    }

    pub fn malformed_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::MalformedJson, message, "the request body must be a JSON object")
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            "a valid bearer token is required",
            "obtain an access token from /api-services/v1/auth/token",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("{what} not found"), "")
    }

    pub fn payload_too_large(limit: &str) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "the request body is too large", limit)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "the request body must be JSON",
            "send Content-Type: application/json",
        )
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal server error", "")
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "the service is temporarily unavailable",
            "retry shortly",
        )
    }

    /// 408: the body did not arrive within the body-read timeout.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "the request body did not arrive in time",
            "send the whole body at once",
        )
    }

    /// 503 with `Retry-After`: password hashing is at capacity, so a flood of logins is told to
    /// come back instead of queueing without bound.
    pub fn busy() -> Self {
        Self { retry_after_seconds: Some(Busy::RETRY_AFTER_SECONDS), ..Self::unavailable() }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the caller is shown (never internal detail; see the `From` impls below).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::invalid_field(&error.field, &error.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::unavailable()
            }
            StoreError::NotFound => ApiError::not_found("object"),
            StoreError::VersionMismatch => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::PreconditionFailed,
                "the object has changed since it was read",
                "",
            ),
            StoreError::Conflict(detail) => {
                tracing::warn!(%detail, "store conflict");
                ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::Conflict,
                    "the object conflicts with an existing one",
                    "",
                )
            }
            StoreError::Internal(detail) => {
                tracing::error!(%detail, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation(error) => error.into(),
            DomainError::NotFound(what) => ApiError::not_found(what),
            DomainError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message, ""),
            DomainError::Locked => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Locked, DomainError::Locked.to_string(), "locked")
            }
            DomainError::PreconditionFailed => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::PreconditionFailed,
                "the client has changed since it was read",
                "fetch it again and retry with the new ETag",
            ),
            DomainError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict, message, ""),
            DomainError::Busy => ApiError::busy(),
            DomainError::Store(error) => error.into(),
            DomainError::Internal(error) => {
                tracing::error!(%error, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidToken => ApiError::unauthenticated(),
            AuthError::Store(error) => error.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            status: self.status.as_u16(),
            code: self.code as i32,
            message: &self.message,
            info: &self.info,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            // RFC 6750 §3: a bearer challenge on every 401.
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="gatehouse", error="invalid_token""#),
                );
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}

/// `CatchPanicLayer`'s handler: a panic must never reach a client as anything but a 500.
pub fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    use gatehouse_domain::error::InternalError;

    use super::*;

    #[tokio::test]
    async fn an_internal_failure_is_a_500_that_tells_nothing() {
        let failure = DomainError::Internal(InternalError::PasswordHashing("detail for the log only".to_owned()));
        let response = ApiError::from(failure).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["status"], 500);
        assert!(!body.to_string().contains("detail"), "{body}");
    }
}
