//! The token information API (issue 15, point 8): administrators identify and revoke any credential by its value;
//! anyone may report a leaked one, which is revoked, audited and told to its owner. Unknown and malformed strings
//! are answered alike, and no answer or audit entry holds the secret.

use serde_json::json;

use crate::helpers::{Reply, TestApp};

struct World {
    app: TestApp,
    alice: i64,
    /// Alice's personal token, an impersonation token of hers, a runner's token and a running job's token.
    personal: String,
    impersonation: String,
    runner: String,
    job: String,
    job_id: i64,
}

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn world() -> World {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let group = id(&app.post(&admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(&admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let alice = app.create_user("alice");
    app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": alice, "access_level": 30}));
    let (_, personal) = app.token_for(alice, &["api"]);
    let impersonation =
        app.post(&admin, &format!("/users/{alice}/impersonation_tokens"), json!({"name": "i", "scopes": ["api"]}));
    let runner = app.post(&admin, "/user/runners", json!({"runner_type": "instance_type", "description": "r"}));
    let job = app.post(&admin, "/internal/ci/jobs", json!({"project_id": project, "user_id": alice, "ref": "main"}));
    assert_eq!(job.status, 201, "{}", job.text);
    let text = |reply: &Reply| reply.body["token"].as_str().unwrap().to_owned();
    World {
        alice,
        personal,
        impersonation: text(&impersonation),
        runner: text(&runner),
        job: text(&job),
        job_id: id(&job),
        app,
    }
}

fn identify(app: &TestApp, as_token: &str, token: &str) -> Reply {
    app.post(as_token, "/admin/token", json!({"token": token}))
}

#[test]
fn an_administrator_identifies_every_kind_by_its_value_and_never_sees_the_secret() {
    let w = world();
    let admin = &w.app.admin_token;
    for (secret, kind) in [
        (&w.personal, "personal_access_token"),
        (&w.impersonation, "impersonation_token"),
        (&w.runner, "runner_authentication_token"),
        (&w.job, "ci_job_token"),
    ] {
        let reply = identify(&w.app, admin, secret);
        assert_eq!(reply.status, 200, "{kind}: {}", reply.text);
        assert_eq!(reply.body["type"], kind, "{}", reply.text);
        assert_eq!(reply.body["state"], "active");
        assert!(!reply.text.contains(secret.as_str()), "the answer never holds the secret");
    }
    let personal = identify(&w.app, admin, &w.personal);
    assert_eq!(personal.body["owner"]["username"], "alice");
    assert_eq!(personal.body["user_id"], w.alice);
    assert_eq!(personal.body["scopes"], json!(["api"]));
    let job = identify(&w.app, admin, &w.job);
    assert_eq!((job.body["job_id"].as_i64(), job.body["user_id"].as_i64()), (Some(w.job_id), Some(w.alice)));
}

#[test]
fn unknown_and_malformed_strings_get_the_same_404_and_only_administrators_may_ask() {
    let w = world();
    let admin = &w.app.admin_token;
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), ..tokens::RoutingPayload::default() };
    let unknown = tokens::mint("glpat-", &[3; tokens::RANDOM_BYTES], &payload).unwrap();
    let mut bad_checksum = w.personal.clone();
    bad_checksum.pop();
    bad_checksum.push(if w.personal.ends_with('0') { '1' } else { '0' });
    let long = "x".repeat(9000);
    let answers: Vec<Reply> = [unknown.as_str(), &bad_checksum, "glrt-nope", "glcbt-eyJ.x.y", "hello", long.as_str()]
        .iter()
        .map(|s| identify(&w.app, admin, s))
        .collect();
    for reply in &answers {
        assert_eq!((reply.status, &reply.text), (404, &answers[0].text), "the same answer for every non-credential");
    }
    let missing = w.app.post(admin, "/admin/token", json!({}));
    assert_eq!(missing.status, 400, "{}", missing.text);
    assert_eq!(identify(&w.app, &w.personal, &w.runner).status, 403, "not an administrator");
    let anonymous = w.app.raw(
        "POST",
        "/api/v4/admin/token",
        &[("Content-Type", "application/json")],
        Some(("application/json", b"{\"token\":\"x\"}")),
    );
    assert_eq!(anonymous.status, 401);
}

#[test]
fn an_administrator_revokes_any_credential_by_its_value() {
    let w = world();
    let (app, admin) = (&w.app, &w.app.admin_token.clone());
    let revoke = |token: &str| app.call(admin, "DELETE", "/admin/token", Some(json!({"token": token})));
    assert_eq!(app.get(&w.personal, "/user").status, 200);
    assert_eq!(revoke(&w.personal).status, 204);
    assert_eq!(app.get(&w.personal, "/user").status, 401, "a revoked token is refused at once");
    assert_eq!(identify(app, admin, &w.personal).body["state"], "revoked", "a revoked token can still be identified");
    assert_eq!(revoke(&w.personal).status, 400, "already revoked");
    assert_eq!(revoke(&w.impersonation).status, 204);
    assert_eq!(app.get(&w.impersonation, "/user").status, 401);

    let job_path = "/-/auth/api/v4/job";
    assert_eq!(app.raw("GET", job_path, &[("JOB-TOKEN", &w.job)], None).status, 200);
    assert_eq!(revoke(&w.job).status, 204, "a job token ends with its job");
    assert_eq!(app.raw("GET", job_path, &[("JOB-TOKEN", &w.job)], None).status, 401);
    assert_eq!(identify(app, admin, &w.job).status, 404, "the ended job's token is no credential any more");
    let audit = app.get(admin, &format!("/audit_events?entity_id={}", w.job_id));
    assert!(audit.text.contains("\"status\":\"canceled\""), "{}", audit.text);

    let runner_call = |token: &str| {
        let body = json!({"project_id": 1, "user_id": w.alice, "ref": "main"}).to_string();
        let auth = format!("Bearer {token}");
        app.raw(
            "POST",
            "/api/v4/internal/ci/jobs",
            &[("Authorization", &auth)],
            Some(("application/json", body.as_bytes())),
        )
    };
    assert_ne!(runner_call(&w.runner).status, 401);
    assert_eq!(revoke(&w.runner).status, 204);
    assert_eq!(runner_call(&w.runner).status, 401, "a revoked runner token is refused");
    assert_eq!(revoke("glpat-unknown").status, 404);
    let audit = app.get(admin, "/audit_events?per_page=100");
    for secret in [&w.personal, &w.impersonation, &w.runner, &w.job] {
        assert!(!audit.text.contains(secret.as_str()), "no audit entry holds a secret");
    }
    assert!(audit.text.contains("runner_authentication_token_revoked"), "{}", audit.text);
}

#[test]
fn a_leak_report_revokes_the_credential_tells_its_owner_and_answers_the_same_whatever_was_sent() {
    let w = world();
    let app = &w.app;
    let report = |body: serde_json::Value| {
        let body = body.to_string();
        app.raw("POST", "/api/v4/internal/tokens/leaked", &[], Some(("application/json", body.as_bytes())))
    };
    let (_, watcher) = app.token_for(w.alice, &["read_user"]);
    let leaked = report(json!({"token": w.personal, "url": "https://example.com/leak", "source": "scanner"}));
    assert_eq!(leaked.status, 202, "{}", leaked.text);
    assert_eq!(app.get(&w.personal, "/user").status, 401, "the leaked token is revoked");
    let nothing = report(json!({"token": "glpat-not-a-token"}));
    assert_eq!((nothing.status, &nothing.text), (202, &leaked.text), "the reporter learns nothing");
    let batch = report(json!([{"token": w.impersonation, "type": "gitlab_token"}, {"token": w.job}]));
    assert_eq!(batch.status, 202, "GitHub's array of reports: {}", batch.text);
    assert_eq!(app.get(&w.impersonation, "/user").status, 401);
    let told = app.get(&watcher, "/user/notifications");
    assert!(told.text.contains("https://example.com/leak") && told.text.contains("has been revoked"), "{}", told.text);
    let audit = app.get(&app.admin_token, "/audit_events?per_page=100");
    assert!(audit.text.contains("credential_leaked"), "{}", audit.text);
    assert!(!audit.text.contains(w.personal.as_str()) && !told.text.contains(w.personal.as_str()));
    for bad in [json!("text"), json!([]), json!({"url": "x"}), json!({"token": 5})] {
        assert_eq!(report(bad.clone()).status, 400, "{bad}");
    }
    let mut limited = 0;
    for _ in 0..40 {
        if report(json!({"token": "glpat-x"})).status == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "reports are rate-limited per address");
}
