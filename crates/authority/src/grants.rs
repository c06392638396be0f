//! The grants of a fine-grained token being created: read from the request, checked against the catalog, the
//! owner's role where each grant reaches, and the grants of the token that asks.
//!
//! **Invariant:** a grant is kept only if every bundle it names exists, applies at its reach, is held by the
//! owner's role there and by the asking token; anything else refuses the whole request.

use catalog::{Boundary, PermSet, Surface};
use domain::{Date, Grant, GrantAccess, GrantTarget, Scopes, Token, User};
use policy::{GrantError, Reach};

use crate::{Authority, Error, Result};

/// The most grants a request may give (each selected group or project is one grant).
pub const MAX_GRANTS: usize = 100;
/// The most permissions one grant may name.
pub const MAX_GRANT_PERMISSIONS: usize = 100;

/// One element of `granular_scopes`, as a client sends it.
#[derive(Debug, Clone, Default)]
pub struct RequestedGrant {
    pub access: String,
    pub permissions: Vec<String>,
    pub group_ids: Vec<i64>,
    pub project_ids: Vec<i64>,
}

/// Reads `granular_scopes` as a client sends it: a JSON array of `{access, permissions, group_ids,
/// project_ids}` (permissions and ids also as one comma-separated string, as GitLab accepts them); `None` when
/// absent or null. Only the JSON's shape is checked here; [`read_grants`] checks the values.
pub fn requested_grants(value: Option<&serde_json::Value>) -> Result<Option<Vec<RequestedGrant>>> {
    use serde_json::Value;
    let invalid = || {
        Error::BadRequest(
            "granular_scopes is invalid: give a JSON array of {access, permissions, group_ids, project_ids}".to_owned(),
        )
    };
    let entries = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(invalid()),
    };
    if entries.len() > MAX_GRANTS {
        return Err(Error::invalid("granular_scopes", format!("has too many entries (maximum is {MAX_GRANTS})")));
    }
    let strings = |value: Option<&Value>| -> Result<Vec<String>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                items.iter().map(|i| i.as_str().map(str::to_owned).ok_or_else(invalid)).collect()
            }
            Some(Value::String(s)) => Ok(s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect()),
            Some(_) => Err(invalid()),
        }
    };
    let ids = |value: Option<&Value>| -> Result<Vec<i64>> {
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::Number(n) => n.as_i64().ok_or_else(invalid),
                    Value::String(s) => s.trim().parse().map_err(|_| invalid()),
                    _ => Err(invalid()),
                })
                .collect(),
            Some(Value::String(s)) => s.split(',').map(|p| p.trim().parse().map_err(|_| invalid())).collect(),
            Some(Value::Number(n)) => Ok(vec![n.as_i64().ok_or_else(invalid)?]),
            Some(_) => Err(invalid()),
        }
    };
    let mut requested = Vec::new();
    for entry in entries {
        let Value::Object(entry) = entry else { return Err(invalid()) };
        if let Some(key) =
            entry.keys().find(|k| !["access", "permissions", "group_ids", "project_ids"].contains(&k.as_str()))
        {
            let shown: String = key.chars().take(64).collect();
            return Err(Error::BadRequest(format!("granular_scopes: unknown field {shown:?}")));
        }
        requested.push(RequestedGrant {
            access: entry.get("access").and_then(Value::as_str).ok_or_else(invalid)?.to_owned(),
            permissions: strings(entry.get("permissions"))?,
            group_ids: ids(entry.get("group_ids"))?,
            project_ids: ids(entry.get("project_ids"))?,
        });
    }
    Ok(Some(requested))
}

/// Splits the requested entries into stored grants (one per selected group or project), with sorted,
/// deduplicated permissions. Only the shape is checked here.
pub fn read_grants(requested: &[RequestedGrant]) -> Result<Vec<Grant>> {
    let invalid = |message: &str| Error::invalid("granular_scopes", message);
    if requested.is_empty() {
        return Err(invalid("can't be blank"));
    }
    let mut grants = Vec::new();
    for entry in requested {
        let access = GrantAccess::parse(&entry.access).ok_or_else(|| {
            invalid("access must be one of personal_projects, all_memberships, selected_memberships, user, instance")
        })?;
        // Exact: `"read_job "` is no permission and is refused, never read as `read_job`; and a name is made of
        // the catalog's characters only, so that a `,` or a newline can never split it in the stored form (found
        // by the `grants` fuzz target).
        let catalog_name = |p: &String| p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if let Some(bad) = entry.permissions.iter().find(|p| !catalog_name(p)) {
            let shown: String = bad.chars().take(64).collect();
            return Err(invalid(&format!("permissions has an invalid value: {shown:?}")));
        }
        let mut permissions: Vec<String> = entry.permissions.clone();
        permissions.sort();
        permissions.dedup();
        permissions.retain(|p| !p.is_empty());
        if permissions.is_empty() {
            return Err(invalid("permissions can't be blank"));
        }
        if permissions.len() > MAX_GRANT_PERMISSIONS {
            return Err(invalid("permissions has too many entries"));
        }
        let selected = access == GrantAccess::SelectedMemberships;
        let targets: Vec<GrantTarget> = entry
            .group_ids
            .iter()
            .map(|id| GrantTarget::Group(*id))
            .chain(entry.project_ids.iter().map(|id| GrantTarget::Project(*id)))
            .collect();
        match (selected, targets.is_empty()) {
            (true, true) => return Err(invalid("selected_memberships needs group_ids or project_ids")),
            (false, false) => return Err(invalid("group_ids and project_ids are only for selected_memberships")),
            (false, true) => grants.push(Grant { access, target: None, permissions }),
            (true, false) => {
                for target in targets {
                    grants.push(Grant { access, target: Some(target), permissions: permissions.clone() });
                }
            }
        }
        if grants.len() > MAX_GRANTS {
            return Err(invalid("has too many entries"));
        }
    }
    grants.sort_by_key(|g| (g.access, g.target));
    grants.dedup_by(|a, b| {
        a.access == b.access && a.target == b.target && {
            b.permissions.append(&mut a.permissions);
            b.permissions.sort();
            b.permissions.dedup();
            true
        }
    });
    Ok(grants)
}

