//! `/v1/projects[/{project_id}[/members/{user_id}]]`: projects (seed file 002). A client in a
//! project is seen, among developers, only by the project's members.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use gatehouse_domain::client::Description;
use gatehouse_domain::ids::{AccountId, ProjectId, UserId};
use gatehouse_domain::project::{NewProject, Project, ProjectName, ProjectPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::account_of;
use super::clients::timestamp;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Authenticated};
use crate::http::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/projects", get(list_projects).post(create_project))
        .route("/v1/projects/{project_id}", get(get_project).patch(update_project).delete(delete_project))
        .route("/v1/projects/{project_id}/members/{user_id}", put(add_member).delete(remove_member))
}

#[derive(Serialize, ToSchema)]
struct MemberView {
    user_id: String,
    email: String,
}

#[derive(Serialize, ToSchema)]
struct ProjectView {
    project_id: String,
    account_id: String,
    name: String,
    description: String,
    /// Sorted by email.
    members: Vec<MemberView>,
    date_created: String,
    date_updated: String,
}

impl From<Project> for ProjectView {
    fn from(project: Project) -> Self {
        Self {
            project_id: project.project_id.to_string(),
            account_id: project.account_id.to_string(),
            name: project.name.as_str().to_owned(),
            description: project.description.as_str().to_owned(),
            members: project
                .members
                .into_iter()
                .map(|member| MemberView { user_id: member.user_id.to_string(), email: member.email.to_string() })
                .collect(),
            date_created: timestamp(project.date_created),
            date_updated: timestamp(project.date_updated),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ProjectEnvelope {
    project: ProjectView,
}

#[derive(Serialize, ToSchema)]
struct ProjectList {
    projects: Vec<ProjectView>,
}

fn envelope(project: Project) -> Json<ProjectEnvelope> {
    Json(ProjectEnvelope { project: project.into() })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateProjectBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
    /// A child account's, for an owner or admin above it.
    #[serde(default)]
    account_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateProjectBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `GET /v1/projects`: owners and admins see every project; a developer, their own.
#[utoipa::path(get, path = "/v1/projects", tag = "projects", security(("bearer" = [])),
    params(("account_id" = Option<String>, Query, description = "a child account's projects")),
    responses((status = 200, body = ProjectList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_projects(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    RawQuery(query): RawQuery,
) -> Result<Json<ProjectList>, ApiError> {
    let account_id = account_of(query);
    let projects = state.gatehouse.list_projects(&actor, account_id, state.clock.now()).await?;
    Ok(Json(ProjectList { projects: projects.into_iter().map(ProjectView::from).collect() }))
}

/// `POST /v1/projects`: owners and admins; the name is unique in the account (409).
#[utoipa::path(post, path = "/v1/projects", tag = "projects", security(("bearer" = [])), request_body = CreateProjectBody,
    responses(
        (status = 201, body = ProjectEnvelope, headers(("Location" = String))), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn create_project(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    ApiJson(body): ApiJson<CreateProjectBody>,
) -> Result<Response, ApiError> {
    let new = NewProject {
        account_id: body.account_id.map(AccountId::from_string),
        name: ProjectName::parse(&body.name)?,
        description: Description::parse(body.description.as_deref().unwrap_or_default())?,
    };
    let project = state.gatehouse.create_project(&actor, new, state.clock.now()).await?;
    let location = HeaderValue::from_str(&format!("/v1/projects/{}", project.project_id)).ok();
    let mut response = (StatusCode::CREATED, envelope(project)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = String, Path)),
    responses((status = 200, body = ProjectEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_project(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(project_id): Path<String>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let project = state.gatehouse.get_project(&actor, &ProjectId::from_string(project_id), state.clock.now()).await?;
    Ok(envelope(project))
}

#[utoipa::path(patch, path = "/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = String, Path)), request_body = UpdateProjectBody,
    responses(
        (status = 200, body = ProjectEnvelope), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
async fn update_project(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(project_id): Path<String>,
    ApiJson(body): ApiJson<UpdateProjectBody>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let patch = ProjectPatch {
        name: body.name.as_deref().map(ProjectName::parse).transpose()?,
        description: body.description.as_deref().map(Description::parse).transpose()?,
    };
    let project =
        state.gatehouse.update_project(&actor, &ProjectId::from_string(project_id), patch, state.clock.now()).await?;
    Ok(envelope(project))
}

/// `DELETE /v1/projects/{project_id}`: 409 while clients are in it.
#[utoipa::path(delete, path = "/v1/projects/{project_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = String, Path)),
    responses(
        (status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the project still has clients"),
    ))]
async fn delete_project(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path(project_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gatehouse.delete_project(&actor, &ProjectId::from_string(project_id), state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/projects/{project_id}/members/{user_id}`: a user of the project's account joins it
/// (again: no change). Owners and admins.
#[utoipa::path(put, path = "/v1/projects/{project_id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 200, body = ProjectEnvelope), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn add_member(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((project_id, user_id)): Path<(String, String)>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let project = state
        .gatehouse
        .add_project_member(
            &actor,
            &ProjectId::from_string(project_id),
            &UserId::from_string(user_id),
            state.clock.now(),
        )
        .await?;
    Ok(envelope(project))
}

/// `DELETE /v1/projects/{project_id}/members/{user_id}`: the user no longer sees the project's
/// clients. 404 if they were not a member.
#[utoipa::path(delete, path = "/v1/projects/{project_id}/members/{user_id}", tag = "projects", security(("bearer" = [])),
    params(("project_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    Authenticated(actor): Authenticated,
    Path((project_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .gatehouse
        .remove_project_member(
            &actor,
            &ProjectId::from_string(project_id),
            &UserId::from_string(user_id),
            state.clock.now(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The project routes' part of `/openapi.json`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_projects,
    create_project,
    get_project,
    update_project,
    delete_project,
    add_member,
    remove_member
))]
pub(super) struct ProjectsApi;
