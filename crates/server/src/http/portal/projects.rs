//! Projects (seed file 002): "Only members with access to this project are able to see the
//! client." Everyone who manages clients sees the projects they may put clients in; owners and
//! admins create, rename and delete them and choose their members (the domain decides).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gatehouse_domain::account::User;
use gatehouse_domain::client::{Description, GlobalResource};
use gatehouse_domain::ids::{ProjectId, UserId};
use gatehouse_domain::project::{NewProject, Project, ProjectName, ProjectPatch};
use maud::{Markup, html};

use super::pages::{csrf_field, form_error, layout, when};
use super::{PortalError, PortalForm, PortalSession};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/projects", get(list).post(create))
        .route("/projects/{project_id}", get(show).post(update))
        .route("/projects/{project_id}/members", post(add_member))
        .route("/projects/{project_id}/members/{user_id}/remove", post(remove_member))
        .route("/projects/{project_id}/delete", post(remove))
}

pub(super) fn project_url(project_id: &ProjectId) -> String {
    format!("/projects/{project_id}")
}

/// The list of clients in a project.
pub(super) fn clients_url(project_id: &ProjectId) -> String {
    format!("/clients?project={project_id}")
}

fn list_page(session: &PortalSession, projects: &[Project], error: Option<&str>) -> Markup {
    let editor = session.actor.role.is_owner_or_admin();
    let body = html! {
        h1 { "Projects" }
        p.muted {
            "A client in a project is seen, among developers, only by the project's members. "
            "Clients outside any project are seen by every developer of the account; owners and admins see every client."
        }
        (form_error(error))
        @if projects.is_empty() {
            p.muted { @if editor { "No projects yet." } @else { "You are not a member of any project." } }
        } @else {
            table.list {
                thead { tr { th { "Name" } th { "Description" } th { "Members" } th { "Clients" } } }
                tbody {
                    @for project in projects {
                        tr {
                            td { a href=(project_url(&project.project_id)) { (project.name.as_str()) } }
                            td { (project.description.as_str()) }
                            td { (project.members.len()) }
                            td { a href=(clients_url(&project.project_id)) { "Clients in " (project.name.as_str()) } }
                        }
                    }
                }
            }
        }
        @if editor {
            h2 { "New project" }
            form.stacked method="post" action="/projects" {
                (csrf_field(session))
                label for="name" { "Name" }
                input #name type="text" name="name" maxlength=(ProjectName::MAX_CHARS) required;
                label for="description" { "Description" }
                textarea #description name="description" rows="2" maxlength=(Description::MAX_CHARS) {}
                button type="submit" { "Create project" }
            }
        }
    };
    layout("Projects", Some(session), body)
}

async fn list(State(state): State<AppState>, session: PortalSession) -> Result<Response, PortalError> {
    let projects = state.gatehouse.list_projects(&session.actor, None, state.clock.now()).await?;
    Ok(list_page(&session, &projects, None).into_response())
}

/// The refusals a person can fix (a bad or taken name, a project with clients), shown on the
/// page they came from; anything else is an error page.
fn fixable(error: &PortalError) -> bool {
    matches!(error.status(), StatusCode::BAD_REQUEST | StatusCode::CONFLICT | StatusCode::NOT_FOUND)
}

async fn create(
    State(state): State<AppState>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let result = async {
        let new = NewProject {
            account_id: None,
            name: ProjectName::parse(fields.text("name"))?,
            description: Description::parse(fields.text("description"))?,
        };
        Ok::<_, PortalError>(state.gatehouse.create_project(&session.actor, new, state.clock.now()).await?)
    }
    .await;
    match result {
        Ok(project) => Ok(Redirect::to(&project_url(&project.project_id)).into_response()),
        Err(error) if fixable(&error) => {
            let projects = state.gatehouse.list_projects(&session.actor, None, state.clock.now()).await?;
            Ok((error.status(), list_page(&session, &projects, Some(error.message()))).into_response())
        }
        Err(error) => Err(error),
    }
}

