//! Other parties' JSON Web Keys and the JWTs they sign (issue 21): a consumer's own keys
//! (`jwt` profiles) and an identity provider's (`oidc` profiles). Asymmetric keys only, the
//! algorithm fixed by the key (RFC 8725 §3.1): never `none`, never a MAC, so a token's header
//! never chooses how it is checked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ValidationError;

/// The algorithms a JWT from another party may be signed with. `none`, MACs and anything
/// else never verify with a public key.
pub const ALGORITHMS: [&str; 8] = ["EdDSA", "ES256", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];

/// A consumer registers at most this many keys at once (several during a rotation).
pub const MAX_CONSUMER_KEYS: usize = 10;
/// Of a provider's key set, at most this many usable keys are kept.
const MAX_PROVIDER_KEYS: usize = 100;
/// Bounds the cost of one RSA verification (a 16384-bit key costs hundreds of times a 2048-bit one).
const MAX_RSA_BITS: usize = 8192;
const MIN_RSA_BITS: usize = 2048;
const MAX_KID_LEN: usize = 256;

const RSA_ALGORITHMS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

/// One public key and the algorithms it may verify.
struct Key {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    decoding: DecodingKey,
}

/// A set of public keys, with the public members they were given as.
pub struct KeySet {
    keys: Vec<Key>,
    /// `{"keys": [...]}` with only the public members of each key: what is stored and shown.
    document: Value,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("document", &self.document).finish()
    }
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        self.document == other.document
    }
}

impl Eq for KeySet {}

/// Why a key is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct KeyRefusal(String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, KeyRefusal> {
    Err(KeyRefusal(reason.into()))
}

/// Why a presented JWT was refused. Only logged, never shown to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseRejection {
    #[error("not a JWS compact serialization")]
    Malformed,
    #[error("header not acceptable")]
    Header,
    #[error("no key with this key id")]
    UnknownKey,
    #[error("bad signature")]
    Invalid,
}

const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, KeyRefusal> {
    match jwk.get(name) {
        Some(Value::String(value)) => Ok(value),
        _ => refuse(format!("\"{name}\" is missing or not a string")),
    }
}

