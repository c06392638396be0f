//! Data-driven decision tests (`fixtures/decisions.txt`) and property tests of the invariants.

use catalog::{Catalog, canonical_path};
use domain::{AccessLevel, Grant, GrantAccess, GrantTarget, MemberSource, Scope, Scopes, Visibility};
use proptest::prelude::*;

use crate::{CredentialFacts, Decision, Facts, Layer, Reason, ResourceFacts, UserFacts, authorize, unknown_route};

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::builtin().expect("the shipped catalog is valid"))
}

fn level(role: &str) -> Option<AccessLevel> {
    match role {
        "guest" => Some(AccessLevel::Guest),
        "planner" => Some(AccessLevel::Planner),
        "reporter" => Some(AccessLevel::Reporter),
        "developer" | "blocked" => Some(AccessLevel::Developer),
        "maintainer" => Some(AccessLevel::Maintainer),
        "owner" => Some(AccessLevel::Owner),
        _ => None,
    }
}

/// Decides a request the way every way in does: canonical method and path, the catalog's route, the pure function.
fn decide<'c>(method: &str, target: &str, facts_for: impl Fn(catalog::Boundary) -> Facts<'static>) -> Decision<'c> {
    let catalog = catalog();
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    let method = catalog::canonical_method(method);
    let Ok(path) = canonical_path(path) else { return unknown_route() };
    let Some(found) = catalog.find(&method, &path, query) else { return unknown_route() };
    authorize(catalog, found.route, method == "GET", &facts_for(found.route.boundary))
}

fn fixture_facts(scopes: &str, role: &str, visibility: &str, org: i64, boundary: catalog::Boundary) -> Facts<'static> {
    let (role, names_caller) = match role.strip_suffix("+self") {
        Some(role) => (role, true),
        None => (role, false),
    };
    let credential = match scopes {
        "-" => None,
        s => {
            let active = !s.ends_with('!');
            let names: Vec<&str> = s.trim_end_matches('!').split(',').collect();
            Some(CredentialFacts {
                scopes: Scopes::parse(&names).expect("fixture scopes"),
                active,
                organization_id: 1,
                grants: &[],
                rules: &[],
                bound: None,
            })
        }
    };
    let user = match (scopes, role) {
        ("-", _) => None,
        (_, r) => Some(UserFacts {
            id: 1,
            is_admin: r.starts_with("admin"),
            external: r == "external",
            active: r != "blocked",
            service_account: r == "service_account",
        }),
    };
    let visibility = match visibility {
        "public" => Some(Visibility::Public),
        "internal" => Some(Visibility::Internal),
        "private" => Some(Visibility::Private),
        _ => None,
    };
    let resource = match (boundary, visibility) {
        (_, None) if matches!(boundary, catalog::Boundary::Project | catalog::Boundary::Group) => {
            ResourceFacts::Missing
        }
        (catalog::Boundary::Project, Some(visibility)) => ResourceFacts::Project {
            organization_id: org,
            visibility,
            level: level(role),
            id: 1,
            groups: &[],
            owner_user_id: None,
        },
        (catalog::Boundary::Group, Some(visibility)) => {
            ResourceFacts::Group { organization_id: org, visibility, level: level(role), groups: &[] }
        }
        (catalog::Boundary::OwnUser, _) => ResourceFacts::OwnUser,
        _ => ResourceFacts::Instance,
    };
    Facts {
        job: None,
        deploy: None,
        trigger: None,
        credential,
        user,
        resource,
        admin_mode: role == "admin+mode",
        names_caller,
        target: None,
    }
}

#[test]
fn every_fixture_decides_as_written() {
    let text = include_str!("../fixtures/decisions.txt");
    let mut cases = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (request, expected) = line.split_once("=>").expect("a => in every case");
        let fields: Vec<&str> = request.split_whitespace().collect();
        let [scopes, role, visibility, org, method, path] = fields.as_slice() else {
            panic!("line {}: expected 6 fields before =>", n + 1)
        };
        let org: i64 = org.parse().expect("org is a number");
        let decision = decide(method, path, |b| fixture_facts(scopes, role, visibility, org, b));
        let got = format!("{} {}", if decision.allowed { "allow" } else { "deny" }, decision.layer.as_str());
        assert_eq!(got, expected.trim(), "line {}: {line} ({})", n + 1, decision.reason.text());
        cases += 1;
    }
    assert!(cases > 50);
}

