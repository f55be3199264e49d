//! The API client pages: list, create (the secret shown once), view, edit, enable and disable,
//! lock and unlock, renew the key, transfer ownership, delete (rotation is in `secrets`). Each action is the same domain
//! operation `/v1/clients` calls, so the rules (seed rules 1-10) hold here unchanged.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gatehouse_domain::account::{Email, Product, User};
use gatehouse_domain::client::{
    AllowedIps, Client, ClientName, ClientType, Description, GlobalResource, RateLimit, TokenExpiry,
};
use gatehouse_domain::clients::{ClientPatch, NewClient, RequestedScopes};
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::{ClientId, ProjectId};
use gatehouse_domain::project::{Project, ProjectScope};
use gatehouse_domain::secret::{ClientSecret, EXPIRES_SOON};
use gatehouse_domain::store::{AuditFilter, ClientFilter, PageRequest};
use gatehouse_edge::paging;
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::forms::{FormFields, entries};
use super::logo::logo_url;
use super::pages::{csrf_field, form_error, layout, page_request, pager, when};
use super::shown::{ShownField, ShownOnce};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

/// Clients per page of the list.
const PAGE_SIZE: u32 = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients", get(list))
        .route("/clients/new", get(new_form).post(create))
        .route("/clients/{client_id}", get(show))
        .route("/clients/{client_id}/edit", get(edit_form).post(update))
        .route("/clients/{client_id}/state", axum::routing::post(change_state))
        .route("/clients/{client_id}/renew-key", get(renew_confirm).post(renew_key))
        .route("/clients/{client_id}/transfer-ownership", axum::routing::post(transfer_ownership))
        .route("/clients/{client_id}/delete", get(delete_confirm).post(delete))
}

pub(super) fn client_url(client_id: &ClientId) -> String {
    format!("/clients/{client_id}")
}

// ---------------------------------------------------------------------------------------------
// The list

#[derive(Deserialize)]
struct ListParams {
    /// Kept as text: see `page_request`.
    #[serde(default)]
    page: Option<String>,
    /// A fixed notice after a redirect: only known codes are shown, nothing from the URL is
    /// echoed.
    #[serde(default)]
    notice: Option<String>,
    /// `admin` or `standard`; anything else shows every type.
    #[serde(default, rename = "type")]
    client_type: Option<String>,
    /// `enabled` or `disabled`; anything else shows both.
    #[serde(default)]
    state: Option<String>,
    /// Text the name holds.
    #[serde(default)]
    q: Option<String>,
    /// A project's id: only its clients.
    #[serde(default)]
    project: Option<String>,
}

impl ListParams {
    /// What the list shows, read leniently: a filter the portal's own form could not have sent
    /// is ignored rather than refused. The search text is cut to what `/v1` takes.
    fn filter(&self) -> ClientFilter {
        let client_type = self.client_type.as_deref().and_then(|value| value.parse::<ClientType>().ok());
        let enabled = match self.state.as_deref() {
            Some("enabled") => Some(true),
            Some("disabled") => Some(false),
            _ => None,
        };
        let name_contains = self
            .q
            .as_deref()
            .map(|text| text.trim().chars().filter(|c| !c.is_control()).take(paging::MAX_VALUE_LEN).collect::<String>())
            .filter(|text| !text.is_empty());
        let project_id = self.project.as_deref().filter(|id| !id.is_empty()).map(ProjectId::from_string);
        ClientFilter { client_type, enabled, name_contains, project_id }
    }
}

/// The list's own address for `filter`, which the pager's links keep.
fn list_url(filter: &ClientFilter) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(client_type) = filter.client_type {
        query.append_pair("type", client_type.as_str());
    }
    if let Some(enabled) = filter.enabled {
        query.append_pair("state", if enabled { "enabled" } else { "disabled" });
    }
    if let Some(text) = &filter.name_contains {
        query.append_pair("q", text);
    }
    if let Some(project_id) = &filter.project_id {
        query.append_pair("project", project_id.as_str());
    }
    let query = query.finish();
    if query.is_empty() { "/clients".to_owned() } else { format!("/clients?{query}") }
}