fn decoded(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyRefusal> {
    URL_SAFE_NO_PAD.decode(member(jwk, name)?).or_else(|_| refuse(format!("\"{name}\" is not base64url")))
}

/// One JWK, checked: its public members and the key.
fn parse_key(value: &Value) -> Result<(Map<String, Value>, Key), KeyRefusal> {
    let Value::Object(jwk) = value else {
        return refuse("a key must be a JSON object");
    };
    if let Some(private) = PRIVATE_MEMBERS.iter().find(|name| jwk.contains_key(**name)) {
        return refuse(format!(
            "a key holds \"{private}\": only public keys are accepted, never a private or symmetric one"
        ));
    }
    if let Some(usage) = jwk.get("use")
        && usage != "sig"
    {
        return refuse("a key's \"use\" must be \"sig\"");
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Some(kid.clone()),
        Some(_) => return refuse("\"kid\" must be a string of 1 to 256 characters"),
    };
    let kty = member(jwk, "kty")?;
    let (public_names, algorithms, decoding): (&[&str], Vec<Algorithm>, DecodingKey) = match kty {
        "OKP" => {
            if member(jwk, "crv")? != "Ed25519" {
                return refuse("an OKP key must be on the Ed25519 curve");
            }
            if decoded(jwk, "x")?.len() != 32 {
                return refuse("an Ed25519 key's \"x\" must be 32 bytes");
            }
            let key = DecodingKey::from_ed_components(member(jwk, "x")?).or_else(|_| refuse("a bad Ed25519 key"))?;
            (&["kty", "crv", "x"], vec![Algorithm::EdDSA], key)
        }
        "EC" => {
            if member(jwk, "crv")? != "P-256" {
                return refuse("an EC key must be on the P-256 curve");
            }
            if decoded(jwk, "x")?.len() != 32 || decoded(jwk, "y")?.len() != 32 {
                return refuse("a P-256 key's \"x\" and \"y\" must be 32 bytes each");
            }
            let key = DecodingKey::from_ec_components(member(jwk, "x")?, member(jwk, "y")?)
                .or_else(|_| refuse("a bad P-256 key"))?;
            (&["kty", "crv", "x", "y"], vec![Algorithm::ES256], key)
        }
        "RSA" => {
            let modulus = decoded(jwk, "n")?;
            let significant = modulus.iter().position(|byte| *byte != 0).map_or(&[][..], |start| &modulus[start..]);
            let bits = significant.first().map_or(0, |first| significant.len() * 8 - first.leading_zeros() as usize);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                return refuse("an RSA key must have 2048 to 8192 bits");
            }
            let exponent = decoded(jwk, "e")?;
            let odd = exponent.last().is_some_and(|last| last & 1 == 1);
            if exponent.is_empty() || exponent.len() > 4 || !odd || exponent == [1] {
                return refuse("an RSA key's \"e\" is not a usable public exponent");
            }
            let key = DecodingKey::from_rsa_raw_components(significant, &exponent);
            (&["kty", "n", "e"], RSA_ALGORITHMS.to_vec(), key)
        }
        "oct" => return refuse("symmetric keys are never accepted"),
        _ => return refuse("\"kty\" must be OKP (Ed25519), EC (P-256) or RSA"),
    };
    let algorithms = match jwk.get("alg") {
        None => algorithms,
        Some(Value::String(alg)) => match alg.parse::<Algorithm>() {
            Ok(alg) if algorithms.contains(&alg) => vec![alg],
            _ => return refuse(format!("\"alg\" {alg:?} does not fit a {kty} key")),
        },
        Some(_) => return refuse("\"alg\" must be a string"),
    };
    let mut public: Map<String, Value> = Map::new();
    for name in public_names.iter().chain(&["kid", "alg", "use"]) {
        if let Some(value) = jwk.get(*name) {
            public.insert((*name).to_owned(), value.clone());
        }
    }
    Ok((public, Key { kid, algorithms, decoding }))
}

fn listed_keys(document: &Value) -> Result<&Vec<Value>, KeyRefusal> {
    match document.get("keys") {
        Some(Value::Array(keys)) => Ok(keys),
        _ => refuse("a key set is {\"keys\": [...]}"),
    }
}

impl KeySet {
    /// A consumer's keys, as given to the API: every key must be usable, at most ten, their
    /// `kid`s distinct.
    pub fn from_consumer(document: &Value) -> Result<Self, ValidationError> {
        let invalid = |reason: String| ValidationError::new("jwt.jwks", reason);
        let listed = listed_keys(document).map_err(|refusal| invalid(refusal.0))?;
        if listed.is_empty() || listed.len() > MAX_CONSUMER_KEYS {
            return Err(invalid(format!("must hold 1 to {MAX_CONSUMER_KEYS} keys")));
        }
        let mut keys = Vec::with_capacity(listed.len());
        let mut public = Vec::with_capacity(listed.len());
        for value in listed {
            let (members, key) = parse_key(value).map_err(|refusal| invalid(refusal.0))?;
            if key.kid.is_some() && keys.iter().any(|other: &Key| other.kid == key.kid) {
                return Err(invalid("two keys share a \"kid\"".to_owned()));
            }
            public.push(Value::Object(members));
            keys.push(key);
        }
        Ok(Self { keys, document: serde_json::json!({ "keys": public }) })
    }

    /// An identity provider's published keys: those that are not usable here (other curves,
    /// encryption keys, short RSA keys) are left out; it is refused only if none is left.
    pub fn from_provider(document: &Value) -> Result<Self, KeyRefusal> {
        let mut keys = Vec::new();
        let mut public = Vec::new();
        for value in listed_keys(document)? {
            if let Ok((members, key)) = parse_key(value) {
                public.push(Value::Object(members));
                keys.push(key);
                if keys.len() == MAX_PROVIDER_KEYS {
                    break;
                }
            }
        }
        if keys.is_empty() {
            return refuse("no usable signing key");
        }
        Ok(Self { keys, document: serde_json::json!({ "keys": public }) })
    }

