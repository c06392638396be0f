//! Project and group access tokens (issue 15, point 1): each has its own bot, a member of its one project or group
//! at the token's level, never above its creator's; it reaches nothing outside that resource on any way in, and
//! its revocation, rotation and its project's deletion end it.

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn secret(reply: &Reply) -> String {
    reply.body["token"].as_str().unwrap_or_else(|| panic!("no token in {}", reply.text)).to_owned()
}

struct World {
    group: i64,
    project: i64,
    other: i64,
    owner: String,
    maintainer: String,
    developer: String,
}

/// Group `g` with projects `g/p` and `g/q`, a group owner, a project maintainer and a project developer, each
/// with an `api` token.
fn world(app: &TestApp) -> World {
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let other = id(&app.post(admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": group})));
    let mut tokens = Vec::new();
    for (name, at, level) in [("own", format!("groups/{group}"), 50), ("mai", format!("projects/{project}"), 40)]
        .into_iter()
        .chain([("dev", format!("projects/{project}"), 30)])
    {
        let user = app.create_user(name);
        let added = app.post(admin, &format!("/{at}/members"), json!({"user_id": user, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
        tokens.push(app.token_for(user, &["api"]).1);
    }
    let developer = tokens.pop().unwrap();
    let maintainer = tokens.pop().unwrap();
    let owner = tokens.pop().unwrap();
    World { group, project, other, owner, maintainer, developer }
}

fn forward(app: &TestApp, token: &str, method: &str, path: &str) -> u16 {
    app.raw(method, &format!("/-/auth{path}"), &[("PRIVATE-TOKEN", token)], None).status
}

fn git(app: &TestApp, token: &str, uri: &str) -> u16 {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("anything:{token}"));
    let authorization = format!("Basic {basic}");
    let headers = [("X-Original-Method", "GET"), ("X-Original-URI", uri), ("Authorization", authorization.as_str())];
    app.raw("GET", "/-/auth", &headers, None).status
}

fn decided(app: &TestApp, token: &str, method: &str, path: &str) -> Value {
    let reply = app.post(
        &app.admin_token,
        "/internal/authorize",
        json!({"requests": [{"credential": token, "method": method, "path": path}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["results"][0]["allowed"].clone()
}

#[test]
fn a_project_access_token_has_its_own_bot_and_reaches_only_its_project_on_every_way_in() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/access_tokens", w.project);
    let made = app.post(
        &w.maintainer,
        &tokens,
        json!({"name": "deployer", "scopes": ["api"], "access_level": 30, "expires_at": app.clock_today().add_days(30).to_string()}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["access_level"], 30);
    assert_eq!(made.body["resource_type"], "project");
    assert_eq!(made.body["resource_id"], w.project);
    let token = secret(&made);
    assert!(token.starts_with("glpat-"));

    // The bot: its own user, of type project_bot, named after the project, a Developer of it.
    let me = app.get(&token, "/user");
    assert_eq!(me.status, 200, "{}", me.text);
    let bot = me.body["id"].as_i64().unwrap();
    let username = me.body["username"].as_str().unwrap().to_owned();
    assert!(username.starts_with(&format!("project_{}_bot_", w.project)), "{username}");
    let member = app.get(&w.maintainer, &format!("/projects/{}/members/{bot}", w.project));
    assert_eq!((member.status, member.body["access_level"].as_i64()), (200, Some(30)), "{}", member.text);

    // Its project, on REST, forward-auth, Git over HTTP and the decision API.
    let own = format!("/api/v4/projects/{}", w.project);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.project)).status, 200);
    assert_eq!(forward(&app, &token, "GET", &own), 200);
    assert_eq!(git(&app, &token, "/g/p.git/info/refs?service=git-upload-pack"), 200);
    assert_eq!(git(&app, &token, "/g/p.git/info/refs?service=git-receive-pack"), 200, "a developer pushes");
    assert_eq!(decided(&app, &token, "GET", &own), true);
    // Nothing else: the sibling project (internal or public), the group, the instance's listings.
    let admin = &app.admin_token;
    let public = app.call(admin, "PUT", &format!("/projects/{}", w.other), Some(json!({"visibility": "public"})));
    assert_eq!(public.status, 200, "{}", public.text);
    let sibling = format!("/api/v4/projects/{}", w.other);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.other)).status, 404, "a public project is outside too");
    assert_eq!(forward(&app, &token, "GET", &sibling), 403, "forward-auth refuses with 403");
    assert_eq!(git(&app, &token, "/g/q.git/info/refs?service=git-upload-pack"), 403);
    assert_eq!(decided(&app, &token, "GET", &sibling), false);
    assert_eq!(app.get(&token, &format!("/groups/{}", w.group)).status, 404);
    assert_eq!(app.post(&token, "/projects", json!({"name": "X", "path": "x"})).status, 403);
    // It never mints: no personal token for its bot, no other access token.
    let minted = app.post(&token, "/user/personal_access_tokens", json!({"name": "x", "scopes": ["api"]}));
    assert_eq!(minted.status, 403, "{}", minted.text);
    let nested = app.post(&token, &tokens, json!({"name": "x", "scopes": ["api"], "access_level": 10}));
    assert!(matches!(nested.status, 400 | 403), "{}", nested.text);

    // Listed and shown with its level; another project's path does not show it.
    let listed = app.get(&w.maintainer, &tokens);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);
    assert_eq!(listed.body[0]["access_level"], 30);
    let token_id = id(&made);
    assert_eq!(app.get(&w.maintainer, &format!("{tokens}/{token_id}")).status, 200);
    assert_eq!(app.get(admin, &format!("/projects/{}/access_tokens/{token_id}", w.other)).status, 404);
    assert_eq!(app.get(&token, &format!("{tokens}/self")).body["id"], token_id);
    assert_eq!(app.get(&w.developer, &tokens).status, 403, "a developer does not manage access tokens");

    // One row in the credential inventories, by its type, bounded to its project.
    let inventory = app.get(admin, "/admin/credentials?type=project_access_token");
    assert_eq!(inventory.body.as_array().map(Vec::len), Some(1), "{}", inventory.text);
    assert_eq!(inventory.body[0]["id"], token_id);
    assert_eq!(inventory.body[0]["owner"]["user_type"], "project_bot");
    assert_eq!(inventory.body[0]["boundary"], json!([format!("project:{}", w.project)]));
    let personal = app.get(admin, "/admin/credentials?type=personal_access_token&per_page=100");
    assert!(personal.body.as_array().unwrap().iter().all(|row| row["type"] == "personal_access_token"));
    let group_inventory = app.get(&w.owner, &format!("/groups/{}/manage/personal_access_tokens", w.group));
    assert!(
        group_inventory.body.as_array().unwrap().iter().any(|row| row["id"] == token_id),
        "{}",
        group_inventory.text
    );
    assert_eq!(app.get(admin, "/admin/credentials?type=group_access_token").body, json!([]));

    // Revocation ends the token and the bot's membership.
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{tokens}/{token_id}"), None).status, 204);
    assert_eq!(app.get(&token, "/user").status, 401);
    assert_eq!(forward(&app, &token, "GET", &own), 401);
    assert_eq!(app.get(&w.maintainer, &format!("/projects/{}/members/{bot}", w.project)).status, 404);
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{tokens}/{token_id}"), None).status, 400);
}

#[test]
fn nobody_mints_an_access_token_above_their_own_level_or_with_a_scope_bots_may_not_hold() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/access_tokens", w.project);
    let owner_level = app.post(&w.maintainer, &tokens, json!({"name": "o", "scopes": ["api"], "access_level": 50}));
    assert_eq!(owner_level.status, 400, "a Maintainer cannot mint an Owner token: {}", owner_level.text);
    let default = app.post(&w.maintainer, &tokens, json!({"name": "d", "scopes": ["read_repository"]}));
    assert_eq!((default.status, default.body["access_level"].as_i64()), (201, Some(40)), "{}", default.text);
    let by_owner = app.post(&w.owner, &tokens, json!({"name": "o", "scopes": ["api"], "access_level": 50}));
    assert_eq!(by_owner.status, 201, "the group's owner may: {}", by_owner.text);
    for scopes in [json!(["read_user"]), json!(["sudo"]), json!(["admin_mode"]), json!(["authorize"]), json!([])] {
        let refused = app.post(&w.owner, &tokens, json!({"name": "x", "scopes": scopes.clone(), "access_level": 10}));
        assert_eq!(refused.status, 400, "{scopes}: {}", refused.text);
    }
    for level in [json!(5), json!(60), json!(25), json!("40 "), json!(-1)] {
        let refused = app.post(&w.owner, &tokens, json!({"name": "x", "scopes": ["api"], "access_level": level}));
        assert_eq!(refused.status, 400, "{level}: {}", refused.text);
    }
    let past = app.post(&w.owner, &tokens, json!({"name": "x", "scopes": ["api"], "expires_at": "2020-01-01"}));
    assert_eq!(past.status, 400, "{}", past.text);
    let long_name = "n".repeat(300);
    let oversize = app.post(&w.owner, &tokens, json!({"name": long_name, "scopes": ["api"]}));
    assert_eq!(oversize.status, 400, "{}", oversize.text);
    let granular = app.post(
        &w.owner,
        &tokens,
        json!({"name": "x", "granular_scopes": [{"access": "personal_projects", "permissions": ["read_project"]}]}),
    );
    assert_eq!(granular.status, 400, "{}", granular.text);
    // A narrow token mints no wider bot.
    let narrow_user = app.get(&w.owner, "/user").body["id"].as_i64().unwrap();
    let (_, narrow) = app.token_for(narrow_user, &["read_api"]);
    let wider = app.post(&narrow, &tokens, json!({"name": "x", "scopes": ["api"]}));
    assert!(matches!(wider.status, 403), "a read_api token cannot even create: {}", wider.text);
    // None of the refusals wrote a bot or a token.
    let listed = app.get(&w.owner, &tokens);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(2), "{}", listed.text);
    let bots = app.get(&app.admin_token, "/users?per_page=100");
    let count =
        bots.body.as_array().unwrap().iter().filter(|u| u["username"].as_str().unwrap().contains("_bot_")).count();
    assert_eq!(count, 2);
    // A bot is never made a member by hand elsewhere, and never signs in.
    let bot = listed.body[0]["user_id"].as_i64().unwrap();
    let added = app.post(
        &app.admin_token,
        &format!("/projects/{}/members", w.other),
        json!({"user_id": bot, "access_level": 10}),
    );
    assert_eq!(added.status, 400, "{}", added.text);
    let password =
        app.call(&app.admin_token, "PUT", &format!("/users/{bot}"), Some(json!({"password": "s3cret-pass"})));
    assert_eq!(password.status, 400, "{}", password.text);
}

