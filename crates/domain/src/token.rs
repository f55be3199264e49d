//! Access tokens: RFC 9068 JWTs signed with Ed25519 (`alg: EdDSA`, `typ: at+jwt`).

use std::collections::HashMap;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::master_key::{MasterKey, MasterKeyError};
use crate::store::StoredSigningKey;

/// RFC 9068 §2.1: the media type of JWT access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The claims of a Gatehouse access token (DESIGN.md "Token claims").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    pub account_id: String,
    pub client_type: String,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a signing key could not be generated or loaded")]
    Crypto,
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error("there is no signing key")]
    NoKey,
}

/// Generates a fresh Ed25519 signing key, sealed with the master key for storage. It is
/// published at once and signs from `activates_at` on.
pub fn generate_signing_key(
    master_key: &MasterKey,
    now: OffsetDateTime,
    activates_at: OffsetDateTime,
) -> Result<StoredSigningKey, KeyError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Crypto)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyError::Crypto)?;
    let public_key = pair.public_key().as_ref().to_vec();
    let kid = jwk_thumbprint(&public_key);
    let sealed_private_key = master_key.seal(kid.as_bytes(), pkcs8.as_ref())?;
    Ok(StoredSigningKey { kid, sealed_private_key, public_key, created_at: now, activates_at })
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key (RFC 8037 §2): a stable, public `kid`.
fn jwk_thumbprint(public_key: &[u8]) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, URL_SAFE_NO_PAD.encode(public_key));
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// A public verification key, as published in the JWKS.
#[derive(Clone, Debug)]
pub struct PublicKey {
    pub kid: String,
    /// base64url of the raw 32-byte Ed25519 public key (the JWK `x` member).
    pub x: String,
}

/// Why a presented token was refused. Only logged, never shown to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRejection {
    #[error("not a JWS compact serialization")]
    Malformed,
    #[error("header not acceptable")]
    Header,
    #[error("unknown key id")]
    UnknownKey,
    #[error("bad signature or claims")]
    Invalid,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
}

/// The header members Gatehouse looks at before trusting anything in a token.
#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

struct RingKey {
    public: PublicKey,
    activates_at: OffsetDateTime,
    /// Parsed once: jsonwebtoken's `encode` re-parses the PKCS#8 document (and so re-derives the
    /// public key) on every call, which doubled the cost of minting a token.
    signing: Ed25519KeyPair,
    /// The token header is the same for every token a key signs: `{"alg","typ","kid"}`,
    /// base64url-encoded once.
    encoded_header: String,
    verifying: DecodingKey,
}

/// The longest lifetime a token can have (seed rule 5): a key must keep verifying for this long
/// after it stops signing.
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 86_400;

/// The signing keys in use. The newest key whose activation time has passed signs; every key
/// that may still have valid tokens verifies. A key is published (JWKS, verification) as soon
/// as it is stored, before it signs, so every instance knows it before any token carries it.
pub struct KeyRing {
    /// Newest first.
    keys: Vec<RingKey>,
    by_kid: HashMap<String, usize>,
    issuer: String,
    audience: String,
    leeway_seconds: i64,
}

