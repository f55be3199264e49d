//! Which account the portal acts in (seed 000: an owner or admin of a parent account can "switch
//! to the account"). The choice is a cookie holding an account id; it grants nothing: on every
//! request the domain checks that the signed-in person may act in that account
//! (`Gatehouse::acting_in`), and a cookie naming any other is ignored. Every page and action
//! then runs as the person acting in that account, so all of them are scoped to it.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use gatehouse_domain::account::Account;
use gatehouse_domain::actor::Actor;
use gatehouse_domain::ids::AccountId;

use super::{PortalError, PortalForm};
use crate::http::AppState;
use crate::http::api::error::ApiError;
use crate::http::api::extract::cookie;

pub fn routes() -> Router<AppState> {
    Router::new().route("/switch-account", post(switch))
}

/// The cookie that names the account the portal acts in. Host-only and `__Host-` prefixed over
/// HTTPS, as the session cookie is, so a sibling site cannot plant one.
#[derive(Clone, Copy)]
struct AccountCookie {
    secure: bool,
}

impl AccountCookie {
    fn for_public_url(public_url: &str) -> Self {
        Self { secure: public_url.starts_with("https://") }
    }

    fn name(self) -> &'static str {
        if self.secure { "__Host-gatehouse_account" } else { "gatehouse_account" }
    }

    fn set(self, account_id: &AccountId) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}={account_id}; Path=/; HttpOnly; SameSite=Strict{secure}", self.name())).ok()
    }

    fn clear(self) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}", self.name())).ok()
    }

    fn read(self, parts: &Parts) -> Option<AccountId> {
        cookie(parts, self.name()).map(AccountId::from_string).filter(AccountId::is_well_formed)
    }
}

/// The `Set-Cookie` that forgets the account chosen: at sign-in and sign-out, so that the next
/// person on a shared browser starts in their own account.
pub(super) fn cleared_cookie(public_url: &str) -> Option<HeaderValue> {
    AccountCookie::for_public_url(public_url).clear()
}

/// Where a signed-in person acts: the account the cookie names if they may act in it, their own
/// otherwise. Returns the acting actor, that account, and the accounts they may switch to (their
/// own first; only their own for those who act in no other).
pub(super) async fn resolve(
    parts: &Parts,
    state: &AppState,
    home: &Actor,
) -> Result<(Actor, Account, Vec<Account>), PortalError> {
    let now = state.clock.now();
    let accounts = state.gatehouse.list_accounts(home, now).await?;
    let chosen = AccountCookie::for_public_url(&state.public_url).read(parts).filter(|id| *id != home.account_id);
    if let Some(account_id) = chosen {
        // A cookie for an account this person may not act in (never theirs, or no longer) is
        // ignored: they act in their own.
        if let Ok((acting, account)) = state.gatehouse.acting_in(home, &account_id).await {
            return Ok((acting, account, accounts));
        }
    }
    let own = accounts
        .first()
        .cloned()
        .ok_or_else(|| PortalError::page(StatusCode::INTERNAL_SERVER_ERROR, "the account could not be read"))?;
    Ok((home.clone(), own, accounts))
}

async fn switch(
    State(state): State<AppState>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let account_id = AccountId::from_string(fields.text("account_id"));
    // Refused (404) exactly as an account that does not exist, and nothing is remembered.
    let (_, account) = state.gatehouse.acting_in(&session.home, &account_id).await.map_err(ApiError::from)?;
    let cookie = AccountCookie::for_public_url(&state.public_url);
    let value =
        if account.account_id == session.home.account_id { cookie.clear() } else { cookie.set(&account.account_id) };
    let mut response = Redirect::to("/clients").into_response();
    if let Some(value) = value {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
