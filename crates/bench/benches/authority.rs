//! The whole in-process decision, `Authority::decide_request`, over a real SQLite store: canonical request, route,
//! token lookup, user, settings, project and membership, then the pure decision. Run with
//! `cargo bench -p bench --bench authority`.
//!
//! Each scenario prints criterion's estimate and then its own latency distribution (p50, p99, p99.9, max) from
//! timing every call of a long run, since the goals (issue 22) are percentiles: with facts cached p50 ≤ 0.8 µs
//! and p99 ≤ 1.5 µs; a malformed or unknown token rejected in ≤ 0.2 µs; a fine-grained token with 20 grants and
//! 20 rules within 0.2 µs of a legacy one; a CI job token ≤ 1.5 µs once its verification is cached; a cache miss
//! on SQLite ≤ 50 µs, on PostgreSQL on the same machine ≤ 300 µs (`TESSERA_BENCH_POSTGRES`, its administrator's
//! URL, names the server; the local one by default). Last, the resident memory per cached token (goal: ≤ 300 bytes). Set
//! `TESSERA_BENCH_NO_DISTRIBUTIONS` for criterion's estimates alone, `TESSERA_BENCH_ONLY=<part of a name>` for the
//! distributions so named alone, `TESSERA_BENCH_SKIP=<part of a name>` for all but those (`scripts/bench.sh`
//! measures the memory in a process of its own).

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

/// The allocator the `tessera` binary runs with, so that these figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;

use authority::{
    Actor, Asked, AuditContext, Authority, Change, CiActor, CreateGroup, CreateProject, CreateToken, CreateUser,
    DecisionStore, MemberChange, Presented, Request, RequestedGrant, ResourceKey, StartJob, TokenKey,
};
use bench::tessera::Node;
use bench::timing::{distribution, distribution_after};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{AccessLevel, Channel, MemberSource};

const SUITE: &str = "authority";

struct World {
    node: Node,
    token: String,
    job_token: String,
    project_token: String,
    deploy_token: String,
    fine_grained: String,
    unknown: String,
    malformed: String,
    project_id: i64,
}

/// The plaintexts of the world's tokens.
struct Tokens {
    personal: String,
    job: String,
    project: String,
    deploy: String,
    fine_grained: String,
}

