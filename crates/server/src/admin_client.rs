//! A client of a running server's management API (`/v1/clients`, `/v1/projects`), for
//! `gatehouse clients` and `gatehouse projects`. It speaks only the public HTTP contract (DESIGN.md "Management API"), exactly as any other
//! program would, and shares no code with the server's HTTP layer.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, ETAG, HeaderValue, IF_MATCH};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

const TOKEN_PATH: &[&str] = &["api-services", "v1", "auth", "token"];
const REVOKE_PATH: &[&str] = &["api-services", "v1", "auth", "revoke"];

/// How the CLI proves who it is.
pub enum Credentials {
    /// An access token or a `gss_` user session token, sent as is.
    Bearer(String),
    /// A client id and secret, exchanged for an access token first (RFC 6749 §4.4).
    Client { client_id: String, client_secret: String },
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Something the caller gave (URL, id) that cannot make a request.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// A `/v1` error body's `message` (file 001's `{"status","code","message","info"}`).
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
    /// RFC 6749 §5.2's error body from the token endpoint.
    #[error("the token endpoint refused the client credentials: {description} ({error}, HTTP {status})")]
    TokenRefused { status: u16, error: String, description: String },
    #[error("the server failed: {message} (HTTP {status})")]
    ServerFailed { status: u16, message: String },
    #[error("unexpected response from {url}: {reason}")]
    Unexpected { url: String, reason: String },
}

/// A successful response: the body exactly as the server sent it (for `--json`) and decoded.
pub struct Reply<T> {
    pub body: String,
    pub value: T,
    pub etag: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Wire types: what the CLI sends and what it reads back. Unknown response fields are ignored so
// a newer server keeps working; `--json` prints the body untouched anyway.

#[derive(Deserialize)]
pub struct ClientView {
    pub client_id: String,
    pub account_id: String,
    pub name: String,
    pub client_owner: String,
    pub client_type: String,
    pub locked: Option<bool>,
    pub date_created: String,
    #[serde(default)]
    pub description: String,
    pub enabled: bool,
    pub scopes: ScopesView,
    pub token_expiry_seconds: u32,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    pub rate_limit: Option<RateLimit>,
    pub date_updated: String,
    #[serde(default)]
    pub secret_expires_at: Option<String>,
    /// `None`: in no project, so every developer of the account sees it.
    #[serde(default)]
    pub project_id: Option<String>,
}

#[derive(Clone, Deserialize)]
pub struct ScopesView {
    #[serde(default)]
    pub global_resources: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct RateLimit {
    pub requests_per_second: u32,
    pub burst: u32,
}

#[derive(Deserialize)]
pub struct ClientEnvelope {
    pub client: ClientView,
}

#[derive(Deserialize)]
pub struct ClientPage {
    pub meta: PageMeta,
    pub clients: Vec<ClientView>,
}

#[derive(Deserialize)]
pub struct PageMeta {
    pub count: u64,
    pub page_number: u32,
    pub page_size: u32,
    pub next_page_url: Option<String>,
}

/// File 001's `201CreateClient`; the only body besides `RenewedKey` that holds a secret.
#[derive(Deserialize)]
pub struct CreatedClient {
    pub message: String,
    pub client_id: String,
    pub client_secret: String,
    pub client_type: String,
    pub account_id: String,
    pub name: String,
    pub client_owner: String,
}

#[derive(Deserialize)]
pub struct RenewedKey {
    pub client_id: String,
    pub client_secret: String,
    pub message: String,
}

/// `POST /v1/clients/{id}/rotate-secret`'s answer, which holds the new secret.
#[derive(Deserialize)]
pub struct RotatedSecret {
    pub client_id: String,
    pub client_secret: String,
    pub secret_id: String,
    pub previous_secret_expires_at: Option<String>,
    pub message: String,
}

/// One of a client's secrets as listed: never its value.
#[derive(Deserialize)]
pub struct SecretView {
    pub secret_id: String,
    pub prefix: Option<String>,
    pub current: bool,
    pub date_created: String,
    pub expires_at: Option<String>,
    pub expired: bool,
    pub expires_soon: bool,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
}

#[derive(Deserialize)]
pub struct SecretList {
    pub secrets: Vec<SecretView>,
}

#[derive(Default, Serialize)]
pub struct Rotation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<String>,
}

#[derive(Default, Serialize)]
pub struct ScopesBody {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub global_resources: Vec<String>,
    pub products: Vec<String>,
}

/// `POST /v1/clients`.
#[derive(Serialize)]
pub struct NewClient {
    pub name: String,
    pub locked: bool,
    pub scopes: ScopesBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expiry_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
}

/// `PATCH /v1/clients/{id}`: only the fields that are set are sent, so the rest stay as they are.
#[derive(Default, Serialize)]
pub struct ClientPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<ScopesBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expiry_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    /// `Some(None)` sends `null`: no rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Option<RateLimit>>,
    /// `Some(None)` sends `null`: out of its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Option<String>>,
}