impl Authority {
    /// Checks each grant of a new token for `owner` in `organization_id`, asked for by `creator`'s token: its
    /// bundles exist and fit its access; a selected group or project exists in the token's organization and
    /// the owner can see it (else 404); the owner's role there holds what the bundles give; and a fine-grained
    /// creator holds every bundle there itself; and the token's `lifetime` (created, expires) is within what the
    /// top-level group above a selected group or project allows.
    pub(crate) async fn check_grants(
        &self,
        owner: &User,
        organization_id: i64,
        grants: &[Grant],
        creator: Option<&Token>,
        lifetime: (Date, Option<Date>),
    ) -> Result<()> {
        let catalog = &self.catalog;
        let facts = crate::decide::user_facts(owner);
        for grant in grants {
            let bundles = policy::bundles_of(catalog, grant).map_err(grant_error)?;
            let (group, project);
            let (reach, held): (Reach<'_>, Option<PermSet>) = match grant.target {
                Some(GrantTarget::Group(id)) => {
                    group = self.facts.group(id).await?.filter(|g| g.organization_id == organization_id);
                    let group = group.as_deref().ok_or(Error::NotFound("Group"))?;
                    self.check_hierarchy_lifetime(Some(group.root_id()), lifetime).await?;
                    let level = self.group_access(owner, group).await?;
                    let held = policy::held_on(catalog, Some(facts), owner.is_admin, group.visibility, level)
                        .ok_or(Error::NotFound("Group"))?;
                    (Reach::Group { groups: &group.traversal_ids }, Some(held.union(catalog.target_self())))
                }
                Some(GrantTarget::Project(id)) => {
                    project = self.facts.project(id).await?.filter(|p| p.organization_id == organization_id);
                    let project = project.as_deref().ok_or(Error::NotFound("Project"))?;
                    self.check_hierarchy_lifetime(project.root_group_id(), lifetime).await?;
                    let level = self.project_access(owner, project).await?;
                    let held = policy::held_on(catalog, Some(facts), owner.is_admin, project.visibility, level)
                        .ok_or(Error::NotFound("Project"))?;
                    let reach = Reach::Project {
                        id: project.id,
                        groups: &project.group_traversal_ids,
                        owner_user_id: project.owner_user_id,
                    };
                    (reach, Some(held.union(catalog.target_self())))
                }
                None => match grant.access {
                    // Every user owns their personal projects.
                    GrantAccess::PersonalProjects => (
                        Reach::PersonalProjects,
                        Some(catalog.level(domain::AccessLevel::Owner).union(catalog.target_self())),
                    ),
                    // Reaches whatever the owner is or becomes a member of: the role is checked at each use.
                    GrantAccess::AllMemberships | GrantAccess::SelectedMemberships => (Reach::AllMemberships, None),
                    GrantAccess::User => (Reach::User, Some(catalog.own_user())),
                    GrantAccess::Instance => {
                        let held = if owner.is_admin {
                            catalog.signed_in().union(catalog.admin())
                        } else {
                            catalog.signed_in()
                        };
                        (Reach::Instance, Some(held))
                    }
                },
            };
            if let Some(held) = held {
                policy::role_allows(catalog, grant, &bundles, |_: Boundary| held).map_err(grant_error)?;
            }
            if let Some(creator) = creator.filter(|c| c.scopes.is_granular()) {
                policy::creator_holds(catalog, &creator.grants, creator.user_id, grant, &bundles, &reach)
                    .map_err(grant_error)?;
            }
        }
        Ok(())
    }

