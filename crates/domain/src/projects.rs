//! Project operations (seed file 002). Owners and admins create, rename and delete projects and
//! choose their members; developers see the projects they are members of, and put clients in
//! them. Who sees which client is decided in `clients.rs` by [`Actor::project_scope`].

use serde_json::json;
use time::OffsetDateTime;
use tracing::instrument;

use crate::actor::Actor;
use crate::audit::Target;
use crate::client::{Client, GlobalResource};
use crate::error::{DomainError, ValidationError};
use crate::ids::{AccountId, ProjectId, UserId};
use crate::project::{MAX_PROJECTS, NewProject, Project, ProjectPatch, ProjectScope};
use crate::service::Gatehouse;
use crate::store::StoreError;

fn project_target(project_id: &ProjectId) -> Target<'_> {
    Target { kind: "project", id: project_id.as_str(), account_id: None }
}

impl Actor {
    /// Which clients the actor sees by project: every one for owners and admins; for a
    /// developer, or an API client a developer owns, those outside any project and those of
    /// the projects the person is a member of.
    pub fn project_scope(&self) -> ProjectScope {
        if self.role.is_owner_or_admin() {
            ProjectScope::Every
        } else {
            ProjectScope::MemberOf(self.owner_id().clone())
        }
    }

    /// Creating, renaming and deleting projects: owners and admins (an API client needs
    /// `api_clients` and such an owner).
    fn may_shape_projects(&self) -> Result<(), DomainError> {
        self.require(GlobalResource::ApiClients)?;
        if !self.role.is_owner_or_admin() {
            return Err(DomainError::Forbidden("only the account owner and admins manage projects".to_owned()));
        }
        Ok(())
    }

    /// Choosing members decides who sees which clients, so it is people management: owners and
    /// admins (an API client needs `users`, as for managing users).
    fn may_choose_members(&self) -> Result<(), DomainError> {
        self.require(GlobalResource::Users)?;
        self.may_shape_projects()
    }
}