/// A project (seed file 002): among developers, only its members see its clients.
#[derive(Deserialize)]
pub struct ProjectView {
    pub project_id: String,
    pub account_id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Sorted by email.
    #[serde(default)]
    pub members: Vec<MemberView>,
    pub date_created: String,
    pub date_updated: String,
}

#[derive(Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub email: String,
}

#[derive(Deserialize)]
pub struct ProjectEnvelope {
    pub project: ProjectView,
}

#[derive(Deserialize)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

/// `POST /v1/projects`.
#[derive(Serialize)]
pub struct NewProject {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A child account's, for an owner or admin above it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// `PATCH /v1/projects/{id}`: only the fields that are set are sent.
#[derive(Default, Serialize)]
pub struct ProjectPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize)]
struct ApiErrorBody {
    message: String,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

// ---------------------------------------------------------------------------------------------

/// A connection to one server, authenticated.
pub struct AdminClient {
    http: reqwest::Client,
    base: Url,
    token: String,
    /// Set when the token was minted here, so `finish` can revoke it.
    minted_by: Option<(String, String)>,
}

impl AdminClient {
    /// Checks `base_url` and, for client credentials, mints an access token. Plain `http://` is
    /// refused for a host other than loopback unless `allow_insecure_http`: it would send the
    /// secret and the token in cleartext.
    pub async fn connect(
        base_url: &str,
        credentials: Credentials,
        allow_insecure_http: bool,
    ) -> Result<Self, AdminError> {
        let base = parse_base_url(base_url, allow_insecure_http)?;
        // reqwest is built without a provider of its own (that would be ring); aws-lc-rs is the
        // one the workspace already carries. Err only means a provider is installed already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("gatehouse-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // The API never redirects; following one could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            // Trust the system's roots (rustls-native-certs; `SSL_CERT_FILE`/`SSL_CERT_DIR` override).
            .tls_built_in_native_certs(true)
            .https_only(base.scheme() == "https")
            .build()
            .map_err(|error| AdminError::Invalid(format!("cannot set up the HTTP client: {error}")))?;
        let (token, minted_by) = match credentials {
            Credentials::Bearer(token) => (token, None),
            Credentials::Client { client_id, client_secret } => {
                let token = mint_token(&http, &base, &client_id, &client_secret).await?;
                (token, Some((client_id, client_secret)))
            }
        };
        Ok(Self { http, base, token, minted_by })
    }

    /// Revokes a token minted by `connect` (RFC 7009), so each command leaves no live token
    /// behind to count against the client's cap of live tokens (seed rule 11). Best effort: the
    /// command itself has already succeeded or failed, and a token that cannot be revoked (its
    /// client was just renewed or deleted) is already refused.
    pub async fn finish(self) {
        if let Some((client_id, client_secret)) = &self.minted_by {
            let url = endpoint(&self.base, REVOKE_PATH);
            let _ = basic_auth(self.http.post(url), client_id, client_secret)
                .form(&[("token", self.token.as_str()), ("token_type_hint", "access_token")])
                .send()
                .await;
        }
    }

