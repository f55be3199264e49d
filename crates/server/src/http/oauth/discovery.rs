//! Discovery: RFC 8414 authorization-server metadata and the JWKS (RFC 7517, RFC 8037 for
//! Ed25519 keys).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_domain::client::GlobalResource;
use serde::Serialize;

use crate::http::AppState;
use crate::http::api::error::ApiError;

/// RFC 8414 §2.
#[derive(Serialize, utoipa::ToSchema)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    grant_types_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    /// For `private_key_jwt` (RFC 7523): the algorithms a client assertion may be signed with.
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 8],
    introspection_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_signing_alg_values_supported: [&'static str; 8],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_signing_alg_values_supported: [&'static str; 8],
    scopes_supported: Vec<String>,
}

/// `private_key_jwt` is an access profile's with the `jwt` or `oidc` method.
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "private_key_jwt"];
const ASSERTION_ALGORITHMS: [&str; 8] = gatehouse_domain::jose::ALGORITHMS;

/// `GET /.well-known/oauth-authorization-server`. `response_types_supported` is omitted: no
/// grant here uses the authorization endpoint (RFC 8414 erratum 7793).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses((status = 200, body = Metadata)))]
pub async fn metadata(State(state): State<AppState>) -> Result<Response, ApiError> {
    let issuer = state.gatehouse.keys().issuer().to_owned();
    let mut scopes_supported: Vec<String> = GlobalResource::ALL.iter().map(|r| r.as_str().to_owned()).collect();
    scopes_supported.extend(state.gatehouse.store().root_product_names().await?);
    let body = Metadata {
        token_endpoint: gatehouse_domain::oauth::token_endpoint(&issuer),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        introspection_endpoint: format!("{issuer}/api-services/v1/auth/introspect"),
        revocation_endpoint: format!("{issuer}/api-services/v1/auth/revoke"),
        issuer,
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        introspection_endpoint_auth_methods_supported: AUTH_METHODS,
        introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
        scopes_supported,
    };
    Ok(cacheable(Json(body).into_response()))
}

/// RFC 8037: an Ed25519 public key.
#[derive(Serialize, utoipa::ToSchema)]
struct Jwk {
    kty: &'static str,
    crv: &'static str,
    kid: String,
    alg: &'static str,
    #[serde(rename = "use")]
    use_: &'static str,
    x: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// `GET /.well-known/jwks.json`: public members only (never `d`), the pending next key, the
/// current key and every key whose tokens may still be valid.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth", responses((status = 200, body = Jwks)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.gatehouse.keys();
    let keys = keys
        .public_keys()
        .map(|key| Jwk {
            kty: "OKP",
            crv: "Ed25519",
            kid: key.kid.clone(),
            alg: "EdDSA",
            use_: "sig",
            x: key.x.clone(),
        })
        .collect();
    cacheable(Json(Jwks { keys }).into_response())
}

/// Five minutes: a rotated key is published before it signs (`gatehouse keys rotate
/// --activate-after`), so caches this old still know it, and verifiers refetch on an unknown
/// `kid` anyway.
fn cacheable(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
