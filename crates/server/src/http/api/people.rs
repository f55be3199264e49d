//! People and governance over HTTP: login sessions, `/v1/users`, `/v1/accounts` and
//! `/v1/audit-events`.

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gatehouse_domain::account::{Account, Email, Role, User};
use gatehouse_domain::audit::AuditEvent;
use gatehouse_domain::error::AuthError;
use gatehouse_domain::ids::{AccountId, UserId};
use gatehouse_domain::people::{LoginError, NewUser};
use gatehouse_domain::store::AuditFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::SocketAddr;
use utoipa::ToSchema;

use super::body::account_of;
use super::clients::{no_store, timestamp};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated, SessionCookie, bearer_token};
use super::paging::{ListMeta, ListQuery};
use crate::http::AppState;

/// Signing in and out: never open to other sites' pages (no CORS), or any page could make its
/// visitors' browsers guess passwords from their own addresses, past the per-address throttle.
pub fn session_routes() -> Router<AppState> {
    Router::new().route("/v1/auth/login", post(login)).route("/v1/auth/logout", post(logout))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(list_users).post(create_user))
        .route("/v1/users/{user_id}", get(get_user).patch(update_user).delete(delete_user))
        .route("/v1/accounts", get(list_accounts).post(create_account))
        .route("/v1/accounts/{account_id}/transfer-ownership", post(transfer_account))
        .route("/v1/audit-events", get(list_audit_events))
}

#[derive(Serialize, ToSchema)]
struct UserView {
    user_id: String,
    email: String,
    role: Role,
    account_id: String,
    date_created: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            user_id: user.user_id.to_string(),
            email: user.email.to_string(),
            role: user.role,
            account_id: user.account_id.to_string(),
            date_created: timestamp(user.date_created),
        }
    }
}

fn parse_role(value: &str) -> Result<Role, ApiError> {
    Role::parse(value).ok_or_else(|| ApiError::invalid_field("role", "must be \"owner\", \"admin\" or \"developer\""))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
    /// The account to sign in to; the installation's own (root) account when left out. Users of
    /// a child account name it: users of different accounts may share an email.
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct LoginResponse {
    session_token: String,
    expires_in: i64,
    user: UserView,
}

/// `POST /v1/auth/login`: a session for a person. The token comes back in the body (for API
/// use as a bearer token) and as an HttpOnly, SameSite=Strict cookie (for the portal).
#[utoipa::path(post, path = "/v1/auth/login", tag = "people", request_body = LoginBody,
    responses(
        (status = 200, body = LoginResponse, description = "a session: the token in the body, and as an HttpOnly, SameSite=Strict cookie", headers(("Set-Cookie" = String))),
        (status = 401, body = ErrorBody, description = "the same answer for an unknown email and a wrong password"),
        (status = 429, body = ErrorBody, headers(("Retry-After" = u32))),
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let ip = state.trusted_proxies.client_ip(peer, &headers);
    let session = state
        .gatehouse
        .login(&body.email, body.account_id.as_deref(), body.password, Some(ip), state.clock.now())
        .await
        .map_err(|error| match error {
            LoginError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                super::error::ErrorCode::Unauthenticated,
                "invalid email or password",
                "",
            ),
            LoginError::Throttled { retry_after_seconds } => {
                ApiError::too_many_requests("too many failed attempts from this address", retry_after_seconds)
            }
            LoginError::Busy(_) => ApiError::busy(),
            LoginError::Store(error) => error.into(),
        })?;
    let cookie = SessionCookie::for_public_url(&state.public_url).set(&session.token, session.expires_in);
    let mut response =
        Json(LoginResponse { session_token: session.token, expires_in: session.expires_in, user: session.user.into() })
            .into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(no_store(response))
}

/// `POST /v1/auth/logout`: ends the presented session. Without a valid one there is nothing to
/// end, and the answer is the 401 of every route that needs a session.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "people", security(("bearer" = [])),
    responses(
        (status = 204, description = "the session is over"),
        (status = 401, body = ErrorBody, description = "no valid session was presented"),
    ))]