#[test]
fn an_unknown_route_is_denied_by_the_route_layer() {
    let decision = decide("GET", "/api/v4/no/such/thing", |b| fixture_facts("api", "owner", "private", 1, b));
    assert!(!decision.allowed);
    assert_eq!(decision.layer, crate::Layer::Route);
}

#[test]
fn a_denial_names_the_permissions_that_would_have_allowed_it() {
    let decision = decide("DELETE", "/api/v4/projects/1/registry/repositories/2", |b| {
        fixture_facts("api", "reporter", "private", 1, b)
    });
    assert!(!decision.allowed);
    assert_eq!(
        decision.required,
        [vec!["admin_container_image".to_owned()], vec!["destroy_container_image".to_owned()]]
    );
}

fn arb_scopes() -> impl Strategy<Value = Scopes> {
    proptest::sample::subsequence(Scope::ALL.to_vec(), 1..=4).prop_map(|s| s.into_iter().collect())
}

fn arb_level() -> impl Strategy<Value = Option<AccessLevel>> {
    proptest::option::of(proptest::sample::select(AccessLevel::ALL.to_vec()))
}

fn arb_visibility() -> impl Strategy<Value = Visibility> {
    proptest::sample::select(vec![Visibility::Private, Visibility::Internal, Visibility::Public])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Nothing a token is allowed exceeds what its user's role allows without the token.
    #[test]
    fn a_token_never_exceeds_its_users_role(
        route_idx in any::<proptest::sample::Index>(),
        scopes in arb_scopes(),
        level in arb_level(),
        visibility in arb_visibility(),
        is_admin in any::<bool>(),
    ) {
        let catalog = catalog();
        let route = route_idx.get(catalog.routes());
        let user = UserFacts { id: 1, is_admin, external: false, active: true, service_account: false };
        let resource = ResourceFacts::Project { organization_id: 1, visibility, level, id: 1, groups: &[], owner_user_id: None };
        let with_token = Facts {
            job: None, deploy: None, trigger: None,
            credential: Some(CredentialFacts { scopes, active: true, organization_id: 1, grants: &[], rules: &[], bound: None }),
            user: Some(user),
            resource,
            admin_mode: false,
            names_caller: false, target: None
        };
        let without_token = Facts { job: None, deploy: None, trigger: None, credential: None, ..with_token.clone() };
        let safe = route.method == "GET";
        if authorize(catalog, route, safe, &with_token).allowed {
            prop_assert!(authorize(catalog, route, safe, &without_token).allowed);
        }
    }

    /// A project's or group's token is never allowed on a group or project outside its own, nor anything a token
    /// without the bound would be refused; at the instance it holds only what anyone does.
    #[test]
    fn a_bound_token_reaches_only_its_own_project_or_group_and_only_narrows(
        route_idx in any::<proptest::sample::Index>(),
        scopes in arb_scopes(),
        level in arb_level(),
        visibility in arb_visibility(),
        on_group in any::<bool>(),
        bound_to_group in any::<bool>(),
        bound_id in 1i64..5,
    ) {
        let catalog = catalog();
        let route = route_idx.get(catalog.routes());
        let groups = [1i64, 2];
        let resource = if on_group {
            ResourceFacts::Group { organization_id: 1, visibility, level, groups: &groups }
        } else {
            ResourceFacts::Project { organization_id: 1, visibility, level, id: 3, groups: &groups, owner_user_id: None }
        };
        let bound = if bound_to_group { MemberSource::Group(bound_id) } else { MemberSource::Project(bound_id) };
        let inside = if bound_to_group { bound_id <= 2 } else { !on_group && bound_id == 3 };
        let credential = CredentialFacts { scopes, active: true, organization_id: 1, grants: &[], rules: &[], bound: Some(bound) };
        let user = UserFacts { id: 9, is_admin: false, external: false, active: true, service_account: false };
        let bound_facts = Facts { job: None, deploy: None, trigger: None, credential: Some(credential), user: Some(user), resource, admin_mode: false, names_caller: false, target: None };
        let unbound = Facts { credential: Some(CredentialFacts { bound: None, ..credential }), ..bound_facts.clone() };
        let safe = route.method == "GET";
        let decision = authorize(catalog, route, safe, &bound_facts);
        if decision.allowed {
            prop_assert!(inside, "{} {} allowed outside the bound", route.method, route.template);
            prop_assert!(authorize(catalog, route, safe, &unbound).allowed);
        }
        let at_instance = Facts { resource: ResourceFacts::Instance, ..bound_facts };
        if authorize(catalog, route, safe, &at_instance).allowed {
            prop_assert!(route.required.iter().any(|needed| catalog.anyone().covers(needed)), "{}", route.template);
        }
    }

    /// A deploy token reaches only Git reads, the registries and packages, only inside its own project or group,
    /// and only what its scopes give: never the REST API, whatever the resource's visibility.
    #[test]
    fn a_deploy_token_reaches_only_its_surfaces_inside_its_resource(
        route_idx in any::<proptest::sample::Index>(),
        scopes in proptest::sample::subsequence(domain::DEPLOY_SCOPES.to_vec(), 1..=3),
        visibility in arb_visibility(),
        on_group in any::<bool>(),
        bound_to_group in any::<bool>(),
        bound_id in 1i64..5,
    ) {
        let catalog = catalog();
        let route = route_idx.get(catalog.routes());
        let groups = [1i64, 2];
        let resource = if on_group {
            ResourceFacts::Group { organization_id: 1, visibility, level: None, groups: &groups }
        } else {
            ResourceFacts::Project { organization_id: 1, visibility, level: None, id: 3, groups: &groups, owner_user_id: None }
        };
        let bound = if bound_to_group { MemberSource::Group(bound_id) } else { MemberSource::Project(bound_id) };
        let inside = if bound_to_group { bound_id <= 2 } else { !on_group && bound_id == 3 };
        let scopes: Scopes = scopes.into_iter().collect();
        let facts = Facts {
            credential: None, job: None, user: None, resource, admin_mode: false, names_caller: false, target: None,
            trigger: None,
            deploy: Some(crate::DeployFacts { kind: domain::CredentialKind::DeployToken, scopes, resource: bound, organization_id: 1 }),
        };
        let decision = authorize(catalog, route, route.method == "GET", &facts);
        if decision.allowed {
            prop_assert!(inside, "{} {} allowed outside the bound", route.method, route.template);
            prop_assert!(domain::CredentialKind::DeployToken.spec().reaches(route.surface), "{}", route.template);
            prop_assert!(route.surface != catalog::Surface::Api && route.surface != catalog::Surface::GitWrite);
            let held = catalog.deploy(scopes);
            prop_assert!(route.required.iter().any(|needed| held.covers(needed)));
        }
    }

    /// A read_api token is never allowed a method that is not safe, on any surface.
    #[test]
    fn read_api_never_allows_an_unsafe_method(
        route_idx in any::<proptest::sample::Index>(),
        level in arb_level(),
        visibility in arb_visibility(),
        is_admin in any::<bool>(),
    ) {
        let catalog = catalog();
        let unsafe_routes: Vec<&catalog::Route> = catalog.routes().iter().filter(|r| r.method != "GET").collect();
        let route = *route_idx.get(&unsafe_routes);
        let facts = Facts {
            job: None, deploy: None, trigger: None,
            credential: Some(CredentialFacts { scopes: Scopes::parse(&["read_api"]).expect("scope"), active: true, organization_id: 1, grants: &[], rules: &[], bound: None }),
            user: Some(UserFacts { id: 1, is_admin, external: false, active: true, service_account: false }),
            resource: ResourceFacts::Project { organization_id: 1, visibility, level, id: 1, groups: &[], owner_user_id: None },
            admin_mode: false,
            names_caller: false, target: None
        };
        prop_assert!(!authorize(catalog, route, false, &facts).allowed);
    }

    /// Every alias of a request decides as its canonical form.
    #[test]
    fn aliases_decide_as_the_canonical_form(
        route_idx in any::<proptest::sample::Index>(),
        scopes in arb_scopes(),
        level in arb_level(),
        visibility in arb_visibility(),
        alias in 0usize..8,
    ) {
        let catalog = catalog();
        let plain: Vec<&catalog::Route> = catalog.routes().iter().filter(|r| r.query.is_none()).collect();
        let route = *route_idx.get(&plain);
        // A concrete path for the template.
        let path: String = route.segments.iter().map(|s| match s {
            catalog::Segment::Literal(l) => format!("/{l}"),
            catalog::Segment::Param { suffix, .. } => format!("/x1{suffix}"),
            catalog::Segment::Multi { suffix, .. } => format!("/a/b{suffix}"),
        }).collect();
        // Aliases that keep one reading, and aliases that have none (dot segments plain or encoded, a backslash),
        // which must be refused rather than read one way here and another way by a gateway.
        let (aliased, readable) = match alias {
            0 => (format!("{path}/"), true),
            1 => (path.replacen('/', "//", 1), true),
            2 => (path.replacen("/x1", "/%78%31", 1), true),
            3 => (format!("/zz/..{path}"), false),
            4 => (format!("/.{path}"), false),
            5 => (format!("/zz/%2e%2E{path}"), false),
            6 => (format!("{path}/%2e"), false),
            _ => (format!("{path}%5C"), false),
        };
        prop_assert_eq!(canonical_path(&aliased).is_ok(), readable, "{}", aliased);
        let facts = |_| Facts {
            job: None, deploy: None, trigger: None,
            credential: Some(CredentialFacts { scopes, active: true, organization_id: 1, grants: &[], rules: &[], bound: None }),
            user: Some(UserFacts { id: 1, is_admin: false, external: false, active: true, service_account: false }),
            resource: ResourceFacts::Project { organization_id: 1, visibility, level, id: 1, groups: &[], owner_user_id: None },
            admin_mode: false,
            names_caller: false, target: None
        };
        let method = route.method.as_str();
        let canonical = decide(method, &path, facts);
        let other = decide(method, &aliased, facts);
        if readable {
            prop_assert_eq!((canonical.allowed, canonical.layer), (other.allowed, other.layer), "{} vs {}", path, aliased);
        } else {
            prop_assert_eq!((other.allowed, other.layer), (false, Layer::Route), "{}", aliased);
        }
    }
}

