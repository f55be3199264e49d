//! What every OAuth endpoint shares: the form body (RFC 6749 §3.2, at most 64 KiB) and
//! client authentication (RFC 6749 §2.3.1: `client_secret_basic` or `client_secret_post`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use gatehouse_domain::ids::CredentialId;
use gatehouse_domain::jose;
use gatehouse_domain::oauth::Caller;
use gatehouse_domain::oauth::{PresentedCredentials, Proof};
use gatehouse_domain::secret::ClientSecret;
use gatehouse_domain::trust::JWT_BEARER_ASSERTION;
use gatehouse_edge::client_auth::{self, FormError};

use super::error::OAuthError;
use crate::http::AppState;
use crate::http::request_body::{self, BodyFailure};

/// OAuth request bodies over 64 KiB are refused with 413: no form needs more, and a bigger one
/// only costs memory.
const MAX_FORM_BODY: usize = 64 * 1024;

/// A parsed OAuth request: its form parameters, the Authorization header and the caller's
/// address.
pub struct OAuthForm {
    pub params: HashMap<String, String>,
    authorization: Option<HeaderValue>,
    /// The caller's address, through trusted proxies (seed rule 13).
    pub client_ip: IpAddr,
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
            .ok_or_else(|| OAuthError::invalid_request("The client address is unknown"))?;
        let client_ip = state.trusted_proxies.client_ip(peer, request.headers());
        // RFC 6749 §2.3.1: the secret must not travel in the URL. Refused before anything else,
        // and the query string is never logged.
        if let Some(query) = request.uri().query()
            && form_urlencoded::parse(query.as_bytes())
                .any(|(key, _)| key == "client_secret" || key == "client_assertion")
        {
            return Err(OAuthError::invalid_request("Client credentials must not be sent in the query string"));
        }
        if !is_form(request.headers()) {
            return Err(OAuthError::invalid_request("The request body must be application/x-www-form-urlencoded"));
        }
        let authorization = request.headers().get(header::AUTHORIZATION).cloned();
        let body = read_body(request).await?;
        let params = parse_form(&body)?;
        Ok(Self { params, authorization, client_ip })
    }
}

impl OAuthForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Whether the client tried HTTP Basic: a failure then carries the Basic challenge.
    pub fn basic_attempted(&self) -> bool {
        self.authorization.is_some()
    }

    /// The client's credentials, from exactly one method.
    pub fn credentials(&self) -> Result<PresentedCredentials, OAuthError> {
        if self.params.contains_key("client_assertion_type") || self.params.contains_key("client_assertion") {
            return self.assertion();
        }
        match &self.authorization {
            Some(value) => {
                if self.params.contains_key("client_secret") {
                    return Err(OAuthError::invalid_request("Use one client authentication method, not two"));
                }
                let credentials = parse_basic(value).ok_or_else(|| OAuthError::invalid_client(true))?;
                if self.get("client_id").is_some_and(|id| id != credentials.id.as_str()) {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ));
                }
                Ok(credentials)
            }
            None => match (self.get("client_id"), self.get("client_secret")) {
                (Some(id), Some(secret)) => presented(id, secret.to_owned()).ok_or(OAuthError::invalid_client(false)),
                _ => Err(OAuthError::invalid_client(true)),
            },
        }
    }

    /// RFC 7523 §2.2 client authentication: `private_key_jwt`. The client is the `client_id`
    /// given, or the assertion's `sub` (a consumer's JWT names its profile there).
    fn assertion(&self) -> Result<PresentedCredentials, OAuthError> {
        if self.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
        }
        if self.authorization.is_some() || self.params.contains_key("client_secret") {
            return Err(OAuthError::invalid_request("Use one client authentication method, not two"));
        }
        let assertion = self
            .get("client_assertion")
            .ok_or_else(|| OAuthError::invalid_request("The client_assertion parameter is missing"))?;
        if assertion.len() > MAX_ASSERTION_LEN {
            return Err(OAuthError::invalid_client(false));
        }
        let subject = || jose::unverified(assertion).and_then(|claims| claims.sub);
        let id = match self.get("client_id") {
            Some(id) => Some(id.to_owned()),
            None => subject(),
        };
        let id = id.as_deref().and_then(CredentialId::parse).ok_or(OAuthError::invalid_client(false))?;
        Ok(PresentedCredentials { id, proof: Proof::Assertion(assertion.to_owned()) })
    }

    /// Authenticates the calling client (introspection and revocation).
    pub async fn authenticate(&self, state: &AppState) -> Result<Caller, OAuthError> {
        let credentials = self.credentials()?;
        state
            .gatehouse
            .authenticate_client(&credentials, self.client_ip, state.clock.now())
            .await
            .map_err(|error| OAuthError::from_token_error(error, self.basic_attempted()))
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

async fn read_body(request: Request) -> Result<Bytes, OAuthError> {
    let declared_too_large = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
        .is_some_and(|length| length > MAX_FORM_BODY as u64);
    if declared_too_large {
        return Err(OAuthError::payload_too_large());
    }
    request_body::read(request.into_body(), MAX_FORM_BODY).await.map_err(|failure| match failure {
        BodyFailure::TooLarge => OAuthError::payload_too_large(),
        BodyFailure::TimedOut => OAuthError::request_timeout(),
    })
}

/// RFC 6749 §3.1: parameters must not be repeated. An empty value counts as absent; unknown
/// parameters are ignored.
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    client_auth::parse_form(body).map_err(|error| match error {
        FormError::Empty => OAuthError::invalid_request("The request body is empty"),
        FormError::Repeated => OAuthError::invalid_request("A parameter is repeated"),
    })
}

