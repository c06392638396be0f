//! A decision's facts read at once: the same as the single reads give for the same keys, whatever is found or
//! missing, and only the token's (or the CI job's) user's unexpired memberships on the resource's own sources.
//!
//! **Invariant:** `decision_facts` answers what `authority::one_by_one` answers, on both backends.

use authority::{
    Asked, CiStore, DecisionStore, Found, MemberStore, NamespaceStore, NewGroup, NewProject, ResourceKey,
    SettingsStore, TokenKey, TokenStore, UserStore, one_by_one,
};
use domain::{AccessLevel, Date, Group, Member, MemberSource, Settings, Visibility};
use store::SqlStore;

use super::{new_group, new_job, new_token, new_user, now, with_store};

async fn member(store: &SqlStore, source: MemberSource, user_id: i64, level: AccessLevel, expires: Option<&str>) {
    let member = Member {
        source,
        user_id,
        access_level: level,
        expires_at: expires.and_then(Date::parse),
        created_at: now(),
        created_by: None,
    };
    store.upsert_member(&member).await.unwrap();
}

fn new_project(path: &str, namespace_id: i64, namespace_full_path: &str) -> NewProject {
    NewProject {
        name: path.to_uppercase(),
        path: path.to_owned(),
        description: String::new(),
        visibility: Visibility::Private,
        namespace_id,
        namespace_full_path: namespace_full_path.to_owned(),
        namespace_full_name: namespace_full_path.to_uppercase(),
        organization_id: 1,
        creator_id: 1,
        now: now(),
    }
}

/// Both reads of `asked`, their memberships in one order.
async fn both(store: &SqlStore, asked: Asked<'_>) -> (Found, Found) {
    let mut together = store.decision_facts(&asked).await.unwrap();
    let mut apart = one_by_one(store, &asked).await.unwrap();
    for found in [&mut together, &mut apart] {
        found.levels.sort_by_key(|(source, _)| (source.kind(), source.id()));
    }
    (together, apart)
}

