//! The whole in-process decision, `Authority::decide_request`, over a real SQLite store: canonical request, route,
//! token lookup, user, settings, project and membership, then the pure decision. Run with
//! `cargo bench -p server --bench authority`.
//!
//! Each scenario prints criterion's estimate and then its own latency distribution (p50, p99, p99.9, max) from
//! timing every call of a long run, since the goals are percentiles: with facts cached p50 ≤ 1 µs and
//! p99 ≤ 2 µs; a malformed or unknown token rejected in ≤ 0.3 µs; a cache miss on SQLite ≤ 100 µs; a CI job
//! token (a signed JWT) decided in ≤ 2 µs once its verification is cached; a project access token and a deploy
//! token within 10% of a personal token.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

/// The allocator the `tessera` binary runs with, so that these figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use authority::{
    Actor, AuditContext, Authority, AuthorityConfig, Change, CiActor, CreateGroup, CreateProject, CreateToken,
    CreateUser, MemberChange, Presented, Request, StartJob, SystemClock,
};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{AccessLevel, Channel, MemberSource};
use tokio::runtime::Runtime;

/// Runs a future that completes without waiting (every fact cached) by polling it once, as a server's task
/// would; one that has to wait (a database read) is finished on the runtime.
fn run<F: Future>(rt: &Runtime, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => rt.block_on(fut),
    }
}

struct World {
    rt: Runtime,
    authority: Arc<Authority>,
    token: String,
    job_token: String,
    project_token: String,
    deploy_token: String,
    unknown: String,
    malformed: String,
    project_id: i64,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let dir = std::env::temp_dir().join(format!("tessera-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let (authority, token, job_token, project_token, deploy_token, project_id) = rt.block_on(async {
        let store = Arc::new(store::SqlStore::connect(&url, 4).await.expect("store"));
        let config = AuthorityConfig {
            ci: authority::CiConfig::default(),
            digester: tokens::Digester::new(&[vec![7; 32]]).expect("digester"),
            pat_prefix: tokens::Prefix::new("glpat-", None, "glpat-"),
            cell_id: 1,
            catalog: catalog::Catalog::builtin().expect("catalog"),
            cache_capacity: 100_000,
        };
        let authority = Arc::new(Authority::new(store, config, Arc::new(SystemClock)));
        authority.cache().enable();
        // As the server runs it: token uses are written off the request path.
        server::spawn_usage_writer(&authority);
        authority.bootstrap("admin@example.com").await.expect("bootstrap");
        authority.prepare_signing_keys().await.expect("signing keys");
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
        let request = CreateToken {
            name: Some("bench".to_owned()),
            scopes: Some(vec!["api".to_owned()]),
            ..CreateToken::default()
        };
        let issued = authority.create_token(&ctx, &alice, &request, false).await.expect("token");
        let job = start_job(&authority, alice.id, project.id).await;
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
        (authority, issued.plaintext, job, project_token.plaintext, deploy_token.plaintext, project.id)
    });
    // A well-formed token of this instance that was never issued, and one whose checksum is wrong.
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), user: Some(2), ..Default::default() };
    let unknown = tokens::mint("glpat-", &[9; tokens::RANDOM_BYTES], &payload).expect("unknown token");
    let mut malformed = token.clone();
    malformed.pop();
    malformed.push(if token.ends_with('a') { 'b' } else { 'a' });
    World {
        rt,
        authority,
        token,
        job_token,
        project_token,
        deploy_token,
        unknown,
        malformed,
        project_id,
        _dir: TempDir(dir),
    }
}

/// Starts a CI job of `user` on `project` with the default job-token permissions, as an administrator would
/// through the internal CI API, and answers its job token (RS256, the default).
async fn start_job(authority: &Authority, user: i64, project: i64) -> String {
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
    started.token
}

