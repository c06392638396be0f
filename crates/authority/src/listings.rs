//! The plain reads `api` renders after the decision layer has allowed the request: users, groups, projects,
//! organizations, members and the audit log, by id or by page.
//!
//! **Invariant:** nothing here decides or writes; `api` reaches the store only through these and the other use
//! cases, never directly.

use std::sync::Arc;

use domain::{AuditEvent, Group, Member, MemberSource, Organization, Project, User};

use crate::store::{AuditFilter, DirectoryFilter, Page, UserFilter};
use crate::{Authority, Result};

impl Authority {
    /// The user with this id, from the fact cache when it is there.
    pub async fn user(&self, id: i64) -> Result<Option<User>> {
        Ok(self.facts.user(id).await?.map(Arc::unwrap_or_clone))
    }

    /// The user with this username (matched without case, as GitLab's usernames are).
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.store.user_by_username(username).await?)
    }

    /// The users among `ids` that exist, in no set order.
    pub async fn users(&self, ids: &[i64]) -> Result<Vec<User>> {
        Ok(self.store.users(ids).await?)
    }

    pub async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<(Vec<User>, i64)> {
        Ok(self.store.list_users(filter, page).await?)
    }

    pub async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> Result<(Vec<Group>, i64)> {
        Ok(self.store.list_groups(filter, page).await?)
    }

    pub async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> Result<(Vec<Project>, i64)> {
        Ok(self.store.list_projects(filter, page).await?)
    }

    pub async fn organization(&self, id: i64) -> Result<Option<Organization>> {
        Ok(self.store.organization(id).await?)
    }

    pub async fn list_organizations(&self, page: Page) -> Result<(Vec<Organization>, i64)> {
        Ok(self.store.list_organizations(page).await?)
    }

    pub async fn member(&self, source: MemberSource, user_id: i64) -> Result<Option<Member>> {
        Ok(self.store.member(source, user_id).await?)
    }

    /// Members of `sources`; with `highest_per_user`, each user once, at their highest level among them.
    pub async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> Result<(Vec<Member>, i64)> {
        Ok(self.store.list_members(sources, highest_per_user, page).await?)
    }

    pub async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> Result<(Vec<AuditEvent>, i64)> {
        Ok(self.store.list_audit_events(filter, page).await?)
    }

    pub async fn audit_event(&self, id: i64) -> Result<Option<AuditEvent>> {
        Ok(self.store.audit_event(id).await?)
    }
}