async fn list(
    State(state): State<AppState>,
    session: PortalSession,
    Query(params): Query<ListParams>,
) -> Result<Response, PortalError> {
    let page = page_request(params.page.as_deref(), PAGE_SIZE);
    let filter = params.filter();
    let now = state.clock.now();
    let (clients, count) = state.gatehouse.list_clients(&session.actor, None, &filter, page, now).await?;
    let projects = state.gatehouse.list_projects(&session.actor, None, now).await?;
    let project_name = |client: &Client| -> Option<String> {
        let id = client.project_id.as_ref()?;
        let project = projects.iter().find(|project| &project.project_id == id);
        Some(project.map_or_else(|| id.to_string(), |project| project.name.as_str().to_owned()))
    };
    let chosen = |selected: bool| selected.then_some("selected");
    let notice = match params.notice.as_deref() {
        Some("deleted") => Some("The client was deleted. Its credentials and tokens no longer work."),
        _ => None,
    };
    let body = html! {
        div.heading {
            h1 { "API clients" }
            a.button href="/clients/new" { "New client" }
        }
        @if let Some(notice) = notice { p.notice role="status" { (notice) } }
        form.filters method="get" action="/clients" role="search" {
            label for="q" { "Name" }
            input #q type="search" name="q" value=[filter.name_contains.as_deref()] maxlength="200";
            label for="type" { "Type" }
            select #type name="type" {
                option value="" { "any" }
                option value="admin" selected=[chosen(filter.client_type == Some(ClientType::Admin))] { "admin" }
                option value="standard" selected=[chosen(filter.client_type == Some(ClientType::Standard))] { "standard" }
            }
            label for="state" { "State" }
            select #state name="state" {
                option value="" { "any" }
                option value="enabled" selected=[chosen(filter.enabled == Some(true))] { "enabled" }
                option value="disabled" selected=[chosen(filter.enabled == Some(false))] { "disabled" }
            }
            @if !projects.is_empty() {
                label for="project" { "Project" }
                select #project name="project" {
                    option value="" { "any" }
                    @for project in &projects {
                        option value=(project.project_id) selected=[chosen(filter.project_id.as_ref() == Some(&project.project_id))] { (project.name.as_str()) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if clients.is_empty() {
            p.muted { "No clients on this page." }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Client ID" } th { "Type" } th { "State" } th { "Project" } th { "Owner" } th { "Created" } } }
                tbody {
                    @for client in &clients {
                        tr {
                            td {
                                @if client.has_logo { img.logo src=(logo_url(&client.client_id)) alt="" height="20"; " " }
                                a href=(client_url(&client.client_id)) { (client.name.as_str()) }
                            }
                            td { code { (client.client_id) } }
                            td { (client.client_type.as_str()) }
                            td { (state_badges(client, now)) }
                            td { @if let Some(name) = project_name(client) { (name) } @else { span.muted { "none" } } }
                            td { (client.client_owner) }
                            td { (when(client.date_created)) }
                        }
                    }
                }
            }
        }
        (pager(&list_url(&filter), page, count, "clients", "Previous", "Next"))
    };
    Ok(layout("API clients", Some(&session), body).into_response())
}

fn state_badges(client: &Client, now: OffsetDateTime) -> Markup {
    let expiry = client.secret_expires_at;
    html! {
        @if client.enabled { span.badge.ok { "enabled" } } @else { span.badge.off { "disabled" } }
        @if client.is_locked() { " " span.badge.locked { "locked" } }
        @if expiry.is_some_and(|at| at <= now) { " " span.badge.off { "secret expired" } }
        @else if expiry.is_some_and(|at| at - now <= EXPIRES_SOON) { " " span.badge.locked { "secret expires soon" } }
    }
}

// ---------------------------------------------------------------------------------------------
// The create and edit form

/// What the form shows: a client's current values, or what was just submitted when it is shown
/// again with an error.
struct FormValues {
    name: String,
    description: String,
    client_type: ClientType,
    products: BTreeSet<String>,
    global_resources: BTreeSet<GlobalResource>,
    token_expiry_seconds: String,
    allowed_ips: String,
    requests_per_second: String,
    burst: String,
    locked: bool,
    secret_expires_on: String,
    /// A project's id, or empty for none.
    project_id: String,
}

impl FormValues {
    fn blank() -> Self {
        Self {
            name: String::new(),
            description: String::new(),
            client_type: ClientType::Standard,
            products: BTreeSet::new(),
            global_resources: BTreeSet::new(),
            token_expiry_seconds: TokenExpiry::DEFAULT.seconds().to_string(),
            allowed_ips: String::new(),
            requests_per_second: String::new(),
            burst: String::new(),
            locked: false,
            secret_expires_on: String::new(),
            project_id: String::new(),
        }
    }

    fn of(client: &Client) -> Self {
        Self {
            name: client.name.as_str().to_owned(),
            description: client.description.as_str().to_owned(),
            client_type: client.client_type,
            products: client.scopes.products.clone(),
            global_resources: client.scopes.global_resources.clone(),
            token_expiry_seconds: client.token_expiry.seconds().to_string(),
            allowed_ips: client.allowed_ips.to_strings().join("\n"),
            requests_per_second: client
                .rate_limit
                .map(|limit| limit.requests_per_second.to_string())
                .unwrap_or_default(),
            burst: client.rate_limit.map(|limit| limit.burst.to_string()).unwrap_or_default(),
            locked: client.is_locked(),
            secret_expires_on: String::new(),
            project_id: client.project_id.as_ref().map(ProjectId::to_string).unwrap_or_default(),
        }
    }

    fn submitted(form: &FormFields) -> Self {
        Self {
            name: form.text("name").to_owned(),
            description: form.text("description").to_owned(),
            client_type: form.text("client_type").parse().unwrap_or(ClientType::Standard),
            products: form.all("products").into_iter().collect(),
            global_resources: form
                .all("global_resources")
                .iter()
                .filter_map(|name| GlobalResource::parse(name))
                .collect(),
            token_expiry_seconds: form.text("token_expiry_seconds").to_owned(),
            allowed_ips: form.text("allowed_ips").to_owned(),
            requests_per_second: form.text("requests_per_second").to_owned(),
            burst: form.text("burst").to_owned(),
            locked: form.checked("locked"),
            secret_expires_on: form.text("secret_expires_on").to_owned(),
            project_id: form.text("project_id").to_owned(),
        }
    }
}

/// The parts of a form every client has, parsed at the edge as `/v1` parses its JSON.
struct ParsedFields {
    name: ClientName,
    description: Description,
    client_type: Option<ClientType>,
    scopes: RequestedScopes,
    token_expiry: Option<TokenExpiry>,
    allowed_ips: AllowedIps,
    rate_limit: Option<RateLimit>,
    /// `None` when the form had no project choice (the account has no project the person may
    /// use); `Some(None)` for "none".
    project_id: Option<Option<ProjectId>>,
}

fn parse_fields(form: &FormFields, may_grant_admin: bool) -> Result<ParsedFields, ValidationError> {
    let client_type = form.get("client_type").map(str::parse::<ClientType>).transpose()?;
    let mut global_resources = Vec::new();
    for name in form.all("global_resources") {
        let resource = GlobalResource::parse(&name)
            .ok_or_else(|| ValidationError::new("global_resources", "holds an unknown global resource"))?;
        global_resources.push(resource);
    }
    // A form without the admin fields (a developer's) leaves them as they are by omission.
    if !may_grant_admin && !global_resources.is_empty() {
        return Err(ValidationError::new("global_resources", "only owners and admins grant global resources"));
    }
    let expiry = form.text("token_expiry_seconds").trim();
    let token_expiry = if expiry.is_empty() {
        None
    } else {
        let seconds = expiry
            .parse::<i64>()
            .map_err(|_| ValidationError::new("token_expiry_seconds", "must be a whole number"))?;
        Some(TokenExpiry::parse(seconds)?)
    };
    Ok(ParsedFields {
        name: ClientName::parse(form.text("name"))?,
        description: Description::parse(form.text("description"))?,
        client_type,
        scopes: RequestedScopes { global_resources, products: form.all("products") },
        token_expiry,
        allowed_ips: AllowedIps::parse(&entries(form.text("allowed_ips")))?,
        rate_limit: parse_rate_limit(form.text("requests_per_second"), form.text("burst"))?,
        project_id: form.get("project_id").map(|id| (!id.is_empty()).then(|| ProjectId::from_string(id))),
    })
}

/// Both blank: no limit (seed rule 12's `null`).
pub(super) fn parse_rate_limit(requests_per_second: &str, burst: &str) -> Result<Option<RateLimit>, ValidationError> {
    let (requests_per_second, burst) = (requests_per_second.trim(), burst.trim());
    if requests_per_second.is_empty() && burst.is_empty() {
        return Ok(None);
    }
    let number = |field: &str, value: &str| {
        value.parse::<i64>().map_err(|_| ValidationError::new(field, "must be a whole number between 1 and 1000000"))
    };
    let requests_per_second = number("rate_limit.requests_per_second", requests_per_second)?;
    let burst = number("rate_limit.burst", burst)?;
    RateLimit::parse(requests_per_second, burst).map(Some)
}

/// The form's fields, shared by create and edit.
fn client_fields(values: &FormValues, choices: &Choices, may_grant_admin: bool, creating: bool) -> Markup {
    let catalogue = &choices.products;
    html! {
        label for="name" { "Name" }
        input #name type="text" name="name" value=(values.name) maxlength=(ClientName::MAX_CHARS) required;
        label for="description" { "Description" }
        textarea #description name="description" rows="2" maxlength=(Description::MAX_CHARS) { (values.description) }
        @if !creating && !values.project_id.is_empty() && !choices.moves_clients {
            // A developer does not move a client out of its project: the field is left out, so
            // the edit keeps it where it is.
            p {
                "Project: "
                (choices.projects.iter().find(|p| p.project_id.as_str() == values.project_id).map_or(values.project_id.as_str(), |p| p.name.as_str()))
                span.muted { " (owners and admins move clients between projects)" }
            }
        } @else if !choices.projects.is_empty() {
            label for="project_id" { "Project " span.muted { "(among developers, only its members see the client)" } }
            select #project_id name="project_id" {
                option value="" { "none: every developer of the account sees it" }
                @for project in &choices.projects {
                    option value=(project.project_id) selected[values.project_id == project.project_id.as_str()] { (project.name.as_str()) }
                }
            }
        }
        @if may_grant_admin {
            label for="client_type" { "Type" }
            select #client_type name="client_type" {
                option value="standard" selected[values.client_type == ClientType::Standard] { "standard: products only" }
                option value="admin" selected[values.client_type == ClientType::Admin] { "admin: products and global resources" }
            }
        }
        fieldset {
            legend { "Products" }
            @if catalogue.is_empty() { p.muted { "The account's catalogue has no products." } }
            @for product in catalogue {
                label.check {
                    input type="checkbox" name="products" value=(product.name) checked[values.products.contains(&product.name)];
                    " " (product.name)
                    @if !product.description.is_empty() { span.muted { " · " (product.description) } }
                }
            }
        }
        @if may_grant_admin {
            fieldset {
                legend { "Global resources " span.muted { "(admin clients only)" } }
                @for resource in GlobalResource::ALL {
                    label.check {
                        input type="checkbox" name="global_resources" value=(resource.as_str())
                            checked[values.global_resources.contains(&resource)];
                        " " code { (resource.as_str()) }
                    }
                }
            }
        }
        label for="token_expiry_seconds" { "Token lifetime (seconds, " (TokenExpiry::MIN) " to " (TokenExpiry::MAX) ")" }
        input #token_expiry_seconds type="number" name="token_expiry_seconds" min=(TokenExpiry::MIN) max=(TokenExpiry::MAX)
            value=(values.token_expiry_seconds);
        label for="allowed_ips" { "Allowed addresses " span.muted { "(IPs or CIDR blocks, one per line; empty allows any)" } }
        textarea #allowed_ips name="allowed_ips" rows="3" { (values.allowed_ips) }
        fieldset.row {
            legend { "Rate limit " span.muted { "(empty for none)" } }
            label { "Requests per second " input type="number" name="requests_per_second" min="1" value=(values.requests_per_second); }
            label { "Burst " input type="number" name="burst" min="1" value=(values.burst); }
        }
        @if creating {
            label.check { input type="checkbox" name="locked" value="true" checked[values.locked]; " Locked: only the account owner, admins and the client owner may change it" }
            label for="secret_expires_on" { "Secret expires on " span.muted { "(optional, UTC; empty: never)" } }
            input #secret_expires_on type="date" name="secret_expires_on" value=(values.secret_expires_on);
        }
    }
}

