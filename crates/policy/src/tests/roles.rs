//! Rules past the route: `Sudo`, the role matrix read by other checks, Admin Mode, and the token rules of the
//! instance and of top-level groups applied at use.
//!
//! **Invariant:** these rules only refuse; none of them grants what the role matrix does not.

use super::*;

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
