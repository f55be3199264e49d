//! `/v1/clients/{client_id}/access-profiles[/{profile_id}[/refresh]]` (seed file 002).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_domain::client::{AllowedIps, ClientName, RateLimit};
use gatehouse_domain::ids::{ClientId, PolicyId, ProfileId};
use gatehouse_domain::profile::{AccessProfile, AuthMethod, NewProfile, ProfileCredential, ProfilePatch};
use gatehouse_domain::trust::{ProfileTrust, TrustInput};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::Date;
use time::macros::format_description;
use utoipa::ToSchema;

use super::body::{RateLimitBody, present, rate_limit};
use super::clients::{no_store, timestamp};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/clients/{client_id}/access-profiles", get(list_profiles).post(create_profile))
        .route(
            "/v1/clients/{client_id}/access-profiles/{profile_id}",
            get(get_profile).patch(update_profile).delete(delete_profile),
        )
        .route("/v1/clients/{client_id}/access-profiles/{profile_id}/refresh", post(refresh_profile))
        .route("/v1/clients/{client_id}/access-profiles/{profile_id}/usage", get(profile_usage))
}

#[derive(Serialize, ToSchema)]
struct ProfileView {
    profile_id: String,
    client_id: String,
    name: String,
    products: Vec<String>,
    auth_method: AuthMethod,
    allowed_ips: Vec<String>,
    rate_limit: Option<RateLimit>,
    active: bool,
    date_created: String,
    date_updated: String,
    /// When and from where the credential was last used; written in batches, at most a few
    /// seconds behind.
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
    /// The policy it is under (`/v1/policies`): it is held to the stricter of its own limits and
    /// the policy's. `null`: none.
    policy_id: Option<String>,
    /// A `jwt` profile's consumer keys: `{"jwks": {"keys": [...]}}`, public members only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    jwt: Option<Value>,
    /// An `oidc` profile's identity provider: `{"issuer", "jwks_uri", "audience", "claims",
    /// "single_use"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    oidc: Option<Value>,
}

