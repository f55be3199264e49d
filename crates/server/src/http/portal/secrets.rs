//! A client's secrets in the portal: the list with expiry and last use, a planned rotation with
//! a grace period, and ending one secret early. The same domain operations `/v1` calls.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gatehouse_domain::client::Client;
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::{ClientId, SecretId};
use gatehouse_domain::rotation::{GracePeriod, Rotation};
use gatehouse_domain::secret::StoredSecret;
use maud::{Markup, html};
use time::OffsetDateTime;
use time::macros::format_description;

use super::clients::{client_url, load, shown_secret};
use super::pages::{csrf_field, form_error, layout, when};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients/{client_id}/rotate-secret", get(rotate_form).post(rotate))
        .route("/clients/{client_id}/secrets/{secret_id}/delete", get(delete_confirm).post(delete))
}

/// The secrets section of a client's page, oldest first: the last is the current one.
pub(super) fn section(client: &Client, secrets: &[StoredSecret], now: OffsetDateTime) -> Markup {
    let url = client_url(&client.client_id);
    html! {
        section #secrets {
            div.heading {
                h2 { "Secrets" }
                a.button href={ (url) "/rotate-secret" } { "Rotate secret…" }
            }
            table.list {
                thead { tr { th { "Secret" } th { "State" } th { "Created" } th { "Expires" } th { "Last used" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for (index, secret) in secrets.iter().enumerate() {
                        tr {
                            td { code { (secret.prefix.as_deref().unwrap_or("gsec_…")) "…" } }
                            td { (state_badge(secret, index + 1 == secrets.len(), now)) }
                            td { (when(secret.date_created)) }
                            td { (secret.expires_at.map_or_else(|| "never".to_owned(), when)) }
                            td {
                                @match secret.last_use {
                                    Some(last_use) => { (when(last_use.at)) span.muted { " from " (last_use.ip) } }
                                    None => span.muted { "not yet" },
                                }
                            }
                            td {
                                // The current secret stays: rotating or renewing replaces it.
                                @if index + 1 < secrets.len() {
                                    a href={ (url) "/secrets/" (secret.secret_id) "/delete" } { "End now…" }
                                }
                            }
                        }
                    }
                }
            }
            p.muted {
                "Rotating gives a new secret and keeps the current one working for a grace period, so that "
                "every caller can switch without an outage. Last use is written every few seconds."
            }
        }
    }
}

fn state_badge(secret: &StoredSecret, current: bool, now: OffsetDateTime) -> Markup {
    html! {
        @if !secret.is_live(now) { span.badge.off { "expired" } }
        @else if current { span.badge.ok { "current" } }
        @else { span.badge { "previous" } }
        @if secret.expires_soon(now) { " " span.badge.locked { "expires soon" } }
    }
}

fn rotate_page(session: &PortalSession, client: &Client, error: Option<&str>) -> Markup {
    let url = client_url(&client.client_id);
    let default_hours = GracePeriod::DEFAULT.seconds() / 3600;
    let most_hours = GracePeriod::MAX / 3600;
    let body = html! {
        h1 { "Rotate the secret" }
        p { "Client " strong { (client.name.as_str()) } " (" code { (client.client_id) } ")" }
        (form_error(error))
        form.stacked method="post" action={ (url) "/rotate-secret" } {
            (csrf_field(session))
            input type="hidden" name="version" value=(client.version);
            label for="grace_hours" { "Grace period, in hours" }
            input #grace_hours type="number" name="grace_hours" min="0" max=(most_hours) value=(default_hours) required aria-describedby="grace-help";
            p.muted #grace-help {
                "How long the current secret goes on working beside the new one (0 to " (most_hours) "). "
                "Rotating again during a grace period ends the older secret at once."
            }
            label for="expires_on" { "New secret expires on (optional, UTC)" }
            input #expires_on type="date" name="expires_on";
            button type="submit" { "Rotate secret" }
        }
        p { a href=(url) { "Cancel" } }
    };
    layout("Rotate the secret", Some(session), body)
}

async fn rotate_form(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let client = load(&state, &session, &ClientId::from_string(client_id)).await?;
    Ok(rotate_page(&session, &client, None).into_response())
}

