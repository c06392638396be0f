//! Organizations, groups and projects, with the path rules they share (a path is free across groups, users and projects).
//!
//! **Invariant:** a path is checked free in the transaction that takes it.

use async_trait::async_trait;
use authority::{
    Change, DirectoryFilter, NamespaceStore, NamespaceTarget, NamespaceUpdate, NewGroup, NewProject, OrderBy, Page,
    StoreError, StoreResult,
};
use domain::{Date, Group, Organization, Project, Timestamp};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql, like_pattern};
use crate::write::Write;
use crate::{SqlStore, db_error};

pub(crate) const GROUP_COLUMNS: &str = "namespace_id, name, path, full_path, full_name, description, visibility, parent_id, \
    traversal_ids, organization_id, created_at, fine_grained_tokens_only, fine_grained_tokens_only_after, \
    max_personal_access_token_lifetime";
pub(crate) const PROJECT_FROM: &str = "from project p join namespace n on n.namespace_id = p.namespace_id \
    left join app_user o on o.namespace_id = n.namespace_id and n.kind = 'user'";
pub(crate) const PROJECT_COLUMNS: &str = "p.project_id, p.namespace_id, p.name, p.path, p.full_path, p.full_name, p.description, \
    p.visibility, p.organization_id, p.creator_id, p.created_at, p.updated_at, p.ci_inbound_enabled, \
    p.ci_job_token_legacy, p.ci_push_allowed, n.kind as namespace_kind, \
    n.traversal_ids as namespace_traversal_ids, o.user_id as owner_user_id";

