//! Access profiles that trust keys instead of holding a credential (issue 21): `jwt` (the
//! consumer's own key pair) and `oidc` (an outside identity provider's tokens, its keys fetched
//! from a real JWKS endpoint started here). Keys are made with aws-lc-rs and JWTs signed by
//! hand, so nothing of Gatehouse's own JOSE code signs what it verifies.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256};
use aws_lc_rs::{hmac, rsa};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use gatehouse_domain::jwks::JwksTiming;

use crate::test_app::TestApp;

pub(crate) enum Signer {
    Ed25519(Ed25519KeyPair),
    P256(EcdsaKeyPair),
    Rsa(rsa::KeyPair),
}

/// A key pair of the consumer's or the identity provider's.
pub(crate) struct TestKey {
    kid: String,
    signer: Signer,
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    pub(crate) fn ed25519(kid: &str) -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        Self { kid: kid.to_owned(), signer: Signer::Ed25519(pair) }
    }

    pub(crate) fn p256(kid: &str) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        Self { kid: kid.to_owned(), signer: Signer::P256(pair) }
    }

    pub(crate) fn rsa(kid: &str) -> Self {
        Self { kid: kid.to_owned(), signer: Signer::Rsa(rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap()) }
    }

    /// The public JWK, as a consumer registers it or a provider publishes it.
    pub(crate) fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Ed25519(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()), "kid": self.kid})
            }
            Signer::P256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]), "kid": self.kid})
            }
            Signer::Rsa(pair) => {
                let public = pair.public_key();
                json!({"kty": "RSA", "kid": self.kid, "use": "sig",
                       "n": b64(public.modulus().big_endian_without_leading_zero()),
                       "e": b64(public.exponent().big_endian_without_leading_zero())})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self.signer {
            Signer::Ed25519(_) => "EdDSA",
            Signer::P256(_) => "ES256",
            Signer::Rsa(_) => "RS256",
        }
    }

    pub(crate) fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid}), claims)
    }

    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = match &self.signer {
            Signer::Ed25519(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Signer::P256(pair) => pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap().as_ref().to_vec(),
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature).unwrap();
                signature
            }
        };
        format!("{input}.{}", b64(signature))
    }
}

fn jti() -> String {
    b64(rand_bytes())
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0; 16];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

fn now(app: &TestApp) -> i64 {
    use gatehouse_domain::clock::Clock;
    app.clock.now().unix_timestamp()
}

/// Creates a profile with `body` on a new client holding SuperSIM; returns (client id, profile
/// id, the 201 body).
async fn create_profile(app: &TestApp, token: &str, body: Value) -> (String, String, Value) {
    let (client, _) = app.create_client(token, json!({})).await;
    let path = format!("/v1/clients/{}/access-profiles", client.client_id);
    let response = app.post_json(&path, token, &body).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let profile_id = created["access_profile"]["profile_id"].as_str().unwrap().to_owned();
    (client.client_id, profile_id, created)
}

async fn check(app: &TestApp, bearer: &str) -> StatusCode {
    let url = app.url("/v1/auth/products/SuperSIM/check");
    app.http.get(url).bearer_auth(bearer).send().await.unwrap().status()
}

