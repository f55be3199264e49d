//! Accepting the JWTs that `jwt` and `oidc` access profiles trust (issue 21), at the gateway
//! check (the JWT is the bearer credential) and at the token endpoint (RFC 7523 client
//! authentication). Which profile a JWT is for is read from it unverified, only to find the
//! keys that must then verify it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use time::OffsetDateTime;

use crate::error::DomainError;
use crate::ids::{CredentialId, ProfileId};
use crate::jose::{self, JoseRejection};
use crate::jwks::JwksUnavailable;
use crate::profile::AccessProfile;
use crate::service::Gatehouse;
use crate::store::StoreError;
use crate::trust::{Accepted, ClaimsRejection, ProfileTrust, accept_consumer_jwt, accept_provider_token};

/// Why a JWT a profile might trust was not accepted.
#[derive(Debug)]
pub(crate) enum ExternalRefusal {
    /// It can never become acceptable (a bad signature, expired, a replay, a claim that does
    /// not match): a later presentation may be refused from memory.
    ForGood,
    /// It might be later (a key the provider has not published yet, a clock ahead of ours).
    ForNow,
    /// The provider's keys could not be fetched, or the store could not be read.
    Unavailable,
}

impl From<StoreError> for ExternalRefusal {
    fn from(error: StoreError) -> Self {
        tracing::warn!(%error, "a JWT could not be checked: the store did not answer");
        ExternalRefusal::Unavailable
    }
}

/// At most this many audiences of one token are looked up.
const MAX_AUDIENCES: usize = 5;
/// The longest issuer or audience a profile holds.
const MAX_TEXT: usize = 1000;
/// Bounds the memory of used `jti`s and of (issuer, audience) → profile; past it, swept of
/// expired entries, then started over (the store remains the authority).
const MAX_REMEMBERED: usize = 200_000;

/// The single-use `jti`s this instance accepted, until they expire: a replay here is refused
/// without asking the store, which every instance shares and which decides.
#[derive(Default)]
pub(crate) struct JtiMemory {
    used: Mutex<HashMap<(String, String), i64>>,
}

impl JtiMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), i64>> {
        self.used.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn holds(&self, issuer: &str, jti: &str) -> bool {
        self.lock().contains_key(&(issuer.to_owned(), jti.to_owned()))
    }

    fn remember(&self, issuer: &str, jti: &str, until: i64, now: i64) {
        let mut used = self.lock();
        if used.len() >= MAX_REMEMBERED {
            used.retain(|_, until| *until > now);
            if used.len() >= MAX_REMEMBERED {
                used.clear();
            }
        }
        used.insert((issuer.to_owned(), jti.to_owned()), until);
    }

    pub(crate) fn sweep(&self, now: OffsetDateTime) {
        let now = now.unix_timestamp();
        self.lock().retain(|_, until| *until > now);
    }
}

/// Which `oidc` profile trusts (issuer, audience), as found in the store.
#[derive(Default)]
pub(crate) struct OidcProfiles {
    by_key: RwLock<HashMap<(String, String), ProfileId>>,
}

impl OidcProfiles {
    fn get(&self, issuer: &str, audience: &str) -> Option<ProfileId> {
        let by_key = self.by_key.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        by_key.get(&(issuer.to_owned(), audience.to_owned())).cloned()
    }

    fn set(&self, issuer: &str, audience: &str, profile_id: Option<ProfileId>) {
        let mut by_key = self.by_key.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (issuer.to_owned(), audience.to_owned());
        match profile_id {
            Some(profile_id) => {
                if by_key.len() >= MAX_REMEMBERED {
                    by_key.clear();
                }
                by_key.insert(key, profile_id);
            }
            None => {
                by_key.remove(&key);
            }
        }
    }
}

impl From<JoseRejection> for ExternalRefusal {
    fn from(rejection: JoseRejection) -> Self {
        tracing::info!(%rejection, "JWT refused");
        match rejection {
            // The provider may publish the key soon; everything else never verifies.
            JoseRejection::UnknownKey => ExternalRefusal::ForNow,
            JoseRejection::Malformed | JoseRejection::Header | JoseRejection::Invalid => ExternalRefusal::ForGood,
        }
    }
}

impl From<ClaimsRejection> for ExternalRefusal {
    fn from(rejection: ClaimsRejection) -> Self {
        tracing::info!(%rejection, "JWT refused");
        match rejection {
            ClaimsRejection::NotYetValid => ExternalRefusal::ForNow,
            _ => ExternalRefusal::ForGood,
        }
    }
}