fn project_page(session: &PortalSession, project: &Project, users: Option<&[User]>, error: Option<&str>) -> Markup {
    let url = project_url(&project.project_id);
    let editor = session.actor.role.is_owner_or_admin();
    let candidates: Vec<&User> =
        users.unwrap_or_default().iter().filter(|user| !project.has_member(&user.user_id)).collect();
    let body = html! {
        h1 { (project.name.as_str()) }
        @if !project.description.as_str().is_empty() { p { (project.description.as_str()) } }
        (form_error(error))
        dl.fields {
            dt { "Project ID" } dd { code { (project.project_id) } }
            dt { "Clients" } dd { a href=(clients_url(&project.project_id)) { "Clients in " (project.name.as_str()) } }
            dt { "Created" } dd { (when(project.date_created)) }
            dt { "Updated" } dd { (when(project.date_updated)) }
        }
        section {
            h2 { "Members" }
            p.muted { "Developers who are members see and manage the project's clients. Owners and admins see them all without being members." }
            @if project.members.is_empty() {
                p.muted { "No members yet." }
            } @else {
                table.list {
                    thead { tr { th { "Email" } @if users.is_some() { th { span.visually-hidden { "Actions" } } } } }
                    tbody {
                        @for member in &project.members {
                            tr {
                                td { (member.email) }
                                @if users.is_some() {
                                    td {
                                        form.inline method="post" action={ (url) "/members/" (member.user_id) "/remove" } {
                                            (csrf_field(session))
                                            button.danger type="submit" aria-label={ "Remove " (member.email) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if users.is_some() {
                @if candidates.is_empty() {
                    p.muted { "Every user of the account is a member." }
                } @else {
                    form.inline method="post" action={ (url) "/members" } {
                        (csrf_field(session))
                        label for="user_id" { "Add " }
                        select #user_id name="user_id" required {
                            @for user in &candidates {
                                option value=(user.user_id) { (user.email) " (" (user.role.as_str()) ")" }
                            }
                        }
                        " " button type="submit" { "Add member" }
                    }
                }
            }
        }
        @if editor {
            section {
                h2 { "Edit" }
                form.stacked method="post" action=(url) {
                    (csrf_field(session))
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(project.name.as_str()) maxlength=(ProjectName::MAX_CHARS) required;
                    label for="description" { "Description" }
                    textarea #description name="description" rows="2" maxlength=(Description::MAX_CHARS) { (project.description.as_str()) }
                    button type="submit" { "Save" }
                }
            }
            section.actions {
                h2 { "Delete" }
                p.muted { "A project that still has clients cannot be deleted: move them to another project or delete them first." }
                form.inline method="post" action={ (url) "/delete" } {
                    (csrf_field(session))
                    button.danger type="submit" { "Delete project" }
                }
            }
        }
    };
    layout(project.name.as_str(), Some(session), body)
}

/// The project's page with `error`, or the error page when the project cannot be shown.
async fn render(
    state: &AppState,
    session: &PortalSession,
    project_id: &ProjectId,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PortalError> {
    let now = state.clock.now();
    let project = state.gatehouse.get_project(&session.actor, project_id, now).await?;
    // Who may join, for those who choose members (asked only of them: a refusal would go on
    // the audit log).
    let may_choose = session.actor.role.is_owner_or_admin() && session.actor.require(GlobalResource::Users).is_ok();
    let users = if may_choose {
        Some(state.gatehouse.list_users(&session.actor, Some(project.account_id.clone()), now).await?)
    } else {
        None
    };
    Ok((status, project_page(session, &project, users.as_deref(), error)).into_response())
}

async fn show(
    State(state): State<AppState>,
    session: PortalSession,
    Path(project_id): Path<String>,
) -> Result<Response, PortalError> {
    render(&state, &session, &ProjectId::from_string(project_id), StatusCode::OK, None).await
}

/// After a change: back to the project's page, or the same page with what was refused.
async fn answer<T>(
    state: &AppState,
    session: &PortalSession,
    project_id: &ProjectId,
    result: Result<T, PortalError>,
) -> Result<Response, PortalError> {
    match result {
        Ok(_) => Ok(Redirect::to(&project_url(project_id)).into_response()),
        Err(error) if fixable(&error) => {
            render(state, session, project_id, error.status(), Some(error.message())).await
        }
        Err(error) => Err(error),
    }
}

async fn update(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let project_id = ProjectId::from_string(project_id);
    let result = async {
        let patch = ProjectPatch {
            name: Some(ProjectName::parse(fields.text("name"))?),
            description: Some(Description::parse(fields.text("description"))?),
        };
        Ok::<_, PortalError>(
            state.gatehouse.update_project(&session.actor, &project_id, patch, state.clock.now()).await?,
        )
    }
    .await;
    answer(&state, &session, &project_id, result).await
}

async fn add_member(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    PortalForm { session, fields }: PortalForm,
) -> Result<Response, PortalError> {
    let project_id = ProjectId::from_string(project_id);
    let user_id = UserId::from_string(fields.text("user_id"));
    let result = state.gatehouse.add_project_member(&session.actor, &project_id, &user_id, state.clock.now()).await;
    answer(&state, &session, &project_id, result.map_err(PortalError::from)).await
}

async fn remove_member(
    State(state): State<AppState>,
    Path((project_id, user_id)): Path<(String, String)>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    let project_id = ProjectId::from_string(project_id);
    let user_id = UserId::from_string(user_id);
    let result = state.gatehouse.remove_project_member(&session.actor, &project_id, &user_id, state.clock.now()).await;
    answer(&state, &session, &project_id, result.map_err(PortalError::from)).await
}

async fn remove(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    PortalForm { session, .. }: PortalForm,
) -> Result<Response, PortalError> {
    let project_id = ProjectId::from_string(project_id);
    match state.gatehouse.delete_project(&session.actor, &project_id, state.clock.now()).await {
        Ok(()) => Ok(Redirect::to("/projects").into_response()),
        Err(error) => answer(&state, &session, &project_id, Err::<(), _>(PortalError::from(error))).await,
    }
}
