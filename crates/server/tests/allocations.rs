//! A cached decision allocates nothing (issue 22, goal 2): with every fact it needs in the cache,
//! `Authority::decide_request` of a personal token, a fine-grained token (without route rules and with them), a CI
//! job token and a deploy token's Git clone makes no heap allocation, counted by dhat's allocator in its testing
//! mode (its own binary, so that no other test's threads allocate meanwhile). dhat counts every thread's
//! allocations, so each case is measured several times and the fewest counted: the server's own background
//! threads (the usage writer) can only add to a count.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly on anything unexpected")]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use authority::{
    Actor, AuditContext, Authority, AuthorityConfig, Change, CiActor, CreateGroup, CreateProject, CreateToken,
    CreateUser, MemberChange, Presented, Request, RequestedGrant, StartJob, SystemClock,
};
use domain::{AccessLevel, Channel, MemberSource};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Polls a decision once, as a server's task would: with its facts cached it completes without waiting.
fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    authority: Arc<Authority>,
    personal: String,
    fine_grained: String,
    /// A fine-grained token with route rules.
    ruled: String,
    job: String,
    /// A project deploy token with `read_repository`.
    deploy: String,
    project: i64,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("tessera-allocations-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("a.db").display());
    let (authority, personal, fine_grained, ruled, job, deploy, project) = rt.block_on(async {
        let store = Arc::new(store::SqlStore::connect(&url, 4).await.unwrap());
        let config = AuthorityConfig {
            ci: authority::CiConfig::default(),
            digester: tokens::Digester::new(&[vec![7; 32]]).unwrap(),
            pat_prefix: tokens::Prefix::new("glpat-", None, "glpat-"),
            cell_id: 1,
            catalog: catalog::Catalog::builtin().unwrap(),
            cache_capacity: 1000,
        };
        let authority = Arc::new(Authority::new(store, config, Arc::new(SystemClock)));
        authority.cache().enable();
        server::spawn_usage_writer(&authority);
        authority.bootstrap("admin@example.com").await.unwrap();
        authority.prepare_signing_keys().await.unwrap();
        let ctx = AuditContext::default();
        let admin = authority.user(1).await.unwrap().unwrap();
        let actor = Actor { user: &admin, admin: true, organization_id: None };
        let user = CreateUser {
            username: Some("alice".into()),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            force_random_password: true,
            ..CreateUser::default()
        };
        let alice = authority.create_user(&ctx, &user).await.unwrap();
        let group = CreateGroup { name: Some("G".into()), path: Some("g".into()), ..CreateGroup::default() };
        let group = authority.create_group(&ctx, actor, &group).await.unwrap();
        let project = CreateProject {
            name: Some("P".into()),
            path: Some("p".into()),
            namespace_id: Some(group.id),
            ..CreateProject::default()
        };
        let project = authority.create_project(&ctx, actor, &project).await.unwrap();
        let change = MemberChange { user_id: alice.id, access_level: AccessLevel::Developer, expires_at: None };
        let source = MemberSource::Group(group.id);
        authority.set_member(&ctx, actor, Some(AccessLevel::Owner), source, &change, Some(false)).await.unwrap();
        let legacy = CreateToken { name: Some("t".into()), scopes: Some(vec!["api".into()]), ..CreateToken::default() };
        let personal = authority.create_token(&ctx, &alice, &legacy, false).await.unwrap().plaintext;
        let grant = RequestedGrant {
            access: "selected_memberships".into(),
            permissions: vec!["create_issue".into(), "read_issue".into()],
            project_ids: vec![project.id],
            ..RequestedGrant::default()
        };
        let fine = CreateToken { name: Some("f".into()), grants: Some(vec![grant.clone()]), ..CreateToken::default() };
        let fine_grained = authority.create_token(&ctx, &alice, &fine, false).await.unwrap().plaintext;
        let rules =
            vec![format!("GET /projects/{}/merge_requests", project.id), format!("POST /projects/{}/*", project.id)];
        let ruled = CreateToken {
            name: Some("r".into()),
            grants: Some(vec![grant]),
            route_rules: Some(rules),
            ..CreateToken::default()
        };
        let ruled = authority.create_token(&ctx, &alice, &ruled, false).await.unwrap().plaintext;
        let start = StartJob {
            project_id: project.id,
            user_id: alice.id,
            name: "job".into(),
            git_ref: "main".into(),
            timeout_s: 3600,
            ..StartJob::default()
        };
        let job = authority.start_job(&ctx, &CiActor::Admin(Arc::new(admin.clone())), &start).await.unwrap().token;
        let deploy = authority::CreateDeployToken {
            name: Some("deploy".into()),
            scopes: Some(vec!["read_repository".into()]),
            ..authority::CreateDeployToken::default()
        };
        let source = MemberSource::Project(project.id);
        let deploy = authority.create_deploy_token(&ctx, source, project.organization_id, 1, &deploy).await.unwrap();
        (authority, personal, fine_grained, ruled, job, deploy.plaintext, project.id)
    });
    World { rt, authority, personal, fine_grained, ruled, job, deploy, project }
}