    /// Checks the grants of a project's or group's access token: each names the bot's own resource (selected
    /// there, or `all_memberships`, which for a bot is that one membership), gives no more than the bot's `level`
    /// allows there, and, from a fine-grained creator, nothing the creator does not hold there itself.
    pub(crate) async fn check_bot_grants(
        &self,
        resource: domain::MemberSource,
        level: domain::AccessLevel,
        grants: &[Grant],
        creator: Option<&Token>,
    ) -> Result<()> {
        let catalog = &self.catalog;
        let (project, group);
        let reach = match resource {
            domain::MemberSource::Project(id) => {
                project = self.facts.project(id).await?.ok_or(Error::NotFound("Project"))?;
                Reach::Project { id, groups: &project.group_traversal_ids, owner_user_id: project.owner_user_id }
            }
            domain::MemberSource::Group(id) => {
                group = self.facts.group(id).await?.ok_or(Error::NotFound("Group"))?;
                Reach::Group { groups: &group.traversal_ids }
            }
        };
        let held = catalog.level(level).union(catalog.target_self());
        for grant in grants {
            let own = match (grant.access, grant.target, resource) {
                (GrantAccess::AllMemberships, None, _) => true,
                (
                    GrantAccess::SelectedMemberships,
                    Some(GrantTarget::Project(p)),
                    domain::MemberSource::Project(id),
                ) => p == id,
                (GrantAccess::SelectedMemberships, Some(GrantTarget::Group(g)), domain::MemberSource::Group(id)) => {
                    g == id
                }
                _ => false,
            };
            if !own {
                return Err(Error::invalid(
                    "granular_scopes",
                    "a project or group access token's grants select its own project or group (or all_memberships)",
                ));
            }
            let bundles = policy::bundles_of(catalog, grant).map_err(grant_error)?;
            policy::role_allows(catalog, grant, &bundles, |_: Boundary| held).map_err(grant_error)?;
            if let Some(creator) = creator.filter(|c| c.scopes.is_granular()) {
                policy::creator_holds(catalog, &creator.grants, creator.user_id, grant, &bundles, &reach)
                    .map_err(grant_error)?;
            }
        }
        Ok(())
    }

    /// Refuses a token whose lifetime is beyond the maximum the top-level group `root_id` allows.
    pub(crate) async fn check_hierarchy_lifetime(
        &self,
        root_id: Option<i64>,
        (created, expires): (Date, Option<Date>),
    ) -> Result<()> {
        let Some(root) = root_id else { return Ok(()) };
        let Some(group) = self.facts.group(root).await? else { return Ok(()) };
        let policy = &group.token_policy;
        // A granular token is never refused as legacy: only the lifetime can be refused here.
        let refusal = crate::decide::group_rules_refusal(policy, Surface::Api, Scopes::granular(), created, expires);
        if let (Some(max), Some(_)) = (policy.max_personal_access_token_lifetime, refusal) {
            return Err(Error::invalid(
                "expires_at",
                format!("must be within {max} days: the maximum token lifetime of a group the token reaches"),
            ));
        }
        Ok(())
    }
}

fn grant_error(e: GrantError) -> Error {
    match e {
        GrantError::NoPermissions => Error::invalid("granular_scopes", "permissions can't be blank"),
        GrantError::UnknownPermission(name) => {
            Error::invalid("granular_scopes", format!("permission {name:?} is not an assignable permission"))
        }
        GrantError::WrongBoundary { permission, access } => {
            Error::invalid("granular_scopes", format!("permission {permission} does not apply to {access} access"))
        }
        GrantError::NotHeld(names) => Error::Forbidden(Some(format!(
            "your role does not have these permissions where the token would use them: {}",
            names.join(", ")
        ))),
        GrantError::CreatorLacks(names) => Error::Forbidden(Some(format!(
            "the token making this request does not hold these permissions itself: {}",
            names.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(access: &str, permissions: &[&str], groups: &[i64], projects: &[i64]) -> RequestedGrant {
        RequestedGrant {
            access: access.to_owned(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            group_ids: groups.to_vec(),
            project_ids: projects.to_vec(),
        }
    }

    #[test]
    fn selected_memberships_become_one_grant_per_group_or_project() {
        let grants = read_grants(&[entry("selected_memberships", &["run_job", "read_job", "run_job"], &[4], &[9])])
            .expect("valid");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].target, Some(GrantTarget::Group(4)));
        assert_eq!(grants[1].target, Some(GrantTarget::Project(9)));
        assert_eq!(grants[0].permissions, ["read_job", "run_job"]);
    }

    #[test]
    fn the_same_reach_asked_twice_is_one_grant_with_both_permission_lists() {
        let grants = read_grants(&[
            entry("user", &["read_user"], &[], &[]),
            entry("user", &["read_personal_access_token"], &[], &[]),
        ])
        .expect("valid");
        assert_eq!(grants.len(), 1);
        assert_eq!(grants[0].permissions, ["read_personal_access_token", "read_user"]);
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            vec![],
            vec![entry("everything", &["read_job"], &[], &[])],
            vec![entry("all_memberships", &[], &[], &[])],
            vec![entry("all_memberships", &["read_job"], &[1], &[])],
            vec![entry("selected_memberships", &["read_job"], &[], &[])],
            vec![entry("instance", &[" "], &[], &[])],
        ] {
            assert!(matches!(read_grants(&bad), Err(Error::Invalid { .. })), "{bad:?}");
        }
        let many: Vec<i64> = (1..=101).collect();
        assert!(read_grants(&[entry("selected_memberships", &["read_job"], &many, &[])]).is_err());
    }
}