#[async_trait]
impl NamespaceStore for SqlStore {
    async fn insert_organization(&self, name: &str, path: &str, now: Timestamp) -> StoreResult<Organization> {
        let mut sql = Sql::new("insert into organization (name, path, created_at) values (");
        sql.text_arg(name).push(", ").text_arg(path).push(", ").int(now.millis());
        sql.push(") returning organization_id, name, path, created_at");
        let mut tx = self.begin().await?;
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[]).await?;
        organization_from_row(&row)
    }

    async fn organization(&self, id: i64) -> StoreResult<Option<Organization>> {
        let mut sql =
            Sql::new("select organization_id, name, path, created_at from organization where organization_id = ");
        sql.int(id);
        self.fetch_optional(&sql).await?.as_ref().map(organization_from_row).transpose()
    }

    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<Organization>, i64)> {
        let sql = Sql::new("from organization");
        self.page_of(
            &sql,
            "organization_id, name, path, created_at",
            "organization_id asc",
            page,
            organization_from_row,
        )
        .await
    }

    async fn insert_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let (full_path, full_name) = match &group.parent {
            Some(parent) => {
                (format!("{}/{}", parent.full_path, group.path), format!("{} / {}", parent.full_name, group.name))
            }
            None => (group.path.clone(), group.name.clone()),
        };
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        let mut sql = Sql::new(&format!(
            "insert into namespace ({}kind, name, path, full_path, full_path_lower, full_name, description, visibility, parent_id, organization_id, created_at) values ({}'group', ",
            crate::deletions::id_column(self.backend, "namespace_id"),
            crate::deletions::next_id(self.backend, "namespace", "namespace_id"),
        ));
        sql.text_arg(&group.name).push(", ").text_arg(&group.path).push(", ").text_arg(&full_path).push(", ");
        sql.text_arg(&full_path.to_lowercase()).push(", ").text_arg(&full_name).push(", ").text_arg(&group.description);
        sql.push(", ")
            .text_arg(group.visibility.as_str())
            .push(", ")
            .arg(Arg::OptInt(group.parent.as_ref().map(|p| p.id)));
        sql.push(", ").int(group.organization_id).push(", ").int(group.now.millis()).push(") returning namespace_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        let mut traversal: Vec<i64> = group.parent.as_ref().map(|p| p.traversal_ids.clone()).unwrap_or_default();
        traversal.push(id);
        let mut upd = Sql::new("update namespace set traversal_ids = ");
        upd.text_arg(&encode_ids(&traversal)).push(" where namespace_id = ").int(id);
        upd.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[Change::Directory]).await?;
        self.group(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("group vanished after insert")))
    }

    async fn group(&self, id: i64) -> StoreResult<Option<Group>> {
        let mut sql =
            Sql::new(&format!("select {GROUP_COLUMNS} from namespace where kind = 'group' and namespace_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn group_by_path(&self, full_path: &str) -> StoreResult<Option<Group>> {
        let mut sql =
            Sql::new(&format!("select {GROUP_COLUMNS} from namespace where kind = 'group' and full_path_lower = "));
        sql.text_arg(&full_path.to_lowercase());
        self.point(&sql).await
    }

    async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Group>, i64)> {
        let mut sql = Sql::new("from namespace n where n.kind = 'group'");
        if let Some(viewer) = filter.viewer {
            sql.push(" and (exists (select 1 from member m where m.user_id = ").int(viewer);
            sql.push(" and m.source_kind = 'group' and n.traversal_ids like '%/' || m.source_id || '/%')");
            push_visibilities(&mut sql, "n", &filter.visibilities);
            sql.push(")");
        }
        if let Some(search) = &filter.search {
            let pattern = like_pattern(search);
            sql.push(" and (lower(n.name) like ").text_arg(&pattern).push(" escape '\\' or n.full_path_lower like ");
            sql.text_arg(&pattern).push(" escape '\\')");
        }
        if let Some(parent) = filter.parent_id {
            sql.push(" and n.parent_id = ").int(parent);
        }
        if filter.top_level_only {
            sql.push(" and n.parent_id is null");
        }
        if let Some(organization) = filter.organization_id {
            sql.push(" and n.organization_id = ").int(organization);
        }
        self.page_of(&sql, GROUP_COLUMNS, "n.full_path_lower asc", page, group_from_row).await
    }

    async fn update_group(&self, id: i64, update: &NamespaceUpdate) -> StoreResult<Option<Group>> {
        let mut sql = Sql::new("update namespace set namespace_id = namespace_id");
        push_namespace_update(&mut sql, update);
        sql.push(" where kind = 'group' and namespace_id = ").int(id);
        self.execute(&sql, &[Change::Directory]).await?;
        self.group(id).await
    }

    async fn insert_project(&self, project: &NewProject) -> StoreResult<Project> {
        let full_path = format!("{}/{}", project.namespace_full_path, project.path);
        let full_name = format!("{} / {}", project.namespace_full_name, project.name);
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        // On SQLite a new project never takes a deleted one's id (see migration 0015); PostgreSQL's sequence
        // never reuses one.
        let mut sql = Sql::new(&format!(
            "insert into project ({}namespace_id, name, path, full_path, full_path_lower, full_name, description, visibility, organization_id, creator_id, created_at, updated_at) values ({}",
            crate::deletions::id_column(self.backend, "project_id"),
            crate::deletions::next_id(self.backend, "project", "project_id"),
        ));
        sql.int(project.namespace_id).push(", ").text_arg(&project.name).push(", ").text_arg(&project.path).push(", ");
        sql.text_arg(&full_path).push(", ").text_arg(&full_path.to_lowercase()).push(", ").text_arg(&full_name);
        sql.push(", ").text_arg(&project.description).push(", ").text_arg(project.visibility.as_str()).push(", ");
        sql.int(project.organization_id).push(", ").int(project.creator_id).push(", ").int(project.now.millis());
        sql.push(", ").int(project.now.millis()).push(") returning project_id");
        let row = sql.query().fetch_one(&mut *tx).await.map_err(db_error)?;
        let id: i64 = row.try_get(0).map_err(db_error)?;
        tx.commit(&[Change::Directory]).await?;
        self.project(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("project vanished after insert")))
    }

    async fn project(&self, id: i64) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new(&format!("select {PROJECT_COLUMNS} {PROJECT_FROM} where p.project_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn project_by_path(&self, full_path: &str) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new(&format!("select {PROJECT_COLUMNS} {PROJECT_FROM} where p.full_path_lower = "));
        sql.text_arg(&full_path.to_lowercase());
        self.point(&sql).await
    }

    async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Project>, i64)> {
        let mut sql = Sql::new(PROJECT_FROM);
        sql.push(" where 1 = 1");
        if let Some(viewer) = filter.viewer {
            sql.push(" and (o.user_id = ")
                .int(viewer)
                .push(" or exists (select 1 from member m where m.user_id = ")
                .int(viewer);
            sql.push(" and ((m.source_kind = 'project' and m.source_id = p.project_id) or (m.source_kind = 'group' and n.traversal_ids like '%/' || m.source_id || '/%')))");
            push_visibilities(&mut sql, "p", &filter.visibilities);
            sql.push(")");
        }
        if let Some(search) = &filter.search {
            let pattern = like_pattern(search);
            sql.push(" and (lower(p.name) like ").text_arg(&pattern).push(" escape '\\' or p.full_path_lower like ");
            sql.text_arg(&pattern).push(" escape '\\')");
        }
        if let Some(parent) = filter.parent_id {
            sql.push(" and p.namespace_id = ").int(parent);
        }
        if let Some(organization) = filter.organization_id {
            sql.push(" and p.organization_id = ").int(organization);
        }
        let column = match filter.order.by {
            OrderBy::Name => "lower(p.name)",
            OrderBy::Path => "p.path",
            OrderBy::CreatedAt => "p.created_at",
            OrderBy::UpdatedAt | OrderBy::LastActivityAt => "p.updated_at",
            OrderBy::Id | OrderBy::Username => "p.project_id",
        };
        let direction = if filter.order.descending { "desc" } else { "asc" };
        // The id breaks ties, in the same direction, so that pages never overlap.
        let order = format!("{column} {direction}, p.project_id {direction}");
        self.page_of(&sql, PROJECT_COLUMNS, &order, page, project_from_row).await
    }

    async fn update_project(&self, id: i64, update: &NamespaceUpdate, now: Timestamp) -> StoreResult<Option<Project>> {
        let mut sql = Sql::new("update project set updated_at = ");
        sql.int(now.millis());
        push_namespace_update(&mut sql, update);
        sql.push(" where project_id = ").int(id);
        self.execute(&sql, &[Change::Directory]).await?;
        self.project(id).await
    }

    async fn delete_project(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let (deleted, changes) = crate::deletions::delete_project_tx(&mut tx, id, now).await?;
        tx.commit(&changes).await?;
        Ok(deleted)
    }

    async fn delete_group(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let (deleted, changes) = crate::deletions::delete_group_tx(&mut tx, id, now).await?;
        tx.commit(&changes).await?;
        Ok(deleted)
    }

    async fn transfer_project(&self, id: i64, to: &NamespaceTarget, now: Timestamp) -> StoreResult<Option<Project>> {
        let Some(project) = self.project(id).await? else { return Ok(None) };
        let full_path = format!("{}/{}", to.full_path, project.path);
        let full_name = format!("{} / {}", to.full_name, project.name);
        let mut tx = self.begin().await?;
        ensure_path_free(&mut tx, &full_path).await?;
        let mut sql = Sql::new("update project set namespace_id = ");
        sql.int(to.namespace_id).push(", full_path = ").text_arg(&full_path);
        sql.push(", full_path_lower = ")
            .text_arg(&full_path.to_lowercase())
            .push(", full_name = ")
            .text_arg(&full_name);
        sql.push(", updated_at = ").int(now.millis()).push(" where project_id = ").int(id);
        sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[Change::Directory]).await?;
        self.project(id).await
    }
}

