//! Bad input gets a 4xx in GitLab's shape and changes nothing.

use serde_json::json;

use crate::helpers::TestApp;

fn token_count(app: &TestApp) -> usize {
    let reply = app.get(&app.admin_token, "/personal_access_tokens?per_page=100");
    reply.body.as_array().unwrap().len()
}

#[test]
fn malformed_bodies_are_refused_and_change_nothing() {
    let app = TestApp::spawn();
    let before = token_count(&app);
    let auth = [("PRIVATE-TOKEN", app.admin_token.as_str())];
    let path = "/api/v4/user/personal_access_tokens";
    let cases: Vec<(&str, &[u8])> = vec![
        ("application/json", b"{\"name\": \"x\", \"scopes\": [\"api\"]"),
        ("application/json", br#"{"name":"x","name":"y","scopes":["api"]}"#),
        ("application/json", b"name=x&scopes[]=api"),
        ("application/json", br#"["name"]"#),
        ("application/json", br#"{"name":{"a":1},"scopes":["api"]}"#),
        ("application/json", br#"{"name":"x","scopes":"api","expires_at":12}"#),
        ("application/json", br#"{"name":"x","scopes":[1,2]}"#),
        ("application/x-www-form-urlencoded", b"name=x&name=y&scopes[]=api"),
        ("text/plain", b"hello"),
    ];
    for (content_type, body) in cases {
        let reply = app.raw("POST", path, &auth, Some((content_type, body)));
        assert!(
            (400..500).contains(&reply.status),
            "{content_type} {:?} -> {}",
            String::from_utf8_lossy(body),
            reply.status
        );
        assert!(reply.body.get("error").is_some() || reply.body.get("message").is_some(), "{}", reply.text);
    }
    assert_eq!(token_count(&app), before);
}

#[test]
fn form_encoded_bodies_work_like_json() {
    let app = TestApp::spawn();
    let auth = [("PRIVATE-TOKEN", app.admin_token.as_str())];
    let reply = app.raw(
        "POST",
        "/api/v4/user/personal_access_tokens",
        &auth,
        Some(("application/x-www-form-urlencoded", b"name=n&scopes%5B%5D=api&scopes%5B%5D=read_user")),
    );
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["scopes"], json!(["api", "read_user"]));
}

#[test]
fn names_over_255_characters_and_past_dates_are_refused() {
    let app = TestApp::spawn();
    let before = token_count(&app);
    let long =
        app.post(&app.admin_token, "/user/personal_access_tokens", json!({"name": "x".repeat(256), "scopes": ["api"]}));
    assert_eq!(long.status, 400);
    assert!(long.body["message"]["name"].is_array());
    let past = app.post(
        &app.admin_token,
        "/user/personal_access_tokens",
        json!({"name": "x", "scopes": ["api"], "expires_at": "2020-01-01"}),
    );
    assert_eq!(past.status, 400);
    let garbage = app.post(
        &app.admin_token,
        "/user/personal_access_tokens",
        json!({"name": "x", "scopes": ["api"], "expires_at": "soon"}),
    );
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.body["error"], "expires_at is invalid");
    assert_eq!(token_count(&app), before);
}

#[test]
fn ids_that_do_not_exist_are_404s() {
    let app = TestApp::spawn();
    for path in
        ["/users/9999", "/projects/9999", "/groups/9999", "/groups/nope%2Fnothing", "/users/abc", "/audit_events/9999"]
    {
        let reply = app.get(&app.admin_token, path);
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body["message"].as_str().unwrap().starts_with("404 "), "{path}");
    }
    let reply =
        app.post(&app.admin_token, "/users/9999/personal_access_tokens", json!({"name": "x", "scopes": ["api"]}));
    assert_eq!(reply.status, 404);
    assert_eq!(app.get(&app.admin_token, "/no/such/route").status, 404);
}

#[test]
fn wrong_pagination_parameters_are_refused() {
    let app = TestApp::spawn();
    for query in ["page=0", "page=-1", "per_page=abc", "per_page=0"] {
        assert_eq!(app.get(&app.admin_token, &format!("/personal_access_tokens?{query}")).status, 400, "{query}");
    }
    let capped = app.get(&app.admin_token, "/personal_access_tokens?per_page=1000");
    assert_eq!(capped.header("x-per-page"), Some("100"));
}

#[test]
fn an_oversized_body_is_refused() {
    let app = TestApp::spawn();
    let body = json!({"name": "x", "scopes": ["api"], "description": "d".repeat(100_000)}).to_string();
    let reply = app.raw(
        "POST",
        "/api/v4/user/personal_access_tokens",
        &[("PRIVATE-TOKEN", &app.admin_token)],
        Some(("application/json", body.as_bytes())),
    );
    assert!((400..500).contains(&reply.status));
}

#[test]
fn user_fields_are_validated() {
    let app = TestApp::spawn();
    let cases = [
        json!({"username": "a b", "email": "a@example.com", "name": "A", "password": "long enough pw"}),
        json!({"username": "ab", "email": "not-an-email", "name": "A", "password": "long enough pw"}),
        json!({"username": "ab", "email": "a@example.com", "name": "A", "password": "short"}),
        json!({"username": "ab", "email": "a@example.com", "name": "A"}),
        json!({"username": "ab", "email": "a@example.com", "name": "A", "password": "long enough pw", "admin": "maybe"}),
    ];
    for body in cases {
        let reply = app.post(&app.admin_token, "/users", body.clone());
        assert_eq!(reply.status, 400, "{body}");
    }
    app.create_user("alice");
    let dup = app.post(
        &app.admin_token,
        "/users",
        json!({"username": "ALICE", "email": "x@example.com", "name": "A", "password": "long enough pw"}),
    );
    assert_eq!(dup.status, 409);
}

#[test]
fn scopes_and_granular_values_are_matched_exactly_and_a_near_miss_writes_nothing() {
    let app = TestApp::spawn();
    let before = token_count(&app);
    let path = "/user/personal_access_tokens";
    for scope in ["api ", " api", "API", "read_api\t"] {
        let reply = app.post(&app.admin_token, path, json!({"name": "x", "scopes": [scope]}));
        assert_eq!(reply.status, 400, "{scope:?}: {}", reply.text);
        assert!(reply.body["message"]["scopes"].is_array(), "{}", reply.text);
    }
    let granular = |access: &str, permission: &str| json!({"name": "x", "granular_scopes": [{"access": access, "permissions": [permission]}]});
    for (access, permission) in [("user", "read_user "), ("user ", "read_user"), ("User", "read_user")] {
        let reply = app.post(&app.admin_token, path, granular(access, permission));
        assert_eq!(reply.status, 400, "{access:?} {permission:?}: {}", reply.text);
    }
    assert_eq!(token_count(&app), before, "no near miss was stored");
    let exact = app.post(&app.admin_token, path, json!({"name": "x", "scopes": ["api"]}));
    assert_eq!(exact.status, 201, "{}", exact.text);
    let exact = app.post(&app.admin_token, path, granular("user", "read_user"));
    assert_eq!(exact.status, 201, "the exact names are accepted: {}", exact.text);
}