/// Times every call of `iterations` and prints the distribution.
fn distribution(name: &str, iterations: usize, mut call: impl FnMut()) {
    for _ in 0..iterations.min(10_000) {
        call();
    }
    distribution_after(name, iterations, || (), |()| call());
}

/// As `distribution`, with an untimed `setup` before each timed call.
fn distribution_after<S>(name: &str, iterations: usize, mut setup: impl FnMut() -> S, mut call: impl FnMut(S)) {
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let prepared = setup();
        let start = Instant::now();
        call(prepared);
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default()
    };
    println!(
        "{name:<58} p50 {:>9.3?}  p99 {:>9.3?}  p99.9 {:>9.3?}  max {:>9.3?}  ({iterations} calls)",
        at(0.50),
        at(0.99),
        at(0.999),
        samples.last().copied().unwrap_or_default()
    );
}

fn bench(c: &mut Criterion) {
    let w = world();
    // Database futures polled outside `block_on` still need the runtime's reactor.
    let _runtime = w.rt.enter();
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
    let a = &w.authority;

    let hit = allowed(issues, token);
    let outcome = run(&w.rt, a.decide_request(&hit)).expect("decide");
    assert!(outcome.allowed, "the benchmark's request must be allowed: {:?}", outcome.reason);
    let by_path_request = Request { method: "GET", ..allowed(by_path, token) };
    assert!(run(&w.rt, a.decide_request(&by_path_request)).expect("decide").allowed);
    let unknown_request = allowed(issues, unknown);
    assert!(run(&w.rt, a.decide_request(&unknown_request)).expect("decide").bad_credential);
    let malformed_request = allowed(issues, malformed);
    assert!(run(&w.rt, a.decide_request(&malformed_request)).expect("decide").bad_credential);

    let job_token = Presented { secret: job_token, channel: Channel::JobTokenHeader, username: None };
    let job_request = Request { method: "GET", credential: Some(job_token), ..allowed(releases, token) };
    let job_outcome = run(&w.rt, a.decide_request(&job_request)).expect("decide");
    assert!(job_outcome.allowed, "the job token's request must be allowed: {:?}", job_outcome.reason);

    let project_token: &'static str = Box::leak(w.project_token.clone().into_boxed_str());
    let bot_request = allowed(issues, project_token);
    let bot_outcome = run(&w.rt, a.decide_request(&bot_request)).expect("decide");
    assert!(bot_outcome.allowed, "the project access token's request must be allowed: {:?}", bot_outcome.reason);
    let deploy_token: &'static str = Box::leak(w.deploy_token.clone().into_boxed_str());
    let deploy_request = Request {
        method: "GET",
        credential: Some(Presented { secret: deploy_token, channel: Channel::DeployTokenHeader, username: None }),
        ..allowed("/g/p.git/info/refs?service=git-upload-pack", token)
    };
    let deploy_outcome = run(&w.rt, a.decide_request(&deploy_request)).expect("decide");
    assert!(deploy_outcome.allowed, "the deploy token's clone must be allowed: {:?}", deploy_outcome.reason);

    c.bench_function("decide: allowed, facts cached", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&hit))).map(|o| o.allowed)))
    });
    c.bench_function("decide: project access token, facts cached", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&bot_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: deploy token clone, facts cached", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&deploy_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: project by URL-encoded path, facts cached", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&by_path_request))).map(|o| o.allowed)))
    });
    c.bench_function("decide: CI job token, verification and facts cached", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&job_request))).map(|o| o.allowed)))
    });
    c.bench_function("authenticate: unknown token (remembered as unknown)", |b| {
        b.iter(|| {
            black_box(
                run(&w.rt, a.authenticate(black_box(unknown), Channel::PrivateTokenHeader, None, false))
                    .map(|r| r.is_ok()),
            )
        })
    });
    c.bench_function("authenticate: malformed token (bad checksum)", |b| {
        b.iter(|| {
            black_box(
                run(&w.rt, a.authenticate(black_box(malformed), Channel::PrivateTokenHeader, None, false))
                    .map(|r| r.is_ok()),
            )
        })
    });
    c.bench_function("decide: unknown token", |b| {
        b.iter(|| black_box(run(&w.rt, a.decide_request(black_box(&unknown_request))).map(|o| o.allowed)))
    });
    let mut group = c.benchmark_group("miss");
    group.sample_size(20);
    group.bench_function("decide: cache miss on SQLite (every fact read)", |b| {
        b.iter(|| {
            a.cache().forget(Change::All);
            black_box(run(&w.rt, a.decide_request(black_box(&hit))).map(|o| o.allowed))
        })
    });
    group.finish();

    if std::env::var_os("TESSERA_BENCH_NO_DISTRIBUTIONS").is_some() {
        return;
    }
    println!("\nLatency distributions (every call timed; the timer itself costs about 20-40 ns):");
    distribution("decide: allowed, facts cached", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&hit)).map(|o| o.allowed)).ok();
    });
    distribution("decide: project access token, facts cached", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&bot_request)).map(|o| o.allowed)).ok();
    });
    distribution("decide: deploy token clone, facts cached", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&deploy_request)).map(|o| o.allowed)).ok();
    });
    distribution("decide: project by URL-encoded path, facts cached", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&by_path_request)).map(|o| o.allowed)).ok();
    });
    distribution("decide: CI job token, verification and facts cached", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&job_request)).map(|o| o.allowed)).ok();
    });
    distribution("authenticate: unknown token (remembered as unknown)", 1_000_000, || {
        black_box(run(&w.rt, a.authenticate(unknown, Channel::PrivateTokenHeader, None, false)).map(|r| r.is_ok()))
            .ok();
    });
    distribution("authenticate: malformed token (bad checksum)", 1_000_000, || {
        black_box(run(&w.rt, a.authenticate(malformed, Channel::PrivateTokenHeader, None, false)).map(|r| r.is_ok()))
            .ok();
    });
    distribution("decide: unknown token", 1_000_000, || {
        black_box(run(&w.rt, a.decide_request(&unknown_request)).map(|o| o.allowed)).ok();
    });
    distribution("one SQLite read through the store (settings, not cached)", 5_000, || {
        a.cache().forget(Change::Settings);
        black_box(run(&w.rt, a.settings())).ok();
    });
    let alice = run(&w.rt, a.user(2)).ok().flatten().expect("alice");
    let new_token = || {
        let request = CreateToken {
            name: Some("first use".to_owned()),
            scopes: Some(vec!["api".to_owned()]),
            ..CreateToken::default()
        };
        let issued = run(&w.rt, a.create_token(&AuditContext::default(), &alice, &request, false)).expect("token");
        a.cache().forget(Change::User(alice.id));
        issued.plaintext
    };
    distribution_after(
        "decide: a new token's first request (its use written in the background)",
        2_000,
        new_token,
        |plaintext| {
            let credential = Presented { secret: &plaintext, channel: Channel::PrivateTokenHeader, username: None };
            let request = Request { credential: Some(credential), ..hit };
            black_box(run(&w.rt, a.decide_request(&request)).map(|o| o.allowed)).ok();
        },
    );
    distribution_after(
        "decide: a new CI job token's first request (RS256 verified)",
        2_000,
        || run(&w.rt, start_job(a, alice.id, w.project_id)),
        |token| {
            let credential = Presented { secret: &token, channel: Channel::JobTokenHeader, username: None };
            let request = Request { credential: Some(credential), ..job_request };
            black_box(run(&w.rt, a.decide_request(&request)).map(|o| o.allowed)).ok();
        },
    );
    distribution("decide: cache miss on SQLite (every fact read)", 5_000, || {
        a.cache().forget(Change::All);
        black_box(run(&w.rt, a.decide_request(&hit)).map(|o| o.allowed)).ok();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