/// Fails with `Conflict("path")` when a group, a user's namespace or a project already has `full_path`.
pub(crate) async fn ensure_path_free(tx: &mut Write<'_>, full_path: &str) -> StoreResult<()> {
    let lower = full_path.to_lowercase();
    let mut sql = Sql::new("select (select count(*) from namespace where full_path_lower = ");
    sql.text_arg(&lower).push(") + (select count(*) from project where full_path_lower = ").text_arg(&lower).push(")");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    let n: i64 = row.try_get(0).map_err(db_error)?;
    if n > 0 {
        return Err(StoreError::Conflict("path"));
    }
    Ok(())
}

fn push_visibilities(sql: &mut Sql, alias: &str, visibilities: &[domain::Visibility]) {
    for visibility in visibilities {
        sql.push(&format!(" or {alias}.visibility = ")).text_arg(visibility.as_str());
    }
}

fn push_namespace_update(sql: &mut Sql, update: &NamespaceUpdate) {
    if let Some(name) = &update.name {
        sql.push(", name = ").text_arg(name);
    }
    if let Some(description) = &update.description {
        sql.push(", description = ").text_arg(description);
    }
    if let Some(visibility) = update.visibility {
        sql.push(", visibility = ").text_arg(visibility.as_str());
    }
    if let Some(policy) = update.token_policy {
        sql.push(", fine_grained_tokens_only = ").int(i64::from(policy.fine_grained_tokens_only));
        sql.push(", fine_grained_tokens_only_after = ")
            .arg(Arg::OptInt(policy.fine_grained_tokens_only_after.map(Date::days)));
        sql.push(", max_personal_access_token_lifetime = ").arg(Arg::OptInt(policy.max_personal_access_token_lifetime));
    }
}
