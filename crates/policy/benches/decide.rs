//! The in-process decision: the pure function alone (facts in memory), and with route matching from a raw path.
//! Run with `cargo bench -p policy`.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

use std::hint::black_box;

use catalog::{Catalog, canonical_path};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{AccessLevel, Scopes, Visibility};
use policy::{CredentialFacts, Facts, ResourceFacts, UserFacts, authorize};

fn bench(c: &mut Criterion) {
    let catalog = Catalog::builtin().expect("catalog");
    let facts = Facts {
        job: None,
        trigger: None,
        deploy: None,
        credential: Some(CredentialFacts {
            scopes: Scopes::parse(&["api"]).expect("scope"),
            active: true,
            organization_id: 1,
            grants: &[],
            rules: &[],
            bound: None,
        }),
        user: Some(UserFacts { id: 7, is_admin: false, external: false, active: true, service_account: false }),
        resource: ResourceFacts::Project {
            organization_id: 1,
            visibility: Visibility::Private,
            level: Some(AccessLevel::Developer),
            id: 1,
            groups: &[],
            owner_user_id: None,
        },
        admin_mode: false,
        names_caller: false,
        target: None,
    };
    let path = canonical_path("/api/v4/projects/42/deployments").expect("path");
    let route = catalog.find("POST", &path, None).expect("route").route;

    c.bench_function("decide (route known, facts in memory)", |b| {
        b.iter(|| authorize(&catalog, black_box(route), false, black_box(&facts)))
    });
    c.bench_function("canonicalise + match + decide", |b| {
        b.iter(|| {
            let path = canonical_path(black_box("/api/v4/projects/42/deployments")).expect("path");
            let found = catalog.find("POST", &path, None).expect("route");
            authorize(&catalog, found.route, false, &facts).allowed
        })
    });
    c.bench_function("canonicalise + match + decide (git clone)", |b| {
        b.iter(|| {
            let path = canonical_path(black_box("/group/sub/project.git/info/refs")).expect("path");
            let found = catalog.find("GET", &path, Some("service=git-upload-pack")).expect("route");
            authorize(&catalog, found.route, true, &facts).allowed
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
