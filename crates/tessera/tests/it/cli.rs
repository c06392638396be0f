//! `tessera serve` started as a process, and the client commands run against it.

use std::process::{Child, Command};

struct Served {
    child: Child,
    url: String,
    token: String,
    data_dir: std::path::PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn serve() -> Served {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    let data_dir = std::env::temp_dir().join(format!("tessera-cli-{}", u64::from_le_bytes(random)));
    let started = crate::serve::start(&data_dir, None);
    let token = started.token.clone().unwrap_or_default();
    assert!(!token.is_empty(), "the server printed its token");
    Served { child: started.child, url: started.url, token, data_dir }
}

fn run(served: &Served, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env("TESSERA_URL", &served.url)
        .env("TESSERA_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_manages_users_tokens_groups_projects_and_members() {
    let served = serve();
    let t = served.token.clone();
    let (ok, out, err) = run(
        &served,
        &t,
        &[
            "user",
            "create",
            "--username",
            "alice",
            "--email",
            "alice@example.com",
            "--name",
            "Alice",
            "--password",
            "a long password",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("alice"));
    let (ok, out, _) = run(
        &served,
        &t,
        &["token", "create", "--user", "2", "--name", "deploy", "--scopes", "read_api,read_user", "--json"],
    );
    assert!(ok);
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let alice_token = created["token"].as_str().unwrap().to_owned();
    let (ok, out, _) = run(&served, &alice_token, &["user", "me"]);
    assert!(ok);
    assert!(out.lines().next().unwrap().starts_with("ID"), "a table with a header: {out}");
    assert!(out.contains("alice"));
    let (ok, out, _) = run(&served, &t, &["token", "list", "--user-id", "2"]);
    assert!(ok);
    assert!(out.contains("deploy") && out.contains("read_api,read_user"), "{out}");
    assert!(!out.contains("glpat-"), "listings never show a secret");
    let id = created["id"].to_string();
    let (ok, out, _) = run(&served, &t, &["token", "rotate", &id]);
    assert!(ok);
    assert!(out.contains("Token (shown once): glpat-"));
    let (ok, _, err) = run(&served, &alice_token, &["user", "me"]);
    assert!(!ok, "the rotated token is revoked");
    assert!(err.contains("401"), "{err}");
    let (ok, _, err) = run(&served, &t, &["group", "create", "--name", "Platform", "--path", "platform"]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&served, &t, &["project", "create", "--name", "API", "--namespace-id", "3"]);
    assert!(ok, "{err}");
    assert!(out.contains("platform/api"));
    let (ok, _, err) =
        run(&served, &t, &["member", "add", "--group", "platform", "--user-id", "2", "--access-level", "30"]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&served, &t, &["member", "list", "--project", "platform/api", "--all"]);
    assert!(ok);
    assert!(out.contains("alice") && out.contains("30"), "{out}");
    let (ok, out, _) =
        run(&served, &t, &["token", "create", "--user", "2", "--name", "ci", "--scopes", "api", "--json"]);
    assert!(ok);
    let dev_token = serde_json::from_str::<serde_json::Value>(&out).unwrap()["token"].as_str().unwrap().to_owned();
    let (ok, out, err) =
        run(&served, &t, &["explain", "--token", &dev_token, "POST", "/api/v4/projects/platform%2Fapi/issues"]);
    assert!(ok, "{err}");
    assert!(out.contains("decision  allowed (200)") && out.contains("create_issue"), "{out}");
    assert!(out.contains("identity  user 2 (alice)"), "{out}");
    assert!(!out.contains(&dev_token), "the explained token is never printed");
    let (ok, out, err) =
        run(&served, &t, &["explain", "--token", &dev_token, "DELETE", "/api/v4/projects/platform%2Fapi"]);
    assert!(ok, "{err}");
    assert!(out.contains("decision  denied (403)") && out.contains("layer     role"), "{out}");
    assert!(out.contains("required  remove_project"), "{out}");
    let (ok, _, err) = run(&served, &dev_token, &["explain", "GET", "/api/v4/user"]);
    assert!(!ok && err.contains("403"), "only administrators and authorize service accounts may ask: {err}");
    let (ok, _, _) = run(&served, &t, &["token", "revoke", "1"]);
    assert!(ok);
    let (ok, _, err) = run(&served, &t, &["token", "list"]);
    assert!(!ok && err.contains("401"));
}

#[test]
fn a_second_start_prints_no_token() {
    let first = serve();
    let data_dir = first.data_dir.clone();
    let mut first = first;
    let _ = first.child.kill();
    let _ = first.child.wait();
    let mut second = crate::serve::start(&data_dir, None);
    let _ = second.child.kill();
    let _ = second.child.wait();
    assert_eq!(second.token, None, "a restart prints no token");
}

#[test]
fn the_cli_suggests_the_grant_a_token_used_and_narrows_the_token_to_it() {
    let served = serve();
    let t = served.token.clone();
    let (ok, _, err) = run(
        &served,
        &t,
        &[
            "user",
            "create",
            "--username",
            "dev",
            "--email",
            "dev@example.com",
            "--name",
            "Dev",
            "--password",
            "a long password",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) =
        run(&served, &t, &["token", "create", "--user", "2", "--name", "broad", "--scopes", "api", "--json"]);
    assert!(ok, "{err}");
    let broad = serde_json::from_str::<serde_json::Value>(&out).unwrap()["token"].as_str().unwrap().to_owned();
    assert!(run(&served, &broad, &["user", "me"]).0);

    let (ok, out, err) = run(&served, &broad, &["token", "suggest", "self"]);
    assert!(ok, "{err}");
    assert!(out.contains("PERMISSION") && out.contains("read_user") && out.contains("user"), "{out}");
    assert!(out.contains("\"access\": \"user\""), "{out}");

    let (ok, out, err) = run(&served, &broad, &["token", "narrow", "self", "--name", "narrow", "--revoke", "--json"]);
    assert!(ok, "{err}");
    let narrow: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(narrow["granular"], true, "{out}");
    let narrow = narrow["token"].as_str().unwrap().to_owned();
    assert!(run(&served, &narrow, &["user", "me"]).0, "the narrowed token does what the broad one did");
    let (ok, _, err) = run(&served, &broad, &["user", "me"]);
    assert!(!ok && err.contains("401"), "--revoke revoked the broad token: {err}");
    let (ok, _, err) = run(&served, &narrow, &["group", "create", "--name", "X", "--path", "x"]);
    assert!(!ok && err.contains("403"), "never used, not granted: {err}");
}

/// An HTTP client that answers every status instead of failing on 4xx and 5xx.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// A JSON call to the served API, for what the CLI does not do itself (starting CI jobs, forward-auth).
fn api(
    served: &Served,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let agent = agent();
    let request = ureq::http::Request::builder().method(method).uri(format!("{}{path}", served.url));
    let request = if token.starts_with("glcbt-") {
        request.header("JOB-TOKEN", token)
    } else {
        request.header("PRIVATE-TOKEN", token)
    };
    let response = match body {
        Some(body) => agent.run(request.header("Content-Type", "application/json").body(body.to_string()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    }
    .unwrap();
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}

/// What `/-/auth` answers for a GET of `uri` with a job token.
fn forward_auth(served: &Served, job_token: &str, uri: &str) -> u16 {
    let agent = agent();
    let request = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("{}/-/auth", served.url))
        .header("JOB-TOKEN", job_token)
        .header("X-Original-Method", "GET")
        .header("X-Original-URI", uri)
        .body(())
        .unwrap();
    agent.run(request).unwrap().status().as_u16()
}

#[test]
fn the_cli_proposes_allowlist_entries_from_job_token_use_and_applies_them() {
    let served = serve();
    let t = served.token.clone();
    let (_, dev) = api(
        &served,
        &t,
        "POST",
        "/api/v4/users",
        Some(
            serde_json::json!({"username": "dev", "email": "dev@example.com", "name": "Dev", "password": "a long password"}),
        ),
    );
    let (_, acme) =
        api(&served, &t, "POST", "/api/v4/groups", Some(serde_json::json!({"name": "Acme", "path": "acme"})));
    let project = |path: &str| {
        let body = serde_json::json!({"name": path, "path": path, "namespace_id": acme["id"]});
        api(&served, &t, "POST", "/api/v4/projects", Some(body)).1["id"].as_i64().unwrap()
    };
    let (app, deploy) = (project("app"), project("deploy"));
    let member = serde_json::json!({"user_id": dev["id"], "access_level": 40});
    assert_eq!(api(&served, &t, "POST", &format!("/api/v4/groups/{}/members", acme["id"]), Some(member)).0, 201);
    let allowlist = format!("/api/v4/projects/{deploy}/job_token_scope/allowlist");
    let entry = serde_json::json!({"target_project_id": app});
    assert_eq!(api(&served, &t, "POST", &allowlist, Some(entry)).0, 201);

    let job = serde_json::json!({"project_id": app, "user_id": dev["id"], "ref": "main", "timeout": 600});
    let (status, job) = api(&served, &t, "POST", "/api/v4/internal/ci/jobs", Some(job));
    assert_eq!(status, 201, "{job}");
    let job_token = job["token"].as_str().unwrap();
    assert_eq!(forward_auth(&served, job_token, &format!("/api/v4/projects/{deploy}/releases")), 200);
    assert_eq!(forward_auth(&served, job_token, &format!("/api/v4/projects/{deploy}/packages")), 200);

    let (ok, out, err) = run(&served, &t, &["job-token", "suggest-allowlist", "acme/deploy"]);
    assert!(ok, "{err}");
    assert!(out.contains("acme/app") && out.contains("read_packages,read_releases"), "{out}");
    let (ok, out, _) = run(&served, &t, &["job-token", "suggest-allowlist", "acme/deploy", "--apply"]);
    assert!(ok && out.contains("already covers"), "an entry with default permissions covers the use: {out}");

    // The project's entry is removed and a narrower entry for its group is left: --apply adds a project entry
    // with what the group's entry allowed plus what was used.
    assert_eq!(api(&served, &t, "DELETE", &format!("{allowlist}/{app}"), Some(serde_json::json!({}))).0, 204);
    let group_entry = serde_json::json!({"target_group_id": acme["id"], "job_token_policies": ["read_environments"]});
    let groups_allowlist = format!("/api/v4/projects/{deploy}/job_token_scope/groups_allowlist");
    assert_eq!(api(&served, &t, "POST", &groups_allowlist, Some(group_entry)).0, 201);
    let (ok, out, err) = run(&served, &t, &["job-token", "suggest-allowlist", "acme/deploy", "--apply", "--json"]);
    assert!(ok, "{err}");
    let applied: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        applied,
        serde_json::json!([{"target_project_id": app, "default_permissions": false,
            "job_token_policies": ["read_environments", "read_packages", "read_releases"]}])
    );

    // The project's entry narrowed below what was used: --apply widens it by what it lacks and keeps what it
    // has (read_jobs, never used).
    let narrowed = serde_json::json!({"job_token_policies": ["read_releases", "read_jobs"]});
    assert_eq!(api(&served, &t, "PATCH", &format!("{allowlist}/{app}"), Some(narrowed)).0, 200);
    let (ok, out, err) = run(&served, &t, &["job-token", "suggest-allowlist", "acme/deploy", "--apply"]);
    assert!(ok, "{err}");
    assert!(out.contains("read_jobs,read_packages,read_releases"), "{out}");
    let (ok, out, err) = run(&served, &t, &["job-token", "allowlist", "acme/deploy"]);
    assert!(ok, "{err}");
    assert!(out.contains("acme/deploy") && out.contains("acme/app"), "{out}");
    assert!(out.contains("read_jobs,read_packages,read_releases"), "{out}");

    let (ok, _, err) = run(&served, &t, &["job-token", "suggest-allowlist", "acme/nothing"]);
    assert!(!ok && err.contains("404"), "{err}");
}
