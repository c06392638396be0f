//! The directory: users, groups, projects and memberships, and a user's effective access level.
//!
//! **Invariant:** a directory change is checked against the actor's level through the catalog's role matrix
//! (`policy::role_grants`), and every change is audited.

mod members;
mod namespaces;
mod users;

use std::sync::Arc;

use domain::{AccessLevel, Date, Group, MemberSource, Project, User, Visibility};

use crate::{Authority, Error, Result};

pub use users::{hash_password, verify_password};

/// What an administrator sends to create a user.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    pub reset_password: bool,
    pub force_random_password: bool,
    pub admin: bool,
    pub bio: Option<String>,
    pub public_email: Option<String>,
    pub can_create_group: Option<bool>,
    pub external: bool,
    pub service_account: bool,
    /// The user's organization (the default one when absent): their namespace and, by default, their tokens.
    pub organization_id: Option<i64>,
    /// For a service account made by a top-level group, that group.
    pub provisioned_by_group_id: Option<i64>,
}

/// What an administrator asks for when creating an organization.
#[derive(Debug, Clone, Default)]
pub struct CreateOrganization {
    pub name: Option<String>,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateGroup {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub parent_id: Option<i64>,
    pub organization_id: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateProject {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub namespace_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MemberChange {
    pub user_id: i64,
    pub access_level: AccessLevel,
    pub expires_at: Option<domain::Date>,
}

/// A group or a project, named by numeric id or by full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceRef {
    Id(i64),
    Path(String),
}

impl NamespaceRef {
    /// GitLab's `:id`: a number, or a URL-decoded full path such as `group/sub/project`.
    pub fn parse(s: &str) -> NamespaceRef {
        match NamespaceKey::parse(s) {
            NamespaceKey::Id(id) => NamespaceRef::Id(id),
            NamespaceKey::Path(path) => NamespaceRef::Path(path.to_owned()),
        }
    }

    fn key(&self) -> NamespaceKey<'_> {
        match self {
            NamespaceRef::Id(id) => NamespaceKey::Id(*id),
            NamespaceRef::Path(path) => NamespaceKey::Path(path),
        }
    }
}

/// A [`NamespaceRef`] borrowed from the text it was read from (a decision's `:id`, read without copying it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamespaceKey<'a> {
    Id(i64),
    Path(&'a str),
}

impl NamespaceKey<'_> {
    /// As [`NamespaceRef::parse`].
    pub(crate) fn parse(s: &str) -> NamespaceKey<'_> {
        match s.parse::<i64>() {
            Ok(id) if !s.starts_with('+') && !s.starts_with('-') => NamespaceKey::Id(id),
            _ => NamespaceKey::Path(s.trim_matches('/')),
        }
    }
}

fn parse_visibility(s: Option<&str>, default: Visibility) -> Result<Visibility> {
    match s {
        None => Ok(default),
        Some(s) => {
            Visibility::parse(s).ok_or_else(|| Error::BadRequest("visibility does not have a valid value".to_owned()))
        }
    }
}

/// The membership sources of one group or project (itself and its ancestors, at most 21), kept on the stack.
pub(crate) struct Sources {
    items: [MemberSource; 24],
    len: usize,
}

impl Sources {
    fn new() -> Sources {
        Sources { items: [MemberSource::Group(0); 24], len: 0 }
    }

    /// The first 24 of `sources`.
    pub(crate) fn of(sources: impl IntoIterator<Item = MemberSource>) -> Sources {
        let mut kept = Sources::new();
        kept.extend(sources);
        kept
    }

    fn extend(&mut self, sources: impl IntoIterator<Item = MemberSource>) {
        for source in sources {
            if let Some(slot) = self.items.get_mut(self.len) {
                *slot = source;
                self.len += 1;
            }
        }
    }

