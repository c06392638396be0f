//! The personal access token endpoints, as GitLab shapes them.

use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn a_user_creates_lists_shows_and_revokes_their_own_token() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["api"]);
    let created = app.post(
        &token,
        "/user/personal_access_tokens",
        json!({"name": "ci", "scopes": ["read_api"], "description": "for CI"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    for field in [
        "id",
        "name",
        "revoked",
        "created_at",
        "scopes",
        "user_id",
        "last_used_at",
        "active",
        "expires_at",
        "token",
        "expired",
        "description",
    ] {
        assert!(created.body.get(field).is_some(), "missing {field}");
    }
    assert_eq!(created.body["scopes"], json!(["read_api"]));
    let id = created.body["id"].as_i64().unwrap();
    let shown = app.get(&token, &format!("/personal_access_tokens/{id}"));
    assert_eq!(shown.status, 200);
    assert!(shown.body.get("token").is_none(), "the plaintext is shown once");
    let listed = app.get(&token, "/personal_access_tokens");
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    assert_eq!(app.call(&token, "DELETE", &format!("/personal_access_tokens/{id}"), None).status, 204);
    let after = app.get(&token, &format!("/personal_access_tokens/{id}"));
    assert_eq!(after.body["revoked"], true, "revocation keeps the row");
    assert_eq!(after.body["active"], false);
    let active = app.get(&token, "/personal_access_tokens?state=active");
    assert_eq!(active.body.as_array().unwrap().len(), 1);
}

#[test]
fn someone_elses_token_looks_like_no_token_at_all() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let bob = app.create_user("bob");
    let (_, alice_token) = app.token_for(alice, &["api"]);
    let (bob_token_id, _) = app.token_for(bob, &["api"]);
    assert_eq!(app.get(&alice_token, &format!("/personal_access_tokens/{bob_token_id}")).status, 401);
    assert_eq!(app.get(&alice_token, "/personal_access_tokens/99999").status, 401);
    assert_eq!(app.get(&alice_token, &format!("/personal_access_tokens?user_id={bob}")).status, 401);
    assert_eq!(app.call(&alice_token, "DELETE", &format!("/personal_access_tokens/{bob_token_id}"), None).status, 401);
    assert_eq!(app.get(&app.admin_token, "/personal_access_tokens/99999").status, 404);
    let admin_view = app.get(&app.admin_token, &format!("/personal_access_tokens?user_id={bob}"));
    assert_eq!(admin_view.body.as_array().unwrap().len(), 1);
}

#[test]
fn administrator_scopes_are_refused_to_other_users() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let reply = app.post(
        &app.admin_token,
        &format!("/users/{user}/personal_access_tokens"),
        json!({"name": "x", "scopes": ["sudo"]}),
    );
    assert_eq!(reply.status, 400);
    assert!(reply.body["message"]["scopes"].is_array());
}

#[test]
fn a_token_cannot_mint_an_administrator_scope_it_lacks() {
    let app = TestApp::spawn();
    let (_, api_only) = app.token_for(1, &["api"]);
    let reply = app.post(&api_only, "/user/personal_access_tokens", json!({"name": "x", "scopes": ["api", "sudo"]}));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"], "insufficient_scope");
}

#[test]
fn unknown_or_empty_scopes_are_refused() {
    let app = TestApp::spawn();
    for scopes in [json!([]), json!(["everything"]), json!(["api", "nope"]), json!(["granular"])] {
        let reply = app.post(&app.admin_token, "/user/personal_access_tokens", json!({"name": "x", "scopes": scopes}));
        assert_eq!(reply.status, 400, "{scopes}");
    }
    let reply = app.post(&app.admin_token, "/user/personal_access_tokens", json!({"name": "x"}));
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"], "scopes, granular_scopes are missing, exactly one parameter must be provided");
}