    pub async fn list_clients(
        &self,
        page_size: u32,
        page_number: u32,
        client_type: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<Reply<ClientPage>, AdminError> {
        let mut url = endpoint(&self.base, &["v1", "clients"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("page_size", &page_size.to_string());
            query.append_pair("page_number", &page_number.to_string());
            if let Some(client_type) = client_type {
                query.append_pair("client_type", client_type);
            }
            if let Some(project_id) = project_id {
                query.append_pair("project_id", project_id);
            }
        }
        self.json(self.request(Method::GET, url)).await
    }

    pub async fn create_client(&self, client: &NewClient) -> Result<Reply<CreatedClient>, AdminError> {
        let url = endpoint(&self.base, &["v1", "clients"]);
        self.json(self.request(Method::POST, url).json(client)).await
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Reply<ClientEnvelope>, AdminError> {
        let url = client_endpoint(&self.base, client_id, None)?;
        self.json(self.request(Method::GET, url)).await
    }

    /// With `if_match` (an `ETag` from `get_client`), the server refuses with 412 when the client
    /// changed in between, so a read-modify-write never overwrites someone else's edit.
    pub async fn update_client(
        &self,
        client_id: &str,
        patch: &ClientPatch,
        if_match: Option<&str>,
    ) -> Result<Reply<ClientEnvelope>, AdminError> {
        let url = client_endpoint(&self.base, client_id, None)?;
        let mut request = self.request(Method::PATCH, url).json(patch);
        if let Some(tag) = if_match.and_then(|tag| HeaderValue::from_str(tag).ok()) {
            request = request.header(IF_MATCH, tag);
        }
        self.json(request).await
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        let url = client_endpoint(&self.base, client_id, None)?;
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }

    pub async fn renew_key(&self, client_id: &str) -> Result<Reply<RenewedKey>, AdminError> {
        let url = client_endpoint(&self.base, client_id, Some("renew-key"))?;
        self.json(self.request(Method::POST, url)).await
    }

    pub async fn client_secrets(&self, client_id: &str) -> Result<Reply<SecretList>, AdminError> {
        let url = client_endpoint(&self.base, client_id, Some("secrets"))?;
        self.json(self.request(Method::GET, url)).await
    }

    pub async fn rotate_secret(
        &self,
        client_id: &str,
        rotation: &Rotation,
    ) -> Result<Reply<RotatedSecret>, AdminError> {
        let url = client_endpoint(&self.base, client_id, Some("rotate-secret"))?;
        self.json(self.request(Method::POST, url).json(rotation)).await
    }

    pub async fn delete_secret(&self, client_id: &str, secret_id: &str, revoke_tokens: bool) -> Result<(), AdminError> {
        let mut url = client_endpoint(&self.base, client_id, Some("secrets"))?;
        push_segments(&mut url, &[path_id(secret_id, "secret id")?]);
        url.query_pairs_mut().append_pair("revoke_tokens", if revoke_tokens { "true" } else { "false" });
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }

    pub async fn transfer_ownership(
        &self,
        client_id: &str,
        client_owner: &str,
    ) -> Result<Reply<ClientEnvelope>, AdminError> {
        let url = client_endpoint(&self.base, client_id, Some("transfer-ownership"))?;
        let body = serde_json::json!({ "client_owner": client_owner });
        self.json(self.request(Method::POST, url).json(&body)).await
    }

    /// With `account_id`, a child account's projects.
    pub async fn list_projects(&self, account_id: Option<&str>) -> Result<Reply<ProjectList>, AdminError> {
        let mut url = endpoint(&self.base, &["v1", "projects"]);
        if let Some(account_id) = account_id {
            url.query_pairs_mut().append_pair("account_id", account_id);
        }
        self.json(self.request(Method::GET, url)).await
    }

    pub async fn create_project(&self, project: &NewProject) -> Result<Reply<ProjectEnvelope>, AdminError> {
        let url = endpoint(&self.base, &["v1", "projects"]);
        self.json(self.request(Method::POST, url).json(project)).await
    }

    pub async fn get_project(&self, project_id: &str) -> Result<Reply<ProjectEnvelope>, AdminError> {
        let url = project_endpoint(&self.base, project_id, None)?;
        self.json(self.request(Method::GET, url)).await
    }

    pub async fn update_project(
        &self,
        project_id: &str,
        patch: &ProjectPatch,
    ) -> Result<Reply<ProjectEnvelope>, AdminError> {
        let url = project_endpoint(&self.base, project_id, None)?;
        self.json(self.request(Method::PATCH, url).json(patch)).await
    }

    /// Refused (409) while clients are in the project.
    pub async fn delete_project(&self, project_id: &str) -> Result<(), AdminError> {
        let url = project_endpoint(&self.base, project_id, None)?;
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }

    pub async fn add_project_member(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<Reply<ProjectEnvelope>, AdminError> {
        let url = project_endpoint(&self.base, project_id, Some(user_id))?;
        self.json(self.request(Method::PUT, url)).await
    }

    pub async fn remove_project_member(&self, project_id: &str, user_id: &str) -> Result<(), AdminError> {
        let url = project_endpoint(&self.base, project_id, Some(user_id))?;
        self.send(self.request(Method::DELETE, url)).await.map(drop)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        // `bearer_auth` marks the header sensitive, so it never shows in a Debug of the request.
        self.http.request(method, url).bearer_auth(&self.token).header(ACCEPT, "application/json")
    }

    async fn json<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<Reply<T>, AdminError> {
        let (url, etag, body) = self.send(request).await?;
        let value = serde_json::from_str(&body).map_err(|error| AdminError::Unexpected {
            url,
            reason: format!("the body is not what the API returns: {error}"),
        })?;
        Ok(Reply { body, value, etag })
    }

    /// Sends, and turns any non-2xx answer into the server's own message.
    async fn send(&self, request: RequestBuilder) -> Result<(String, Option<String>, String), AdminError> {
        let response = request.send().await.map_err(|error| unreachable(&self.base, &error))?;
        let url = response.url().to_string();
        let status = response.status();
        let etag = response.headers().get(ETAG).and_then(|tag| tag.to_str().ok()).map(str::to_owned);
        let body = response.text().await.map_err(|error| unreachable(&self.base, &error))?;
        if status.is_success() {
            return Ok((url, etag, body));
        }
        let message = serde_json::from_str::<ApiErrorBody>(&body)
            .map(|error| error.message)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("error").to_owned());
        Err(refusal(status, url, message))
    }
}

/// RFC 6749 §4.4 with `client_secret_basic`; §2.3.1 has id and secret form-urlencoded before they
/// are joined, so a `:` or `+` in either survives.
async fn mint_token(
    http: &reqwest::Client,
    base: &Url,
    client_id: &str,
    client_secret: &str,
) -> Result<String, AdminError> {
    let url = endpoint(base, TOKEN_PATH);
    let response = basic_auth(http.post(url.clone()), client_id, client_secret)
        .header(ACCEPT, "application/json")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .map_err(|error| unreachable(base, &error))?;
    let status = response.status();
    let body = response.text().await.map_err(|error| unreachable(base, &error))?;
    if status.is_success() {
        return serde_json::from_str::<TokenResponse>(&body).map(|token| token.access_token).map_err(|_| {
            AdminError::Unexpected { url: url.to_string(), reason: "no access_token in the token response".to_owned() }
        });
    }
    match serde_json::from_str::<OAuthErrorBody>(&body) {
        Ok(error) if status.is_client_error() => Err(AdminError::TokenRefused {
            status: status.as_u16(),
            description: if error.error_description.is_empty() { error.error.clone() } else { error.error_description },
            error: error.error,
        }),
        _ => Err(refusal(status, url.to_string(), status.canonical_reason().unwrap_or("error").to_owned())),
    }
}

fn basic_auth(request: RequestBuilder, client_id: &str, client_secret: &str) -> RequestBuilder {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    request.basic_auth(encode(client_id), Some(encode(client_secret)))
}

fn refusal(status: StatusCode, url: String, message: String) -> AdminError {
    if status.is_client_error() {
        AdminError::Refused { status: status.as_u16(), message }
    } else if status.is_server_error() {
        AdminError::ServerFailed { status: status.as_u16(), message }
    } else {
        AdminError::Unexpected { url, reason: format!("HTTP {status}") }
    }
}

fn unreachable(base: &Url, error: &reqwest::Error) -> AdminError {
    // The error's own text repeats the URL; the cause is the useful part ("connection refused").
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    if error.is_timeout() {
        reason = "timed out".to_owned();
    } else if reason.contains("certificate") {
        reason.push_str(
            " (the server's TLS certificate is not trusted: add its CA to the system's trust roots, \
             or point SSL_CERT_FILE at a PEM file that holds it)",
        );
    }
    AdminError::Unreachable { url: base.to_string(), reason }
}

/// The server's base URL: `https`, or `http` to a loopback host (or anywhere with
/// `allow_insecure_http`), since plain HTTP carries the client secret and the bearer token in
/// cleartext. Messages never repeat the URL, which might carry a password.
fn parse_base_url(text: &str, allow_insecure_http: bool) -> Result<Url, AdminError> {
    let invalid = |why: &str| AdminError::Invalid(format!("--url (GATEHOUSE_URL): {why}"));
    let url = Url::parse(text).map_err(|error| invalid(&format!("not a URL: {error}")))?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("give only scheme, host, port and path; credentials go in --token or --client-id"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!(
            "unsupported scheme {}; use https:// (or http:// to this machine)",
            url.scheme()
        )));
    }
    let Some(host) = url.host_str().filter(|_| !url.cannot_be_a_base()) else {
        return Err(invalid("not a server address"));
    };
    if url.scheme() == "http" && !allow_insecure_http && !is_loopback(host) {
        return Err(invalid(
            "plain http:// would send the client secret and tokens in cleartext, so it is allowed only to \
             this machine (localhost, 127.0.0.0/8, ::1); use https://, or pass --allow-insecure-http \
             (GATEHOUSE_ALLOW_INSECURE_HTTP=true) if the network is trusted",
        ));
    }
    Ok(url)
}

/// `localhost`, 127.0.0.0/8 or `::1`. `host` is as `Url` serialises it: lower case, IPv4 in
/// dotted decimal (`127.1` is already `127.0.0.1`), IPv6 in brackets.
fn is_loopback(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

fn endpoint(base: &Url, path: &[&str]) -> Url {
    let mut url = base.clone();
    push_segments(&mut url, path);
    url
}

/// `/v1/clients/{id}[/{action}]`. The id is one percent-encoded segment, so it cannot climb out
/// of the route (`../users`) or add a query; `.` and `..`, which URL parsing resolves away
/// whatever their encoding, are refused.
fn client_endpoint(base: &Url, id: &str, action: Option<&str>) -> Result<Url, AdminError> {
    let mut url = endpoint(base, &["v1", "clients", path_id(id, "client id")?]);
    if let Some(action) = action {
        push_segments(&mut url, &[action]);
    }
    Ok(url)
}

/// `/v1/projects/{id}[/members/{user_id}]`, each id one segment as in `client_endpoint`.
fn project_endpoint(base: &Url, id: &str, member: Option<&str>) -> Result<Url, AdminError> {
    let mut url = endpoint(base, &["v1", "projects", path_id(id, "project id")?]);
    if let Some(user_id) = member {
        push_segments(&mut url, &["members", path_id(user_id, "user id")?]);
    }
    Ok(url)
}

/// `id` as a path segment: not empty, `.` or `..`, which URL parsing would resolve away.
fn path_id<'a>(id: &'a str, what: &str) -> Result<&'a str, AdminError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(AdminError::Invalid(format!("{id:?} is not a {what}")));
    }
    Ok(id)
}

