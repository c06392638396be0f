//! The store contract, run against SQLite, and against PostgreSQL when `TEST_DATABASE_URL` is set.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly on anything unexpected")]

use std::sync::{Arc, Mutex};

use authority::{
    AllowlistStore, AuditStore, Change, ChangeListener, Changes, CiStore, DirectoryFilter, MemberStore, NamespaceStore,
    NewGroup, NewToken, NewUser, Page, SettingsStore, SigningKeyStore, StoreError, TokenFilter, TokenStore, UsageStore,
    UserStore, UserUpdate,
};
use domain::{
    AccessLevel, Date, Grant, GrantAccess, GrantTarget, Member, MemberSource, Scopes, Settings, Timestamp, UserState,
    Visibility,
};
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

#[tokio::test]
async fn bootstrap_creates_the_first_administrator_only_once() {
    with_store(|store| async move {
        let admin = NewUser { is_admin: true, ..new_user("root") };
        let first = store.bootstrap(&admin, &|id| Some(new_token(id, "d1", None))).await.unwrap();
        let (user, token) = first.unwrap();
        assert!(user.is_admin);
        assert_eq!(token.user_id, user.id);
        let second = store.bootstrap(&admin, &|id| Some(new_token(id, "d2", None))).await.unwrap();
        assert!(second.is_none());
        assert_eq!(store.count_users().await.unwrap(), 1);
        store
    })
    .await;
}

#[tokio::test]
async fn usernames_and_emails_are_unique_whatever_their_case() {
    with_store(|store| async move {
        store.insert_user(&new_user("alice")).await.unwrap();
        let clash = store.insert_user(&NewUser { email: "other@example.com".into(), ..new_user("ALICE") }).await;
        assert!(matches!(clash, Err(StoreError::Conflict("path" | "username"))));
        let clash = store.insert_user(&NewUser { email: "Alice@Example.com".into(), ..new_user("bob") }).await;
        assert!(matches!(clash, Err(StoreError::Conflict("email"))));
        store
    })
    .await;
}

#[tokio::test]
async fn a_token_is_found_by_any_of_its_candidate_digests() {
    with_store(|store| async move {
        let user = store.insert_user(&new_user("alice")).await.unwrap();
        let token = store.insert_token(&new_token(user.id, "digest-a", None), &authority::no_audit).await.unwrap();
        let found = store.token_by_digest(&["other".into(), "digest-a".into()]).await.unwrap();
        assert_eq!(found.map(|t| t.id), Some(token.id));
        assert!(store.token_by_digest(&["nothing".into()]).await.unwrap().is_none());
        store
    })
    .await;
}

