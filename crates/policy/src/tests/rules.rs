//! Route rules: a token's allowlist of methods and paths narrows what it may do, and never widens it.
//!
//! **Invariant:** adding a rule never allows a request that was refused without it.

use super::*;

fn rule_facts<'a>(rules: &'a [crate::CompiledRule], segments: &'a [&'a str], method: &'a str) -> Facts<'a> {
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
    let rules = crate::compile_rules(&["GET /projects/5/**".to_owned()]);
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
        let rules = crate::compile_rules(&rules);
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