fn token(scopes: &[&str]) -> CredentialFacts<'static> {
    CredentialFacts {
        scopes: Scopes::parse(scopes).expect("scopes"),
        active: true,
        organization_id: 1,
        grants: &[],
        rules: &[],
        bound: None,
    }
}

fn person(is_admin: bool) -> UserFacts {
    UserFacts { id: 1, is_admin, external: false, active: true, service_account: false }
}

#[test]
fn sudo_needs_an_administrator_acting_as_one_and_the_sudo_scope() {
    assert_eq!(crate::sudo(person(true), &token(&["api", "sudo"]), false), Ok(()));
    assert_eq!(crate::sudo(person(true), &token(&["api"]), false), Err((Layer::Scope, Reason::SudoNeedsScope)));
    assert_eq!(crate::sudo(person(false), &token(&["api", "sudo"]), false), Err((Layer::Role, Reason::SudoNeedsAdmin)));
    assert_eq!(crate::sudo(person(true), &token(&["api", "sudo"]), true), Err((Layer::Role, Reason::SudoNeedsAdmin)));
    assert_eq!(crate::sudo(person(true), &token(&["api", "sudo", "admin_mode"]), true), Ok(()));
}

#[test]
fn rules_past_the_route_read_the_role_matrix() {
    let catalog = catalog();
    assert!(crate::role_grants(catalog, false, Some(AccessLevel::Developer), "create_projects"));
    assert!(!crate::role_grants(catalog, false, Some(AccessLevel::Reporter), "create_projects"));
    assert!(!crate::role_grants(catalog, false, Some(AccessLevel::Maintainer), "manage_owners"));
    assert!(crate::role_grants(catalog, false, Some(AccessLevel::Owner), "manage_owners"));
    assert!(crate::role_grants(catalog, true, None, "create_subgroup"));
    assert!(!crate::role_grants(catalog, false, None, "create_subgroup"));
    assert!(!crate::role_grants(catalog, true, Some(AccessLevel::Owner), "no_such_permission"));
}