#[tokio::test]
async fn rotation_has_exactly_one_winner() {
    with_store(|store| async move {
        let user = store.insert_user(&new_user("alice")).await.unwrap();
        let old = store.insert_token(&new_token(user.id, "old", None), &authority::no_audit).await.unwrap();
        let first =
            store.rotate_token(old.id, &new_token(user.id, "new1", Some(old.id)), &authority::no_audit).await.unwrap();
        let second =
            store.rotate_token(old.id, &new_token(user.id, "new2", Some(old.id)), &authority::no_audit).await.unwrap();
        assert!(first.is_some());
        assert!(second.is_none());
        assert!(store.token_by_digest(&["new2".into()]).await.unwrap().is_none(), "the loser wrote nothing");
        assert!(store.token(old.id).await.unwrap().unwrap().revoked);
        store
    })
    .await;
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

/// Records what a store announces.
#[derive(Default)]
struct Heard(Mutex<Vec<Change>>);

impl ChangeListener for Heard {
    fn changed(&self, change: Change) {
        self.0.lock().unwrap().push(change);
    }
}

impl Heard {
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn every_committed_ci_write_announces_what_it_changed() {
    with_store(|store| async move {
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        let group = store.insert_group(&new_group("g")).await.unwrap();
        let project = |path: &str| authority::NewProject {
            name: path.to_uppercase(),
            path: path.to_owned(),
            description: String::new(),
            visibility: Visibility::Private,
            namespace_id: group.id,
            namespace_full_path: group.full_path.clone(),
            namespace_full_name: group.full_name.clone(),
            organization_id: 1,
            creator_id: alice.id,
            now: now(),
        };
        let target = store.insert_project(&project("target")).await.unwrap();
        let source = store.insert_project(&project("source")).await.unwrap();
        let heard = Arc::new(Heard::default());
        store.announce_to(heard.clone());
        let job = authority::NewJob {
            pipeline_id: None,
            project_id: source.id,
            user_id: alice.id,
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
        };
        let job = store.insert_job(&job).await.unwrap();
        assert_eq!(heard.take(), [], "a new job replaces no cached fact");
        store.finish_job(job.id, domain::JobStatus::Success, now()).await.unwrap();
        assert_eq!(heard.take(), [Change::Job(job.id)]);
        let settings = domain::JobTokenSettings { push_allowed: true, ..domain::JobTokenSettings::default() };
        store.save_job_token_settings(target.id, settings, now()).await.unwrap();
        assert_eq!(heard.take(), [Change::Directory]);
        let entry = domain::AllowlistEntry {
            project_id: target.id,
            source: domain::AllowlistSource::Project(source.id),
            default_permissions: true,
            policies: domain::JobPolicies::NONE,
            added_by: alice.id,
            created_at: now(),
        };
        assert_eq!(store.add_allowlist_entry(&entry).await.unwrap(), authority::AllowlistAdd::Added);
        assert_eq!(heard.take(), [Change::Directory]);
        assert_eq!(store.add_allowlist_entry(&entry).await.unwrap(), authority::AllowlistAdd::Exists);
        assert_eq!(heard.take(), [], "an entry already there changes nothing");
        store.delete_allowlist_entry(target.id, entry.source).await.unwrap();
        assert_eq!(heard.take(), [Change::Directory]);
        let key = domain::StoredKey {
            kid: "k1".to_owned(),
            purpose: domain::KeyPurpose::JobToken,
            algorithm: "EdDSA".to_owned(),
            sealed_key: "sealed".to_owned(),
            public_jwk: "{}".to_owned(),
            created_at: now(),
            retired_at: None,
            publish_until: None,
        };
        assert!(store.insert_first_signing_key(&key).await.unwrap());
        assert_eq!(heard.take(), [Change::Keys]);
        let next = domain::StoredKey { kid: "k2".to_owned(), ..key };
        store.rotate_signing_key(&next, now(), now().add_millis(1000)).await.unwrap();
        assert_eq!(heard.take(), [Change::Keys]);
        store.delete_project(source.id, now()).await.unwrap();
        assert_eq!(heard.take(), [Change::Directory]);
        store
    })
    .await;
}

#[tokio::test]
async fn every_committed_write_announces_what_it_changed_and_a_refused_one_announces_nothing() {
    with_store(|store| async move {
        let heard = Arc::new(Heard::default());
        store.announce_to(heard.clone());
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        assert_eq!(heard.take(), [Change::User(alice.id), Change::Directory]);
        assert!(store.insert_user(&new_user("alice")).await.is_err());
        assert_eq!(heard.take(), [], "a refused write changed nothing");
        let token = store.insert_token(&new_token(alice.id, "d1", None), &authority::no_audit).await.unwrap();
        assert_eq!(heard.take(), [], "a new token replaces no cached fact");
        store.touch_token(token.id, now(), &["10.0.0.1".to_owned()]).await.unwrap();
        assert_eq!(heard.take(), [], "a use is not a decision fact");
        let rotated = store
            .rotate_token(token.id, &new_token(alice.id, "d2", Some(token.id)), &authority::no_audit)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(heard.take(), [Change::Token(token.id)]);
        store.revoke_family(token.id, now()).await.unwrap();
        assert_eq!(heard.take(), [Change::Token(token.id), Change::Token(rotated.id)]);
        store.save_settings(&Settings::default()).await.unwrap();
        assert_eq!(heard.take(), [Change::Settings]);
        let group = new_group("g");
        let group = store.insert_group(&group).await.unwrap();
        assert_eq!(heard.take(), [Change::Directory]);
        let member = Member {
            source: MemberSource::Group(group.id),
            user_id: alice.id,
            access_level: AccessLevel::Developer,
            expires_at: None,
            created_by: None,
            created_at: now(),
        };
        store.upsert_member(&member).await.unwrap();
        assert_eq!(heard.take(), [Change::Directory]);
        store
            .update_user(alice.id, &UserUpdate { external: Some(true), ..UserUpdate::default() }, now())
            .await
            .unwrap();
        assert_eq!(heard.take(), [Change::User(alice.id), Change::Directory]);
        store
    })
    .await;
}

#[tokio::test]
async fn exercised_pairs_add_up_keeping_their_first_use_and_taking_the_last() {
    with_store(|store| async move {
        let owner = store.insert_user(&new_user("owner")).await.unwrap();
        let token = store.insert_token(&new_token(owner.id, "used", None), &authority::no_audit).await.unwrap();
        let at = |seconds: i64| now().add_millis(seconds * 1000);
        let pair = |permission: &str, boundary, first, last, uses| domain::TokenUsage {
            token_id: token.id,
            permission: permission.to_owned(),
            boundary,
            first_used_at: at(first),
            last_used_at: at(last),
            uses,
        };
        let project = domain::UsageBoundary::Project(7);
        store
            .add_token_usage(&[
                pair("read_project", project, 0, 5, 3),
                pair("read_user", domain::UsageBoundary::User, 1, 1, 1),
            ])
            .await
            .unwrap();
        store.add_token_usage(&[pair("read_project", project, 10, 20, 2)]).await.unwrap();
        let all = store.token_usage(token.id, None).await.unwrap();
        assert_eq!(
            all,
            [pair("read_project", project, 0, 20, 5), pair("read_user", domain::UsageBoundary::User, 1, 1, 1)]
        );
        let recent = store.token_usage(token.id, Some(at(10))).await.unwrap();
        assert_eq!(recent, [pair("read_project", project, 0, 20, 5)], "only pairs last used in the window");
        store
    })
    .await;
}

#[tokio::test]
async fn revoking_a_family_reaches_every_active_descendant() {
    with_store(|store| async move {
        let user = store.insert_user(&new_user("alice")).await.unwrap();
        let a = store.insert_token(&new_token(user.id, "a", None), &authority::no_audit).await.unwrap();
        let b = store
            .rotate_token(a.id, &new_token(user.id, "b", Some(a.id)), &authority::no_audit)
            .await
            .unwrap()
            .unwrap();
        let c = store
            .rotate_token(b.id, &new_token(user.id, "c", Some(b.id)), &authority::no_audit)
            .await
            .unwrap()
            .unwrap();
        let unrelated = store.insert_token(&new_token(user.id, "x", None), &authority::no_audit).await.unwrap();
        let revoked = store.revoke_family(a.id, now()).await.unwrap();
        assert_eq!(revoked, vec![c.id]);
        assert!(!store.token(unrelated.id).await.unwrap().unwrap().revoked);
        store
    })
    .await;
}

#[tokio::test]
async fn a_tokens_grants_and_route_rules_are_stored_and_kept_by_rotation() {
    with_store(|store| async move {
        let owner = store.insert_user(&new_user("owner")).await.unwrap();
        let grants = vec![
            Grant {
                access: GrantAccess::SelectedMemberships,
                target: Some(GrantTarget::Group(7)),
                permissions: vec!["read_job".into(), "run_job".into()],
            },
            Grant { access: GrantAccess::User, target: None, permissions: vec!["read_user".into()] },
        ];
        let rules = vec!["GET /projects/1/**".to_owned(), "GET,POST /user".to_owned()];
        let new = NewToken {
            scopes: Scopes::granular(),
            grants: grants.clone(),
            route_rules: rules.clone(),
            ..new_token(owner.id, "fine", None)
        };
        let token = store.insert_token(&new, &authority::no_audit).await.unwrap();
        assert_eq!(token.grants, grants);
        assert!(token.scopes.is_granular());
        assert_eq!(store.token_by_digest(&["fine".to_owned()]).await.unwrap().unwrap().grants, grants);
        let next = NewToken { previous_token_id: Some(token.id), ..new.clone() };
        let rotated = store
            .rotate_token(token.id, &NewToken { digest: "fine2".into(), ..next }, &authority::no_audit)
            .await
            .unwrap();
        let rotated = rotated.unwrap();
        assert_eq!((rotated.grants, rotated.route_rules), (grants, rules));
        let legacy = store.insert_token(&new_token(owner.id, "legacy", None), &authority::no_audit).await.unwrap();
        assert!(legacy.grants.is_empty());
        store
    })
    .await;
}

fn audited(name: &str, id: i64) -> Option<domain::NewAuditEvent> {
    Some(domain::NewAuditEvent {
        author_id: None,
        entity_type: "PersonalAccessToken".to_owned(),
        entity_id: id,
        event_name: name.to_owned(),
        details: "{}".to_owned(),
        ip_address: None,
        created_at: now(),
    })
}

#[tokio::test]
async fn a_token_write_and_its_audit_entry_commit_together_or_not_at_all() {
    with_store(|store| async move {
        let user = store.insert_user(&new_user("alice")).await.unwrap();
        let t = store.insert_token(&new_token(user.id, "a", None), &|id| audited("created", id)).await.unwrap();
        let (b, c) = (new_token(user.id, "b", Some(t.id)), new_token(user.id, "c", Some(t.id)));
        let rotated = store.rotate_token(t.id, &b, &|id| audited("rotated", id)).await.unwrap().unwrap();
        let again = store.rotate_token(t.id, &c, &|id| audited("again", id)).await.unwrap();
        assert!(again.is_none(), "a refused rotation");
        let revoke = audited("revoked", rotated.id).unwrap();
        assert!(store.revoke_token(rotated.id, now(), Some(&revoke)).await.unwrap());
        assert!(!store.revoke_token(rotated.id, now(), Some(&revoke)).await.unwrap(), "a refused revocation");
        let (events, _) = store.list_audit_events(&authority::AuditFilter::default(), PAGE).await.unwrap();
        let mut names: Vec<(String, i64)> =
            events.iter().map(|e| (e.event.event_name.clone(), e.event.entity_id)).collect();
        names.sort();
        let mut want =
            vec![("created".to_owned(), t.id), ("rotated".to_owned(), rotated.id), ("revoked".to_owned(), rotated.id)];
        want.sort();
        assert_eq!(names, want, "one entry per write that happened, none for a refused one");
        store
    })
    .await;
}

#[tokio::test]
async fn revocation_happens_once() {
    with_store(|store| async move {
        let user = store.insert_user(&new_user("alice")).await.unwrap();
        let t = store.insert_token(&new_token(user.id, "a", None), &authority::no_audit).await.unwrap();
        assert!(store.revoke_token(t.id, now(), None).await.unwrap());
        assert!(!store.revoke_token(t.id, now(), None).await.unwrap());
        store
    })
    .await;
}

#[tokio::test]
async fn token_lists_filter_by_state_and_owner() {
    with_store(|store| async move {
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        let bob = store.insert_user(&new_user("bob")).await.unwrap();
        let a1 = store.insert_token(&new_token(alice.id, "a1", None), &authority::no_audit).await.unwrap();
        store.insert_token(&new_token(alice.id, "a2", None), &authority::no_audit).await.unwrap();
        store.insert_token(&new_token(bob.id, "b1", None), &authority::no_audit).await.unwrap();
        store.revoke_token(a1.id, now(), None).await.unwrap();
        let filter = TokenFilter {
            user_id: Some(alice.id),
            active: Some(true),
            today: Some(now().date()),
            ..TokenFilter::default()
        };
        let (tokens, total) = store.list_tokens(&filter, PAGE).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(tokens.len(), 1);
        let (_, total) = store.list_tokens(&TokenFilter::default(), Page { page: 2, per_page: 2 }).await.unwrap();
        assert_eq!(total, 3);
        store
    })
    .await;
}

#[tokio::test]
async fn members_inherit_down_the_group_tree() {
    with_store(|store| async move {
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        let top = store
            .insert_group(&NewGroup {
                name: "Top".into(),
                path: "top".into(),
                description: String::new(),
                visibility: Visibility::Private,
                parent: None,
                organization_id: 1,
                now: now(),
            })
            .await
            .unwrap();
        let sub = store
            .insert_group(&NewGroup {
                name: "Sub".into(),
                path: "sub".into(),
                description: String::new(),
                visibility: Visibility::Private,
                parent: Some(top.clone()),
                organization_id: 1,
                now: now(),
            })
            .await
            .unwrap();
        assert_eq!(sub.full_path, "top/sub");
        assert_eq!(sub.traversal_ids, vec![top.id, sub.id]);
        let member = Member {
            source: MemberSource::Group(top.id),
            user_id: alice.id,
            access_level: AccessLevel::Developer,
            expires_at: None,
            created_at: now(),
            created_by: None,
        };
        store.upsert_member(&member).await.unwrap();
        let sources: Vec<_> = sub.traversal_ids.iter().map(|id| MemberSource::Group(*id)).collect();
        let levels = store.member_levels(alice.id, &sources, now().date()).await.unwrap();
        assert_eq!(levels, vec![(MemberSource::Group(top.id), AccessLevel::Developer)]);
        let filter = DirectoryFilter { viewer: Some(alice.id), ..DirectoryFilter::default() };
        let (groups, _) = store.list_groups(&filter, PAGE).await.unwrap();
        assert_eq!(groups.len(), 2, "a member of a group sees its subgroups");
        let expired = Member { expires_at: Some(now().date()), ..member };
        store.upsert_member(&expired).await.unwrap();
        assert!(store.member_levels(alice.id, &sources, now().date()).await.unwrap().is_empty());
        store
    })
    .await;
}

#[tokio::test]
async fn a_group_path_taken_by_a_user_is_refused() {
    with_store(|store| async move {
        store.insert_user(&new_user("alice")).await.unwrap();
        let clash = store
            .insert_group(&NewGroup {
                name: "A".into(),
                path: "Alice".into(),
                description: String::new(),
                visibility: Visibility::Public,
                parent: None,
                organization_id: 1,
                now: now(),
            })
            .await;
        assert!(matches!(clash, Err(StoreError::Conflict("path"))));
        store
    })
    .await;
}

#[tokio::test]
async fn blocking_a_user_is_stored() {
    with_store(|store| async move {
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        let update = UserUpdate { state: Some(UserState::Blocked), ..UserUpdate::default() };
        let blocked = store.update_user(alice.id, &update, now()).await.unwrap().unwrap();
        assert_eq!(blocked.state, UserState::Blocked);
        assert!(store.update_user(9999, &update, now()).await.unwrap().is_none());
        store
    })
    .await;
}

#[tokio::test]
async fn settings_round_trip() {
    with_store(|store| async move {
        assert_eq!(store.settings().await.unwrap(), Settings::default());
        let changed = Settings {
            max_personal_access_token_lifetime: Some(30),
            require_personal_access_token_expiry: false,
            impersonation_enabled: false,
            admin_mode: true,
            fine_grained_tokens_only: true,
            fine_grained_tokens_only_after: Date::parse("2026-11-30"),
            disable_legacy_token_creation: true,
        };
        store.save_settings(&changed).await.unwrap();
        assert_eq!(store.settings().await.unwrap(), changed);
        store
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

/// The changes announced on the feed until `sentinel` arrives (at most two seconds), sentinel excluded.
async fn announced_until(feed: &mut store::ChangeFeed, sentinel: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(2), feed.next()).await;
        match next.expect("no announcement within two seconds").expect("the feed was lost") {
            change if change == sentinel => return seen,
            change => seen.push(change),
        }
    }
}

#[tokio::test]
async fn on_postgres_every_committed_write_announces_what_it_changed_and_usage_alone_stays_quiet() {
    let db = TestDatabase::create().await.unwrap();
    if !db.url.starts_with("postgres") {
        // One process per SQLite database: nothing to announce.
        db.drop_database().await.unwrap();
        return;
    }
    let store = SqlStore::connect(&db.url, 2).await.unwrap();
    let mut feed = store::ChangeFeed::connect(&db.url).await.unwrap();

    let alice = store.insert_user(&new_user("alice")).await.unwrap();
    store.save_settings(&Settings::default()).await.unwrap();
    let seen = announced_until(&mut feed, "s").await;
    assert!(seen.contains(&format!("u:{}", alice.id)), "{seen:?}");
    assert!(seen.contains(&"d".to_owned()), "a user's namespace is part of the directory: {seen:?}");

    let token = store.insert_token(&new_token(alice.id, "digest", None), &authority::no_audit).await.unwrap();
    store.touch_token(token.id, now(), &["10.0.0.1".to_owned()]).await.unwrap();
    store.save_settings(&Settings::default()).await.unwrap();
    assert_eq!(announced_until(&mut feed, "s").await, vec![format!("t:{}", token.id)], "a use is no change");

    store.revoke_token(token.id, now(), None).await.unwrap();
    let group = new_group("g");
    store.insert_group(&group).await.unwrap();
    store.save_settings(&Settings::default()).await.unwrap();
    let seen = announced_until(&mut feed, "s").await;
    assert_eq!(seen.first(), Some(&format!("t:{}", token.id)), "{seen:?}");
    assert!(seen.contains(&"d".to_owned()), "{seen:?}");

    // Whoever writes is heard: an operator's SQL, outside Tessera.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
    sqlx::query("update app_user set state = 'blocked' where user_id = $1")
        .bind(alice.id)
        .execute(&mut conn)
        .await
        .unwrap();
    <sqlx::PgConnection as sqlx::Connection>::close(conn).await.unwrap();
    store.save_settings(&Settings::default()).await.unwrap();
    assert_eq!(announced_until(&mut feed, "s").await, vec![format!("u:{}", alice.id)]);

    drop(feed);
    store.close().await;
    db.drop_database().await.unwrap();
}
