//! Policy operations (seed file 002, issue 21). Owners and admins create, change and delete an
//! account's policies; everyone who manages clients reads them and puts profiles under them. A
//! change to a policy is a change to each of its profiles, followed by every cache and instance.

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::{Client, GlobalResource};
use crate::error::{DomainError, ValidationError};
use crate::ids::{AccountId, PolicyId};
use crate::optimistic;
use crate::policy::{MAX_POLICIES, NewPolicy, Policy, PolicyPatch};
use crate::service::Gatehouse;
use crate::store::StoreError;

fn policy_target(policy_id: &PolicyId) -> Target<'_> {
    Target { kind: "policy", id: policy_id.as_str(), account_id: None }
}

impl Actor {
    /// Creating, changing and deleting policies: owners and admins (an API client needs
    /// `api_clients` and such an owner), as for the product catalogue.
    pub(crate) fn may_shape_policies(&self) -> Result<(), DomainError> {
        self.require(GlobalResource::ApiClients)?;
        if !self.role.is_owner_or_admin() {
            return Err(DomainError::Forbidden("only the account owner and admins manage policies".to_owned()));
        }
        Ok(())
    }
}

impl Gatehouse {
    pub async fn list_policies(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Policy>, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_account(actor, &account_id).await?;
            Ok(self.store.policies(&account_id).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "policy.list", &target, result, now).await
    }

    pub async fn get_policy(
        &self,
        actor: &Actor,
        policy_id: &PolicyId,
        now: OffsetDateTime,
    ) -> Result<Policy, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_policy(actor, policy_id).await
        }
        .await;
        self.audited_read(actor, "policy.read", &policy_target(policy_id), result, now).await
    }

    #[instrument(skip_all)]
    pub async fn create_policy(
        &self,
        actor: &Actor,
        new: NewPolicy,
        now: OffsetDateTime,
    ) -> Result<Policy, DomainError> {
        let account_id = new.account_id.clone().unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.may_shape_policies()?;
            self.visible_account(actor, &account_id).await?;
            if self.store.policies(&account_id).await?.len() >= MAX_POLICIES {
                return Err(DomainError::Conflict(format!(
                    "the account has {MAX_POLICIES} policies, the most it may have; delete one first"
                )));
            }
            let policy = Policy {
                policy_id: PolicyId::generate(),
                account_id: account_id.clone(),
                name: new.name,
                description: new.description,
                rate_limit: new.rate_limit,
                quota: new.quota,
                allowed_ips: new.allowed_ips,
                version: 1,
                date_created: now,
                date_updated: now,
            };
            self.store.insert_policy(&policy).await.map_err(name_taken)?;
            tracing::info!(policy_id = %policy.policy_id, "policy created");
            Ok(policy)
        }
        .await;
        let id = result.as_ref().map(|policy| policy.policy_id.as_str()).unwrap_or_default();
        let target = Target { kind: "policy", id, account_id: Some(&account_id) };
        self.audit(actor, "policy.create", &target, &result, json!({}), now).await;
        result
    }

    /// A change reaches every profile under the policy at once, on every instance.
    #[instrument(skip_all, fields(policy_id = %policy_id))]
    pub async fn update_policy(
        &self,
        actor: &Actor,
        policy_id: &PolicyId,
        patch: PolicyPatch,
        now: OffsetDateTime,
    ) -> Result<Policy, DomainError> {
        let fields: Vec<&str> = [
            ("name", patch.name.is_some()),
            ("description", patch.description.is_some()),
            ("rate_limit", patch.rate_limit.is_some()),
            ("quota", patch.quota.is_some()),
            ("allowed_ips", patch.allowed_ips.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        let result = async {
            actor.may_shape_policies()?;
            // Concurrent changes are applied one after the other: each try starts from the
            // policy as it is now, so no change undoes another it never saw.
            for attempt in 0..optimistic::ATTEMPTS {
                let current = self.visible_policy(actor, policy_id).await?;
                let mut policy = current.clone();
                if let Some(name) = &patch.name {
                    policy.name = name.clone();
                }
                if let Some(description) = &patch.description {
                    policy.description = description.clone();
                }
                if let Some(rate_limit) = patch.rate_limit {
                    policy.rate_limit = rate_limit;
                }
                if let Some(quota) = patch.quota {
                    policy.quota = quota;
                }
                if let Some(allowed_ips) = &patch.allowed_ips {
                    policy.allowed_ips = allowed_ips.clone();
                }
                policy.date_updated = now;
                match self.store.update_policy(&policy, current.version).await {
                    Ok(written) => {
                        self.settle(written, now).await;
                        policy.version = current.version + 1;
                        return Ok(policy);
                    }
                    Err(StoreError::VersionMismatch) => optimistic::back_off(attempt).await,
                    Err(StoreError::NotFound) => return Err(DomainError::NotFound("policy")),
                    Err(other) => return Err(name_taken(other)),
                }
            }
            Err(DomainError::Conflict("the policy is being changed concurrently; try again".to_owned()))
        }
        .await;
        let account = result.as_ref().ok().map(|policy| policy.account_id.clone());
        let target = Target { kind: "policy", id: policy_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "policy.update", &target, &result, json!({"fields": fields}), now).await;
        result
    }

    /// A policy that profiles are still under is not deleted (409): they would silently lose
    /// the limits someone chose for them.
    #[instrument(skip_all, fields(policy_id = %policy_id))]
    pub async fn delete_policy(
        &self,
        actor: &Actor,
        policy_id: &PolicyId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = async {
            actor.may_shape_policies()?;
            let policy = self.visible_policy(actor, policy_id).await?;
            match self.store.delete_policy(policy_id).await {
                Ok(()) => Ok(policy.account_id),
                Err(StoreError::NotFound) => Err(DomainError::NotFound("policy")),
                Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(
                    "access profiles are still under the policy; take them out from under it first".to_owned(),
                )),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let account = result.as_ref().ok().cloned();
        let target = Target { kind: "policy", id: policy_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "policy.delete", &target, &result, json!({}), now).await;
        result.map(|_| ())
    }

    /// A policy of an account the actor acts in; anything else is 404, like one that does not
    /// exist.
    async fn visible_policy(&self, actor: &Actor, policy_id: &PolicyId) -> Result<Policy, DomainError> {
        if !policy_id.is_well_formed() {
            return Err(DomainError::NotFound("policy"));
        }
        let policy = self.store.policy(policy_id).await?.ok_or(DomainError::NotFound("policy"))?;
        self.visible_account(actor, &policy.account_id).await.map_err(|_| DomainError::NotFound("policy"))?;
        Ok(policy)
    }

    /// The policy a profile of `client` is put under: one of the client's own account.
    pub(crate) async fn policy_for_profile(
        &self,
        actor: &Actor,
        client: &Client,
        policy_id: &PolicyId,
    ) -> Result<Policy, DomainError> {
        let unknown = || ValidationError::new("policy_id", "names no policy of the client's account");
        match self.visible_policy(actor, policy_id).await {
            Ok(policy) if policy.account_id == client.account_id => Ok(policy),
            Ok(_) | Err(DomainError::NotFound(_)) => Err(unknown().into()),
            Err(other) => Err(other),
        }
    }
}

fn name_taken(error: StoreError) -> DomainError {
    match error {
        StoreError::Conflict(_) => DomainError::Conflict("the account has a policy with this name already".to_owned()),
        other => other.into(),
    }
}