#[test]
fn an_administrator_without_admin_mode_is_told_why() {
    let catalog = catalog();
    let path = canonical_path("/api/v4/audit_events").expect("path");
    let route = catalog.find("GET", &path, None).expect("route").route;
    let facts = Facts {
        job: None,
        deploy: None,
        trigger: None,
        credential: Some(token(&["api"])),
        user: Some(person(true)),
        resource: ResourceFacts::Instance,
        admin_mode: true,
        names_caller: false,
        target: None,
    };
    let decision = authorize(catalog, route, true, &facts);
    assert_eq!((decision.allowed, decision.reason), (false, Reason::AdminModeRequired));
    let facts = Facts { user: Some(person(false)), ..facts };
    assert_eq!(authorize(catalog, route, true, &facts).reason, Reason::MissingPermission);
}

/// A fine-grained token of user 1 with these grants.
fn fine(grants: &[Grant]) -> CredentialFacts<'_> {
    CredentialFacts { scopes: Scopes::granular(), active: true, organization_id: 1, grants, rules: &[], bound: None }
}

fn grant(access: GrantAccess, target: Option<GrantTarget>, permissions: &[&str]) -> Grant {
    Grant { access, target, permissions: permissions.iter().map(|p| (*p).to_owned()).collect() }
}

/// Project 5 sits in group 20, a subgroup of 10; project 6 sits in group 30; project 7 is in user 1's namespace.
fn project(id: i64, level: Option<AccessLevel>) -> ResourceFacts<'static> {
    let (groups, owner_user_id): (&'static [i64], _) = match id {
        5 => (&[10, 20], None),
        6 => (&[30], None),
        _ => (&[], Some(1)),
    };
    ResourceFacts::Project { organization_id: 1, visibility: Visibility::Private, level, id, groups, owner_user_id }
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