impl KeyRing {
    /// `keys` in any order. Keys retired at `now` (see [`retired`]) are left out.
    pub fn load(
        master_key: &MasterKey,
        keys: &[StoredSigningKey],
        issuer: String,
        leeway_seconds: i64,
        now: OffsetDateTime,
    ) -> Result<Self, KeyError> {
        let mut stored: Vec<&StoredSigningKey> =
            keys.iter().filter(|key| !retired(key, keys, leeway_seconds, now)).collect();
        stored.sort_by(|a, b| b.activates_at.cmp(&a.activates_at).then_with(|| b.kid.cmp(&a.kid)));
        let mut ring_keys = Vec::with_capacity(stored.len());
        for key in stored {
            let pkcs8 = master_key.open(key.kid.as_bytes(), &key.sealed_private_key)?;
            let x = URL_SAFE_NO_PAD.encode(&key.public_key);
            let header = serde_json::json!({ "alg": "EdDSA", "typ": ACCESS_TOKEN_TYP, "kid": key.kid });
            ring_keys.push(RingKey {
                verifying: DecodingKey::from_ed_components(&x).map_err(|_| KeyError::Crypto)?,
                signing: Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| KeyError::Crypto)?,
                encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()),
                public: PublicKey { kid: key.kid.clone(), x },
                activates_at: key.activates_at,
            });
        }
        if !ring_keys.iter().any(|key| key.activates_at <= now) {
            return Err(KeyError::NoKey);
        }
        let by_kid = ring_keys.iter().enumerate().map(|(index, key)| (key.public.kid.clone(), index)).collect();
        Ok(Self { keys: ring_keys, by_kid, audience: issuer.clone(), issuer, leeway_seconds })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience of Gatehouse tokens: the issuer itself, whose management API and gateway
    /// check are what the tokens are presented to.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Every published key, newest first: the next key (if one is pending), the current one and
    /// those whose tokens may still be valid.
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(|key| &key.public)
    }

    fn current(&self, now: OffsetDateTime) -> Result<&RingKey, KeyError> {
        // Newest first, so the first active key is the current one.
        self.keys.iter().find(|key| key.activates_at <= now).ok_or(KeyError::NoKey)
    }

    /// The `kid` that signs at `now`.
    pub fn current_kid(&self, now: OffsetDateTime) -> Option<&str> {
        self.current(now).ok().map(|key| key.public.kid.as_str())
    }

    /// RFC 7515 §7.1 compact serialization: `header.payload.signature`, each base64url without
    /// padding, the signature (RFC 8037 §3.1) over the first two parts as written.
    pub fn sign(&self, claims: &AccessTokenClaims, now: OffsetDateTime) -> Result<String, KeyError> {
        let key = self.current(now)?;
        let payload = serde_json::to_vec(claims).map_err(|_| KeyError::Crypto)?;
        let mut token = String::with_capacity(key.encoded_header.len() + payload.len() * 4 / 3 + 92);
        token.push_str(&key.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = key.signing.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut token);
        Ok(token)
    }

    /// Verifies signature, header and time claims at `now`. What the token's client is allowed
    /// to do now (disabled, renewed, deleted, revoked) is the caller's next check.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<AccessTokenClaims, TokenRejection> {
        let header = Self::raw_header(token)?;
        // RFC 8725 §3.1: exactly one algorithm, never `none` or a MAC, so a token's header never
        // chooses how it is checked.
        if header.alg.as_deref() != Some("EdDSA") {
            return Err(TokenRejection::Header);
        }
        // RFC 9068 §4: reject tokens whose `typ` is not `at+jwt`.
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return Err(TokenRejection::Header);
        }
        // RFC 7515 §4.1.11: no extension is understood here, so any `crit` is refused.
        if header.crit.is_some() {
            return Err(TokenRejection::Header);
        }
        // The kid is only ever a map lookup: no file or SQL is reached from it.
        let kid = header.kid.ok_or(TokenRejection::Header)?;
        let key = self.by_kid.get(&kid).and_then(|index| self.keys.get(*index)).ok_or(TokenRejection::UnknownKey)?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time claims are checked below against the injected clock with an explicit leeway,
        // never the library's default leeway or its own clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<AccessTokenClaims>(token, &key.verifying, &validation)
            .map_err(|_| TokenRejection::Invalid)?;
        let claims = data.claims;
        let now = now.unix_timestamp();
        if claims.exp + self.leeway_seconds <= now {
            return Err(TokenRejection::Expired);
        }
        if claims.iat - self.leeway_seconds > now {
            return Err(TokenRejection::NotYetValid);
        }
        if claims.sub != claims.client_id {
            return Err(TokenRejection::Invalid);
        }
        Ok(claims)
    }

    fn raw_header(token: &str) -> Result<RawHeader, TokenRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenRejection::Malformed);
        };
        if signature.is_empty() {
            return Err(TokenRejection::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| TokenRejection::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Malformed)
    }
}