/// The fewest allocations one decision of `request` made, once its facts are cached, over several tries; with
/// `changed`, each one made after a change elsewhere (the facts are still cached, but each thread's copies of
/// them and the decision it kept are stale: the request is decided anew).
fn allocations_of(w: &World, request: &Request<'_>, changed: bool) -> (bool, u64) {
    let _runtime = w.rt.enter();
    for _ in 0..5 {
        if poll_once(w.authority.decide_request(request)).is_none() {
            w.rt.block_on(w.authority.decide_request(request)).unwrap();
        }
    }
    let (mut allowed, mut fewest) = (false, u64::MAX);
    for _ in 0..20 {
        // Let the usage writer drain what the decisions noted, so that its thread is idle while counting.
        std::thread::sleep(std::time::Duration::from_millis(5));
        if changed {
            w.authority.cache().forget(Change::Token(i64::MAX));
        }
        let before = dhat::HeapStats::get().total_blocks;
        let outcome = poll_once(w.authority.decide_request(request)).expect("every fact is cached").unwrap();
        let after = dhat::HeapStats::get().total_blocks;
        allowed = outcome.allowed;
        fewest = fewest.min(after - before);
    }
    (allowed, fewest)
}

#[test]
fn a_cached_decision_allocates_nothing_for_a_personal_a_fine_grained_a_ruled_a_job_or_a_deploy_token() {
    let w = world();
    let _profiler = dhat::Profiler::builder().testing().build();
    let issues = format!("/api/v4/projects/{}/issues", w.project);
    let releases = format!("/api/v4/projects/{}/releases", w.project);
    let carried = |secret: &'static str, channel: Channel| Presented { secret, channel, username: None };
    let personal: &'static str = Box::leak(w.personal.clone().into_boxed_str());
    let fine: &'static str = Box::leak(w.fine_grained.clone().into_boxed_str());
    let ruled: &'static str = Box::leak(w.ruled.clone().into_boxed_str());
    let job: &'static str = Box::leak(w.job.clone().into_boxed_str());
    let deploy: &'static str = Box::leak(w.deploy.clone().into_boxed_str());
    // A Git clone: its `*project.git` wildcard joins two segments, borrowed from the path's own text.
    let clone = "/g/p.git/info/refs?service=git-upload-pack".to_owned();
    let by_path = "/api/v4/projects/g%2Fp/issues".to_owned();
    let cases = [
        ("personal", carried(personal, Channel::PrivateTokenHeader), "POST", &issues),
        ("personal, project named by its path", carried(personal, Channel::PrivateTokenHeader), "POST", &by_path),
        ("fine-grained", carried(fine, Channel::PrivateTokenHeader), "POST", &issues),
        ("fine-grained with route rules", carried(ruled, Channel::PrivateTokenHeader), "POST", &issues),
        ("CI job", carried(job, Channel::JobTokenHeader), "GET", &releases),
        ("deploy", carried(deploy, Channel::DeployTokenHeader), "GET", &clone),
    ];
    for (name, credential, method, target) in cases {
        let request = Request {
            credential: Some(credential),
            method,
            target,
            ip: Some("10.0.0.1"),
            served: true,
            ..Request::default()
        };
        for changed in [false, true] {
            let (allowed, allocations) = allocations_of(&w, &request, changed);
            assert!(allowed, "the {name} token's request must be allowed for this to mean anything");
            let again = if changed { ", decided anew after a change elsewhere," } else { "" };
            assert_eq!(allocations, 0, "a cached decision of a {name} token{again} allocated");
        }
    }
}
