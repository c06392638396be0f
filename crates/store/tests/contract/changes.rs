//! Announced changes: every committed write tells the listener what it changed, a refused one tells nothing, and
//! on PostgreSQL the feed hears every writer, Tessera or not, while a mere use stays quiet.
//!
//! **Invariant:** a cache that follows the announcements never keeps a stale credential, user or setting.

use std::sync::{Arc, Mutex};

use authority::{
    AllowlistStore, Change, ChangeListener, Changes, CiStore, MemberStore, NamespaceStore, SettingsStore,
    SigningKeyStore, TokenStore, UserStore, UserUpdate,
};
use domain::{AccessLevel, Member, MemberSource, Settings, Visibility};
use store::SqlStore;
use store::testing::TestDatabase;

use super::{new_group, new_job, new_token, new_user, now, with_store};

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
        let job = store.insert_job(&new_job(source.id, alice.id)).await.unwrap();
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
