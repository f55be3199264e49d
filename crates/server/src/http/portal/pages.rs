//! The pages' common frame and the pieces several pages share. maud escapes every value it
//! renders, so names and descriptions (which may hold any text, HTML included) are shown as
//! typed and never run.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_domain::store::PageRequest;
use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;
use time::macros::format_description;

use super::PortalSession;
use super::forms::CSRF_FIELD;

/// A whole page: the header with the navigation and the signed-in person, then `body`.
pub fn layout(title: &str, session: Option<&PortalSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Gatehouse" }
                link rel="stylesheet" href="/portal.css";
                script src="/portal.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Gatehouse" }
                    @if let Some(session) = session {
                        nav aria-label="Main" {
                            a href="/clients" { "API clients" }
                            a href="/products" { "Products" }
                            a href="/projects" { "Projects" }
                            a href="/policies" { "Policies" }
                            @if session.actor.role.is_owner_or_admin() {
                                a href="/users" { "Users" }
                                a href="/audit" { "Audit log" }
                            }
                        }
                        div.who {
                            span { (session.actor.email()) " · " (session.actor.role.as_str()) }
                            span.account { "Account: " strong { (session.account.name) } }
                            @if session.accounts.len() > 1 {
                                form.inline method="post" action="/switch-account" {
                                    (csrf_field(session))
                                    label for="account_id" { "Switch to" }
                                    " "
                                    select #account_id name="account_id" {
                                        @for account in &session.accounts {
                                            option value=(account.account_id) selected[account.account_id == session.account.account_id] { (account.name) }
                                        }
                                    }
                                    " "
                                    button type="submit" { "Switch" }
                                }
                            }
                            form.inline method="post" action="/logout" {
                                (csrf_field(session))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An error as a page with its status.
pub fn error_page(status: StatusCode, message: &str, session: Option<&PortalSession>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (message) }
        p { a href="/clients" { "Back to the API clients" } }
    };
    (status, layout(title, session, body)).into_response()
}

/// The hidden field that ties a form to its session.
pub fn csrf_field(session: &PortalSession) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// A message above a form: what went wrong with the last submission.
pub fn form_error(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p.error role="alert" { (message) }
        }
    }
}

/// The notice above a secret on the one page that shows it (seed rule 1).
pub fn shown_once(what: &str, kept_as: &str) -> Markup {
    html! {
        p.notice role="status" {
            strong { "Copy the " (what) " now. " }
            "It is shown only this once: Gatehouse keeps only " (kept_as) " of it."
        }
    }
}

/// The page a listing's `?page=` asks for. Taken as text, so a hand-edited `?page=abc` shows
/// page 1 rather than a bare 400.
pub fn page_request(page: Option<&str>, size: u32) -> PageRequest {
    PageRequest { size, number: page.and_then(|page| page.parse::<u32>().ok()).unwrap_or(1).max(1) }
}

/// A listing's links to its neighbouring pages, and where it stands.
pub fn pager(path: &str, page: PageRequest, count: u64, noun: &str, back: &str, forward: &str) -> Markup {
    let pages = count.div_ceil(u64::from(page.size)).max(1);
    let number = page.number;
    // `path` may carry a query of its own (a list's filters), which the links keep.
    let join = if path.contains('?') { "&" } else { "?" };
    html! {
        nav.pager aria-label="Pages" {
            @if number > 1 { a href={ (path) (join) "page=" (number - 1) } { "← " (back) } }
            span { "Page " (number) " of " (pages) " · " (count) " " (noun) }
            @if u64::from(number) < pages { a href={ (path) (join) "page=" (number + 1) } { (forward) " →" } }
        }
    }
}

/// A timestamp as people read it, in UTC.
pub fn when(at: OffsetDateTime) -> String {
    at.format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC")).unwrap_or_default()
}

/// A button that copies the text of the element `target` (an id): hidden until the portal's
/// script shows it, since without the script it could do nothing.
pub fn copy_button(target: &str, what: &str) -> Markup {
    html! {
        " "
        button.copy type="button" data-copy=(target) hidden aria-label={ "Copy the " (what) } { "Copy" }
    }
}
