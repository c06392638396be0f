//! Fine-grained tokens: what their grants reach (a group's descendants, one project, personal projects, the user
//! and the instance), always within the user's role, and what any token may do on itself.
//!
//! **Invariant:** a fine-grained token is never allowed beyond both its grants and its user's role.

use super::*;

/// A fine-grained token of user 1 with these grants.
fn fine(grants: &[Grant]) -> CredentialFacts<'static> {
    // Read once against the catalog, as the authority does when it loads the token (leaked: a test's few).
    let grants = Box::leak(crate::compile_grants(catalog(), grants).into_boxed_slice());
    CredentialFacts { scopes: Scopes::granular(), active: true, organization_id: 1, grants, rules: &[], bound: None }
}

fn grant(access: GrantAccess, target: Option<GrantTarget>, permissions: &[&str]) -> Grant {
    Grant { access, target, permissions: permissions.iter().map(|p| (*p).to_owned()).collect() }
}

fn decide_with<'c>(
    method: &str,
    path: &str,
    credential: CredentialFacts<'_>,
    resource: ResourceFacts<'_>,
) -> Decision<'c> {
    let catalog = catalog();
    let canonical = canonical_path(path).expect("path");
    let (p, q) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
    let canonical = if q.is_some() { canonical_path(p).expect("path") } else { canonical };
    let route = catalog.find(method, &canonical, q).expect("route").route;
    let facts = Facts {
        job: None,
        deploy: None,
        trigger: None,
        credential: Some(credential),
        user: Some(person(false)),
        resource,
        admin_mode: false,
        names_caller: false,
        target: None,
    };
    authorize(catalog, route, method == "GET", &facts)
}

#[test]
fn a_group_grant_reaches_its_descendants_projects_and_nothing_beside_them() {
    let grants = [grant(GrantAccess::SelectedMemberships, Some(GrantTarget::Group(10)), &["run_job", "read_job"])];
    let dev = Some(AccessLevel::Developer);
    let play = "/api/v4/projects/5/jobs/1/play";
    assert!(decide_with("POST", play, fine(&grants), project(5, dev)).allowed);
    let elsewhere = decide_with("POST", "/api/v4/projects/6/jobs/1/play", fine(&grants), project(6, dev));
    assert_eq!((elsewhere.allowed, elsewhere.reason), (false, Reason::InsufficientGranularScope));
    assert_eq!(elsewhere.bundles, [vec!["run_job".to_owned()]]);
    let not_granted = decide_with("POST", "/api/v4/projects/5/jobs/1/cancel", fine(&grants), project(5, dev));
    assert_eq!((not_granted.allowed, not_granted.layer), (false, Layer::Scope));
    assert_eq!(not_granted.bundles, [vec!["cancel_job".to_owned()]]);
}

#[test]
fn the_users_role_still_applies_under_a_grant() {
    let grants = [grant(GrantAccess::AllMemberships, None, &["run_job"])];
    let reporter =
        decide_with("POST", "/api/v4/projects/5/jobs/1/play", fine(&grants), project(5, Some(AccessLevel::Reporter)));
    assert_eq!((reporter.allowed, reporter.reason), (false, Reason::MissingPermission));
    let stranger = decide_with("POST", "/api/v4/projects/5/jobs/1/play", fine(&grants), project(5, None));
    assert_eq!((stranger.allowed, stranger.reason), (false, Reason::NotFound));
}

#[test]
fn a_project_grant_reaches_that_project_only_and_personal_projects_only_the_owners() {
    let one = [grant(GrantAccess::SelectedMemberships, Some(GrantTarget::Project(6)), &["read_issue"])];
    let owner = Some(AccessLevel::Owner);
    assert!(decide_with("GET", "/api/v4/projects/6/issues", fine(&one), project(6, owner)).allowed);
    assert!(!decide_with("GET", "/api/v4/projects/5/issues", fine(&one), project(5, owner)).allowed);
    let personal = [grant(GrantAccess::PersonalProjects, None, &["read_issue"])];
    assert!(decide_with("GET", "/api/v4/projects/7/issues", fine(&personal), project(7, owner)).allowed);
    assert!(!decide_with("GET", "/api/v4/projects/6/issues", fine(&personal), project(6, owner)).allowed);
}

#[test]
fn a_grant_gives_git_access_through_its_bundles_not_legacy_scopes() {
    let grants = [grant(GrantAccess::SelectedMemberships, Some(GrantTarget::Project(6)), &["read_repository"])];
    let dev = Some(AccessLevel::Developer);
    let clone = decide_with("GET", "/g/p.git/info/refs?service=git-upload-pack", fine(&grants), project(6, dev));
    assert!(clone.allowed, "{:?}", clone.reason);
    let push = decide_with("GET", "/g/p.git/info/refs?service=git-receive-pack", fine(&grants), project(6, dev));
    assert_eq!((push.allowed, push.reason), (false, Reason::InsufficientGranularScope));
    assert_eq!(push.bundles, [vec!["write_repository".to_owned()]]);
}

