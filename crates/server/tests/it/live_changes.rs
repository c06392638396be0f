//! Revocations, blocks and membership changes are seen on the next request, with facts cached in memory, and by
//! a second node on the same PostgreSQL database within one second.

use serde_json::json;

use crate::helpers::{TestApp, within_one_second};

/// A private project in a group, a developer member of the group and their `api` token.
struct World {
    project_id: i64,
    group_id: i64,
    user_id: i64,
    token_id: i64,
    token: String,
}

fn world(app: &TestApp) -> World {
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let group_id = group.body["id"].as_i64().unwrap();
    let project = app.post(&app.admin_token, "/projects", json!({"name": "P", "path": "p", "namespace_id": group_id}));
    let project_id = project.body["id"].as_i64().unwrap();
    let user_id = app.create_user("dev");
    let added = app.post(
        &app.admin_token,
        &format!("/groups/{group_id}/members"),
        json!({"user_id": user_id, "access_level": 30}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    let (token_id, token) = app.token_for(user_id, &["api"]);
    World { project_id, group_id, user_id, token_id, token }
}

fn issues_status(app: &TestApp, base: &str, w: &World) -> u16 {
    let path = format!("/-/auth/api/v4/projects/{}/issues", w.project_id);
    app.raw_at(base, "POST", &path, &[("PRIVATE-TOKEN", &w.token)]).status
}

#[test]
fn a_revoked_token_is_refused_on_the_next_request_though_it_was_cached() {
    let app = TestApp::spawn();
    let w = world(&app);
    for _ in 0..3 {
        assert_eq!(issues_status(&app, &app.base, &w), 200);
    }
    let revoked = app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{}", w.token_id), None);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert_eq!(issues_status(&app, &app.base, &w), 401);
}

#[test]
fn a_removed_membership_and_a_lowered_role_are_seen_on_the_next_request() {
    let app = TestApp::spawn();
    let w = world(&app);
    assert_eq!(issues_status(&app, &app.base, &w), 200);
    let deploy = format!("/-/auth/api/v4/projects/{}/deployments", w.project_id);
    assert_eq!(app.raw("POST", &deploy, &[("PRIVATE-TOKEN", &w.token)], None).status, 200);
    let lowered = app.call(
        &app.admin_token,
        "PUT",
        &format!("/groups/{}/members/{}", w.group_id, w.user_id),
        Some(json!({"access_level": 20})),
    );
    assert_eq!(lowered.status, 200, "{}", lowered.text);
    assert_eq!(app.raw("POST", &deploy, &[("PRIVATE-TOKEN", &w.token)], None).status, 403);
    let removed = app.call(&app.admin_token, "DELETE", &format!("/groups/{}/members/{}", w.group_id, w.user_id), None);
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert_eq!(issues_status(&app, &app.base, &w), 403);
}

#[test]
fn a_second_node_on_the_same_database_sees_revocations_blocks_and_membership_changes_within_a_second() {
    let app = TestApp::spawn();
    let node = match app.start_second_node() {
        Ok(node) => node,
        Err(e) => {
            // SQLite: one process per database, by design (it has no change feed); the second start says why.
            assert!(!app.on_postgres(), "a second node on PostgreSQL must start: {e:#}");
            assert!(format!("{e:#}").contains("another Tessera process"), "{e:#}");
            return;
        }
    };
    let w = world(&app);
    // The second node learns the facts and caches them.
    for _ in 0..3 {
        assert_eq!(issues_status(&app, &node.base, &w), 200);
    }

    // A membership removed on the first node.
    let removed = app.call(&app.admin_token, "DELETE", &format!("/groups/{}/members/{}", w.group_id, w.user_id), None);
    assert_eq!(removed.status, 204);
    let took = within_one_second(|| issues_status(&app, &node.base, &w) == 403);
    assert!(took.is_some(), "the second node still allowed a removed member after one second");
    let added = app.post(
        &app.admin_token,
        &format!("/groups/{}/members", w.group_id),
        json!({"user_id": w.user_id, "access_level": 30}),
    );
    assert_eq!(added.status, 201);
    assert!(within_one_second(|| issues_status(&app, &node.base, &w) == 200).is_some());

    // The user blocked, then unblocked.
    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/block", w.user_id), json!({})).status, 201);
    assert!(within_one_second(|| issues_status(&app, &node.base, &w) == 401).is_some(), "block not seen");
    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/unblock", w.user_id), json!({})).status, 201);
    assert!(within_one_second(|| issues_status(&app, &node.base, &w) == 200).is_some(), "unblock not seen");

    // The token revoked.
    let revoked = app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{}", w.token_id), None);
    assert_eq!(revoked.status, 204);
    assert!(within_one_second(|| issues_status(&app, &node.base, &w) == 401).is_some(), "revocation not seen");

    // A deploy token and a project access token, learned by the second node, then revoked on the first.
    let deploy = app.post(
        &app.admin_token,
        &format!("/projects/{}/deploy_tokens", w.project_id),
        json!({"name": "d", "scopes": ["read_repository"]}),
    );
    assert_eq!(deploy.status, 201, "{}", deploy.text);
    let deploy_token = deploy.body["token"].as_str().unwrap().to_owned();
    let clone = |app: &TestApp| {
        let headers = [
            ("DEPLOY-TOKEN", deploy_token.as_str()),
            ("X-Original-Method", "GET"),
            ("X-Original-URI", "/g/p.git/info/refs?service=git-upload-pack"),
        ];
        app.raw_at(&node.base, "GET", "/-/auth", &headers).status
    };
    assert_eq!(clone(&app), 200);
    let path = format!("/projects/{}/deploy_tokens/{}", w.project_id, deploy.body["id"]);
    assert_eq!(app.call(&app.admin_token, "DELETE", &path, None).status, 204);
    assert!(within_one_second(|| clone(&app) == 401).is_some(), "deploy token revocation not seen");
    let bot = app.post(
        &app.admin_token,
        &format!("/projects/{}/access_tokens", w.project_id),
        json!({"name": "b", "scopes": ["api"], "access_level": 30}),
    );
    assert_eq!(bot.status, 201, "{}", bot.text);
    let bot_token = bot.body["token"].as_str().unwrap().to_owned();
    let bot_issues = |app: &TestApp| {
        let path = format!("/-/auth/api/v4/projects/{}/issues", w.project_id);
        app.raw_at(&node.base, "POST", &path, &[("PRIVATE-TOKEN", &bot_token)]).status
    };
    assert_eq!(bot_issues(&app), 200);
    let path = format!("/projects/{}/access_tokens/{}", w.project_id, bot.body["id"]);
    assert_eq!(app.call(&app.admin_token, "DELETE", &path, None).status, 204);
    assert!(within_one_second(|| bot_issues(&app) == 401).is_some(), "access token revocation not seen");

    // The project made public: anonymous reads open on the other node.
    let anonymous = |app: &TestApp| {
        app.raw_at(&node.base, "GET", &format!("/-/auth/api/v4/projects/{}/issues", w.project_id), &[]).status
    };
    assert_eq!(anonymous(&app), 401);
    let public = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}", w.project_id),
        Some(json!({"visibility": "public"})),
    );
    assert_eq!(public.status, 200, "{}", public.text);
    assert!(within_one_second(|| anonymous(&app) == 200).is_some(), "visibility change not seen");

    // The project transferred away, then deleted.
    let other = app.post(&app.admin_token, "/groups", json!({"name": "H", "path": "h"}));
    let moved = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}/transfer", w.project_id),
        Some(json!({"namespace": other.body["id"]})),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    let by_old_path = |app: &TestApp| app.raw_at(&node.base, "GET", "/-/auth/api/v4/projects/g%2Fp/issues", &[]).status;
    assert!(within_one_second(|| by_old_path(&app) == 401).is_some(), "transfer not seen");
    let deleted = app.call(&app.admin_token, "DELETE", &format!("/projects/{}", w.project_id), None);
    assert_eq!(deleted.status, 202);
    assert!(within_one_second(|| anonymous(&app) == 401).is_some(), "deletion not seen");
    app.stop_node(node);
}