/// A date from a `type=date` field (`YYYY-MM-DD`) as the start of that day in UTC.
pub(super) fn start_of_day(field: &'static str, text: &str) -> Result<Option<OffsetDateTime>, ValidationError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    time::Date::parse(text, format_description!("[year]-[month]-[day]"))
        .map(|date| Some(date.midnight().assume_utc()))
        .map_err(|_| ValidationError::new(field, "must be a date, such as 2027-06-30"))
}

fn parse_rotation(form: &super::forms::FormFields) -> Result<Rotation, ValidationError> {
    let hours = form
        .text("grace_hours")
        .trim()
        .parse::<i64>()
        .map_err(|_| ValidationError::new("grace_period", "must be a whole number of hours"))?;
    Ok(Rotation {
        grace_period: GracePeriod::parse(hours.saturating_mul(3600))
            .map_err(|_| ValidationError::new("grace_period", "must be between 0 and 168 hours"))?,
        secret_expires_at: start_of_day("secret_expires_at", form.text("expires_on"))?,
    })
}

async fn rotate(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let current = load(&state, &session, &client_id).await?;
    // As for renewal: the form carries the version it was shown at, so a second submission
    // rotates nothing (another rotation would end the secret just copied).
    form.shown_at(
        current.version,
        "The client changed since this page was shown (was its secret just rotated?). Nothing was rotated.",
    )?;
    let rotation = match parse_rotation(&form) {
        Ok(rotation) => rotation,
        Err(error) => {
            return Ok(
                (StatusCode::BAD_REQUEST, rotate_page(&session, &current, Some(&error.to_string()))).into_response()
            );
        }
    };
    let rotated = match state.gatehouse.rotate_secret(&session.actor, &client_id, rotation, state.clock.now()).await {
        Ok(rotated) => rotated,
        Err(error) => {
            let error = PortalError::from(error);
            if error.status() != StatusCode::BAD_REQUEST {
                return Err(error);
            }
            return Ok((error.status(), rotate_page(&session, &current, Some(error.message()))).into_response());
        }
    };
    let previous = match rotated.previous_secret_expires_at {
        Some(until) => format!("The previous secret goes on working until {}.", when(until)),
        None => "The previous secret no longer works.".to_owned(),
    };
    session
        .show_once(&state, &shown_secret(&state, &rotated.client, &rotated.secret, "Secret rotated", Some(previous)))
        .await
}

async fn delete_confirm(
    State(state): State<AppState>,
    session: PortalSession,
    Path((client_id, secret_id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let client = load(&state, &session, &client_id).await?;
    let secrets = state.gatehouse.client_secrets(&session.actor, &client_id, state.clock.now()).await?;
    let secret = secrets
        .iter()
        .find(|secret| secret.secret_id.as_str() == secret_id)
        .ok_or_else(|| PortalError::page(StatusCode::NOT_FOUND, "secret not found"))?;
    let url = client_url(&client.client_id);
    let body = html! {
        h1 { "End a secret now" }
        p {
            "Secret " code { (secret.prefix.as_deref().unwrap_or("gsec_…")) "…" }
            " of client " strong { (client.name.as_str()) } " (" code { (client.client_id) } ")"
        }
        p.notice role="alert" { "Every caller still using this secret is refused from now on. This cannot be undone." }
        form.stacked method="post" action={ (url) "/secrets/" (secret.secret_id) "/delete" } {
            (csrf_field(&session))
            label { input type="checkbox" name="revoke_tokens" value="on"; " Also end the tokens minted with it" }
            p.muted { "Without this, tokens minted with the secret work until they expire." }
            button.danger type="submit" { "End secret" }
        }
        p { a href=(url) { "Cancel" } }
    };
    Ok(layout("End a secret", Some(&session), body).into_response())
}

async fn delete(
    State(state): State<AppState>,
    Path((client_id, secret_id)): Path<(String, String)>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let revoke_tokens = form.checked("revoke_tokens");
    state
        .gatehouse
        .delete_secret(&session.actor, &client_id, &SecretId::from_string(secret_id), revoke_tokens, state.clock.now())
        .await?;
    Ok(Redirect::to(&format!("{}#secrets", client_url(&client_id))).into_response())
}
