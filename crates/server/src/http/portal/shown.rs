//! The page that shows a value once (seed rule 1: a new client secret, a profile's credential, a
//! generated password), reached by post/redirect/get: the POST that made the value hands it off
//! server-side (`Gatehouse::hand_off`: sealed, bound to the session, in the database so any
//! instance serves the next request) and redirects here; this page takes it, and a reload or
//! the back button finds it gone and repeats nothing.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::pages::{self, layout, shown_once};
use super::{PortalError, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/shown/{id}", get(show))
}

/// What the page shows, as the POST that made the value describes it.
#[derive(Serialize, Deserialize)]
pub struct ShownOnce {
    pub title: String,
    /// What is shown once, for the notice: "client secret", "credential", "password".
    pub what: String,
    /// What Gatehouse keeps of it instead: "a hash".
    pub kept_as: String,
    /// What became of the value it replaces, if anything.
    pub note: Option<String>,
    pub fields: Vec<ShownField>,
    /// A command that uses the value, the value itself left out.
    pub example: Option<String>,
    pub back_href: String,
    pub back_text: String,
}

#[derive(Serialize, Deserialize)]
pub struct ShownField {
    pub label: String,
    /// The element id, which the copy button names.
    pub id: String,
    pub value: String,
    /// With a copy button, described as this ("client secret").
    pub copy: Option<String>,
}

impl ShownField {
    pub fn plain(label: &str, id: &str, value: impl Into<String>) -> Self {
        Self { label: label.to_owned(), id: id.to_owned(), value: value.into(), copy: None }
    }

    pub fn copied(label: &str, id: &str, value: impl Into<String>, what: &str) -> Self {
        Self { copy: Some(what.to_owned()), ..Self::plain(label, id, value) }
    }
}

impl PortalSession {
    /// Hands `shown` off to the page after the redirect, and redirects there (303).
    ///
    /// The value exists only here now (the action that made it is done and cannot be undone),
    /// so if it cannot be handed off it is shown in this answer instead, as before
    /// post/redirect/get, rather than lost.
    pub async fn show_once(&self, state: &AppState, shown: &ShownOnce) -> Result<Response, PortalError> {
        let handed = match serde_json::to_vec(shown) {
            Ok(payload) => state
                .gatehouse
                .hand_off(&self.token, &payload, state.clock.now())
                .await
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        match handed {
            Ok(id) => Ok(Redirect::to(&format!("/shown/{id}")).into_response()),
            Err(error) => {
                tracing::warn!(%error, "a value shown once could not be handed off; shown in the answer itself");
                Ok(page(self, shown).into_response())
            }
        }
    }
}

async fn show(
    State(state): State<AppState>,
    method: Method,
    session: PortalSession,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    // Axum answers HEAD with the GET handler: a HEAD (a link checker, a prefetch) must not take
    // the value before the person sees it.
    if method == Method::HEAD {
        return Ok(StatusCode::OK.into_response());
    }
    let taken = state.gatehouse.take_handoff(&session.token, &id, state.clock.now()).await?;
    let Some(shown) = taken.and_then(|payload| serde_json::from_slice::<ShownOnce>(&payload).ok()) else {
        let body = html! {
            h1 { "Shown once already" }
            p {
                "This page showed a value once, and it has been read (or five minutes have passed). "
                "Nothing was done again. If the value was lost, renew or refresh it."
            }
            p { a href="/clients" { "Back to the API clients" } }
        };
        return Ok((StatusCode::GONE, layout("Shown once already", Some(&session), body)).into_response());
    };
    Ok(page(&session, &shown).into_response())
}

fn page(session: &PortalSession, shown: &ShownOnce) -> Markup {
    let body = html! {
        h1 { (shown.title) }
        (shown_once(&shown.what, &shown.kept_as))
        @if let Some(note) = &shown.note { p { (note) } }
        dl.credentials {
            @for field in &shown.fields {
                dt { (field.label) }
                dd {
                    code id=(field.id) { (field.value) }
                    @if let Some(what) = &field.copy { (pages::copy_button(&field.id, what)) }
                }
            }
        }
        @if let Some(example) = &shown.example { p { "Try it:" } pre { (example) } }
        p { a href=(shown.back_href) { (shown.back_text) } }
    };
    layout(&shown.title, Some(session), body)
}
