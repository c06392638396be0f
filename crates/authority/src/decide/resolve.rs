//! The resource a route names, resolved from the cached facts: a group or project by id or path (a registry
//! image name by its longest project prefix), the acting user's level on it, and the user `Sudo` names.
//!
//! **Invariant:** a route whose group or project is not found resolves to `Resolved::None`, which the policy
//! reads as a missing resource (404), never as the instance.

use std::sync::Arc;

use catalog::{Boundary, RouteMatch, SegmentList};
use domain::{Project, User};
use policy::{ResourceFacts, RuleSurface, UserFacts};

use super::Resolved;
use crate::directory::NamespaceKey;
use crate::{Authority, ResourceKey, Result};

/// What a route names, found: the resource (its level not yet asked) and the top-level group above it, if any.
pub(super) struct Named {
    pub(super) resource: Resolved,
    /// The top-level group whose token policy covers the resource (none for a top-level group itself, or for a
    /// project in a user's namespace).
    pub(super) root: Option<Arc<domain::Group>>,
}

impl Authority {
    pub(super) async fn sudo_target(&self, who: &str) -> Result<Option<Arc<User>>> {
        Ok(match who.parse::<i64>() {
            Ok(id) => self.facts.user(id).await?,
            Err(_) => self.store.user_by_username(who).await?.map(Arc::new),
        })
    }

    /// The group or project the route names, without the user's level, and the top-level group above it (whose
    /// token policy the decision asks next), read one after the other while the credential is authenticated.
    pub(super) async fn named(&self, found: &RouteMatch<'_, '_>) -> Result<Named> {
        let resource = match resource_key(found) {
            Some(ResourceKey::GroupId(id)) => self.facts.group(id).await?.map(|group| Resolved::Group(group, None)),
            Some(ResourceKey::GroupPath(path)) => {
                self.facts.group_by_path(path).await?.map(|group| Resolved::Group(group, None))
            }
            Some(ResourceKey::ProjectId(id)) => self.facts.project(id).await?.map(|p| Resolved::Project(p, None)),
            Some(ResourceKey::ProjectPath(path)) => {
                self.facts.project_by_path(path).await?.map(|project| Resolved::Project(project, None))
            }
            // A registry image's name, which only its longest known prefix tells apart from the project's path.
            None => match (found.route.boundary, found.param("name")) {
                (Boundary::Project, Some(name)) => {
                    self.longest_project_prefix(name).await?.map(|project| Resolved::Project(project, None))
                }
                _ => None,
            },
        };
        let resource = resource.unwrap_or_default();
        let root_id = match &resource {
            Resolved::Group(group, _) => group.top_level_above(),
            Resolved::Project(project, _) => project.root_group_id(),
            Resolved::None => None,
        };
        let root = match root_id {
            Some(id) => self.facts.group(id).await?,
            None => None,
        };
        Ok(Named { resource, root })
    }

    /// The resource `named`, with `user`'s level on it on the day `today`.
    pub(super) async fn with_level(
        &self,
        named: Resolved,
        user: Option<&User>,
        today: domain::Date,
    ) -> Result<Resolved> {
        Ok(match (named, user) {
            (Resolved::Group(group, _), Some(user)) => {
                let level = self.group_access_on(user, &group, today).await?;
                Resolved::Group(group, level)
            }
            (Resolved::Project(project, _), Some(user)) => {
                let level = self.project_access_on(user, &project, today).await?;
                Resolved::Project(project, level)
            }
            (named, _) => named,
        })
    }

    /// A registry image name is a project path, possibly followed by an image name: the longest known prefix wins.
    async fn longest_project_prefix(&self, name: &str) -> Result<Option<Arc<Project>>> {
        let parts: Vec<&str> = name.split('/').collect();
        for take in (1..=parts.len().min(21)).rev() {
            let candidate = parts.get(..take).map(|p| p.join("/")).unwrap_or_default();
            if let Some(project) = self.facts.project_by_path(&candidate).await? {
                return Ok(Some(project));
            }
        }
        Ok(None)
    }
}

