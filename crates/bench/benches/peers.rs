//! Tessera beside its peers, on one request: may this token read this private project's code? (Role ≥ Reporter
//! on the project, a scope that reads the API, the token neither revoked nor expired, among 1,000 entities; see
//! `bench::scenario`.) Each engine is asked the same allowed question and the same question refused for the
//! role, every call timed. Run with `cargo bench -p bench --bench peers`; `docs/performance.md` says what each
//! row measures.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

/// The allocator the `tessera` binary runs with, so that these figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;

use bench::casbin::CasbinWorld;
use bench::cedar::CedarWorld;
use bench::floor::{FILLER, Floor};
use bench::scenario::Scenario;
use bench::tessera::ScenarioWorld;
use bench::timing::{Summary, distribution, human};
use domain::{AccessLevel, Scope, Scopes, Visibility};
use policy::{CredentialFacts, Facts, ResourceFacts, UserFacts};

const SUITE: &str = "peers";

fn main() {
    let quick = std::env::var_os("TESSERA_BENCH_QUICK").is_some();
    let scale = |n: usize| if quick { n / 20 } else { n };
    let scenario = Scenario::new();
    println!("Building the scenario in each engine (1,000 entities)...");
    let tessera = ScenarioWorld::new(&scenario);
    let cedar = CedarWorld::new(&scenario);
    let casbin = CasbinWorld::new(&scenario);
    let floor = Floor::new(&scenario, &tessera.tokens, FILLER);
    let ((t, p), (rt, rp)) = scenario.allowed_and_refused();
    let owner = |t: usize| format!("u{}", scenario.tokens.get(t).map_or(0, |s| s.owner));
    let now = 1_800_000_000;
    let (ids, refused_ids) = ((format!("t{t}"), format!("p{p}")), (format!("t{rt}"), format!("p{rp}")));
    let (plain, refused_plain) = (tessera.tokens[t].clone(), tessera.tokens[rt].clone());
    for (allowed, question) in [(true, (t, p)), (false, (rt, rp))] {
        let (qt, qp) = question;
        assert_eq!(tessera.allows(qt, qp), allowed, "Tessera");
        assert_eq!(cedar.allows(&format!("t{qt}"), &format!("p{qp}"), now), allowed, "Cedar");
        assert_eq!(casbin.allows(&format!("t{qt}"), &owner(qt), &format!("p{qp}")), allowed, "casbin");
        assert_eq!(floor.allows(&tessera.tokens[qt], qp, now), allowed, "floor");
    }

    // Tessera's pure decision on facts already loaded: what Cedar and casbin are asked, with the level found.
    let catalog = catalog::Catalog::builtin().expect("catalog");
    let path = catalog::canonical_path("/api/v4/projects/1/repository/tree").expect("path");
    let route = catalog.find("GET", &path, None).expect("route").route;
    let groups = [1];
    let facts = |level: AccessLevel| Facts {
        credential: Some(CredentialFacts {
            scopes: Scopes::from_iter([Scope::ReadApi]),
            active: true,
            organization_id: 1,
            grants: &[],
            rules: &[],
            bound: None,
        }),
        job: None,
        deploy: None,
        trigger: None,
        user: Some(UserFacts { id: 2, is_admin: false, external: false, active: true, service_account: false }),
        resource: ResourceFacts::Project {
            organization_id: 1,
            visibility: Visibility::Private,
            level: Some(level),
            id: 1,
            groups: &groups,
            owner_user_id: None,
        },
        admin_mode: false,
        names_caller: false,
        target: None,
    };
    let (reporter, guest) = (facts(AccessLevel::Reporter), facts(AccessLevel::Guest));
    assert!(policy::authorize(&catalog, route, true, &reporter).allowed);
    assert!(!policy::authorize(&catalog, route, true, &guest).allowed);

    // Database futures polled outside `block_on` still need the runtime's reactor, as a server's task has it.
    let _runtime = tessera.node.rt.enter();
    println!("\nLatency distributions (every call timed; the timer itself costs about 20-40 ns):");
    let mut rows: Vec<(&str, Summary, Summary)> = Vec::new();
    let (allowed, refused) = (tessera.request(t, p), tessera.request(rt, rp));
    let a = &tessera.node.authority;
    let run = |r| tessera.node.run(a.decide_request(r)).map(|o| o.allowed);
    rows.push((
        "Tessera: whole decision (decide_request, facts cached)",
        distribution(SUITE, "Tessera decide_request: allowed", scale(1_000_000), || {
            black_box(run(black_box(&allowed))).ok();
        }),
        distribution(SUITE, "Tessera decide_request: refused (Guest)", scale(1_000_000), || {
            black_box(run(black_box(&refused))).ok();
        }),
    ));
    rows.push((
        "Tessera: pure decision on loaded facts (policy::authorize)",
        distribution(SUITE, "Tessera policy::authorize: allowed", scale(1_000_000), || {
            black_box(policy::authorize(&catalog, route, true, black_box(&reporter)).allowed);
        }),
        distribution(SUITE, "Tessera policy::authorize: refused (Guest)", scale(1_000_000), || {
            black_box(policy::authorize(&catalog, route, true, black_box(&guest)).allowed);
        }),
    ));
    rows.push((
        "floor: the same checks by hand, among a million tokens",
        distribution(SUITE, "floor: allowed", scale(1_000_000), || {
            black_box(floor.allows(black_box(&plain), p, now));
        }),
        distribution(SUITE, "floor: refused (Guest)", scale(1_000_000), || {
            black_box(floor.allows(black_box(&refused_plain), rp, now));
        }),
    ));
    rows.push((
        "Cedar (cedar-policy 4): Authorizer::is_authorized",
        distribution(SUITE, "Cedar: allowed", scale(200_000), || {
            black_box(cedar.allows(black_box(&ids.0), &ids.1, now));
        }),
        distribution(SUITE, "Cedar: refused (Guest)", scale(200_000), || {
            black_box(cedar.allows(black_box(&refused_ids.0), &refused_ids.1, now));
        }),
    ));
    let (sub, refused_sub) = (owner(t), owner(rt));
    rows.push((
        "casbin (casbin 2): Enforcer::enforce, RBAC with domains",
        distribution(SUITE, "casbin: allowed", scale(100_000), || {
            black_box(casbin.allows(black_box(&ids.0), &sub, &ids.1));
        }),
        distribution(SUITE, "casbin: refused (Guest)", scale(20_000), || {
            black_box(casbin.allows(black_box(&refused_ids.0), &refused_sub, &refused_ids.1));
        }),
    ));

    let tessera_p50 = rows.first().map_or(1.0, |r| r.1.p50);
    println!("\n| engine | allowed p50 | allowed p99 | refused p50 | refused p99 | allowed p50 / Tessera's |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, allowed, refused) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {:.2}× |",
            human(allowed.p50),
            human(allowed.p99),
            human(refused.p50),
            human(refused.p99),
            allowed.p50 / tessera_p50
        );
    }
}
