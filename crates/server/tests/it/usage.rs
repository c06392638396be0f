//! Least privilege from use: what a token exercised, per assignable permission and boundary, and the smallest
//! fine-grained grant that covers it, which then allows exactly those requests.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn pairs(usage: &Reply) -> Vec<(String, String)> {
    let items = usage.body["exercised"].as_array().unwrap_or_else(|| panic!("no usage in {}", usage.text));
    items
        .iter()
        .map(|u| (u["permission"].as_str().unwrap().to_owned(), u["boundary"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_token_s_use_is_recorded_and_the_suggested_grant_allows_exactly_what_it_did() {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = id(&app.post(&admin, "/groups", json!({"name": "G", "path": "g"})));
    let used = id(&app.post(&admin, "/projects", json!({"name": "Used", "path": "used", "namespace_id": group})));
    let idle = id(&app.post(&admin, "/projects", json!({"name": "Idle", "path": "idle", "namespace_id": group})));
    let dev = app.create_user("dev");
    let added = app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": dev, "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    let (broad_id, broad) = app.token_for(dev, &["api"]);
    let forward = |token: &str, method: &str, path: &str| {
        app.raw(method, &format!("/-/auth/api/v4{path}"), &[("PRIVATE-TOKEN", token)], None)
    };

    // What the token does: reads a project and its issues, opens an issue (through a gateway), reads itself.
    assert_eq!(forward(&broad, "GET", &format!("/projects/{used}")).status, 200);
    assert_eq!(forward(&broad, "GET", &format!("/projects/{used}/issues")).status, 200);
    assert_eq!(forward(&broad, "POST", &format!("/projects/{used}/issues")).status, 200);
    assert_eq!(app.get(&broad, "/user").status, 200);
    // Asking the decision API about another project is not using it.
    let asked = app.post(
        &admin,
        "/internal/authorize",
        json!({"requests": [{"credential": broad, "method": "GET", "path": format!("/api/v4/projects/{idle}")}]}),
    );
    assert_eq!(asked.body["results"][0]["allowed"], true, "{}", asked.text);

    let usage = app.get(&broad, &format!("/personal_access_tokens/{broad_id}/usage"));
    assert_eq!(usage.status, 200, "{}", usage.text);
    let exercised = pairs(&usage);
    let at_used = format!("project:{used}");
    for expected in [("read_project", at_used.as_str()), ("read_user", "user")] {
        assert!(exercised.contains(&(expected.0.to_owned(), expected.1.to_owned())), "{expected:?} in {exercised:?}");
    }
    assert!(
        exercised.iter().filter(|(_, b)| *b == at_used).count() >= 3,
        "project, issues read and written: {exercised:?}"
    );
    assert!(!exercised.iter().any(|(_, b)| *b == format!("project:{idle}")), "{exercised:?}");
    let first = &usage.body["exercised"][0];
    assert!(first["uses"].as_i64().unwrap() >= 1 && first["last_used_at"].is_string(), "{first}");

    // The suggestion, created as is, allows every recorded request and nothing else.
    let suggested: Value = usage.body["granular_scopes"].clone();
    let narrow =
        app.post(&broad, "/user/personal_access_tokens", json!({"name": "narrow", "granular_scopes": suggested}));
    assert_eq!(narrow.status, 201, "{}", narrow.text);
    let narrow = narrow.body["token"].as_str().unwrap().to_owned();
    assert_eq!(forward(&narrow, "GET", &format!("/projects/{used}")).status, 200);
    assert_eq!(forward(&narrow, "GET", &format!("/projects/{used}/issues")).status, 200);
    assert_eq!(forward(&narrow, "POST", &format!("/projects/{used}/issues")).status, 200);
    assert_eq!(app.get(&narrow, "/user").status, 200);
    assert_eq!(forward(&broad, "GET", &format!("/projects/{idle}")).status, 200, "the broad token reaches it");
    assert_eq!(forward(&narrow, "GET", &format!("/projects/{idle}")).status, 403, "never used: not granted");
    assert_eq!(forward(&narrow, "POST", &format!("/projects/{used}/merge_requests")).status, 403);
    assert_eq!(forward(&narrow, "DELETE", &format!("/projects/{used}")).status, 403);
}

#[test]
fn usage_is_shown_to_the_token_s_owner_and_administrators_over_a_bounded_window() {
    let app = TestApp::spawn();
    let dev = app.create_user("dev");
    let other = app.create_user("other");
    let (dev_id, dev_token) = app.token_for(dev, &["api"]);
    let (_, other_token) = app.token_for(other, &["api"]);
    assert_eq!(app.get(&dev_token, "/user").status, 200);
    let path = format!("/personal_access_tokens/{dev_id}/usage");
    assert_eq!(app.get(&other_token, &path).status, 401, "another user's token looks absent");
    assert_eq!(app.get(&app.admin_token, &path).status, 200);
    let own = app.get(&dev_token, "/personal_access_tokens/self/usage?days=7");
    assert_eq!(own.status, 200, "{}", own.text);
    assert!(pairs(&own).contains(&("read_user".to_owned(), "user".to_owned())), "{}", own.text);
    for days in ["0", "366", "soon"] {
        assert_eq!(app.get(&dev_token, &format!("{path}?days={days}")).status, 400, "days={days}");
    }
    // Uses older than the window are left out.
    app.advance_days(10);
    let (_, fresh) = app.token_for(dev, &["read_user"]);
    assert_eq!(app.get(&fresh, "/user").status, 200);
    let recent = app.get(&app.admin_token, &format!("{path}?days=5"));
    assert_eq!(recent.body["exercised"], json!([]), "{}", recent.text);
    assert_eq!(recent.body["granular_scopes"], json!([]));
}
