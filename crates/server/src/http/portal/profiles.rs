//! A client's access profiles (seed file 002) on the client's page: create one (its credential
//! shown once), deactivate or activate it, refresh its credential, delete it.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::client::{AllowedIps, Client, ClientName, RateLimit};
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::{ClientId, PolicyId, ProfileId};
use gatehouse_domain::policy::Policy;
use gatehouse_domain::profile::{AccessProfile, AuthMethod, NewProfile, ProfileCredential, ProfilePatch};
use gatehouse_domain::trust::TrustInput;
use gatehouse_domain::usage::UsageDay;
use maud::{Markup, html};

use super::clients::{client_url, list_or_none, load, parse_rate_limit};
use super::forms::{FormFields, entries};
use super::pages::{csrf_field, form_error, layout, when};
use super::shown::{ShownField, ShownOnce};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clients/{client_id}/profiles", post(create))
        .route("/clients/{client_id}/profiles/{profile_id}/edit", get(edit_form).post(update))
        .route("/clients/{client_id}/profiles/{profile_id}/state", post(change_state))
        .route("/clients/{client_id}/profiles/{profile_id}/refresh", post(refresh))
        .route("/clients/{client_id}/profiles/{profile_id}/delete", post(remove))
        .route("/clients/{client_id}/profiles/{profile_id}/usage", get(usage))
}

fn auth_method_label(method: AuthMethod) -> &'static str {
    match method {
        AuthMethod::ClientSecret => "client id and secret",
        AuthMethod::ApiKey => "API key",
        AuthMethod::Jwt => "consumer JWT (own keys)",
        AuthMethod::Oidc => "OpenID Connect tokens",
    }
}