#[test]
fn a_group_access_token_reaches_its_group_and_everything_under_it_and_nothing_beside() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = &app.admin_token;
    let beside = id(&app.post(admin, "/groups", json!({"name": "H", "path": "h"})));
    let tokens = format!("/groups/{}/access_tokens", w.group);
    let maintainer_refused = app.post(&w.maintainer, &tokens, json!({"name": "x", "scopes": ["api"]}));
    assert_eq!(
        maintainer_refused.status, 404,
        "a project's maintainer does not see the group: {}",
        maintainer_refused.text
    );
    let made = app.post(&w.owner, &tokens, json!({"name": "g", "scopes": ["read_api"], "access_level": 20}));
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["resource_type"], "group");
    let token = secret(&made);
    let username = app.get(&token, "/user").body["username"].as_str().unwrap().to_owned();
    assert!(username.starts_with(&format!("group_{}_bot_", w.group)), "{username}");
    assert_eq!(app.get(&token, &format!("/groups/{}", w.group)).status, 200);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.project)).status, 200);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.other)).status, 200);
    assert_eq!(app.get(&token, &format!("/groups/{beside}")).status, 404);
    assert_eq!(forward(&app, &token, "GET", &format!("/api/v4/groups/{beside}")), 403);
    assert_eq!(app.get(&token, &format!("{tokens}/self")).body["access_level"], 20);

    // Self-rotation: the old one is refused, the new one works and keeps the level, reuse revokes the family.
    let rotated = app.post(&token, &format!("{tokens}/self/rotate"), json!({}));
    assert_eq!(rotated.status, 403, "read_api cannot rotate itself: {}", rotated.text);
    let rotatable =
        app.post(&w.owner, &tokens, json!({"name": "r", "scopes": ["self_rotate", "read_api"], "access_level": 10}));
    let first = secret(&rotatable);
    let rotated = app.post(&first, &format!("{tokens}/self/rotate"), json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let second = secret(&rotated);
    assert_eq!(rotated.body["access_level"], 10);
    assert_eq!(app.get(&first, &format!("/groups/{}", w.group)).status, 401);
    assert_eq!(app.get(&second, &format!("/groups/{}", w.group)).status, 200);
    assert_eq!(app.post(&first, &format!("{tokens}/self/rotate"), json!({})).status, 401);
    assert_eq!(app.get(&second, &format!("/groups/{}", w.group)).status, 401, "reuse revoked the family");
}