/// What a client's form offers: the account's products, and the projects the person may put
/// the client in.
struct Choices {
    products: Vec<Product>,
    projects: Vec<Project>,
    /// Whether the person may move a client out of its project: owners and admins.
    moves_clients: bool,
}

async fn choices(state: &AppState, session: &PortalSession) -> Result<Choices, PortalError> {
    let now = state.clock.now();
    Ok(Choices {
        products: state.gatehouse.list_products(&session.actor, None, now).await?,
        projects: state.gatehouse.list_projects(&session.actor, None, now).await?,
        moves_clients: session.actor.project_scope() == ProjectScope::Every,
    })
}

fn may_grant_admin(session: &PortalSession) -> bool {
    session.actor.may_grant_admin().is_ok()
}

fn new_page(session: &PortalSession, choices: &Choices, values: &FormValues, error: Option<&str>) -> Markup {
    let body = html! {
        h1 { "New API client" }
        p.muted { "The client secret is shown once, on the next page. Gatehouse stores only its hash." }
        (form_error(error))
        form.stacked method="post" action="/clients/new" {
            (csrf_field(session))
            (client_fields(values, choices, may_grant_admin(session), true))
            button type="submit" { "Create client" }
        }
    };
    layout("New API client", Some(session), body)
}

async fn new_form(State(state): State<AppState>, session: PortalSession) -> Result<Response, PortalError> {
    let choices = choices(&state, &session).await?;
    Ok(new_page(&session, &choices, &FormValues::blank(), None).into_response())
}