/// RFC 6749 §2.3.1 `client_secret_basic`, parsed at the door like body credentials.
fn parse_basic(value: &HeaderValue) -> Option<PresentedCredentials> {
    let (id, secret) = client_auth::basic(value.to_str().ok()?)?;
    presented(&id, secret)
}

/// The longest client assertion looked at: a JWT signed with an 8192-bit RSA key and a
/// generous set of claims fits in a fraction of it.
const MAX_ASSERTION_LEN: usize = 16 * 1024;

/// The longest secret worth hashing: Gatehouse's are 48 characters.
const MAX_SECRET_LEN: usize = 512;

/// Credentials parsed at the door: an id Gatehouse could have issued and a secret of a sane
/// length, or nothing (`invalid_client`, like an unknown id) before any throttle, cache or store
/// sees them, so invented credentials cannot grow their memory.
fn presented(id: &str, secret: String) -> Option<PresentedCredentials> {
    let id = CredentialId::parse(id)?;
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return None;
    }
    Some(PresentedCredentials { id, proof: Proof::Secret(ClientSecret::from_presented(secret)) })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn basic(raw: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("bAsIc {}", STANDARD.encode(raw))).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_split_at_the_first_colon() {
        let parsed = parse_basic(&basic("my%2Did:s%2Bcr+t:with:colons")).unwrap();
        assert_eq!(parsed.id.as_str(), "my-id");
        assert!(matches!(&parsed.proof, Proof::Secret(secret) if secret.expose() == "s+cr t:with:colons"));
        assert!(parse_basic(&basic("no-colon")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_none());
        assert!(parse_basic(&HeaderValue::from_static("Bearer abc")).is_none());
        // Ids and secrets are parsed before any throttle or store sees them, so an invented id
        // of any length never becomes a key.
        assert!(parse_basic(&basic("my id:secret")).is_none());
        assert!(parse_basic(&basic(&format!("{}:secret", "a".repeat(48 * 1024)))).is_none());
        assert!(parse_basic(&basic(&format!("id:{}", "s".repeat(513)))).is_none());
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_absent() {
        assert!(parse_form(b"grant_type=a&grant_type=b").is_err());
        let params = parse_form(b"grant_type=client_credentials&scope=").unwrap();
        assert!(!params.contains_key("scope"));
        assert!(parse_form(b"").is_err());
    }
}
