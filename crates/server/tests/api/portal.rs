//! The web portal under `/`: signing in and out, the client pages and their actions, and what
//! protects them (the session cookie, the CSRF token, the cross-site check, escaping). The
//! browser itself is driven in `tests/interop/test_portal_browser.py`.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::test_app::{Credentials, OWNER_EMAIL, TestApp};

/// A person in a browser, as far as HTTP goes: one session cookie, redirects not followed so
/// the tests see where each one points.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app, http: crate::http().redirect(Policy::none()).build().unwrap(), cookie: None }
    }

    pub(crate) async fn signed_in_as_owner(app: &'a TestApp) -> Self {
        let mut browser = Self::new(app);
        let response = browser.sign_in(OWNER_EMAIL, &app.owner_password).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        browser
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> reqwest::Response {
        let response = self.post_form("/login", &[("email", email), ("password", password)]).await;
        if let Some(cookie) = response.headers().get("set-cookie") {
            self.cookie = Some(cookie.to_str().unwrap().split(';').next().unwrap().to_owned());
        }
        response
    }

    /// The page a value shown once was handed to: the POST answered 303 there, and read once
    /// it is gone, so a reload shows it no more and repeats nothing.
    async fn shown_once(&self, posted: reqwest::Response) -> String {
        assert_eq!(posted.status(), StatusCode::SEE_OTHER, "post/redirect/get");
        assert!(posted.headers().get("set-cookie").is_none(), "never in a cookie");
        let target = location(&posted).to_owned();
        assert!(target.starts_with("/shown/"), "{target}");
        let shown = self.get(&target).await;
        assert_eq!(shown.status(), StatusCode::OK);
        assert_eq!(shown.headers()["cache-control"], "no-store");
        let page = shown.text().await.unwrap();
        let again = self.get(&target).await;
        assert_eq!(again.status(), StatusCode::GONE, "read once");
        assert!(again.text().await.unwrap().contains("Shown once already"));
        page
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.http.get(self.app.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.post(self.app.url(path)).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Submits a form as the page that shows it would: with the page's CSRF token.
    async fn submit(&self, page_path: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = csrf_of(&self.page(page_path).await);
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post_form(action, &form).await
    }
}

fn csrf_of(html: &str) -> String {
    field_value(html, "csrf")
}

/// The value the page's form fills in for the field `name`.
fn field_value(html: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in the page")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The text of the element with `id`, as the portal renders a shown-once credential.
fn element_text(html: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in the page")) + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

fn location(response: &reqwest::Response) -> &str {
    response.headers()["location"].to_str().unwrap()
}

async fn mint_status(app: &TestApp, credentials: &Credentials) -> StatusCode {
    app.token_request_basic(credentials, &[("grant_type", "client_credentials")]).await.status()
}

#[tokio::test]
async fn a_person_signs_in_sees_the_clients_and_signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let mut browser = Browser::new(&app);

    let home = browser.get("/").await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&home), "/login");
    let clients = browser.get("/clients").await;
    assert_eq!(location(&clients), "/login", "the pages need a session");

    let login = browser.get("/login").await;
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let policy = login.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"));
    // The one script comes from the portal's own origin; nothing inline runs.
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{policy}");
    let script = browser.get("/portal.js").await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));

    let wrong = browser.sign_in(OWNER_EMAIL, "not-the-password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("Invalid email or password."));
    assert!(browser.cookie.is_none());

    let signed_in = browser.sign_in(OWNER_EMAIL, &app.owner_password).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/clients");
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));

    let list = browser.get("/clients").await;
    assert_eq!(list.headers()["cache-control"], "no-store");
    let list = list.text().await.unwrap();
    assert!(list.contains(&app.admin.client_id), "the bootstrap client is listed");
    assert!(list.contains(OWNER_EMAIL));

    // Sign-out without the page's token is refused and leaves the session alive.
    let forged = browser.post_form("/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.get("/clients").await.status(), StatusCode::OK);

    let signed_out = browser.submit("/clients", "/logout", &[]).await;
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    assert!(signed_out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    // The old cookie is dead in the store, not only forgotten by the browser.
    assert_eq!(location(&browser.get("/clients").await), "/login");
    let session = browser.cookie.as_deref().unwrap().trim_start_matches("gatehouse_session=");
    assert_eq!(app.ping_status(session).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_client_created_in_the_portal_shows_its_secret_once_and_the_secret_mints_tokens() {
    let app = TestApp::spawn().await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let before = app.client_count(&app.admin_token().await).await;

    let created = browser
        .submit(
            "/clients/new",
            "/clients/new",
            &[
                ("name", "Billing sync"),
                ("description", "Nightly export"),
                ("client_type", "standard"),
                ("products", "SuperSIM"),
                ("token_expiry_seconds", "600"),
                ("allowed_ips", "127.0.0.1\n::1"),
                ("requests_per_second", "5"),
                ("burst", "10"),
            ],
        )
        .await;
    let page = browser.shown_once(created).await;
    let credentials = Credentials {
        client_id: element_text(&page, "client-id"),
        client_secret: element_text(&page, "client-secret"),
    };
    assert_eq!(app.client_count(&app.admin_token().await).await, before + 1);

    let response = app.token_request_basic(&credentials, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["scope"], "SuperSIM");
    assert_eq!(token["expires_in"], 600);

    let shown = browser.page(&format!("/clients/{}", credentials.client_id)).await;
    assert!(shown.contains("Billing sync") && shown.contains("5 requests/s, burst 10") && shown.contains("::1"));
    assert!(!shown.contains(&credentials.client_secret), "the secret is shown only once");
    let listed = browser.page("/clients").await;
    assert!(!listed.contains(&credentials.client_secret));
}

#[tokio::test]
async fn forms_without_the_sessions_token_or_from_another_site_change_nothing() {
    let app = TestApp::spawn().await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let admin_token = app.admin_token().await;
    let before = app.client_count(&admin_token).await;
    let csrf = csrf_of(&browser.page("/clients/new").await);
    let fields = [("name", "Sneaky"), ("products", "SuperSIM")];

    let without_token = browser.post_form("/clients/new", &fields).await;
    assert_eq!(without_token.status(), StatusCode::FORBIDDEN);
    let wrong_token = browser.post_form("/clients/new", &[("csrf", "x"), fields[0], fields[1]]).await;
    assert_eq!(wrong_token.status(), StatusCode::FORBIDDEN);

    // A page on another site posting with the victim's cookie (were the browser to send it).
    let cookie = browser.cookie.clone().unwrap();
    let form = [("csrf", csrf.as_str()), fields[0], fields[1]];
    let by_origin = browser
        .http
        .post(app.url("/clients/new"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(by_origin.status(), StatusCode::FORBIDDEN);
    for site in ["cross-site", "same-site"] {
        // `same-site`: another port or subdomain of this host, which SameSite=Strict lets through.
        let by_fetch_metadata = browser
            .http
            .post(app.url("/clients/new"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(by_fetch_metadata.status(), StatusCode::FORBIDDEN, "{site}");
    }
    // A cross-site sign-in (login CSRF) is refused as well.
    let login = browser
        .http
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", OWNER_EMAIL), ("password", app.owner_password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    assert!(login.headers().get("set-cookie").is_none());

    assert_eq!(app.client_count(&admin_token).await, before);
    // The same form from the portal's own origin goes through.
    let same_origin = browser
        .http
        .post(app.url("/clients/new"))
        .header("cookie", &cookie)
        .header("origin", app.base_url.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.client_count(&admin_token).await, before + 1);
    // Behind a proxy that rewrites Host, the public URL's origin still counts as this site.
    let behind_proxy = browser
        .http
        .post(app.url("/clients/new"))
        .header("cookie", &cookie)
        .header("host", "upstream.internal:8080")
        .header("origin", app.issuer.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(behind_proxy.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn bad_form_input_is_shown_back_with_the_field_named_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let admin_token = app.admin_token().await;
    let before = app.client_count(&admin_token).await;

    for (fields, named) in [
        (vec![("name", "   "), ("products", "SuperSIM")], "name"),
        (vec![("name", "Short-lived"), ("token_expiry_seconds", "5")], "token_expiry_seconds"),
        (vec![("name", "Addresses"), ("allowed_ips", "10.0.0.0/33")], "allowed_ips"),
        (vec![("name", "Limits"), ("requests_per_second", "5")], "rate_limit.burst"),
        (vec![("name", "Unknown product"), ("products", "NoSuchApi")], "scopes.products"),
    ] {
        let response = browser.submit("/clients/new", "/clients/new", &fields).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{fields:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(named), "the error names {named}: {page}");
        // The form comes back filled in as submitted.
        assert!(page.contains(&format!(r#"value="{}""#, fields[0].1)));
    }
    assert_eq!(app.client_count(&admin_token).await, before);
}

#[tokio::test]
async fn hostile_names_are_shown_as_text_never_as_markup() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let name = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let (credentials, _) = app.create_client(&admin_token, json!({"name": name, "description": "<b>bold</b>"})).await;
    let browser = Browser::signed_in_as_owner(&app).await;

    for path in ["/clients".to_owned(), format!("/clients/{}", credentials.client_id)] {
        let page = browser.page(&path).await;
        assert!(!page.contains("<script>") && !page.contains("<img") && !page.contains("<b>bold"), "{path}");
        assert!(page.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"), "{path}");
    }
}

#[tokio::test]
async fn disable_renew_and_delete_in_the_portal_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let (credentials, _) = app.create_client(&app.admin_token().await, json!({})).await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let page = format!("/clients/{}", credentials.client_id);
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK);

    let disabled = browser.submit(&page, &format!("{page}/state"), &[("action", "disable")]).await;
    assert_eq!(disabled.status(), StatusCode::SEE_OTHER);
    assert!(browser.page(&page).await.contains("disabled"));
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::UNAUTHORIZED);
    browser.submit(&page, &format!("{page}/state"), &[("action", "enable")]).await;
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK);

    // Renewal shows the new secret once; the old one stops working.
    let confirm = browser.page(&format!("{page}/renew-key")).await;
    assert!(confirm.contains("cannot be undone"));
    let shown_at = field_value(&confirm, "version");
    let renewed =
        browser.submit(&format!("{page}/renew-key"), &format!("{page}/renew-key"), &[("version", &shown_at)]).await;
    let renewed = Credentials {
        client_id: credentials.client_id.clone(),
        client_secret: element_text(&browser.shown_once(renewed).await, "client-secret"),
    };
    assert_ne!(renewed.client_secret, credentials.client_secret);
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::UNAUTHORIZED);
    assert_eq!(mint_status(&app, &renewed).await, StatusCode::OK);
    // A reload of the secret page posts the same form again: refused, the new secret lives on.
    let reloaded =
        browser.submit(&format!("{page}/renew-key"), &format!("{page}/renew-key"), &[("version", &shown_at)]).await;
    assert_eq!(reloaded.status(), StatusCode::CONFLICT);
    assert!(reloaded.text().await.unwrap().contains("Nothing was renewed"));
    assert_eq!(mint_status(&app, &renewed).await, StatusCode::OK);

    let deleted = browser.submit(&format!("{page}/delete"), &format!("{page}/delete"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&deleted), "/clients?notice=deleted");
    assert!(browser.page("/clients?notice=deleted").await.contains("The client was deleted."));
    assert_eq!(mint_status(&app, &renewed).await, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get(&page).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_edit_keeps_to_the_rules_and_never_overwrites_a_change_made_meanwhile() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (credentials, _) = app.create_client(&admin_token, json!({"name": "Before"})).await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let edit = format!("/clients/{}/edit", credentials.client_id);

    let version = field_value(&browser.page(&edit).await, "version");
    let saved = browser
        .submit(
            &edit,
            &edit,
            &[
                ("version", &version),
                ("name", "After"),
                ("client_type", "standard"),
                ("products", "ProgrammableWireless"),
                ("token_expiry_seconds", "120"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let client: Value =
        app.get(&format!("/v1/clients/{}", credentials.client_id), &admin_token).await.json().await.unwrap();
    assert_eq!(client["client"]["name"], "After");
    assert_eq!(client["client"]["scopes"]["products"], json!(["ProgrammableWireless"]));
    assert_eq!(client["client"]["token_expiry_seconds"], 120);

    // A standard client cannot hold global resources (seed file 000), whoever asks.
    let current = field_value(&browser.page(&edit).await, "version");
    let fields =
        [("version", current.as_str()), ("name", "After"), ("client_type", "standard"), ("global_resources", "users")];
    let refused = browser.submit(&edit, &edit, &fields).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("global_resources"));

    // The form was rendered at `version`; the client has moved on since.
    let stale = browser.submit(&edit, &edit, &[("version", &version), ("name", "Stale")]).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    assert!(stale.text().await.unwrap().contains("changed this client while you were editing"));
    let client: Value =
        app.get(&format!("/v1/clients/{}", credentials.client_id), &admin_token).await.json().await.unwrap();
    assert_eq!(client["client"]["name"], "After");
}

#[tokio::test]
async fn a_developer_sees_no_admin_powers_and_the_lock_holds_in_the_portal() {
    let app = TestApp::spawn().await;
    let owner = Browser::signed_in_as_owner(&app).await;
    let session = app.owner_session().await;
    let created = app.post_json("/v1/users", &session, &json!({"email": "dev@example.com", "role": "developer"})).await;
    let password = created.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    let mut developer = Browser::new(&app);
    assert_eq!(developer.sign_in("dev@example.com", &password).await.status(), StatusCode::SEE_OTHER);

    let form = developer.page("/clients/new").await;
    assert!(!form.contains("global_resources") && !form.contains(r#"name="client_type""#));
    assert!(!developer.page("/clients").await.contains(r#"href="/audit""#));
    assert_eq!(developer.get("/audit").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(developer.get("/users").await.status(), StatusCode::FORBIDDEN);

    // The owner locks a client; the developer, who neither owns it nor runs the account, may
    // not change it (seed rule 3) and is told why.
    let (credentials, _) = app.create_client(&app.admin_token().await, json!({})).await;
    let page = format!("/clients/{}", credentials.client_id);
    owner.submit(&page, &format!("{page}/state"), &[("action", "lock")]).await;
    let refused = developer.submit(&page, &format!("{page}/state"), &[("action", "disable")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("locked"));
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK);

    // A developer edits an unlocked standard client (the form without the admin fields): the
    // products change, nothing else does.
    let (standard, _) =
        app.create_client(&app.admin_token().await, json!({"name": "Shared", "token_expiry_seconds": 900})).await;
    let edit = format!("/clients/{}/edit", standard.client_id);
    let version = field_value(&developer.page(&edit).await, "version");
    let saved = developer
        .submit(
            &edit,
            &edit,
            &[
                ("version", &version),
                ("name", "Shared"),
                ("products", "ProgrammableWireless"),
                ("token_expiry_seconds", ""),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let client: Value =
        app.get(&format!("/v1/clients/{}", standard.client_id), &app.admin_token().await).await.json().await.unwrap();
    assert_eq!(client["client"]["scopes"]["products"], json!(["ProgrammableWireless"]));
    assert_eq!(client["client"]["client_type"], "standard");
    assert_eq!(client["client"]["token_expiry_seconds"], 900, "a blank lifetime leaves it as it was");
}

#[tokio::test]
async fn the_owner_adds_a_user_whose_password_is_shown_once_and_works() {
    let app = TestApp::spawn().await;
    let owner = Browser::signed_in_as_owner(&app).await;
    assert!(owner.page("/users").await.contains(OWNER_EMAIL));

    let added = owner.submit("/users", "/users", &[("email", "ops@example.com"), ("role", "admin")]).await;
    let password = element_text(&owner.shown_once(added).await, "user-password");
    let listed = owner.page("/users").await;
    assert!(listed.contains("ops@example.com") && !listed.contains(&password));

    let mut ops = Browser::new(&app);
    assert_eq!(ops.sign_in("ops@example.com", &password).await.status(), StatusCode::SEE_OTHER);
    assert!(ops.page("/users").await.contains("ops@example.com"), "admins see the users page");

    // The same email twice is refused and shown back; nothing is added.
    let again = owner.submit("/users", "/users", &[("email", "ops@example.com"), ("role", "developer")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(again.text().await.unwrap().contains("already exists"));

    // Only the owner grants or removes admin: an admin demoting another admin is refused.
    owner.submit("/users", "/users", &[("email", "second@example.com"), ("role", "admin")]).await;
    let users: Value = app.get("/v1/users", &app.owner_session().await).await.json().await.unwrap();
    let second = users["users"].as_array().unwrap().iter().find(|u| u["email"] == "second@example.com").unwrap();
    let role_path = format!("/users/{}/role", second["user_id"].as_str().unwrap());
    let refused = ops.submit("/users", &role_path, &[("role", "developer")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let demoted = owner.submit("/users", &role_path, &[("role", "developer")]).await;
    assert_eq!(demoted.status(), StatusCode::SEE_OTHER);

    let removed = owner.submit("/users", &format!("/users/{}/delete", second["user_id"].as_str().unwrap()), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(!owner.page("/users").await.contains("second@example.com"));
}

/// A user of a child account signs in naming it: the link `/login?account=...` fills it in, and
/// without it the same email and password are refused as at `/v1/auth/login`.
#[tokio::test]
async fn a_child_accounts_user_signs_in_to_it_from_its_link() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    let child_id = app.create_child_account(&owner, "EMEA").await;
    let body = json!({"email": "emea@example.com", "role": "developer", "account_id": child_id});
    let created: Value = app.post_json("/v1/users", &owner, &body).await.json().await.unwrap();
    let password = created["password"].as_str().unwrap();

    let mut browser = Browser::new(&app);
    let page = browser.page(&format!("/login?account={child_id}")).await;
    assert!(page.contains(&format!(r#"value="{child_id}""#)), "the account is filled in");
    assert!(!browser.page("/login?account=%3Cscript%3E").await.contains("<script>"), "junk is never put back");
    assert_eq!(browser.sign_in("emea@example.com", password).await.status(), StatusCode::UNAUTHORIZED);
    let form = [("email", "emea@example.com"), ("password", password), ("account_id", child_id.as_str())];
    let signed_in = browser.post_form("/login", &form).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    browser.cookie = Some(signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned());
    assert!(browser.page("/clients").await.contains("emea@example.com"), "signed in as the child's user");
}

#[tokio::test]
async fn an_access_profile_made_in_the_portal_gets_a_working_key_that_deactivation_and_refresh_revoke() {
    let app = TestApp::spawn().await;
    let (client, _) = app.create_client(&app.admin_token().await, json!({})).await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let page = format!("/clients/{}", client.client_id);
    let check = |key: String| {
        let request = app.http.get(app.url("/v1/auth/products/SuperSIM/check")).bearer_auth(key);
        async move { request.send().await.unwrap().status() }
    };

    let created = browser
        .submit(
            &page,
            &format!("{page}/profiles"),
            &[("name", "Partner"), ("auth_method", "api_key"), ("products", "SuperSIM")],
        )
        .await;
    let key = element_text(&browser.shown_once(created).await, "profile-secret");
    assert_eq!(check(key.clone()).await, StatusCode::OK);

    let shown = browser.page(&page).await;
    assert!(shown.contains("Partner") && !shown.contains(&key), "the key is shown only once");
    let profiles: Value = app
        .get(&format!("/v1/clients/{}/access-profiles", client.client_id), &app.admin_token().await)
        .await
        .json()
        .await
        .unwrap();
    let profile_page = format!("{page}/profiles/{}", profiles["access_profiles"][0]["profile_id"].as_str().unwrap());

    // Seed rule 14: an inactive profile calls nothing.
    let deactivated = browser.submit(&page, &format!("{profile_page}/state"), &[("action", "deactivate")]).await;
    assert_eq!(deactivated.status(), StatusCode::SEE_OTHER);
    assert_eq!(check(key.clone()).await, StatusCode::UNAUTHORIZED);
    let activated = browser.submit(&page, &format!("{profile_page}/state"), &[("action", "activate")]).await;
    assert_eq!(activated.status(), StatusCode::SEE_OTHER);
    assert_eq!(check(key.clone()).await, StatusCode::OK);

    let version = field_value(&browser.page(&page).await, "version");
    let refreshed = browser.submit(&page, &format!("{profile_page}/refresh"), &[("version", &version)]).await;
    let new_key = element_text(&browser.shown_once(refreshed).await, "profile-secret");
    assert_eq!(check(key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(new_key.clone()).await, StatusCode::OK);
    // Posted again (a reload of the credential page): refused, the new key lives on.
    let reloaded = browser.submit(&page, &format!("{profile_page}/refresh"), &[("version", &version)]).await;
    assert_eq!(reloaded.status(), StatusCode::CONFLICT);
    assert_eq!(check(new_key.clone()).await, StatusCode::OK);

    // A profile can hold only products its client holds.
    let refused = browser
        .submit(
            &page,
            &format!("{page}/profiles"),
            &[("name", "Greedy"), ("auth_method", "api_key"), ("products", "ProgrammableWireless")],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let deleted = browser.submit(&page, &format!("{profile_page}/delete"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(check(new_key).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_cookie_is_secure_and_host_only_when_the_public_url_is_https() {
    let plain = TestApp::spawn().await;
    let cookie = |response: reqwest::Response| response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let mut browser = Browser::new(&plain);
    let local = cookie(browser.sign_in(OWNER_EMAIL, &plain.owner_password).await);
    assert!(local.starts_with("gatehouse_session=gss_") && !local.contains("Secure"));

    let behind_tls = TestApp::spawn_with(|config| config.issuer = Some("https://auth.example.com".into())).await;
    let mut browser = Browser::new(&behind_tls);
    let portal = cookie(browser.sign_in(OWNER_EMAIL, &behind_tls.owner_password).await);
    let api = behind_tls.login_response(OWNER_EMAIL, &behind_tls.owner_password).await;
    let api_cookie = cookie(api);
    for cookie in [&portal, &api_cookie] {
        // `__Host-`: Secure, Path=/, no Domain, so no sibling subdomain can set or replace it.
        assert!(cookie.starts_with("__Host-gatehouse_session=gss_"), "{cookie}");
        assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    }
    assert_eq!(browser.get("/clients").await.status(), StatusCode::OK);

    // A session planted under the plain name (as a sibling subdomain could) is not taken.
    let planted = behind_tls.login(OWNER_EMAIL, &behind_tls.owner_password).await;
    let request = browser.http.get(behind_tls.url("/clients")).header("cookie", format!("gatehouse_session={planted}"));
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/login");
}

#[tokio::test]
async fn owners_manage_the_product_catalogue_and_a_product_in_use_stays() {
    let app = TestApp::spawn().await;
    let owner = Browser::signed_in_as_owner(&app).await;
    let added = owner
        .submit(
            "/products",
            "/products",
            &[("name", "Billing"), ("description", "Invoices"), ("path_prefixes", "/billing/")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert!(owner.page("/clients/new").await.contains(r#"value="Billing""#), "the new product can be granted");

    let token = app.admin_token().await;
    let (client, _) = app.create_client(&token, json!({"scopes": {"products": ["Billing"]}})).await;
    let client_token = app.token(&client).await;
    let by_path = app
        .http
        .get(app.url("/v1/auth/check"))
        .bearer_auth(&client_token)
        .header("x-original-uri", "/billing/v1/invoices")
        .send()
        .await
        .unwrap();
    assert_eq!(by_path.status(), StatusCode::OK, "the prefix maps the path to the product");

    let edited = owner
        .submit(
            "/products",
            "/products/Billing",
            &[("description", "Invoices and credit notes"), ("path_prefixes", "/billing/, /credit/")],
        )
        .await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    assert!(owner.page("/products").await.contains("Invoices and credit notes"));

    let in_use = owner.submit("/products", "/products/Billing/delete", &[]).await;
    assert_eq!(in_use.status(), StatusCode::CONFLICT);
    assert!(in_use.text().await.unwrap().contains("still granted to clients"));
    app.patch_json(&format!("/v1/clients/{}", client.client_id), &token, &json!({"scopes": {"products": []}})).await;
    let deleted = owner.submit("/products", "/products/Billing/delete", &[]).await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert!(!owner.page("/products").await.contains("Invoices and credit notes"));

    let bad = owner.submit("/products", "/products", &[("name", "Bad"), ("path_prefixes", "no-leading-slash")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // A developer reads the catalogue but cannot change it.
    let session = app.owner_session().await;
    let created = app.post_json("/v1/users", &session, &json!({"email": "dev@example.com", "role": "developer"})).await;
    let password = created.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    let mut developer = Browser::new(&app);
    developer.sign_in("dev@example.com", &password).await;
    let listed = developer.page("/products").await;
    assert!(listed.contains("SuperSIM") && !listed.contains("Add a product"));
    let refused = developer.submit("/products", "/products", &[("name", "Sneaky")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

/// With hundreds of clients, paging alone does not find one: the list filters by name, type
/// and state on the server, and its pages keep the filter.
#[tokio::test]
async fn the_client_list_filters_by_name_type_and_state_and_its_pages_keep_the_filter() {
    let app = TestApp::spawn().await;
    let owner = app.owner_session().await;
    // More than a page of 50.
    for index in 0..55 {
        app.create_client(&owner, json!({"name": format!("Billing sync {index:02}")})).await;
    }
    let (other, _) = app.create_client(&owner, json!({"name": "Warehouse feed"})).await;
    let path = format!("/v1/clients/{}", other.client_id);
    assert_eq!(app.patch_json(&path, &owner, &json!({"enabled": false})).await.status(), StatusCode::OK);
    let browser = Browser::signed_in_as_owner(&app).await;

    let billing = browser.page("/clients?q=BILLING+sync").await;
    assert!(billing.contains("Billing sync 00") && !billing.contains("Warehouse feed"));
    assert!(billing.contains("55 clients"), "counted on the server");
    assert!(billing.contains("href=\"/clients?q=BILLING+sync&amp;page=2\""), "the next page keeps the filter");
    let second = browser.page("/clients?q=BILLING+sync&page=2").await;
    assert!(second.contains("Billing sync 54") && !second.contains("Billing sync 00"));

    let disabled = browser.page("/clients?state=disabled").await;
    assert!(disabled.contains("Warehouse feed") && !disabled.contains("Billing sync"));
    let admins = browser.page("/clients?type=admin").await;
    assert!(admins.contains("1 clients") && !admins.contains("Billing sync"), "only the bootstrap client");
    // A filter the form could not have sent is ignored, never an error page.
    assert!(browser.page("/clients?type=root&state=maybe").await.contains("57 clients"));
}

#[tokio::test]
async fn a_secret_rotated_in_the_portal_keeps_the_old_one_for_its_grace_period_and_shows_last_use() {
    let app = TestApp::spawn().await;
    let in_ten_days =
        (gatehouse_domain::clock::Clock::now(app.clock.as_ref()) + time::Duration::days(10)).date().to_string();
    let (credentials, _) = app
        .create_client(&app.admin_token().await, json!({"secret_expires_at": format!("{in_ten_days}T00:00:00Z")}))
        .await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let page = format!("/clients/{}", credentials.client_id);
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK);
    app.gatehouse.write_credential_uses().await.unwrap();
    let shown = browser.page(&page).await;
    assert!(shown.contains("secret expires soon") && shown.contains(&in_ten_days), "the expiry shows");
    assert!(shown.contains(" from 127.0.0.1"), "the last use shows");
    assert!(!shown.contains(&credentials.client_secret));
    assert!(browser.page("/clients").await.contains("secret expires soon"), "in the list too");

    // A grace period out of range is shown back, and nothing rotates.
    let form = format!("{page}/rotate-secret");
    let shown_at = field_value(&browser.page(&form).await, "version");
    let refused = browser.submit(&form, &form, &[("version", &shown_at), ("grace_hours", "169")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("168 hours"));

    let rotated = browser.submit(&form, &form, &[("version", &shown_at), ("grace_hours", "2")]).await;
    let rotated = browser.shown_once(rotated).await;
    assert!(rotated.contains("The previous secret goes on working until"), "{rotated}");
    let new = Credentials {
        client_id: credentials.client_id.clone(),
        client_secret: element_text(&rotated, "client-secret"),
    };
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK, "still in its grace period");
    assert_eq!(mint_status(&app, &new).await, StatusCode::OK);
    // Posting the form again (a reload) rotates nothing.
    let again = browser.submit(&form, &form, &[("version", &shown_at), ("grace_hours", "2")]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(mint_status(&app, &new).await, StatusCode::OK);

    // Ending the previous secret early, with its tokens.
    let token = app.token(&credentials).await;
    let shown = browser.page(&page).await;
    assert!(shown.contains("previous") && shown.contains("current"));
    let end = shown
        .split(r#"href=""#)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.ends_with("/delete") && href.contains("/secrets/"))
        .expect("an End now link for the previous secret")
        .to_owned();
    assert!(browser.page(&end).await.contains("cannot be undone"));
    let ended = browser.submit(&end, &end, &[("revoke_tokens", "on")]).await;
    assert_eq!(ended.status(), StatusCode::SEE_OTHER);
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::UNAUTHORIZED);
    let check = app.http.get(app.url("/v1/auth/products/SuperSIM/check")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED, "its tokens ended too");
    assert_eq!(mint_status(&app, &new).await, StatusCode::OK);
    assert!(!browser.page(&page).await.contains("End now"), "the current secret cannot be ended");
}

/// The handoff behind a page shown once lives in the database, not in one instance's memory: on
/// PostgreSQL the page after the redirect may be served by another instance. It is the session's
/// own: another session, even the same person's, finds nothing and takes nothing.
#[tokio::test]
async fn a_value_shown_once_is_read_by_its_own_session_on_any_instance() {
    let on_postgres = std::env::var("GATEHOUSE_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    let app = TestApp::spawn().await;
    let other = if on_postgres { Some(app.spawn_beside(|_| {}).await) } else { None };
    let browser = Browser::signed_in_as_owner(&app).await;
    let fields = [("name", "Handed over"), ("client_type", "standard"), ("products", "SuperSIM")];
    let created = browser.submit("/clients/new", "/clients/new", &fields).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let target = location(&created).to_owned();

    let intruder = Browser::signed_in_as_owner(&app).await;
    assert_eq!(intruder.get(&target).await.status(), StatusCode::GONE, "another session's");
    let elsewhere = Browser { app: other.as_ref().unwrap_or(&app), ..browser };
    let page = elsewhere.get(&target).await;
    assert_eq!(page.status(), StatusCode::OK, "the intruder took nothing");
    let page = page.text().await.unwrap();
    let credentials = Credentials {
        client_id: element_text(&page, "client-id"),
        client_secret: element_text(&page, "client-secret"),
    };
    assert_eq!(mint_status(&app, &credentials).await, StatusCode::OK);
    assert_eq!(elsewhere.get(&target).await.status(), StatusCode::GONE);
}

#[tokio::test]
async fn a_profile_is_edited_and_a_client_handed_to_a_user_chosen_from_a_list() {
    let app = TestApp::spawn().await;
    let admin_token = app.admin_token().await;
    let (credentials, _) = app.create_client(&admin_token, json!({})).await;
    let profiles = format!("/v1/clients/{}/access-profiles", credentials.client_id);
    let body = json!({"name": "Partner", "products": ["SuperSIM"], "auth_method": "api_key"});
    let created: Value = app.post_json(&profiles, &admin_token, &body).await.json().await.unwrap();
    let profile_id = created["access_profile"]["profile_id"].as_str().unwrap();
    let browser = Browser::signed_in_as_owner(&app).await;
    let page = format!("/clients/{}", credentials.client_id);
    let edit = format!("{page}/profiles/{profile_id}/edit");
    assert!(browser.page(&page).await.contains(&edit), "each profile links to its edit page");

    // A bad address is shown back with what was typed, and nothing changes.
    let version = field_value(&browser.page(&edit).await, "version");
    let typed = [
        ("version", version.as_str()),
        ("name", "Partner EU"),
        ("allowed_ips", "10.0.0.0/8\nnot-an-address"),
        ("requests_per_second", "5"),
        ("burst", "9"),
    ];
    let refused = browser.submit(&edit, &edit, &typed).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused = refused.text().await.unwrap();
    assert!(refused.contains("allowed_ips") && refused.contains("not-an-address") && refused.contains("Partner EU"));
    let fields = [
        ("version", version.as_str()),
        ("name", "Partner EU"),
        ("allowed_ips", "10.0.0.0/8"),
        ("requests_per_second", "5"),
        ("burst", "9"),
    ];
    let saved = browser.submit(&edit, &edit, &fields).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let profile: Value = app.get(&format!("{profiles}/{profile_id}"), &admin_token).await.json().await.unwrap();
    let profile = &profile["access_profile"];
    assert_eq!(profile["name"], "Partner EU");
    assert_eq!(profile["products"], json!([]), "no product ticked: none");
    assert_eq!(profile["allowed_ips"], json!(["10.0.0.0/8"]));
    assert_eq!(profile["rate_limit"], json!({"requests_per_second": 5, "burst": 9}));
    // The same form again, now stale: refused, and nothing is undone.
    let stale = browser.submit(&edit, &edit, &[("version", version.as_str()), ("name", "Partner")]).await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);

    // The owner picks the new owner from the account's users.
    let owner_session = app.owner_session().await;
    app.create_user(&owner_session, "dev@example.com", "developer").await;
    let shown = browser.page(&page).await;
    assert!(shown.contains(r#"<select id="client_owner" name="client_owner""#), "a list of users");
    assert!(shown.contains(r#"<option value="dev@example.com">"#));
    let handed =
        browser.submit(&page, &format!("{page}/transfer-ownership"), &[("client_owner", "dev@example.com")]).await;
    assert_eq!(handed.status(), StatusCode::SEE_OTHER);
    let client: Value =
        app.get(&format!("/v1/clients/{}", credentials.client_id), &admin_token).await.json().await.unwrap();
    assert_eq!(client["client"]["client_owner"], "dev@example.com");
}

/// Seed 000: an owner or admin of a parent account switches to a child account; the current
/// account is always shown, and every page and action is scoped to it. The choice grants
/// nothing: an account the person may not act in is refused, and a planted cookie naming one
/// is ignored.
#[tokio::test]
async fn the_owner_switches_to_a_child_account_and_every_page_follows() {
    let app = TestApp::spawn().await;
    let owner_session = app.owner_session().await;
    let child = app.create_child_account(&owner_session, "Child tenant").await;
    let mut browser = Browser::signed_in_as_owner(&app).await;
    let home = browser.page("/clients").await;
    assert!(home.contains("Account: <strong>") && home.contains(r#"action="/switch-account""#));
    assert!(home.contains(&format!(r#"<option value="{child}">Child tenant</option>"#)));

    let switched = browser.submit("/clients", "/switch-account", &[("account_id", &child)]).await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    let cookie = switched.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("gatehouse_account="), "{cookie}");
    browser.cookie = Some(format!("{}; {cookie}", browser.cookie.clone().unwrap()));
    let listed = browser.page("/clients").await;
    assert!(listed.contains("Account: <strong>Child tenant</strong>"), "the current account shows");
    assert!(listed.contains("No clients on this page."), "the root's clients are not the child's");

    // A client created now is the child's.
    let created =
        browser.submit("/clients/new", "/clients/new", &[("name", "In the child"), ("client_type", "standard")]).await;
    browser.shown_once(created).await;
    let in_child: Value = app
        .get(&format!("/v1/clients?page_size=10&page_number=1&account_id={child}"), &owner_session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(in_child["clients"][0]["name"], "In the child");
    assert_eq!(in_child["meta"]["count"], 1);
    // A root client is out of sight while acting in the child, and the refusal is recorded in
    // the person's own account, never in the child's.
    let root_client = format!("/clients/{}", app.admin.client_id);
    assert_eq!(browser.get(&root_client).await.status(), StatusCode::NOT_FOUND);
    let audit = |account: String| {
        let (app, session) = (&app, &owner_session);
        async move {
            let path = format!("/v1/audit-events?page_size=100&page_number=1&account_id={account}");
            app.get(&path, session).await.text().await.unwrap()
        }
    };
    assert!(!audit(child.clone()).await.contains(app.admin.client_id.as_str()), "the child learns nothing of the root");
    assert!(audit(app.account_id.clone()).await.contains(app.admin.client_id.as_str()));
    // A form shown before the switch no longer posts: it would act in the account chosen since.
    let stale = browser.post_form("/clients/new", &[("csrf", &csrf_of(&home)), ("name", "Stale")]).await;
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);

    // Another tenant's account is refused like one that does not exist, and a cookie naming it
    // is ignored.
    let stranger = app.add_account("stranger@example.com").await;
    let refused = browser.submit("/clients", "/switch-account", &[("account_id", stranger.account_id.as_str())]).await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert!(refused.headers().get("set-cookie").is_none());
    let planted = Browser {
        cookie: Some(format!(
            "{}; gatehouse_account={}",
            browser.cookie.clone().unwrap().split(';').next().unwrap(),
            stranger.account_id
        )),
        ..Browser::new(&app)
    };
    let page = planted.page("/clients").await;
    assert!(!page.contains("Another tenant") && page.contains(&app.admin.client_id), "acts in its own account");

    // Back home: the cookie is cleared, and the root's clients are back.
    let back = browser.submit("/clients", "/switch-account", &[("account_id", &app.account_id)]).await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert!(back.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
}

/// A form body with a file, as a browser sends it.
fn multipart(csrf: Option<&str>, file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----gatehouse-test-boundary";
    let mut body = Vec::new();
    if let Some(csrf) = csrf {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"logo.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_logo_uploaded_in_the_portal_shows_on_the_client_and_in_the_list() {
    let app = TestApp::spawn().await;
    let (credentials, _) = app.create_client(&app.admin_token().await, json!({"name": "With a logo"})).await;
    let browser = Browser::signed_in_as_owner(&app).await;
    let page = format!("/clients/{}", credentials.client_id);
    let shown = browser.page(&page).await;
    assert!(shown.contains(r#"enctype="multipart/form-data""#) && !shown.contains("<img"));
    let csrf = csrf_of(&shown);
    let upload = |csrf: Option<&str>, file: &[u8]| {
        let (content_type, body) = multipart(csrf, file);
        browser
            .http
            .post(app.url(&format!("{page}/logo")))
            .header("cookie", browser.cookie.clone().unwrap())
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let html = b"<html><script>alert(document.cookie)</script></html>";
    let refused = upload(Some(&csrf), html).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("PNG or JPEG"));
    let forged = upload(None, crate::logos::TINY_PNG).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN, "the form's CSRF token is needed");
    assert!(!browser.page(&page).await.contains("<img"), "nothing was set");

    let uploaded = upload(Some(&csrf), crate::logos::TINY_PNG).await.unwrap();
    assert_eq!(uploaded.status(), StatusCode::SEE_OTHER);
    let logo = format!("{page}/logo");
    assert!(browser.page(&page).await.contains(&format!(r#"<img class="logo" src="{logo}" alt="With a logo logo""#)));
    assert!(browser.page("/clients").await.contains(&format!(r#"src="{logo}""#)), "in the list too");
    let served = browser.get(&logo).await;
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    assert_eq!(served.bytes().await.unwrap().as_ref(), crate::logos::TINY_PNG);

    let removed = browser.submit(&page, &format!("{logo}/delete"), &[]).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert!(!browser.page(&page).await.contains("<img"));
    assert_eq!(browser.get(&logo).await.status(), StatusCode::NOT_FOUND);
}

/// Seed file 002's projects in the portal: an owner makes one and adds a developer; a client
/// created in it is then seen by that developer and by nobody else below owners and admins.
#[tokio::test]
async fn a_project_made_in_the_portal_hides_its_clients_from_developers_outside_it() {
    let app = TestApp::spawn().await;
    let session = app.owner_session().await;
    let mut passwords = Vec::new();
    for email in ["member@example.com", "outsider@example.com"] {
        let created = app.post_json("/v1/users", &session, &json!({"email": email, "role": "developer"})).await;
        let created: Value = created.json().await.unwrap();
        passwords.push((
            created["user"]["user_id"].as_str().unwrap().to_owned(),
            created["password"].as_str().unwrap().to_owned(),
        ));
    }
    let owner = Browser::signed_in_as_owner(&app).await;

    let made = owner.submit("/projects", "/projects", &[("name", "Billing"), ("description", "Invoices team")]).await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let project_path = location(&made).to_owned();
    let project_id = project_path.trim_start_matches("/projects/").to_owned();
    let taken = owner.submit("/projects", "/projects", &[("name", "Billing")]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(taken.text().await.unwrap().contains("has a project with this name"));

    // The member is chosen from the account's users.
    let page = owner.page(&project_path).await;
    assert!(page.contains("No members yet.") && page.contains("outsider@example.com"));
    let members_action = format!("{project_path}/members");
    let added = owner.submit(&project_path, &members_action, &[("user_id", &passwords[0].0)]).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let page = owner.page(&project_path).await;
    assert!(page.contains("Remove member@example.com"), "listed as a member");

    // A client created in the project, from the form's project choice.
    let form = owner.page("/clients/new").await;
    assert!(form.contains(&format!(r#"<option value="{project_id}">Billing</option>"#)), "offered on the form");
    let created =
        owner.submit("/clients/new", "/clients/new", &[("name", "Invoice sync"), ("project_id", &project_id)]).await;
    owner.shown_once(created).await;
    let listed = app.get(&format!("/v1/clients?page_size=10&page_number=1&project_id={project_id}"), &session).await;
    let listed: Value = listed.json().await.unwrap();
    let client_id = listed["clients"][0]["client_id"].as_str().unwrap().to_owned();
    assert_eq!(listed["clients"][0]["name"], "Invoice sync");
    let client_page = owner.page(&format!("/clients/{client_id}")).await;
    assert!(client_page.contains(&format!(r#"<a href="{project_path}">Billing</a>"#)), "the client names its project");
    let in_project = owner.page(&format!("/clients?project={project_id}")).await;
    assert!(in_project.contains("Invoice sync") && in_project.contains("1 clients"));

    // The member sees it; the outsider sees neither it nor the project.
    let mut member = Browser::new(&app);
    member.sign_in("member@example.com", &passwords[0].1).await;
    assert!(member.page("/clients").await.contains("Invoice sync"));
    assert!(member.page("/projects").await.contains("Billing"));
    assert_eq!(member.get(&format!("/clients/{client_id}")).await.status(), StatusCode::OK);
    // Their edit form keeps the client in its project: they may not move it out.
    let edit_path = format!("/clients/{client_id}/edit");
    let edit = member.page(&edit_path).await;
    assert!(edit.contains("Project: Billing") && !edit.contains(r#"name="project_id""#), "no project choice");
    let version = field_value(&edit, "version");
    let saved = member
        .submit(
            &edit_path,
            &edit_path,
            &[("version", &version), ("name", "Invoice sync"), ("token_expiry_seconds", "3600")],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let got: Value = app.get(&format!("/v1/clients/{client_id}"), &session).await.json().await.unwrap();
    assert_eq!(got["client"]["project_id"], project_id.as_str(), "still in its project");
    assert!(owner.page(&edit_path).await.contains(r#"name="project_id""#), "owners and admins move clients");
    let mut outsider = Browser::new(&app);
    outsider.sign_in("outsider@example.com", &passwords[1].1).await;
    assert!(!outsider.page("/clients").await.contains("Invoice sync"));
    assert!(outsider.page("/projects").await.contains("You are not a member of any project."));
    assert_eq!(outsider.get(&format!("/clients/{client_id}")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(outsider.get(&project_path).await.status(), StatusCode::NOT_FOUND);
    // Nor can they shape projects.
    let refused = outsider.submit("/projects", "/projects", &[("name", "Mine")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // The transfer list offers the member, never the outsider.
    assert!(client_page.contains("member@example.com (developer)"));
    assert!(!client_page.contains("outsider@example.com"));

    // A project with a client stays; removed, the member loses sight of the client.
    let delete_action = format!("{project_path}/delete");
    let kept = owner.submit(&project_path, &delete_action, &[]).await;
    assert_eq!(kept.status(), StatusCode::CONFLICT);
    assert!(kept.text().await.unwrap().contains("still has clients"));
    let remove_action = format!("{project_path}/members/{}/remove", passwords[0].0);
    assert_eq!(owner.submit(&project_path, &remove_action, &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(member.get(&format!("/clients/{client_id}")).await.status(), StatusCode::NOT_FOUND);

    // Renamed in the portal; emptied and deleted.
    let renamed = owner.submit(&project_path, &project_path, &[("name", "Payments"), ("description", "")]).await;
    assert_eq!(renamed.status(), StatusCode::SEE_OTHER);
    assert!(owner.page(&format!("/clients/{client_id}")).await.contains(">Payments</a>"));
    app.delete(&format!("/v1/clients/{client_id}"), &session).await;
    assert_eq!(owner.submit(&project_path, &delete_action, &[]).await.status(), StatusCode::SEE_OTHER);
    assert!(owner.page("/projects").await.contains("No projects yet."));
}

/// Policies in the portal: an owner makes one with a quota, puts a profile under it from the
/// profile's form, and the gateway check holds the profile to it.
#[tokio::test]
async fn a_policy_made_in_the_portal_holds_a_profile_put_under_it() {
    let app = TestApp::spawn().await;
    let owner = Browser::signed_in_as_owner(&app).await;
    let made = owner
        .submit(
            "/policies",
            "/policies",
            &[
                ("name", "Trial"),
                ("quota_requests", "2"),
                ("quota_period", "day"),
                ("requests_per_second", ""),
                ("burst", ""),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let policy_path = location(&made).to_owned();
    let policy_id = policy_path.trim_start_matches("/policies/").to_owned();
    assert!(owner.page(&policy_path).await.contains("2 per day (UTC)"));
    let bad = owner
        .submit("/policies", "/policies", &[("name", "Bad"), ("quota_requests", "0"), ("quota_period", "day")])
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let session = app.owner_session().await;
    let (client, _) = app.create_client(&session, json!({})).await;
    let profiles = format!("/v1/clients/{}/access-profiles", client.client_id);
    let created = app
        .post_json(&profiles, &session, &json!({"name": "p", "auth_method": "api_key", "products": ["SuperSIM"]}))
        .await;
    let created: Value = created.json().await.unwrap();
    let key = created["credential"]["api_key"].as_str().unwrap().to_owned();
    let profile_id = created["access_profile"]["profile_id"].as_str().unwrap().to_owned();
    let edit_path = format!("/clients/{}/profiles/{profile_id}/edit", client.client_id);
    let form = owner.page(&edit_path).await;
    assert!(form.contains(&format!(r#"<option value="{policy_id}">Trial</option>"#)), "offered on the form");
    let version = field_value(&form, "version");
    let saved = owner
        .submit(
            &edit_path,
            &edit_path,
            &[("version", &version), ("name", "p"), ("products", "SuperSIM"), ("policy_id", &policy_id)],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(
        owner.page(&format!("/clients/{}", client.client_id)).await.contains("<td>Trial</td>"),
        "named in the table"
    );

    let check = || async {
        app.http.get(app.url("/v1/auth/products/SuperSIM/check")).bearer_auth(&key).send().await.unwrap().status()
    };
    assert_eq!(check().await, StatusCode::OK);
    assert_eq!(check().await, StatusCode::OK);
    assert_eq!(check().await, StatusCode::TOO_MANY_REQUESTS, "the policy's quota");

    // A policy in use stays; a developer reads policies but cannot make one.
    let kept = owner.submit(&policy_path, &format!("{policy_path}/delete"), &[]).await;
    assert_eq!(kept.status(), StatusCode::CONFLICT);
    let created = app.post_json("/v1/users", &session, &json!({"email": "dev@example.com", "role": "developer"})).await;
    let password = created.json::<Value>().await.unwrap()["password"].as_str().unwrap().to_owned();
    let mut developer = Browser::new(&app);
    developer.sign_in("dev@example.com", &password).await;
    let listed = developer.page("/policies").await;
    assert!(listed.contains("Trial") && !listed.contains("New policy"));
    assert_eq!(developer.submit("/policies", "/policies", &[("name", "Mine")]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_consumer_jwt_profile_made_in_the_portal_lets_its_keys_call_and_a_key_change_ends_them() {
    use crate::federation::{TestKey, consumer_claims};
    let app = TestApp::spawn().await;
    let owner = Browser::signed_in_as_owner(&app).await;
    let session = app.owner_session().await;
    let (client, _) = app.create_client(&session, json!({})).await;
    let client_page = format!("/clients/{}", client.client_id);
    let (first, second) = (TestKey::ed25519("first"), TestKey::p256("second"));
    let keys = |key: &TestKey| json!({"keys": [key.jwk()]}).to_string();
    let bad = owner
        .submit(
            &client_page,
            &format!("{client_page}/profiles"),
            &[("name", "partner"), ("auth_method", "jwt"), ("products", "SuperSIM"), ("jwks", "{not json")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let made = owner
        .submit(
            &client_page,
            &format!("{client_page}/profiles"),
            &[("name", "partner"), ("auth_method", "jwt"), ("products", "SuperSIM"), ("jwks", &keys(&first))],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER, "nothing to show once: back to the client");
    let page = owner.page(&client_page).await;
    assert!(page.contains("consumer JWT (own keys)"), "the method is named");
    assert!(!page.contains("Refresh credential"), "no credential to refresh");
    let listed: Value =
        app.get(&format!("/v1/clients/{}/access-profiles", client.client_id), &session).await.json().await.unwrap();
    let profile_id = listed["access_profiles"][0]["profile_id"].as_str().unwrap().to_owned();
    let app = &app;
    let check = |jwt: String| async move {
        app.http.get(app.url("/v1/auth/products/SuperSIM/check")).bearer_auth(jwt).send().await.unwrap().status()
    };
    assert_eq!(check(first.sign(&consumer_claims(app, &profile_id))).await, StatusCode::OK);

    // The edit form shows the keys and replaces them.
    let edit_path = format!("{client_page}/profiles/{profile_id}/edit");
    let form = owner.page(&edit_path).await;
    assert!(form.contains("first"), "the current keys are on the form");
    let version = field_value(&form, "version");
    let saved = owner
        .submit(
            &edit_path,
            &edit_path,
            &[("version", &version), ("name", "partner"), ("products", "SuperSIM"), ("jwks", &keys(&second))],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(check(first.sign(&consumer_claims(app, &profile_id))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(second.sign(&consumer_claims(app, &profile_id))).await, StatusCode::OK);
}