    /// `{"keys": [...]}`, public members only.
    pub fn document(&self) -> &Value {
        &self.document
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// Verifies `token`'s signature with the one key its header selects, and returns its
    /// claims unchecked: what they must say is the caller's to decide.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, JoseRejection> {
        let header = Header::of(token)?;
        let alg = header.alg.parse::<Algorithm>().map_err(|_| JoseRejection::Header)?;
        let key = self.key_for(header.kid.as_deref(), alg)?;
        let mut validation = Validation::new(alg);
        // Time, issuer and audience are the caller's to check, against its own clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| JoseRejection::Invalid)
    }

    fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Key, JoseRejection> {
        match kid {
            Some(kid) => {
                let key =
                    self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)).ok_or(JoseRejection::UnknownKey)?;
                // The key fixes the algorithm: a header naming another (an HMAC over the public
                // key's bytes, say) is refused before anything is computed.
                key.algorithms.contains(&alg).then_some(key).ok_or(JoseRejection::Header)
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.algorithms.contains(&alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(JoseRejection::UnknownKey),
                    // Several keys could verify it: a key id is needed to say which.
                    (Some(_), Some(_)) => Err(JoseRejection::Header),
                }
            }
        }
    }
}

/// The header members looked at before anything in a token is trusted.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

impl Header {
    fn of(token: &str) -> Result<Self, JoseRejection> {
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseRejection::Malformed);
        };
        if signature.is_empty() {
            return Err(JoseRejection::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| JoseRejection::Malformed)?;
        let header: Header = serde_json::from_slice(&bytes).map_err(|_| JoseRejection::Malformed)?;
        // RFC 7515 §4.1.11: no extension is understood here.
        if header.crit.is_some() {
            return Err(JoseRejection::Header);
        }
        if !ALGORITHMS.contains(&header.alg.as_str()) {
            return Err(JoseRejection::Header);
        }
        Ok(header)
    }
}

/// What a token says about itself before it is verified: only ever used to find the profile
/// (and so the keys) that must verify it.
#[derive(Debug, Default)]
pub struct Unverified {
    pub kid: Option<String>,
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub aud: Vec<String>,
}

/// Reads a JWT's header `kid` and its `iss`, `sub` and `aud` claims without verifying anything.
pub fn unverified(token: &str) -> Option<Unverified> {
    #[derive(Deserialize)]
    struct Claims {
        iss: Option<String>,
        sub: Option<String>,
        #[serde(default)]
        aud: Option<Audience>,
    }
    let header = Header::of(token).ok()?;
    let payload = token.split('.').nth(1)?;
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(Unverified {
        kid: header.kid,
        iss: claims.iss,
        sub: claims.sub,
        aud: claims.aud.map(Audience::into_vec).unwrap_or_default(),
    })
}

/// `aud`: one string or an array of them (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn into_vec(self) -> Vec<String> {
        match self {
            Audience::One(aud) => vec![aud],
            Audience::Many(auds) => auds,
        }
    }
}

