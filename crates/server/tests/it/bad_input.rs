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

#[test]
fn a_pasted_secret_is_refused_as_a_name_path_or_description_and_nothing_is_written() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = app.post(&admin, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    let project = app.post(&admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": gid}));
    let pid = project.body["id"].as_i64().unwrap();
    let job = app.post(&admin, "/internal/ci/jobs", json!({"project_id": pid, "user_id": 1, "ref": "main"}));
    let job_token = job.body["token"].as_str().unwrap().to_owned();
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), ..tokens::RoutingPayload::default() };
    let foreign = tokens::mint("gldt-", &[9; tokens::RANDOM_BYTES], &payload).unwrap();
    let secrets = [admin.clone(), job_token, foreign, format!("my token: {admin}")];
    let before = token_count(&app);
    for secret in &secrets {
        let refused = [
            app.post(&admin, "/user/personal_access_tokens", json!({"name": secret, "scopes": ["api"]})),
            app.post(
                &admin,
                "/user/personal_access_tokens",
                json!({"name": "t", "description": secret, "scopes": ["api"]}),
            ),
            app.post(&admin, "/groups", json!({"name": secret, "path": "h"})),
            app.post(&admin, "/groups", json!({"name": "H", "path": "h", "description": secret})),
            app.post(
                &admin,
                "/projects",
                json!({"name": "Q", "path": "q", "namespace_id": gid, "description": secret}),
            ),
            app.call(&admin, "PUT", &format!("/projects/{pid}"), Some(json!({"description": secret}))),
            app.call(&admin, "PUT", &format!("/groups/{gid}"), Some(json!({"name": secret}))),
            app.post(
                &admin,
                "/users",
                json!({"username": "u1", "email": "u1@example.com", "name": secret, "password": "a-long-passphrase-1"}),
            ),
            app.call(&admin, "PUT", "/users/1", Some(json!({"name": secret}))),
            app.post(&admin, "/organizations", json!({"name": secret, "path": "o"})),
        ];
        for (i, reply) in refused.iter().enumerate() {
            assert_eq!(reply.status, 400, "case {i}: {}", reply.text);
            // A job token is longer than a name may be: that refusal comes first.
            if secret.len() <= 255 {
                assert!(reply.text.contains("looks like a credential"), "case {i}: {}", reply.text);
            }
            assert!(!reply.text.contains(secret.as_str()), "the answer never echoes the secret");
        }
    }
    // A bare routable token as a path, where paths allow its characters.
    let as_path = app.post(&admin, "/groups", json!({"name": "H", "path": secrets[2]}));
    assert_eq!(as_path.status, 400, "{}", as_path.text);
    assert_eq!(token_count(&app), before, "no token was written");
    assert_eq!(app.get(&admin, "/groups").body.as_array().map(Vec::len), Some(1), "no group was written");
    assert_eq!(app.get(&admin, &format!("/projects/{pid}")).body["description"], "", "nothing was changed");
    // Ordinary long words and dotted names are no secrets.
    let fine =
        app.post(&admin, "/groups", json!({"name": "abcdefghijklmnopqrstuvwxyz release-2026.01.04", "path": "h"}));
    assert_eq!(fine.status, 201, "{}", fine.text);
}

/// Near misses of a valid value: padded, case-folded, with a tab or an invisible character.
fn near_misses(valid: &str) -> Vec<String> {
    let mut upper = valid.to_owned();
    if let Some(first) = upper.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let mut misses = vec![format!("{valid} "), format!(" {valid}"), format!("{valid}\t"), format!("{valid}\u{200b}")];
    if upper != valid {
        misses.push(upper);
    }
    misses
}

#[test]
fn every_enumerated_value_is_matched_byte_for_byte_and_a_near_miss_is_400_writing_nothing() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = app.post(&admin, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    let alice = app.create_user("alice");
    let groups = |app: &TestApp| app.get(&admin, "/groups").body.as_array().map(Vec::len);
    let (tokens_before, groups_before) = (token_count(&app), groups(&app));
    let mut checked = 0;
    for scope in ["api", "read_api", "read_user", "read_repository", "write_repository", "self_rotate"] {
        for miss in near_misses(scope) {
            let reply = app.post(&admin, "/user/personal_access_tokens", json!({"name": "t", "scopes": [miss]}));
            assert_eq!(reply.status, 400, "scope {miss:?}: {}", reply.text);
            checked += 1;
        }
    }
    for access in ["all_memberships", "personal_projects", "selected_memberships", "user", "instance"] {
        for miss in near_misses(access) {
            let grants = json!([{"access": miss, "permissions": ["read_project"]}]);
            let reply =
                app.post(&admin, "/user/personal_access_tokens", json!({"name": "t", "granular_scopes": grants}));
            assert_eq!(reply.status, 400, "access {miss:?}: {}", reply.text);
            checked += 1;
        }
    }
    for permission in ["read_project", "read_job"] {
        for miss in near_misses(permission) {
            let grants = json!([{"access": "all_memberships", "permissions": [miss]}]);
            let reply =
                app.post(&admin, "/user/personal_access_tokens", json!({"name": "t", "granular_scopes": grants}));
            assert_eq!(reply.status, 400, "permission {miss:?}: {}", reply.text);
            checked += 1;
        }
    }
    for visibility in ["private", "internal", "public"] {
        for miss in near_misses(visibility) {
            let reply = app.post(&admin, "/groups", json!({"name": "H", "path": "h", "visibility": miss}));
            assert_eq!(reply.status, 400, "visibility {miss:?}: {}", reply.text);
            checked += 1;
        }
    }
    for level in ["10", "20", "30", "40", "50"] {
        for miss in near_misses(level) {
            let body = json!({"user_id": alice, "access_level": miss});
            let reply = app.post(&admin, &format!("/groups/{gid}/members"), body);
            assert_eq!(reply.status, 400, "access_level {miss:?}: {}", reply.text);
            checked += 1;
        }
    }
    let queries: [(&str, &str, &[&str]); 6] = [
        ("/users", "state", &["active", "blocked"]),
        ("/personal_access_tokens", "state", &["active", "inactive"]),
        ("/admin/credentials", "type", &["personal_access_token", "impersonation_token"]),
        ("/projects", "order_by", &["id", "name", "path", "created_at", "updated_at", "last_activity_at"]),
        ("/users", "order_by", &["id", "name", "username", "created_at", "updated_at"]),
        ("/projects", "sort", &["asc", "desc"]),
    ];
    for (list, key, values) in queries {
        for value in values {
            let ok = app.get(&admin, &format!("{list}?{key}={value}"));
            assert_eq!(ok.status, 200, "{list}?{key}={value}: {}", ok.text);
            for miss in near_misses(value) {
                let encoded: String = miss.bytes().map(|b| format!("%{b:02X}")).collect();
                let reply = app.get(&admin, &format!("{list}?{key}={encoded}"));
                assert_eq!(reply.status, 400, "{list}?{key}={miss:?}: {}", reply.text);
                checked += 1;
            }
        }
    }
    assert_eq!((token_count(&app), groups(&app)), (tokens_before, groups_before), "no near miss wrote anything");
    assert!(app.get(&admin, &format!("/groups/{gid}/members")).body.as_array().is_some_and(|m| m.len() == 1));
    assert!(checked > 150, "{checked}");
}
