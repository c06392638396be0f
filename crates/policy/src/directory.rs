//! What a member's access level allows on groups, projects and memberships, with GitLab's defaults.

use domain::{AccessLevel, Visibility};

/// A directory action a user asks to perform on a group or project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Change the group's or project's settings.
    Update,
    /// Delete the group or project.
    Delete,
    /// Create a subgroup in a group (GitLab's default `subgroup_creation_level`: Maintainer).
    CreateSubgroup,
    /// Create a project in a group (GitLab's default `project_creation_level`: Developer).
    CreateProject,
    /// Add, change or remove a member who has, or is given, this level.
    ManageMember(AccessLevel),
    /// List the members.
    ReadMembers,
}

/// Whether a user with `level` (their highest, inherited or direct) may perform `action`.
/// Administrators may do everything; nobody else without a level may do anything.
pub fn can(is_admin: bool, level: Option<AccessLevel>, is_group: bool, action: Action) -> bool {
    if is_admin {
        return true;
    }
    let Some(level) = level else { return false };
    match action {
        Action::Update => level >= if is_group { AccessLevel::Owner } else { AccessLevel::Maintainer },
        Action::Delete => level >= AccessLevel::Owner,
        Action::CreateSubgroup => is_group && level >= AccessLevel::Maintainer,
        Action::CreateProject => is_group && level >= AccessLevel::Developer,
        Action::ManageMember(target) => {
            level >= AccessLevel::Maintainer && (target < AccessLevel::Owner || level >= AccessLevel::Owner)
        }
        Action::ReadMembers => true,
    }
}

/// Whether a group or project is visible: members and administrators see it; anyone signed in sees
/// internal ones unless external; everyone sees public ones.
pub fn visible(
    visibility: Visibility,
    level: Option<AccessLevel>,
    is_admin: bool,
    signed_in: bool,
    external: bool,
) -> bool {
    if is_admin || level.is_some() {
        return true;
    }
    match visibility {
        Visibility::Public => true,
        Visibility::Internal => signed_in && !external,
        Visibility::Private => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessLevel::*;

    #[test]
    fn nobody_without_a_level_may_act() {
        assert!(!can(false, None, true, Action::ReadMembers));
    }

    #[test]
    fn a_maintainer_cannot_make_an_owner() {
        assert!(can(false, Some(Maintainer), true, Action::ManageMember(Maintainer)));
        assert!(!can(false, Some(Maintainer), true, Action::ManageMember(Owner)));
        assert!(can(false, Some(Owner), true, Action::ManageMember(Owner)));
        assert!(!can(false, Some(Developer), false, Action::ManageMember(Guest)));
    }

    #[test]
    fn only_owners_change_groups_and_maintainers_change_projects() {
        assert!(!can(false, Some(Maintainer), true, Action::Update));
        assert!(can(false, Some(Maintainer), false, Action::Update));
        assert!(can(false, Some(Owner), true, Action::Update));
    }

    #[test]
    fn developers_create_projects_and_maintainers_subgroups() {
        assert!(can(false, Some(Developer), true, Action::CreateProject));
        assert!(!can(false, Some(Reporter), true, Action::CreateProject));
        assert!(!can(false, Some(Developer), true, Action::CreateSubgroup));
        assert!(can(false, Some(Maintainer), true, Action::CreateSubgroup));
    }

    #[test]
    fn private_things_are_hidden_from_non_members() {
        assert!(!visible(Visibility::Private, None, false, true, false));
        assert!(visible(Visibility::Internal, None, false, true, false));
        assert!(!visible(Visibility::Internal, None, false, true, true));
        assert!(!visible(Visibility::Internal, None, false, false, false));
        assert!(visible(Visibility::Public, None, false, false, false));
        assert!(visible(Visibility::Private, Some(Guest), false, true, false));
    }
}
