//! Expiry, lifetime settings, blocking.

use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn a_token_expires_at_midnight_utc_of_its_expiry_date() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let tomorrow = app.clock_today().add_days(1).to_string();
    let created = app.post(
        &app.admin_token,
        &format!("/users/{user}/personal_access_tokens"),
        json!({"name": "t", "scopes": ["api"], "expires_at": tomorrow}),
    );
    assert_eq!(created.status, 201);
    let token = created.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&token, "/user").status, 200);
    app.advance_days(1);
    assert_eq!(app.get(&token, "/user").status, 401);
    let record = app.get(&app.admin_token, &format!("/personal_access_tokens/{}", created.body["id"]));
    assert_eq!(record.body["expired"], true);
}

#[test]
fn a_token_without_expiry_gets_the_maximum_lifetime() {
    let app = TestApp::spawn();
    let reply = app.post(&app.admin_token, "/user/personal_access_tokens", json!({"name": "t", "scopes": ["api"]}));
    assert_eq!(reply.body["expires_at"], app.clock_today().add_days(365).to_string().as_str());
}

#[test]
fn the_maximum_lifetime_and_required_expiry_follow_the_settings() {
    let app = TestApp::spawn();
    let locking_out = app.call(
        &app.admin_token,
        "PUT",
        "/application/settings",
        Some(json!({"max_personal_access_token_lifetime": 30})),
    );
    assert_eq!(locking_out.status, 400, "the first token lives a year: {}", locking_out.text);
    let month = app.clock_today().add_days(30).to_string();
    let short = app.post(
        &app.admin_token,
        "/user/personal_access_tokens",
        json!({"name": "short", "scopes": ["api", "admin_mode"], "expires_at": month}),
    );
    let short = short.body["token"].as_str().unwrap().to_owned();
    let settings = app.call(
        &short,
        "PUT",
        "/application/settings",
        Some(json!({"max_personal_access_token_lifetime": 30, "require_personal_access_token_expiry": false})),
    );
    assert_eq!(settings.status, 200);
    assert_eq!(settings.body["max_personal_access_token_lifetime"], 30);
    let too_late = app.clock_today().add_days(31).to_string();
    let refused = app.post(
        &short,
        "/user/personal_access_tokens",
        json!({"name": "t", "scopes": ["api"], "expires_at": too_late}),
    );
    assert_eq!(refused.status, 400);
    assert!(refused.body["message"]["expires_at"][0].as_str().unwrap().starts_with("must be before"));
    let open = app.post(&short, "/user/personal_access_tokens", json!({"name": "t", "scopes": ["api"]}));
    assert_eq!(open.body["expires_at"], month.as_str(), "no expiry is asked, but none outlives the token minting it");
    let open = open.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&open, "/user").status, 200);
    assert_eq!(app.get(&app.admin_token, "/user").status, 401, "the year-long token is beyond the maximum now");
    let bad =
        app.call(&short, "PUT", "/application/settings", Some(json!({"max_personal_access_token_lifetime": 1000})));
    assert_eq!(bad.status, 400);
}

#[test]
fn a_blocked_users_tokens_stop_at_once_and_work_again_on_unblock() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["api"]);
    let (revoked_id, revoked) = app.token_for(user, &["api"]);
    assert_eq!(app.post(&app.admin_token, &format!("/users/{user}/block"), json!({})).status, 201);
    assert_eq!(app.get(&token, "/user").status, 401);
    app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{revoked_id}"), None);
    assert_eq!(app.post(&app.admin_token, &format!("/users/{user}/unblock"), json!({})).status, 201);
    assert_eq!(app.get(&token, "/user").status, 200);
    assert_eq!(app.get(&revoked, "/user").status, 401, "revoked while blocked stays revoked");
}

#[test]
fn last_use_and_client_address_are_recorded() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (id, token) = app.token_for(user, &["api"]);
    app.get(&token, "/user");
    let record = app.get(&app.admin_token, &format!("/personal_access_tokens/{id}"));
    assert!(record.body["last_used_at"].is_string());
    assert_eq!(record.body["last_used_ips"], json!(["127.0.0.1"]));
    let listed =
        app.get(&app.admin_token, &format!("/personal_access_tokens?user_id={user}&last_used_after=2000-01-01"));
    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "a listing read from storage includes the use: {}",
        listed.text
    );
}
