//! The web portal under `/` (DESIGN.md "Operations"): server-rendered pages for people, over the
//! same domain operations as `/v1`. Every action is a plain form, so the pages work in any
//! browser and without JavaScript. The one script, served from the binary (`portal.js`, the only
//! source the Content-Security-Policy allows scripts from; nothing inline runs), adds copy
//! buttons beside the values shown once.
//!
//! Sessions are the `/v1/auth/login` sessions, carried in the same HttpOnly, SameSite=Strict
//! cookie. Every state-changing form also carries a CSRF token derived from the session, and a
//! cross-site `Origin` is refused before anything else runs.

mod accounts;
mod audit;
mod clients;
mod forms;
mod login;
mod logo;
mod pages;
mod policies;
mod products;
mod profiles;
mod projects;
mod secrets;
mod shown;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use aws_lc_rs::{constant_time, digest};
use axum::Router;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::account::Account;
use gatehouse_domain::actor::Actor;
use gatehouse_domain::error::{AuthError, DomainError, ValidationError};
use gatehouse_domain::ids::AccountId;

use self::forms::FormFields;
use super::AppState;
use super::api::error::ApiError;
use super::api::extract::SessionCookie;

pub fn routes(state: &AppState) -> Router<AppState> {
    let public_origin: Arc<str> = origin_of(&state.public_url).into();
    Router::new()
        .route("/", get(home))
        .route("/portal.css", get(stylesheet))
        .route("/portal.js", get(script))
        .merge(login::routes())
        .merge(accounts::routes())
        .merge(clients::routes())
        .merge(logo::routes())
        .merge(secrets::routes())
        .merge(shown::routes())
        .merge(audit::routes())
        .merge(users::routes())
        .merge(profiles::routes())
        .merge(products::routes())
        .merge(policies::routes())
        .merge(projects::routes())
        .layer(middleware::from_fn_with_state(public_origin, guard))
}

/// `scheme://host[:port]` of a URL: what a browser sends as `Origin` for pages under it.
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{authority}")
}

/// `/`: the client list for a signed-in person, the sign-in page for anyone else.
async fn home(session: Option<PortalSession>) -> Redirect {
    match session {
        Some(_) => Redirect::to("/clients"),
        None => Redirect::to("/login"),
    }
}

async fn stylesheet() -> Response {
    let mut response = include_str!("portal.css").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The portal's one script: copy buttons (see the file). Served from the binary, so the
/// Content-Security-Policy allows scripts from this origin only, never inline.
async fn script() -> Response {
    let mut response = include_str!("portal.js").into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// Runs around every portal route: refuses cross-site form posts (login CSRF included, which the
/// per-session token cannot cover) and sets the headers every page needs.
async fn guard(State(public_origin): State<Arc<str>>, request: axum::extract::Request, next: Next) -> Response {
    let unsafe_method = request.method() != Method::GET && request.method() != Method::HEAD;
    if unsafe_method && is_cross_site(request.headers(), &public_origin) {
        return pages::error_page(StatusCode::FORBIDDEN, "This form was submitted from another site.", None);
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // Pages show per-person data and, once, secrets: nothing is cached, so no shared or
    // browser cache keeps them. The stylesheet sets its own caching.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Whether the browser says the request comes from another site. `Sec-Fetch-Site` is the
/// browser's own verdict (and `same-site`, another port or subdomain, is not good enough);
/// `Origin` is compared with the server's public origin and with `Host` where it is the only
/// evidence (plain HTTP to a non-local host, older browsers). Requests with neither (curl,
/// scripts) carry no ambient credentials a page could abuse.
fn is_cross_site(headers: &HeaderMap, public_origin: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    let same_origin =
        origin.eq_ignore_ascii_case(public_origin) || (!host.is_empty() && origin_host.eq_ignore_ascii_case(host));
    !same_origin
}

/// A signed-in person. Extracting it from a request without a live session sends the browser
/// to the sign-in page.
pub struct PortalSession {
    /// The person, acting in the account the portal shows (see `accounts`).
    pub actor: Actor,
    /// The same person in their own account, from where they switch.
    pub home: Actor,
    /// The account every page and action is scoped to.
    pub account: Account,
    /// The accounts the person may switch to, their own first.
    pub accounts: Vec<Account>,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// The session token itself, kept only to end the session at sign-out.
    token: String,
}

impl PortalSession {
    /// The session the request's cookie names, if it is live.
    async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<Self>, PortalError> {
        let Some(token) = SessionCookie::for_public_url(&state.public_url).read(parts) else {
            return Ok(None);
        };
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| state.trusted_proxies.client_ip(info.0, &parts.headers));
        let home = match state.gatehouse.authenticate_session(token, source, state.clock.now()).await {
            Ok(actor) => actor,
            Err(AuthError::InvalidToken) => return Ok(None),
            Err(AuthError::Store(error)) => return Err(ApiError::from(error).into()),
        };
        let (actor, account, accounts) = accounts::resolve(parts, state, &home).await?;
        let csrf = csrf_token(token, &actor.account_id);
        Ok(Some(PortalSession { actor, home, account, accounts, csrf, token: token.to_owned() }))
    }
}

impl FromRequestParts<AppState> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match Self::resolve(parts, state).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for PortalSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Self::resolve(parts, state).await.map_err(IntoResponse::into_response)
    }
}

impl PortalSession {
    /// Refuses a form whose CSRF token is not this session's.
    fn check_csrf(&self, submitted: Option<&str>) -> Result<(), PortalError> {
        let valid = submitted.is_some_and(|value| {
            constant_time::verify_slices_are_equal(value.as_bytes(), self.csrf.as_bytes()).is_ok()
        });
        if valid {
            Ok(())
        } else {
            Err(PortalError::page(
                StatusCode::FORBIDDEN,
                "The form has expired, or the account was switched since it was shown. Reload the page and try again.",
            ))
        }
    }
}

/// A form submitted by a signed-in person from one of the session's own pages. Every
/// state-changing handler takes one, so none can forget the CSRF check.
pub struct PortalForm {
    pub session: PortalSession,
    pub fields: FormFields,
}

impl FromRequest<AppState> for PortalForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = <PortalSession as FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        let fields = FormFields::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        session.check_csrf(fields.csrf()).map_err(IntoResponse::into_response)?;
        Ok(Self { session, fields })
    }
}

/// A CSRF token bound to the session and to the account it acts in: a one-way function of the
/// session token, so it needs no storage, dies with the session, and reveals nothing about the
/// token itself. A form shown in one account no longer posts after a switch to another (in
/// another tab, say): it would otherwise act in the account chosen since, not the one shown.
fn csrf_token(session_token: &str, account_id: &AccountId) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(b"gatehouse portal csrf v2\0");
    context.update(session_token.as_bytes());
    context.update(b"\0");
    context.update(account_id.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(context.finish().as_ref())
}

/// A portal failure, shown as a page. Domain errors are mapped to a status and message once, by
/// `ApiError`, and only the presentation differs from `/v1`.
pub struct PortalError {
    status: StatusCode,
    message: String,
}

impl PortalError {
    pub fn page(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ApiError> for PortalError {
    fn from(error: ApiError) -> Self {
        Self { status: error.status(), message: error.message().to_owned() }
    }
}

impl From<DomainError> for PortalError {
    fn from(error: DomainError) -> Self {
        ApiError::from(error).into()
    }
}

impl From<ValidationError> for PortalError {
    fn from(error: ValidationError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        // A session that ended between pages: back to the sign-in page rather than an error.
        if self.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        pages::error_page(self.status, &self.message, None)
    }
}
