//! The decision function's tests, by job: the data-driven fixtures, the property tests of the invariants, the
//! rules past the route, fine-grained grants and route rules. Here are the helpers they share: the shipped
//! catalog, a request decided as every way in decides it, and the arbitrary scopes, levels and visibilities.
//!
//! **Invariant:** every test decides through [`crate::authorize`] over the shipped catalog, never a copy of it.

mod fixtures;
mod grants;
mod invariants;
mod roles;
mod rules;

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

fn arb_scopes() -> impl Strategy<Value = Scopes> {
    proptest::sample::subsequence(Scope::ALL.to_vec(), 1..=4).prop_map(|s| s.into_iter().collect())
}

fn arb_level() -> impl Strategy<Value = Option<AccessLevel>> {
    proptest::option::of(proptest::sample::select(AccessLevel::ALL.to_vec()))
}

fn arb_visibility() -> impl Strategy<Value = Visibility> {
    proptest::sample::select(vec![Visibility::Private, Visibility::Internal, Visibility::Public])
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

/// Project 5 sits in group 20, a subgroup of 10; project 6 sits in group 30; project 7 is in user 1's namespace.
fn project(id: i64, level: Option<AccessLevel>) -> ResourceFacts<'static> {
    let (groups, owner_user_id): (&'static [i64], _) = match id {
        5 => (&[10, 20], None),
        6 => (&[30], None),
        _ => (&[], Some(1)),
    };
    ResourceFacts::Project { organization_id: 1, visibility: Visibility::Private, level, id, groups, owner_user_id }
}
