//! A client's secrets: the list (never a value), planned rotation with a grace period, and
//! ending one secret early. Renewal, which replaces every secret at once, is `renew-key`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use gatehouse_domain::ids::{ClientId, SecretId};
use gatehouse_domain::rotation::{GracePeriod, Rotation};
use gatehouse_domain::secret::StoredSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::body::instant;
use super::clients::{no_store, timestamp};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/clients/{client_id}/secrets", get(list_secrets))
        .route("/v1/clients/{client_id}/secrets/{secret_id}", delete(delete_secret))
        .route("/v1/clients/{client_id}/rotate-secret", post(rotate_secret))
}

/// One of a client's secrets, as it may be shown: never its value.
#[derive(Serialize, ToSchema)]
struct SecretView {
    secret_id: String,
    /// The start of the value, to recognise it; `null` for a secret made before prefixes
    /// were kept.
    prefix: Option<String>,
    /// `true` for the secret made last; the other, if any, is in a rotation's grace period.
    current: bool,
    date_created: String,
    /// `null`: never.
    expires_at: Option<String>,
    /// Refused from now on: its expiry has passed.
    expired: bool,
    /// Still working, but expires within 14 days.
    expires_soon: bool,
    /// Written in batches, at most a few seconds behind.
    last_used_at: Option<String>,
    last_used_ip: Option<String>,
}

impl SecretView {
    fn new(secret: StoredSecret, current: bool, now: OffsetDateTime) -> Self {
        Self {
            current,
            expired: !secret.is_live(now),
            expires_soon: secret.expires_soon(now),
            secret_id: secret.secret_id.to_string(),
            prefix: secret.prefix,
            date_created: timestamp(secret.date_created),
            expires_at: secret.expires_at.map(timestamp),
            last_used_at: secret.last_use.map(|last_use| timestamp(last_use.at)),
            last_used_ip: secret.last_use.map(|last_use| last_use.ip.to_string()),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct SecretList {
    /// Oldest first: the last is the current secret.
    secrets: Vec<SecretView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the previous secret goes on working: 0 to 604800 seconds; 86400 if absent.
    #[serde(default)]
    grace_period_seconds: Option<i64>,
    /// When the new secret stops working (RFC 3339, in the future); absent: never.
    #[serde(default)]
    #[schema(format = DateTime)]
    secret_expires_at: Option<String>,
}

impl RotateBody {
    fn parse(self) -> Result<Rotation, ApiError> {
        Ok(Rotation {
            grace_period: self.grace_period_seconds.map(GracePeriod::parse).transpose()?.unwrap_or_default(),
            secret_expires_at: instant("secret_expires_at", self.secret_expires_at.as_deref())?,
        })
    }
}

#[derive(Serialize, ToSchema)]
struct RotatedView {
    client_id: String,
    /// The new secret, shown this once.
    client_secret: String,
    secret_id: String,
    /// When the previous secret stops working; `null` if there is none left (no grace period,
    /// or it had expired).
    previous_secret_expires_at: Option<String>,
    message: &'static str,
}

/// `GET /v1/clients/{client_id}/secrets`: the client's secrets, never a value.
#[utoipa::path(get, path = "/v1/clients/{client_id}/secrets", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)),
    responses((status = 200, body = SecretList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_secrets(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
) -> Result<Json<SecretList>, ApiError> {
    let now = state.clock.now();
    let secrets = state.gatehouse.client_secrets(&actor, &ClientId::from_string(client_id), now).await?;
    let last = secrets.len().saturating_sub(1);
    let secrets =
        secrets.into_iter().enumerate().map(|(index, secret)| SecretView::new(secret, index == last, now)).collect();
    Ok(Json(SecretList { secrets }))
}

/// `POST /v1/clients/{client_id}/rotate-secret`: a new secret, shown once; the previous one
/// works until its grace period ends.
#[utoipa::path(post, path = "/v1/clients/{client_id}/rotate-secret", tag = "clients", security(("bearer" = [])),
    params(("client_id" = String, Path)), request_body = RotateBody,
    responses(
        (status = 200, body = RotatedView, description = "the new secret, shown this once"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Response, ApiError> {
    let rotation = body.parse()?;
    let rotated =
        state.gatehouse.rotate_secret(&actor, &ClientId::from_string(client_id), rotation, state.clock.now()).await?;
    let body = RotatedView {
        client_id: rotated.client.client_id.to_string(),
        client_secret: rotated.secret.expose().to_owned(),
        secret_id: rotated.secret_id.to_string(),
        previous_secret_expires_at: rotated.previous_secret_expires_at.map(timestamp),
        message: "Secret rotated. The new secret works now; the previous one until its grace period ends.",
    };
    Ok(no_store(Json(body).into_response()))
}

/// `DELETE /v1/clients/{client_id}/secrets/{secret_id}?revoke_tokens=true|false`: ends a
/// previous secret now; with `revoke_tokens=true`, the tokens minted with it too. 409 for the
/// current secret: rotate or renew the key to replace it.
#[utoipa::path(delete, path = "/v1/clients/{client_id}/secrets/{secret_id}", tag = "clients", security(("bearer" = [])),
    params(
        ("client_id" = String, Path), ("secret_id" = String, Path),
        ("revoke_tokens" = Option<bool>, Query, description = "also end the tokens minted with this secret; `false` if absent"),
    ),
    responses(
        (status = 204, description = "the secret is refused from now on"), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the client's current secret"),
    ))]
async fn delete_secret(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((client_id, secret_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode, ApiError> {
    let revoke_tokens = revoke_tokens(query.as_deref().unwrap_or_default())?;
    let (client_id, secret_id) = (ClientId::from_string(client_id), SecretId::from_string(secret_id));
    state.gatehouse.delete_secret(&actor, &client_id, &secret_id, revoke_tokens, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `revoke_tokens`, given at most once, `true` or `false`; other parameters are ignored, as by
/// every route.
fn revoke_tokens(query: &str) -> Result<bool, ApiError> {
    let mut values = form_urlencoded::parse(query.as_bytes()).filter(|(name, _)| name == "revoke_tokens");
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(false),
        (Some(_), Some(_)) => return Err(ApiError::invalid_parameter("revoke_tokens", "must be given at most once")),
        (Some((_, value)), None) => value,
    };
    match value.as_ref() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid_parameter("revoke_tokens", "must be \"true\" or \"false\"")),
    }
}

/// The secrets routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(list_secrets, rotate_secret, delete_secret))]
pub(super) struct SecretsApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoke_tokens_is_a_boolean_given_once() {
        assert!(!revoke_tokens("").unwrap());
        assert!(revoke_tokens("revoke_tokens=true").unwrap());
        assert!(!revoke_tokens("other=1&revoke_tokens=false").unwrap());
        assert!(revoke_tokens("revoke_tokens=yes").is_err());
        assert!(revoke_tokens("revoke_tokens=true&revoke_tokens=false").is_err());
    }
}
