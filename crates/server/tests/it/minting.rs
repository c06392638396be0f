//! A token never mints a token wider or longer-lived than itself (issue 21, point 2): created or rotated for the
//! minting token's own user, the new token expires no later, holds no scope beyond, and stays in the same
//! organization. An administrator minting for another user keeps GitLab's rules, in its own organization only.

use serde_json::json;

use crate::helpers::TestApp;

/// A token of `user` with `scopes` expiring in `days`, minted by the administrator.
fn token_expiring(app: &TestApp, user: i64, scopes: &[&str], days: i64) -> String {
    let expires_at = app.clock_today().add_days(days).to_string();
    let reply = app.post(
        &app.admin_token,
        &format!("/users/{user}/personal_access_tokens"),
        json!({"name": "parent", "scopes": scopes, "expires_at": expires_at}),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_token_mints_for_its_user_only_tokens_that_expire_no_later_than_itself() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let today = app.clock_today();
    for parent_days in [2, 10, 40] {
        let parent = token_expiring(&app, alice, &["api"], parent_days);
        let cap = today.add_days(parent_days).to_string();
        for asked in [None, Some(1), Some(parent_days - 1), Some(parent_days), Some(parent_days + 1), Some(60)] {
            let mut body = json!({"name": "child", "scopes": ["read_api"]});
            if let Some(days) = asked {
                body["expires_at"] = json!(today.add_days(days).to_string());
            }
            let reply = app.post(&parent, "/user/personal_access_tokens", body);
            match asked {
                Some(days) if days > parent_days => {
                    assert_eq!(reply.status, 400, "{parent_days} days, asked {days}: {}", reply.text);
                    assert!(reply.text.contains(&cap), "the answer names the limit: {}", reply.text);
                }
                _ => {
                    assert_eq!(reply.status, 201, "{parent_days} days, asked {asked:?}: {}", reply.text);
                    let expires = reply.body["expires_at"].as_str().unwrap().to_owned();
                    assert!(expires <= cap, "{expires} is after {cap}");
                    if asked.is_none() {
                        assert_eq!(expires, cap, "a default expiry is cut to the minting token's");
                    }
                }
            }
        }
    }
    let tokens = app.get(&app.admin_token, &format!("/personal_access_tokens?user_id={alice}&per_page=100"));
    let long_lived = tokens.body.as_array().unwrap().iter().filter(|t| t["name"] == "child").count();
    assert_eq!(long_lived, 12, "exactly the refused requests wrote nothing: {}", tokens.text);
}

#[test]
fn a_token_mints_no_administrator_scope_it_does_not_hold() {
    let app = TestApp::spawn();
    let plain = token_expiring(&app, 1, &["api"], 30);
    let sudo = app.post(&plain, "/user/personal_access_tokens", json!({"name": "s", "scopes": ["api", "sudo"]}));
    assert_eq!(sudo.status, 403, "{}", sudo.text);
    let admin_mode = app.post(&plain, "/user/personal_access_tokens", json!({"name": "a", "scopes": ["admin_mode"]}));
    assert_eq!(admin_mode.status, 403, "{}", admin_mode.text);
    let narrower = app.post(&plain, "/user/personal_access_tokens", json!({"name": "n", "scopes": ["read_api"]}));
    assert_eq!(narrower.status, 201, "{}", narrower.text);
}

#[test]
fn rotation_never_stretches_a_life() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let today = app.clock_today();
    let short = token_expiring(&app, alice, &["api"], 3);
    let longer =
        app.post(&short, "/personal_access_tokens/self/rotate", json!({"expires_at": today.add_days(30).to_string()}));
    assert_eq!(longer.status, 400, "{}", longer.text);
    let rotated = app.post(&short, "/personal_access_tokens/self/rotate", json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(rotated.body["expires_at"], today.add_days(3).to_string(), "the default week is cut to the old token's");

    // Another token of the same user rotating a longer-lived one gives it no more than its own life either.
    let long = token_expiring(&app, alice, &["api"], 60);
    let long_id = app.get(&long, "/personal_access_tokens/self").body["id"].as_i64().unwrap();
    let brief = token_expiring(&app, alice, &["api"], 2);
    let by_brief = app.post(&brief, &format!("/personal_access_tokens/{long_id}/rotate"), json!({}));
    assert_eq!(by_brief.status, 200, "{}", by_brief.text);
    assert_eq!(by_brief.body["expires_at"], today.add_days(2).to_string());
}

#[test]
fn an_administrator_mints_for_another_user_as_gitlab_does_but_only_in_its_own_organization() {
    let app = TestApp::spawn();
    let alice = app.create_user("alice");
    let admin_short = token_expiring(&app, 1, &["api", "admin_mode"], 5);
    let later = app.clock_today().add_days(90).to_string();
    let minted = app.post(
        &admin_short,
        &format!("/users/{alice}/personal_access_tokens"),
        json!({"name": "ops", "scopes": ["api"], "expires_at": later}),
    );
    assert_eq!(minted.status, 201, "another user's token follows the instance's rules: {}", minted.text);
    assert_eq!(minted.body["expires_at"], later.as_str());
    let org = app.post(&app.admin_token, "/organizations", json!({"name": "Acme", "path": "acme"}));
    assert_eq!(org.status, 201, "{}", org.text);
    let org_id = org.body["id"].as_i64().unwrap();
    let elsewhere = app.post(
        &admin_short,
        &format!("/users/{alice}/personal_access_tokens"),
        json!({"name": "acme", "scopes": ["api"], "organization_id": org_id}),
    );
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.text);
    let own = app.post(
        &admin_short,
        "/user/personal_access_tokens",
        json!({"name": "acme", "scopes": ["api"], "organization_id": org_id}),
    );
    assert_eq!(own.status, 403, "{}", own.text);
}
