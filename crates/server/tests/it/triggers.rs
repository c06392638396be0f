//! Pipeline trigger tokens (issue 15, point 4): `/projects/:id/triggers` made and managed by maintainers, and
//! `POST /projects/:id/trigger/pipeline` with `token` and `ref`, which starts a pipeline and its job as the
//! trigger's owner with the owner's current role; a trigger token reaches nothing else.

use serde_json::json;

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

struct World {
    project: i64,
    other: i64,
    owner_id: i64,
    maintainer: String,
    developer: String,
}

/// Private project `g/p` with a maintainer and a developer, and private project `g/q`.
fn world(app: &TestApp) -> World {
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let other = id(&app.post(admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": group})));
    let mut made = Vec::new();
    for (name, level) in [("mai", 40), ("dev", 30)] {
        let user = app.create_user(name);
        let added =
            app.post(admin, &format!("/projects/{project}/members"), json!({"user_id": user, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
        made.push((user, app.token_for(user, &["api"]).1));
    }
    let (_, developer) = made.pop().unwrap();
    let (owner_id, maintainer) = made.pop().unwrap();
    World { project, other, owner_id, maintainer, developer }
}

fn run(app: &TestApp, project: i64, body: serde_json::Value) -> Reply {
    let body = body.to_string();
    app.raw(
        "POST",
        &format!("/api/v4/projects/{project}/trigger/pipeline"),
        &[],
        Some(("application/json", body.as_bytes())),
    )
}

#[test]
fn a_trigger_token_runs_a_pipeline_of_its_project_as_its_owner_and_reaches_nothing_else() {
    let app = TestApp::spawn();
    let w = world(&app);
    let triggers = format!("/projects/{}/triggers", w.project);
    let made = app.post(&w.maintainer, &triggers, json!({"description": "nightly"}));
    assert_eq!(made.status, 201, "{}", made.text);
    let token = made.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("glptt-") && token.len() == 46, "{token}");
    assert_eq!(made.body["owner"]["id"], w.owner_id);
    assert_eq!(app.post(&w.developer, &triggers, json!({"description": "x"})).status, 403);

    // The run, with the token in a JSON body, a form body or the query.
    let started = run(&app, w.project, json!({"token": token, "ref": "main", "variables": {"DEPLOY": "1"}}));
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.body["ref"], "main");
    assert_eq!(started.body["source"], "trigger");
    assert_eq!(started.body["user"]["id"], w.owner_id, "the pipeline runs as the trigger's owner");
    let form = format!("token={token}&ref=main");
    let path = format!("/api/v4/projects/{}/trigger/pipeline", w.project);
    let by_form = app.raw("POST", &path, &[], Some(("application/x-www-form-urlencoded", form.as_bytes())));
    assert_eq!(by_form.status, 201, "{}", by_form.text);
    let by_query = app.raw("POST", &format!("{path}?token={token}&ref=main"), &[], None);
    assert_eq!(by_query.status, 201, "{}", by_query.text);
    // Forward-auth decides the trigger route the same way.
    let gateway = app.raw("POST", &format!("/-/auth{path}?token={token}&ref=main"), &[], None);
    assert_eq!(gateway.status, 200, "{}", gateway.text);

    // Nothing else: another project's trigger route, the REST API, other channels.
    assert_eq!(run(&app, w.other, json!({"token": token, "ref": "main"})).status, 404);
    let elsewhere = app.raw("GET", &format!("/api/v4/projects/{}", w.project), &[("PRIVATE-TOKEN", &token)], None);
    assert_eq!(elsewhere.status, 401);
    assert_eq!(app.raw("GET", &format!("/api/v4/projects/{}?token={token}", w.project), &[], None).status, 404);
    let bearer = app.raw("POST", &format!("{path}?ref=main"), &[("Authorization", &format!("Bearer {token}"))], None);
    assert_eq!(bearer.status, 401, "a trigger token is taken from `token` alone");
    // A personal token cannot run the trigger route; beside a trigger token (as python-gitlab sends its own), the
    // route reads the trigger token alone and runs as the trigger's owner.
    let personal = app.raw("POST", &format!("{path}?ref=main"), &[("PRIVATE-TOKEN", &w.maintainer)], None);
    assert_eq!(personal.status, 401, "{}", personal.text);
    let both = app.raw("POST", &format!("{path}?ref=main&token={token}"), &[("PRIVATE-TOKEN", &w.developer)], None);
    assert_eq!((both.status, both.body["user"]["id"].as_i64()), (201, Some(w.owner_id)), "{}", both.text);
    let twice = app.raw("POST", &format!("{path}?ref=main&token={token}&token={token}"), &[], None);
    assert_eq!(twice.status, 401, "a token given twice is refused");
    assert_eq!(
        run(&app, w.project, json!({"token": "glptt-0000000000000000000000000000000000000000", "ref": "main"})).status,
        401
    );
    assert_eq!(run(&app, w.project, json!({"token": token})).status, 400, "ref is required");
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main", "variables": "x"})).status, 400);

    // The owner's current rights: a Developer no longer holds what a trigger's owner must.
    let lowered = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}/members/{}", w.project, w.owner_id),
        Some(json!({"access_level": 30})),
    );
    assert_eq!(lowered.status, 200, "{}", lowered.text);
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main"})).status, 403);
    let restored = app.call(
        &app.admin_token,
        "PUT",
        &format!("/projects/{}/members/{}", w.project, w.owner_id),
        Some(json!({"access_level": 40})),
    );
    assert_eq!(restored.status, 200);
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main"})).status, 201);
    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/block", w.owner_id), json!({})).status, 201);
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main"})).status, 401, "a blocked owner");
    assert_eq!(app.post(&app.admin_token, &format!("/users/{}/unblock", w.owner_id), json!({})).status, 201);

    // Managed: listed without its token, described, identified by the token information API, deleted.
    let trigger_id = id(&made);
    let listed = app.get(&w.maintainer, &triggers);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);
    assert_eq!(listed.body[0]["token"], serde_json::Value::Null);
    assert!(listed.body[0]["last_used"].is_string(), "{}", listed.text);
    let described =
        app.call(&w.maintainer, "PUT", &format!("{triggers}/{trigger_id}"), Some(json!({"description": "weekly"})));
    assert_eq!((described.status, described.body["description"].as_str()), (200, Some("weekly")));
    let info = app.post(&app.admin_token, "/admin/token", json!({"token": token}));
    assert_eq!(info.body["type"], "pipeline_trigger_token", "{}", info.text);
    assert_eq!(app.get(&w.maintainer, &format!("/projects/{}/triggers/{trigger_id}", w.other)).status, 404);
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{triggers}/{trigger_id}"), None).status, 204);
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main"})).status, 401);
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{triggers}/{trigger_id}"), None).status, 404);
    // A new trigger never takes the deleted one's id, so that nothing remembered of the old token names it.
    let next = app.post(&w.maintainer, &triggers, json!({"description": "next"}));
    assert_ne!(id(&next), trigger_id);
    assert_eq!(run(&app, w.project, json!({"token": token, "ref": "main"})).status, 401);
}