/// RFC 7523 client authentication at the token endpoint; the response's status and body.
pub(crate) async fn assert_token(app: &TestApp, client_id: Option<&str>, assertion: &str) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
    ];
    if let Some(client_id) = client_id {
        form.push(("client_id", client_id));
    }
    let response = app.http.post(app.url("/api-services/v1/auth/token")).form(&form).send().await.unwrap();
    (response.status(), response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn consumer_claims(app: &TestApp, profile_id: &str) -> Value {
    let now = now(app);
    json!({"iss": profile_id, "sub": profile_id, "aud": app.issuer, "iat": now, "exp": now + 60, "jti": jti()})
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut edited = claims.clone();
    edited[key] = value;
    edited
}

#[tokio::test]
async fn a_consumer_jwt_calls_once_mints_a_token_and_stops_when_its_key_is_replaced() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let (first, second) = (TestKey::ed25519("k1"), TestKey::p256("k2"));
    let body = json!({"name": "partner", "auth_method": "jwt", "products": ["SuperSIM"],
                      "jwt": {"jwks": {"keys": [first.jwk(), second.jwk()]}}});
    let (client_id, profile_id, created) = create_profile(&app, &owner, body).await;
    assert!(created.get("credential").is_none(), "no credential to show: {created}");
    assert_eq!(created["access_profile"]["auth_method"], "jwt");
    assert_eq!(created["access_profile"]["jwt"]["jwks"]["keys"][0]["kid"], "k1");

    // At the gateway: each JWT answers one call; both registered keys sign.
    let claims = consumer_claims(&app, &profile_id);
    let jwt = first.sign(&claims);
    assert_eq!(check(&app, &jwt).await, StatusCode::OK);
    assert_eq!(check(&app, &jwt).await, StatusCode::UNAUTHORIZED, "a replayed jti is refused");
    assert_eq!(check(&app, &second.sign(&consumer_claims(&app, &profile_id))).await, StatusCode::OK);

    // Every rule a consumer JWT must meet.
    let fresh = || consumer_claims(&app, &profile_id);
    let refused = [
        ("aud", with(&fresh(), "aud", json!("https://elsewhere.example"))),
        ("iss", with(&fresh(), "iss", json!("prf_somebodyelse00000000000"))),
        ("sub", with(&fresh(), "sub", json!("someone"))),
        ("expired", with(&with(&fresh(), "exp", json!(now(&app) - 30)), "iat", json!(now(&app) - 90))),
        ("too long", with(&fresh(), "exp", json!(now(&app) + 301))),
        ("no jti", with(&fresh(), "jti", Value::Null)),
        ("no iat", with(&fresh(), "iat", Value::Null)),
    ];
    for (what, claims) in refused {
        assert_eq!(check(&app, &first.sign(&claims)).await, StatusCode::UNAUTHORIZED, "{what}");
    }
    // An HS256 MAC keyed with the public key's published bytes, and `alg: none`.
    let input = format!("{}.{}", b64(json!({"alg": "HS256", "kid": "k1"}).to_string()), b64(fresh().to_string()));
    let public_bytes = URL_SAFE_NO_PAD.decode(first.jwk()["x"].as_str().unwrap()).unwrap();
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &public_bytes), input.as_bytes());
    assert_eq!(check(&app, &format!("{input}.{}", b64(mac.as_ref()))).await, StatusCode::UNAUTHORIZED);
    let none = format!("{}.{}.", b64(json!({"alg": "none"}).to_string()), b64(fresh().to_string()));
    assert_eq!(check(&app, &none).await, StatusCode::UNAUTHORIZED);
    // Signed by a key the profile never had, under a kid it has.
    let stranger = TestKey::ed25519("k1");
    assert_eq!(check(&app, &stranger.sign(&fresh())).await, StatusCode::UNAUTHORIZED);

    // At the token endpoint (RFC 7523): the assertion's sub names the profile, or client_id does.
    let endpoint = format!("{}/api-services/v1/auth/token", app.issuer);
    let assertion = first.sign(&with(&fresh(), "aud", json!(endpoint)));
    let (status, body) = assert_token(&app, None, &assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(body["scope"], "SuperSIM");
    assert_eq!(check(&app, &token).await, StatusCode::OK, "a normal Gatehouse token");
    let (status, body) = assert_token(&app, Some(&profile_id), &assertion).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "replayed");
    let (status, _) = assert_token(&app, Some(&client_id), &first.sign(&fresh())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a client's own id takes no assertion");

    // Rotation: the keys replaced whole; what the old key signed, and its tokens, stop at once.
    let path = format!("/v1/clients/{client_id}/access-profiles/{profile_id}");
    let replaced = app.patch_json(&path, &owner, &json!({"jwt": {"jwks": {"keys": [second.jwk()]}}})).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(check(&app, &first.sign(&fresh())).await, StatusCode::UNAUTHORIZED, "a key removed");
    assert_eq!(check(&app, &token).await, StatusCode::UNAUTHORIZED, "minted with the old keys");
    assert_eq!(check(&app, &second.sign(&fresh())).await, StatusCode::OK);

    // Bad keys are refused with the documented error, and change nothing.
    for keys in [json!([{"kty": "oct", "k": "c2VjcmV0"}]), json!([with(&first.jwk(), "d", json!("AAAA"))]), json!([])] {
        let response = app.patch_json(&path, &owner, &json!({"jwt": {"jwks": {"keys": keys}}})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
    assert_eq!(check(&app, &second.sign(&fresh())).await, StatusCode::OK);
    let refresh = app.post_json(&format!("{path}/refresh"), &owner, &json!({})).await;
    assert_eq!(refresh.status(), StatusCode::BAD_REQUEST, "no credential to refresh");
    let method = app
        .patch_json(
            &path,
            &owner,
            &json!({"oidc": {"issuer": "https://x", "jwks_uri": "https://x/k", "claims": {"sub": "x"}}}),
        )
        .await;
    assert_eq!(method.status(), StatusCode::BAD_REQUEST, "the method is fixed");
}

#[tokio::test]
async fn a_consumer_jwt_used_on_one_instance_is_refused_on_another() {
    // Two instances share a database only on PostgreSQL; the SQLite run covers the rest.
    if std::env::var("GATEHOUSE_TEST_POSTGRES_URL").map_or(true, |url| url.is_empty()) {
        return;
    }
    // Instances behind one load balancer share the public issuer URL, which consumers name.
    let app = TestApp::spawn_with(|config| config.issuer = Some("https://gatehouse.test".to_owned())).await;
    let beside = app.spawn_beside(|_| {}).await;
    let owner = app.owner_session().await;
    let key = TestKey::rsa("r1");
    let body = json!({"name": "partner", "auth_method": "jwt", "products": ["SuperSIM"], "jwt": {"jwks": {"keys": [key.jwk()]}}});
    let (_, profile_id, _) = create_profile(&app, &owner, body).await;
    let claims = consumer_claims(&app, &profile_id);
    let jwt = key.sign(&claims);
    assert_eq!(check(&app, &jwt).await, StatusCode::OK);
    assert_eq!(check(&beside, &jwt).await, StatusCode::UNAUTHORIZED, "its jti was spent on the first instance");
    assert_eq!(check(&beside, &key.sign(&consumer_claims(&app, &profile_id))).await, StatusCode::OK);
    let assertion = key.sign(&consumer_claims(&app, &profile_id));
    assert_eq!(assert_token(&beside, None, &assertion).await.0, StatusCode::OK);
    assert_eq!(assert_token(&app, None, &assertion).await.0, StatusCode::UNAUTHORIZED);
}

/// An identity provider's JWKS endpoint: serves whatever keys the test puts in it, and counts
/// the fetches.
pub(crate) struct Provider {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<Mutex<u32>>,
    address: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Provider {
    pub(crate) async fn start(keys: Vec<Value>) -> Self {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(Mutex::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/keys",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    *counted.lock().unwrap() += 1;
                    axum::Json(json!({"keys": *served.lock().unwrap()}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { keys, fetches, address, server }
    }

    pub(crate) fn jwks_uri(&self) -> String {
        format!("http://{}/keys", self.address)
    }

    fn fetches(&self) -> u32 {
        *self.fetches.lock().unwrap()
    }
}

pub(crate) const ISSUER: &str = "https://token.actions.githubusercontent.com";

pub(crate) fn provider_claims(app: &TestApp, audience: &str) -> Value {
    let now = now(app);
    json!({"iss": ISSUER, "aud": audience, "sub": "repo:acme/billing:ref:refs/heads/main", "iat": now,
           "nbf": now, "exp": now + 300, "jti": jti(), "repository": "acme/billing", "ref": "refs/heads/main"})
}

/// Keys are used for 60 s and fetched again for an unknown kid 10 s after the last fetch.
async fn oidc_app() -> TestApp {
    TestApp::spawn_with(|config| {
        config.allow_private_jwks = true;
        config.jwks_timing = JwksTiming { max_age_seconds: 60, refetch_after_seconds: 10 };
    })
    .await
}

#[tokio::test]
async fn an_identity_providers_token_is_accepted_by_its_profile_alone() {
    let app = oidc_app().await;
    let owner = app.owner_session().await;
    let (old, new) = (TestKey::rsa("gh-1"), TestKey::p256("gh-2"));
    let provider = Provider::start(vec![old.jwk()]).await;
    let oidc = json!({"issuer": ISSUER, "jwks_uri": provider.jwks_uri(), "audience": "https://gatehouse.example/billing",
                      "claims": {"repository": "acme/billing", "ref": "refs/heads/main"}});
    let body = json!({"name": "deploys", "auth_method": "oidc", "products": ["SuperSIM"], "oidc": oidc.clone()});
    let (client_id, profile_id, created) = create_profile(&app, &owner, body).await;
    assert_eq!(created["access_profile"]["oidc"]["single_use"], true, "single use unless said otherwise");
    assert_eq!(provider.fetches(), 0, "nothing is fetched before a token needs it");

    let audience = "https://gatehouse.example/billing";
    let token = old.sign(&provider_claims(&app, audience));
    assert_eq!(check(&app, &token).await, StatusCode::OK);
    assert_eq!(check(&app, &token).await, StatusCode::UNAUTHORIZED, "single use: a replay is refused");
    let fresh = || provider_claims(&app, audience);
    let refused = [
        ("wrong iss", with(&fresh(), "iss", json!("https://evil.example"))),
        ("wrong aud", with(&fresh(), "aud", json!("https://gatehouse.example/other"))),
        ("expired", with(&fresh(), "exp", json!(now(&app) - 10))),
        ("not yet", with(&fresh(), "nbf", json!(now(&app) + 60))),
        ("another branch", with(&fresh(), "ref", json!("refs/heads/feature"))),
        ("another repository", with(&fresh(), "repository", json!("acme/other"))),
    ];
    for (what, claims) in refused {
        assert_eq!(check(&app, &old.sign(&claims)).await, StatusCode::UNAUTHORIZED, "{what}");
    }
    // The HS256-with-the-public-key confusion, with an RSA key's modulus as the MAC key.
    let input = format!("{}.{}", b64(json!({"alg": "HS256", "kid": "gh-1"}).to_string()), b64(fresh().to_string()));
    let modulus = URL_SAFE_NO_PAD.decode(old.jwk()["n"].as_str().unwrap()).unwrap();
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &modulus), input.as_bytes());
    assert_eq!(check(&app, &format!("{input}.{}", b64(mac.as_ref()))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(provider.fetches(), 1, "fetched once, then from memory");

    // The provider rotates: a token naming the new kid fetches the keys again, at most that often.
    provider.keys.lock().unwrap().push(new.jwk());
    assert_eq!(check(&app, &new.sign(&fresh())).await, StatusCode::UNAUTHORIZED, "fetched moments ago");
    app.clock.advance(11);
    assert_eq!(check(&app, &new.sign(&fresh())).await, StatusCode::OK);
    assert_eq!(provider.fetches(), 2);
    // The provider withdraws the old key: once the keys held are old enough to fetch again,
    // what it signed is refused.
    provider.keys.lock().unwrap().remove(0);
    app.clock.advance(61);
    assert_eq!(check(&app, &old.sign(&fresh())).await, StatusCode::UNAUTHORIZED, "a key removed from the JWKS");
    assert_eq!(check(&app, &new.sign(&fresh())).await, StatusCode::OK);

    // At the token endpoint, as RFC 7523 client authentication with the profile id.
    let (status, body) = assert_token(&app, Some(&profile_id), &new.sign(&fresh())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(check(&app, body["access_token"].as_str().unwrap()).await, StatusCode::OK);
    let (status, _) = assert_token(&app, None, &new.sign(&fresh())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the provider's sub names no profile");

    // (issuer, audience) names one profile: a second is refused.
    let (other, _) = app.create_client(&owner, json!({})).await;
    let twin = json!({"name": "twin", "auth_method": "oidc", "products": ["SuperSIM"], "oidc": oidc});
    let response = app.post_json(&format!("/v1/clients/{}/access-profiles", other.client_id), &owner, &twin).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    // Reusable tokens (a Kubernetes service account's) are presented many times until they expire.
    let path = format!("/v1/clients/{client_id}/access-profiles/{profile_id}");
    let mut reusable = json!({"issuer": ISSUER, "jwks_uri": provider.jwks_uri(), "audience": audience, "single_use": false,
                "claims": {"repository": "acme/billing"}});
    let response = app.patch_json(&path, &owner, &json!({"oidc": reusable.clone()})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = new.sign(&with(&fresh(), "jti", Value::Null));
    assert_eq!(check(&app, &token).await, StatusCode::OK);
    assert_eq!(check(&app, &token).await, StatusCode::OK);
    // Deactivated, it calls nothing, cached or not.
    reusable["single_use"] = json!(false);
    let response = app.patch_json(&path, &owner, &json!({"active": false})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(check(&app, &token).await, StatusCode::UNAUTHORIZED);
    provider.server.abort();
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_or_is_private_verifies_nothing() {
    // Without --allow-private-jwks, a provider on a loopback address is never fetched.
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let key = TestKey::ed25519("k");
    let provider = Provider::start(vec![key.jwk()]).await;
    let oidc = json!({"issuer": ISSUER, "jwks_uri": provider.jwks_uri(), "single_use": false,
                      "claims": {"repository": "acme/billing"}});
    let body = json!({"name": "ci", "auth_method": "oidc", "products": ["SuperSIM"], "oidc": oidc});
    let (_, profile_id, _) = create_profile(&app, &owner, body.clone()).await;
    let token = key.sign(&provider_claims(&app, &profile_id));
    assert_eq!(
        check(&app, &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "no keys: refused, never accepted unverified"
    );
    assert_eq!(provider.fetches(), 0, "the loopback address was never connected to");

    // Allowed, but the provider is down.
    let app = oidc_app().await;
    let owner = app.owner_session().await;
    provider.server.abort();
    let (_, profile_id, _) = create_profile(&app, &owner, body.clone()).await;
    let token = key.sign(&provider_claims(&app, &profile_id));
    assert_eq!(check(&app, &token).await, StatusCode::SERVICE_UNAVAILABLE);
    for bad in [
        json!({"issuer": ISSUER, "jwks_uri": "http://idp.example/keys", "claims": {"sub": "x"}}),
        json!({"issuer": ISSUER, "jwks_uri": "not a url", "claims": {"sub": "x"}}),
        json!({"issuer": app.issuer, "jwks_uri": "https://idp.example/keys", "claims": {"sub": "x"}}),
        json!({"issuer": ISSUER, "jwks_uri": "https://idp.example/keys", "claims": {"exp": 1}}),
        // Without a claim, any user of a public provider could ask it for this audience.
        json!({"issuer": ISSUER, "jwks_uri": "https://idp.example/keys"}),
        json!({"issuer": ISSUER, "jwks_uri": "https://idp.example/keys", "claims": {}}),
    ] {
        let (client, _) = app.create_client(&owner, json!({})).await;
        let body = json!({"name": "bad", "auth_method": "oidc", "products": ["SuperSIM"], "oidc": bad});
        let response = app.post_json(&format!("/v1/clients/{}/access-profiles", client.client_id), &owner, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Found in review: what one profile trusts must not decide another's tokens.
#[tokio::test]
async fn a_token_reaches_the_profile_that_trusts_it_whatever_else_other_profiles_trust() {
    let app = oidc_app().await;
    let owner = app.owner_session().await;
    let (victim_key, squatter_key) = (TestKey::rsa("v"), TestKey::p256("s"));
    let victim_idp = Provider::start(vec![victim_key.jwk()]).await;
    let squatter_idp = Provider::start(vec![squatter_key.jwk()]).await;
    let oidc = |jwks_uri: String, audience: &str| {
        json!({"name": audience, "auth_method": "oidc", "products": ["SuperSIM"], "oidc": {"issuer": ISSUER,
               "jwks_uri": jwks_uri, "audience": audience, "claims": {"repository": "acme/billing"}}})
    };
    create_profile(&app, &owner, oidc(victim_idp.jwks_uri(), "gatehouse")).await;
    // Another profile trusts the same issuer for another of the token's audiences, with keys of
    // its own: the victim's token is still the victim's, and it cannot spend the victim's jtis.
    create_profile(&app, &owner, oidc(squatter_idp.jwks_uri(), "https://kubernetes.default.svc")).await;
    let claims = with(&provider_claims(&app, "x"), "aud", json!(["https://kubernetes.default.svc", "gatehouse"]));
    assert_eq!(check(&app, &squatter_key.sign(&claims)).await, StatusCode::OK, "the squatter's own token");
    assert_eq!(check(&app, &victim_key.sign(&claims)).await, StatusCode::OK, "same jti, the victim's profile");

    // Introspection asks after Gatehouse's tokens only: it never spends a consumer's JWT.
    let key = TestKey::ed25519("c");
    let body =
        json!({"name": "c", "auth_method": "jwt", "products": ["SuperSIM"], "jwt": {"jwks": {"keys": [key.jwk()]}}});
    let (_, profile_id, _) = create_profile(&app, &owner, body).await;
    let jwt = key.sign(&consumer_claims(&app, &profile_id));
    assert_eq!(app.introspect(&app.admin, &jwt).await, json!({"active": false}));
    assert_eq!(check(&app, &jwt).await, StatusCode::OK);

    // A provider that answers with no usable key has withdrawn them all.
    victim_idp.keys.lock().unwrap().clear();
    app.clock.advance(61);
    let claims = with(&provider_claims(&app, "gatehouse"), "aud", json!("gatehouse"));
    assert_eq!(check(&app, &victim_key.sign(&claims)).await, StatusCode::SERVICE_UNAVAILABLE);

    // Invented tokens never route to a profile, whatever their issuer and audiences say.
    let stranger = TestKey::ed25519("x");
    let long = "a".repeat(5000);
    for claims in [json!({"iss": long, "aud": "gatehouse"}), json!({"iss": ISSUER, "aud": [long, "nobody"]})] {
        assert_eq!(check(&app, &stranger.sign(&claims)).await, StatusCode::UNAUTHORIZED);
    }
}
