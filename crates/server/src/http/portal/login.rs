//! Signing in and out. The session is the one `/v1/auth/login` creates, in the same cookie.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::ids::AccountId;
use gatehouse_domain::password_work::Busy;
use gatehouse_domain::people::LoginError;
use maud::html;
use serde::Deserialize;

use super::forms::FormFields;
use super::pages::{form_error, layout};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;
use crate::http::api::error::ApiError;
use crate::http::api::extract::SessionCookie;

pub fn routes() -> Router<AppState> {
    Router::new().route("/login", get(login_page).post(sign_in)).route("/logout", post(sign_out))
}

#[derive(Deserialize)]
struct LoginParams {
    /// `/login?account=ACCOUNT_ID`: the link a child account's users are given.
    #[serde(default)]
    account: Option<String>,
}

async fn login_page(session: Option<PortalSession>, Query(params): Query<LoginParams>) -> Response {
    if session.is_some() {
        return Redirect::to("/clients").into_response();
    }
    // Only something that could be an account id is put back on the page.
    let account = params.account.map(AccountId::from_string).filter(AccountId::is_well_formed);
    render(StatusCode::OK, "", account.as_ref().map_or("", AccountId::as_str), None)
}

fn render(status: StatusCode, email: &str, account: &str, error: Option<&str>) -> Response {
    let body = html! {
        section.narrow {
            h1 { "Sign in" }
            p.muted { "Manage your organisation's API clients, their credentials and their access." }
            (form_error(error))
            form method="post" action="/login" {
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required;
                // Users of a child account name it: users of different accounts may share an
                // email. Left empty, the sign-in is to the installation's own account.
                details open[!account.is_empty()] {
                    summary { "Signing in to a child account?" }
                    label for="account_id" { "Account ID" }
                    input #account_id type="text" name="account_id" value=(account) placeholder="acc_…"
                        autocomplete="off" spellcheck="false";
                }
                button type="submit" { "Sign in" }
            }
        }
    };
    (status, layout("Sign in", None, body)).into_response()
}

/// The page, with the `Retry-After` the `/v1` API sends for the same refusal.
fn retry_after(mut response: Response, seconds: i64) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: FormFields,
) -> Result<Response, PortalError> {
    let email = form.text("email").trim().to_owned();
    let account = form.text("account_id").trim().to_owned();
    let password = form.text("password").to_owned();
    let ip = state.trusted_proxies.client_ip(peer, &headers);
    let named = Some(account.as_str()).filter(|account| !account.is_empty());
    match state.gatehouse.login(&email, named, password, Some(ip), state.clock.now()).await {
        Ok(session) => {
            let mut response = Redirect::to("/clients").into_response();
            if let Some(cookie) =
                SessionCookie::for_public_url(&state.public_url).set(&session.token, session.expires_in)
            {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            // A new session starts in the person's own account, whoever used this browser before.
            if let Some(clear) = super::accounts::cleared_cookie(&state.public_url) {
                response.headers_mut().append(header::SET_COOKIE, clear);
            }
            Ok(response)
        }
        // The same words for an unknown email and a wrong password, as at `/v1/auth/login`.
        Err(LoginError::InvalidCredentials) => {
            Ok(render(StatusCode::UNAUTHORIZED, &email, &account, Some("Invalid email or password.")))
        }
        Err(LoginError::Throttled { retry_after_seconds }) => {
            let message = format!("Too many failed attempts. Try again in {retry_after_seconds} s.");
            Ok(retry_after(
                render(StatusCode::TOO_MANY_REQUESTS, &email, &account, Some(&message)),
                retry_after_seconds,
            ))
        }
        Err(LoginError::Busy(_)) => {
            let message = "Too many people are signing in right now. Try again in a moment.";
            Ok(retry_after(
                render(StatusCode::SERVICE_UNAVAILABLE, &email, &account, Some(message)),
                Busy::RETRY_AFTER_SECONDS,
            ))
        }
        Err(LoginError::Store(error)) => Err(ApiError::from(error).into()),
    }
}

/// Ends the session in the store, not only in the browser, so a copied cookie dies too.
async fn sign_out(
    State(state): State<AppState>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    state.gatehouse.logout(&session.token).await.map_err(ApiError::from)?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, SessionCookie::for_public_url(&state.public_url).clear());
    if let Some(clear) = super::accounts::cleared_cookie(&state.public_url) {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}