#[test]
fn a_rotation_by_someone_below_the_bots_level_is_refused_and_a_deleted_project_takes_its_tokens() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/access_tokens", w.project);
    let made = app.post(&w.owner, &tokens, json!({"name": "o", "scopes": ["api"], "access_level": 50}));
    assert_eq!(made.status, 201, "{}", made.text);
    let token_id = id(&made);
    let refused = app.post(&w.maintainer, &format!("{tokens}/{token_id}/rotate"), json!({}));
    assert_eq!(refused.status, 400, "{}", refused.text);
    let rotated = app.post(&w.owner, &format!("{tokens}/{token_id}/rotate"), json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let token = secret(&rotated);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.project)).status, 200);
    let other =
        app.post(&w.owner, &format!("/projects/{}/access_tokens", w.other), json!({"name": "q", "scopes": ["api"]}));
    let other_token = secret(&other);

    let deleted = app.call(&app.admin_token, "DELETE", &format!("/projects/{}", w.project), None);
    assert!(matches!(deleted.status, 202 | 204), "{}", deleted.text);
    assert_eq!(app.get(&token, "/user").status, 401, "the project's tokens died with it");
    assert_eq!(app.get(&other_token, &format!("/projects/{}", w.other)).status, 200, "a sibling's token lives");
}

