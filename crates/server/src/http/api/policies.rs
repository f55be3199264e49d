//! `/v1/policies[/{policy_id}]`: an account's policies (seed file 002, issue 21), the limits its
//! access profiles are put under.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_domain::client::{AllowedIps, Description, RateLimit};
use gatehouse_domain::ids::{AccountId, PolicyId};
use gatehouse_domain::policy::{NewPolicy, Policy, PolicyName, PolicyPatch};
use gatehouse_domain::quota::{Quota, QuotaPeriod};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{RateLimitBody, Text, Whole, account_of, present, rate_limit};
use super::clients::timestamp;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/policies", get(list_policies).post(create_policy))
        .route("/v1/policies/{policy_id}", get(get_policy).patch(update_policy).delete(delete_policy))
}

#[derive(Serialize, ToSchema)]
struct PolicyView {
    policy_id: String,
    account_id: String,
    name: String,
    description: String,
    rate_limit: Option<RateLimit>,
    quota: Option<Quota>,
    allowed_ips: Vec<String>,
    date_created: String,
    date_updated: String,
}

impl From<Policy> for PolicyView {
    fn from(policy: Policy) -> Self {
        Self {
            policy_id: policy.policy_id.to_string(),
            account_id: policy.account_id.to_string(),
            name: policy.name.as_str().to_owned(),
            description: policy.description.as_str().to_owned(),
            rate_limit: policy.rate_limit,
            quota: policy.quota,
            allowed_ips: policy.allowed_ips.to_strings(),
            date_created: timestamp(policy.date_created),
            date_updated: timestamp(policy.date_updated),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct PolicyEnvelope {
    policy: PolicyView,
}

#[derive(Serialize, ToSchema)]
struct PolicyList {
    policies: Vec<PolicyView>,
}

fn envelope(policy: Policy) -> Json<PolicyEnvelope> {
    Json(PolicyEnvelope { policy: policy.into() })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreatePolicyBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// `null` or absent: no rate limit of its own.
    #[serde(default)]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<RateLimitBody>,
    /// At most `requests` allowed checks per profile in each calendar `period` (UTC); `null` or
    /// absent: none.
    #[serde(default)]
    #[schema(value_type = Option<Quota>)]
    quota: Option<QuotaBody>,
    /// IPs and CIDR blocks; empty or absent allows any.
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    /// A child account's, for an owner or admin above it.
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdatePolicyBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<Option<RateLimitBody>>,
    /// `null` removes the quota.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Quota>)]
    quota: Option<Option<QuotaBody>>,
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    requests: Whole,
    period: Text<QuotaPeriod>,
}

fn quota(body: Option<QuotaBody>) -> Result<Option<Quota>, ApiError> {
    Ok(body.map(|body| Quota::parse(body.requests.0, body.period.0)).transpose()?)
}

/// `GET /v1/policies`: the account's policies, by name.
#[utoipa::path(get, path = "/v1/policies", tag = "policies", security(("bearer" = [])),
    params(("account_id" = Option<String>, Query, description = "a child account's policies")),
    responses((status = 200, body = PolicyList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_policies(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<PolicyList>, ApiError> {
    let account_id = account_of(query);
    let policies = state.gatehouse.list_policies(&actor, account_id, state.clock.now()).await?;
    Ok(Json(PolicyList { policies: policies.into_iter().map(PolicyView::from).collect() }))
}

/// `POST /v1/policies`: owners and admins; the name is unique in the account (409).
#[utoipa::path(post, path = "/v1/policies", tag = "policies", security(("bearer" = [])), request_body = CreatePolicyBody,
    responses(
        (status = 201, body = PolicyEnvelope, headers(("Location" = String))), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn create_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreatePolicyBody>,
) -> Result<Response, ApiError> {
    let new = NewPolicy {
        account_id: body.account_id.map(AccountId::from_string),
        name: PolicyName::parse(&body.name)?,
        description: Description::parse(body.description.as_deref().unwrap_or_default())?,
        rate_limit: rate_limit(body.rate_limit)?,
        quota: quota(body.quota)?,
        allowed_ips: AllowedIps::parse(&body.allowed_ips.unwrap_or_default())?,
    };
    let policy = state.gatehouse.create_policy(&actor, new, state.clock.now()).await?;
    let location = HeaderValue::from_str(&format!("/v1/policies/{}", policy.policy_id)).ok();
    let mut response = (StatusCode::CREATED, envelope(policy)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/v1/policies/{policy_id}", tag = "policies", security(("bearer" = [])),
    params(("policy_id" = String, Path)),
    responses((status = 200, body = PolicyEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(policy_id): Path<String>,
) -> Result<Json<PolicyEnvelope>, ApiError> {
    let policy = state.gatehouse.get_policy(&actor, &PolicyId::from_string(policy_id), state.clock.now()).await?;
    Ok(envelope(policy))
}

/// `PATCH /v1/policies/{policy_id}`: every profile under it is held to the change at once.
#[utoipa::path(patch, path = "/v1/policies/{policy_id}", tag = "policies", security(("bearer" = [])),
    params(("policy_id" = String, Path)), request_body = UpdatePolicyBody,
    responses(
        (status = 200, body = PolicyEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn update_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(policy_id): Path<String>,
    ApiJson(body): ApiJson<UpdatePolicyBody>,
) -> Result<Json<PolicyEnvelope>, ApiError> {
    let patch = PolicyPatch {
        name: body.name.as_deref().map(PolicyName::parse).transpose()?,
        description: body.description.as_deref().map(Description::parse).transpose()?,
        rate_limit: body.rate_limit.map(rate_limit).transpose()?,
        quota: body.quota.map(quota).transpose()?,
        allowed_ips: body.allowed_ips.as_deref().map(AllowedIps::parse).transpose()?,
    };
    let policy =
        state.gatehouse.update_policy(&actor, &PolicyId::from_string(policy_id), patch, state.clock.now()).await?;
    Ok(envelope(policy))
}

/// `DELETE /v1/policies/{policy_id}`: 409 while profiles are under it.
#[utoipa::path(delete, path = "/v1/policies/{policy_id}", tag = "policies", security(("bearer" = [])),
    params(("policy_id" = String, Path)),
    responses(
        (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "access profiles are still under the policy"),
    ))]
async fn delete_policy(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(policy_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_policy(&actor, &PolicyId::from_string(policy_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The policy routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_policies, create_policy, get_policy, update_policy, delete_policy))]
pub(super) struct PoliciesApi;