impl Gatehouse {
    /// The account's projects: all of them for owners and admins, a developer's own for a
    /// developer.
    pub async fn list_projects(
        &self,
        actor: &Actor,
        account_id: Option<AccountId>,
        now: OffsetDateTime,
    ) -> Result<Vec<Project>, DomainError> {
        let account_id = account_id.unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_account(actor, &account_id).await?;
            let member = match actor.project_scope() {
                ProjectScope::Every => None,
                ProjectScope::MemberOf(user_id) => Some(user_id),
            };
            Ok(self.store.projects(&account_id, member.as_ref()).await?)
        }
        .await;
        let target = Target { kind: "account", id: account_id.as_str(), account_id: None };
        self.audited_read(actor, "project.list", &target, result, now).await
    }

    pub async fn get_project(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        now: OffsetDateTime,
    ) -> Result<Project, DomainError> {
        let result = async {
            actor.require(GlobalResource::ApiClients)?;
            self.visible_project(actor, project_id).await
        }
        .await;
        self.audited_read(actor, "project.read", &project_target(project_id), result, now).await
    }

    #[instrument(skip_all)]
    pub async fn create_project(
        &self,
        actor: &Actor,
        new: NewProject,
        now: OffsetDateTime,
    ) -> Result<Project, DomainError> {
        let requested_account = new.account_id.clone().unwrap_or_else(|| actor.account_id.clone());
        let result = async {
            actor.may_shape_projects()?;
            self.visible_account(actor, &requested_account).await?;
            if self.store.projects(&requested_account, None).await?.len() >= MAX_PROJECTS {
                return Err(DomainError::Conflict(format!(
                    "the account has {MAX_PROJECTS} projects, the most it may have; delete one first"
                )));
            }
            let project = Project {
                project_id: ProjectId::generate(),
                account_id: requested_account.clone(),
                name: new.name,
                description: new.description,
                members: Vec::new(),
                date_created: now,
                date_updated: now,
            };
            self.store.insert_project(&project).await.map_err(name_taken)?;
            tracing::info!(project_id = %project.project_id, "project created");
            Ok(project)
        }
        .await;
        let id = result.as_ref().map(|project| project.project_id.as_str()).unwrap_or_default();
        let target = Target { kind: "project", id, account_id: Some(&requested_account) };
        self.audit(actor, "project.create", &target, &result, json!({}), now).await;
        result
    }

    #[instrument(skip_all, fields(project_id = %project_id))]
    pub async fn update_project(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        patch: ProjectPatch,
        now: OffsetDateTime,
    ) -> Result<Project, DomainError> {
        let fields: Vec<&str> = [("name", patch.name.is_some()), ("description", patch.description.is_some())]
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .collect();
        let result = async {
            actor.may_shape_projects()?;
            let mut project = self.visible_project(actor, project_id).await?;
            if let Some(name) = patch.name {
                project.name = name;
            }
            if let Some(description) = patch.description {
                project.description = description;
            }
            project.date_updated = now;
            self.store.update_project(&project).await.map_err(|error| match error {
                StoreError::NotFound => DomainError::NotFound("project"),
                other => name_taken(other),
            })?;
            Ok(project)
        }
        .await;
        let account = result.as_ref().ok().map(|project| project.account_id.clone());
        let target = Target { kind: "project", id: project_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "project.update", &target, &result, json!({"fields": fields}), now).await;
        result
    }

    /// A project that still has clients is not deleted (409): its clients would otherwise become
    /// visible to every developer of the account at once. Move or delete them first.
    #[instrument(skip_all, fields(project_id = %project_id))]
    pub async fn delete_project(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let result = async {
            actor.may_shape_projects()?;
            let project = self.visible_project(actor, project_id).await?;
            match self.store.delete_project(project_id).await {
                Ok(()) => Ok(project.account_id),
                Err(StoreError::NotFound) => Err(DomainError::NotFound("project")),
                Err(StoreError::Conflict(_)) => Err(DomainError::Conflict(
                    "the project still has clients; move them to another project or delete them first".to_owned(),
                )),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        let account = result.as_ref().ok().cloned();
        let target = Target { kind: "project", id: project_id.as_str(), account_id: account.as_ref() };
        self.audit(actor, "project.delete", &target, &result, json!({}), now).await;
        result.map(|_| ())
    }

    /// Adds a user of the project's account. Adding a member again changes nothing.
    #[instrument(skip_all, fields(project_id = %project_id))]
    pub async fn add_project_member(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Project, DomainError> {
        let result = async {
            actor.may_choose_members()?;
            let project = self.visible_project(actor, project_id).await?;
            // Only a user of the project's own account: a user of another account (even one the
            // actor manages) would be handed clients of an account they cannot act in.
            let user = if user_id.is_well_formed() { self.store.user(user_id).await? } else { None };
            if user.is_none_or(|user| user.account_id != project.account_id) {
                return Err(DomainError::NotFound("user"));
            }
            self.store.add_project_member(project_id, user_id, now).await.map_err(|error| match error {
                StoreError::NotFound => DomainError::NotFound("project"),
                other => other.into(),
            })?;
            self.store.project(project_id).await?.ok_or(DomainError::NotFound("project"))
        }
        .await;
        self.audit_membership(actor, "project.member.add", project_id, user_id, &result, now).await;
        result
    }

    /// Removes a member: they no longer see the project's clients, their own included.
    #[instrument(skip_all, fields(project_id = %project_id))]
    pub async fn remove_project_member(
        &self,
        actor: &Actor,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<Project, DomainError> {
        let result = async {
            actor.may_choose_members()?;
            self.visible_project(actor, project_id).await?;
            self.store.remove_project_member(project_id, user_id, now).await.map_err(|error| match error {
                StoreError::NotFound => DomainError::NotFound("member"),
                other => other.into(),
            })?;
            self.store.project(project_id).await?.ok_or(DomainError::NotFound("project"))
        }
        .await;
        self.audit_membership(actor, "project.member.remove", project_id, user_id, &result, now).await;
        result
    }

    async fn audit_membership(
        &self,
        actor: &Actor,
        action: &str,
        project_id: &ProjectId,
        user_id: &UserId,
        result: &Result<Project, DomainError>,
        now: OffsetDateTime,
    ) {
        let account = result.as_ref().ok().map(|project| project.account_id.clone());
        let target = Target { kind: "project", id: project_id.as_str(), account_id: account.as_ref() };
        let details = json!({"user_id": crate::audit::printable_id(user_id.as_str())});
        self.audit(actor, action, &target, result, details, now).await;
    }

    /// A project the actor may see: of an account it acts in, and, for a developer, one they
    /// are a member of. Anything else is 404, like a project that does not exist.
    pub(crate) async fn visible_project(&self, actor: &Actor, project_id: &ProjectId) -> Result<Project, DomainError> {
        if !project_id.is_well_formed() {
            return Err(DomainError::NotFound("project"));
        }
        let project = self.store.project(project_id).await?.ok_or(DomainError::NotFound("project"))?;
        self.visible_account(actor, &project.account_id).await.map_err(|_| DomainError::NotFound("project"))?;
        match actor.project_scope() {
            ProjectScope::MemberOf(user_id) if !project.has_member(&user_id) => Err(DomainError::NotFound("project")),
            _ => Ok(project),
        }
    }

    /// Whether the actor sees `client` by its project (its account is checked apart).
    pub(crate) async fn sees_by_project(&self, actor: &Actor, client: &Client) -> Result<bool, DomainError> {
        match (&client.project_id, actor.project_scope()) {
            (None, _) | (_, ProjectScope::Every) => Ok(true),
            (Some(project_id), ProjectScope::MemberOf(user_id)) => {
                Ok(self.store.is_project_member(project_id, &user_id).await?)
            }
        }
    }

    /// The project a client is put in: one of the client's account that the actor sees (for a
    /// developer, one they are a member of). Anything else reads as no such project.
    pub(crate) async fn project_for_client(
        &self,
        actor: &Actor,
        account_id: &AccountId,
        project_id: &ProjectId,
    ) -> Result<Project, DomainError> {
        let unknown = || ValidationError::new("project_id", "names no project of the client's account that you are in");
        let project = self.visible_project(actor, project_id).await.map_err(|error| match error {
            DomainError::NotFound(_) => unknown().into(),
            other => other,
        })?;
        if &project.account_id != account_id {
            return Err(unknown().into());
        }
        Ok(project)
    }
}

fn name_taken(error: StoreError) -> DomainError {
    match error {
        StoreError::Conflict(_) => DomainError::Conflict("the account has a project with this name already".to_owned()),
        other => other.into(),
    }
}