#[test]
fn a_project_holds_a_bounded_number_of_active_access_tokens() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/access_tokens", w.project);
    let max = 100;
    for n in 0..max {
        let made =
            app.post(&w.owner, &tokens, json!({"name": format!("t{n}"), "scopes": ["read_api"], "access_level": 10}));
        assert_eq!(made.status, 201, "{n}: {}", made.text);
    }
    let beyond =
        app.post(&w.owner, &tokens, json!({"name": "one too many", "scopes": ["read_api"], "access_level": 10}));
    assert_eq!(beyond.status, 400, "{}", beyond.text);
    let first = app.get(&w.owner, &format!("{tokens}?per_page=1&sort=id_asc"));
    let first_id = first.body[0]["id"].as_i64().unwrap();
    assert_eq!(app.call(&w.owner, "DELETE", &format!("{tokens}/{first_id}"), None).status, 204);
    let again = app.post(&w.owner, &tokens, json!({"name": "room again", "scopes": ["read_api"], "access_level": 10}));
    assert_eq!(again.status, 201, "a revoked token frees its place: {}", again.text);
}

#[test]
fn a_fine_grained_access_token_holds_only_its_grants_on_its_own_project() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/access_tokens", w.project);
    let grants = |target: serde_json::Value, permissions: serde_json::Value| {
        json!({"name": "fine", "access_level": 30, "granular_scopes": [
            {"access": "selected_memberships", "project_ids": target, "permissions": permissions}
        ]})
    };
    let made = app.post(&w.maintainer, &tokens, grants(json!([w.project]), json!(["read_project", "read_issue"])));
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["scopes"], json!(["granular"]));
    let token = secret(&made);
    assert_eq!(app.get(&token, &format!("/projects/{}", w.project)).status, 200);
    let path = format!("/api/v4/projects/{}/issues", w.project);
    assert_eq!(forward(&app, &token, "GET", &path), 200, "granted");
    assert_eq!(forward(&app, &token, "POST", &path), 403, "not granted, though a Developer may");
    // Its grants select its own project, within the bot's level and the creator's own grants.
    let elsewhere = app.post(&w.maintainer, &tokens, grants(json!([w.other]), json!(["read_project"])));
    assert_eq!(elsewhere.status, 400, "{}", elsewhere.text);
    let above_level = app.post(&w.maintainer, &tokens, grants(json!([w.project]), json!(["delete_project"])));
    assert!(matches!(above_level.status, 400 | 403), "{}", above_level.text);
    let personal =
        json!({"name": "x", "granular_scopes": [{"access": "personal_projects", "permissions": ["read_project"]}]});
    assert_eq!(app.post(&w.maintainer, &tokens, personal).status, 400);
    // A fine-grained creator mints only within its own grants.
    let creator = app.get(&w.maintainer, "/user").body["id"].as_i64().unwrap();
    let narrow = app.post(
        &app.admin_token,
        &format!("/users/{creator}/personal_access_tokens"),
        json!({"name": "narrow", "granular_scopes": [
            {"access": "selected_memberships", "project_ids": [w.project], "permissions": ["manage_access_token", "read_project"]}
        ]}),
    );
    assert_eq!(narrow.status, 201, "{}", narrow.text);
    let narrow = secret(&narrow);
    let within = app.post(&narrow, &tokens, grants(json!([w.project]), json!(["read_project"])));
    assert_eq!(within.status, 201, "{}", within.text);
    let beyond = app.post(&narrow, &tokens, grants(json!([w.project]), json!(["read_issue"])));
    assert_eq!(beyond.status, 403, "{}", beyond.text);
    let legacy = app.post(&narrow, &tokens, json!({"name": "l", "scopes": ["api"]}));
    assert_eq!(legacy.status, 403, "{}", legacy.text);
}

