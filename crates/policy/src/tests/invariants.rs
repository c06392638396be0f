//! Property tests of the decision's invariants: a token never exceeds its user's role, a project's or group's
//! token stays inside its bound, a deploy token inside its reach, `read_api` never writes, and aliases of a
//! path decide as its canonical form.
//!
//! **Invariant:** each property is checked over the whole catalog with generated facts, never a hand-picked case.

use super::*;

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
