//! `GET /openapi.json`: OpenAPI 3.1 for every route of DESIGN.md's HTTP contract, generated
//! from the handlers' annotations and the wire types themselves, so the document cannot drift
//! from what serde sends. The portal's HTML pages are left out: they are for browsers.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, OpenApiBuilder, Server};

use super::{AppState, api, gateway, oauth, ops};

/// The whole document, with `public_url` as its one server.
pub fn document(public_url: &str) -> OpenApi {
    let mut document = OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Gatehouse")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "API clients, their credentials and OAuth 2.0 client-credentials tokens; the management API of \
                     seed file 001 (error body {\"status\",\"code\",\"message\",\"info\"}), RFC 6749/7662/7009/8414 \
                     endpoints (error body {\"error\",\"error_description\"}) and the gateway check.",
                ))
                .build(),
        )
        .servers(Some(vec![Server::new(public_url)]))
        .build();
    for part in [api::openapi(), oauth::OAuthApi::openapi(), gateway::GatewayApi::openapi(), ops::OpsApi::openapi()] {
        document.merge(part);
    }
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An access token from /api-services/v1/auth/token, or a session token from /v1/auth/login",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "client_secret_basic",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Basic)
                .description(Some(
                    "RFC 6749 §2.3.1: the form-urlencoded client id and secret; or client_id and client_secret \
                     in the form body, never both",
                ))
                .build(),
        ),
    );
    document
}

pub fn routes(public_url: &str) -> Router<AppState> {
    // Rendered once: the document is fixed for the life of the process.
    let body = document(public_url).to_json().unwrap_or_else(|error| {
        tracing::error!(%error, "the OpenAPI document could not be rendered");
        String::from("{}")
    });
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move { json_response(body) }
        }),
    )
}

fn json_response(body: String) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
