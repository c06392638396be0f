//! The grants of a fine-grained token (GitLab's granular scopes): what it may do, bounded to where.
//!
//! **Invariant:** a stored grant that does not read back is dropped, never widened.

use std::fmt;

/// Which resources a grant reaches (GitLab's `Authz::GranularScope` access).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantAccess {
    /// The projects in the owner's own namespace.
    PersonalProjects,
    /// Every group and project the owner has access to, including future ones.
    AllMemberships,
    /// The groups (with their descendants) and projects named by the grant.
    SelectedMemberships,
    /// The owner's own user.
    User,
    /// Routes about the instance as a whole.
    Instance,
}

impl GrantAccess {
    /// Every access, in GitLab's order.
    pub const ALL: [GrantAccess; 5] = [
        GrantAccess::PersonalProjects,
        GrantAccess::AllMemberships,
        GrantAccess::SelectedMemberships,
        GrantAccess::User,
        GrantAccess::Instance,
    ];

    /// GitLab's name of the access (`all_memberships`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrantAccess::PersonalProjects => "personal_projects",
            GrantAccess::AllMemberships => "all_memberships",
            GrantAccess::SelectedMemberships => "selected_memberships",
            GrantAccess::User => "user",
            GrantAccess::Instance => "instance",
        }
    }

    /// The access of this name, exactly.
    pub fn parse(name: &str) -> Option<GrantAccess> {
        GrantAccess::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for GrantAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one group or project a `selected_memberships` grant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantTarget {
    /// A group (and everything under it), by id.
    Group(i64),
    /// A project, by id.
    Project(i64),
}

/// One grant: assignable permissions (catalog bundles, by name) over one reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grant {
    /// What the grant reaches.
    pub access: GrantAccess,
    /// Set exactly when `access` is `SelectedMemberships`.
    pub target: Option<GrantTarget>,
    /// Assignable permission names, sorted and without duplicates.
    pub permissions: Vec<String>,
}

impl Grant {
    /// The group a `selected_memberships` grant names, if it names one.
    pub fn group_id(&self) -> Option<i64> {
        match self.target {
            Some(GrantTarget::Group(id)) => Some(id),
            _ => None,
        }
    }

    /// The project a `selected_memberships` grant names, if it names one.
    pub fn project_id(&self) -> Option<i64> {
        match self.target {
            Some(GrantTarget::Project(id)) => Some(id),
            _ => None,
        }
    }

    /// Reads grants as stored: one per line, `access target permission,permission…` with target `-`, `g<id>` or
    /// `p<id>`. A line that cannot be read is dropped, never widened.
    pub fn from_stored(text: &str) -> Vec<Grant> {
        text.lines().filter_map(Grant::from_stored_line).collect()
    }

    fn from_stored_line(line: &str) -> Option<Grant> {
        let mut fields = line.split(' ');
        let access = GrantAccess::parse(fields.next()?)?;
        let target = match fields.next()? {
            "-" => None,
            t => match t.split_at_checked(1)? {
                ("g", id) => Some(GrantTarget::Group(id.parse().ok()?)),
                ("p", id) => Some(GrantTarget::Project(id.parse().ok()?)),
                _ => return None,
            },
        };
        if target.is_some() != (access == GrantAccess::SelectedMemberships) {
            return None;
        }
        let permissions: Vec<String> = fields.next()?.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect();
        if permissions.is_empty() || fields.next().is_some() {
            return None;
        }
        Some(Grant { access, target, permissions })
    }

    /// The stored form of a token's grants: one line per grant, which [`Grant::from_stored`] reads back.
    pub fn to_stored(grants: &[Grant]) -> String {
        let lines: Vec<String> = grants
            .iter()
            .map(|g| {
                let target = match g.target {
                    None => "-".to_owned(),
                    Some(GrantTarget::Group(id)) => format!("g{id}"),
                    Some(GrantTarget::Project(id)) => format!("p{id}"),
                };
                format!("{} {target} {}", g.access, g.permissions.join(","))
            })
            .collect();
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant() -> impl Strategy<Value = Grant> {
        let access = proptest::sample::select(GrantAccess::ALL.to_vec());
        let names = proptest::collection::btree_set("[a-z]{1,8}_[a-z]{1,8}", 1..4);
        (access, any::<bool>(), 1..i64::MAX, names).prop_map(|(access, group, id, names)| Grant {
            access,
            target: (access == GrantAccess::SelectedMemberships).then_some(if group {
                GrantTarget::Group(id)
            } else {
                GrantTarget::Project(id)
            }),
            permissions: names.into_iter().collect(),
        })
    }

    proptest! {
        #[test]
        fn stored_grants_read_back_as_written(grants in proptest::collection::vec(grant(), 0..5)) {
            prop_assert_eq!(Grant::from_stored(&Grant::to_stored(&grants)), grants);
        }

        #[test]
        fn reading_any_stored_text_never_panics(text in ".{0,200}") {
            let _ = Grant::from_stored(&text);
        }
    }

    #[test]
    fn a_line_that_cannot_be_read_is_dropped() {
        for line in [
            "everything - read_job",
            "selected_memberships - read_job",
            "all_memberships g5 read_job",
            "selected_memberships x5 read_job",
            "selected_memberships g read_job",
            "instance -",
            "instance - ",
            "instance - read_user extra",
        ] {
            assert_eq!(Grant::from_stored(line), vec![], "{line:?}");
        }
        assert_eq!(Grant::from_stored("user - read_user").len(), 1);
    }
}