fn rule_facts<'a>(rules: &'a [String], segments: &'a [&'a str], method: &'a str) -> Facts<'a> {
    Facts {
        job: None,
        deploy: None,
        trigger: None,
        credential: Some(CredentialFacts { rules, ..token(&["api"]) }),
        user: Some(person(false)),
        resource: project(5, Some(AccessLevel::Developer)),
        admin_mode: false,
        names_caller: false,
        target: Some(crate::RuleTarget { method, surface: crate::RuleSurface::Api, segments }),
    }
}

#[test]
fn route_rules_narrow_a_token_to_the_requests_they_match() {
    let catalog = catalog();
    let path = canonical_path("/api/v4/projects/5/issues").expect("path");
    let route = catalog.find("GET", &path, None).expect("route").route;
    let rules = vec!["GET /projects/5/**".to_owned()];
    let facts = rule_facts(&rules, &["projects", "5", "issues"], "GET");
    assert!(authorize(catalog, route, true, &facts).allowed);
    let post = catalog.find("POST", &path, None).expect("route").route;
    let denied = authorize(catalog, post, false, &rule_facts(&rules, &["projects", "5", "issues"], "POST"));
    assert_eq!((denied.allowed, denied.reason), (false, Reason::OutsideRouteRules));
    let no_target = Facts { target: None, ..facts };
    assert!(!authorize(catalog, route, true, &no_target).allowed, "rules without a target fail closed");
    let self_path = canonical_path("/api/v4/personal_access_tokens/self").expect("path");
    let self_route = catalog.find("DELETE", &self_path, None);
    let mut revoke = rule_facts(&rules, &["personal_access_tokens", "self"], "DELETE");
    revoke.resource = ResourceFacts::OwnUser;
    assert!(authorize(catalog, self_route.expect("route").route, false, &revoke).allowed, "a token may revoke itself");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Adding allowlist rules never allows a request the token was refused without them.
    #[test]
    fn an_allowlist_rule_never_widens(
        route_idx in any::<proptest::sample::Index>(),
        rule_idx in proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        wild in proptest::collection::vec(0usize..4, 0..4),
        scopes in arb_scopes(),
        level in arb_level(),
        visibility in arb_visibility(),
    ) {
        let catalog = catalog();
        let api: Vec<&catalog::Route> =
            catalog.routes().iter().filter(|r| r.template.starts_with("/api/v4/") && r.query.is_none()).collect();
        let route = *route_idx.get(&api);
        let concrete = |r: &catalog::Route| -> Vec<String> {
            r.segments.iter().skip(2).map(|s| match s {
                catalog::Segment::Literal(l) => l.clone(),
                catalog::Segment::Param { suffix, .. } => format!("5{suffix}"),
                catalog::Segment::Multi { suffix, .. } => format!("a{suffix}"),
            }).collect()
        };
        // Rules written from routes of the catalog, some segments made wildcards.
        let rules: Vec<String> = rule_idx.iter().zip(wild.iter().chain(std::iter::repeat(&9))).filter_map(|(i, w)| {
            let from = *i.get(&api);
            let mut segments = concrete(from);
            if let Some(s) = segments.get_mut(*w) { *s = "*".to_owned(); }
            if *w == 3 { segments.truncate(2); segments.push("**".to_owned()); }
            crate::normalize_rule(&format!("{} /{}", from.method, segments.join("/"))).ok()
        }).collect();
        let owned = concrete(route);
        let segments: Vec<&str> = owned.iter().map(String::as_str).collect();
        let facts = Facts {
            job: None, deploy: None, trigger: None,
            credential: Some(CredentialFacts { scopes, active: true, organization_id: 1, grants: &[], rules: &rules, bound: None }),
            user: Some(person(false)),
            resource: ResourceFacts::Project { organization_id: 1, visibility, level, id: 5, groups: &[], owner_user_id: None },
            admin_mode: false,
            names_caller: false,
            target: Some(crate::RuleTarget { method: &route.method, surface: crate::RuleSurface::Api, segments: &segments }),
        };
        let safe = route.method == "GET";
        if authorize(catalog, route, safe, &facts).allowed {
            let without = Facts { job: None, deploy: None, trigger: None, credential: Some(CredentialFacts { rules: &[], ..facts.credential.expect("set") }), ..facts.clone() };
            prop_assert!(authorize(catalog, route, safe, &without).allowed);
        }
    }
}

