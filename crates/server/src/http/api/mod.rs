//! The management API under `/v1` (DESIGN.md "Management API", seed file 001).

mod body;
mod clients;
pub mod error;
pub mod extract;
pub mod logo;
mod paging;
mod people;
mod policies;
mod products;
mod profiles;
mod projects;
mod secrets;

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use self::error::{ApiError, ErrorBody};
use self::extract::Authenticated;
use super::AppState;

/// `/v1/auth/login` and `/v1/auth/logout`, kept apart from [`routes`] so that cross-origin
/// calls never reach them.
pub fn session_routes() -> Router<AppState> {
    people::session_routes()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/ping", get(ping))
        .merge(clients::routes())
        .merge(people::routes())
        .merge(policies::routes())
        .merge(products::routes())
        .merge(profiles::routes())
        .merge(projects::routes())
        .merge(secrets::routes())
        .merge(logo::routes())
}

#[derive(Serialize, ToSchema)]
struct Pong {
    /// `pong`
    message: &'static str,
}

/// 200 for any valid token, whatever its scopes (file 001's liveness check for credentials).
#[utoipa::path(get, path = "/v1/ping", tag = "clients", security(("bearer" = [])),
    responses((status = 200, body = Pong), (status = 401, body = ErrorBody)))]
async fn ping(Authenticated(_actor): Authenticated) -> Json<Pong> {
    Json(Pong { message: "pong" })
}

/// The management API's part of `/openapi.json`.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(OpenApi)]
    #[openapi(paths(ping))]
    struct PingApi;

    let mut document = PingApi::openapi();
    for part in [
        clients::ClientsApi::openapi(),
        people::PeopleApi::openapi(),
        policies::PoliciesApi::openapi(),
        products::ProductsApi::openapi(),
        profiles::ProfilesApi::openapi(),
        projects::ProjectsApi::openapi(),
        secrets::SecretsApi::openapi(),
        logo::LogoApi::openapi(),
    ] {
        document.merge(part);
    }
    document
}

/// Unknown routes answer in the documented error format too.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
