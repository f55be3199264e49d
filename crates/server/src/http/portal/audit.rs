//! The account's audit log, newest first, for the people who may read it (owners and admins).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_domain::store::{AuditFilter, PageRequest};
use maud::html;
use serde::Deserialize;

use super::clients::audit_table;
use super::pages::layout;
use super::{PortalError, PortalSession};
use crate::http::AppState;

const PAGE_SIZE: u32 = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_log))
}

#[derive(Deserialize)]
struct AuditParams {
    /// Kept as text: a hand-edited `?page=abc` shows page 1 rather than a bare 400.
    #[serde(default)]
    page: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    session: PortalSession,
    Query(params): Query<AuditParams>,
) -> Result<Response, PortalError> {
    let number = params.page.and_then(|page| page.parse::<u32>().ok()).unwrap_or(1).max(1);
    let page = PageRequest { size: PAGE_SIZE, number };
    let (events, count) = state.gatehouse.audit_events(&session.actor, None, &AuditFilter::default(), page).await?;
    let pages = count.div_ceil(u64::from(PAGE_SIZE)).max(1);
    let body = html! {
        h1 { "Audit log" }
        p.muted { "Who did what, to which object, from where, and whether it was allowed. Secrets are never recorded." }
        (audit_table(&events))
        nav.pager {
            @if number > 1 { a href={ "/audit?page=" (number - 1) } { "← Newer" } }
            span { "Page " (number) " of " (pages) " · " (count) " events" }
            @if u64::from(number) < pages { a href={ "/audit?page=" (number + 1) } { "Older →" } }
        }
    };
    Ok(layout("Audit log", Some(&session), body).into_response())
}
