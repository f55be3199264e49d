//! Usage of access profiles (seed file 002: one profile per API consumer "allows you to
//! generate usage information"; issue 21 item 5): the gateway check's decisions per profile,
//! UTC day and product, allowed or denied by reason. Counted in memory on the hot path and
//! written in batches by the server (every few seconds and at shutdown); the store adds each
//! instance's batches, so the counts of all instances add up.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use time::{Date, Duration, OffsetDateTime};

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::GlobalResource;
use crate::error::{DomainError, ValidationError};
use crate::ids::{ClientId, ProfileId};
use crate::service::Gatehouse;
use crate::store::StoreError;

/// The longest span one usage request covers.
pub const MAX_USAGE_DAYS: i64 = 366;
/// How long counts are kept.
pub const KEEP_USAGE_DAYS: i64 = 400;
/// What a product the profile does not hold is counted as: names a caller invents never become
/// rows.
pub const OTHER_PRODUCT: &str = "(other)";

/// Why a check of a profile's credential was refused, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Denial {
    /// The credential is no longer good: the profile inactive or refreshed, the client
    /// disabled, the token expired or revoked.
    Credential,
    /// The caller's address is not allowed.
    Address,
    /// The product is not the credential's, or the path maps to none.
    Product,
    RateLimit,
    Quota,
    /// The state needed could not be read.
    Unavailable,
}

impl Denial {
    pub const ALL: [Denial; 6] =
        [Denial::Credential, Denial::Address, Denial::Product, Denial::RateLimit, Denial::Quota, Denial::Unavailable];

    pub fn as_str(self) -> &'static str {
        match self {
            Denial::Credential => "credential",
            Denial::Address => "address",
            Denial::Product => "product",
            Denial::RateLimit => "rate_limit",
            Denial::Quota => "quota",
            Denial::Unavailable => "unavailable",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|denial| denial.as_str() == value)
    }
}

/// A count as written and read: the checks of one profile on one day for one product with one
/// outcome (`None`: allowed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageCount {
    pub profile_id: ProfileId,
    pub day: Date,
    pub product: String,
    pub denied: Option<Denial>,
    pub count: u64,
}

/// One day and product of a profile's usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDay {
    pub date: Date,
    pub product: String,
    pub allowed: u64,
    /// By reason; reasons with no denial are left out.
    pub denied: BTreeMap<&'static str, u64>,
}

impl UsageDay {
    pub fn denied_total(&self) -> u64 {
        self.denied.values().sum()
    }
}

/// Counts by profile, then (day, outcome), then product: nested so that the common case, a
/// count that exists, is found by borrowed keys and allocates nothing.
type Pending = HashMap<ProfileId, HashMap<(Date, Option<Denial>), HashMap<String, u64>>>;

/// Counts gathered since the last batch. Bounded by the profiles that exist, the products they
/// hold and the reasons above, for the day or two a batch spans.
#[derive(Default)]
pub(crate) struct UsageCounts {
    pending: Mutex<Pending>,
}

impl UsageCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn note(&self, profile_id: &ProfileId, product: &str, denied: Option<Denial>, now: OffsetDateTime) {
        self.add(profile_id, now.date(), product, denied, 1);
    }

    fn add(&self, profile_id: &ProfileId, day: Date, product: &str, denied: Option<Denial>, count: u64) {
        let mut pending = self.lock();
        let by_outcome = match pending.get_mut(profile_id) {
            Some(by_outcome) => by_outcome,
            None => pending.entry(profile_id.clone()).or_default(),
        };
        let by_product = by_outcome.entry((day, denied)).or_default();
        match by_product.get_mut(product) {
            Some(counted) => *counted += count,
            None => {
                by_product.insert(product.to_owned(), count);
            }
        }
    }

    fn take(&self) -> Vec<UsageCount> {
        let taken = std::mem::take(&mut *self.lock());
        let mut counts = Vec::new();
        for (profile_id, by_outcome) in taken {
            for ((day, denied), by_product) in by_outcome {
                for (product, count) in by_product {
                    counts.push(UsageCount { profile_id: profile_id.clone(), day, product, denied, count });
                }
            }
        }
        counts
    }

    /// A batch that could not be written goes back, added to what was counted since.
    fn put_back(&self, counts: Vec<UsageCount>) {
        for count in counts {
            self.add(&count.profile_id, count.day, &count.product, count.denied, count.count);
        }
    }
}

impl Gatehouse {
    /// Writes the counts gathered since the last call, in one batch; how many rows. On failure
    /// they are kept for the next call.
    pub async fn write_usage(&self) -> Result<usize, StoreError> {
        let counts = self.usage.take();
        if counts.is_empty() {
            return Ok(0);
        }
        match self.store.add_usage(&counts).await {
            Ok(()) => Ok(counts.len()),
            Err(error) => {
                self.usage.put_back(counts);
                Err(error)
            }
        }
    }

    /// A profile's usage from `from` to `to` (UTC days, both included), day by day and product
    /// by product; days without checks are left out. Read like the profile itself.
    pub async fn profile_usage(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        profile_id: &ProfileId,
        span: Option<(Date, Date)>,
        now: OffsetDateTime,
    ) -> Result<Vec<UsageDay>, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            let (from, to) = span.unwrap_or((now.date() - Duration::days(29), now.date()));
            if from > to {
                return Err(ValidationError::new("from", "must not be after to").into());
            }
            if (to - from).whole_days() >= MAX_USAGE_DAYS {
                return Err(ValidationError::new("to", format!("at most {MAX_USAGE_DAYS} days at once")).into());
            }
            self.visible_profile(actor, client_id, profile_id).await?;
            let counts = self.store.usage(profile_id, from, to).await?;
            Ok(usage_days(counts))
        }
        .await;
        let target = Target { kind: "access_profile", id: profile_id.as_str(), account_id: None };
        self.audited_read(actor, "access_profile.usage", &target, result, now).await
    }
}

/// Rows folded into days and products, oldest first.
fn usage_days(counts: Vec<UsageCount>) -> Vec<UsageDay> {
    let mut days: BTreeMap<(Date, String), UsageDay> = BTreeMap::new();
    for count in counts {
        let day = days.entry((count.day, count.product.clone())).or_insert_with(|| UsageDay {
            date: count.day,
            product: count.product,
            allowed: 0,
            denied: BTreeMap::new(),
        });
        match count.denied {
            None => day.allowed += count.count,
            Some(reason) => *day.denied.entry(reason.as_str()).or_insert(0) += count.count,
        }
    }
    days.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_by_day_product_and_outcome_and_a_failed_batch_is_kept() {
        let counts = UsageCounts::default();
        let profile = ProfileId::from_string("prf_a");
        let monday = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let tuesday = monday + Duration::days(1);
        for _ in 0..3 {
            counts.note(&profile, "SuperSIM", None, monday);
        }
        counts.note(&profile, "SuperSIM", Some(Denial::Quota), monday);
        counts.note(&profile, "SuperSIM", None, tuesday);
        let taken = counts.take();
        assert_eq!(taken.len(), 3);
        counts.note(&profile, "SuperSIM", None, monday);
        counts.put_back(taken);
        let days = usage_days(counts.take());
        assert_eq!(days.len(), 2);
        assert_eq!((days[0].date, days[0].allowed, days[0].denied_total()), (monday.date(), 4, 1));
        assert_eq!(days[0].denied.get("quota"), Some(&1));
        assert_eq!((days[1].date, days[1].allowed), (tuesday.date(), 1));
        assert!(counts.take().is_empty());
    }
}
