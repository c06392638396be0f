//! `POST /api/v4/internal/authorize`: the decision API for administrators and `authorize` service accounts.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn ask(app: &TestApp, caller: &str, body: Value) -> Reply {
    app.post(caller, "/internal/authorize", body)
}

/// A private project `g/p`, a developer `dev` in its group with an `api` token, and a reporter `rep` with one.
fn setup(app: &TestApp) -> (i64, String, String) {
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    let project = app.post(&app.admin_token, "/projects", json!({"name": "P", "path": "p", "namespace_id": gid}));
    let pid = project.body["id"].as_i64().unwrap();
    let mut tokens = Vec::new();
    for (name, level) in [("dev", 30), ("rep", 20)] {
        let user = app.create_user(name);
        app.post(&app.admin_token, &format!("/groups/{gid}/members"), json!({"user_id": user, "access_level": level}));
        tokens.push(app.token_for(user, &["api"]).1);
    }
    let rep = tokens.pop().unwrap();
    let dev = tokens.pop().unwrap();
    (pid, dev, rep)
}

#[test]
fn an_administrator_gets_one_answer_per_request_in_order() {
    let app = TestApp::spawn();
    let (pid, dev, rep) = setup(&app);
    let deployments = format!("/api/v4/projects/{pid}/deployments");
    let reply = ask(
        &app,
        &app.admin_token,
        json!({"requests": [
            {"credential": dev, "method": "POST", "path": deployments},
            {"credential": rep, "method": "POST", "path": deployments},
            {"credential": null, "method": "GET", "path": format!("/api/v4/projects/{pid}")},
            {"credential": "glpat-not-a-token", "method": "GET", "path": "/api/v4/user"},
            {"credential": dev, "method": "GET", "path": "/api/v4/no/such/route"},
            {"credential": dev, "method": "GET", "path": "/g/p.git/info/refs?service=git-upload-pack"},
        ]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let results = reply.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    assert_eq!(results[0]["allowed"], true);
    assert_eq!(results[0]["identity"]["username"], "dev");
    assert_eq!(results[0]["required"], json!([["read_deployment", "create_deployment"]]));
    assert_eq!(results[1]["allowed"], false);
    assert_eq!(results[1]["layer"], "role");
    assert_eq!(results[1]["status"], 403);
    assert!(results[1]["reasons"][0].as_str().unwrap().contains("role"));
    assert_eq!(results[2]["allowed"], false);
    assert_eq!(results[2]["status"], 401, "anonymous on a private project: sign in");
    assert_eq!(results[3]["layer"], "credential");
    assert_eq!(results[3]["identity"], Value::Null);
    assert_eq!(results[4]["layer"], "route");
    assert_eq!(results[5]["allowed"], true);
}

#[test]
fn a_service_account_needs_the_authorize_scope_and_people_cannot_have_it() {
    let app = TestApp::spawn();
    let (_, dev, _) = setup(&app);
    let created = app.post(&app.admin_token, "/service_accounts", json!({"name": "Gateway"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let account = created.body["id"].as_i64().unwrap();
    assert!(created.body["username"].as_str().unwrap().starts_with("service_account_"));
    let (_, authorize) = app.token_for(account, &["authorize"]);
    let (_, api_only) = app.token_for(account, &["api"]);
    let body = json!({"requests": [{"credential": dev, "method": "GET", "path": "/api/v4/user"}]});

    let reply = ask(&app, &authorize, body.clone());
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["results"][0]["allowed"], true);
    assert_eq!(ask(&app, &api_only, body.clone()).status, 403, "api alone does not let a service account ask");
    assert_eq!(ask(&app, &dev, body.clone()).status, 403, "a developer may not ask about others");
    assert_eq!(app.raw("POST", "/api/v4/internal/authorize", &[], None).status, 401);
    // The authorize token reaches nothing else.
    assert_eq!(app.get(&authorize, "/user").status, 403);

    let dev_id = app.get(&dev, "/user").body["id"].as_i64().unwrap();
    let refused = app.post(
        &app.admin_token,
        &format!("/users/{dev_id}/personal_access_tokens"),
        json!({"name": "x", "scopes": ["authorize"]}),
    );
    assert_eq!(refused.status, 400, "{}", refused.text);
}

#[test]
fn a_malformed_or_oversized_batch_is_a_400() {
    let app = TestApp::spawn();
    let one = json!({"method": "GET", "path": "/api/v4/user"});
    for body in [
        json!({"requests": vec![one.clone(); 1001]}),
        json!({"requests": []}),
        json!({"requests": [{"method": "GET"}]}),
        json!({"requests": [{"method": "GET", "path": "relative"}]}),
        json!({"asks": []}),
        json!([1, 2]),
    ] {
        let reply = ask(&app, &app.admin_token, body);
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert!(reply.body["error"].is_string(), "{}", reply.text);
    }
    let full = ask(&app, &app.admin_token, json!({"requests": vec![one; 1000]}));
    assert_eq!(full.status, 200, "{}", full.text);
    assert_eq!(full.body["results"].as_array().unwrap().len(), 1000);
}

#[test]
fn a_body_past_the_batch_limit_is_a_bad_request_and_the_next_call_is_answered() {
    let app = TestApp::spawn();
    let (pid, dev, _) = setup(&app);
    // A batch padded with whitespace to one byte past 4 MiB: refused as a whole, in GitLab's error shape.
    let mut body = json!({"requests": []}).to_string().into_bytes();
    body.resize(4 * 1024 * 1024 + 1, b' ');
    let headers = [("PRIVATE-TOKEN", app.admin_token.as_str())];
    let reply = app.raw("POST", "/api/v4/internal/authorize", &headers, Some(("application/json", &body)));
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(reply.body["error"].as_str().unwrap_or_default().contains("larger than"), "{}", reply.text);
    // A batch just under the limit is read whole.
    let mut body =
        json!({"requests": [{"credential": dev, "method": "GET", "path": format!("/api/v4/projects/{pid}")}]})
            .to_string()
            .into_bytes();
    body.resize(4 * 1024 * 1024, b' ');
    let reply = app.raw("POST", "/api/v4/internal/authorize", &headers, Some(("application/json", &body)));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["results"][0]["allowed"], true);
}

#[test]
fn a_token_presented_again_in_a_batch_is_still_judged_per_request_and_a_revocation_reaches_the_next_call() {
    let app = TestApp::spawn();
    let (pid, dev, rep) = setup(&app);
    let deployments = format!("/api/v4/projects/{pid}/deployments");
    let dev_id = app.get(&dev, "/personal_access_tokens/self").body["id"].as_i64().unwrap();
    let batch = json!({"requests": [
        {"credential": dev, "method": "POST", "path": deployments},
        {"credential": dev, "method": "POST", "path": deployments},
        {"credential": dev, "channel": "JOB-TOKEN", "method": "POST", "path": deployments},
        {"credential": dev, "method": "POST", "path": deployments},
        {"credential": rep, "method": "POST", "path": deployments},
        {"credential": dev, "method": "DELETE", "path": format!("/api/v4/projects/{pid}")},
        {"credential": dev, "method": "POST", "path": deployments},
    ]});
    let statuses = |reply: &Reply| -> Vec<u64> {
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.body["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect()
    };
    let first = ask(&app, &app.admin_token, batch.clone());
    // Its wrong channel, another token and another route are each decided as they come.
    assert_eq!(statuses(&first), [200, 200, 401, 200, 403, 403, 200]);
    assert_eq!(first.body["results"][3]["identity"]["username"], "dev");
    assert_eq!(first.body["results"][4]["identity"]["username"], "rep");

    let revoked = app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{dev_id}"), None);
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let second = ask(&app, &app.admin_token, batch);
    assert_eq!(statuses(&second), [401, 401, 401, 401, 403, 401, 401]);
}