impl From<AccessProfile> for ProfileView {
    fn from(profile: AccessProfile) -> Self {
        Self {
            profile_id: profile.profile_id.to_string(),
            client_id: profile.client_id.to_string(),
            name: profile.name.as_str().to_owned(),
            products: profile.products.into_iter().collect(),
            auth_method: profile.auth_method,
            allowed_ips: profile.allowed_ips.to_strings(),
            rate_limit: profile.rate_limit,
            active: profile.active,
            date_created: timestamp(profile.date_created),
            date_updated: timestamp(profile.date_updated),
            last_used_at: profile.last_use.map(|last_use| timestamp(last_use.at)),
            last_used_ip: profile.last_use.map(|last_use| last_use.ip.to_string()),
            policy_id: profile.policy.map(|policy| policy.policy_id.to_string()),
            jwt: profile.trust.as_ref().filter(|_| profile.auth_method == AuthMethod::Jwt).map(ProfileTrust::to_json),
            oidc: profile.trust.as_ref().filter(|_| profile.auth_method == AuthMethod::Oidc).map(ProfileTrust::to_json),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ProfileEnvelope {
    access_profile: ProfileView,
}

/// A profile with its credential, shown once (seed rule 1, file 002's "only time you can view
/// the token").
#[derive(Serialize, ToSchema)]
struct ProfileWithCredential {
    access_profile: ProfileView,
    /// `{"client_id","client_secret"}` or `{"api_key"}`, by the profile's `auth_method`; absent
    /// for `jwt` and `oidc` profiles, which trust keys instead of holding a credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    credential: Option<Value>,
}

fn with_credential(status: StatusCode, profile: AccessProfile, credential: Option<ProfileCredential>) -> Response {
    let body = ProfileWithCredential {
        access_profile: profile.into(),
        credential: credential.as_ref().map(ProfileCredential::expose),
    };
    no_store((status, Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProfileBody {
    name: String,
    #[serde(default)]
    products: Vec<String>,
    /// `client_secret`, `api_key`, `jwt` (the consumer's own keys) or `oidc` (an outside
    /// identity provider's tokens). Fixed at creation.
    auth_method: String,
    #[serde(default)]
    allowed_ips: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<RateLimitBody>,
    #[serde(default = "active_by_default")]
    active: bool,
    /// A policy of the client's account to put it under.
    #[serde(default)]
    policy_id: Option<String>,
    /// For `jwt`: `{"jwks": {"keys": [...]}}`, the consumer's public keys (Ed25519 `OKP`, `EC`
    /// P-256, `RSA` of 2048 bits or more).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwt: Option<Value>,
    /// For `oidc`: `{"issuer", "jwks_uri", "audience"?, "claims"?, "single_use"?}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    oidc: Option<Value>,
}

fn active_by_default() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProfileBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    products: Option<Vec<String>>,
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<Option<RateLimitBody>>,
    #[serde(default)]
    active: Option<bool>,
    /// `null` takes it out from under its policy.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    policy_id: Option<Option<String>>,
    /// A `jwt` profile's new keys, replacing the old ones whole. What the old keys signed stops
    /// at once, tokens minted with them included.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    jwt: Option<Value>,
    /// An `oidc` profile's new provider description, replacing the old one whole.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    oidc: Option<Value>,
}

#[derive(Serialize, ToSchema)]
struct ProfileList {
    access_profiles: Vec<ProfileView>,
}

#[utoipa::path(get, path = "/v1/clients/{client_id}/access-profiles", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = ProfileList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_profiles(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Json<ProfileList>, ApiError> {
    let profiles = state.gatehouse.list_profiles(&actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    Ok(Json(ProfileList { access_profiles: profiles.into_iter().map(ProfileView::from).collect() }))
}

#[utoipa::path(post, path = "/v1/clients/{client_id}/access-profiles", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path)), request_body = CreateProfileBody,
    responses((status = 201, body = ProfileWithCredential, description = "the credential, shown this once"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "the client already has 10 access profiles")))]
async fn create_profile(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<CreateProfileBody>,
) -> Result<Response, ApiError> {
    let new = NewProfile {
        name: ClientName::parse(&body.name)?,
        products: body.products,
        auth_method: AuthMethod::parse(&body.auth_method)?,
        allowed_ips: AllowedIps::parse(&body.allowed_ips)?,
        rate_limit: rate_limit(body.rate_limit)?,
        active: body.active,
        policy_id: body.policy_id.map(PolicyId::from_string),
        trust: TrustInput { jwt: body.jwt, oidc: body.oidc },
    };
    let (profile, credential) =
        state.gatehouse.create_profile(&actor, &ClientId::from_string(client_id), new, state.clock.now()).await?;
    Ok(with_credential(StatusCode::CREATED, profile, credential))
}

#[utoipa::path(get, path = "/v1/clients/{client_id}/access-profiles/{profile_id}", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path), ("profile_id" = String, Path)),
    responses((status = 200, body = ProfileEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_profile(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, profile_id)): Path<(String, String)>,
) -> Result<Json<ProfileEnvelope>, ApiError> {
    let profile = state
        .gatehouse
        .get_profile(&actor, &ClientId::from_string(client_id), &ProfileId::from_string(profile_id), state.clock.now())
        .await?;
    Ok(Json(ProfileEnvelope { access_profile: profile.into() }))
}

#[utoipa::path(patch, path = "/v1/clients/{client_id}/access-profiles/{profile_id}", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path), ("profile_id" = String, Path)), request_body = UpdateProfileBody,
    responses((status = 200, body = ProfileEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_profile(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, profile_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateProfileBody>,
) -> Result<Json<ProfileEnvelope>, ApiError> {
    let patch = ProfilePatch {
        name: body.name.as_deref().map(ClientName::parse).transpose()?,
        products: body.products,
        allowed_ips: body.allowed_ips.as_deref().map(AllowedIps::parse).transpose()?,
        rate_limit: body.rate_limit.map(rate_limit).transpose()?,
        active: body.active,
        policy_id: body.policy_id.map(|policy_id| policy_id.map(PolicyId::from_string)),
        trust: TrustInput { jwt: body.jwt, oidc: body.oidc },
    };
    let profile = state
        .gatehouse
        .update_profile(
            &actor,
            &ClientId::from_string(client_id),
            &ProfileId::from_string(profile_id),
            patch,
            state.clock.now(),
        )
        .await?;
    Ok(Json(ProfileEnvelope { access_profile: profile.into() }))
}

#[utoipa::path(delete, path = "/v1/clients/{client_id}/access-profiles/{profile_id}", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path), ("profile_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_profile(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, profile_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .gatehouse
        .delete_profile(
            &actor,
            &ClientId::from_string(client_id),
            &ProfileId::from_string(profile_id),
            state.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/clients/{client_id}/access-profiles/{profile_id}/refresh", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path), ("profile_id" = String, Path)),
    responses((status = 200, body = ProfileWithCredential, description = "a new credential, shown this once; the old one is refused at once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn refresh_profile(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, profile_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (profile, credential) = state
        .gatehouse
        .refresh_profile(
            &actor,
            &ClientId::from_string(client_id),
            &ProfileId::from_string(profile_id),
            state.clock.now(),
        )
        .await?;
    Ok(with_credential(StatusCode::OK, profile, Some(credential)))
}

/// One UTC day and product of a profile's usage: the gateway check's decisions.
#[derive(Serialize, ToSchema)]
struct UsageEntry {
    /// `YYYY-MM-DD`, UTC.
    date: String,
    /// A product the profile holds, or `(other)` for a refused check of any other.
    product: String,
    allowed: u64,
    /// Refused checks by reason: `credential` (inactive, refreshed, expired, revoked, client
    /// disabled), `address`, `product`, `rate_limit`, `quota`, `unavailable`. Reasons with none
    /// are left out.
    #[schema(value_type = Object)]
    denied: BTreeMap<&'static str, u64>,
}

#[derive(Serialize, ToSchema)]
struct UsageList {
    usage: Vec<UsageEntry>,
}

/// `?from=&to=` as UTC days; both or neither.
fn usage_span(query: Option<String>) -> Result<Option<(Date, Date)>, ApiError> {
    let mut from = None;
    let mut to = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let day = |field: &'static str| {
            Date::parse(&value, format_description!("[year]-[month]-[day]"))
                .map_err(|_| ApiError::invalid_field(field, "must be a date, such as 2027-01-31"))
        };
        match key.as_ref() {
            "from" => from = Some(day("from")?),
            "to" => to = Some(day("to")?),
            _ => {}
        }
    }
    match (from, to) {
        (Some(from), Some(to)) => Ok(Some((from, to))),
        (None, None) => Ok(None),
        _ => Err(ApiError::invalid_field("from", "give from and to together, or neither for the last 30 days")),
    }
}

#[utoipa::path(get, path = "/v1/clients/{client_id}/access-profiles/{profile_id}/usage", tag = "access profiles", security(("bearer" = [])),
    params(("client_id" = String, Path), ("profile_id" = String, Path),
        ("from" = Option<String>, Query, description = "first UTC day, YYYY-MM-DD (with `to`; default: 29 days ago)"),
        ("to" = Option<String>, Query, description = "last UTC day, YYYY-MM-DD, at most 366 days after `from` (default: today)")),
    responses((status = 200, body = UsageList, description = "days and products with checks, oldest first; counts are written every 10 s"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn profile_usage(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, profile_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<UsageList>, ApiError> {
    let span = usage_span(query)?;
    let days = state
        .gatehouse
        .profile_usage(
            &actor,
            &ClientId::from_string(client_id),
            &ProfileId::from_string(profile_id),
            span,
            state.clock.now(),
        )
        .await?;
    let usage = days
        .into_iter()
        .map(|day| UsageEntry {
            date: day.date.to_string(),
            product: day.product,
            allowed: day.allowed,
            denied: day.denied,
        })
        .collect();
    Ok(Json(UsageList { usage }))
}

/// The access-profile routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_profiles,
    create_profile,
    get_profile,
    update_profile,
    delete_profile,
    refresh_profile,
    profile_usage
))]
pub(super) struct ProfilesApi;