async fn create(
    State(state): State<AppState>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let fields = parse_fields(&form, may_grant_admin(&session))?;
        let new = NewClient {
            account_id: None,
            name: fields.name,
            description: fields.description,
            locked: Some(form.checked("locked")),
            client_type: fields.client_type,
            scopes: fields.scopes,
            token_expiry: fields.token_expiry,
            allowed_ips: fields.allowed_ips,
            rate_limit: fields.rate_limit,
            secret_expires_at: super::secrets::start_of_day("secret_expires_at", form.text("secret_expires_on"))?,
            project_id: fields.project_id.flatten(),
        };
        Ok::<_, PortalError>(state.gatehouse.create_client(&session.actor, new, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok((client, secret)) => {
            session.show_once(&state, &shown_secret(&state, &client, &secret, "Client created", None)).await
        }
        Err(error) if error.status() == StatusCode::BAD_REQUEST || error.status() == StatusCode::FORBIDDEN => {
            let choices = choices(&state, &session).await?;
            let page = new_page(&session, &choices, &FormValues::submitted(&form), Some(error.message()));
            Ok((error.status(), page).into_response())
        }
        Err(error) => Err(error),
    }
}

/// The page that shows a client's new secret once (seed rule 1): after creation, renewal and
/// rotation, with `note` on what became of the previous one.
pub(super) fn shown_secret(
    state: &AppState,
    client: &Client,
    secret: &ClientSecret,
    title: &str,
    note: Option<String>,
) -> ShownOnce {
    let token_url = format!("{}/api-services/v1/auth/token", state.public_url.trim_end_matches('/'));
    ShownOnce {
        title: title.to_owned(),
        what: "client secret".to_owned(),
        kept_as: "a hash".to_owned(),
        note,
        fields: vec![
            ShownField::plain("Client ID", "client-id", client.client_id.to_string()),
            ShownField::copied("Client secret", "client-secret", secret.expose(), "client secret"),
        ],
        example: Some(format!(
            "curl -u '{}:<client secret>' -d grant_type=client_credentials {token_url}",
            client.client_id
        )),
        back_href: client_url(&client.client_id),
        back_text: format!("Go to {}", client.name.as_str()),
    }
}

// ---------------------------------------------------------------------------------------------
// One client

pub(super) async fn load(
    state: &AppState,
    session: &PortalSession,
    client_id: &ClientId,
) -> Result<Client, PortalError> {
    Ok(state.gatehouse.get_client(&session.actor, client_id, state.clock.now()).await?)
}

async fn show(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let client = load(&state, &session, &ClientId::from_string(client_id)).await?;
    let history = if session.actor.require(GlobalResource::Audit).is_ok() {
        let filter = AuditFilter { target_id: Some(client.client_id.to_string()), actor_id: None };
        let page = PageRequest { size: 20, number: 1 };
        state
            .gatehouse
            .audit_events(&session.actor, Some(client.account_id.clone()), &filter, page, state.clock.now())
            .await?
            .0
    } else {
        Vec::new()
    };
    let now = state.clock.now();
    let profiles = state.gatehouse.list_profiles(&session.actor, &client.client_id, now).await?;
    let secrets = state.gatehouse.client_secrets(&session.actor, &client.client_id, now).await?;
    let policies = state.gatehouse.list_policies(&session.actor, Some(client.account_id.clone()), now).await?;
    // Whoever sees the client sees its project: owners and admins every one, developers theirs.
    let project = match &client.project_id {
        Some(project_id) => Some(state.gatehouse.get_project(&session.actor, project_id, now).await?),
        None => None,
    };
    // Who the client may be handed to, for those who may see the account's users (asked only
    // of them: a refusal would go on the audit log); the others type an email.
    let new_owners: Option<Vec<User>> = match session.actor.require(GlobalResource::Users) {
        Ok(()) => Some(
            state
                .gatehouse
                .list_users(&session.actor, Some(client.account_id.clone()), now)
                .await?
                .into_iter()
                .filter(|user| user.user_id != client.client_owner_id)
                .filter(|user| client.client_type == ClientType::Standard || user.role.is_owner_or_admin())
                // A developer outside the client's project could not see the client they own.
                .filter(|user| {
                    user.role.is_owner_or_admin()
                        || project.as_ref().is_none_or(|project| project.has_member(&user.user_id))
                })
                .collect(),
        ),
        Err(_) => None,
    };
    let url = client_url(&client.client_id);
    let rate_limit = client.rate_limit.map_or_else(
        || "none".to_owned(),
        |limit| format!("{} requests/s, burst {}", limit.requests_per_second, limit.burst),
    );
    let body = html! {
        div.heading {
            h1 { (client.name.as_str()) " " (state_badges(&client, now)) }
            a.button href={ (url) "/edit" } { "Edit" }
        }
        @if !client.description.as_str().is_empty() { p { (client.description.as_str()) } }
        dl.fields {
            dt { "Client ID" } dd { code { (client.client_id) } }
            dt { "Type" } dd { (client.client_type.as_str()) }
            dt { "Owner" } dd { (client.client_owner) }
            dt { "Project" }
            dd {
                @match &project {
                    Some(project) => a href=(super::projects::project_url(&project.project_id)) { (project.name.as_str()) },
                    None => span.muted { "none: every developer of the account sees it" },
                }
            }
            dt { "Products" } dd { (list_or_none(client.scopes.products.iter().map(String::as_str))) }
            dt { "Global resources" } dd { (list_or_none(client.scopes.global_resources.iter().map(|r| r.as_str()))) }
            dt { "Token lifetime" } dd { (client.token_expiry.seconds()) " s" }
            dt { "Allowed addresses" } dd { (list_or_none(client.allowed_ips.to_strings().iter().map(String::as_str))) }
            dt { "Rate limit" } dd { (rate_limit) }
            dt { "Secret expires" } dd { (client.secret_expires_at.map_or_else(|| "never".to_owned(), when)) }
            dt { "Logo" }
            dd {
                @if client.has_logo {
                    img.logo src=(logo_url(&client.client_id)) alt={ (client.name.as_str()) " logo" } height="48";
                    form.inline method="post" action={ (logo_url(&client.client_id)) "/delete" } {
                        (csrf_field(&session))
                        " " button type="submit" { "Remove logo" }
                    }
                }
                form.inline method="post" action=(logo_url(&client.client_id)) enctype="multipart/form-data" {
                    (csrf_field(&session))
                    label for="logo" { "PNG or JPEG, at most 256 KiB " }
                    input #logo type="file" name="logo" accept="image/png,image/jpeg" required;
                    " " button type="submit" { "Upload logo" }
                }
            }
            dt { "Created" } dd { (when(client.date_created)) }
            dt { "Updated" } dd { (when(client.date_updated)) }
        }
        section.actions {
            h2 { "Actions" }
            form.inline method="post" action={ (url) "/state" } {
                (csrf_field(&session))
                @if client.enabled {
                    button name="action" value="disable" type="submit" { "Disable" }
                } @else {
                    button name="action" value="enable" type="submit" { "Enable" }
                }
                @if client.is_locked() {
                    button name="action" value="unlock" type="submit" { "Unlock" }
                } @else {
                    button name="action" value="lock" type="submit" { "Lock" }
                }
            }
            a.button href={ (url) "/renew-key" } { "Renew key…" }
            a.button.danger href={ (url) "/delete" } { "Delete…" }
            form.inline method="post" action={ (url) "/transfer-ownership" } {
                (csrf_field(&session))
                @match &new_owners {
                    Some(users) if users.is_empty() => {
                        span.muted { "No other user of the account can own this client." }
                    }
                    Some(users) => {
                        label for="client_owner" { "New owner " }
                        select #client_owner name="client_owner" required {
                            @for user in users {
                                option value=(user.email) { (user.email) " (" (user.role.as_str()) ")" }
                            }
                        }
                        " " button type="submit" { "Transfer ownership" }
                    }
                    None => {
                        label { "New owner " input type="email" name="client_owner" placeholder="user@example.com" required; }
                        " " button type="submit" { "Transfer ownership" }
                    }
                }
            }
            p.muted {
                "Disabling refuses the client's secret and every token it holds until it is enabled again. "
                "A locked client can be changed only by the account owner, admins and its owner."
            }
        }
        (super::secrets::section(&client, &secrets, now))
        (super::profiles::section(&session, &client, &profiles, &policies))
        @if !history.is_empty() {
            section {
                h2 { "Recent activity" }
                (audit_table(&history))
            }
        }
    };
    Ok(layout(client.name.as_str(), Some(&session), body).into_response())
}

