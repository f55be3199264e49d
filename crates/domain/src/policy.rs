//! Policies (seed file 002: "an optional policy that governs access"): named limits of an
//! account that its access profiles are put under. A profile under a policy is held to the
//! stricter of its own limits and the policy's: both address lists must allow the caller, and
//! both rate limits count its calls, each on its own.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::client::{AllowedIps, Description, RateLimit, parse_name};
use crate::error::ValidationError;
use crate::ids::{AccountId, PolicyId};
use crate::quota::Quota;

/// The most policies an account has: every profile form offers them all.
pub const MAX_POLICIES: usize = 100;

/// A policy's name: 1 to 100 characters after trimming, unique within its account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyName(String);

impl PolicyName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        parse_name(value, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub policy_id: PolicyId,
    pub account_id: AccountId,
    pub name: PolicyName,
    pub description: Description,
    pub rate_limit: Option<RateLimit>,
    /// At most so many allowed checks per profile in each calendar period.
    pub quota: Option<Quota>,
    pub allowed_ips: AllowedIps,
    /// Bumped by every change.
    pub version: i64,
    pub date_created: OffsetDateTime,
    pub date_updated: OffsetDateTime,
}

impl Policy {
    pub fn limits(&self) -> PolicyLimits {
        PolicyLimits {
            policy_id: self.policy_id.clone(),
            rate_limit: self.rate_limit,
            quota: self.quota,
            allowed_ips: self.allowed_ips.clone(),
        }
    }
}

/// What a profile carries of its policy, read with it: what the gateway check and the token
/// endpoint hold the profile to. A change to the policy reaches every cached copy as a change
/// to each of its profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyLimits {
    pub policy_id: PolicyId,
    pub rate_limit: Option<RateLimit>,
    pub quota: Option<Quota>,
    pub allowed_ips: AllowedIps,
}

/// Whether both lists allow `ip` (an empty list allows any).
pub fn both_allow(own: &AllowedIps, policy: Option<&PolicyLimits>, ip: IpAddr) -> bool {
    own.allows(ip) && policy.is_none_or(|policy| policy.allowed_ips.allows(ip))
}

/// A policy to create.
#[derive(Debug)]
pub struct NewPolicy {
    /// A child account's, for an owner or admin above it; `None`: the actor's own.
    pub account_id: Option<AccountId>,
    pub name: PolicyName,
    pub description: Description,
    pub rate_limit: Option<RateLimit>,
    pub quota: Option<Quota>,
    pub allowed_ips: AllowedIps,
}

/// Changes to a policy; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct PolicyPatch {
    pub name: Option<PolicyName>,
    pub description: Option<Description>,
    /// `Some(None)` removes the limit.
    pub rate_limit: Option<Option<RateLimit>>,
    /// `Some(None)` removes the quota.
    pub quota: Option<Option<Quota>>,
    pub allowed_ips: Option<AllowedIps>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lists_must_allow_the_caller() {
        let ips = |list: &[&str]| AllowedIps::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
        let policy = |list: &[&str]| PolicyLimits {
            policy_id: PolicyId::generate(),
            rate_limit: None,
            quota: None,
            allowed_ips: ips(list),
        };
        let inside: IpAddr = "10.1.2.3".parse().unwrap();
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(both_allow(&ips(&[]), None, outside));
        assert!(both_allow(&ips(&[]), Some(&policy(&["10.0.0.0/8"])), inside));
        assert!(!both_allow(&ips(&[]), Some(&policy(&["10.0.0.0/8"])), outside));
        assert!(!both_allow(&ips(&["192.0.2.0/24"]), Some(&policy(&["10.0.0.0/8"])), outside));
        assert!(both_allow(&ips(&["10.1.0.0/16"]), Some(&policy(&[])), inside));
    }
}