#[test]
fn a_transferred_project_takes_its_new_groups_members_and_path_at_once() {
    let app = TestApp::spawn();
    let w = world(&app);
    let other = app.post(&app.admin_token, "/groups", json!({"name": "H", "path": "h"}));
    let other_id = other.body["id"].as_i64().unwrap();
    let stranger = app.create_user("ops");
    app.post(
        &app.admin_token,
        &format!("/groups/{other_id}/members"),
        json!({"user_id": stranger, "access_level": 30}),
    );
    let (_, ops_token) = app.token_for(stranger, &["api"]);
    let issues_by_path = |token: &str, path: &str| {
        app.raw("GET", &format!("/-/auth/api/v4/projects/{path}/issues"), &[("PRIVATE-TOKEN", token)], None).status
    };
    assert_eq!(issues_status(&app, &app.base, &w), 200);
    assert_eq!(issues_by_path(&w.token, "g%2Fp"), 200);
    assert_eq!(issues_by_path(&ops_token, "g%2Fp"), 403);

    // Only an owner (or an administrator) moves a project, only into a namespace where they may create one.
    let by_developer =
        app.call(&w.token, "PUT", &format!("/projects/{}/transfer", w.project_id), Some(json!({"namespace": "h"})));
    assert_eq!(by_developer.status, 403, "{}", by_developer.text);
    let missing = app.call(&app.admin_token, "PUT", &format!("/projects/{}/transfer", w.project_id), Some(json!({})));
    assert_eq!(missing.status, 400);
    let same = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}/transfer", w.project_id),
        Some(json!({"namespace": w.group_id})),
    );
    assert_eq!(same.status, 400, "{}", same.text);

    let moved = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}/transfer", w.project_id),
        Some(json!({"namespace": "h"})),
    );
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["path_with_namespace"], "h/p");
    assert_eq!(issues_status(&app, &app.base, &w), 403, "the old group's developer lost the project");
    assert_eq!(issues_by_path(&ops_token, "h%2Fp"), 200, "the new group's developer has it");
    assert_eq!(issues_by_path(&w.token, "g%2Fp"), 403, "the old path names nothing");
    let audit = app.get(&app.admin_token, "/audit_events?entity_type=Project");
    assert!(audit.text.contains("project_transferred"), "{}", audit.text);
}

