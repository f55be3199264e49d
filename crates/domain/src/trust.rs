//! What a `jwt` or `oidc` access profile trusts (issue 21), and the rules a JWT it accepts
//! must meet. A `jwt` profile holds its consumer's public keys; the consumer signs a short JWT
//! per call or per token request. An `oidc` profile trusts tokens an outside identity provider
//! issued (a GitHub Actions workflow's, a Kubernetes service account's), whose keys are fetched
//! from the provider.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::error::ValidationError;
use crate::ids::ProfileId;
use crate::jose::{self, KeySet};
use crate::profile::AuthMethod;

/// RFC 7523 §2.2: `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A consumer's JWT lives at most this long (`exp` - `iat`).
pub const MAX_CONSUMER_JWT_SECONDS: i64 = 300;
/// A provider's token may expire at most this far ahead: its `jti` is remembered that long.
pub const MAX_PROVIDER_TOKEN_SECONDS: i64 = 86_400;
const MAX_JTI_LEN: usize = 256;
const MAX_TEXT: usize = 1000;
const MAX_CLAIMS: usize = 20;
/// Checked on their own; a `claims` entry cannot loosen or restate them.
const CHECKED_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// What a `jwt` or `oidc` profile trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProfileTrust {
    /// The consumer's own public keys.
    Jwt(Arc<KeySet>),
    Oidc(OidcTrust),
}

/// Tokens from an outside identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcTrust {
    /// `iss` of the tokens, exactly.
    pub issuer: String,
    /// Where the provider publishes its keys; never a URL a token names.
    pub jwks_uri: String,
    /// What `aud` must contain; the profile id unless configured. (issuer, audience) is unique
    /// across all profiles, so a token maps to exactly one profile.
    pub audience: String,
    /// Claims that must be present with exactly these values.
    pub claims: BTreeMap<String, Value>,
    /// Each token is accepted once (its `jti` remembered until it expires), as for consumer
    /// JWTs. Off for providers whose tokens are meant to be presented many times until they
    /// expire (a Kubernetes service-account token a pod reads from its volume).
    pub single_use: bool,
}

impl ProfileTrust {
    /// A `jwt` profile's `{"jwks": {...}}`.
    pub fn parse_jwt(value: &Value) -> Result<Self, ValidationError> {
        let Value::Object(object) = value else {
            return Err(ValidationError::new("jwt", "must be an object: {\"jwks\": {\"keys\": [...]}}"));
        };
        if let Some(unknown) = object.keys().find(|key| *key != "jwks") {
            return Err(ValidationError::new(format!("jwt.{unknown}"), "unknown field"));
        }
        let jwks = object.get("jwks").ok_or_else(|| ValidationError::new("jwt.jwks", "is required"))?;
        Ok(ProfileTrust::Jwt(Arc::new(KeySet::from_consumer(jwks)?)))
    }