#[test]
fn deleting_a_group_kills_every_token_bound_to_it_or_to_what_was_under_it() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = &app.admin_token;
    let sub = id(&app.post(admin, "/groups", json!({"name": "S", "path": "s", "parent_id": w.group})));
    let inner = id(&app.post(admin, "/projects", json!({"name": "I", "path": "i", "namespace_id": sub})));
    let group_token = secret(&app.post(
        &w.owner,
        &format!("/groups/{}/access_tokens", w.group),
        json!({"name": "g", "scopes": ["api"]}),
    ));
    let sub_token =
        secret(&app.post(admin, &format!("/groups/{sub}/access_tokens"), json!({"name": "s", "scopes": ["api"]})));
    let inner_token =
        secret(&app.post(admin, &format!("/projects/{inner}/access_tokens"), json!({"name": "i", "scopes": ["api"]})));
    let deploy = app.post(
        admin,
        &format!("/groups/{}/deploy_tokens", w.group),
        json!({"name": "d", "scopes": ["read_repository"]}),
    );
    let deploy = secret(&deploy);
    for token in [&group_token, &sub_token, &inner_token] {
        assert_eq!(app.get(token, "/user").status, 200);
    }
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("/groups/{}", w.group), None).status, 404, "not an owner");
    let deleted = app.call(&w.owner, "DELETE", &format!("/groups/{}", w.group), None);
    assert_eq!(deleted.status, 202, "{}", deleted.text);
    for token in [&group_token, &sub_token, &inner_token] {
        assert_eq!(app.get(token, "/user").status, 401, "a token bound to the deleted hierarchy");
    }
    let info = app.post(admin, "/admin/token", json!({"token": deploy}));
    assert_eq!(info.body["state"], "revoked", "{}", info.text);
    assert_eq!(app.get(admin, &format!("/groups/{}", w.group)).status, 404);
    assert_eq!(app.get(admin, &format!("/groups/{sub}")).status, 404);
    assert_eq!(app.get(admin, &format!("/projects/{}", w.project)).status, 404);
    // The ids are never given again.
    let next = id(&app.post(admin, "/groups", json!({"name": "N", "path": "n"})));
    assert!(next > sub && next > w.group, "{next}");
    let next_project = id(&app.post(admin, "/projects", json!({"name": "NP", "path": "np", "namespace_id": next})));
    assert!(next_project > inner, "{next_project}");
}