fn push_segments(url: &mut Url, segments: &[&str]) {
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_inside_their_route_and_base_paths_are_kept() {
        let base = parse_base_url("http://127.0.0.1:8080", false).unwrap();
        assert_eq!(client_endpoint(&base, "abc", None).unwrap().as_str(), "http://127.0.0.1:8080/v1/clients/abc");
        assert_eq!(
            client_endpoint(&base, "../users?x=1", None).unwrap().as_str(),
            "http://127.0.0.1:8080/v1/clients/..%2Fusers%3Fx=1"
        );
        assert_eq!(
            client_endpoint(&base, "abc", Some("renew-key")).unwrap().as_str(),
            "http://127.0.0.1:8080/v1/clients/abc/renew-key"
        );
        assert!(client_endpoint(&base, "..", None).is_err(), "would name /v1 itself");
        assert!(client_endpoint(&base, ".", Some("renew-key")).is_err());
        assert_eq!(
            project_endpoint(&base, "prj_1", Some("../../clients")).unwrap().as_str(),
            "http://127.0.0.1:8080/v1/projects/prj_1/members/..%2F..%2Fclients"
        );
        assert!(project_endpoint(&base, "..", None).is_err());
        assert!(project_endpoint(&base, "prj_1", Some(".")).is_err());
        let prefixed = parse_base_url("https://gw.internal/gatehouse/", false).unwrap();
        assert_eq!(
            endpoint(&prefixed, TOKEN_PATH).as_str(),
            "https://gw.internal/gatehouse/api-services/v1/auth/token"
        );
    }

    #[test]
    fn base_urls_are_checked_before_any_request() {
        assert!(parse_base_url("127.0.0.1:8080", false).is_err());
        for text in ["ftp://127.0.0.1", "file:///tmp/x", "ws://127.0.0.1:8080"] {
            let error = parse_base_url(text, true).unwrap_err().to_string();
            assert!(error.contains("unsupported scheme"), "{text}: {error}");
        }
        for text in ["https://admin:hunter2@127.0.0.1", "http://admin:hunter2@127.0.0.1", "https://admin@example.com"] {
            let error = parse_base_url(text, true).unwrap_err().to_string();
            assert!(error.contains("credentials") && !error.contains("hunter2"), "{text}: {error}");
        }
    }

    #[test]
    fn https_goes_anywhere_and_plain_http_only_to_loopback_unless_allowed() {
        for text in ["https://auth.example.com", "https://10.0.0.5:8443/gatehouse/", "https://[2001:db8::1]"] {
            assert!(parse_base_url(text, false).is_ok(), "{text}");
        }
        for text in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://[::1]:8080/",
        ] {
            assert!(parse_base_url(text, false).is_ok(), "{text}");
        }
        for text in [
            "http://auth.example.com",
            "http://10.0.0.5:8080",
            "http://0.0.0.0:8080",
            "http://128.0.0.1",
            "http://[2001:db8::1]",
            "http://localhost.example.com",
            "http://[::ffff:10.0.0.1]",
        ] {
            let error = parse_base_url(text, false).unwrap_err().to_string();
            assert!(error.contains("cleartext") && error.contains("--allow-insecure-http"), "{text}: {error}");
            assert!(parse_base_url(text, true).is_ok(), "{text} with --allow-insecure-http");
        }
    }

    #[test]
    fn a_patch_sends_only_what_is_set() {
        let patch = ClientPatch {
            enabled: Some(false),
            rate_limit: Some(None),
            project_id: Some(None),
            ..ClientPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            serde_json::json!({"enabled": false, "rate_limit": null, "project_id": null})
        );
    }
}