#[test]
fn rotation_revokes_the_old_token_and_links_a_new_one() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (old_id, old) = app.token_for(user, &["api"]);
    let rotated = app.post(&old, &format!("/personal_access_tokens/{old_id}/rotate"), json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    assert_ne!(rotated.body["id"], old_id);
    assert_eq!(rotated.body["scopes"], json!(["api"]));
    let week = app.clock_today().add_days(7).to_string();
    assert_eq!(rotated.body["expires_at"], week.as_str());
    assert_eq!(app.get(&old, "/user").status, 401);
    assert_eq!(app.get(&new, "/user").status, 200);
    let old_record = app.get(&app.admin_token, &format!("/personal_access_tokens/{old_id}"));
    assert_eq!(old_record.body["revoked"], true);
}

#[test]
fn reusing_a_rotated_token_on_a_rotation_path_revokes_its_whole_family() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (old_id, old) = app.token_for(user, &["api"]);
    let rotated = app.post(&old, "/personal_access_tokens/self/rotate", json!({}));
    assert_eq!(rotated.status, 200);
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    let reuse = app.post(&old, &format!("/personal_access_tokens/{old_id}/rotate"), json!({}));
    assert_eq!(reuse.status, 401);
    assert_eq!(app.get(&new, "/user").status, 401, "the descendant was revoked");
    let events = app.get(&app.admin_token, "/audit_events?per_page=100");
    assert!(events.text.contains("personal_access_token_family_revoked"));
}

#[test]
fn self_rotate_rotates_only_itself() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (other_id, _) = app.token_for(user, &["api"]);
    let (_, rotator) = app.token_for(user, &["self_rotate"]);
    assert_eq!(app.post(&rotator, &format!("/personal_access_tokens/{other_id}/rotate"), json!({})).status, 403);
    assert_eq!(app.get(&rotator, "/user").status, 403);
    let rotated = app.post(
        &rotator,
        "/personal_access_tokens/self/rotate",
        json!({"expires_at": app.clock_today().add_days(30).to_string()}),
    );
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.body["scopes"], json!(["self_rotate"]));
}

#[test]
fn a_token_revokes_itself_with_any_scope() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["read_repository"]);
    assert_eq!(app.call(&token, "DELETE", "/personal_access_tokens/self", None).status, 204);
    assert_eq!(app.get(&token, "/personal_access_tokens/self").status, 401);
}

#[test]
fn impersonation_tokens_are_hidden_from_their_user_and_refused_when_impersonation_is_disabled() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let created = app.post(
        &app.admin_token,
        &format!("/users/{user}/impersonation_tokens"),
        json!({"name": "imp", "scopes": ["api"]}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["impersonation"], true);
    let token = created.body["token"].as_str().unwrap().to_owned();
    let me = app.get(&token, "/user");
    assert_eq!(me.body["username"], "alice");
    assert_eq!(app.get(&token, "/personal_access_tokens").body.as_array().unwrap().len(), 0);
    let listed = app.get(&app.admin_token, &format!("/users/{user}/impersonation_tokens?state=active"));
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    app.call(&app.admin_token, "PUT", "/application/settings", Some(json!({"impersonation_enabled": false})));
    assert_eq!(app.get(&token, "/user").status, 401);
    let refused = app.post(
        &app.admin_token,
        &format!("/users/{user}/impersonation_tokens"),
        json!({"name": "imp", "scopes": ["api"]}),
    );
    assert_eq!(refused.status, 403);
}

#[test]
fn token_lists_are_paginated_as_gitlab_does() {
    let app = TestApp::spawn();
    for _ in 0..4 {
        app.token_for(1, &["read_api"]);
    }
    let page = app.get(&app.admin_token, "/personal_access_tokens?per_page=2&page=2");
    assert_eq!(page.status, 200);
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    assert_eq!(page.header("x-total"), Some("5"));
    assert_eq!(page.header("x-total-pages"), Some("3"));
    assert_eq!(page.header("x-next-page"), Some("3"));
    assert_eq!(page.header("x-prev-page"), Some("1"));
    let link = page.header("link").unwrap();
    assert!(link.contains("page=3&per_page=2>; rel=\"next\""), "{link}");
    assert!(!link.contains("glpat-"));
    let last = app.get(&app.admin_token, "/personal_access_tokens?per_page=2&page=3");
    assert!(!last.header("link").unwrap().contains("rel=\"next\""));
}
