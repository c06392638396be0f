//! The store contract, run against SQLite, and against PostgreSQL when `TEST_DATABASE_URL` is set, by job: users,
//! groups, members and settings; tokens; a decision's facts read at once; announced changes. Here are the helpers
//! they share, and the contract of the store itself: both backends carry the same migrations, and a transaction
//! that reads before it writes succeeds while other writes commit.
//!
//! **Invariant:** every test runs the same on both backends; none is written for one of them only, except where
//! the behaviour exists on one only (PostgreSQL's change feed).

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly on anything unexpected")]

mod changes;
mod decision;
mod directory;
mod tokens;

use authority::{NewGroup, NewToken, NewUser, Page, TokenStore, UserStore};
use domain::{Timestamp, Visibility};
use store::SqlStore;
use store::testing::TestDatabase;

const PAGE: Page = Page { page: 1, per_page: 100 };

fn now() -> Timestamp {
    Timestamp::parse("2026-11-22T10:00:00Z").unwrap()
}

fn new_user(username: &str) -> NewUser {
    store::testing::new_user(username, now())
}

fn new_token(user_id: i64, digest: &str, previous: Option<i64>) -> NewToken {
    store::testing::new_token(user_id, digest, previous, now())
}

/// A job of `user_id` on `project_id`, running, with the default permissions.
fn new_job(project_id: i64, user_id: i64) -> authority::NewJob {
    authority::NewJob {
        pipeline_id: None,
        project_id,
        user_id,
        name: "build".to_owned(),
        git_ref: "main".to_owned(),
        ref_protected: false,
        timeout_s: 600,
        permissions: domain::JobPolicies::default_for_jobs(),
        declared: false,
        mode: domain::JobTokenMode::LowPrivilege,
        runner_id: None,
        created_at: now(),
        token_expires_at: now().add_millis(900_000),
    }
}

fn new_group(path: &str) -> NewGroup {
    NewGroup {
        name: path.to_uppercase(),
        path: path.to_owned(),
        description: String::new(),
        visibility: Visibility::Private,
        parent: None,
        organization_id: 1,
        now: now(),
    }
}

async fn with_store<F, Fut>(f: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: std::future::Future<Output = SqlStore>,
{
    let db = TestDatabase::create().await.unwrap();
    let store = SqlStore::connect(&db.url, 4).await.unwrap();
    let store = f(store).await;
    store.close().await;
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_that_read_before_writing_succeed_while_other_writes_commit() {
    with_store(|store| async move {
        let store = std::sync::Arc::new(store);
        let owner = store.insert_user(&new_user("owner")).await.unwrap();
        let token = store.insert_token(&new_token(owner.id, "busy", None), &authority::no_audit).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let inserting = store.clone();
            // Each insert checks the path is free, then writes: a deferred SQLite transaction would fail when
            // another connection commits between the two.
            tasks.push(tokio::spawn(
                async move { inserting.insert_user(&new_user(&format!("user{i}"))).await.map(|_| ()) },
            ));
            let touching = store.clone();
            tasks.push(tokio::spawn(
                async move { touching.touch_token(token.id, now(), &[format!("10.0.0.{i}")]).await },
            ));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        std::sync::Arc::into_inner(store).unwrap()
    })
    .await;
}

#[test]
fn both_backends_have_the_same_migrations() {
    let names = |dir: &str| {
        let mut names: Vec<String> = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

/// PostgreSQL only (a SQLite file has no server to end its connections): reads are not preceded by a ping, so a
/// read whose connections the server ended (as a restart does) is answered from a new one, and writes still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_the_server_ended_every_connection_is_answered() {
    let db = TestDatabase::create().await.unwrap();
    let store = SqlStore::connect(&db.url, 4).await.unwrap();
    if store.backend() == store::Backend::Postgres {
        let id = store.insert_user(&new_user("alice")).await.unwrap().id;
        // The reading pool's connections are opened and left idle.
        let (a, b, c, d) = tokio::join!(store.user(id), store.user(id), store.user(id), store.user(id));
        assert!([a, b, c, d].into_iter().all(|read| read.is_ok_and(|user| user.is_some())));
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        let end = "select count(pg_terminate_backend(pid)) from pg_stat_activity \
                   where datname = current_database() and pid <> pg_backend_pid()";
        let ended: i64 = sqlx::query_scalar(end).fetch_one(&mut admin).await.unwrap();
        assert!(ended >= 2, "the pools' connections were ended: {ended}");
        sqlx::Connection::close(admin).await.unwrap();
        for _ in 0..3 {
            assert_eq!(store.user(id).await.unwrap().map(|u| u.username), Some("alice".to_owned()));
        }
        assert!(store.insert_user(&new_user("bob")).await.is_ok(), "a write after the restart");
    }
    store.close().await;
    db.drop_database().await.unwrap();
}
