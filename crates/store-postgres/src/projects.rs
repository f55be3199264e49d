//! [`ProjectStore`]: projects and their members.

use async_trait::async_trait;
use gatehouse_domain::ids::{AccountId, ProjectId, UserId};
use gatehouse_domain::project::Project;
use gatehouse_domain::store::{ProjectStore, StoreError};
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::rows::{MemberRow, PROJECT_COLUMNS, ProjectRow, map_error, map_reference_error, projects_from};

const MEMBER_COLUMNS: &str = "m.project_id, m.user_id, u.email";

impl PostgresStore {
    /// Deletes the row of `table` whose `key` is `id` unless a row of `referrer` names it in a
    /// column of the same name: `NotFound`, or `Conflict` while one does. The row lock makes a
    /// write naming it (whose foreign key check takes a share lock on it) wait for this
    /// transaction, or this one wait for it, so no reference slips in between.
    pub(crate) async fn delete_unreferenced(
        &self,
        table: &'static str,
        key: &'static str,
        id: &str,
        referrer: &'static str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let locked: Option<i32> = sqlx::query_scalar(&format!("select 1 from {table} where {key} = $1 for update"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        if locked.is_none() {
            return Err(StoreError::NotFound);
        }
        let in_use: Option<i32> = sqlx::query_scalar(&format!("select 1 from {referrer} where {key} = $1 limit 1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_error)?;
        if in_use.is_some() {
            return Err(StoreError::Conflict(format!("{referrer} still name it")));
        }
        let result = sqlx::query(&format!("delete from {table} where {key} = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(map_error)
    }
}

#[async_trait]
impl ProjectStore for PostgresStore {
    async fn insert_project(&self, project: &Project) -> Result<(), StoreError> {
        sqlx::query(
            "insert into projects (project_id, account_id, name, description, date_created, date_updated) \
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(project.project_id.as_str())
        .bind(project.account_id.as_str())
        .bind(project.name.as_str())
        .bind(project.description.as_str())
        .bind(project.date_created)
        .bind(project.date_updated)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn project(&self, project_id: &ProjectId) -> Result<Option<Project>, StoreError> {
        // One snapshot for the project and its members.
        let mut tx =
            self.pool.begin_with("begin isolation level repeatable read read only").await.map_err(map_error)?;
        let rows: Vec<ProjectRow> =
            sqlx::query_as(&format!("select {PROJECT_COLUMNS} from projects where project_id = $1"))
                .bind(project_id.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_error)?;
        let members: Vec<MemberRow> = sqlx::query_as(&format!(
            "select {MEMBER_COLUMNS} from project_members m join users u on u.user_id = m.user_id \
             where m.project_id = $1"
        ))
        .bind(project_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        Ok(projects_from(rows, members)?.pop())
    }

    async fn projects(&self, account_id: &AccountId, member: Option<&UserId>) -> Result<Vec<Project>, StoreError> {
        let mut tx =
            self.pool.begin_with("begin isolation level repeatable read read only").await.map_err(map_error)?;
        let rows: Vec<ProjectRow> = sqlx::query_as(&format!(
            "select {PROJECT_COLUMNS} from projects where account_id = $1 and ($2::text is null or exists ( \
               select 1 from project_members m where m.project_id = projects.project_id and m.user_id = $2)) \
             order by name"
        ))
        .bind(account_id.as_str())
        .bind(member.map(UserId::as_str))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        let members: Vec<MemberRow> = sqlx::query_as(&format!(
            "select {MEMBER_COLUMNS} from project_members m join users u on u.user_id = m.user_id \
             join projects p on p.project_id = m.project_id where p.account_id = $1"
        ))
        .bind(account_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_error)?;
        tx.commit().await.map_err(map_error)?;
        projects_from(rows, members)
    }

    async fn update_project(&self, project: &Project) -> Result<(), StoreError> {
        let result =
            sqlx::query("update projects set name = $1, description = $2, date_updated = $3 where project_id = $4")
                .bind(project.name.as_str())
                .bind(project.description.as_str())
                .bind(project.date_updated)
                .bind(project.project_id.as_str())
                .execute(&self.pool)
                .await
                .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_project(&self, project_id: &ProjectId) -> Result<(), StoreError> {
        self.delete_unreferenced("projects", "project_id", project_id.as_str(), "clients").await
    }

    async fn add_project_member(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let both: Option<i32> =
            sqlx::query_scalar("select 1 from projects p, users u where p.project_id = $1 and u.user_id = $2")
                .bind(project_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_error)?;
        if both.is_none() {
            return Err(StoreError::NotFound);
        }
        // Either deleted since the check above (on PostgreSQL): as if never there.
        let added =
            sqlx::query("insert into project_members (project_id, user_id) values ($1, $2) on conflict do nothing")
                .bind(project_id.as_str())
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|error| match map_reference_error(error) {
                    StoreError::Conflict(_) => StoreError::NotFound,
                    other => other,
                })?;
        // A member added again changes nothing, its date included.
        if added.rows_affected() > 0 {
            sqlx::query("update projects set date_updated = $1 where project_id = $2")
                .bind(now)
                .bind(project_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }

    async fn remove_project_member(
        &self,
        project_id: &ProjectId,
        user_id: &UserId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query("delete from project_members where project_id = $1 and user_id = $2")
            .bind(project_id.as_str())
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("update projects set date_updated = $1 where project_id = $2")
            .bind(now)
            .bind(project_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn is_project_member(&self, project_id: &ProjectId, user_id: &UserId) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("select 1 from project_members where project_id = $1 and user_id = $2")
                .bind(project_id.as_str())
                .bind(user_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
        Ok(found.is_some())
    }
}
