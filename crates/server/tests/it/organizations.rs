//! Organizations: created by administrators, holding top-level groups; every personal token is bound to one and
//! reaches nothing of any other, on every way in.

use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn only_administrators_create_organizations_and_paths_are_checked_and_unique() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    let refused = app.post(&alice_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    assert_eq!(refused.status, 403, "{}", refused.text);
    let created = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["path"], "acme");
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(app.get(&alice_token, &format!("/organizations/{id}")).body["name"], "Acme");
    let taken = app.post(&app.admin_token, "/organizations", json!({"name": "Other", "path": "acme"}));
    assert_eq!(taken.status, 409, "{}", taken.text);
    let bad = app.post(&app.admin_token, "/organizations", json!({"name": "Bad", "path": "-/x"}));
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.body["message"]["path"].is_array(), "{}", bad.text);
    let missing = app.post(&app.admin_token, "/organizations", json!({"path": "nameless"}));
    assert_eq!(missing.status, 400, "{}", missing.text);
    let audit = app.get(&app.admin_token, "/audit_events?entity_type=Organization");
    assert!(audit.text.contains("organization_created"), "{}", audit.text);
}

#[test]
fn a_token_reaches_only_its_own_organizations_groups_and_projects_on_every_way_in() {
    let app = TestApp::spawn();
    let org = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    let org_id = org.body["id"].as_i64().unwrap();
    // The administrator's first token belongs to the default organization: it cannot build inside Acme.
    let outside = app.post(&app.admin_token, "/groups", json!({"name": "A", "path": "a", "organization_id": org_id}));
    assert_eq!(outside.status, 403, "{}", outside.text);
    // Nor can it mint a token there, for its own user or anyone else's.
    for user in [1, app.create_user("ann")] {
        let minted = app.post(
            &app.admin_token,
            &format!("/users/{user}/personal_access_tokens"),
            json!({"name": "acme admin", "scopes": ["api"], "organization_id": org_id}),
        );
        assert_eq!(minted.status, 403, "{}", minted.text);
    }
    // The organization's founder got its first token there when creating it.
    let founder = &org.body["founder_token"];
    let founder_text = founder["token"].as_str().unwrap();
    let (_, payload) = tokens::parse(founder_text, &tokens::Prefix::new("glpat-", None, "glpat-")).unwrap();
    assert_eq!(payload.organization, u64::try_from(org_id).ok(), "{}", org.text);
    let admin_scopes = app.get(&app.admin_token, "/personal_access_tokens/self").body["scopes"].clone();
    assert_eq!(founder["scopes"], admin_scopes, "the founding token's scopes, no more");
    let admin_acme = founder["token"].as_str().unwrap().to_owned();
    let group = app.post(&admin_acme, "/groups", json!({"name": "A", "path": "a"}));
    assert_eq!(group.status, 201, "{}", group.text);
    assert_eq!(group.body["organization_id"], org_id, "a top-level group lands in the token's organization");
    let gid = group.body["id"].as_i64().unwrap();
    let foreign = app.post(&app.admin_token, "/projects", json!({"name": "X", "path": "x", "namespace_id": gid}));
    assert_eq!(foreign.status, 404, "another organization's namespace looks absent: {}", foreign.text);
    let subgroup = app.post(&app.admin_token, "/groups", json!({"name": "S", "path": "s", "parent_id": gid}));
    assert_eq!(subgroup.status, 404, "{}", subgroup.text);
    let project = app.post(&admin_acme, "/projects", json!({"name": "P", "path": "p", "namespace_id": gid}));
    assert_eq!(project.body["organization_id"], org_id, "a project belongs to its group's organization");
    let pid = project.body["id"].as_i64().unwrap();
    let default_group = app.post(&app.admin_token, "/groups", json!({"name": "D", "path": "d"}));
    let default_project = app.post(
        &app.admin_token,
        "/projects",
        json!({"name": "Q", "path": "q", "namespace_id": default_group.body["id"]}),
    );
    let qid = default_project.body["id"].as_i64().unwrap();

    let dev = app.create_user("dev");
    for (admin, group) in [(&admin_acme, gid), (&app.admin_token, default_group.body["id"].as_i64().unwrap())] {
        let added = app.post(admin, &format!("/groups/{group}/members"), json!({"user_id": dev, "access_level": 30}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    let across =
        app.post(&app.admin_token, &format!("/groups/{gid}/members"), json!({"user_id": dev, "access_level": 40}));
    assert_eq!(across.status, 404, "{}", across.text);
    let (_, default_token) = app.token_for(dev, &["api"]);
    let acme = app.post(
        &admin_acme,
        &format!("/users/{dev}/personal_access_tokens"),
        json!({"name": "acme", "scopes": ["api"]}),
    );
    assert_eq!(acme.status, 201, "{}", acme.text);
    let acme_token = acme.body["token"].as_str().unwrap().to_owned();
    let (_, payload) = tokens::parse(&acme_token, &tokens::Prefix::new("glpat-", None, "glpat-")).unwrap();
    assert_eq!(payload.organization, u64::try_from(org_id).ok(), "the routable payload names the organization");

    // REST: another organization's project looks absent.
    assert_eq!(app.get(&acme_token, &format!("/projects/{pid}")).status, 200);
    assert_eq!(app.get(&acme_token, &format!("/projects/{qid}")).status, 404);
    assert_eq!(app.get(&default_token, &format!("/projects/{qid}")).status, 200);
    assert_eq!(app.get(&default_token, &format!("/projects/{pid}")).status, 404);
    assert_eq!(app.get(&default_token, "/projects/a%2Fp").status, 404, "by path too");

    // Forward-auth.
    let auth = |token: &str, project: i64| {
        let path = format!("/-/auth/api/v4/projects/{project}/issues");
        app.raw("POST", &path, &[("PRIVATE-TOKEN", token)], None)
    };
    assert_eq!(auth(&acme_token, pid).status, 200);
    assert_ne!(auth(&acme_token, qid).status, 200);
    assert_ne!(auth(&default_token, pid).status, 200);

    // The decision API names the layer.
    let asked = app.post(
        &app.admin_token,
        "/internal/authorize",
        json!({"requests": [
            {"credential": acme_token, "method": "POST", "path": format!("/api/v4/projects/{qid}/issues")},
            {"credential": acme_token, "method": "POST", "path": format!("/api/v4/projects/{pid}/issues")},
        ]}),
    );
    assert_eq!(asked.status, 200, "{}", asked.text);
    assert_eq!(asked.body["results"][0]["allowed"], false);
    assert_eq!(asked.body["results"][0]["layer"], "organization");
    assert_eq!(asked.body["results"][1]["allowed"], true);

    // Rotation keeps the organization.
    let rotated = app.post(&acme_token, "/personal_access_tokens/self/rotate", json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["token"].as_str().unwrap();
    assert_eq!(app.get(new, &format!("/projects/{pid}")).status, 200);
    assert_eq!(app.get(new, &format!("/projects/{qid}")).status, 404);
}

#[test]
fn a_token_for_an_unknown_organization_is_refused() {
    let app = TestApp::spawn();
    let dev = app.create_user("dev");
    let reply = app.post(
        &app.admin_token,
        &format!("/users/{dev}/personal_access_tokens"),
        json!({"name": "t", "scopes": ["api"], "organization_id": 99}),
    );
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.body["message"], "404 Organization Not Found");
}

#[test]
fn a_user_created_in_an_organization_gets_its_tokens_there_by_default() {
    let app = TestApp::spawn();
    let org = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    let org_id = org.body["id"].as_i64().unwrap();
    let user = json!({"username": "ann", "email": "ann@example.com", "name": "Ann", "password": "a-long-passphrase-1",
                      "organization_id": org_id});
    let created = app.post(&app.admin_token, "/users", user);
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["organization_id"], org_id);
    let ann = created.body["id"].as_i64().unwrap();
    let outside = app.post(
        &app.admin_token,
        &format!("/users/{ann}/personal_access_tokens"),
        json!({"name": "t", "scopes": ["api"], "organization_id": org_id}),
    );
    assert_eq!(outside.status, 403, "a token mints nothing in an organization it does not reach: {}", outside.text);
    let founder = org.body["founder_token"]["token"].as_str().unwrap();
    let token =
        app.post(founder, &format!("/users/{ann}/personal_access_tokens"), json!({"name": "t", "scopes": ["api"]}));
    assert_eq!(token.status, 201, "{}", token.text);
    let listed = app.get(founder, &format!("/admin/credentials?user_id={ann}"));
    assert_eq!(listed.body[0]["organization_id"], org_id, "{}", listed.text);
    let nowhere = json!({"username": "bo", "email": "bo@example.com", "name": "Bo", "password": "a-long-passphrase-1",
                         "organization_id": 99});
    let refused = app.post(&app.admin_token, "/users", nowhere);
    assert_eq!(refused.status, 404, "{}", refused.text);
}

#[test]
fn listings_and_searches_show_nothing_of_another_organization() {
    let app = TestApp::spawn();
    let org = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    let founder = org.body["founder_token"]["token"].as_str().unwrap().to_owned();
    // A user of the default organization who owns a group of Acme, with a token of each organization.
    let dev = app.create_user("dev");
    let acme_group = app.post(&founder, "/groups", json!({"name": "Rockets", "path": "rockets"}));
    let acme_gid = acme_group.body["id"].as_i64().unwrap();
    let acme_project =
        app.post(&founder, "/projects", json!({"name": "Rocket", "path": "rocket", "namespace_id": acme_gid}));
    assert_eq!(acme_project.status, 201, "{}", acme_project.text);
    let owner = app.post(&founder, &format!("/groups/{acme_gid}/members"), json!({"user_id": dev, "access_level": 50}));
    assert_eq!(owner.status, 201, "{}", owner.text);
    let home_group = app.post(&app.admin_token, "/groups", json!({"name": "Home", "path": "home"}));
    let home_gid = home_group.body["id"].as_i64().unwrap();
    app.post(&app.admin_token, "/projects", json!({"name": "Rocket", "path": "rocket", "namespace_id": home_gid}));
    app.post(&app.admin_token, &format!("/groups/{home_gid}/members"), json!({"user_id": dev, "access_level": 50}));
    let (_, home_token) = app.token_for(dev, &["api"]);
    let acme_token =
        app.post(&founder, &format!("/users/{dev}/personal_access_tokens"), json!({"name": "a", "scopes": ["api"]}));
    let acme_token = acme_token.body["token"].as_str().unwrap().to_owned();

    let paths = |token: &str, list: &str| -> Vec<String> {
        let reply = app.get(token, list);
        assert_eq!(reply.status, 200, "{list}: {}", reply.text);
        let items = reply.body.as_array().unwrap_or_else(|| panic!("{}", reply.text));
        items
            .iter()
            .map(|i| i["path_with_namespace"].as_str().or(i["full_path"].as_str()).unwrap_or("").to_owned())
            .collect()
    };
    for list in ["/projects", "/projects?search=rocket", "/projects?membership=true"] {
        assert_eq!(paths(&home_token, list), ["home/rocket"], "{list}");
        assert_eq!(paths(&acme_token, list), ["rockets/rocket"], "{list}");
    }
    for list in ["/groups", "/groups?search=o"] {
        assert_eq!(paths(&home_token, list), ["home"], "{list}");
        assert_eq!(paths(&acme_token, list), ["rockets"], "{list}");
    }
    // The administrator's inventory and token lists are its organization's too.
    let listed = app.get(&app.admin_token, &format!("/admin/credentials?user_id={dev}"));
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);
    let in_acme = app.get(&founder, &format!("/admin/credentials?user_id={dev}"));
    assert_eq!(in_acme.body.as_array().map(Vec::len), Some(1), "{}", in_acme.text);
    assert_ne!(listed.body[0]["id"], in_acme.body[0]["id"]);
    let own = app.get(&home_token, "/personal_access_tokens");
    assert_eq!(own.body.as_array().map(Vec::len), Some(1), "{}", own.text);
    let acme_id = in_acme.body[0]["id"].as_i64().unwrap();
    let across = app.call(&app.admin_token, "DELETE", &format!("/admin/credentials/{acme_id}"), None);
    assert_eq!(across.status, 404, "{}", across.text);
    assert_eq!(app.get(&home_token, &format!("/personal_access_tokens/{acme_id}")).status, 401);
}
