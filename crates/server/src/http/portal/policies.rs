//! Policies (seed file 002, issue 21): limits an account puts its access profiles under. Everyone
//! who manages clients reads them (and picks one on a profile's form); owners and admins create,
//! change and delete them (the domain decides).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::client::{AllowedIps, Description};
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::PolicyId;
use gatehouse_domain::policy::{NewPolicy, Policy, PolicyName, PolicyPatch};
use gatehouse_domain::quota::{Quota, QuotaPeriod};
use maud::{Markup, html};

use super::clients::{list_or_none, parse_rate_limit};
use super::forms::{FormFields, entries};
use super::pages::{csrf_field, form_error, layout};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/policies", get(list).post(create))
        .route("/policies/{policy_id}", get(show).post(update))
        .route("/policies/{policy_id}/delete", post(remove))
}

fn policy_url(policy_id: &PolicyId) -> String {
    format!("/policies/{policy_id}")
}

fn limits_text(policy: &Policy) -> (String, String) {
    let rate = policy.rate_limit.map_or_else(
        || "none".to_owned(),
        |limit| format!("{} requests/s, burst {}", limit.requests_per_second, limit.burst),
    );
    let quota = policy
        .quota
        .map_or_else(|| "none".to_owned(), |quota| format!("{} per {} (UTC)", quota.requests, quota.period.as_str()));
    (rate, quota)
}

/// The fields of a policy, blank or as `policy` has them.
fn fields(policy: Option<&Policy>) -> Markup {
    let rate = policy.and_then(|policy| policy.rate_limit);
    let quota = policy.and_then(|policy| policy.quota);
    html! {
        label for="name" { "Name" }
        input #name type="text" name="name" value=[policy.map(|p| p.name.as_str())] maxlength=(PolicyName::MAX_CHARS) required;
        label for="description" { "Description" }
        textarea #description name="description" rows="2" maxlength=(Description::MAX_CHARS) { @if let Some(p) = policy { (p.description.as_str()) } }
        label for="allowed_ips" { "Allowed addresses " span.muted { "(IPs or CIDR blocks, one per line; empty allows any)" } }
        textarea #allowed_ips name="allowed_ips" rows="3" { @if let Some(p) = policy { (p.allowed_ips.to_strings().join("\n")) } }
        fieldset.row {
            legend { "Rate limit per profile " span.muted { "(empty for none)" } }
            label { "Requests per second " input type="number" name="requests_per_second" min="1" value=[rate.map(|l| l.requests_per_second)]; }
            label { "Burst " input type="number" name="burst" min="1" value=[rate.map(|l| l.burst)]; }
        }
        fieldset.row {
            legend { "Quota per profile " span.muted { "(allowed checks per calendar period, UTC; empty for none)" } }
            label { "Requests " input type="number" name="quota_requests" min="1" value=[quota.map(|q| q.requests)]; }
            label {
                "Per "
                select name="quota_period" {
                    @for period in QuotaPeriod::ALL {
                        option value=(period.as_str()) selected[quota.is_some_and(|q| q.period == period)] { (period.as_str()) }
                    }
                }
            }
        }
    }
}

fn parse_quota(form: &FormFields) -> Result<Option<Quota>, ValidationError> {
    let requests = form.text("quota_requests").trim();
    if requests.is_empty() {
        return Ok(None);
    }
    let requests =
        requests.parse::<i64>().map_err(|_| ValidationError::new("quota.requests", "must be a whole number"))?;
    let period = QuotaPeriod::parse(form.text("quota_period"))
        .ok_or_else(|| ValidationError::new("quota.period", "must be minute, hour, day or month"))?;
    Quota::parse(requests, period).map(Some)
}

fn list_page(session: &PortalSession, policies: &[Policy], error: Option<&str>) -> Markup {
    let editor = session.actor.role.is_owner_or_admin();
    let body = html! {
        h1 { "Policies" }
        p.muted {
            "Limits an access profile can be put under: its own limits and the policy's both hold. "
            "Rate limits and quotas count each profile on its own; a quota counts its allowed gateway checks in calendar periods (UTC), across every instance."
        }
        (form_error(error))
        @if policies.is_empty() {
            p.muted { "No policies yet." }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Rate limit" } th { "Quota" } th { "Addresses" } } }
                tbody {
                    @for policy in policies {
                        @let (rate, quota) = limits_text(policy);
                        tr {
                            td { a href=(policy_url(&policy.policy_id)) { (policy.name.as_str()) } }
                            td { (rate) }
                            td { (quota) }
                            td { (list_or_none(policy.allowed_ips.to_strings().iter().map(String::as_str))) }
                        }
                    }
                }
            }
        }
        @if editor {
            h2 { "New policy" }
            form.stacked method="post" action="/policies" {
                (csrf_field(session))
                (fields(None))
                button type="submit" { "Create policy" }
            }
        }
    };
    layout("Policies", Some(session), body)
}

