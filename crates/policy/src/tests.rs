//! Data-driven decision tests (`fixtures/decisions.txt`) and property tests of the invariants.

use catalog::{Catalog, canonical_path};
use domain::{AccessLevel, Scope, Scopes, Visibility};
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
fn decide<'c>(method: &str, target: &str, facts_for: impl Fn(catalog::Boundary) -> Facts) -> Decision<'c> {
    let catalog = catalog();
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    let method = catalog::canonical_method(method);
    let Ok(path) = canonical_path(path) else { return unknown_route() };
    let Some(found) = catalog.find(&method, &path, query) else { return unknown_route() };
    authorize(catalog, found.route, method == "GET", &facts_for(found.route.boundary))
}

fn fixture_facts(scopes: &str, role: &str, visibility: &str, org: i64, boundary: catalog::Boundary) -> Facts {
    let (role, names_caller) = match role.strip_suffix("+self") {
        Some(role) => (role, true),
        None => (role, false),
    };
    let credential = match scopes {
        "-" => None,
        s => {
            let active = !s.ends_with('!');
            let names: Vec<&str> = s.trim_end_matches('!').split(',').collect();
            Some(CredentialFacts { scopes: Scopes::parse(&names).expect("fixture scopes"), active, organization_id: 1 })
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
        (catalog::Boundary::Project, Some(visibility)) => {
            ResourceFacts::Project { organization_id: org, visibility, level: level(role) }
        }
        (catalog::Boundary::Group, Some(visibility)) => {
            ResourceFacts::Group { organization_id: org, visibility, level: level(role) }
        }
        (catalog::Boundary::OwnUser, _) => ResourceFacts::OwnUser,
        _ => ResourceFacts::Instance,
    };
    Facts { credential, user, resource, admin_mode: role == "admin+mode", names_caller }
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
    proptest::sample::subsequence(Scope::ALL.to_vec(), 1..=4).prop_map(|s| {
        let names: Vec<&str> = s.iter().map(|s| s.as_str()).collect();
        Scopes::parse(&names).expect("known scopes")
    })
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
        let resource = ResourceFacts::Project { organization_id: 1, visibility, level };
        let with_token = Facts {
            credential: Some(CredentialFacts { scopes, active: true, organization_id: 1 }),
            user: Some(user),
            resource,
            admin_mode: false,
            names_caller: false,
        };
        let without_token = Facts { credential: None, ..with_token.clone() };
        let safe = route.method == "GET";
        if authorize(catalog, route, safe, &with_token).allowed {
            prop_assert!(authorize(catalog, route, safe, &without_token).allowed);
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
            credential: Some(CredentialFacts { scopes: Scopes::parse(&["read_api"]).expect("scope"), active: true, organization_id: 1 }),
            user: Some(UserFacts { id: 1, is_admin, external: false, active: true, service_account: false }),
            resource: ResourceFacts::Project { organization_id: 1, visibility, level },
            admin_mode: false,
            names_caller: false,
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
        alias in 0usize..5,
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
        let aliased = match alias {
            0 => format!("{path}/"),
            1 => path.replacen('/', "//", 1),
            2 => format!("/zz/..{path}"),
            3 => path.replacen("/x1", "/%78%31", 1),
            _ => format!("/.{path}"),
        };
        let facts = |_| Facts {
            credential: Some(CredentialFacts { scopes, active: true, organization_id: 1 }),
            user: Some(UserFacts { id: 1, is_admin: false, external: false, active: true, service_account: false }),
            resource: ResourceFacts::Project { organization_id: 1, visibility, level },
            admin_mode: false,
            names_caller: false,
        };
        let method = route.method.as_str();
        let canonical = decide(method, &path, facts);
        let other = decide(method, &aliased, facts);
        prop_assert_eq!((canonical.allowed, canonical.layer), (other.allowed, other.layer), "{} vs {}", path, aliased);
    }
}

fn token(scopes: &[&str]) -> CredentialFacts {
    CredentialFacts { scopes: Scopes::parse(scopes).expect("scopes"), active: true, organization_id: 1 }
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
        credential: Some(token(&["api"])),
        user: Some(person(true)),
        resource: ResourceFacts::Instance,
        admin_mode: true,
        names_caller: false,
    };
    let decision = authorize(catalog, route, true, &facts);
    assert_eq!((decision.allowed, decision.reason), (false, Reason::AdminModeRequired));
    let facts = Facts { user: Some(person(false)), ..facts };
    assert_eq!(authorize(catalog, route, true, &facts).reason, Reason::MissingPermission);
}