    /// An `oidc` profile's provider. `own_issuer` is Gatehouse's: a provider claiming it would
    /// be confused with Gatehouse's own tokens.
    pub fn parse_oidc(value: &Value, profile_id: &ProfileId, own_issuer: &str) -> Result<Self, ValidationError> {
        let Value::Object(object) = value else {
            return Err(ValidationError::new("oidc", "must be an object"));
        };
        const FIELDS: [&str; 5] = ["issuer", "jwks_uri", "audience", "claims", "single_use"];
        if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
            return Err(ValidationError::new(format!("oidc.{unknown}"), "unknown field"));
        }
        let text = |name: &str, required: bool| -> Result<Option<String>, ValidationError> {
            match object.get(name) {
                None | Some(Value::Null) if !required => Ok(None),
                Some(Value::String(value))
                    if !value.is_empty() && value.len() <= MAX_TEXT && !value.chars().any(char::is_control) =>
                {
                    Ok(Some(value.clone()))
                }
                _ => Err(ValidationError::new(format!("oidc.{name}"), "must be text of 1 to 1000 characters")),
            }
        };
        let issuer = text("issuer", true)?.unwrap_or_default();
        if issuer == own_issuer || issuer.starts_with(ProfileId::PREFIX) {
            return Err(ValidationError::new("oidc.issuer", "must be an outside identity provider's issuer"));
        }
        let jwks_uri = text("jwks_uri", true)?.unwrap_or_default();
        check_jwks_uri(&jwks_uri)?;
        let audience = text("audience", false)?.unwrap_or_else(|| profile_id.to_string());
        // Found in review: without a claim, every user of a public provider (GitHub's, say) can
        // ask it for a token with this audience, the profile id being no secret.
        let claims = match object.get("claims") {
            Some(Value::Object(claims)) if !claims.is_empty() => required_claims(claims)?,
            _ => {
                return Err(ValidationError::new(
                    "oidc.claims",
                    "name at least one claim only your workloads' tokens carry, such as \"sub\" or \"repository\"",
                ));
            }
        };
        let single_use = match object.get("single_use") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(single_use)) => *single_use,
            Some(_) => return Err(ValidationError::new("oidc.single_use", "must be true or false")),
        };
        Ok(ProfileTrust::Oidc(OidcTrust { issuer, jwks_uri, audience, claims, single_use }))
    }

    /// As shown by the API and stored: `{"jwks": ...}` or the `oidc` object.
    pub fn to_json(&self) -> Value {
        match self {
            ProfileTrust::Jwt(keys) => json!({ "jwks": keys.document() }),
            ProfileTrust::Oidc(oidc) => json!({
                "issuer": oidc.issuer,
                "jwks_uri": oidc.jwks_uri,
                "audience": oidc.audience,
                "claims": oidc.claims,
                "single_use": oidc.single_use,
            }),
        }
    }

    /// Reads back what [`Self::to_json`] stored.
    pub fn from_stored(method: &str, value: &Value, profile_id: &ProfileId) -> Result<Self, ValidationError> {
        match method {
            "jwt" => Self::parse_jwt(value),
            // The issuer Gatehouse had when it was written is not questioned again.
            _ => Self::parse_oidc(value, profile_id, ""),
        }
    }

    /// The (issuer, audience) an `oidc` profile is found by.
    pub fn oidc_key(&self) -> Option<(&str, &str)> {
        match self {
            ProfileTrust::Oidc(oidc) => Some((&oidc.issuer, &oidc.audience)),
            ProfileTrust::Jwt(_) => None,
        }
    }
}

/// The `jwt` and `oidc` members of a request, not yet checked.
#[derive(Debug, Default)]
pub struct TrustInput {
    pub jwt: Option<Value>,
    pub oidc: Option<Value>,
}

impl TrustInput {
    /// The trust a new profile of `method` describes; `None` if it describes none.
    pub fn resolve(
        self,
        method: AuthMethod,
        profile_id: &ProfileId,
        own_issuer: &str,
    ) -> Result<Option<ProfileTrust>, ValidationError> {
        match (method, self.jwt, self.oidc) {
            (_, Some(_), Some(_)) => Err(ValidationError::new("jwt", "give \"jwt\" or \"oidc\", not both")),
            (AuthMethod::Jwt, Some(jwt), None) => ProfileTrust::parse_jwt(&jwt).map(Some),
            (AuthMethod::Oidc, None, Some(oidc)) => ProfileTrust::parse_oidc(&oidc, profile_id, own_issuer).map(Some),
            (AuthMethod::Jwt, None, None) => {
                Err(ValidationError::new("jwt", "a jwt profile needs the consumer's keys"))
            }
            (AuthMethod::Oidc, None, None) => Err(ValidationError::new("oidc", "an oidc profile needs its provider")),
            (_, None, None) => Ok(None),
            (_, Some(_), None) => Err(ValidationError::new("jwt", "only a jwt profile takes keys")),
            (_, None, Some(_)) => Err(ValidationError::new("oidc", "only an oidc profile takes a provider")),
        }
    }

    /// The trust a change to a profile of `method` gives it; `None` if it changes none. The
    /// method itself never changes.
    pub fn resolve_change(
        &self,
        method: AuthMethod,
        profile_id: &ProfileId,
        own_issuer: &str,
    ) -> Result<Option<ProfileTrust>, ValidationError> {
        if self.jwt.is_none() && self.oidc.is_none() {
            return Ok(None);
        }
        let given = TrustInput { jwt: self.jwt.clone(), oidc: self.oidc.clone() };
        given.resolve(method, profile_id, own_issuer)
    }
}