impl Gatehouse {
    /// (issuer, audience) is unique across all profiles: refused if another profile holds it.
    pub(crate) async fn oidc_key_is_free(
        &self,
        trust: Option<&ProfileTrust>,
        profile_id: &ProfileId,
    ) -> Result<(), DomainError> {
        let Some((issuer, audience)) = trust.and_then(ProfileTrust::oidc_key) else {
            return Ok(());
        };
        match self.store.profile_by_oidc(issuer, audience).await? {
            Some(other) if other.profile_id != *profile_id => Err(DomainError::Conflict(
                "another access profile already trusts this issuer for this audience".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// Verifies `token` against what `profile` trusts and the rules of its kind, spending
    /// nothing: see [`Self::spend`].
    pub(crate) async fn verify_external(
        &self,
        profile: &AccessProfile,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Accepted, ExternalRefusal> {
        let leeway = self.settings.leeway_seconds;
        match &profile.trust {
            Some(ProfileTrust::Jwt(keys)) => {
                let claims = keys.verify(token)?;
                // Gatehouse's issuer, or its token endpoint: RFC 7523 §3 lets a client name either.
                let audiences = [self.settings.issuer.as_str(), self.token_endpoint.as_str()];
                Ok(accept_consumer_jwt(&claims, &profile.profile_id, &audiences, now.unix_timestamp(), leeway)?)
            }
            Some(ProfileTrust::Oidc(trust)) => {
                let kid = jose::unverified(token).and_then(|seen| seen.kid);
                let keys = self.jwks.keys(&trust.jwks_uri, kid.as_deref(), now).await.map_err(
                    |JwksUnavailable::Unreachable| {
                        tracing::warn!(issuer = %trust.issuer, "refused: the provider's keys could not be fetched");
                        ExternalRefusal::Unavailable
                    },
                )?;
                let claims = keys.verify(token)?;
                Ok(accept_provider_token(&claims, trust, now.unix_timestamp(), leeway)?)
            }
            None => Err(ExternalRefusal::ForGood),
        }
    }

    /// Claims a single-use token's `jti` for `profile`, on every instance: refused if it was
    /// claimed before. Remembered per profile (found in review: per issuer, one tenant trusting
    /// a provider could spend the `jti`s of another's tokens from it). The last step of an
    /// acceptance, so that no refusal for another reason spends it.
    pub(crate) async fn spend(
        &self,
        profile: &AccessProfile,
        accepted: &Accepted,
        now: OffsetDateTime,
    ) -> Result<(), ExternalRefusal> {
        let Some(jti) = &accepted.single_use else {
            return Ok(());
        };
        let owner = profile.profile_id.as_str();
        let now = now.unix_timestamp();
        if self.jti_memory.holds(owner, jti) {
            tracing::info!("JWT refused: its jti was used before");
            return Err(ExternalRefusal::ForGood);
        }
        let until = accepted.exp.saturating_add(self.settings.leeway_seconds);
        let expires_at = OffsetDateTime::from_unix_timestamp(until).map_err(|_| ExternalRefusal::ForGood)?;
        let first = self.store.claim_jti(owner, jti, expires_at).await?;
        self.jti_memory.remember(owner, jti, until, now);
        if !first {
            tracing::info!("JWT refused: its jti was used before");
            return Err(ExternalRefusal::ForGood);
        }
        Ok(())
    }

    /// The profiles a bearer JWT that Gatehouse did not sign may be for: a consumer's names its
    /// profile as `iss`; a provider's is found by its (issuer, audience), each audience it names
    /// tried (found in review: taking the first match let a profile trusting one of a token's
    /// audiences capture the token meant for another). Unverified: only says whose keys must
    /// verify it. Text longer than any profile holds never reaches the store.
    pub(crate) async fn external_profiles(&self, token: &str) -> Result<Vec<Arc<AccessProfile>>, StoreError> {
        let Some(seen) = jose::unverified(token) else {
            return Ok(Vec::new());
        };
        let Some(issuer) = seen.iss.filter(|issuer| !issuer.is_empty() && issuer.len() <= MAX_TEXT) else {
            return Ok(Vec::new());
        };
        if let Some(CredentialId::Profile(profile_id)) = CredentialId::parse(&issuer) {
            // An id from a token: its absence is not remembered, or invented ids would fill
            // the cache.
            let known = match self.gate.cached_profile(&profile_id) {
                Some(known) => known,
                None => self.load_profile(&profile_id, false).await?,
            };
            let profile = known.map(|known| known.profile.clone());
            return Ok(profile
                .filter(|profile| matches!(profile.trust, Some(ProfileTrust::Jwt(_))))
                .into_iter()
                .collect());
        }
        let mut found = Vec::new();
        for audience in seen.aud.iter().filter(|aud| !aud.is_empty() && aud.len() <= MAX_TEXT).take(MAX_AUDIENCES) {
            if let Some(profile) = self.oidc_profile(&issuer, audience).await? {
                found.push(profile);
            }
        }
        Ok(found)
    }

    async fn oidc_profile(&self, issuer: &str, audience: &str) -> Result<Option<Arc<AccessProfile>>, StoreError> {
        let holds = |profile: &AccessProfile| {
            profile.trust.as_ref().and_then(ProfileTrust::oidc_key) == Some((issuer, audience))
        };
        // The map only says where to look; the profile, which follows every change, decides.
        if let Some(profile_id) = self.oidc_profiles.get(issuer, audience)
            && let Some(profile) = self.gate_profile(&profile_id).await?
            && holds(&profile)
        {
            return Ok(Some(profile));
        }
        let Some(found) = self.store.profile_by_oidc(issuer, audience).await? else {
            self.oidc_profiles.set(issuer, audience, None);
            return Ok(None);
        };
        self.oidc_profiles.set(issuer, audience, Some(found.profile_id.clone()));
        let profile = self.gate_profile(&found.profile_id).await?;
        Ok(profile.filter(|profile| holds(profile)))
    }
}
