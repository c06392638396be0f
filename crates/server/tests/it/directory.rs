//! Users, groups, projects and members.

use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn group_membership_is_inherited_by_subgroups_and_their_projects() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    let top = app.post(&app.admin_token, "/groups", json!({"name": "Top", "path": "top"}));
    assert_eq!(top.status, 201);
    let top_id = top.body["id"].as_i64().unwrap();
    let sub = app.post(&app.admin_token, "/groups", json!({"name": "Sub", "path": "sub", "parent_id": top_id}));
    assert_eq!(sub.body["full_path"], "top/sub");
    let project = app.post(&app.admin_token, "/projects", json!({"name": "Proj", "namespace_id": sub.body["id"]}));
    assert_eq!(project.status, 201, "{}", project.text);
    assert_eq!(project.body["path_with_namespace"], "top/sub/proj");
    assert_eq!(app.get(&alice_token, "/projects/top%2Fsub%2Fproj").status, 404, "private and not a member");
    let added = app.post(
        &app.admin_token,
        &format!("/groups/{top_id}/members"),
        json!({"user_id": alice, "access_level": "30"}),
    );
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["access_level"], 30);
    let by_path = app.get(&alice_token, "/projects/top%2Fsub%2Fproj");
    assert_eq!(by_path.status, 200);
    let by_id = app.get(&alice_token, &format!("/projects/{}", project.body["id"]));
    assert_eq!(by_id.body, by_path.body);
    let all = app.get(&alice_token, "/projects/top%2Fsub%2Fproj/members/all");
    assert!(all.body.as_array().unwrap().iter().any(|m| m["id"] == alice && m["access_level"] == 30));
    assert_eq!(app.get(&alice_token, "/groups?per_page=100").body.as_array().unwrap().len(), 2);
}

#[test]
fn a_developer_creates_projects_but_cannot_change_members_or_make_owners() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let bob = app.create_user("bob");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    app.post(&app.admin_token, &format!("/groups/{gid}/members"), json!({"user_id": alice, "access_level": 30}));
    let project = app.post(&alice_token, "/projects", json!({"name": "P", "namespace_id": gid}));
    assert_eq!(project.status, 201);
    let pid = project.body["id"].as_i64().unwrap();
    let refused =
        app.post(&alice_token, &format!("/projects/{pid}/members"), json!({"user_id": bob, "access_level": 10}));
    assert_eq!(refused.status, 403);
    app.call(&app.admin_token, "PUT", &format!("/groups/{gid}/members/{alice}"), Some(json!({"access_level": 40})));
    let ok = app.post(&alice_token, &format!("/projects/{pid}/members"), json!({"user_id": bob, "access_level": 40}));
    assert_eq!(ok.status, 201, "a maintainer manages the project's members");
    let owner =
        app.call(&alice_token, "PUT", &format!("/projects/{pid}/members/{bob}"), Some(json!({"access_level": 50})));
    assert_eq!(owner.status, 403, "a maintainer cannot make an owner");
    let group_member =
        app.post(&alice_token, &format!("/groups/{gid}/members"), json!({"user_id": bob, "access_level": 10}));
    assert_eq!(group_member.status, 403, "only a group's owners manage its members, as in GitLab's GroupPolicy");
    app.call(&app.admin_token, "PUT", &format!("/groups/{gid}/members/{alice}"), Some(json!({"access_level": 50})));
    let owner =
        app.call(&alice_token, "PUT", &format!("/projects/{pid}/members/{bob}"), Some(json!({"access_level": 50})));
    assert_eq!(owner.status, 200, "an owner makes owners");
    let bad = app.post(&alice_token, &format!("/groups/{gid}/members"), json!({"user_id": bob, "access_level": 35}));
    assert_eq!(bad.status, 400);
}

#[test]
fn a_member_may_leave_but_not_remove_others() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let bob = app.create_user("bob");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    let project = app.post(&app.admin_token, "/projects", json!({"name": "P"}));
    let pid = project.body["id"].as_i64().unwrap();
    for user in [alice, bob] {
        app.post(&app.admin_token, &format!("/projects/{pid}/members"), json!({"user_id": user, "access_level": 10}));
    }
    let others = app.call(&alice_token, "DELETE", &format!("/projects/{pid}/members/{bob}"), None);
    assert_eq!(others.status, 403);
    let leaving = app.call(&alice_token, "DELETE", &format!("/projects/{pid}/members/{alice}"), None);
    assert_eq!(leaving.status, 204);
    assert_eq!(app.get(&alice_token, &format!("/projects/{pid}")).status, 404, "a private project hides again");
}