async fn list(State(state): State<AppState>, session: PortalSession) -> Result<Response, PortalError> {
    let policies = state.gatehouse.list_policies(&session.actor, None, state.clock.now()).await?;
    Ok(list_page(&session, &policies, None).into_response())
}

fn fixable(error: &PortalError) -> bool {
    matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT)
}

async fn create(
    State(state): State<AppState>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let new = NewPolicy {
            account_id: None,
            name: PolicyName::parse(form.text("name"))?,
            description: Description::parse(form.text("description"))?,
            rate_limit: parse_rate_limit(form.text("requests_per_second"), form.text("burst"))?,
            quota: parse_quota(&form)?,
            allowed_ips: AllowedIps::parse(&entries(form.text("allowed_ips")))?,
        };
        Ok::<_, PortalError>(state.gatehouse.create_policy(&session.actor, new, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok(policy) => Ok(Redirect::to(&policy_url(&policy.policy_id)).into_response()),
        Err(error) if fixable(&error) => {
            let policies = state.gatehouse.list_policies(&session.actor, None, state.clock.now()).await?;
            Ok((error.status(), list_page(&session, &policies, Some(error.message()))).into_response())
        }
        Err(error) => Err(error),
    }
}

fn policy_page(session: &PortalSession, policy: &Policy, error: Option<&str>) -> Markup {
    let url = policy_url(&policy.policy_id);
    let (rate, quota) = limits_text(policy);
    let body = html! {
        h1 { (policy.name.as_str()) }
        @if !policy.description.as_str().is_empty() { p { (policy.description.as_str()) } }
        (form_error(error))
        dl.fields {
            dt { "Policy ID" } dd { code { (policy.policy_id) } }
            dt { "Rate limit per profile" } dd { (rate) }
            dt { "Quota per profile" } dd { (quota) }
            dt { "Allowed addresses" } dd { (list_or_none(policy.allowed_ips.to_strings().iter().map(String::as_str))) }
        }
        @if session.actor.role.is_owner_or_admin() {
            section {
                h2 { "Edit" }
                p.muted { "A change holds for every profile under the policy at its next check, on every instance." }
                form.stacked method="post" action=(url) {
                    (csrf_field(session))
                    input type="hidden" name="version" value=(policy.version);
                    (fields(Some(policy)))
                    button type="submit" { "Save" }
                }
            }
            section.actions {
                h2 { "Delete" }
                p.muted { "A policy that profiles are still under cannot be deleted: take them out from under it first." }
                form.inline method="post" action={ (url) "/delete" } {
                    (csrf_field(session))
                    button.danger type="submit" { "Delete policy" }
                }
            }
        }
    };
    layout(policy.name.as_str(), Some(session), body)
}

async fn render(
    state: &AppState,
    session: &PortalSession,
    policy_id: &PolicyId,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PortalError> {
    let policy = state.gatehouse.get_policy(&session.actor, policy_id, state.clock.now()).await?;
    Ok((status, policy_page(session, &policy, error)).into_response())
}

async fn show(
    State(state): State<AppState>,
    session: PortalSession,
    Path(policy_id): Path<String>,
) -> Result<Response, PortalError> {
    render(&state, &session, &PolicyId::from_string(policy_id), StatusCode::OK, None).await
}

async fn update(
    State(state): State<AppState>,
    Path(policy_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let policy_id = PolicyId::from_string(policy_id);
    let result = async {
        // The form carries the version it was shown at: a change made since is never silently
        // undone by this older picture of the policy.
        let current = state.gatehouse.get_policy(&session.actor, &policy_id, state.clock.now()).await?;
        form.shown_at(
            current.version,
            "The policy changed since this page was shown. Nothing was saved: reload the page and edit it again.",
        )?;
        let patch = PolicyPatch {
            name: Some(PolicyName::parse(form.text("name"))?),
            description: Some(Description::parse(form.text("description"))?),
            rate_limit: Some(parse_rate_limit(form.text("requests_per_second"), form.text("burst"))?),
            quota: Some(parse_quota(&form)?),
            allowed_ips: Some(AllowedIps::parse(&entries(form.text("allowed_ips")))?),
        };
        Ok::<_, PortalError>(state.gatehouse.update_policy(&session.actor, &policy_id, patch, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&policy_url(&policy_id)).into_response()),
        Err(error) if fixable(&error) => {
            render(&state, &session, &policy_id, error.status(), Some(error.message())).await
        }
        Err(error) => Err(error),
    }
}

async fn remove(
    State(state): State<AppState>,
    Path(policy_id): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    let policy_id = PolicyId::from_string(policy_id);
    match state.gatehouse.delete_policy(&session.actor, &policy_id, state.clock.now()).await {
        Ok(()) => Ok(Redirect::to("/policies").into_response()),
        Err(error) => {
            let error = PortalError::from(error);
            if fixable(&error) {
                render(&state, &session, &policy_id, error.status(), Some(error.message())).await
            } else {
                Err(error)
            }
        }
    }
}
