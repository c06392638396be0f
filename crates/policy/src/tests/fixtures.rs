//! Data-driven decisions: every line of `fixtures/decisions.txt` decides as written, and a denial names what
//! would have allowed it.
//!
//! **Invariant:** a fixture states the whole answer (allowed or not, and the layer); none is skipped.

use super::*;

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
    let text = include_str!("../../fixtures/decisions.txt");
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