#[test]
fn public_projects_are_readable_without_a_token_and_private_ones_are_hidden() {
    let app = TestApp::spawn();
    let public = app.post(&app.admin_token, "/projects", json!({"name": "Open", "visibility": "public"}));
    let private = app.post(&app.admin_token, "/projects", json!({"name": "Closed"}));
    assert_eq!(app.raw("GET", &format!("/api/v4/projects/{}", public.body["id"]), &[], None).status, 200);
    assert_eq!(app.raw("GET", &format!("/api/v4/projects/{}", private.body["id"]), &[], None).status, 404);
    assert_eq!(app.raw("GET", "/api/v4/projects/root%2Fopen", &[], None).status, 200);
    let anonymous = app.raw("GET", "/api/v4/projects", &[], None);
    assert_eq!(anonymous.body.as_array().unwrap().len(), 1);
}

#[test]
fn administrators_manage_users() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let updated =
        app.call(&app.admin_token, "PUT", &format!("/users/{alice}"), Some(json!({"name": "Alice A.", "bio": "hi"})));
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["name"], "Alice A.");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    assert_eq!(
        app.post(
            &alice_token,
            "/users",
            json!({"username": "x", "email": "x@example.com", "name": "x", "password": "long password"})
        )
        .status,
        403
    );
    assert_eq!(app.call(&alice_token, "PUT", &format!("/users/{alice}"), Some(json!({"admin": true}))).status, 403);
    let others = app.get(&alice_token, "/users");
    assert!(others.body[0].get("email").is_none(), "non-admins see basic fields");
}

#[test]
fn a_group_path_must_be_free() {
    let app = TestApp::spawn();
    app.create_user("alice");
    let clash = app.post(&app.admin_token, "/groups", json!({"name": "A", "path": "alice"}));
    assert_eq!(clash.status, 400, "GitLab answers a taken path 400: {}", clash.text);
    assert_eq!(clash.body, json!({"message": {"path": ["has already been taken"]}}));
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    let project = json!({"name": "P", "path": "p", "namespace_id": gid});
    assert_eq!(app.post(&app.admin_token, "/projects", project.clone()).status, 201);
    let again = app.post(&app.admin_token, "/projects", project);
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.body["message"]["path"], json!(["has already been taken"]));
    let bad = app.post(&app.admin_token, "/groups", json!({"name": "A", "path": "a/b"}));
    assert_eq!(bad.status, 400);
}

#[test]
fn the_default_organization_always_exists_and_owns_new_groups_projects_and_tokens() {
    let app = TestApp::spawn();
    let orgs = app.get(&app.admin_token, "/organizations");
    assert_eq!(orgs.status, 200);
    assert_eq!(orgs.body[0]["id"], 1);
    assert_eq!(app.get(&app.admin_token, "/organizations/1").body["path"], "default");
    assert_eq!(app.get(&app.admin_token, "/organizations/2").status, 404);
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    assert_eq!(group.body["organization_id"], 1);
    let project = app.post(&app.admin_token, "/projects", json!({"name": "P", "namespace_id": group.body["id"]}));
    assert_eq!(project.body["organization_id"], 1);
    let missing = app.post(&app.admin_token, "/groups", json!({"name": "H", "path": "h", "organization_id": 9}));
    assert_eq!(missing.status, 404);
}

#[test]
fn all_members_lists_each_user_once_at_their_highest_level_and_pages_count_users() {
    let app = TestApp::spawn();
    let top = app.post(&app.admin_token, "/groups", json!({"name": "Top", "path": "top"}));
    let top_id = top.body["id"].as_i64().unwrap();
    let sub = app.post(&app.admin_token, "/groups", json!({"name": "Sub", "path": "sub", "parent_id": top_id}));
    let sub_id = sub.body["id"].as_i64().unwrap();
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat"] {
        let id = app.create_user(name);
        // Every user is a member of both groups: Reporter above, Maintainer below.
        app.post(&app.admin_token, &format!("/groups/{top_id}/members"), json!({"user_id": id, "access_level": 20}));
        app.post(&app.admin_token, &format!("/groups/{sub_id}/members"), json!({"user_id": id, "access_level": 40}));
        users.push(id);
    }
    let mut listed = Vec::new();
    for page in 1..=3 {
        let reply = app.get(&app.admin_token, &format!("/groups/{sub_id}/members/all?per_page=2&page={page}"));
        assert_eq!(reply.status, 200, "{}", reply.text);
        // The administrator who created the groups is their Owner: four users in all.
        assert_eq!(reply.header("x-total"), Some("4"), "page {page}");
        listed.extend(
            reply.body.as_array().unwrap().iter().map(|m| (m["id"].as_i64().unwrap(), m["access_level"].clone())),
        );
    }
    assert_eq!(listed.len(), 4, "{listed:?}");
    for id in users {
        assert_eq!(listed.iter().filter(|(u, _)| *u == id).count(), 1, "{listed:?}");
        assert!(listed.contains(&(id, json!(40))), "{listed:?}");
    }
}