#[test]
fn token_rules_refuse_legacy_tokens_after_the_cut_off_and_lifetimes_beyond_the_maximum() {
    use catalog::Surface;
    let day = |d: &str| domain::Date::parse(d).expect("date");
    let api = Scopes::parse(&["api"]).expect("scope");
    let only = crate::TokenRules { fine_grained_only: true, ..Default::default() };
    let refusal = |rules: &crate::TokenRules, surface, scopes, created, expires| {
        crate::token_rules_refusal(rules, surface, scopes, created, expires)
    };
    let created = day("2026-11-01");
    assert_eq!(refusal(&only, Surface::Api, api, created, None), Some(Reason::LegacyTokenRefused));
    assert_eq!(refusal(&only, Surface::TokenSelf, api, created, None), None, "a token may still revoke itself");
    assert_eq!(refusal(&only, Surface::Api, Scopes::granular(), created, None), None);
    let after = crate::TokenRules { fine_grained_only_after: Some(day("2026-11-10")), ..only };
    assert_eq!(refusal(&after, Surface::Api, api, created, None), None, "created before the cut-off");
    assert_eq!(refusal(&after, Surface::Api, api, day("2026-11-11"), None), Some(Reason::LegacyTokenRefused));
    let max = crate::TokenRules { max_lifetime_days: Some(30), expiry_required: true, ..Default::default() };
    assert_eq!(refusal(&max, Surface::Api, api, created, Some(day("2026-12-01"))), None);
    assert_eq!(refusal(&max, Surface::Api, api, created, Some(day("2026-12-02"))), Some(Reason::LifetimeBeyondPolicy));
    assert_eq!(refusal(&max, Surface::Api, Scopes::granular(), created, None), Some(Reason::LifetimeBeyondPolicy));
    let optional = crate::TokenRules { expiry_required: false, ..max };
    assert_eq!(refusal(&optional, Surface::Api, api, created, None), None, "no expiry is allowed when not required");
}