#[tokio::test]
async fn a_decisions_facts_read_at_once_are_those_the_single_reads_give() {
    with_store(|store| async move {
        let alice = store.insert_user(&new_user("alice")).await.unwrap();
        let bob = store.insert_user(&new_user("bob")).await.unwrap();
        let token = store.insert_token(&new_token(alice.id, "digest-a", None), &authority::no_audit).await.unwrap();
        let top = store.insert_group(&new_group("top")).await.unwrap();
        let sub = store.insert_group(&NewGroup { parent: Some(top.clone()), ..new_group("sub") }).await.unwrap();
        let project = store.insert_project(&new_project("app", sub.id, "top/sub")).await.unwrap();
        let own = store.insert_project(&new_project("own", alice.namespace_id, "alice")).await.unwrap();
        member(&store, MemberSource::Group(top.id), alice.id, AccessLevel::Reporter, None).await;
        member(&store, MemberSource::Group(sub.id), alice.id, AccessLevel::Owner, Some("2026-11-22")).await;
        member(&store, MemberSource::Project(project.id), alice.id, AccessLevel::Maintainer, Some("2026-11-23")).await;
        member(&store, MemberSource::Project(project.id), bob.id, AccessLevel::Owner, None).await;
        member(&store, MemberSource::Project(own.id), bob.id, AccessLevel::Developer, None).await;
        let settings =
            Settings { admin_mode: true, max_personal_access_token_lifetime: Some(30), ..Settings::default() };
        store.save_settings(&settings).await.unwrap();
        let today = now().date();
        let digests = ["stale".to_owned(), "digest-a".to_owned()];
        let by_digest = Some(TokenKey::Digests(&digests));

        let asked = Asked { token: by_digest, resource: Some(ResourceKey::ProjectPath("TOP/Sub/App")), today };
        let (together, apart) = both(&store, asked).await;
        assert_eq!(together, apart);
        assert_eq!(together.token.as_ref().map(|t| t.id), Some(token.id));
        assert_eq!(together.user.as_ref().map(|u| u.id), Some(alice.id));
        assert_eq!(together.project.as_ref().map(|p| p.id), Some(project.id));
        assert_eq!(together.root.as_ref().map(|g| g.id), Some(top.id));
        assert_eq!(together.group, None);
        // The membership on `sub` expired today, bob's is not alice's.
        let levels = vec![
            (MemberSource::Group(top.id), AccessLevel::Reporter),
            (MemberSource::Project(project.id), AccessLevel::Maintainer),
        ];
        assert_eq!(together.levels, levels);
        assert_eq!(together.settings, settings);

        let root = |group: &Group| group.id;
        let asked = Asked { token: Some(TokenKey::Id(token.id)), resource: Some(ResourceKey::GroupId(sub.id)), today };
        let (together, apart) = both(&store, asked).await;
        assert_eq!(together, apart);
        assert_eq!(together.group.as_ref().map(root), Some(sub.id));
        assert_eq!(together.root.as_ref().map(root), Some(top.id));
        assert_eq!(together.levels, vec![(MemberSource::Group(top.id), AccessLevel::Reporter)]);

        // A top-level group has no other top-level group above it.
        let asked = Asked { token: by_digest, resource: Some(ResourceKey::GroupPath("Top")), today };
        let (together, apart) = both(&store, asked).await;
        assert_eq!(together, apart);
        assert_eq!((together.group.as_ref().map(root), together.root), (Some(top.id), None));

        // A project in a user's namespace has no group above it, and bob's membership there is not alice's.
        let asked = Asked { token: by_digest, resource: Some(ResourceKey::ProjectId(own.id)), today };
        let (together, apart) = both(&store, asked).await;
        assert_eq!(together, apart);
        assert_eq!((together.project.as_ref().map(|p| p.id), together.root.is_none()), (Some(own.id), true));
        assert!(together.levels.is_empty());

        // A CI job of bob's on his own project, asked about on `app`: the job, its project, bob and bob's
        // membership on `app`; another project of the job's own is read beside the resource asked.
        let job = authority::NewJob { ref_protected: true, declared: true, ..new_job(own.id, bob.id) };
        let job = store.insert_job(&job).await.unwrap();
        let asked =
            Asked { token: Some(TokenKey::Job(job.id)), resource: Some(ResourceKey::ProjectId(project.id)), today };
        let (together, apart) = both(&store, asked).await;
        assert_eq!(together, apart);
        assert_eq!(together.job.as_ref(), Some(&job));
        assert_eq!(together.job_project.as_ref().map(|p| p.id), Some(own.id));
        assert_eq!((together.token.is_none(), together.user.as_ref().map(|u| u.id)), (true, Some(bob.id)));
        assert_eq!(together.levels, vec![(MemberSource::Project(project.id), AccessLevel::Owner)]);

        // Nothing found: no token, no user, no resource, no memberships; the settings all the same.
        let unknown = ["nobody".to_owned()];
        for asked in [
            Asked { token: Some(TokenKey::Digests(&unknown)), resource: Some(ResourceKey::ProjectId(999)), today },
            Asked { token: None, resource: Some(ResourceKey::ProjectPath("top/sub/app")), today },
            Asked { token: by_digest, resource: None, today },
            Asked { token: Some(TokenKey::Id(999)), resource: Some(ResourceKey::GroupId(top.id)), today },
            Asked { token: Some(TokenKey::Job(999)), resource: Some(ResourceKey::ProjectId(project.id)), today },
        ] {
            let (together, apart) = both(&store, asked).await;
            assert_eq!(together, apart, "{asked:?}");
            assert!(together.levels.is_empty(), "{asked:?}");
            assert_eq!((together.job.is_none(), together.job_project.is_none()), (true, true), "{asked:?}");
            assert_eq!(together.settings, settings);
        }
        store
    })
    .await;
}