/// `https`, or `http` to a loopback host (a provider on the same machine). Where its name
/// resolves to is checked again at each fetch.
fn check_jwks_uri(uri: &str) -> Result<(), ValidationError> {
    let invalid = |message: &str| ValidationError::new("oidc.jwks_uri", message);
    let parsed = url::Url::parse(uri).map_err(|_| invalid("must be an absolute https URL"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&parsed) => Ok(()),
        _ => Err(invalid("must be https (plain http only to a loopback host)")),
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn required_claims(claims: &Map<String, Value>) -> Result<BTreeMap<String, Value>, ValidationError> {
    if claims.len() > MAX_CLAIMS {
        return Err(ValidationError::new("oidc.claims", format!("at most {MAX_CLAIMS} claims")));
    }
    let mut required = BTreeMap::new();
    for (name, value) in claims {
        let field = format!("oidc.claims.{name}");
        if name.is_empty() || name.len() > 100 || CHECKED_CLAIMS.contains(&name.as_str()) {
            return Err(ValidationError::new(
                field,
                "must be a claim name of 1 to 100 characters other than iss, aud, exp, nbf, iat and jti",
            ));
        }
        let fits = match value {
            Value::String(text) => text.len() <= MAX_TEXT,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        };
        if !fits {
            return Err(ValidationError::new(field, "must be a string, a number or true/false"));
        }
        required.insert(name.clone(), value.clone());
    }
    Ok(required)
}

/// A presented JWT that met its profile's rules.
#[derive(Debug)]
pub struct Accepted {
    /// Expiry, unix seconds.
    pub exp: i64,
    /// The `jti` to remember until `exp`, if the token may be used once only.
    pub single_use: Option<String>,
}

/// Why a JWT with a valid signature was still refused. Only logged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsRejection {
    #[error("iss or sub is not what the profile trusts")]
    Issuer,
    #[error("aud does not name the audience")]
    Audience,
    #[error("exp, iat or nbf missing or not numbers")]
    Times,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("lives longer than allowed")]
    TooLong,
    #[error("jti missing or too long")]
    Jti,
    #[error("a required claim does not match")]
    Claim,
}

fn time_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, ClaimsRejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or(ClaimsRejection::Times),
    }
}

fn jti(claims: &Map<String, Value>) -> Result<String, ClaimsRejection> {
    match claims.get("jti") {
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Ok(jti.clone()),
        _ => Err(ClaimsRejection::Jti),
    }
}

/// `exp`, `nbf` and `iat` against `now` with `leeway`; returns `exp`.
fn check_times(claims: &Map<String, Value>, now: i64, leeway: i64) -> Result<i64, ClaimsRejection> {
    let exp = time_claim(claims, "exp")?.ok_or(ClaimsRejection::Times)?;
    if exp.saturating_add(leeway) <= now {
        return Err(ClaimsRejection::Expired);
    }
    for name in ["nbf", "iat"] {
        if time_claim(claims, name)?.is_some_and(|at| at.saturating_sub(leeway) > now) {
            return Err(ClaimsRejection::NotYetValid);
        }
    }
    Ok(exp)
}

/// A consumer's JWT for `profile_id`: `iss` = `sub` = the profile id, `aud` one of `audiences`
/// (Gatehouse's issuer, or its token endpoint), at most five minutes long, a `jti`.
pub fn accept_consumer_jwt(
    claims: &Map<String, Value>,
    profile_id: &ProfileId,
    audiences: &[&str],
    now: i64,
    leeway: i64,
) -> Result<Accepted, ClaimsRejection> {
    let own = |name: &str| claims.get(name).and_then(Value::as_str) == Some(profile_id.as_str());
    if !own("iss") || !own("sub") {
        return Err(ClaimsRejection::Issuer);
    }
    if !jose::audiences(claims).is_some_and(|named| named.iter().any(|aud| audiences.contains(aud))) {
        return Err(ClaimsRejection::Audience);
    }
    let exp = check_times(claims, now, leeway)?;
    let iat = time_claim(claims, "iat")?.ok_or(ClaimsRejection::Times)?;
    if exp.saturating_sub(iat) > MAX_CONSUMER_JWT_SECONDS {
        return Err(ClaimsRejection::TooLong);
    }
    Ok(Accepted { exp, single_use: Some(jti(claims)?) })
}

