//! `TestApp`: the real application on an ephemeral port, a fresh database, a clock the test
//! controls, and typed helpers for the calls every test makes.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_domain::account::{Account, Email, Product, Role, User};
use gatehouse_domain::actor::{Actor, Principal};
use gatehouse_domain::clock::Clock;
use gatehouse_domain::ids::{AccountId, UserId};
use gatehouse_domain::master_key::MasterKey;
use gatehouse_domain::service::Gatehouse;
use gatehouse_server::config::{MasterKeySource, ServeConfig};
use gatehouse_server::startup::Application;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use time::OffsetDateTime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const OWNER_EMAIL: &str = "owner@example.com";

/// A clock that stands still until a test moves it.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn advance(&self, seconds: i64) {
        let mut now = self.0.lock().unwrap();
        *now += time::Duration::seconds(seconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// Credentials of a client, as shown once at creation or renewal.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
}

pub struct TestApp {
    pub base_url: String,
    /// The configured issuer: every token's `iss` and `aud`.
    pub issuer: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub gatehouse: Arc<Gatehouse>,
    pub account_id: String,
    /// The bootstrap admin client: every global resource and product.
    pub admin: Credentials,
    /// The account owner's generated password (the owner is `OWNER_EMAIL`).
    pub owner_password: String,
    dir: TempDir,
    config: ServeConfig,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts with configuration adjusted by `configure` (the database is always fresh): SQLite,
    /// or PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` is set.
    pub async fn spawn_with(configure: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock(Mutex::new(OffsetDateTime::now_utc())));
        let mut config = match fresh_postgres_database().await {
            Some(url) => {
                let mut config = ServeConfig::new(url);
                config.master_key = Some(MasterKeySource::Inline(MasterKey::generate().to_base64()));
                config
            }
            None => ServeConfig::new(format!("sqlite://{}", dir.path().join("gatehouse.db").display())),
        };
        config.owner_email = OWNER_EMAIL.to_owned();
        configure(&mut config);
        Self::start(dir, config, clock, None).await
    }

    async fn start(dir: TempDir, config: ServeConfig, clock: Arc<ManualClock>, admin: Option<Credentials>) -> Self {
        let app = Application::build_with_clock(config.clone(), clock.clone()).await.expect("the application starts");
        let base_url = format!("http://{}", app.local_addr().unwrap());
        let issuer = app.public_url().to_owned();
        let gatehouse = app.gatehouse();
        let owner_password = app.bootstrap.as_ref().map(|b| b.owner_password.clone()).unwrap_or_default();
        let (admin, account_id) = match (&app.bootstrap, admin) {
            (Some(bootstrap), _) => (
                Credentials {
                    client_id: bootstrap.client_id.to_string(),
                    client_secret: bootstrap.client_secret.expose().to_owned(),
                },
                bootstrap.account_id.to_string(),
            ),
            (None, Some(admin)) => {
                let account_id = gatehouse
                    .store()
                    .client(&gatehouse_domain::ids::ClientId::from_string(admin.client_id.clone()))
                    .await
                    .unwrap()
                    .unwrap()
                    .account_id
                    .to_string();
                (admin, account_id)
            }
            (None, None) => panic!("a restarted app needs the admin credentials"),
        };
        let (shutdown, signal) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = signal.await;
            })
            .await
            .unwrap();
        });
        Self {
            base_url,
            issuer,
            owner_password,
            http: crate::http().build().unwrap(),
            clock,
            gatehouse,
            account_id,
            admin,
            dir,
            config,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// A second instance on the same database and master key, configured by `configure`.
    pub async fn spawn_beside(&self, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let mut config = self.config.clone();
        config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        configure(&mut config);
        let mut other =
            Self::start(tempfile::tempdir().unwrap(), config, self.clock.clone(), Some(self.admin.clone())).await;
        other.owner_password = self.owner_password.clone();
        other
    }

    /// Stops the server and starts a new one on the same address, database and key, as after a
    /// restart (the same address keeps the issuer, so earlier tokens stay valid).
    pub async fn restart(mut self) -> Self {
        let mut config = self.config.clone();
        if let Ok(listen) = self.base_url.trim_start_matches("http://").parse() {
            config.listen = listen;
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        Self::start(dir, config, self.clock.clone(), Some(self.admin.clone())).await
    }

    /// A form POST to an OAuth endpoint, authenticated with HTTP Basic.
    pub async fn oauth_post(&self, path: &str, credentials: &Credentials, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url(path))
            .basic_auth(&credentials.client_id, Some(&credentials.client_secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// RFC 7662 introspection of `token` by `caller`; the JSON answer.
    pub async fn introspect(&self, caller: &Credentials, token: &str) -> Value {
        let response = self.oauth_post("/api-services/v1/auth/introspect", caller, &[("token", token)]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        response.json().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    // -- token endpoint -------------------------------------------------------------------------

    /// A token request with HTTP Basic credentials and the given form.
    pub async fn token_request_basic(&self, credentials: &Credentials, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/api-services/v1/auth/token"))
            .basic_auth(&credentials.client_id, Some(&credentials.client_secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A token for `credentials` with all its scopes; panics unless the grant succeeds.
    pub async fn token(&self, credentials: &Credentials) -> String {
        self.token_with_scope(credentials, None).await
    }

    pub async fn token_with_scope(&self, credentials: &Credentials, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self.token_request_basic(credentials, &form).await;
        assert_eq!(response.status(), StatusCode::OK, "token request failed");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token(&self.admin).await
    }

    // -- people ---------------------------------------------------------------------------------

    /// `POST /v1/auth/login`; the raw response.
    pub async fn login_response(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/auth/login` naming the account, as the users of a child account sign in.
    pub async fn login_response_to(&self, account_id: &str, email: &str, password: &str) -> Response {
        let body = json!({"email": email, "password": password, "account_id": account_id});
        self.http.post(self.url("/v1/auth/login")).json(&body).send().await.unwrap()
    }

    /// A session token; panics unless the login succeeds.
    pub async fn login(&self, email: &str, password: &str) -> String {
        session_token(self.login_response(email, password).await).await
    }

    /// A session token in a child account; panics unless the login succeeds.
    pub async fn login_to(&self, account_id: &str, email: &str, password: &str) -> String {
        session_token(self.login_response_to(account_id, email, password).await).await
    }

    pub async fn owner_session(&self) -> String {
        self.login(OWNER_EMAIL, &self.owner_password).await
    }

    /// Creates a user through the API with `session`; returns (user id, session of the new user).
    pub async fn create_user(&self, session: &str, email: &str, role: &str) -> (String, String) {
        let response = self.post_json("/v1/users", session, &json!({"email": email, "role": role})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create user failed: {}", response.text().await.unwrap());
        let body: Value = response.json().await.unwrap();
        let password = body["password"].as_str().unwrap().to_owned();
        (body["user"]["user_id"].as_str().unwrap().to_owned(), self.login(email, &password).await)
    }

    /// Creates a child account of the session's account; returns its id.
    pub async fn create_child_account(&self, session: &str, name: &str) -> String {
        let response = self.post_json("/v1/accounts", session, &json!({"name": name})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create account failed");
        let body: Value = response.json().await.unwrap();
        body["account"]["account_id"].as_str().unwrap().to_owned()
    }

    // -- management API -------------------------------------------------------------------------

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn post_raw(&self, path: &str, token: &str, content_type: Option<&str>, body: Vec<u8>) -> Response {
        let mut request = self.http.post(self.url(path)).bearer_auth(token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }

    pub async fn patch_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.http.patch(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.http.delete(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Creates a standard client through the API with the given extra fields; panics unless 201.
    pub async fn create_client(&self, token: &str, extra: Value) -> (Credentials, Value) {
        let mut body = json!({"name": "Test client", "locked": null, "scopes": {"products": ["SuperSIM"]}});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                body.insert(key.clone(), value.clone());
            }
        }
        let response = self.post_json("/v1/clients", token, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create failed: {}", response.text().await.unwrap());
        let created: Value = response.json().await.unwrap();
        let credentials = Credentials {
            client_id: created["client_id"].as_str().unwrap().to_owned(),
            client_secret: created["client_secret"].as_str().unwrap().to_owned(),
        };
        (credentials, created)
    }

    pub async fn client_count(&self, token: &str) -> u64 {
        let response = self.get("/v1/clients?page_size=1&page_number=1", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["meta"]["count"].as_u64().unwrap()
    }

    pub async fn ping_status(&self, token: &str) -> StatusCode {
        self.get("/v1/ping", token).await.status()
    }

    // -- direct setup through the domain, for what later issues expose over HTTP ---------------

    /// Adds a user to the bootstrap account.
    pub async fn add_user(&self, email: &str, role: Role) -> Actor {
        self.add_user_to(&self.account_id, email, role).await
    }

    pub async fn add_user_to(&self, account_id: &str, email: &str, role: Role) -> Actor {
        let user = User {
            user_id: UserId::generate(),
            account_id: AccountId::from_string(account_id),
            email: Email::parse(email).unwrap(),
            role,
            date_created: OffsetDateTime::now_utc(),
        };
        self.gatehouse.store().insert_user(&user, "not-a-usable-hash").await.unwrap();
        Actor {
            account_id: user.account_id,
            role,
            principal: Principal::User { user_id: user.user_id, email: user.email },
            source_ip: None,
            acting_from: None,
        }
    }

    /// A second, unrelated root account with its own owner; returns the owner as an actor.
    pub async fn add_account(&self, owner_email: &str) -> Actor {
        let owner_id = UserId::generate();
        let account = Account {
            account_id: AccountId::generate(),
            name: "Another tenant".to_owned(),
            parent_account_id: None,
            owner_user_id: owner_id.clone(),
            date_created: OffsetDateTime::now_utc(),
        };
        let written = self.gatehouse.store().insert_account(&account, &Product::defaults()).await.unwrap();
        self.gatehouse.settle(written, OffsetDateTime::now_utc()).await;
        let owner = User {
            user_id: owner_id,
            account_id: account.account_id.clone(),
            email: Email::parse(owner_email).unwrap(),
            role: Role::Owner,
            date_created: OffsetDateTime::now_utc(),
        };
        self.gatehouse.store().insert_user(&owner, "not-a-usable-hash").await.unwrap();
        Actor {
            account_id: owner.account_id,
            role: Role::Owner,
            principal: Principal::User { user_id: owner.user_id, email: owner.email },
            source_ip: None,
            acting_from: None,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A new, empty database on the PostgreSQL server named by `GATEHOUSE_TEST_POSTGRES_URL`, if set.
pub async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    let server = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty())?;
    let name = format!("gh_test_{}", UserId::generate().as_str().to_lowercase().replace(['-', '_'], ""));
    let mut connection = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|error| panic!("GATEHOUSE_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {error}"));
    sqlx::query(&format!("create database {name}")).execute(&mut connection).await.unwrap();
    let (base, _) = server.rsplit_once('/').expect("a postgres:// URL with a database");
    Some(format!("{base}/{name}"))
}

/// The decoded (unverified) header and claims of a JWT, to assert on what a token carries.
pub fn decode_jwt(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    let claims = URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap();
    (serde_json::from_slice(&header).unwrap(), serde_json::from_slice(&claims).unwrap())
}

/// Asserts a `/v1` error body in file 001's format and returns it.
pub async fn assert_api_error(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["code"].is_i64(), "code is an integer: {body}");
    assert!(body["message"].is_string(), "message is a string: {body}");
    assert!(body["info"].is_string(), "info is a string: {body}");
    body
}

async fn session_token(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK, "login failed");
    let body: Value = response.json().await.unwrap();
    body["session_token"].as_str().unwrap().to_owned()
}

/// An answer whole: status, headers sorted, and body, for showing that two refusals cannot be
/// told apart. `Date` and `X-Request-Id` differ for every answer and tell nothing of the
/// request; the id is only checked to be there.
pub async fn whole_answer(response: Response) -> (StatusCode, Vec<(String, String)>, String) {
    assert!(response.headers().contains_key("x-request-id"), "every answer names its request");
    let mut headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date" && *name != "x-request-id")
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (response.status(), headers, response.text().await.unwrap())
}