#[test]
fn user_and_instance_grants_reach_only_their_own_boundary() {
    let user = [grant(GrantAccess::User, None, &["read_user"])];
    assert!(decide_with("GET", "/api/v4/user", fine(&user), ResourceFacts::OwnUser).allowed);
    assert!(!decide_with("GET", "/api/v4/users/2", fine(&user), ResourceFacts::Instance).allowed);
    let instance = [grant(GrantAccess::Instance, None, &["read_user"])];
    assert!(decide_with("GET", "/api/v4/users/2", fine(&instance), ResourceFacts::Instance).allowed);
    assert!(!decide_with("GET", "/api/v4/user", fine(&instance), ResourceFacts::OwnUser).allowed);
}

#[test]
fn any_fine_grained_token_may_show_revoke_and_rotate_itself() {
    let none: [Grant; 0] = [];
    for (method, path) in [
        ("GET", "/api/v4/personal_access_tokens/self"),
        ("DELETE", "/api/v4/personal_access_tokens/self"),
        ("POST", "/api/v4/personal_access_tokens/self/rotate"),
    ] {
        assert!(decide_with(method, path, fine(&none), ResourceFacts::OwnUser).allowed, "{method} {path}");
    }
}

fn arb_grant() -> impl Strategy<Value = Grant> {
    let names: Vec<String> = catalog().bundles().iter().map(|b| b.name.clone()).collect();
    let target = prop_oneof![
        proptest::sample::select(vec![10i64, 20, 30]).prop_map(GrantTarget::Group),
        proptest::sample::select(vec![5i64, 6, 7]).prop_map(GrantTarget::Project),
    ];
    (proptest::sample::select(GrantAccess::ALL.to_vec()), target, proptest::sample::subsequence(names, 1..=6)).prop_map(
        |(access, target, permissions)| Grant {
            access,
            target: (access == GrantAccess::SelectedMemberships).then_some(target),
            permissions,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// What a fine-grained token is allowed is within the union of its grants there, and within its user's role.
    #[test]
    fn a_fine_grained_token_stays_within_its_grants_and_its_users_role(
        route_idx in any::<proptest::sample::Index>(),
        grants in proptest::collection::vec(arb_grant(), 0..4),
        level in arb_level(),
        project_id in proptest::sample::select(vec![5i64, 6, 7]),
        group in proptest::sample::select(vec![0usize, 1, 2]),
        is_admin in any::<bool>(),
    ) {
        let catalog = catalog();
        let route = route_idx.get(catalog.routes());
        let group_paths: [&'static [i64]; 3] = [&[10], &[10, 20], &[30]];
        let resource = match route.boundary {
            catalog::Boundary::Project => match project(project_id, level) {
                ResourceFacts::Project { organization_id, level, id, groups, owner_user_id, .. } => ResourceFacts::Project {
                    organization_id, visibility: Visibility::Internal, level, id, groups, owner_user_id,
                },
                other => other,
            },
            catalog::Boundary::Group => ResourceFacts::Group {
                organization_id: 1, visibility: Visibility::Internal, level, groups: group_paths[group],
            },
            catalog::Boundary::OwnUser => ResourceFacts::OwnUser,
            catalog::Boundary::Instance => ResourceFacts::Instance,
        };
        let user = UserFacts { id: 1, is_admin, external: false, active: true, service_account: false };
        // Grants read once answer as grants read by name on each request.
        let at = match resource {
            ResourceFacts::Project { id, groups, owner_user_id, .. } => crate::Reach::Project { id, groups, owner_user_id },
            ResourceFacts::Group { groups, .. } => crate::Reach::Group { groups },
            ResourceFacts::OwnUser => crate::Reach::User,
            _ => crate::Reach::Instance,
        };
        let compiled = crate::compile_grants(catalog, &grants);
        prop_assert_eq!(
            crate::granted_compiled(&compiled, 1, &at, route.boundary),
            crate::granted(catalog, &grants, 1, &at, route.boundary)
        );
        let with_token = Facts { job: None, deploy: None, trigger: None, credential: Some(fine(&grants)), user: Some(user), resource, admin_mode: false, names_caller: false , target: None};
        let safe = route.method == "GET";
        if authorize(catalog, route, safe, &with_token).allowed {
            let without_token = Facts { job: None, deploy: None, trigger: None, credential: None, ..with_token.clone() };
            prop_assert!(authorize(catalog, route, safe, &without_token).allowed, "beyond the role");
            if !matches!(route.surface, catalog::Surface::TokenSelf | catalog::Surface::TokenSelfRotate) {
                let reach = match resource {
                    ResourceFacts::Project { id, groups, owner_user_id, .. } => crate::Reach::Project { id, groups, owner_user_id },
                    ResourceFacts::Group { groups, .. } => crate::Reach::Group { groups },
                    ResourceFacts::OwnUser => crate::Reach::User,
                    _ => crate::Reach::Instance,
                };
                let given = crate::granted(catalog, &grants, 1, &reach, route.boundary);
                prop_assert!(route.required.iter().any(|needed| given.covers(needed)), "beyond the grants");
            }
        }
    }
}
