//! Least privilege from use: the smallest fine-grained grant that covers what a token actually exercised.
//!
//! Each exercised (assignable permission, boundary) pair becomes exactly that permission at exactly that
//! boundary: a project or group is selected by id, the owner's user is `user`, the instance is `instance`. No
//! pair is widened to a parent group or to all memberships, so the suggestion allows every recorded request and
//! nothing outside the recorded permissions and boundaries.
//!
//! **Invariant:** a suggestion covers every recorded pair and nothing outside the recorded permissions and
//! boundaries.

use std::collections::BTreeMap;

use domain::{Grant, GrantAccess, GrantTarget, UsageBoundary};

/// The grants covering `exercised` pairs: one per boundary, its permissions sorted and without repeats.
pub fn suggest_grants<'a>(exercised: impl IntoIterator<Item = (&'a str, UsageBoundary)>) -> Vec<Grant> {
    let mut by_boundary: BTreeMap<UsageBoundary, Vec<String>> = BTreeMap::new();
    for (permission, boundary) in exercised {
        let permissions = by_boundary.entry(boundary).or_default();
        if !permissions.iter().any(|p| p == permission) {
            permissions.push(permission.to_owned());
        }
    }
    by_boundary
        .into_iter()
        .map(|(boundary, mut permissions)| {
            permissions.sort();
            let (access, target) = match boundary {
                UsageBoundary::Project(id) => (GrantAccess::SelectedMemberships, Some(GrantTarget::Project(id))),
                UsageBoundary::Group(id) => (GrantAccess::SelectedMemberships, Some(GrantTarget::Group(id))),
                UsageBoundary::User => (GrantAccess::User, None),
                UsageBoundary::Instance => (GrantAccess::Instance, None),
            };
            Grant { access, target, permissions }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use catalog::{Boundary, Catalog};
    use proptest::prelude::*;

    use super::*;
    use crate::{Reach, granted};

    fn catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| Catalog::builtin().expect("the shipped catalog is valid"))
    }

    /// The reach of a recorded boundary, as a request there would present it (`groups` are the project's or
    /// group's ancestors, root first), and the kind of route it is.
    fn reach_of(boundary: UsageBoundary, ancestors: &[i64]) -> (Reach<'_>, Boundary) {
        match boundary {
            UsageBoundary::Project(id) => {
                (Reach::Project { id, groups: ancestors, owner_user_id: None }, Boundary::Project)
            }
            UsageBoundary::Group(_) => (Reach::Group { groups: ancestors }, Boundary::Group),
            UsageBoundary::User => (Reach::User, Boundary::OwnUser),
            UsageBoundary::Instance => (Reach::Instance, Boundary::Instance),
        }
    }

    /// A random exercised pair: a bundle that applies at the boundary's kind, on a few projects and groups.
    fn pair() -> impl Strategy<Value = (String, UsageBoundary)> {
        let boundary = prop_oneof![
            (1..6i64).prop_map(UsageBoundary::Project),
            (1..6i64).prop_map(UsageBoundary::Group),
            Just(UsageBoundary::User),
            Just(UsageBoundary::Instance),
        ];
        (boundary, any::<prop::sample::Index>()).prop_filter_map("a bundle for that kind", |(boundary, pick)| {
            let kind = match boundary {
                UsageBoundary::Project(_) => Boundary::Project,
                UsageBoundary::Group(_) => Boundary::Group,
                UsageBoundary::User => Boundary::OwnUser,
                UsageBoundary::Instance => Boundary::Instance,
            };
            let fitting: Vec<&str> =
                catalog().bundles().iter().filter(|b| b.boundaries.contains(kind)).map(|b| b.name.as_str()).collect();
            (!fitting.is_empty()).then(|| (fitting[pick.index(fitting.len())].to_owned(), boundary))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn the_suggestion_allows_every_recorded_use_and_nothing_outside_the_recorded_pairs(
            recorded in prop::collection::vec(pair(), 1..25),
            other in pair(),
        ) {
            let catalog = catalog();
            let grants = suggest_grants(recorded.iter().map(|(p, b)| (p.as_str(), *b)));
            let owner = 1;
            // Projects sit in group 100 (never recorded); a group is its own ancestry.
            for (permission, boundary) in &recorded {
                let ancestors = match boundary {
                    UsageBoundary::Group(id) => vec![*id],
                    _ => vec![100],
                };
                let (reach, kind) = reach_of(*boundary, &ancestors);
                let held = granted(catalog, &grants, owner, &reach, kind);
                let bundle = catalog.bundle(permission).expect("a catalog bundle");
                prop_assert!(bundle.permissions.iter().all(|p| held.contains(p)), "{permission} at {boundary:?}");
            }
            // Every suggested (permission, boundary) was recorded as such.
            for grant in &grants {
                let boundary = match (grant.access, grant.target) {
                    (GrantAccess::SelectedMemberships, Some(GrantTarget::Project(id))) => UsageBoundary::Project(id),
                    (GrantAccess::SelectedMemberships, Some(GrantTarget::Group(id))) => UsageBoundary::Group(id),
                    (GrantAccess::User, None) => UsageBoundary::User,
                    (GrantAccess::Instance, None) => UsageBoundary::Instance,
                    other => return Err(TestCaseError::fail(format!("an unexpected reach {other:?}"))),
                };
                for permission in &grant.permissions {
                    prop_assert!(recorded.iter().any(|(p, b)| p == permission && *b == boundary));
                }
            }
            // At any boundary, recorded there or not, the suggestion gives exactly the raw permissions of the
            // bundles recorded there: nothing more.
            let ancestors = match other.1 {
                UsageBoundary::Group(id) => vec![id],
                _ => vec![100],
            };
            let (reach, kind) = reach_of(other.1, &ancestors);
            let held = granted(catalog, &grants, owner, &reach, kind);
            let recorded_there = recorded
                .iter()
                .filter(|(_, b)| *b == other.1)
                .filter_map(|(p, _)| catalog.bundle(p))
                .fold(catalog::PermSet::default(), |all, b| all.union(b.permissions));
            prop_assert!(recorded_there.covers(&held), "more than was used at {:?}", other.1);
        }
    }

    #[test]
    fn pairs_on_one_boundary_become_one_grant_and_every_boundary_keeps_its_own() {
        let grants = suggest_grants([
            ("read_project", UsageBoundary::Project(7)),
            ("read_job", UsageBoundary::Project(7)),
            ("read_project", UsageBoundary::Project(7)),
            ("read_group", UsageBoundary::Group(3)),
            ("read_user", UsageBoundary::User),
        ]);
        assert_eq!(grants.len(), 3);
        assert_eq!(grants[0].target, Some(GrantTarget::Project(7)));
        assert_eq!(grants[0].permissions, ["read_job", "read_project"]);
        assert_eq!(grants[1].target, Some(GrantTarget::Group(3)));
        assert_eq!(grants[2].access, GrantAccess::User);
    }
}