fn world() -> World {
    let node = Node::new("authority");
    let authority = node.authority.clone();
    let (tokens, project_id) = node.rt.block_on(async {
        let ctx = AuditContext::default();
        let admin = authority.user(1).await.expect("admin").expect("admin exists");
        let admin = Actor { user: &admin, admin: true, organization_id: None };
        let Developer { alice, group, project, request, issued } = developer(&authority).await;
        let (job, _) = start_job(&authority, alice.id, project.id).await;
        let resource = authority::TokenResource {
            source: MemberSource::Project(project.id),
            organization_id: project.organization_id,
            root_group_id: project.root_group_id(),
            full_path: &project.full_path,
            creator_level: Some(AccessLevel::Owner),
        };
        let bot = CreateToken { name: Some("bot".to_owned()), ..request.clone() };
        let admin_user = authority.user(1).await.expect("admin").expect("admin exists");
        let project_token = authority
            .create_resource_token(&ctx, &admin_user, &resource, AccessLevel::Developer, &bot)
            .await
            .expect("project access token");
        let deploy = authority::CreateDeployToken {
            name: Some("deploy".to_owned()),
            scopes: Some(vec!["read_repository".to_owned()]),
            ..authority::CreateDeployToken::default()
        };
        let source = MemberSource::Project(project.id);
        let deploy_token = authority
            .create_deploy_token(&ctx, source, project.organization_id, 1, &deploy)
            .await
            .expect("deploy token");
        // A fine-grained token with 20 grants (one per project of the group, the benchmark's last) and 20 route
        // rules (the one that matches last).
        let mut grants = Vec::new();
        let mut rules = Vec::new();
        for i in 0..19 {
            let other = CreateProject {
                name: Some(format!("Other {i}")),
                path: Some(format!("other{i}")),
                namespace_id: Some(group.id),
                ..CreateProject::default()
            };
            let other = authority.create_project(&ctx, admin, &other).await.expect("project");
            grants.push(RequestedGrant {
                access: "selected_memberships".into(),
                permissions: vec!["read_issue".into(), "create_issue".into()],
                project_ids: vec![other.id],
                ..RequestedGrant::default()
            });
            rules.push(format!("GET /projects/{}/merge_requests", other.id));
        }
        grants.push(RequestedGrant {
            access: "selected_memberships".into(),
            permissions: vec!["read_issue".into(), "create_issue".into()],
            project_ids: vec![project.id],
            ..RequestedGrant::default()
        });
        rules.push(format!("POST /projects/{}/issues", project.id));
        let fine = CreateToken {
            name: Some("fine".into()),
            grants: Some(grants),
            route_rules: Some(rules),
            ..CreateToken::default()
        };
        let fine = authority.create_token(&ctx, &alice, &fine, false).await.expect("fine-grained token");
        let tokens = Tokens {
            personal: issued.plaintext,
            job,
            project: project_token.plaintext,
            deploy: deploy_token.plaintext,
            fine_grained: fine.plaintext,
        };
        (tokens, project.id)
    });
    // A well-formed token of this instance that was never issued, and one whose checksum is wrong.
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), user: Some(2), ..Default::default() };
    let unknown = tokens::mint("glpat-", &[9; tokens::RANDOM_BYTES], &payload).expect("unknown token");
    let mut malformed = tokens.personal.clone();
    malformed.pop();
    malformed.push(if tokens.personal.ends_with('a') { 'b' } else { 'a' });
    World {
        node,
        token: tokens.personal,
        job_token: tokens.job,
        project_token: tokens.project,
        deploy_token: tokens.deploy,
        fine_grained: tokens.fine_grained,
        unknown,
        malformed,
        project_id,
    }
}

/// Alice, a developer of group `g` and so of its project `g/p`, and her `api` token (`request` made it).
struct Developer {
    alice: domain::User,
    group: domain::Group,
    project: domain::Project,
    request: CreateToken,
    issued: authority::IssuedToken,
}

/// Makes [`Developer`]'s world on a bootstrapped node.
async fn developer(authority: &Authority) -> Developer {
    let ctx = AuditContext::default();
    let admin = authority.user(1).await.expect("admin").expect("admin exists");
    let admin = Actor { user: &admin, admin: true, organization_id: None };
    let alice = authority
        .create_user(
            &ctx,
            &CreateUser {
                username: Some("alice".to_owned()),
                email: Some("alice@example.com".to_owned()),
                name: Some("Alice".to_owned()),
                force_random_password: true,
                ..CreateUser::default()
            },
        )
        .await
        .expect("user");
    let group = CreateGroup { name: Some("G".to_owned()), path: Some("g".to_owned()), ..CreateGroup::default() };
    let group = authority.create_group(&ctx, admin, &group).await.expect("group");
    let project = CreateProject {
        name: Some("P".to_owned()),
        path: Some("p".to_owned()),
        namespace_id: Some(group.id),
        ..CreateProject::default()
    };
    let project = authority.create_project(&ctx, admin, &project).await.expect("project");
    let change = MemberChange { user_id: alice.id, access_level: AccessLevel::Developer, expires_at: None };
    authority
        .set_member(&ctx, admin, Some(AccessLevel::Owner), MemberSource::Group(group.id), &change, Some(false))
        .await
        .expect("membership");
    let request =
        CreateToken { name: Some("bench".to_owned()), scopes: Some(vec!["api".to_owned()]), ..CreateToken::default() };
    let issued = authority.create_token(&ctx, &alice, &request, false).await.expect("token");
    Developer { alice, group, project, request, issued }
}