#[test]
fn a_deleted_project_is_denied_on_the_next_request() {
    let app = TestApp::spawn();
    let w = world(&app);
    assert_eq!(issues_status(&app, &app.base, &w), 200);
    let deleted = app.call(&app.admin_token, "DELETE", &format!("/projects/{}", w.project_id), None);
    assert_eq!(deleted.status, 202, "{}", deleted.text);
    assert_eq!(issues_status(&app, &app.base, &w), 403);
}

/// A request asked again and again (as a gateway asks) is answered from the decision its thread kept: it is made
/// again whenever the day turns or anything it read changes, and each served one is still noted as a use.
#[test]
fn a_request_asked_again_is_decided_again_when_its_day_turns_or_anything_it_read_changes() {
    let app = TestApp::spawn();
    let w = world(&app);
    // Each of the server's threads sees the request several times.
    let again = |expected: u16, why: &str| {
        for i in 0..6 {
            assert_eq!(issues_status(&app, &app.base, &w), expected, "{why}, request {i}");
        }
    };
    again(200, "a developer opens issues");
    let usage = app.get(&app.admin_token, &format!("/personal_access_tokens/{}/usage", w.token_id));
    let uses: i64 = usage.body["exercised"]
        .as_array()
        .unwrap_or_else(|| panic!("no usage in {}", usage.text))
        .iter()
        .filter(|u| u["boundary"] == format!("project:{}", w.project_id).as_str())
        .filter_map(|u| u["uses"].as_i64())
        .max()
        .unwrap_or(0);
    assert_eq!(uses, 6, "every served request is noted: {}", usage.text);

    let removed = app.call(&app.admin_token, "DELETE", &format!("/groups/{}/members/{}", w.group_id, w.user_id), None);
    assert_eq!(removed.status, 204, "{}", removed.text);
    again(403, "no member of the private project");
    let members = format!("/groups/{}/members", w.group_id);
    let added = app.post(&app.admin_token, &members, json!({"user_id": w.user_id, "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    again(200, "a developer again");

    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/block", w.user_id), json!({})).status, 201);
    again(401, "a blocked user's token is no credential");
    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/unblock", w.user_id), json!({})).status, 201);
    again(200, "unblocked");

    // A token that expires tomorrow, asked about a second before midnight UTC and then a second after (too soon
    // for its use to be written again, which would decide it again anyway).
    let to_midnight = {
        use authority::Clock;
        86_400_000 - app.clock.now().millis().rem_euclid(86_400_000)
    };
    app.clock.offset_ms.fetch_add(to_midnight - 1000, std::sync::atomic::Ordering::SeqCst);
    let tomorrow = app.clock_today().add_days(1).to_string();
    let created = app.post(
        &app.admin_token,
        &format!("/users/{}/personal_access_tokens", w.user_id),
        json!({"name": "short", "scopes": ["api"], "expires_at": tomorrow}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let short = World { token: created.body["token"].as_str().unwrap_or_default().to_owned(), ..w };
    let status = || issues_status(&app, &app.base, &short);
    assert_eq!((0..6).map(|_| status()).collect::<Vec<_>>(), [200; 6]);
    app.advance_seconds(2);
    assert_eq!((0..6).map(|_| status()).collect::<Vec<_>>(), [401; 6], "expired at 00:00 UTC of its expiry date");

    let revoked = app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{}", w.token_id), None);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    again(401, "revoked");
}

/// While the same request is asked again and again from several connections at once (its decision kept by each
/// of the server's threads), no request sent after a revocation was answered is allowed.
#[test]
fn no_request_sent_after_a_revocation_is_answered_is_allowed_while_others_hammer_the_same_request() {
    let app = TestApp::spawn();
    let w = world(&app);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let revoked_at = std::sync::OnceLock::new();
    let (before, after) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (mut before, mut after) = (Vec::new(), Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let sent = std::time::Instant::now();
                        let status = issues_status(&app, &app.base, &w);
                        match revoked_at.get() {
                            Some(at) if sent > *at => after.push(status),
                            _ => before.push(status),
                        }
                    }
                    (before, after)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let revoked = app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{}", w.token_id), None);
        assert_eq!(revoked.status, 204, "{}", revoked.text);
        let _ = revoked_at.set(std::time::Instant::now());
        std::thread::sleep(std::time::Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let results: Vec<(Vec<u16>, Vec<u16>)> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
        let before: Vec<u16> = results.iter().flat_map(|(b, _)| b.iter().copied()).collect();
        let after: Vec<u16> = results.iter().flat_map(|(_, a)| a.iter().copied()).collect();
        (before, after)
    });
    assert!(before.iter().filter(|s| **s == 200).count() > 50, "the request was asked often before: {before:?}");
    assert!(after.len() > 20, "and after: {}", after.len());
    let allowed = after.iter().filter(|s| **s != 401).count();
    assert_eq!(
        allowed,
        0,
        "{allowed} of {} requests sent after the revocation was answered were not refused",
        after.len()
    );
}
