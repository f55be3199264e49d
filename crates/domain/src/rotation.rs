//! Planned rotation of a client's secret, beside seed rule 8's immediate renewal: the new secret
//! works at once, the previous one until its grace period ends, and then is refused by itself
//! (its expiry passes; nothing has to run). A client holds at most two secrets, and tokens
//! keep their expiry unless the operator ends a secret's tokens early.

use serde_json::json;
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::{Client, ClientType, GlobalResource};
use crate::clock::to_the_second;
use crate::error::{DomainError, ValidationError};
use crate::ids::{ClientId, SecretId};
use crate::secret::{ClientSecret, StoredSecret};
use crate::service::Gatehouse;
use crate::store::{Rotated, StoreError};

/// `grace_period_seconds`: how long the previous secret goes on working, 0 to a week.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracePeriod(u32);

impl GracePeriod {
    pub const DEFAULT: GracePeriod = GracePeriod(86_400);
    pub const MAX: u32 = 604_800;

    pub fn parse(seconds: i64) -> Result<Self, ValidationError> {
        match u32::try_from(seconds) {
            Ok(seconds) if seconds <= Self::MAX => Ok(Self(seconds)),
            _ => Err(ValidationError::new("grace_period_seconds", "must be between 0 and 604800")),
        }
    }

    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl Default for GracePeriod {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A rotation as asked for.
#[derive(Debug, Default)]
pub struct Rotation {
    pub grace_period: GracePeriod,
    /// When the new secret stops working; `None`: never.
    pub secret_expires_at: Option<OffsetDateTime>,
}

/// A rotation done: the new secret, shown once.
pub struct RotatedSecret {
    pub client: Client,
    pub secret: ClientSecret,
    pub secret_id: SecretId,
    /// When the previous secret stops working: the end of the grace period, or its own expiry
    /// if that comes first. `None` if there was no live previous secret to keep.
    pub previous_secret_expires_at: Option<OffsetDateTime>,
}

fn secret_target(client_id: &ClientId) -> Target<'_> {
    Target { kind: "client", id: client_id.as_str(), account_id: None }
}

impl Gatehouse {
    /// A client's secrets, oldest first, the last being the current one: never a value.
    pub async fn client_secrets(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> Result<Vec<StoredSecret>, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_client(actor, client_id).await?;
            let (_, secrets) =
                self.store.client_with_secrets(client_id).await?.ok_or(DomainError::NotFound("client"))?;
            Ok(secrets)
        }
        .await;
        self.audited_read(actor, "client.list_secrets", &secret_target(client_id), result, now).await
    }

    /// A new current secret; the current one becomes the previous for `rotation.grace_period`.
    #[instrument(skip_all, fields(client_id = %client_id))]
    pub async fn rotate_secret(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        rotation: Rotation,
        now: OffsetDateTime,
    ) -> Result<RotatedSecret, DomainError> {
        let grace = rotation.grace_period.seconds();
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            actor.may_change(&client)?;
            may_hold_new_secret(actor, &client)?;
            let secret = ClientSecret::generate();
            let stored = self.stored_secret(&secret, rotation.secret_expires_at, now)?;
            let previous_until = to_the_second(now + Duration::seconds(i64::from(rotation.grace_period.seconds())));
            let written = match self.store.rotate_client_secret(client_id, &stored, previous_until, now).await {
                Ok(written) => written,
                Err(StoreError::NotFound) => return Err(DomainError::NotFound("client")),
                Err(other) => return Err(other.into()),
            };
            let Rotated { client, previous } = self.settle(written, now).await;
            tracing::info!(secret_id = %stored.secret_id, "client secret rotated");
            Ok(RotatedSecret {
                client,
                secret,
                secret_id: stored.secret_id,
                previous_secret_expires_at: previous.and_then(|previous| previous.expires_at),
            })
        }
        .await;
        let account = result.as_ref().ok().map(|rotated| rotated.client.account_id.clone());
        let target = Target { account_id: account.as_ref(), ..secret_target(client_id) };
        let details = match &result {
            Ok(rotated) => json!({"secret_id": rotated.secret_id.as_str(), "grace_period_seconds": grace}),
            Err(_) => json!({"grace_period_seconds": grace}),
        };
        self.audit(actor, "client.rotate_secret", &target, &result, details, now).await;
        result
    }

    /// Ends a previous secret before its grace period does; with `revoke_tokens`, the tokens
    /// minted with it too. The current secret stays: rotating or renewing the key replaces it.
    #[instrument(skip_all, fields(client_id = %client_id, secret_id = %secret_id))]
    pub async fn delete_secret(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        secret_id: &SecretId,
        revoke_tokens: bool,
        now: OffsetDateTime,
    ) -> Result<Client, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let client = self.visible_client(actor, client_id).await?;
            actor.may_change(&client)?;
            if !secret_id.is_well_formed() {
                return Err(DomainError::NotFound("secret"));
            }
            match self.store.delete_client_secret(client_id, secret_id, revoke_tokens, now).await {
                Ok(written) => {
                    tracing::info!(revoke_tokens, "client secret deleted");
                    Ok(self.settle(written, now).await)
                }
                Err(StoreError::NotFound) => Err(DomainError::NotFound("secret")),
                Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(
                    "this is the client's current secret: rotate or renew the key to replace it".to_owned(),
                )),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let account = result.as_ref().ok().map(|client| client.account_id.clone());
        let target = Target { account_id: account.as_ref(), ..secret_target(client_id) };
        let details = json!({"secret_id": secret_id.as_str(), "revoke_tokens": revoke_tokens});
        self.audit(actor, "client.delete_secret", &target, &result, details, now).await;
        result
    }
}

/// A new secret carries the client's powers, which are its owner's: an admin client's secret is
/// renewed or rotated only by its owner or the account owner, in person, or an admin could take
/// the owner's client and act as the owner after leaving.
pub(crate) fn may_hold_new_secret(actor: &Actor, client: &Client) -> Result<(), DomainError> {
    if client.client_type == ClientType::Admin
        && !(actor.is_owner_in_person() || actor.is_person(&client.client_owner_id))
    {
        return Err(DomainError::Forbidden(
            "only the client's owner or the account owner, signed in, renews an admin client's key".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_run_from_none_to_a_week() {
        assert_eq!(GracePeriod::parse(0).unwrap().seconds(), 0);
        assert_eq!(GracePeriod::parse(604_800).unwrap().seconds(), 604_800);
        assert!(GracePeriod::parse(604_801).is_err());
        assert!(GracePeriod::parse(-1).is_err());
        assert_eq!(GracePeriod::default().seconds(), 86_400);
    }
}
