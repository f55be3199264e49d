//! Extractors for `/v1`: the JSON body and the authenticated actor, each failing with an
//! `ApiError` in the documented format rather than axum's plain-text rejections.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use gatehouse_domain::actor::Actor;
use gatehouse_domain::people::SESSION_PREFIX;
use gatehouse_domain::service::AnonymousRefusal;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::http::AppState;
use crate::http::request_body::{self, BodyFailure};

/// Management bodies over 1 MiB are refused with 413: no request needs more, and a bigger one
/// only costs memory.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// A JSON request body, strictly parsed: `application/json` only (415 otherwise), at most 1 MiB
/// (413), no trailing data, unknown fields refused by the target type.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::unsupported_media_type());
        }
        let declared_too_large = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .is_some_and(|length| length > MAX_JSON_BODY as u64);
        if declared_too_large {
            return Err(ApiError::payload_too_large("at most 1 MiB"));
        }
        let bytes = request_body::read(request.into_body(), MAX_JSON_BODY).await.map_err(|failure| match failure {
            BodyFailure::TooLarge => ApiError::payload_too_large("at most 1 MiB"),
            BodyFailure::TimedOut => ApiError::request_timeout(),
        })?;
        let _ = state;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body into `T`, turning serde's errors into messages that name the field but
/// never echo the submitted values.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object; serde would read a struct from an array too.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()).is_some_and(|&first| first != b'{') {
        return Err(ApiError::malformed_json("the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        describe_json_error(&path, &inner)
    })?;
    deserializer.end().map_err(|_| ApiError::malformed_json("unexpected data after the JSON value"))?;
    Ok(value)
}

fn describe_json_error(path: &str, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::malformed_json(format!(
            "the body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        )),
        Category::Data => {
            let text = error.to_string();
            if let Some(field) = quoted_identifier(&text, "missing field `") {
                let field = if path == "." { field } else { format!("{path}.{field}") };
                return ApiError::invalid_field(&field, "is required");
            }
            // serde_path_to_error's path already ends at the unknown field itself.
            if quoted_identifier(&text, "unknown field `").is_some() {
                return ApiError::invalid_field(path, "is not a known field");
            }
            if text.starts_with("unknown field") {
                return ApiError::invalid_field(path, "holds an unknown field");
            }
            if text.starts_with("duplicate field") {
                return ApiError::invalid_field(path, "is given more than once");
            }
            if path == "." {
                return ApiError::malformed_json("the body must be a JSON object");
            }
            ApiError::invalid_field(path, "has the wrong type or an invalid value")
        }
    }
}

/// The identifier between `prefix` and the next backtick, if it is a plain field name (a hostile
/// name is not echoed).
fn quoted_identifier(text: &str, prefix: &str) -> Option<String> {
    let rest = text.strip_prefix(prefix)?;
    let name = &rest[..rest.find('`')?];
    let plain = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    plain.then(|| name.to_owned())
}

/// The caller of a `/v1` route: an API client by its access token, or a person by a session
/// token, always as a bearer token. The portal's session cookie is deliberately not accepted
/// here: a browser sends it by itself, and a plain HTML form from another port of the same host
/// (same-site, so SameSite=Strict lets the cookie through) could then renew a key, which reads
/// no body. The portal, which carries CSRF protection, is where the cookie works.
pub struct Authenticated(pub Actor);

/// The portal's session cookie: HttpOnly (out of reach of scripts) and SameSite=Strict (never
/// sent with a request another site starts). When the public URL is HTTPS it is also Secure and
/// named `__Host-gatehouse_session`: a browser lets no other host, a sibling subdomain
/// included, set or overwrite a `__Host-` cookie, so none can plant its own session in a
/// person's browser. Over plain HTTP (local use) it is `gatehouse_session`, and only that name
/// is read, so the two never mix.
#[derive(Clone, Copy)]
pub struct SessionCookie {
    secure: bool,
}

impl SessionCookie {
    pub fn for_public_url(public_url: &str) -> Self {
        Self { secure: public_url.starts_with("https://") }
    }

    fn name(self) -> &'static str {
        if self.secure { "__Host-gatehouse_session" } else { "gatehouse_session" }
    }

    /// The `Set-Cookie` value that hands a browser its session.
    pub fn set(self, token: &str, max_age_seconds: i64) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_seconds}{secure}",
            self.name()
        ))
        .ok()
    }

    /// The `Set-Cookie` value that makes a browser forget its session.
    pub fn clear(self) -> HeaderValue {
        if self.secure {
            HeaderValue::from_static("__Host-gatehouse_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure")
        } else {
            HeaderValue::from_static("gatehouse_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
        }
    }

    /// The session token the request's cookie carries, if any.
    pub fn read(self, parts: &Parts) -> Option<&str> {
        cookie(parts, self.name()).filter(|value| value.starts_with(SESSION_PREFIX))
    }
}

/// The value of the request's cookie `name`, if it sent one.
pub(crate) fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value)
}

/// The caller's address, as the trusted proxies say.
pub(crate) fn source_of(parts: &Parts, state: &AppState) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| state.trusted_proxies.client_ip(info.0, &parts.headers))
}

/// Records a refused authentication on the JSON API in the audit log, by the route's
/// template, never the request's own path or query: they are the caller's text, and a query
/// may hold anything.
pub(crate) async fn record_unauthenticated(parts: &Parts, state: &AppState, reason: &str) {
    let route = parts.extensions.get::<MatchedPath>().map_or("", MatchedPath::as_str);
    let target = format!("{} {route}", parts.method);
    let refusal = AnonymousRefusal {
        action: "api.authenticate",
        claimed: None,
        target_type: "route",
        target_id: &target,
        reason,
        source: source_of(parts, state),
    };
    state.gatehouse.record_anonymous_refusal(refusal, state.clock.now()).await;
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let source = source_of(parts, state);
        let now = state.clock.now();
        let authenticated = match bearer_token(&parts.headers) {
            None => Err(ApiError::unauthenticated()),
            Some(token) if token.starts_with(SESSION_PREFIX) => {
                state.gatehouse.authenticate_session(token, source, now).await.map_err(ApiError::from)
            }
            Some(token) => state.gatehouse.authenticate_access_token(token, source, now).await.map_err(ApiError::from),
        };
        if let Err(error) = &authenticated
            && error.status() == StatusCode::UNAUTHORIZED
        {
            let reason = if bearer_token(&parts.headers).is_some() {
                "invalid, expired or revoked token"
            } else {
                "no bearer token"
            };
            record_unauthenticated(parts, state, reason).await;
        }
        authenticated.map(Authenticated)
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`, the scheme case-insensitive. Used by `/v1`
/// and the gateway check alike.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
