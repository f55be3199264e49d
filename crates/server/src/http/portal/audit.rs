//! The account's audit log, newest first, for the people who may read it (owners and admins).

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_domain::store::AuditFilter;
use maud::html;
use serde::Deserialize;

use super::clients::audit_table;
use super::pages::{layout, page_request, pager};
use super::{PortalError, PortalSession};
use crate::http::AppState;

const PAGE_SIZE: u32 = 100;

pub fn routes() -> Router<AppState> {
    Router::new().route("/audit", get(audit_log))
}

#[derive(Deserialize)]
struct AuditParams {
    /// Kept as text: see `page_request`.
    #[serde(default)]
    page: Option<String>,
}

async fn audit_log(
    State(state): State<AppState>,
    session: PortalSession,
    Query(params): Query<AuditParams>,
) -> Result<Response, PortalError> {
    let page = page_request(params.page.as_deref(), PAGE_SIZE);
    let (events, count) =
        state.gatehouse.audit_events(&session.actor, None, &AuditFilter::default(), page, state.clock.now()).await?;
    let body = html! {
        h1 { "Audit log" }
        p.muted { "Who did what, to which object, from where, and whether it was allowed. Secrets are never recorded." }
        (audit_table(&events))
        (pager("/audit", page, count, "events", "Newer", "Older"))
    };
    Ok(layout("Audit log", Some(&session), body).into_response())
}