async fn logout(State(state): State<AppState>, request: axum::extract::Request) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let cookie = SessionCookie::for_public_url(&state.public_url);
    let token = bearer_token(&parts.headers).or_else(|| cookie.read(&parts)).map(str::to_owned);
    // Refused like every route that needs a session: on record, and a stale cookie cleared.
    let refused = |reason: &'static str| {
        let (parts, state, cookie) = (&parts, &state, &cookie);
        async move {
            super::extract::record_unauthenticated(parts, state, reason).await;
            let mut response = ApiError::unauthenticated().into_response();
            response.headers_mut().insert(header::SET_COOKIE, cookie.clear());
            Ok(response)
        }
    };
    let Some(token) = token else { return refused("no session").await };
    let source = super::extract::source_of(&parts, &state);
    match state.gatehouse.authenticate_session(&token, source, state.clock.now()).await {
        Ok(_) => {}
        Err(AuthError::InvalidToken) => return refused("invalid or expired session").await,
        Err(AuthError::Store(error)) => return Err(error.into()),
    }
    state.gatehouse.logout(&token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie.clear());
    Ok(response)
}

#[derive(Serialize, ToSchema)]
struct UserList {
    users: Vec<UserView>,
}

#[utoipa::path(get, path = "/v1/users", tag = "people", security(("bearer" = [])),
    params(("account_id" = Option<String>, Query)),
    responses((status = 200, body = UserList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<UserList>, ApiError> {
    let account_id = account_of(query);
    let users = state.gatehouse.list_users(&actor, account_id, state.clock.now()).await?;
    Ok(Json(UserList { users: users.into_iter().map(UserView::from).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateUserBody {
    email: String,
    role: String,
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct CreatedUser {
    user: UserView,
    password: String,
}

/// `POST /v1/users`: 201 with the generated password, shown this once.
#[utoipa::path(post, path = "/v1/users", tag = "people", security(("bearer" = [])), request_body = CreateUserBody,
    responses((status = 201, body = CreatedUser, description = "the generated password, shown this once"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    let new = NewUser {
        email: Email::parse(&body.email)?,
        role: parse_role(&body.role)?,
        account_id: body.account_id.map(AccountId::from_string),
    };
    let (user, password) = state.gatehouse.create_user(&actor, new, state.clock.now()).await?;
    let response = (StatusCode::CREATED, Json(CreatedUser { user: user.into(), password })).into_response();
    Ok(no_store(response))
}

#[derive(Serialize, ToSchema)]
struct UserEnvelope {
    user: UserView,
}

#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "people", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(user_id): Path<String>,
) -> Result<Json<UserEnvelope>, ApiError> {
    let user = state.gatehouse.get_user(&actor, &UserId::from_string(user_id), state.clock.now()).await?;
    Ok(Json(UserEnvelope { user: user.into() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateUserBody {
    role: String,
}

#[utoipa::path(patch, path = "/v1/users/{user_id}", tag = "people", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = UpdateUserBody,
    responses((status = 200, body = UserEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserBody>,
) -> Result<Json<UserEnvelope>, ApiError> {
    let role = parse_role(&body.role)?;
    let user = state.gatehouse.update_user_role(&actor, &UserId::from_string(user_id), role, state.clock.now()).await?;
    Ok(Json(UserEnvelope { user: user.into() }))
}

#[utoipa::path(delete, path = "/v1/users/{user_id}", tag = "people", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_user(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_user(&actor, &UserId::from_string(user_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
struct AccountView {
    account_id: String,
    name: String,
    parent_account_id: Option<String>,
    date_created: String,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        Self {
            account_id: account.account_id.to_string(),
            name: account.name,
            parent_account_id: account.parent_account_id.map(|id| id.to_string()),
            date_created: timestamp(account.date_created),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AccountList {
    accounts: Vec<AccountView>,
}

#[utoipa::path(get, path = "/v1/accounts", tag = "people", security(("bearer" = [])),
    responses((status = 200, body = AccountList)))]
async fn list_accounts(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
) -> Result<Json<AccountList>, ApiError> {
    let accounts = state.gatehouse.list_accounts(&actor, state.clock.now()).await?;
    Ok(Json(AccountList { accounts: accounts.into_iter().map(AccountView::from).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateAccountBody {
    name: String,
}

#[derive(Serialize, ToSchema)]
struct AccountEnvelope {
    account: AccountView,
}

#[utoipa::path(post, path = "/v1/accounts", tag = "people", security(("bearer" = [])), request_body = CreateAccountBody,
    responses((status = 201, body = AccountEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateAccountBody>,
) -> Result<Response, ApiError> {
    let account = state.gatehouse.create_account(&actor, &body.name, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(AccountEnvelope { account: account.into() })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TransferAccountBody {
    email: String,
}

/// `POST /v1/accounts/{account_id}/transfer-ownership` `{"email"}`: the owner hands the account
/// to another of its users and stays on as an admin.
#[utoipa::path(post, path = "/v1/accounts/{account_id}/transfer-ownership", tag = "people", security(("bearer" = [])),
    params(("account_id" = String, Path)), request_body = TransferAccountBody,
    responses((status = 200, body = UserEnvelope, description = "the new owner"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn transfer_account(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(account_id): Path<String>,
    ApiJson(body): ApiJson<TransferAccountBody>,
) -> Result<Json<UserEnvelope>, ApiError> {
    let email = Email::parse(&body.email)?;
    let user = state
        .gatehouse
        .transfer_account_ownership(&actor, &AccountId::from_string(account_id), &email, state.clock.now())
        .await?;
    Ok(Json(UserEnvelope { user: user.into() }))
}

#[derive(Serialize, ToSchema)]
struct ActorView {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    email: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct TargetView {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Serialize, ToSchema)]
struct AuditEventView {
    event_id: String,
    account_id: String,
    occurred_at: String,
    actor: ActorView,
    action: String,
    target: TargetView,
    /// `success`, `denied` or `failure`.
    outcome: &'static str,
    reason: Option<String>,
    source_ip: Option<String>,
    #[schema(value_type = Object)]
    details: Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            event_id: event.event_id,
            account_id: event.account_id.to_string(),
            occurred_at: timestamp(event.occurred_at),
            actor: ActorView { kind: event.actor_type, id: event.actor_id, email: event.actor_email },
            action: event.action,
            target: TargetView { kind: event.target_type, id: event.target_id },
            outcome: event.outcome.as_str(),
            reason: event.reason,
            source_ip: event.source_ip,
            details: event.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct AuditEventList {
    meta: ListMeta,
    audit_events: Vec<AuditEventView>,
}

/// `GET /v1/audit-events`: newest first, paged like the client list, filterable by target and
/// actor.
#[utoipa::path(get, path = "/v1/audit-events", tag = "people", security(("bearer" = [])),
    params(
        ("page_size" = u32, Query, description = "1 to 500"), ("page_number" = u32, Query, description = "from 1"),
        ("target_id" = Option<String>, Query), ("actor_id" = Option<String>, Query), ("account_id" = Option<String>, Query),
    ),
    responses((status = 200, body = AuditEventList, description = "newest first"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_audit_events(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditEventList>, ApiError> {
    let query = ListQuery::parse(query.as_deref().unwrap_or_default(), &["target_id", "actor_id", "account_id"])?;
    let filter = AuditFilter {
        target_id: query.get("target_id").map(str::to_owned),
        actor_id: query.get("actor_id").map(str::to_owned),
    };
    let account_id = query.get("account_id").map(AccountId::from_string);
    let (events, count) =
        state.gatehouse.audit_events(&actor, account_id, &filter, query.page, state.clock.now()).await?;
    Ok(Json(AuditEventList {
        meta: query.meta(&state.public_url, "/v1/audit-events", count),
        audit_events: events.into_iter().map(AuditEventView::from).collect(),
    }))
}

/// The people routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    login,
    logout,
    list_users,
    create_user,
    get_user,
    update_user,
    delete_user,
    list_accounts,
    create_account,
    transfer_account,
    list_audit_events
))]
pub(super) struct PeopleApi;