/// The audiences a verified token names; `None` if `aud` is neither a string nor strings.
pub fn audiences(claims: &Map<String, Value>) -> Option<Vec<&str>> {
    match claims.get("aud")? {
        Value::String(aud) => Some(vec![aud]),
        Value::Array(auds) => auds.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use jsonwebtoken::{EncodingKey, Header as JwtHeader};

    fn ed25519() -> (Value, EncodingKey) {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1"}),
            EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
    }

    fn signed(key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
        let mut header = JwtHeader::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    #[test]
    fn a_consumer_key_verifies_its_own_signature_only() {
        let (jwk, key) = ed25519();
        let (_, other) = ed25519();
        let set = KeySet::from_consumer(&serde_json::json!({"keys": [jwk]})).unwrap();
        let claims = serde_json::json!({"iss": "prf_x", "n": 1});
        assert_eq!(set.verify(&signed(&key, Some("k1"), &claims)).unwrap()["n"], 1);
        assert_eq!(set.verify(&signed(&key, None, &claims)).unwrap()["n"], 1, "one key: no kid needed");
        assert_eq!(set.verify(&signed(&other, Some("k1"), &claims)), Err(JoseRejection::Invalid));
        assert_eq!(set.verify(&signed(&key, Some("k2"), &claims)), Err(JoseRejection::UnknownKey));
    }

    #[test]
    fn none_and_hmac_over_the_public_key_are_refused_before_any_check() {
        let (jwk, key) = ed25519();
        let set = KeySet::from_consumer(&serde_json::json!({"keys": [jwk.clone()]})).unwrap();
        let token = signed(&key, Some("k1"), &serde_json::json!({"iss": "x"}));
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(set.verify(&none), Err(JoseRejection::Malformed));
        let none = format!("{}.{payload}.AA", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(set.verify(&none), Err(JoseRejection::Header));
        // The classic confusion: an HMAC keyed with the public key's published bytes.
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        let mut header = JwtHeader::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hs =
            jsonwebtoken::encode(&header, &serde_json::json!({"iss": "x"}), &EncodingKey::from_secret(&x)).unwrap();
        assert_eq!(set.verify(&hs), Err(JoseRejection::Header));
        let crit = format!("{}.{payload}.AA", URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","kid":"k1","crit":["b64"]}"#));
        assert_eq!(set.verify(&crit), Err(JoseRejection::Header));
    }

    #[test]
    fn consumer_key_sets_accept_public_asymmetric_keys_only() {
        let (jwk, _) = ed25519();
        let refused = |key: Value| KeySet::from_consumer(&serde_json::json!({"keys": [key]})).is_err();
        let mut private = jwk.clone();
        private["d"] = "AAAA".into();
        assert!(refused(private), "a private key is never taken");
        assert!(refused(serde_json::json!({"kty": "oct", "k": "c2VjcmV0"})));
        assert!(
            refused(serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 128]), "e": "AQAB"})),
            "1024 bits"
        );
        assert!(!refused(serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc1u8; 256]), "e": "AQAB"})));
        assert!(refused(serde_json::json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"})));
        let mut wrong_alg = jwk.clone();
        wrong_alg["alg"] = "HS256".into();
        assert!(refused(wrong_alg));
        let mut encryption = jwk.clone();
        encryption["use"] = "enc".into();
        assert!(refused(encryption));
        assert!(
            KeySet::from_consumer(&serde_json::json!({"keys": [jwk.clone(), jwk.clone()]})).is_err(),
            "same kid twice"
        );
        assert!(KeySet::from_consumer(&serde_json::json!({"keys": []})).is_err());
        let set = KeySet::from_consumer(&serde_json::json!({"keys": [jwk]})).unwrap();
        assert_eq!(set.document()["keys"][0].as_object().unwrap().len(), 4, "kty, crv, x, kid kept");
    }

    #[test]
    fn a_provider_set_keeps_its_usable_keys() {
        let (jwk, _) = ed25519();
        let document =
            serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "EC", "crv": "P-521"}, jwk]});
        assert!(KeySet::from_provider(&document).unwrap().has_kid("k1"));
        assert!(KeySet::from_provider(&serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).is_err());
    }

    #[test]
    fn unverified_claims_only_route() {
        let (_, key) = ed25519();
        let token = signed(&key, Some("k9"), &serde_json::json!({"iss": "i", "sub": "s", "aud": ["a", "b"]}));
        let seen = unverified(&token).unwrap();
        assert_eq!((seen.kid.as_deref(), seen.iss.as_deref(), seen.sub.as_deref()), (Some("k9"), Some("i"), Some("s")));
        assert_eq!(seen.aud, ["a", "b"]);
        assert!(unverified("a.b").is_none());
    }
}
