//! The account's people, for its owner and admins: add a user (the generated password shown
//! once), change a role, remove a user. The domain decides who may do what (only the owner
//! grants or removes `admin`; the owner is never demoted here).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::account::{Email, Role, User};
use gatehouse_domain::error::ValidationError;
use gatehouse_domain::ids::UserId;
use gatehouse_domain::people::NewUser;
use maud::{Markup, html};

use super::pages::{csrf_field, form_error, layout, when};
use super::shown::{ShownField, ShownOnce};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{user_id}/role", post(change_role))
        .route("/users/{user_id}/delete", post(remove))
}

fn parse_role(value: &str) -> Result<Role, ValidationError> {
    match Role::parse(value) {
        Some(role @ (Role::Admin | Role::Developer)) => Ok(role),
        _ => Err(ValidationError::new("role", "must be admin or developer")),
    }
}

fn page(session: &PortalSession, users: &[User], email: &str, error: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Users" }
        p.muted {
            "People who sign in to this portal. Owners and admins run the account and may create admin clients; "
            "developers manage standard clients. Only the owner grants or removes the admin role."
        }
        table.list {
            thead { tr { th { "Email" } th { "Role" } th { "Added" } th { span.visually-hidden { "Actions" } } } }
            tbody {
                @for user in users {
                    tr {
                        td { (user.email) }
                        td { (user.role.as_str()) }
                        td { (when(user.date_created)) }
                        td {
                            @if user.role != Role::Owner {
                                form.inline method="post" action={ "/users/" (user.user_id) "/role" } {
                                    (csrf_field(session))
                                    @let other = if user.role == Role::Admin { Role::Developer } else { Role::Admin };
                                    input type="hidden" name="role" value=(other.as_str());
                                    button type="submit" { "Make " (other.as_str()) }
                                }
                                form.inline method="post" action={ "/users/" (user.user_id) "/delete" } {
                                    (csrf_field(session))
                                    button.danger type="submit" { "Remove" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a user" }
        (form_error(error))
        form.inline method="post" action="/users" {
            (csrf_field(session))
            label { "Email " input type="email" name="email" value=(email) required; }
            label {
                "Role "
                select name="role" {
                    option value="developer" { "developer" }
                    option value="admin" { "admin" }
                }
            }
            button type="submit" { "Add user" }
        }
        p.muted { "A password is generated and shown once, on the next page. Hand it over and ask them to keep it safe." }
    };
    layout("Users", Some(session), body)
}

async fn list(State(state): State<AppState>, session: PortalSession) -> Result<Response, PortalError> {
    let users = state.gatehouse.list_users(&session.actor, None, state.clock.now()).await?;
    Ok(page(&session, &users, "", None).into_response())
}

async fn create(
    State(state): State<AppState>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let new = NewUser {
            email: Email::parse(fields.text("email"))?,
            role: parse_role(fields.text("role"))?,
            account_id: None,
        };
        Ok::<_, PortalError>(state.gatehouse.create_user(&session.actor, new, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok((user, password)) => {
            let shown = ShownOnce {
                title: "User added".to_owned(),
                what: "password".to_owned(),
                kept_as: "an Argon2id hash".to_owned(),
                note: None,
                fields: vec![
                    ShownField::plain("Email", "user-email", user.email.to_string()),
                    ShownField::plain("Role", "user-role", user.role.as_str()),
                    ShownField::copied("Password", "user-password", password.to_string(), "password"),
                ],
                example: None,
                back_href: "/users".to_owned(),
                back_text: "Back to the users".to_owned(),
            };
            session.show_once(&state, &shown).await
        }
        Err(error) if matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT) => {
            let users = state.gatehouse.list_users(&session.actor, None, state.clock.now()).await?;
            Ok((error.status(), page(&session, &users, fields.text("email"), Some(error.message()))).into_response())
        }
        Err(error) => Err(error),
    }
}

async fn change_role(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let role = parse_role(fields.text("role"))?;
    state.gatehouse.update_user_role(&session.actor, &UserId::from_string(user_id), role, state.clock.now()).await?;
    Ok(Redirect::to("/users").into_response())
}

async fn remove(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    state.gatehouse.delete_user(&session.actor, &UserId::from_string(user_id), state.clock.now()).await?;
    Ok(Redirect::to("/users").into_response())
}