/// A key is retired once a newer key has been signing for longer than any token can live: no
/// valid token can carry it any more.
pub fn retired(key: &StoredSigningKey, all: &[StoredSigningKey], leeway_seconds: i64, now: OffsetDateTime) -> bool {
    let superseded_at = all
        .iter()
        .filter(|other| other.activates_at > key.activates_at && other.activates_at <= now)
        .map(|other| other.activates_at)
        .min();
    superseded_at.is_some_and(|at| at + time::Duration::seconds(MAX_TOKEN_LIFETIME_SECONDS + leeway_seconds) < now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(now: OffsetDateTime) -> (KeyRing, AccessTokenClaims) {
        let master = MasterKey::generate();
        let key = generate_signing_key(&master, now, now).unwrap();
        let ring = KeyRing::load(&master, &[key], "http://issuer".into(), 5, now).unwrap();
        let claims = AccessTokenClaims {
            iss: "http://issuer".into(),
            sub: "c1".into(),
            client_id: "c1".into(),
            aud: "http://issuer".into(),
            iat: now.unix_timestamp(),
            exp: now.unix_timestamp() + 60,
            jti: "j".into(),
            scope: "SuperSIM".into(),
            account_id: "acc".into(),
            client_type: "standard".into(),
        };
        (ring, claims)
    }

    fn b64(value: &str) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let now = OffsetDateTime::now_utc();
        let (ring, claims) = ring(now);
        let token = ring.sign(&claims, now).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.typ.as_deref(), header.kid.as_deref()),
            (Algorithm::EdDSA, Some(ACCESS_TOKEN_TYP), ring.current_kid(now))
        );
        assert_eq!(ring.verify(&token, now).unwrap(), claims);
        assert_eq!(ring.verify(&token, now + time::Duration::seconds(64)).unwrap(), claims);
        assert_eq!(ring.verify(&token, now + time::Duration::seconds(65)), Err(TokenRejection::Expired));
        assert_eq!(ring.verify(&token, now - time::Duration::seconds(6)), Err(TokenRejection::NotYetValid));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let now = OffsetDateTime::now_utc();
        let (ring, claims) = ring(now);
        let token = ring.sign(&claims, now).unwrap();
        let parts: Vec<&str> = token.split('.').collect();

        let none = format!("{}.{}.", b64(r#"{"alg":"none","typ":"at+jwt"}"#), parts[1]);
        assert!(ring.verify(&none, now).is_err());

        let mut edited = claims.clone();
        edited.scope = "api_clients".into();
        let edited_payload = b64(&serde_json::to_string(&edited).unwrap());
        let tampered = format!("{}.{}.{}", parts[0], edited_payload, parts[2]);
        assert_eq!(ring.verify(&tampered, now), Err(TokenRejection::Invalid));

        let wrong_typ = format!("{}.{}.{}", b64(r#"{"alg":"EdDSA","typ":"JWT","kid":"x"}"#), parts[1], parts[2]);
        assert_eq!(ring.verify(&wrong_typ, now), Err(TokenRejection::Header));

        let unknown_kid =
            format!("{}.{}.{}", b64(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"../../etc/passwd"}"#), parts[1], parts[2]);
        assert_eq!(ring.verify(&unknown_kid, now), Err(TokenRejection::UnknownKey));

        assert_eq!(ring.verify("a.b", now), Err(TokenRejection::Malformed));
        assert_eq!(ring.verify(&format!("{}.{}.", parts[0], parts[1]), now), Err(TokenRejection::Malformed));

        let (other_ring, _) = self::ring(now);
        assert!(other_ring.verify(&token, now).is_err());
    }

    /// A valid signature under our own key is not enough: a token naming another issuer or
    /// audience (another service sharing a key, or a key copied between installations) is
    /// refused, as is one whose subject is not its client.
    #[test]
    fn our_own_signature_on_another_issuer_or_audience_is_refused() {
        let now = OffsetDateTime::now_utc();
        let (ring, claims) = ring(now);
        let elsewhere = |edit: fn(&mut AccessTokenClaims)| {
            let mut claims = claims.clone();
            edit(&mut claims);
            ring.verify(&ring.sign(&claims, now).unwrap(), now)
        };
        assert_eq!(elsewhere(|c| c.iss = "http://issuer.evil".into()), Err(TokenRejection::Invalid));
        assert_eq!(elsewhere(|c| c.iss = "http://issuer/".into()), Err(TokenRejection::Invalid));
        assert_eq!(elsewhere(|c| c.aud = "http://other-api".into()), Err(TokenRejection::Invalid));
        assert_eq!(elsewhere(|c| c.sub = "c2".into()), Err(TokenRejection::Invalid));
        assert!(elsewhere(|_| {}).is_ok(), "the unedited claims verify");
    }

    /// What the store keeps is sealed: neither the private key nor anything that parses as one.
    #[test]
    fn stored_signing_keys_hold_no_private_key_in_the_clear() {
        let now = OffsetDateTime::now_utc();
        let master = MasterKey::generate();
        let stored = generate_signing_key(&master, now, now).unwrap();
        let pkcs8 = master.open(stored.kid.as_bytes(), &stored.sealed_private_key).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(pair.public_key().as_ref(), stored.public_key.as_slice(), "the sealed key is the published one's");
        // RFC 8410: the private key is the 32-byte seed in an OCTET STRING within an OCTET
        // STRING (04 22 04 20); a v2 document ends with the public key, which is public. No
        // 8-byte run of the seed is in the sealed form.
        let at = pkcs8.windows(4).position(|w| w == [0x04, 0x22, 0x04, 0x20]).unwrap() + 4;
        let seed = &pkcs8[at..at + 32];
        assert_ne!(seed, stored.public_key.as_slice());
        assert!(seed.windows(8).all(|run| !stored.sealed_private_key.windows(8).any(|w| w == run)));
        assert!(Ed25519KeyPair::from_pkcs8(&stored.sealed_private_key).is_err());
        assert!(MasterKey::generate().open(stored.kid.as_bytes(), &stored.sealed_private_key).is_err());
    }

    /// An unknown `crit` is refused, and `jku`, `x5u` and `jwk` are ignored: the key that verifies
    /// is always the ring's, by `kid`, never one a header names or carries.
    #[test]
    fn crit_is_refused_and_keys_named_in_a_header_are_never_used() {
        let now = OffsetDateTime::now_utc();
        let (ring, claims) = ring(now);
        let ours = &ring.keys[0];
        let kid = ours.public.kid.clone();
        let payload = b64(&serde_json::to_string(&claims).unwrap());
        let signed = |header: &str, signer: &Ed25519KeyPair| {
            let input = format!("{}.{payload}", b64(header));
            let signature = signer.sign(input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        };

        let crit = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}","crit":["exp"],"exp":1}}"#);
        assert_eq!(ring.verify(&signed(&crit, &ours.signing), now), Err(TokenRejection::Header));

        let (attackers, _) = self::ring(now);
        let attacker = &attackers.keys[0];
        for extra in [
            r#""jku":"https://attacker.example/jwks.json""#.to_owned(),
            r#""x5u":"https://attacker.example/cert.pem""#.to_owned(),
            format!(r#""jwk":{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, attacker.public.x),
        ] {
            let header = format!(r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"{kid}",{extra}}}"#);
            assert_eq!(ring.verify(&signed(&header, &attacker.signing), now), Err(TokenRejection::Invalid), "{extra}");
            // Signed by the ring's own key, the same header verifies: the member is ignored.
            assert!(ring.verify(&signed(&header, &ours.signing), now).is_ok(), "{extra}");
        }
    }

    #[test]
    fn a_rotated_key_is_published_before_it_signs_and_retired_after_the_longest_token() {
        let master = MasterKey::generate();
        let t0 = OffsetDateTime::now_utc();
        let old = generate_signing_key(&master, t0, t0).unwrap();
        let t1 = t0 + time::Duration::hours(1);
        let new = generate_signing_key(&master, t1, t1 + time::Duration::seconds(10)).unwrap();
        let keys = vec![old.clone(), new.clone()];
        let load = |now| KeyRing::load(&master, &keys, "http://issuer".into(), 5, now).unwrap();

        let pending = load(t1);
        assert_eq!(pending.public_keys().count(), 2, "the new key is published at once");
        assert_eq!(pending.current_kid(t1), Some(old.kid.as_str()), "but does not sign yet");
        let active = t1 + time::Duration::seconds(10);
        assert_eq!(load(active).current_kid(active), Some(new.kid.as_str()));

        let almost = active + time::Duration::seconds(MAX_TOKEN_LIFETIME_SECONDS + 5);
        assert_eq!(load(almost).public_keys().count(), 2, "the old key verifies while its tokens may live");
        let later = almost + time::Duration::seconds(1);
        let ring = load(later);
        assert_eq!(ring.public_keys().map(|k| k.kid.clone()).collect::<Vec<_>>(), vec![new.kid.clone()]);
        assert!(retired(&old, &keys, 5, later));
        assert!(!retired(&new, &keys, 5, later));
    }
}
