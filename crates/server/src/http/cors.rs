//! Cross-origin requests (CORS) to the JSON API and the OAuth endpoints, for browser apps that
//! call Gatehouse directly (seed file 001 lists the `Access-Control-Allow-*` headers on every
//! answer of the Client API). Off unless origins are configured. Never with credentials: the
//! API takes bearer tokens, not cookies, and the portal's cookie must never ride along on a
//! request another site makes.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The origins allowed to call: exact `scheme://host[:port]` origins, or `*` for any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// A comma-separated list; empty means CORS is off.
    pub fn parse(text: &str) -> Result<Self, String> {
        // Browsers send scheme and host in lower case: a configured `https://App.example` would
        // otherwise never match.
        let origins: Vec<String> =
            text.split(',').map(str::trim).filter(|origin| !origin.is_empty()).map(str::to_ascii_lowercase).collect();
        if origins.iter().any(|origin| origin == "*") {
            return if origins.len() == 1 { Ok(Self(origins)) } else { Err("`*` stands alone".to_owned()) };
        }
        for origin in &origins {
            if !is_origin(origin) {
                return Err(format!("`{origin}` is not an origin (scheme://host[:port], no path)"));
            }
        }
        Ok(Self(origins))
    }

    pub fn is_off(&self) -> bool {
        self.0.is_empty()
    }

    pub fn allows_any(&self) -> bool {
        self.0 == ["*"]
    }

    /// The layer answering preflights and adding the `Access-Control-*` headers; `None` when off.
    pub fn layer(&self) -> Option<CorsLayer> {
        if self.is_off() {
            return None;
        }
        let allow_origin = if self.allows_any() {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(self.0.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()))
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow_origin)
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    header::ETAG,
                    header::RETRY_AFTER,
                    header::WWW_AUTHENTICATE,
                    HeaderName::from_static("x-request-id"),
                ])
                .allow_credentials(false)
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// `scheme://host[:port]` as browsers send it in `Origin`: http or https, a host, no path,
/// query, user or trailing slash.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else { return false };
    let host_ok = |host: &str| {
        !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            && !host.starts_with(':')
    };
    matches!(scheme, "http" | "https") && host_ok(rest) && HeaderValue::from_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_origins_are_accepted() {
        let origins = CorsOrigins::parse("https://console.example, http://localhost:3000").unwrap();
        assert_eq!(origins.0, ["https://console.example", "http://localhost:3000"]);
        assert!(CorsOrigins::parse("").unwrap().is_off());
        assert_eq!(CorsOrigins::parse("https://App.Example").unwrap().0, ["https://app.example"]);
        assert!(CorsOrigins::parse("*").is_ok());
        for bad in ["https://x.example/", "https://x.example/path", "x.example", "ftp://x.example", "*, https://a.b"] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
        assert!(CorsOrigins::parse("https://user@x.example").is_err());
    }
}
