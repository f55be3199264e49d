//! `/v1/clients`: seed file 001 to the letter, plus the lifecycle of DESIGN.md rules 1-10.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_domain::account::Email;
use gatehouse_domain::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, TokenExpiry,
};
use gatehouse_domain::clients::{ClientPatch, NewClient, RequestedScopes};
use gatehouse_domain::ids::{AccountId, ClientId, ProjectId};
use gatehouse_domain::products::parse_product_name;
use gatehouse_domain::store::ClientFilter;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::body::{Object, RateLimitBody, Text, instant, present, rate_limit};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use super::paging::{ListMeta, ListQuery};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/clients", get(list_clients).post(create_client))
        .route("/v1/clients/{client_id}", get(get_client).patch(update_client).delete(delete_client))
        .route("/v1/clients/{client_id}/renew-key", post(renew_key))
        .route("/v1/clients/{client_id}/transfer-ownership", post(transfer_ownership))
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// A client on the wire: file 001's fields first, the extended ones after (DESIGN.md).
#[derive(Serialize, ToSchema)]
struct ClientView {
    client_id: String,
    account_id: String,
    name: String,
    client_owner: String,
    client_type: ClientType,
    locked: Option<bool>,
    date_created: String,
    description: String,
    enabled: bool,
    scopes: ScopesView,
    token_expiry_seconds: u32,
    allowed_ips: Vec<String>,
    rate_limit: Option<RateLimit>,
    date_updated: String,
    /// When the current secret stops working; `null`: never.
    secret_expires_at: Option<String>,
    /// Where its logo is (`GET`, with the same credentials); `null` without one.
    logo_url: Option<String>,
    /// Its project (seed file 002): among developers, only the project's members see it.
    /// `null`: none, and every developer of the account sees it.
    project_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ScopesView {
    global_resources: Vec<GlobalResource>,
    products: Vec<String>,
}

pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl From<Client> for ClientView {
    fn from(client: Client) -> Self {
        Self {
            client_id: client.client_id.to_string(),
            account_id: client.account_id.to_string(),
            name: client.name.as_str().to_owned(),
            client_owner: client.client_owner.to_string(),
            client_type: client.client_type,
            locked: client.locked,
            date_created: timestamp(client.date_created),
            description: client.description.as_str().to_owned(),
            enabled: client.enabled,
            scopes: ScopesView {
                global_resources: client.scopes.global_resources.into_iter().collect(),
                products: client.scopes.products.into_iter().collect(),
            },
            token_expiry_seconds: client.token_expiry.seconds(),
            allowed_ips: client.allowed_ips.to_strings(),
            rate_limit: client.rate_limit,
            date_updated: timestamp(client.date_updated),
            secret_expires_at: client.secret_expires_at.map(timestamp),
            logo_url: client.has_logo.then(|| format!("/v1/clients/{}/logo", client.client_id)),
            project_id: client.project_id.map(|project_id| project_id.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ClientEnvelope {
    client: ClientView,
}

/// File 001 `201CreateClient`.
#[derive(Serialize, ToSchema)]
struct CreatedClient {
    message: &'static str,
    client_id: String,
    client_secret: String,
    client_type: ClientType,
    account_id: String,
    name: String,
    date_created: String,
    client_owner: String,
    locked: Option<bool>,
}

#[derive(Serialize, ToSchema)]
struct RenewedKey {
    client_id: String,
    client_secret: String,
    message: &'static str,
}

#[derive(Serialize, ToSchema)]
struct ClientList {
    meta: ListMeta,
    clients: Vec<ClientView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ScopesBody {
    #[serde(default)]
    #[schema(value_type = Vec<GlobalResource>)]
    global_resources: Vec<Text<GlobalResource>>,
    #[serde(default)]
    products: Vec<String>,
}

impl ScopesBody {
    /// What the scopes name is checked against the catalogue by the domain; how a product name
    /// is spelled is checked here, before any precondition.
    fn parse(self) -> Result<RequestedScopes, ApiError> {
        for product in &self.products {
            parse_product_name(product)
                .map_err(|_| ApiError::invalid_field("scopes.products", "each must be a product's name"))?;
        }
        let global_resources = self.global_resources.into_iter().map(|Text(resource)| resource).collect();
        Ok(RequestedScopes { global_resources, products: self.products })
    }
}

/// File 001 `CreateClient` (`name`, `locked` and `scopes` required, `additionalProperties:
/// false`) plus DESIGN.md's extended fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateClientBody {
    #[serde(default)]
    account_id: Option<String>,
    name: String,
    /// Required; `null` means not locked.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>, required)]
    locked: Option<Option<bool>>,
    #[schema(value_type = ScopesBody)]
    scopes: Object<ScopesBody>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ClientType>)]
    client_type: Option<Text<ClientType>>,
    #[serde(default)]
    token_expiry_seconds: Option<i64>,
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<RateLimitBody>,
    /// When the client's secret stops working (RFC 3339, in the future); absent: never.
    #[serde(default)]
    #[schema(format = DateTime)]
    secret_expires_at: Option<String>,
    /// A project of the client's account (for a developer, one they are a member of).
    #[serde(default)]
    project_id: Option<String>,
}

impl CreateClientBody {
    fn parse(self) -> Result<NewClient, ApiError> {
        // File 001 lists `locked` as required; `null` is allowed and means "not locked".
        let locked = self.locked.ok_or_else(|| ApiError::invalid_field("locked", "is required"))?;
        Ok(NewClient {
            account_id: self.account_id.map(AccountId::from_string),
            name: ClientName::parse(&self.name)?,
            description: Description::parse(self.description.as_deref().unwrap_or_default())?,
            locked,
            client_type: self.client_type.map(|Text(client_type)| client_type),
            scopes: self.scopes.0.parse()?,
            token_expiry: self.token_expiry_seconds.map(TokenExpiry::parse).transpose()?,
            allowed_ips: AllowedIps::parse(&self.allowed_ips.unwrap_or_default())?,
            rate_limit: rate_limit(self.rate_limit)?,
            secret_expires_at: instant("secret_expires_at", self.secret_expires_at.as_deref())?,
            project_id: self.project_id.map(ProjectId::from_string),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateClientBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    locked: Option<Option<bool>>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<ClientType>)]
    client_type: Option<Text<ClientType>>,
    #[serde(default)]
    #[schema(value_type = Option<ScopesBody>)]
    scopes: Option<Object<ScopesBody>>,
    #[serde(default)]
    token_expiry_seconds: Option<i64>,
    #[serde(default)]
    allowed_ips: Option<Vec<String>>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimit>)]
    rate_limit: Option<Option<RateLimitBody>>,
    /// Moves the client to this project; `null` takes it out of its project (owners and admins
    /// only).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    project_id: Option<Option<String>>,
}

impl UpdateClientBody {
    fn parse(self) -> Result<ClientPatch, ApiError> {
        Ok(ClientPatch {
            name: self.name.as_deref().map(ClientName::parse).transpose()?,
            description: self.description.as_deref().map(Description::parse).transpose()?,
            locked: self.locked,
            enabled: self.enabled,
            client_type: self.client_type.map(|Text(client_type)| client_type),
            scopes: self.scopes.map(|Object(scopes)| scopes.parse()).transpose()?,
            token_expiry: self.token_expiry_seconds.map(TokenExpiry::parse).transpose()?,
            allowed_ips: self.allowed_ips.as_deref().map(AllowedIps::parse).transpose()?,
            rate_limit: self.rate_limit.map(rate_limit).transpose()?,
            project_id: self.project_id.map(|project_id| project_id.map(ProjectId::from_string)),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    client_owner: String,
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Responses that carry a secret must never be cached (RFC 6749 §5.1): a secret is shown once,
/// and a cache would keep it.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn etag(client: &Client) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}\"", client.version)).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn with_etag(client: Client) -> Response {
    let tag = etag(&client);
    let mut response = Json(ClientEnvelope { client: client.into() }).into_response();
    response.headers_mut().insert(header::ETAG, tag);
    response
}

/// The version an `If-Match` header names. `*` matches any current version; a value that names
/// no version of ours can never match, which the domain answers with 412.
fn if_match(headers: &HeaderMap) -> Option<IfMatch> {
    let value = headers.get(header::IF_MATCH)?;
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Some(IfMatch::Any);
    }
    let version = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).and_then(|t| t.parse::<i64>().ok());
    Some(IfMatch::Version(version.unwrap_or(-1)))
}

enum IfMatch {
    Any,
    Version(i64),
}

/// `GET /v1/clients`: file 001's paged listing, oldest first.
#[utoipa::path(get, path = "/v1/clients", tag = "clients", security(("bearer" = [])),
    params(
        ("page_size" = u32, Query, description = "1 to 500"),
        ("page_number" = u32, Query, description = "from 1"),
        ("client_type" = Option<ClientType>, Query),
        ("enabled" = Option<bool>, Query, description = "only enabled (`true`) or disabled (`false`) clients"),
        ("name" = Option<String>, Query, description = "only clients whose name holds this text, whatever the case of ASCII letters"),
        ("account_id" = Option<String>, Query, description = "a child account's clients"),
        ("project_id" = Option<String>, Query, description = "only the clients of this project"),
    ),
    responses((status = 200, body = ClientList), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_clients(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<ClientList>, ApiError> {
    let query = ListQuery::parse(
        query.as_deref().unwrap_or_default(),
        &["client_type", "enabled", "name", "account_id", "project_id"],
    )?;
    let client_type = query
        .get("client_type")
        .map(str::parse::<ClientType>)
        .transpose()
        .map_err(|_| ApiError::invalid_parameter("client_type", "must be \"admin\" or \"standard\""))?;
    let enabled = match query.get("enabled") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid_parameter("enabled", "must be \"true\" or \"false\"")),
    };
    let name_contains = query.get("name").filter(|name| !name.is_empty()).map(str::to_owned);
    let project_id = query.get("project_id").map(ProjectId::from_string);
    let filter = ClientFilter { client_type, enabled, name_contains, project_id };
    let account_id = query.get("account_id").map(AccountId::from_string);
    let (clients, count) =
        state.gatehouse.list_clients(&actor, account_id, &filter, query.page, state.clock.now()).await?;
    Ok(Json(ClientList {
        meta: query.meta(&state.public_url, "/v1/clients", count),
        clients: clients.into_iter().map(ClientView::from).collect(),
    }))
}

/// `POST /v1/clients`: 201 with file 001's body, the secret shown this once (seed rule 1).
#[utoipa::path(post, path = "/v1/clients", tag = "clients", security(("bearer" = [])), request_body = CreateClientBody,
    responses(
        (status = 201, body = CreatedClient, description = "the client secret, shown this once", headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
async fn create_client(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateClientBody>,
) -> Result<Response, ApiError> {
    let new = body.parse()?;
    let (client, secret) = state.gatehouse.create_client(&actor, new, state.clock.now()).await?;
    let location = HeaderValue::from_str(&format!("/v1/clients/{}", client.client_id)).ok();
    let tag = etag(&client);
    let body = CreatedClient {
        message: "Client created. Store the client secret now: it is shown only once.",
        client_id: client.client_id.to_string(),
        client_secret: secret.expose().to_owned(),
        client_type: client.client_type,
        account_id: client.account_id.to_string(),
        name: client.name.as_str().to_owned(),
        date_created: timestamp(client.date_created),
        client_owner: client.client_owner.to_string(),
        locked: client.locked,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response.headers_mut().insert(header::ETAG, tag);
    Ok(no_store(response))
}

/// `GET /v1/clients/{client_id}`: never the secret.
#[utoipa::path(get, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = ClientEnvelope, headers(("ETag" = String))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_client(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.gatehouse.get_client(&actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    Ok(with_etag(client))
}

/// `PATCH /v1/clients/{client_id}`: conditional on `If-Match` when given (412 when stale).
#[utoipa::path(patch, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path), ("If-Match" = Option<String>, Header, description = "the ETag the change is based on")),
    request_body = UpdateClientBody,
    responses(
        (status = 200, body = ClientEnvelope, headers(("ETag" = String))), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not allowed, or the client is locked"), (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody, description = "If-Match names a version that is no longer current"),
    ))]
async fn update_client(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<UpdateClientBody>,
) -> Result<Response, ApiError> {
    let patch = body.parse()?;
    let client_id = ClientId::from_string(client_id);
    let expected = match if_match(&headers) {
        None | Some(IfMatch::Any) => None,
        Some(IfMatch::Version(version)) => Some(version),
    };
    let client = state.gatehouse.update_client(&actor, &client_id, patch, expected, state.clock.now()).await?;
    Ok(with_etag(client))
}

/// `DELETE /v1/clients/{client_id}`: 204; the client and every credential and token are gone.
#[utoipa::path(delete, path = "/v1/clients/{client_id}", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 204, description = "deleted; its credentials and tokens are refused at once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_client(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_client(&actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/clients/{client_id}/renew-key`: a new secret, shown once.
#[utoipa::path(post, path = "/v1/clients/{client_id}/renew-key", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = RenewedKey, description = "the new secret, shown this once"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn renew_key(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    let (client, secret) =
        state.gatehouse.renew_key(&actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    let body = RenewedKey {
        client_id: client.client_id.to_string(),
        client_secret: secret.expose().to_owned(),
        message: "Key renewed. The previous secret and every earlier token no longer work.",
    };
    Ok(no_store(Json(body).into_response()))
}

/// `POST /v1/clients/{client_id}/transfer-ownership` `{"client_owner": email}`.
#[utoipa::path(post, path = "/v1/clients/{client_id}/transfer-ownership", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)), request_body = TransferBody,
    responses((status = 200, body = ClientEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn transfer_ownership(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Response, ApiError> {
    let new_owner = Email::parse(&body.client_owner)
        .map_err(|_| ApiError::invalid_field("client_owner", "must be an email address"))?;
    let client = state
        .gatehouse
        .transfer_ownership(&actor, &ClientId::from_string(client_id), &new_owner, state.clock.now())
        .await?;
    Ok(with_etag(client))
}

/// The client routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_clients, create_client, get_client, update_client, delete_client, renew_key, transfer_ownership))]
pub(super) struct ClientsApi;
