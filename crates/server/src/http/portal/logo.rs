//! A client's logo in the portal: shown on the client's page and in the list, uploaded with a
//! file field (the only form that is `multipart/form-data`), removed with a button. The image
//! is checked by its bytes and served exactly as `/v1` serves it.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::ids::ClientId;
use gatehouse_domain::logo::{Logo, MAX_LOGO_BYTES};

use super::clients::client_url;
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;
use crate::http::api::logo::logo_response;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/clients/{client_id}/logo",
            // Room for the image and the form's other parts; anything bigger is refused unread.
            get(show).post(upload).layer(DefaultBodyLimit::max(MAX_LOGO_BYTES + 16 * 1024)),
        )
        .route("/clients/{client_id}/logo/delete", post(remove))
}

/// Where a client's logo is, for `<img src>` (the session's cookie goes with it).
pub(super) fn logo_url(client_id: &ClientId) -> String {
    format!("{}/logo", client_url(client_id))
}

async fn show(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let logo = state.gatehouse.logo(&session.actor, &ClientId::from_string(client_id)).await?;
    logo.map(|logo| logo_response(&logo)).ok_or_else(|| PortalError::page(StatusCode::NOT_FOUND, "logo not found"))
}

async fn upload(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    session: PortalSession,
    mut multipart: Multipart,
) -> Result<Response, PortalError> {
    let unreadable =
        || PortalError::page(StatusCode::BAD_REQUEST, "The upload could not be read. Choose the file again.");
    let (mut csrf, mut image) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(|_| unreadable())? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await.map_err(|_| unreadable())?),
            Some("logo") => image = Some(field.bytes().await.map_err(|_| unreadable())?),
            _ => {}
        }
    }
    session.check_csrf(csrf.as_deref())?;
    let image = image
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| PortalError::page(StatusCode::BAD_REQUEST, "Choose a PNG or JPEG file of at most 256 KiB."))?;
    let logo = Logo::sniff(image.to_vec())?;
    let client_id = ClientId::from_string(client_id);
    state.gatehouse.set_logo(&session.actor, &client_id, &logo, state.clock.now()).await?;
    Ok(Redirect::to(&client_url(&client_id)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    state.gatehouse.delete_logo(&session.actor, &client_id, state.clock.now()).await?;
    Ok(Redirect::to(&client_url(&client_id)).into_response())
}