#[test]
fn members_are_added_by_user_id_or_by_username_exactly_one_of_them() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let members = format!("/groups/{}/members", group.body["id"]);
    let added = app.post(&app.admin_token, &members, json!({"username": "alice", "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(added.body["id"], alice);
    let unknown = app.post(&app.admin_token, &members, json!({"username": "nobody", "access_level": 30}));
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let both = app.post(&app.admin_token, &members, json!({"username": "alice", "user_id": alice, "access_level": 30}));
    assert_eq!(both.status, 400, "{}", both.text);
    let neither = app.post(&app.admin_token, &members, json!({"access_level": 30}));
    assert_eq!(neither.status, 400, "{}", neither.text);
}

#[test]
fn projects_and_users_are_listed_in_the_order_and_direction_asked_desc_by_default() {
    let app = TestApp::spawn();
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    for (name, path) in [("Bravo", "b-two"), ("alpha", "c-three"), ("Charlie", "a-one")] {
        let created = app.post(
            &app.admin_token,
            "/projects",
            json!({"name": name, "path": path, "namespace_id": group.body["id"]}),
        );
        assert_eq!(created.status, 201, "{}", created.text);
    }
    let names = |query: &str, key: &str| -> Vec<String> {
        let reply = app.get(&app.admin_token, query);
        assert_eq!(reply.status, 200, "{query}: {}", reply.text);
        reply.body.as_array().unwrap().iter().map(|p| p[key].as_str().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(names("/projects", "name"), ["Charlie", "alpha", "Bravo"], "created_at desc by default");
    assert_eq!(names("/projects?order_by=name&sort=asc", "name"), ["alpha", "Bravo", "Charlie"]);
    assert_eq!(names("/projects?order_by=name", "name"), ["Charlie", "Bravo", "alpha"]);
    assert_eq!(names("/projects?order_by=path&sort=asc", "path"), ["a-one", "b-two", "c-three"]);
    assert_eq!(names("/projects?order_by=id&sort=asc", "name"), ["Bravo", "alpha", "Charlie"]);
    for query in
        ["/projects?order_by=updated_at", "/projects?order_by=last_activity_at", "/projects?order_by=created_at"]
    {
        assert_eq!(app.get(&app.admin_token, query).status, 200, "{query}");
    }
    for bad in ["/projects?order_by=stars", "/projects?order_by=name%20", "/projects?sort=ASC", "/projects?sort=up"] {
        let reply = app.get(&app.admin_token, bad);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
    app.create_user("zed");
    app.create_user("amy");
    assert_eq!(names("/users", "username"), ["amy", "zed", "root"], "id desc by default");
    assert_eq!(names("/users?order_by=username&sort=asc", "username"), ["amy", "root", "zed"]);
    assert_eq!(names("/users?order_by=id&sort=asc", "username"), ["root", "zed", "amy"]);
    assert_eq!(app.get(&app.admin_token, "/users?order_by=path").status, 400, "path is no order of users");
}

#[test]
fn a_page_past_the_last_has_no_previous_page() {
    let app = TestApp::spawn();
    let reply = app.get(&app.admin_token, "/users?page=5&per_page=1");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-prev-page"), Some(""));
    assert_eq!(reply.header("x-next-page"), Some(""));
    let first = app.get(&app.admin_token, "/users?page=1&per_page=1");
    assert_eq!(first.header("x-prev-page"), Some(""));
    app.create_user("bob");
    let second = app.get(&app.admin_token, "/users?page=2&per_page=1");
    assert_eq!(second.header("x-prev-page"), Some("1"));
}