    pub(crate) fn as_slice(&self) -> &[MemberSource] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

/// Who performs a directory change: the user the request acts as, and whether it acts with administrator powers
/// now (the decision's answer, Admin Mode included).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a User,
    pub admin: bool,
    /// The organization of the token the request came with (`None` without one, as for the command line): a
    /// namespace of another organization is out of its reach, administrators' tokens included.
    pub organization_id: Option<i64>,
}

impl Actor<'_> {
    fn reaches(&self, organization_id: i64) -> bool {
        self.organization_id.is_none_or(|own| own == organization_id)
    }
}

/// Permissions checked past the route, by the catalog's role matrix.
const CREATE_SUBGROUP: &str = "create_subgroup";
const CREATE_PROJECTS: &str = "create_projects";
const MANAGE_OWNERS: &str = "manage_owners";

impl Authority {
    pub async fn find_group(&self, r: &NamespaceRef) -> Result<Option<Arc<Group>>> {
        self.find_group_by(r.key()).await
    }

    pub(crate) async fn find_group_by(&self, key: NamespaceKey<'_>) -> Result<Option<Arc<Group>>> {
        Ok(match key {
            NamespaceKey::Id(id) => self.facts.group(id).await?,
            NamespaceKey::Path(path) => self.facts.group_by_path(path).await?,
        })
    }

    pub async fn find_project(&self, r: &NamespaceRef) -> Result<Option<Arc<Project>>> {
        self.find_project_by(r.key()).await
    }

    pub(crate) async fn find_project_by(&self, key: NamespaceKey<'_>) -> Result<Option<Arc<Project>>> {
        Ok(match key {
            NamespaceKey::Id(id) => self.facts.project(id).await?,
            NamespaceKey::Path(path) => self.facts.project_by_path(path).await?,
        })
    }

    /// The user's highest access level on a group: its own membership or one inherited from an ancestor.
    pub async fn group_access(&self, user: &User, group: &Group) -> Result<Option<AccessLevel>> {
        self.group_access_on(user, group, self.now().date()).await
    }

    /// [`Authority::group_access`] on the day `today` (a decision reads the clock once).
    pub(crate) async fn group_access_on(&self, user: &User, group: &Group, today: Date) -> Result<Option<AccessLevel>> {
        let sources = Sources::of(group.member_sources());
        self.highest_level(user, sources.as_slice(), today).await
    }

    /// The user's highest access level on a project: its own membership, those inherited from ancestor groups,
    /// and Owner for the owner of a personal namespace.
    pub async fn project_access(&self, user: &User, project: &Project) -> Result<Option<AccessLevel>> {
        self.project_access_on(user, project, self.now().date()).await
    }

    /// [`Authority::project_access`] on the day `today` (a decision reads the clock once).
    pub(crate) async fn project_access_on(
        &self,
        user: &User,
        project: &Project,
        today: Date,
    ) -> Result<Option<AccessLevel>> {
        if project.owner_user_id == Some(user.id) {
            return Ok(Some(AccessLevel::Owner));
        }
        let sources = Sources::of(project.member_sources());
        self.highest_level(user, sources.as_slice(), today).await
    }

    async fn highest_level(&self, user: &User, sources: &[MemberSource], today: Date) -> Result<Option<AccessLevel>> {
        let levels = self.facts.levels(user.id, sources, today).await?;
        Ok(levels.iter().map(|(_, level)| *level).max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_checked_past_the_route_are_in_the_catalog() {
        let catalog = catalog::Catalog::builtin().unwrap();
        for name in [CREATE_SUBGROUP, CREATE_PROJECTS, MANAGE_OWNERS] {
            assert!(catalog.permission(name).is_some(), "{name} is not in the catalog");
        }
    }

    #[test]
    fn numeric_ids_and_paths_are_told_apart() {
        assert_eq!(NamespaceRef::parse("42"), NamespaceRef::Id(42));
        assert_eq!(NamespaceRef::parse("group/sub/proj"), NamespaceRef::Path("group/sub/proj".to_owned()));
        assert_eq!(NamespaceRef::parse("+42"), NamespaceRef::Path("+42".to_owned()));
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }
}