#[test]
fn bad_trigger_requests_are_refused_and_write_nothing() {
    let app = TestApp::spawn();
    let w = world(&app);
    let triggers = format!("/projects/{}/triggers", w.project);
    let long = "d".repeat(300);
    for body in [
        json!({"description": long}),
        json!({"description": ["x"]}),
        json!({"description": "x", "expires_at": "2020-01-01"}),
        json!({"description": "x", "expires_at": "soon"}),
        json!({"description": "line\nbreak"}),
    ] {
        let refused = app.post(&w.maintainer, &triggers, body.clone());
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
    }
    assert_eq!(app.get(&w.maintainer, &triggers).body, json!([]));
    let made = app.post(&w.maintainer, &triggers, json!({"description": "ok"}));
    let token = made.body["token"].as_str().unwrap().to_owned();
    for bad_ref in [json!(""), json!("a b"), json!(["main"]), json!("x".repeat(300))] {
        let refused = run(&app, w.project, json!({"token": token, "ref": bad_ref.clone()}));
        assert_eq!(refused.status, 400, "{bad_ref}: {}", refused.text);
    }
    // A deleted project takes its triggers with it.
    let deleted = app.call(&app.admin_token, "DELETE", &format!("/projects/{}", w.project), None);
    assert!(matches!(deleted.status, 202 | 204), "{}", deleted.text);
    let info = app.post(&app.admin_token, "/admin/token", json!({"token": token}));
    assert_eq!(info.status, 404, "{}", info.text);
}
