//! Users, groups, members and settings: the first administrator is made once, names are unique whatever their
//! case, membership inherits down the group tree, and what is saved is what is read back.
//!
//! **Invariant:** the store refuses a clash (a name, a path) as a conflict and writes nothing.

use authority::{
    DirectoryFilter, MemberStore, NamespaceStore, NewGroup, NewUser, SettingsStore, StoreError, UserStore, UserUpdate,
};
use domain::{AccessLevel, Date, Member, MemberSource, Settings, UserState, Visibility};

use super::{PAGE, new_token, new_user, now, with_store};

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
