//! Tokens: found by any candidate digest, rotated by one winner, revoked once and with their whole family, kept
//! with their grants and rules, written together with their audit entry, and listed by state and owner.
//!
//! **Invariant:** a token write and its audit entry commit together or not at all, and of two racing rotations or
//! revocations exactly one wins.

use authority::{AuditStore, NewToken, Page, TokenFilter, TokenStore, UsageStore, UserStore};
use domain::{Grant, GrantAccess, GrantTarget, Scopes};

use super::{PAGE, new_token, new_user, now, with_store};

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