/// Starts a CI job of `user` on `project` with the default job-token permissions, as an administrator would
/// through the internal CI API, and answers its job token (RS256, the default) and the job's id.
async fn start_job(authority: &Authority, user: i64, project: i64) -> (String, i64) {
    let admin = authority.user(1).await.expect("admin").expect("admin exists");
    let request = StartJob {
        project_id: project,
        user_id: user,
        name: "bench".to_owned(),
        git_ref: "main".to_owned(),
        timeout_s: 3600,
        ..StartJob::default()
    };
    let started =
        authority.start_job(&AuditContext::default(), &CiActor::Admin(Arc::new(admin)), &request).await.expect("job");
    (started.token, started.job.id)
}

fn bench(c: &mut Criterion) {
    let w = world();
    // Database futures polled outside `block_on` still need the runtime's reactor.
    let _runtime = w.node.rt.enter();
    let issues = format!("/api/v4/projects/{}/issues", w.project_id);
    let by_path = "/api/v4/projects/g%2Fp/merge_requests";
    let allowed = |target: &'static str, credential: &'static str| Request {
        credential: Some(Presented { secret: credential, channel: Channel::PrivateTokenHeader, username: None }),
        method: "POST",
        target,
        ip: Some("10.0.0.1"),
        sudo: None,
        served: true,
        ssh_key: None,
    };
    // Leaked once so that the requests can borrow them for the whole run.
    let token: &'static str = Box::leak(w.token.clone().into_boxed_str());
    let unknown: &'static str = Box::leak(w.unknown.clone().into_boxed_str());
    let malformed: &'static str = Box::leak(w.malformed.clone().into_boxed_str());
    let issues: &'static str = Box::leak(issues.into_boxed_str());
    let job_token: &'static str = Box::leak(w.job_token.clone().into_boxed_str());
    let releases: &'static str = Box::leak(format!("/api/v4/projects/{}/releases", w.project_id).into_boxed_str());
    let a = &w.node.authority;

    let hit = allowed(issues, token);
    let outcome = w.node.run(a.decide_request(&hit)).expect("decide");
    assert!(outcome.allowed, "the benchmark's request must be allowed: {:?}", outcome.reason);
    let by_path_request = Request { method: "GET", ..allowed(by_path, token) };
    assert!(w.node.run(a.decide_request(&by_path_request)).expect("decide").allowed);
    let unknown_request = allowed(issues, unknown);
    assert!(w.node.run(a.decide_request(&unknown_request)).expect("decide").bad_credential);
    let malformed_request = allowed(issues, malformed);
    assert!(w.node.run(a.decide_request(&malformed_request)).expect("decide").bad_credential);

    let job_token = Presented { secret: job_token, channel: Channel::JobTokenHeader, username: None };
    let job_request = Request { method: "GET", credential: Some(job_token), ..allowed(releases, token) };
    let job_outcome = w.node.run(a.decide_request(&job_request)).expect("decide");
    assert!(job_outcome.allowed, "the job token's request must be allowed: {:?}", job_outcome.reason);

    let fine_grained: &'static str = Box::leak(w.fine_grained.clone().into_boxed_str());
    let fine_request = allowed(issues, fine_grained);
    let fine_outcome = w.node.run(a.decide_request(&fine_request)).expect("decide");
    assert!(fine_outcome.allowed, "the fine-grained token's request must be allowed: {:?}", fine_outcome.reason);
    let project_token: &'static str = Box::leak(w.project_token.clone().into_boxed_str());
    let bot_request = allowed(issues, project_token);
    let bot_outcome = w.node.run(a.decide_request(&bot_request)).expect("decide");
    assert!(bot_outcome.allowed, "the project access token's request must be allowed: {:?}", bot_outcome.reason);
    let deploy_token: &'static str = Box::leak(w.deploy_token.clone().into_boxed_str());
    let deploy_request = Request {
        method: "GET",
        credential: Some(Presented { secret: deploy_token, channel: Channel::DeployTokenHeader, username: None }),
        ..allowed("/g/p.git/info/refs?service=git-upload-pack", token)
    };
    let deploy_outcome = w.node.run(a.decide_request(&deploy_request)).expect("decide");
    assert!(deploy_outcome.allowed, "the deploy token's clone must be allowed: {:?}", deploy_outcome.reason);

    c.bench_function("decide: allowed, facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&hit))).map(|o| o.allowed)))
    });
    c.bench_function("decide: fine-grained token (20 grants, 20 rules), facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&fine_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: project access token, facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&bot_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: deploy token clone, facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&deploy_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: project by URL-encoded path, facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&by_path_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: CI job token, verification and facts cached", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&job_request))).map(|o| o.allowed)))
    });
    c.bench_function("authenticate: unknown token (remembered as unknown)", |b| {
        b.iter(|| {
            black_box(
                w.node
                    .run(a.authenticate(black_box(unknown), Channel::PrivateTokenHeader, None, false))
                    .map(|r| r.is_ok()),
            )
        })
    });
    c.bench_function("authenticate: malformed token (bad checksum)", |b| {
        b.iter(|| {
            black_box(
                w.node
                    .run(a.authenticate(black_box(malformed), Channel::PrivateTokenHeader, None, false))
                    .map(|r| r.is_ok()),
            )
        })
    });
    c.bench_function("decide: unknown token", |b| {
        b.iter(|| black_box(w.node.run(a.decide_request(black_box(&unknown_request))).map(|o| o.allowed)))
    });
    let mut group = c.benchmark_group("miss");
    group.sample_size(20);
    // The cache is emptied before each call, untimed: emptying it clears tables made for a million entries, which
    // is no part of what a miss costs.
    group.bench_function("decide: cache miss on SQLite (every fact read)", |b| {
        b.iter_batched(
            || a.cache().forget(Change::All),
            |()| black_box(w.node.run(a.decide_request(black_box(&hit))).map(|o| o.allowed)),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();

    if std::env::var_os("TESSERA_BENCH_NO_DISTRIBUTIONS").is_some() {
        return;
    }
    println!("\nLatency distributions (every call timed; the timer itself costs about 20-40 ns):");
    distribution(SUITE, "decide: allowed, facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&hit)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "decide: fine-grained token (20 grants, 20 rules), facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&fine_request)).map(|o| o.allowed)).ok();
    });
    // The same requests decided anew: after a change elsewhere (one that touches none of their facts), the facts
    // are still cached but each thread's copies of them and the decision it kept are stale. The change is made
    // untimed before each call.
    let elsewhere = || a.cache().forget(Change::Token(i64::MAX));
    distribution_after(
        SUITE,
        "decide anew: allowed, facts cached (a change elsewhere since)",
        200_000,
        elsewhere,
        |()| {
            black_box(w.node.run(a.decide_request(&hit)).map(|o| o.allowed)).ok();
        },
    );
    distribution_after(
        SUITE,
        "decide anew: fine-grained token (20 grants, 20 rules), facts cached (a change elsewhere since)",
        200_000,
        elsewhere,
        |()| {
            black_box(w.node.run(a.decide_request(&fine_request)).map(|o| o.allowed)).ok();
        },
    );
    distribution(SUITE, "decide: project access token, facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&bot_request)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "decide: deploy token clone, facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&deploy_request)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "decide: project by URL-encoded path, facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&by_path_request)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "decide: CI job token, verification and facts cached", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&job_request)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "authenticate: unknown token (remembered as unknown)", 1_000_000, || {
        black_box(w.node.run(a.authenticate(unknown, Channel::PrivateTokenHeader, None, false)).map(|r| r.is_ok()))
            .ok();
    });
    distribution(SUITE, "authenticate: malformed token (bad checksum)", 1_000_000, || {
        black_box(w.node.run(a.authenticate(malformed, Channel::PrivateTokenHeader, None, false)).map(|r| r.is_ok()))
            .ok();
    });
    distribution(SUITE, "decide: unknown token", 1_000_000, || {
        black_box(w.node.run(a.decide_request(&unknown_request)).map(|o| o.allowed)).ok();
    });
    distribution(SUITE, "one SQLite read through the store (settings, not cached)", 5_000, || {
        a.cache().forget(Change::Settings);
        black_box(w.node.run(a.settings())).ok();
    });
    let alice = w.node.run(a.user(2)).ok().flatten().expect("alice");
    let new_token = || {
        let request = CreateToken {
            name: Some("first use".to_owned()),
            scopes: Some(vec!["api".to_owned()]),
            ..CreateToken::default()
        };
        let issued = w.node.run(a.create_token(&AuditContext::default(), &alice, &request, false)).expect("token");
        a.cache().forget(Change::User(alice.id));
        issued.plaintext
    };
    distribution_after(
        SUITE,
        "decide: a new token's first request (its use written in the background)",
        2_000,
        new_token,
        |plaintext| {
            let credential = Presented { secret: &plaintext, channel: Channel::PrivateTokenHeader, username: None };
            let request = Request { credential: Some(credential), ..hit };
            black_box(w.node.run(a.decide_request(&request)).map(|o| o.allowed)).ok();
        },
    );
    // A job is started before each first sight (untimed), and a job token seen before is then asked about once,
    // as on a node that is serving: starting a job signs its token, and that work alone would leave the caches
    // warm for the verification and cold for the rest of the decision.
    let started_while_serving = || {
        let (token, _) = w.node.run(start_job(a, alice.id, w.project_id));
        black_box(w.node.run(a.decide_request(&job_request)).map(|o| o.allowed)).ok();
        token
    };
    distribution_after(
        SUITE,
        "decide: a new CI job token's first request (RS256 verified)",
        2_000,
        started_while_serving,
        |token| {
            let credential = Presented { secret: &token, channel: Channel::JobTokenHeader, username: None };
            let request = Request { credential: Some(credential), ..job_request };
            black_box(w.node.run(a.decide_request(&request)).map(|o| o.allowed)).ok();
        },
    );
    // What a job token's first sight is compared with: a bare RS256 JWT verification (form, header, signature and
    // claims parsed as JSON, as any JWT library does), with a key of its own, of a new token each call as each first
    // sight is of a new token: the claims of a job token started as above, signed again with that key (untimed),
    // so that both run in the caches that work leaves and neither reads bytes it read before. A verification of
    // four short claims in a loop of its own is printed beside it.
    let key = tokens::jwt::SigningKey::generate(tokens::jwt::Algorithm::RS256).expect("RS256 key");
    let signed_again = || {
        let token = started_while_serving();
        let jwt = token.strip_prefix("glcbt-").expect("a job token's prefix");
        let payload = jwt.split('.').nth(1).expect("a JWT's claims");
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).expect("base64");
        let claims = serde_json::from_slice::<serde_json::Value>(&bytes).expect("claims");
        key.sign(&claims).expect("signed")
    };
    assert!(tokens::jwt::verify::<serde_json::Value>(&signed_again(), [key.public()]).is_ok());
    distribution_after(
        SUITE,
        "a bare RS256 JWT verification of a job token's claims (tokens::jwt::verify)",
        2_000,
        signed_again,
        |job_jwt| {
            black_box(tokens::jwt::verify::<serde_json::Value>(black_box(&job_jwt), [key.public()]).is_ok());
        },
    );
    let claims = serde_json::json!({ "iss": "bench", "sub": "job_1", "exp": 4_102_444_800_i64, "jti": "x" });
    let jwt = key.sign(&claims).expect("signed");
    assert!(tokens::jwt::verify::<serde_json::Value>(&jwt, [key.public()]).is_ok());
    distribution(SUITE, "a bare RS256 JWT verification of four short claims (tokens::jwt::verify)", 20_000, || {
        black_box(tokens::jwt::verify::<serde_json::Value>(black_box(&jwt), [key.public()]).is_ok());
    });
    distribution_after(
        SUITE,
        "decide: cache miss on SQLite (every fact read)",
        5_000,
        || a.cache().forget(Change::All),
        |()| {
            black_box(w.node.run(a.decide_request(&hit)).map(|o| o.allowed)).ok();
        },
    );
    if bench::timing::wanted(POSTGRES_MISS) {
        cache_miss_on_postgres();
    }
    if bench::timing::wanted("resident memory per cached token") {
        memory_per_cached_token(&w, 50_000, 100_000, 8);
    }
}