/// The fields for a `jwt` profile's keys or an `oidc` profile's provider, filled from what was
/// submitted, else from the profile.
fn trust_fields(method: Option<AuthMethod>, profile: Option<&AccessProfile>, form: Option<&FormFields>) -> Markup {
    let stored = profile.and_then(|profile| profile.trust.as_ref()).map(|trust| trust.to_json());
    let value = |field: &str, stored_value: Option<String>| {
        form.map_or_else(|| stored_value.unwrap_or_default(), |form| form.text(field).to_owned())
    };
    let stored_text =
        |name: &str| stored.as_ref().and_then(|trust| trust.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
    let pretty = |value: Option<&serde_json::Value>| value.and_then(|v| serde_json::to_string_pretty(v).ok());
    let jwks = value("jwks", pretty(stored.as_ref().and_then(|trust| trust.get("jwks"))));
    let claims = value(
        "oidc_claims",
        pretty(
            stored
                .as_ref()
                .and_then(|trust| trust.get("claims"))
                .filter(|claims| claims.as_object().is_some_and(|c| !c.is_empty())),
        ),
    );
    let reusable = form.map_or_else(
        || stored.as_ref().and_then(|trust| trust.get("single_use")).and_then(|v| v.as_bool()) == Some(false),
        |form| form.get("oidc_reusable").is_some(),
    );
    html! {
        @if method.is_none() || method == Some(AuthMethod::Jwt) {
            label for="jwks" { "Consumer's public keys " span.muted { "(for a consumer JWT: a JWKS, {\"keys\": [...]}; Ed25519, P-256 or RSA of 2048 bits or more)" } }
            textarea #jwks name="jwks" rows="4" spellcheck="false" { (jwks) }
        }
        @if method.is_none() || method == Some(AuthMethod::Oidc) {
            fieldset {
                legend { "Identity provider " span.muted { "(for OpenID Connect tokens)" } }
                label for="oidc_issuer" { "Issuer " span.muted { "(the tokens' iss, exactly)" } }
                input #oidc_issuer type="text" name="oidc_issuer" value=(value("oidc_issuer", stored_text("issuer")));
                label for="oidc_jwks_uri" { "JWKS URL " span.muted { "(https)" } }
                input #oidc_jwks_uri type="url" name="oidc_jwks_uri" value=(value("oidc_jwks_uri", stored_text("jwks_uri")));
                label for="oidc_audience" { "Audience " span.muted { "(what aud must contain; empty: the profile id)" } }
                input #oidc_audience type="text" name="oidc_audience" value=(value("oidc_audience", stored_text("audience")));
                label for="oidc_claims" { "Required claims " span.muted { "(a JSON object, for example {\"repository\": \"acme/billing\"})" } }
                textarea #oidc_claims name="oidc_claims" rows="3" spellcheck="false" { (claims) }
                label.check { input type="checkbox" name="oidc_reusable" value="yes" checked[reusable]; " A token may be presented more than once until it expires (Kubernetes service-account tokens)" }
            }
        }
    }
}

/// The keys or provider the form describes, for a profile of `method`.
fn trust_input(method: AuthMethod, fields: &FormFields) -> Result<TrustInput, ValidationError> {
    let json = |field: &str, message: &str| -> Result<Option<serde_json::Value>, ValidationError> {
        let text = fields.text(field).trim();
        if text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(text).map(Some).map_err(|_| ValidationError::new(field, message))
    };
    Ok(match method {
        AuthMethod::Jwt => TrustInput {
            jwt: json("jwks", "must be a JSON key set: {\"keys\": [...]}")?
                .map(|jwks| serde_json::json!({ "jwks": jwks })),
            oidc: None,
        },
        AuthMethod::Oidc => {
            let audience = fields.text("oidc_audience").trim();
            TrustInput {
                jwt: None,
                oidc: Some(serde_json::json!({
                    "issuer": fields.text("oidc_issuer").trim(),
                    "jwks_uri": fields.text("oidc_jwks_uri").trim(),
                    "audience": (!audience.is_empty()).then_some(audience),
                    "claims": json("oidc_claims", "must be a JSON object of claim names to values")?,
                    "single_use": fields.get("oidc_reusable").is_none(),
                })),
            }
        }
        AuthMethod::ClientSecret | AuthMethod::ApiKey => TrustInput::default(),
    })
}

/// The section of the client's page that lists its profiles and adds one.
pub fn section(session: &PortalSession, client: &Client, profiles: &[AccessProfile], policies: &[Policy]) -> Markup {
    let base = format!("{}/profiles", client_url(&client.client_id));
    html! {
        section {
            h2 { "Access profiles" }
            p.muted {
                "Extra credentials of this client, each with its own products (a subset of the client's), "
                "allowed addresses and rate limit. At most 10 per client."
            }
            @if !profiles.is_empty() {
                table.list {
                    thead { tr { th { "Name" } th { "Credential" } th { "Products" } th { "Addresses" } th { "Policy" } th { "State" } th { "Last used" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for profile in profiles {
                            @let url = format!("{base}/{}", profile.profile_id);
                            tr {
                                td { (profile.name.as_str()) br; code.muted { (profile.profile_id) } }
                                td { (auth_method_label(profile.auth_method)) }
                                td { (list_or_none(profile.products.iter().map(String::as_str))) }
                                td { (list_or_none(profile.allowed_ips.to_strings().iter().map(String::as_str))) }
                                td {
                                    @match &profile.policy {
                                        Some(limits) => (policies.iter().find(|p| p.policy_id == limits.policy_id).map_or(limits.policy_id.as_str(), |p| p.name.as_str())),
                                        None => span.muted { "none" },
                                    }
                                }
                                td { @if profile.active { span.badge.ok { "active" } } @else { span.badge.off { "inactive" } } }
                                td {
                                    @match profile.last_use {
                                        Some(last_use) => { (when(last_use.at)) span.muted { " from " (last_use.ip) } }
                                        None => span.muted { "not yet" },
                                    }
                                }
                                td {
                                    a href={ (url) "/edit" } { "Edit" } " "
                                    a href={ (url) "/usage" } { "Usage" } " "
                                    form.inline method="post" action={ (url) "/state" } {
                                        (csrf_field(session))
                                        @if profile.active {
                                            button name="action" value="deactivate" type="submit" { "Deactivate" }
                                        } @else {
                                            button name="action" value="activate" type="submit" { "Activate" }
                                        }
                                    }
                                    @if profile.auth_method.has_credential() {
                                        form.inline method="post" action={ (url) "/refresh" } {
                                            (csrf_field(session))
                                            input type="hidden" name="version" value=(profile.version);
                                            button type="submit" { "Refresh credential" }
                                        }
                                    }
                                    form.inline method="post" action={ (url) "/delete" } {
                                        (csrf_field(session))
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            details {
                summary { "New access profile" }
                form.stacked method="post" action=(base) {
                    (csrf_field(session))
                    label for="profile-name" { "Name" }
                    input #profile-name type="text" name="name" maxlength=(ClientName::MAX_CHARS) required;
                    fieldset {
                        legend { "Credential" }
                        label.check { input type="radio" name="auth_method" value="client_secret" checked; " Client id and secret (for the token endpoint)" }
                        label.check { input type="radio" name="auth_method" value="api_key"; " API key (a static bearer key for the gateway check)" }
                        label.check { input type="radio" name="auth_method" value="jwt"; " Consumer JWT (the consumer signs short JWTs with its own key: no shared secret)" }
                        label.check { input type="radio" name="auth_method" value="oidc"; " OpenID Connect (tokens from an identity provider: GitHub Actions, Kubernetes, a cloud)" }
                    }
                    (trust_fields(None, None, None))
                    fieldset {
                        legend { "Products" }
                        @if client.scopes.products.is_empty() { p.muted { "The client holds no products." } }
                        @for product in &client.scopes.products {
                            label.check { input type="checkbox" name="products" value=(product); " " (product) }
                        }
                    }
                    label for="profile-ips" { "Allowed addresses " span.muted { "(one per line; empty allows any)" } }
                    textarea #profile-ips name="allowed_ips" rows="2" {}
                    fieldset.row {
                        legend { "Rate limit " span.muted { "(empty for none)" } }
                        label { "Requests per second " input type="number" name="requests_per_second" min="1"; }
                        label { "Burst " input type="number" name="burst" min="1"; }
                    }
                    (policy_choice("profile-policy", policies, None))
                    button type="submit" { "Create access profile" }
                }
            }
        }
    }
}

/// The policy a profile is under: its limits hold beside the profile's own. Left out when the
/// account has no policies, so the form then leaves a profile's policy as it is.
fn policy_choice(id: &str, policies: &[Policy], current: Option<&str>) -> Markup {
    html! {
        @if !policies.is_empty() {
            label for=(id) { "Policy " span.muted { "(its limits hold beside the profile's own)" } }
            select id=(id) name="policy_id" {
                option value="" { "none" }
                @for policy in policies {
                    option value=(policy.policy_id) selected[current == Some(policy.policy_id.as_str())] { (policy.name.as_str()) }
                }
            }
        }
    }
}

/// `policy_id` as the form sent it: absent (no choice offered) leaves it, empty is none.
fn chosen_policy(fields: &FormFields) -> Option<Option<PolicyId>> {
    fields.get("policy_id").map(|id| (!id.is_empty()).then(|| PolicyId::from_string(id)))
}

/// The page that shows a profile's credential once: after creation and after a refresh.
fn shown_credential(
    client_id: &ClientId,
    profile: &AccessProfile,
    credential: &ProfileCredential,
    title: &str,
) -> ShownOnce {
    let mut fields = vec![ShownField::plain("Profile", "profile-name", profile.name.as_str())];
    match credential {
        ProfileCredential::ClientSecret { client_id, client_secret } => {
            fields.push(ShownField::plain("Client ID", "profile-client-id", client_id.to_string()));
            fields.push(ShownField::copied("Client secret", "profile-secret", client_secret.expose(), "client secret"));
        }
        ProfileCredential::ApiKey(key) => {
            fields.push(ShownField::copied("API key", "profile-secret", key.expose(), "API key"));
        }
    }
    ShownOnce {
        title: title.to_owned(),
        what: "credential".to_owned(),
        kept_as: "a hash".to_owned(),
        note: None,
        fields,
        example: None,
        back_href: client_url(client_id),
        back_text: "Back to the client".to_owned(),
    }
}

async fn create(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let auth_method = AuthMethod::parse(fields.text("auth_method"))?;
    let new = NewProfile {
        name: ClientName::parse(fields.text("name"))?,
        products: fields.all("products"),
        auth_method,
        allowed_ips: AllowedIps::parse(&entries(fields.text("allowed_ips")))?,
        rate_limit: parse_rate_limit(fields.text("requests_per_second"), fields.text("burst"))?,
        active: true,
        policy_id: chosen_policy(&fields).flatten(),
        trust: trust_input(auth_method, &fields)?,
    };
    let (profile, credential) =
        state.gatehouse.create_profile(&session.actor, &client_id, new, state.clock.now()).await?;
    match credential {
        Some(credential) => {
            session
                .show_once(&state, &shown_credential(&client_id, &profile, &credential, "Access profile created"))
                .await
        }
        // Nothing to show: it trusts keys the consumer or its identity provider holds.
        None => Ok(Redirect::to(&client_url(&client_id)).into_response()),
    }
}

fn edit_page(
    session: &PortalSession,
    client: &Client,
    profile: &AccessProfile,
    policies: &[Policy],
    form: Option<&FormFields>,
    error: Option<&str>,
) -> Markup {
    let url = format!("{}/profiles/{}", client_url(&client.client_id), profile.profile_id);
    // What was just submitted, when the form comes back with an error; the profile otherwise.
    let name = form.map_or(profile.name.as_str(), |form| form.text("name"));
    let products: Vec<String> =
        form.map_or_else(|| profile.products.iter().cloned().collect(), |form| form.all("products"));
    let allowed_ips =
        form.map_or_else(|| profile.allowed_ips.to_strings().join("\n"), |form| form.text("allowed_ips").to_owned());
    let limit = |pick: fn(&RateLimit) -> u32, field: &str| {
        form.map_or_else(
            || profile.rate_limit.as_ref().map(|limit| pick(limit).to_string()).unwrap_or_default(),
            |form| form.text(field).to_owned(),
        )
    };
    let (requests_per_second, burst) =
        (limit(|l| l.requests_per_second, "requests_per_second"), limit(|l| l.burst, "burst"));
    let body = html! {
        h1 { "Edit access profile" }
        p { "Profile " code { (profile.profile_id) } " of client " strong { (client.name.as_str()) } }
        (form_error(error))
        form.stacked method="post" action={ (url) "/edit" } {
            (csrf_field(session))
            input type="hidden" name="version" value=(profile.version);
            label for="name" { "Name" }
            input #name type="text" name="name" value=(name) maxlength=(ClientName::MAX_CHARS) required;
            fieldset {
                legend { "Products " span.muted { "(a subset of the client's)" } }
                @if client.scopes.products.is_empty() { p.muted { "The client holds no products." } }
                @for product in &client.scopes.products {
                    label.check { input type="checkbox" name="products" value=(product) checked[products.contains(product)]; " " (product) }
                }
            }
            label for="allowed_ips" { "Allowed addresses " span.muted { "(IPs or CIDR blocks, one per line; empty allows any)" } }
            textarea #allowed_ips name="allowed_ips" rows="3" { (allowed_ips) }
            fieldset.row {
                legend { "Rate limit " span.muted { "(empty for none)" } }
                label { "Requests per second " input type="number" name="requests_per_second" min="1" value=(requests_per_second); }
                label { "Burst " input type="number" name="burst" min="1" value=(burst); }
            }
            (policy_choice("policy_id", policies, form.map_or(profile.policy.as_ref().map(|p| p.policy_id.as_str()), |form| form.get("policy_id"))))
            @if !profile.auth_method.has_credential() {
                p.muted { "Changing the keys or the provider ends every token minted with the old ones." }
                (trust_fields(Some(profile.auth_method), Some(profile), form))
            }
            button type="submit" { "Save changes" }
        }
        p { a href=(client_url(&client.client_id)) { "Cancel" } }
    };
    layout("Edit access profile", Some(session), body)
}

async fn edit_form(
    State(state): State<AppState>,
    session: PortalSession,
    Path((client_id, profile_id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let (client_id, profile_id) = (ClientId::from_string(client_id), ProfileId::from_string(profile_id));
    let client = load(&state, &session, &client_id).await?;
    let profile = state.gatehouse.get_profile(&session.actor, &client_id, &profile_id, state.clock.now()).await?;
    let policies =
        state.gatehouse.list_policies(&session.actor, Some(client.account_id.clone()), state.clock.now()).await?;
    Ok(edit_page(&session, &client, &profile, &policies, None, None).into_response())
}

fn parse_patch(method: AuthMethod, fields: &FormFields) -> Result<ProfilePatch, ValidationError> {
    Ok(ProfilePatch {
        trust: trust_input(method, fields)?,
        name: Some(ClientName::parse(fields.text("name"))?),
        products: Some(fields.all("products")),
        allowed_ips: Some(AllowedIps::parse(&entries(fields.text("allowed_ips")))?),
        rate_limit: Some(parse_rate_limit(fields.text("requests_per_second"), fields.text("burst"))?),
        active: None,
        policy_id: chosen_policy(fields),
    })
}

async fn update(
    State(state): State<AppState>,
    Path((client_id, profile_id)): Path<(String, String)>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let (client_id, profile_id) = (ClientId::from_string(client_id), ProfileId::from_string(profile_id));
    let now = state.clock.now();
    // The form carries the version it was shown at: a change made since (by someone else, or
    // in another tab) is never silently undone by this older picture of the profile.
    let current = state.gatehouse.get_profile(&session.actor, &client_id, &profile_id, now).await?;
    fields.shown_at(
        current.version,
        "The profile changed since this page was shown. Nothing was saved: reload the page and edit it again.",
    )?;
    let result = match parse_patch(current.auth_method, &fields) {
        Ok(patch) => state
            .gatehouse
            .update_profile(&session.actor, &client_id, &profile_id, patch, now)
            .await
            .map_err(PortalError::from),
        Err(error) => Err(error.into()),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&client_url(&client_id)).into_response()),
        Err(error) if matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN) => {
            let client = load(&state, &session, &client_id).await?;
            let profile = state.gatehouse.get_profile(&session.actor, &client_id, &profile_id, now).await?;
            let policies = state.gatehouse.list_policies(&session.actor, Some(client.account_id.clone()), now).await?;
            let page = edit_page(&session, &client, &profile, &policies, Some(&fields), Some(error.message()));
            Ok((error.status(), page).into_response())
        }
        Err(error) => Err(error),
    }
}

async fn change_state(
    State(state): State<AppState>,
    Path((client_id, profile_id)): Path<(String, String)>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let active = match fields.text("action") {
        "activate" => true,
        "deactivate" => false,
        _ => return Err(ValidationError::new("action", "must be activate or deactivate").into()),
    };
    let client_id = ClientId::from_string(client_id);
    let patch = ProfilePatch { active: Some(active), ..ProfilePatch::default() };
    state
        .gatehouse
        .update_profile(&session.actor, &client_id, &ProfileId::from_string(profile_id), patch, state.clock.now())
        .await?;
    Ok(Redirect::to(&client_url(&client_id)).into_response())
}

async fn refresh(
    State(state): State<AppState>,
    Path((client_id, profile_id)): Path<(String, String)>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    let profile_id = ProfileId::from_string(profile_id);
    // As for a client's key: a reload must not refresh again and kill the credential just shown.
    let current = state.gatehouse.get_profile(&session.actor, &client_id, &profile_id, state.clock.now()).await?;
    fields.shown_at(
        current.version,
        "The profile changed since this page was shown (was its credential just refreshed?). Nothing was refreshed.",
    )?;
    let (profile, credential) =
        state.gatehouse.refresh_profile(&session.actor, &client_id, &profile_id, state.clock.now()).await?;
    session.show_once(&state, &shown_credential(&client_id, &profile, &credential, "Credential refreshed")).await
}

async fn remove(
    State(state): State<AppState>,
    Path((client_id, profile_id)): Path<(String, String)>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    let client_id = ClientId::from_string(client_id);
    state
        .gatehouse
        .delete_profile(&session.actor, &client_id, &ProfileId::from_string(profile_id), state.clock.now())
        .await?;
    Ok(Redirect::to(&client_url(&client_id)).into_response())
}

/// Days shown on a profile's usage page.
const USAGE_DAYS: i64 = 30;

/// A profile's last 30 days: a chart drawn on the server (SVG, no script) of the checks it got,
/// allowed and refused, and the numbers in a table beside it for screen readers and copying.
async fn usage(
    State(state): State<AppState>,
    session: PortalSession,
    Path((client_id, profile_id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let (client_id, profile_id) = (ClientId::from_string(client_id), ProfileId::from_string(profile_id));
    let now = state.clock.now();
    let client = load(&state, &session, &client_id).await?;
    let profile = state.gatehouse.get_profile(&session.actor, &client_id, &profile_id, now).await?;
    let today = now.date();
    let first = today - time::Duration::days(USAGE_DAYS - 1);
    let days =
        state.gatehouse.profile_usage(&session.actor, &client_id, &profile_id, Some((first, today)), now).await?;
    let totals: Vec<(time::Date, u64, u64)> = (0..USAGE_DAYS)
        .map(|offset| {
            let date = first + time::Duration::days(offset);
            let of_day = days.iter().filter(|day| day.date == date);
            let allowed = of_day.clone().map(|day| day.allowed).sum();
            let denied = of_day.map(UsageDay::denied_total).sum();
            (date, allowed, denied)
        })
        .collect();
    let body = html! {
        h1 { "Usage of " (profile.name.as_str()) }
        p {
            "Gateway checks of access profile " code { (profile.profile_id) } " of client "
            a href=(client_url(&client.client_id)) { (client.name.as_str()) }
            ", per UTC day, over the last 30 days. Counts are written every 10 seconds."
        }
        (usage_chart(&totals))
        @if days.is_empty() {
            p.muted { "No checks in these 30 days." }
        } @else {
            table.list {
                caption { "Checks per day and product" }
                thead { tr { th scope="col" { "Day" } th scope="col" { "Product" } th scope="col" { "Allowed" } th scope="col" { "Refused" } th scope="col" { "Refused because" } } }
                tbody {
                    @for day in days.iter().rev() {
                        tr {
                            td { (day.date) }
                            td { (day.product) }
                            td { (day.allowed) }
                            td { (day.denied_total()) }
                            td { (day.denied.iter().map(|(reason, count)| format!("{reason}: {count}")).collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
        p { a href=(client_url(&client.client_id)) { "Back to the client" } }
    };
    Ok(layout("Access profile usage", Some(&session), body).into_response())
}

/// Stacked bars, one per day: allowed below, refused above. The table beside it holds the
/// same numbers, so the chart is described, not read out bar by bar.
fn usage_chart(totals: &[(time::Date, u64, u64)]) -> Markup {
    const WIDTH: u64 = 600;
    const HEIGHT: u64 = 160;
    let highest = totals.iter().map(|(_, allowed, denied)| allowed + denied).max().unwrap_or(0).max(1);
    let slot = WIDTH / totals.len().max(1) as u64;
    let scaled = |count: u64| count * HEIGHT / highest;
    let allowed: u64 = totals.iter().map(|(_, allowed, _)| allowed).sum();
    let denied: u64 = totals.iter().map(|(_, _, denied)| denied).sum();
    html! {
        figure.usage {
            svg role="img" aria-labelledby="usage-title usage-desc" viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 20) } width="100%" height=(HEIGHT + 20) {
                title #usage-title { "Checks per day, last 30 days" }
                desc #usage-desc { (allowed) " allowed and " (denied) " refused in all; the busiest day had " (highest) "." }
                @for (index, (date, allowed, denied)) in totals.iter().enumerate() {
                    @let x = index as u64 * slot + 2;
                    @let allowed_height = scaled(*allowed);
                    @let denied_height = scaled(*denied);
                    @if *allowed > 0 {
                        rect.allowed x=(x) y=(HEIGHT - allowed_height) width=(slot - 4) height=(allowed_height) fill="#2e7d32" {
                            title { (date) ": " (allowed) " allowed" }
                        }
                    }
                    @if *denied > 0 {
                        rect.denied x=(x) y=(HEIGHT - allowed_height - denied_height) width=(slot - 4) height=(denied_height) fill="#c62828" {
                            title { (date) ": " (denied) " refused" }
                        }
                    }
                }
                line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) stroke="#555" {}
                text x="0" y=(HEIGHT + 16) font-size="12" { (totals.first().map(|t| t.0.to_string()).unwrap_or_default()) }
                text x=(WIDTH) y=(HEIGHT + 16) font-size="12" text-anchor="end" { (totals.last().map(|t| t.0.to_string()).unwrap_or_default()) }
            }
            figcaption { span.key.allowed aria-hidden="true" { "■" } " allowed " span.key.denied aria-hidden="true" { "■" } " refused" }
        }
    }
}
