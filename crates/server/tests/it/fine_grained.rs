//! Fine-grained personal access tokens: grants of assignable permissions over personal projects, memberships,
//! selected groups and projects, the user or the instance; checked at creation and decided on every way in.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Group `top` with subgroup `top/sub` holding project `top/sub/app`; group `other` with project `other/lib`.
/// Alice is a Developer in `top` and a Reporter in `other`.
struct World {
    app: TestApp,
    alice: i64,
    alice_api: String,
    top: i64,
    sub: i64,
    app_project: i64,
    other: i64,
    lib: i64,
}

fn id(reply: &crate::helpers::Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn world() -> World {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let top = id(&app.post(&admin, "/groups", json!({"name": "Top", "path": "top"})));
    let sub = id(&app.post(&admin, "/groups", json!({"name": "Sub", "path": "sub", "parent_id": top})));
    let app_project = id(&app.post(&admin, "/projects", json!({"name": "App", "path": "app", "namespace_id": sub})));
    let other = id(&app.post(&admin, "/groups", json!({"name": "Other", "path": "other"})));
    let lib = id(&app.post(&admin, "/projects", json!({"name": "Lib", "path": "lib", "namespace_id": other})));
    let alice = app.create_user("alice");
    for (group, level) in [(top, 30), (other, 20)] {
        let added =
            app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": alice, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let (_, alice_api) = app.token_for(alice, &["api"]);
    World { app, alice, alice_api, top, sub, app_project, other, lib }
}

impl World {
    /// Creates a fine-grained token with `grants` through `creator`, and returns the reply.
    fn create(&self, creator: &str, grants: Value) -> crate::helpers::Reply {
        self.app.post(creator, "/user/personal_access_tokens", json!({"name": "fine", "granular_scopes": grants}))
    }

    fn fine(&self, grants: Value) -> (i64, String) {
        let reply = self.create(&self.alice_api, grants);
        assert_eq!(reply.status, 201, "{}", reply.text);
        (id(&reply), reply.body["token"].as_str().unwrap_or_default().to_owned())
    }

    fn forward(&self, token: &str, method: &str, path: &str) -> crate::helpers::Reply {
        self.app.raw(method, &format!("/-/auth{path}"), &[("PRIVATE-TOKEN", token)], None)
    }
}

#[test]
fn a_fine_grained_token_is_stored_with_the_granular_marker_and_lists_its_grants() {
    let w = world();
    let reply = w.create(
        &w.alice_api,
        json!([
            {"access": "selected_memberships", "group_ids": [w.sub], "permissions": ["run_job", "read_job", "read_project"]},
            {"access": "selected_memberships", "project_ids": [w.lib], "permissions": ["read_job"]},
            {"access": "user", "permissions": ["read_user"]},
        ]),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["scopes"], json!(["granular"]));
    assert_eq!(reply.body["granular"], true);
    let expected = json!([
        {"access": "selected_memberships", "permissions": ["read_job", "read_project", "run_job"], "group_id": w.sub, "project_id": null},
        {"access": "selected_memberships", "permissions": ["read_job"], "group_id": null, "project_id": w.lib},
        {"access": "user", "permissions": ["read_user"], "group_id": null, "project_id": null},
    ]);
    assert_eq!(reply.body["granular_scopes"], expected);
    let token_id = id(&reply);
    let shown = w.app.get(&w.alice_api, &format!("/personal_access_tokens/{token_id}"));
    assert_eq!(shown.body["granular_scopes"], expected, "{}", shown.text);
    let legacy = w.app.get(&w.alice_api, "/personal_access_tokens/self");
    assert_eq!(legacy.body["granular"], false);
    assert!(legacy.body.get("granular_scopes").is_none(), "{}", legacy.text);

    let fine = reply.body["token"].as_str().unwrap_or_default();
    let rotated = w.app.post(fine, "/personal_access_tokens/self/rotate", json!({}));
    assert_eq!(rotated.status, 200, "a fine-grained token rotates itself: {}", rotated.text);
    assert_eq!(rotated.body["granular_scopes"], expected, "rotation keeps the grants");
    assert_eq!(rotated.body["scopes"], json!(["granular"]));
}

#[test]
fn a_group_grant_reaches_the_group_its_descendants_and_their_projects_and_nothing_else_on_every_way_in() {
    let w = world();
    let (_, fine) = w.fine(json!([{"access": "selected_memberships", "group_ids": [w.top],
                                  "permissions": ["read_project", "read_job", "run_job", "read_group"]}]));
    let app = &w.app;
    // REST.
    assert_eq!(app.get(&fine, &format!("/projects/{}", w.app_project)).status, 200);
    assert_eq!(app.get(&fine, "/projects/top%2Fsub%2Fapp").status, 200, "by path too");
    assert_eq!(app.get(&fine, &format!("/groups/{}", w.sub)).status, 200, "a descendant group");
    let outside = app.get(&fine, &format!("/projects/{}", w.lib));
    assert_eq!(outside.status, 403, "{}", outside.text);
    assert_eq!(outside.body["error"], "insufficient_granular_scope");
    assert_eq!(outside.body["required_permissions"], json!([["read_project"]]));
    assert_eq!(outside.header("x-tessera-required-granular-permissions"), Some("read_project"));
    let members = app.get(&fine, &format!("/projects/{}/members", w.app_project));
    assert_eq!(members.status, 403, "no read_member grant: {}", members.text);
    assert_eq!(members.body["error"], "insufficient_granular_scope");
    assert_eq!(app.get(&fine, "/user").status, 403, "no user grant");
    assert_eq!(app.get(&fine, "/personal_access_tokens/self").status, 200, "a token may always see itself");

    // Forward-auth.
    let play = |project: i64| format!("/api/v4/projects/{project}/jobs/1/play");
    assert_eq!(w.forward(&fine, "POST", &play(w.app_project)).status, 200);
    let denied = w.forward(&fine, "POST", &play(w.lib));
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.header("x-tessera-required-granular-permissions"), Some("run_job"));
    assert_eq!(denied.body["error"], "insufficient_granular_scope");
    let cancel = w.forward(&fine, "POST", &format!("/api/v4/projects/{}/jobs/1/cancel", w.app_project));
    assert_eq!(cancel.status, 403);
    assert_eq!(cancel.header("x-tessera-required-granular-permissions"), Some("cancel_job"));
    let clone = w.forward(&fine, "GET", "/top/sub/app.git/info/refs?service=git-upload-pack");
    assert_eq!(clone.status, 403, "no read_repository grant: {}", clone.text);

    // The decision API.
    let asked = app.post(
        &app.admin_token,
        "/internal/authorize",
        json!({"requests": [
            {"credential": fine, "method": "POST", "path": play(w.app_project)},
            {"credential": fine, "method": "POST", "path": play(w.lib)},
        ]}),
    );
    assert_eq!(asked.status, 200, "{}", asked.text);
    assert_eq!(asked.body["results"][0]["allowed"], true);
    let second = &asked.body["results"][1];
    assert_eq!(second["allowed"], false);
    assert_eq!(second["layer"], "scope");
    assert_eq!(second["error"], "insufficient_granular_scope");
    assert_eq!(second["required_granular"], json!([["run_job"]]));
}

#[test]
fn the_users_role_still_applies_and_a_project_grant_reaches_that_project_only() {
    let w = world();
    // Alice is a Reporter in `other`: she may read jobs there, not run them, grant or not.
    let refused = w.create(&w.alice_api, json!([{"access": "all_memberships", "permissions": ["run_job"]}]));
    assert_eq!(refused.status, 201, "all_memberships is checked at each use: {}", refused.text);
    let all = refused.body["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(w.forward(&all, "POST", &format!("/api/v4/projects/{}/jobs/1/play", w.app_project)).status, 200);
    let reporter = w.forward(&all, "POST", &format!("/api/v4/projects/{}/jobs/1/play", w.lib));
    assert_eq!(reporter.status, 403);
    assert_eq!(reporter.header("x-tessera-denied-layer"), Some("role"));

    let (_, one) = w.fine(json!([{"access": "selected_memberships", "project_ids": [w.app_project],
                                 "permissions": ["read_project"]}]));
    assert_eq!(w.app.get(&one, &format!("/projects/{}", w.app_project)).status, 200);
    assert_eq!(w.app.get(&one, &format!("/groups/{}", w.sub)).status, 403, "a project grant does not reach its group");
}

#[test]
fn personal_project_user_and_instance_grants_reach_only_their_own_boundary() {
    let w = world();
    let personal = w.app.post(&w.alice_api, "/projects", json!({"name": "Mine", "path": "mine"}));
    assert_eq!(personal.status, 201, "{}", personal.text);
    let mine = id(&personal);
    let (_, token) = w.fine(json!([
        {"access": "personal_projects", "permissions": ["read_project"]},
        {"access": "user", "permissions": ["read_user"]},
        {"access": "instance", "permissions": ["read_group"]},
    ]));
    assert_eq!(w.app.get(&token, &format!("/projects/{mine}")).status, 200);
    assert_eq!(w.app.get(&token, &format!("/projects/{}", w.app_project)).status, 403);
    assert_eq!(w.app.get(&token, "/user").status, 200);
    assert_eq!(w.app.get(&token, &format!("/users/{}", w.alice)).status, 403, "read_user is a user grant only");
    assert_eq!(w.app.get(&token, "/groups").status, 200, "listing groups is an instance grant");
    assert_eq!(w.app.get(&token, "/projects").status, 403, "listing projects is not granted");
}

#[test]
fn creation_refuses_bad_grants_unseen_resources_permissions_beyond_the_role_and_beyond_the_creating_token() {
    let w = world();
    let app = &w.app;
    let hidden = id(&app.post(&app.admin_token, "/groups", json!({"name": "Hidden", "path": "hidden"})));
    let both = app.post(
        &w.alice_api,
        "/user/personal_access_tokens",
        json!({"name": "x", "scopes": ["api"], "granular_scopes": [{"access": "user", "permissions": ["read_user"]}]}),
    );
    assert_eq!(both.status, 400, "{}", both.text);
    assert_eq!(both.body["error"], "scopes, granular_scopes are mutually exclusive");
    for bad in [
        json!([]),
        json!("user"),
        json!([{"access": "everything", "permissions": ["read_user"]}]),
        json!([{"access": "user", "permissions": ["read_everything"]}]),
        json!([{"access": "user", "permissions": []}]),
        json!([{"access": "user", "permissions": ["read_user"], "group_ids": [w.top]}]),
        json!([{"access": "selected_memberships", "permissions": ["read_job"]}]),
        json!([{"access": "selected_memberships", "project_ids": [w.lib], "permissions": ["read_group"]}]),
        json!([{"access": "user", "permissions": ["read_user"], "extra": 1}]),
        json!([{"access": "selected_memberships", "group_ids": ["x"], "permissions": ["read_job"]}]),
    ] {
        let reply = w.create(&w.alice_api, bad.clone());
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
    let unseen = w.create(
        &w.alice_api,
        json!([{"access": "selected_memberships", "group_ids": [hidden], "permissions": ["read_job"]}]),
    );
    assert_eq!(unseen.status, 404, "{}", unseen.text);
    assert_eq!(unseen.body["message"], "404 Group Not Found");
    let missing = w.create(
        &w.alice_api,
        json!([{"access": "selected_memberships", "project_ids": [999_999], "permissions": ["read_job"]}]),
    );
    assert_eq!(missing.status, 404, "{}", missing.text);
    let beyond_role = w.create(
        &w.alice_api,
        json!([{"access": "selected_memberships", "project_ids": [w.lib], "permissions": ["run_job"]}]),
    );
    assert_eq!(beyond_role.status, 403, "a Reporter cannot grant run_job: {}", beyond_role.text);
    let admin_only = w.create(&w.alice_api, json!([{"access": "instance", "permissions": ["manage_user"]}]));
    assert_eq!(admin_only.status, 403, "{}", admin_only.text);

    // A fine-grained token mints only what it holds itself, where it holds it.
    let (_, creator) = w.fine(json!([
        {"access": "selected_memberships", "group_ids": [w.sub], "permissions": ["read_job", "run_job"]},
        {"access": "user", "permissions": ["manage_personal_access_token"]},
    ]));
    let within = w.create(
        &creator,
        json!([{"access": "selected_memberships", "project_ids": [w.app_project], "permissions": ["run_job"]}]),
    );
    assert_eq!(within.status, 201, "{}", within.text);
    for wider in [
        json!([{"access": "selected_memberships", "group_ids": [w.top], "permissions": ["run_job"]}]),
        json!([{"access": "selected_memberships", "group_ids": [w.sub], "permissions": ["cancel_job"]}]),
        json!([{"access": "all_memberships", "permissions": ["read_job"]}]),
        json!([{"access": "user", "permissions": ["read_user"]}]),
    ] {
        let reply = w.create(&creator, wider.clone());
        assert_eq!(reply.status, 403, "{wider}: {}", reply.text);
    }
    let legacy = app.post(&creator, "/user/personal_access_tokens", json!({"name": "x", "scopes": ["read_api"]}));
    assert_eq!(legacy.status, 403, "a fine-grained token mints no legacy token: {}", legacy.text);

    // Administrators create them for others, impersonation tokens included.
    let for_alice = app.post(
        &app.admin_token,
        &format!("/users/{}/personal_access_tokens", w.alice),
        json!({"name": "f", "granular_scopes": [{"access": "selected_memberships", "group_ids": [w.other], "permissions": ["read_job"]}]}),
    );
    assert_eq!(for_alice.status, 201, "{}", for_alice.text);
    let impersonation = app.post(
        &app.admin_token,
        &format!("/users/{}/impersonation_tokens", w.alice),
        json!({"name": "i", "granular_scopes": [{"access": "user", "permissions": ["read_user"]}]}),
    );
    assert_eq!(impersonation.status, 201, "{}", impersonation.text);
    assert_eq!(impersonation.body["impersonation"], true);
    assert_eq!(impersonation.body["granular"], true);
    let _ = w.other;
}

#[test]
fn a_grant_on_another_organizations_group_looks_absent() {
    let w = world();
    let app = &w.app;
    let org = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    let acme_admin = org.body["founder_token"]["token"].as_str().unwrap_or_default().to_owned();
    let acme_group = id(&app.post(&acme_admin, "/groups", json!({"name": "A", "path": "a", "visibility": "public"})));
    let reply = w.create(
        &w.alice_api,
        json!([{"access": "selected_memberships", "group_ids": [acme_group], "permissions": ["read_group"]}]),
    );
    assert_eq!(reply.status, 404, "{}", reply.text);
}

#[test]
fn every_403_for_a_token_names_what_would_have_allowed_it_in_a_header_and_the_body() {
    let w = world();
    let role = w.app.call(&w.alice_api, "PUT", &format!("/projects/{}", w.lib), Some(json!({"description": "x"})));
    assert_eq!(role.status, 403, "{}", role.text);
    assert_eq!(role.body["message"], "403 Forbidden");
    assert_eq!(role.body["required_permissions"], json!([["admin_project"]]));
    assert_eq!(role.header("x-tessera-required-permissions"), Some("admin_project"));
    let (_, read_api) = w.app.token_for(w.alice, &["read_api"]);
    let scope = w.app.call(&read_api, "PUT", &format!("/projects/{}", w.lib), Some(json!({"description": "x"})));
    assert_eq!(scope.status, 403, "{}", scope.text);
    assert_eq!(scope.body["scope"], "api");
    assert_eq!(scope.header("x-tessera-required-scopes"), Some("api"));
    let (_, fine) = w.fine(json!([{"access": "all_memberships", "permissions": ["read_project"]}]));
    let granular = w.app.call(&fine, "PUT", &format!("/projects/{}", w.app_project), Some(json!({"description": "x"})));
    assert_eq!(granular.status, 403, "{}", granular.text);
    assert_eq!(granular.body["required_permissions"], json!([["update_project"]]));
    assert_eq!(granular.header("x-tessera-required-granular-permissions"), Some("update_project"));
}

#[test]
fn route_rules_narrow_a_token_to_matching_requests_whatever_alias_the_path_uses() {
    let w = world();
    let app = &w.app;
    let (p, q) = (w.app_project, w.lib);
    let created = app.post(
        &w.alice_api,
        "/user/personal_access_tokens",
        json!({"name": "ruled", "scopes": ["api"], "route_rules": [format!("get /projects/{p}"), format!("GET /projects/{p}/*")]}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["route_rules"], json!([format!("GET /projects/{p}"), format!("GET /projects/{p}/*")]));
    let ruled = created.body["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.get(&ruled, &format!("/projects/{p}")).status, 200);
    assert_eq!(app.get(&ruled, "/projects/top%2Fsub%2Fapp").status, 200, "the path alias resolves to the id");
    assert_eq!(app.get(&ruled, &format!("/projects/{p}/members")).status, 200);
    let other = app.get(&ruled, &format!("/projects/{q}"));
    assert_eq!(other.status, 403, "{}", other.text);
    assert_eq!(other.body["error"], "outside_route_rules");
    assert_eq!(app.get(&ruled, "/projects/other%2Flib").status, 403);
    let write = app.call(&ruled, "PUT", &format!("/projects/{p}"), Some(json!({"description": "x"})));
    assert_eq!(write.status, 403, "{}", write.text);
    assert_eq!(app.get(&ruled, "/user").status, 403);

    let forward = |path: &str| w.forward(&ruled, "GET", path);
    assert_eq!(forward("/api/v4/projects/top%2Fsub%2Fapp/issues").status, 200);
    assert_eq!(forward(&format!("/api/v4/projects/{p}/issues/1")).status, 403, "* is one segment");
    assert_eq!(forward(&format!("/api/v4/projects/{p}/../{q}/issues")).status, 400, "dot segments have no reading");
    assert_eq!(forward(&format!("/api/v4/projects/{q}/../{p}/issues")).status, 400);
    assert_eq!(forward(&format!("/api/v4/projects/{p}/issues/..%2F..%2F{q}%2Fissues")).status, 400);
    let denied = forward(&format!("/api/v4/projects/{q}/issues"));
    assert_eq!(denied.body["error"], "outside_route_rules", "{}", denied.text);

    let asked = app.post(
        &app.admin_token,
        "/internal/authorize",
        json!({"requests": [{"credential": ruled, "method": "GET", "path": format!("/api/v4/projects/{q}/issues")}]}),
    );
    assert_eq!(asked.body["results"][0]["error"], "outside_route_rules", "{}", asked.text);
    assert_eq!(app.call(&ruled, "DELETE", "/personal_access_tokens/self", None).status, 204, "a token revokes itself");
}

#[test]
fn route_rules_are_checked_at_creation_and_broad_ones_are_warned_about() {
    let w = world();
    for bad in
        [json!(["GET"]), json!(["FETCH /projects"]), json!(["GET /projects/top%2Fapp"]), json!(["GET /api/v4/user"])]
    {
        let reply = w.app.post(
            &w.alice_api,
            "/user/personal_access_tokens",
            json!({"name": "x", "scopes": ["api"], "route_rules": bad}),
        );
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
        assert!(reply.body["message"]["route_rules"].is_array(), "{}", reply.text);
    }
    let broad = w.app.post(
        &w.alice_api,
        "/user/personal_access_tokens",
        json!({"name": "broad", "scopes": ["api"], "route_rules": ["* /**", "POST /projects/*/issues"]}),
    );
    assert_eq!(broad.status, 201, "{}", broad.text);
    let codes: Vec<&str> =
        broad.body["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    for code in ["all_routes", "write_wildcard", "admin_routes"] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let fine = w.create(&w.alice_api, json!([{"access": "all_memberships", "permissions": ["read_job"]}]));
    let codes: Vec<&str> =
        fine.body["warnings"].as_array().unwrap().iter().filter_map(|w| w["code"].as_str()).collect();
    assert_eq!(codes, ["all_memberships"]);
    let narrow = w.create(&w.alice_api, json!([{"access": "user", "permissions": ["read_user"]}]));
    assert_eq!(narrow.body["warnings"], json!([]));

    // A token with rules mints only tokens held to some of the same rules.
    let minting = w.app.post(
        &w.alice_api,
        "/user/personal_access_tokens",
        json!({"name": "m", "scopes": ["api"], "route_rules": ["POST /user/personal_access_tokens", "GET /user"]}),
    );
    let minting = minting.body["token"].as_str().unwrap_or_default().to_owned();
    for (rules, status) in [(json!(null), 403), (json!(["GET /projects/1"]), 403), (json!(["GET /user"]), 201)] {
        let reply = w.app.post(
            &minting,
            "/user/personal_access_tokens",
            json!({"name": "c", "scopes": ["api"], "route_rules": rules}),
        );
        assert_eq!(reply.status, status, "{rules}: {}", reply.text);
    }
}

#[test]
fn an_administrator_can_refuse_legacy_tokens_at_use_and_at_creation_from_a_cut_off_date() {
    let w = world();
    let app = &w.app;
    let fine_admin = w.create(
        &app.admin_token,
        json!([{"access": "instance", "permissions": ["manage_instance", "read_user"]},
               {"access": "all_memberships", "permissions": ["read_project"]}]),
    );
    assert_eq!(fine_admin.status, 201, "{}", fine_admin.text);
    let fine_admin = fine_admin.body["token"].as_str().unwrap_or_default().to_owned();
    let settings = |token: &str, body: Value| app.call(token, "PUT", "/application/settings", Some(body));
    let locked_out = settings(&app.admin_token, json!({"fine_grained_tokens_only": true}));
    assert_eq!(locked_out.status, 400, "the legacy token asking would lock itself out: {}", locked_out.text);
    let (_, alice_fine) = w.fine(json!([{"access": "all_memberships", "permissions": ["read_project"]}]));
    let project = format!("/projects/{}", w.app_project);
    assert_eq!(app.get(&w.alice_api, &project).status, 200);

    let set = settings(&fine_admin, json!({"fine_grained_tokens_only": true}));
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["fine_grained_tokens_only"], true);
    let refused = app.get(&w.alice_api, &project);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert!(refused.text.contains("fine-grained"), "{}", refused.text);
    assert_eq!(app.get(&w.alice_api, "/personal_access_tokens/self").status, 200, "a legacy token still sees itself");
    let forwarded = w.forward(&w.alice_api, "GET", &format!("/api/v4{project}"));
    assert_eq!(forwarded.status, 403);
    assert_eq!(forwarded.body["error"], "fine_grained_token_required", "{}", forwarded.text);
    assert_eq!(app.get(&alice_fine, &project).status, 200);
    let legacy = app.post(&alice_fine, "/user/personal_access_tokens", json!({"name": "l", "scopes": ["read_api"]}));
    assert_eq!(legacy.status, 403, "{}", legacy.text);

    // With a cut-off date, legacy tokens created on or before it keep working.
    let tomorrow = app.clock_today().add_days(1).to_string();
    assert_eq!(settings(&fine_admin, json!({"fine_grained_tokens_only_after": tomorrow})).status, 200);
    assert_eq!(app.get(&w.alice_api, &project).status, 200, "created before the cut-off");
    let yesterday = app.clock_today().add_days(-1).to_string();
    assert_eq!(settings(&fine_admin, json!({"fine_grained_tokens_only_after": yesterday})).status, 200);
    assert_eq!(app.get(&w.alice_api, &project).status, 403, "created after the cut-off");

    // Refusing only the creation of legacy tokens leaves existing ones working.
    let only_creation =
        settings(&fine_admin, json!({"fine_grained_tokens_only": false, "disable_legacy_token_creation": true}));
    assert_eq!(only_creation.status, 200, "{}", only_creation.text);
    assert_eq!(app.get(&w.alice_api, &project).status, 200);
    let created = app.post(&w.alice_api, "/user/personal_access_tokens", json!({"name": "l", "scopes": ["read_api"]}));
    assert_eq!(created.status, 403, "{}", created.text);
    let fine = w.create(&w.alice_api, json!([{"access": "user", "permissions": ["read_user"]}]));
    assert_eq!(fine.status, 201, "{}", fine.text);
}

#[test]
fn a_top_level_groups_owners_can_refuse_legacy_and_long_lived_tokens_on_its_hierarchy_on_every_way_in() {
    let w = world();
    let app = &w.app;
    let bob = app.create_user("bob");
    let owner =
        app.post(&app.admin_token, &format!("/groups/{}/members", w.top), json!({"user_id": bob, "access_level": 50}));
    assert_eq!(owner.status, 201, "{}", owner.text);
    let (_, bob_api) = app.token_for(bob, &["api"]);
    let bob_fine = app.post(
        &bob_api,
        "/user/personal_access_tokens",
        json!({"name": "policy", "expires_at": app.clock_today().add_days(20).to_string(), "granular_scopes": [
            {"access": "selected_memberships", "group_ids": [w.top], "permissions": ["update_group", "read_group"]}]}),
    );
    assert_eq!(bob_fine.status, 201, "{}", bob_fine.text);
    let bob_fine = bob_fine.body["token"].as_str().unwrap_or_default().to_owned();
    let policy = |token: &str, group: i64, body: Value| app.call(token, "PUT", &format!("/groups/{group}"), Some(body));
    let only = json!({"fine_grained_tokens_only": true});

    assert_eq!(policy(&bob_api, w.top, only.clone()).status, 400, "the owner's legacy token would lock itself out");
    let on_subgroup = policy(&bob_fine, w.sub, only.clone());
    assert_eq!(on_subgroup.status, 400, "{}", on_subgroup.text);
    assert!(on_subgroup.text.contains("top-level"), "{}", on_subgroup.text);
    assert_eq!(policy(&w.alice_api, w.top, only.clone()).status, 403, "a Developer sets no policy");
    let set = policy(&bob_fine, w.top, only);
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["fine_grained_tokens_only"], true);
    assert_eq!(app.get(&bob_fine, &format!("/groups/{}", w.top)).body["fine_grained_tokens_only"], true);

    // Legacy tokens are refused on the group, its subgroups and their projects, through REST, forward-auth and Git.
    let project = format!("/projects/{}", w.app_project);
    for path in [format!("/groups/{}", w.top), format!("/groups/{}", w.sub), project.clone()] {
        let refused = app.get(&w.alice_api, &path);
        assert_eq!(refused.status, 403, "{path}: {}", refused.text);
        assert!(refused.text.contains("fine-grained"), "{}", refused.text);
        assert_eq!(refused.body["error"], "fine_grained_token_required", "REST names it as gateways do");
    }
    let forwarded = w.forward(&w.alice_api, "GET", &format!("/api/v4{project}"));
    assert_eq!(forwarded.status, 403, "{}", forwarded.text);
    assert_eq!(forwarded.body["error"], "fine_grained_token_required", "{}", forwarded.text);
    assert_eq!(forwarded.body["layer"], "policy", "{}", forwarded.text);
    let (_, alice_git) = app.token_for(w.alice, &["read_repository"]);
    let clone = w.forward(&alice_git, "GET", "/top/sub/app.git/info/refs?service=git-upload-pack");
    assert_eq!(clone.status, 403, "{}", clone.text);
    // Elsewhere the same token works, and fine-grained tokens work on the hierarchy.
    assert_eq!(app.get(&w.alice_api, &format!("/projects/{}", w.lib)).status, 200);
    assert_eq!(app.get(&w.alice_api, "/user").status, 200);
    let (_, alice_fine) = w.fine(json!([{"access": "all_memberships", "permissions": ["read_project"]}]));
    assert_eq!(app.get(&alice_fine, &project).status, 200);

    // A cut-off date keeps older legacy tokens working.
    let tomorrow = app.clock_today().add_days(1).to_string();
    assert_eq!(policy(&bob_fine, w.top, json!({"fine_grained_tokens_only_after": tomorrow})).status, 200);
    assert_eq!(app.get(&w.alice_api, &project).status, 200, "created before the cut-off");

    // A maximum lifetime refuses longer-lived tokens on the hierarchy only.
    let limited =
        policy(&bob_fine, w.top, json!({"fine_grained_tokens_only": false, "max_personal_access_token_lifetime": 30}));
    assert_eq!(limited.status, 200, "{}", limited.text);
    assert_eq!(limited.body["max_personal_access_token_lifetime"], 30);
    let too_long = app.get(&w.alice_api, &project);
    assert_eq!(too_long.status, 403, "a token valid for a year: {}", too_long.text);
    assert!(too_long.text.contains("lifetime"), "{}", too_long.text);
    assert_eq!(too_long.body["error"], "token_lifetime_beyond_group_policy");
    assert_eq!(app.get(&w.alice_api, &format!("/projects/{}", w.lib)).status, 200);
    let soon = app.clock_today().add_days(10).to_string();
    let short = app.post(
        &app.admin_token,
        &format!("/users/{}/personal_access_tokens", w.alice),
        json!({"name": "short", "scopes": ["read_api"], "expires_at": soon}),
    );
    let short = short.body["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(app.get(&short, &project).status, 200);
    // A fine-grained token over the hierarchy cannot even be created with a longer lifetime.
    let grants =
        json!([{"access": "selected_memberships", "project_ids": [w.app_project], "permissions": ["read_project"]}]);
    let long = app.post(&w.alice_api, "/user/personal_access_tokens", json!({"name": "l", "granular_scopes": grants}));
    assert_eq!(long.status, 400, "{}", long.text);
    assert!(long.text.contains("expires_at"), "{}", long.text);
    let fitting = app.post(
        &w.alice_api,
        "/user/personal_access_tokens",
        json!({"name": "f", "granular_scopes": grants, "expires_at": soon}),
    );
    assert_eq!(fitting.status, 201, "{}", fitting.text);
    assert_eq!(policy(&bob_fine, w.top, json!({"max_personal_access_token_lifetime": 10})).status, 400, "lock-out");
    let out_of_range = policy(&bob_fine, w.top, json!({"max_personal_access_token_lifetime": 400}));
    assert_eq!(out_of_range.status, 400, "{}", out_of_range.text);
}

#[test]
fn a_grant_on_a_deleted_project_never_reaches_a_new_one_that_could_take_its_id() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let user = app.create_user("dev");
    let mine = id(&app.post(&admin, "/projects", json!({"name": "Mine", "path": "mine"})));
    app.post(&admin, &format!("/projects/{mine}/members"), json!({"user_id": user, "access_level": 30}));
    let made = app.post(
        &admin,
        &format!("/users/{user}/personal_access_tokens"),
        json!({"name": "fine", "granular_scopes": [
            {"access": "selected_memberships", "project_ids": [mine], "permissions": ["read_project"]}
        ]}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let token = made.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&token, &format!("/projects/{mine}")).status, 200);
    // The newest project is deleted; the next one must not take its id.
    assert_eq!(app.call(&admin, "DELETE", &format!("/projects/{mine}"), None).status, 202);
    let next = id(&app.post(&admin, "/projects", json!({"name": "Next", "path": "next", "visibility": "private"})));
    assert_ne!(next, mine, "a deleted project's id is never given again");
    app.post(&admin, &format!("/projects/{next}/members"), json!({"user_id": user, "access_level": 30}));
    assert_eq!(app.get(&token, &format!("/projects/{next}")).status, 403, "the grant named the deleted project");
}