const POSTGRES_MISS: &str = "decide: cache miss on PostgreSQL (every fact read)";

/// The cache miss of the SQLite node above, on a node over a fresh database of the PostgreSQL server that
/// `TESSERA_BENCH_POSTGRES` names (its administrator's URL; the machine's local server by default), dropped
/// afterwards. Said and skipped when there is no server to reach.
fn cache_miss_on_postgres() {
    let url = std::env::var("TESSERA_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let node = match Node::postgres(&url) {
        Ok(node) => node,
        Err(e) => {
            println!("{POSTGRES_MISS}: skipped, no PostgreSQL server at {url} ({e})");
            return;
        }
    };
    let a = node.authority.clone();
    let _runtime = node.rt.enter();
    let (token, project, user, (job_token, job), deploy_token) = node.rt.block_on(async {
        let Developer { alice, project, issued, .. } = developer(&a).await;
        let job = start_job(&a, alice.id, project.id).await;
        let deploy = authority::CreateDeployToken {
            name: Some("deploy".to_owned()),
            scopes: Some(vec!["read_repository".to_owned()]),
            ..authority::CreateDeployToken::default()
        };
        let source = MemberSource::Project(project.id);
        let ctx = AuditContext::default();
        let deploy = a.create_deploy_token(&ctx, source, project.organization_id, 1, &deploy).await.expect("deploy");
        (issued.plaintext, project.id, alice.id, job, deploy.plaintext)
    });
    let target = format!("/api/v4/projects/{project}/issues");
    let request = Request {
        credential: Some(Presented { secret: &token, channel: Channel::PrivateTokenHeader, username: None }),
        method: "POST",
        target: &target,
        ip: Some("10.0.0.1"),
        served: true,
        ..Request::default()
    };
    // Each request allowed once, then timed with the facts `forget` names forgotten before each call (untimed).
    let miss = |name: &str, request: &Request<'_>, forget: &[Change]| {
        let allowed = node.run(a.decide_request(request)).map(|o| o.allowed);
        assert!(matches!(allowed, Ok(true)), "the PostgreSQL node's request must be allowed ({name}): {allowed:?}");
        distribution_after(
            SUITE,
            name,
            2_000,
            || forget.iter().for_each(|change| a.cache().forget(*change)),
            |()| {
                black_box(node.run(a.decide_request(request)).map(|o| o.allowed)).ok();
            },
        );
    };
    miss(POSTGRES_MISS, &request, &[Change::All]);
    // A CI job token's miss: every fact its decision reads is forgotten (its job, user, project and top-level
    // group, the user's level, the settings), not the signing keys nor its verification (a node that serves has
    // the keys; a token's first sight on a node is timed on SQLite above).
    let releases = format!("/api/v4/projects/{project}/releases");
    let job_request = Request {
        credential: Some(Presented { secret: &job_token, channel: Channel::JobTokenHeader, username: None }),
        method: "GET",
        target: &releases,
        ..request
    };
    miss(
        "decide: CI job token, cache miss on PostgreSQL (every fact read, its signature checked before)",
        &job_request,
        &[Change::Job(job), Change::User(user), Change::Directory, Change::Settings],
    );
    // A deploy token's clone: the token, the project by its path, its top-level group, the settings.
    let deploy_request = Request {
        credential: Some(Presented { secret: &deploy_token, channel: Channel::DeployTokenHeader, username: None }),
        method: "GET",
        target: "/g/p.git/info/refs?service=git-upload-pack",
        ..request
    };
    miss("decide: deploy token clone, cache miss on PostgreSQL (every fact read)", &deploy_request, &[Change::All]);
    // The store's read of the same facts at once, alone: what the decision costs beyond it is its own work.
    let database = node.database.as_ref().map(|d| d.url.clone()).expect("a PostgreSQL node has its database");
    let store = node.rt.block_on(store::SqlStore::connect(&database, 4)).expect("store");
    let digests = tokens::Digester::new(&[vec![7; 32]]).expect("digester").candidates(&token);
    let today = a.now().date();
    let asked =
        Asked { token: Some(TokenKey::Digests(&digests)), resource: Some(ResourceKey::ProjectId(project)), today };
    distribution(SUITE, "one PostgreSQL read of a decision's facts at once (store)", 2_000, || {
        black_box(node.run(store.decision_facts(&asked))).ok();
    });
    distribution(SUITE, "one PostgreSQL read through the store (settings, not cached)", 2_000, || {
        a.cache().forget(Change::Settings);
        black_box(node.run(a.settings())).ok();
    });
}

