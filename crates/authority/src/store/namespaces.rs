//! Organizations, groups and projects: the namespaces tokens reach and the paths requests name.
//!
//! **Invariant:** a full path is unique across groups, users and projects, regardless of case.

use async_trait::async_trait;
use domain::{Group, Organization, Project, Timestamp, Visibility};

use super::{Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
    pub parent: Option<Group>,
    pub organization_id: i64,
    pub now: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct NamespaceUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// The token policy of a top-level group, replaced whole.
    pub token_policy: Option<domain::GroupTokenPolicy>,
}

/// Which groups or projects a list may show.
#[derive(Debug, Clone, Default)]
pub struct DirectoryFilter {
    /// `None`: everything (administrators). `Some(user)`: what the user is a member of (directly or through a
    /// group), plus what `visible_levels` makes visible.
    pub viewer: Option<i64>,
    pub visibilities: Vec<Visibility>,
    pub search: Option<String>,
    pub parent_id: Option<i64>,
    pub top_level_only: bool,
    /// Only this organization's (the caller's token's): organizations are walls for listings too.
    pub organization_id: Option<i64>,
    /// The order of projects (groups are listed by path).
    pub order: super::ListOrder,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
    /// The namespace: a group, or a user's namespace.
    pub namespace_id: i64,
    pub namespace_full_path: String,
    pub namespace_full_name: String,
    pub organization_id: i64,
    pub creator_id: i64,
    pub now: Timestamp,
}

/// A namespace a project lives in: its id, full path and full name.
#[derive(Debug, Clone)]
pub struct NamespaceTarget {
    pub namespace_id: i64,
    pub full_path: String,
    pub full_name: String,
}

#[async_trait]
pub trait NamespaceStore: Send + Sync {
    /// Creates an organization; a taken path is `Conflict("path")`.
    async fn insert_organization(&self, name: &str, path: &str, now: Timestamp) -> StoreResult<Organization>;
    async fn organization(&self, id: i64) -> StoreResult<Option<Organization>>;
    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<Organization>, i64)>;

    async fn insert_group(&self, group: &NewGroup) -> StoreResult<Group>;
    async fn group(&self, id: i64) -> StoreResult<Option<Group>>;
    async fn group_by_path(&self, full_path: &str) -> StoreResult<Option<Group>>;
    async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Group>, i64)>;
    async fn update_group(&self, id: i64, update: &NamespaceUpdate) -> StoreResult<Option<Group>>;

    async fn insert_project(&self, project: &NewProject) -> StoreResult<Project>;
    async fn project(&self, id: i64) -> StoreResult<Option<Project>>;
    async fn project_by_path(&self, full_path: &str) -> StoreResult<Option<Project>>;
    async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Project>, i64)>;
    async fn update_project(&self, id: i64, update: &NamespaceUpdate, now: Timestamp) -> StoreResult<Option<Project>>;
    async fn delete_project(&self, id: i64, now: Timestamp) -> StoreResult<bool>;
    /// Deletes a group, its subgroups and every project under them, revoking the tokens bound to any of them.
    async fn delete_group(&self, id: i64, now: Timestamp) -> StoreResult<bool>;
    /// Moves a project into another namespace, renaming its full path; `None` if the project is gone.
    async fn transfer_project(&self, id: i64, to: &NamespaceTarget, now: Timestamp) -> StoreResult<Option<Project>>;
}