/// An identity provider's token for an `oidc` profile.
pub fn accept_provider_token(
    claims: &Map<String, Value>,
    trust: &OidcTrust,
    now: i64,
    leeway: i64,
) -> Result<Accepted, ClaimsRejection> {
    if claims.get("iss").and_then(Value::as_str) != Some(trust.issuer.as_str()) {
        return Err(ClaimsRejection::Issuer);
    }
    if !jose::audiences(claims).is_some_and(|named| named.contains(&trust.audience.as_str())) {
        return Err(ClaimsRejection::Audience);
    }
    let exp = check_times(claims, now, leeway)?;
    if exp > now.saturating_add(MAX_PROVIDER_TOKEN_SECONDS) {
        return Err(ClaimsRejection::TooLong);
    }
    if trust.claims.iter().any(|(name, value)| claims.get(name) != Some(value)) {
        return Err(ClaimsRejection::Claim);
    }
    let single_use = if trust.single_use { Some(jti(claims)?) } else { None };
    Ok(Accepted { exp, single_use })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc() -> OidcTrust {
        match ProfileTrust::parse_oidc(
            &json!({"issuer": "https://idp", "jwks_uri": "https://idp/keys", "claims": {"repository": "acme/billing"}}),
            &ProfileId::from_string("prf_a"),
            "https://gatehouse",
        )
        .unwrap()
        {
            ProfileTrust::Oidc(oidc) => oidc,
            ProfileTrust::Jwt(_) => unreachable!(),
        }
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn oidc_trust_is_validated() {
        let parse = |value: Value| ProfileTrust::parse_oidc(&value, &ProfileId::from_string("prf_a"), "https://gh");
        let trust = oidc();
        assert_eq!((trust.audience.as_str(), trust.single_use), ("prf_a", true), "defaults");
        assert!(parse(json!({"issuer": "https://gh", "jwks_uri": "https://x/k"})).is_err(), "Gatehouse's own");
        assert!(parse(json!({"issuer": "i", "jwks_uri": "http://idp.example/k"})).is_err(), "plain http");
        let claims = json!({"sub": "me"});
        assert!(
            parse(json!({"issuer": "i", "jwks_uri": "http://127.0.0.1:9/k", "claims": claims})).is_ok(),
            "loopback"
        );
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://idp/k"})).is_err(), "a claim is required");
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://idp/k", "claims": {}})).is_err());
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://u:p@idp/k"})).is_err());
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://idp/k", "claims": {"aud": "x"}})).is_err());
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://idp/k", "claims": {"x": {"y": 1}}})).is_err());
        assert!(parse(json!({"issuer": "i", "jwks_uri": "https://idp/k", "extra": 1})).is_err());
    }

    #[test]
    fn provider_tokens_meet_every_rule() {
        let trust = oidc();
        let good =
            json!({"iss": "https://idp", "aud": ["prf_a", "x"], "exp": 1100, "jti": "j", "repository": "acme/billing"});
        assert_eq!(
            accept_provider_token(&claims(good.clone()), &trust, 1000, 5).unwrap().single_use.as_deref(),
            Some("j")
        );
        let with = |key: &str, value: Value| {
            let mut edited = good.clone();
            edited[key] = value;
            accept_provider_token(&claims(edited), &trust, 1000, 5).map(|_| ())
        };
        assert_eq!(with("iss", json!("https://other")), Err(ClaimsRejection::Issuer));
        assert_eq!(with("aud", json!("other")), Err(ClaimsRejection::Audience));
        assert_eq!(with("exp", json!(990)), Err(ClaimsRejection::Expired));
        assert_eq!(with("exp", json!("1100")), Err(ClaimsRejection::Times));
        assert_eq!(with("nbf", json!(1010)), Err(ClaimsRejection::NotYetValid));
        assert_eq!(with("repository", json!("acme/other")), Err(ClaimsRejection::Claim));
        assert_eq!(with("jti", json!(null)), Err(ClaimsRejection::Jti));
        assert_eq!(with("exp", json!(1000 + 86_401)), Err(ClaimsRejection::TooLong));
        assert_eq!(with("exp", json!(i64::MAX)), Err(ClaimsRejection::TooLong));
    }

    #[test]
    fn consumer_jwts_are_short_and_name_their_profile() {
        let id = ProfileId::from_string("prf_a");
        let good = json!({"iss": "prf_a", "sub": "prf_a", "aud": "https://gh", "iat": 1000, "exp": 1300, "jti": "j"});
        let accept =
            |value: &Value| accept_consumer_jwt(&claims(value.clone()), &id, &["https://gh"], 1000, 5).map(|_| ());
        assert_eq!(accept(&good), Ok(()));
        let with = |key: &str, value: Value| {
            let mut edited = good.clone();
            edited[key] = value;
            accept(&edited)
        };
        assert_eq!(with("exp", json!(1301)), Err(ClaimsRejection::TooLong));
        assert_eq!(with("sub", json!("prf_b")), Err(ClaimsRejection::Issuer));
        assert_eq!(with("aud", json!(["https://other"])), Err(ClaimsRejection::Audience));
        assert_eq!(with("iat", json!(1010)), Err(ClaimsRejection::NotYetValid));
        assert_eq!(with("jti", json!("")), Err(ClaimsRejection::Jti));
    }
}