/// The resident memory of this process, in bytes (Linux's `/proc/self/statm`), or `None` elsewhere.
fn resident_bytes() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0)
}

/// Resident memory per cached token: new tokens of one user decided once each (so that each presented string's
/// key and each token's record are cached). A warm-up round brings SQLite's page cache and the allocator's pools
/// to their working size; then `measured` more tokens are decided in `checkpoints` equal steps, resident memory
/// read after each, and the figure is the least-squares slope of resident memory over tokens held. A single
/// difference of two readings moves by tens of bytes a token from run to run with where the allocator happens to
/// return freed pages to the system; the slope over several readings does not lean on any one of them. The uses
/// each step leaves in the write-behind buffer are written before it is read, and the cache must still hold
/// every token decided (none evicted). The single difference over the same tokens is printed beside it.
fn memory_per_cached_token(w: &World, warm_up: usize, measured: usize, checkpoints: usize) {
    let a = &w.node.authority;
    let alice = w.node.run(a.user(2)).ok().flatten().expect("alice");
    let ctx = AuditContext::default();
    let target = format!("/api/v4/projects/{}/issues", w.project_id);
    let make = |first: usize, count: usize| -> Vec<String> {
        (first..first + count)
            .map(|i| {
                let request = CreateToken {
                    name: Some(format!("memory {i}")),
                    scopes: Some(vec!["api".to_owned()]),
                    ..CreateToken::default()
                };
                w.node.run(a.create_token(&ctx, &alice, &request, false)).expect("token").plaintext
            })
            .collect()
    };
    let decide_all = |plaintexts: &[String]| {
        for plaintext in plaintexts {
            let credential = Presented { secret: plaintext, channel: Channel::PrivateTokenHeader, username: None };
            let request = Request {
                credential: Some(credential),
                method: "GET",
                target: &target,
                ip: Some("10.0.0.1"),
                sudo: None,
                served: false,
                ssh_key: None,
            };
            black_box(w.node.run(a.decide_request(&request)).map(|o| o.allowed)).ok();
        }
        // The uses wait in the write-behind buffer until the writer's next batch: written, they are no cached fact.
        w.node.rt.block_on(a.usage().flush()).expect("uses written");
    };
    decide_all(&make(0, warm_up));
    let step = measured / checkpoints.max(1);
    // Every token is made before the first reading: making them is no part of what holding them costs.
    let steps: Vec<Vec<String>> = (0..checkpoints).map(|c| make(warm_up + c * step, step)).collect();
    let held_before = a.cache().tokens_held();
    let Some(first) = resident_bytes() else { return };
    let mut points = vec![(held_before as f64, first)];
    for plaintexts in &steps {
        decide_all(plaintexts);
        let Some(now) = resident_bytes() else { return };
        points.push((a.cache().tokens_held() as f64, now));
    }
    let held = a.cache().tokens_held() - held_before;
    assert_eq!(held, step * checkpoints, "every token decided is still cached");
    let n = points.len() as f64;
    let (mean_x, mean_y) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let covariance: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    bench::timing::figure(
        SUITE,
        &format!("resident memory per cached token ({held} more tokens, slope over {checkpoints} readings)"),
        covariance / variance,
        "bytes",
    );
    let last = points.last().map_or(first, |p| p.1);
    bench::timing::figure(
        SUITE,
        &format!("(beside it) memory per cached token, one difference of two readings over the same {held} tokens"),
        (last - first) / held as f64,
        "bytes",
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