pub(super) fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> Markup {
    let items: Vec<&str> = items.collect();
    html! {
        @if items.is_empty() { span.muted { "none" } }
        @for (index, item) in items.iter().enumerate() {
            @if index > 0 { ", " }
            code { (item) }
        }
    }
}

pub fn audit_table(events: &[gatehouse_domain::audit::AuditEvent]) -> Markup {
    html! {
        table.list {
            thead { tr { th { "When" } th { "Who" } th { "Action" } th { "Target" } th { "Outcome" } th { "From" } } }
            tbody {
                @for event in events {
                    tr {
                        td { (when(event.occurred_at)) }
                        td { (event.actor_email.as_deref().unwrap_or(&event.actor_id)) " " span.muted { "(" (event.actor_type) ")" } }
                        td { code { (event.action) } }
                        td { (event.target_type) " " code { (event.target_id) } }
                        td {
                            (event.outcome.as_str())
                            @if let Some(reason) = &event.reason { span.muted { " · " (reason) } }
                        }
                        td { (event.source_ip.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edit

fn edit_page(
    session: &PortalSession,
    client_id: &ClientId,
    version: i64,
    choices: &Choices,
    values: &FormValues,
    error: Option<&str>,
) -> Markup {
    let url = client_url(client_id);
    let body = html! {
        h1 { "Edit " (values.name) }
        p.muted { "Changes to scopes and token lifetime apply to tokens minted from now on; tokens already issued keep theirs until they expire." }
        (form_error(error))
        form.stacked method="post" action={ (url) "/edit" } {
            (csrf_field(session))
            input type="hidden" name="version" value=(version);
            (client_fields(values, choices, may_grant_admin(session), false))
            button type="submit" { "Save" }
            " " a href=(url) { "Cancel" }
        }
    };
    layout("Edit client", Some(session), body)
}

async fn edit_form(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let client = load(&state, &session, &ClientId::from_string(client_id)).await?;
    session.actor.may_change(&client)?;
    let choices = choices(&state, &session).await?;
    Ok(edit_page(&session, &client.client_id, client.version, &choices, &FormValues::of(&client), None).into_response())
}

async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    // The version the form was rendered from: a change made since then is not overwritten.
    let version = form.text("version").parse::<i64>().unwrap_or(-1);
    let result = async {
        let admin = may_grant_admin(&session);
        let fields = parse_fields(&form, admin)?;
        let scopes = if admin {
            fields.scopes
        } else {
            // The form had no global-resource boxes: keep whatever the client holds.
            let current = load(&state, &session, &client_id).await?;
            RequestedScopes {
                global_resources: current.scopes.global_resources.into_iter().collect(),
                products: fields.scopes.products,
            }
        };
        let patch = ClientPatch {
            name: Some(fields.name),
            description: Some(fields.description),
            client_type: fields.client_type,
            scopes: Some(scopes),
            // Blank leaves the lifetime as it is.
            token_expiry: fields.token_expiry,
            allowed_ips: Some(fields.allowed_ips),
            rate_limit: Some(fields.rate_limit),
            project_id: fields.project_id,
            ..ClientPatch::default()
        };
        Ok::<_, PortalError>(
            state.gatehouse.update_client(&session.actor, &client_id, patch, Some(version), state.clock.now()).await?,
        )
    }
    .await;
    match result {
        Ok(client) => Ok(Redirect::to(&client_url(&client.client_id)).into_response()),
        Err(error) if matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN) => {
            let choices = choices(&state, &session).await?;
            let page = edit_page(
                &session,
                &client_id,
                version,
                &choices,
                &FormValues::submitted(&form),
                Some(error.message()),
            );
            Ok((error.status(), page).into_response())
        }
        Err(error) if error.status() == StatusCode::PRECONDITION_FAILED => {
            let client = load(&state, &session, &client_id).await?;
            let choices = choices(&state, &session).await?;
            let message = "Someone changed this client while you were editing it. These are its current values; make your change again.";
            let page =
                edit_page(&session, &client_id, client.version, &choices, &FormValues::of(&client), Some(message));
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(error) => Err(error),
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

async fn change_state(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let patch = match form.text("action") {
        "enable" => ClientPatch { enabled: Some(true), ..ClientPatch::default() },
        "disable" => ClientPatch { enabled: Some(false), ..ClientPatch::default() },
        "lock" => ClientPatch { locked: Some(Some(true)), ..ClientPatch::default() },
        "unlock" => ClientPatch { locked: Some(Some(false)), ..ClientPatch::default() },
        _ => return Err(ValidationError::new("action", "must be enable, disable, lock or unlock").into()),
    };
    state.gatehouse.update_client(&session.actor, &client_id, patch, None, state.clock.now()).await?;
    Ok(Redirect::to(&client_url(&client_id)).into_response())
}

/// A page that asks before an action that cannot be undone.
fn confirm_page(
    session: &PortalSession,
    client: &Client,
    action: &str,
    title: &str,
    warning: &str,
    button: &str,
) -> Markup {
    let url = client_url(&client.client_id);
    let body = html! {
        h1 { (title) }
        p { "Client " strong { (client.name.as_str()) } " (" code { (client.client_id) } ")" }
        p.notice role="alert" { (warning) }
        form.inline method="post" action={ (url) "/" (action) } {
            (csrf_field(session))
            input type="hidden" name="version" value=(client.version);
            button.danger type="submit" { (button) }
        }
        " " a href=(url) { "Cancel" }
    };
    layout(title, Some(session), body)
}

async fn renew_confirm(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let client = load(&state, &session, &ClientId::from_string(client_id)).await?;
    let warning = "A new secret replaces the current one. The current secret and every token minted with it stop \
                   working at once, and this cannot be undone.";
    Ok(confirm_page(&session, &client, "renew-key", "Renew the key", warning, "Renew key").into_response())
}

async fn renew_key(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    // The form carries the version it was shown at: a second submission (a double click, or a
    // resubmitted form) finds the client renewed since and renews nothing.
    let current = load(&state, &session, &client_id).await?;
    form.shown_at(
        current.version,
        "The client changed since this page was shown (was its key just renewed?). Nothing was renewed.",
    )?;
    let (client, secret) = state.gatehouse.renew_key(&session.actor, &client_id, state.clock.now()).await?;
    let note = "The previous secret, and every token minted before, no longer work.".to_owned();
    session.show_once(&state, &shown_secret(&state, &client, &secret, "Key renewed", Some(note))).await
}

async fn transfer_ownership(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields: form }: PortalForm,
) -> Result<Response, PortalError> {
    let new_owner = Email::parse(form.text("client_owner"))
        .map_err(|_| ValidationError::new("client_owner", "must be an email address"))?;
    let client = state
        .gatehouse
        .transfer_ownership(&session.actor, &ClientId::from_string(client_id), &new_owner, state.clock.now())
        .await?;
    Ok(Redirect::to(&client_url(&client.client_id)).into_response())
}

async fn delete_confirm(
    State(state): State<AppState>,
    session: PortalSession,
    Path(client_id): Path<String>,
) -> Result<Response, PortalError> {
    let client = load(&state, &session, &ClientId::from_string(client_id)).await?;
    let warning = "The client, its access profiles, its credentials and every token it holds stop working at once, \
                   and this cannot be undone.";
    Ok(confirm_page(&session, &client, "delete", "Delete the client", warning, "Delete client").into_response())
}

async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    state.gatehouse.delete_client(&session.actor, &ClientId::from_string(client_id), state.clock.now()).await?;
    Ok(Redirect::to("/clients?notice=deleted").into_response())
}