/// How the group or project a route names is looked up: by its `:id` (an id, or a URL-encoded path), or by the
/// path Git over HTTP names the project with. `None` for a route that names neither, and for a registry image's
/// name (see `longest_project_prefix`).
pub(super) fn resource_key<'a>(found: &'a RouteMatch<'_, '_>) -> Option<ResourceKey<'a>> {
    match found.route.boundary {
        Boundary::Instance | Boundary::OwnUser => None,
        Boundary::Group => Some(match NamespaceKey::parse(found.param("id")?) {
            NamespaceKey::Id(id) => ResourceKey::GroupId(id),
            NamespaceKey::Path(path) => ResourceKey::GroupPath(path),
        }),
        Boundary::Project => match (found.param("id"), found.param("project")) {
            (Some(id), _) => Some(match NamespaceKey::parse(id) {
                NamespaceKey::Id(id) => ResourceKey::ProjectId(id),
                NamespaceKey::Path(path) => ResourceKey::ProjectPath(path),
            }),
            (None, Some(path)) => Some(ResourceKey::ProjectPath(path)),
            (None, None) => None,
        },
    }
}

/// The request as allowlist rules see it: `/api/v4` (or `/v2` for the registry) left out, and the `:id` of a
/// group or project route replaced by the id it resolved to, so that no alias of the path escapes a rule.
pub(super) fn rule_segments<'p>(
    found: &RouteMatch<'_, '_>,
    path: &'p catalog::CanonicalPath,
    resolved_id: Option<&'p str>,
) -> (RuleSurface, SegmentList<'p>) {
    let mut head = path.segments();
    match (head.next(), head.next()) {
        (Some("api"), Some("v4")) => {
            let mut segments = path.segment_list(2);
            let names_id =
                matches!(found.route.segments.get(3), Some(catalog::Segment::Param { name, .. }) if name == "id");
            if let (true, Some(id), Some(slot)) = (names_id, resolved_id, segments.get_mut(1)) {
                *slot = id;
            }
            (RuleSurface::Api, segments)
        }
        (Some("v2"), _) => (RuleSurface::Registry, path.segment_list(1)),
        _ => (RuleSurface::Git, path.segment_list(0)),
    }
}

/// A rotation route (`…/personal_access_tokens/(\d+|self)/rotate`, as GitLab matches it): a revoked token
/// presented there revokes its whole family.
pub(super) fn is_rotation(found: &RouteMatch<'_, '_>) -> bool {
    let template = &found.route.template;
    // GitLab's `access_tokens/(\d+|self)/rotate$`: personal, service accounts', projects' and groups' tokens
    // (the cheap test first: it rules out nearly every route).
    if !(template.ends_with("/rotate") && template.contains("access_tokens/")) {
        return false;
    }
    match found.param("token_id") {
        Some(id) => !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    }
}

pub(crate) fn user_facts(user: &User) -> UserFacts {
    UserFacts {
        id: user.id,
        is_admin: user.is_admin,
        external: user.external,
        active: user.is_active(),
        service_account: user.user_type == domain::UserType::ServiceAccount,
    }
}

/// The facts of the route's resource. A group or project route that resolved nothing names a missing one.
pub(super) fn facts_of(boundary: Boundary, resource: &Resolved) -> ResourceFacts<'_> {
    match resource {
        Resolved::Group(group, level) => ResourceFacts::Group {
            organization_id: group.organization_id,
            visibility: group.visibility,
            level: *level,
            groups: &group.traversal_ids,
        },
        Resolved::Project(project, level) => ResourceFacts::Project {
            organization_id: project.organization_id,
            visibility: project.visibility,
            level: *level,
            id: project.id,
            groups: &project.group_traversal_ids,
            owner_user_id: project.owner_user_id,
        },
        Resolved::None => match boundary {
            Boundary::Instance => ResourceFacts::Instance,
            Boundary::OwnUser => ResourceFacts::OwnUser,
            Boundary::Group | Boundary::Project => ResourceFacts::Missing,
        },
    }
}
