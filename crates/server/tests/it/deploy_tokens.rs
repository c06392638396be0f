//! Deploy tokens (issue 15, point 2): `gldt-` tokens of a project or group, with GitLab's endpoints, that reach
//! Git reads, the container registry and the package registry of their resource by their scopes, and nothing of
//! the REST API; presented as `DEPLOY-TOKEN`, Bearer, or Basic with their own username.

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn secret(reply: &Reply) -> String {
    reply.body["token"].as_str().unwrap_or_else(|| panic!("no token in {}", reply.text)).to_owned()
}

struct World {
    group: i64,
    project: i64,
    maintainer: String,
    developer: String,
}

/// Private group `g` with project `g/p` and `g/q`, private project `h/r` beside it, a maintainer and a developer of
/// `g/p`.
fn world(app: &TestApp) -> World {
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    app.post(admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": group}));
    let beside = id(&app.post(admin, "/groups", json!({"name": "H", "path": "h"})));
    app.post(admin, "/projects", json!({"name": "R", "path": "r", "namespace_id": beside}));
    let mut tokens = Vec::new();
    for (name, level) in [("mai", 40), ("dev", 30)] {
        let user = app.create_user(name);
        let added =
            app.post(admin, &format!("/projects/{project}/members"), json!({"user_id": user, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
        tokens.push(app.token_for(user, &["api"]).1);
    }
    let developer = tokens.pop().unwrap();
    let maintainer = tokens.pop().unwrap();
    World { group, project, maintainer, developer }
}

fn basic(username: &str, token: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}")))
}

/// The status forward-auth (nginx form) answers for `method uri` with one header.
fn gateway(app: &TestApp, header: (&str, &str), method: &str, uri: &str) -> u16 {
    app.raw("GET", "/-/auth", &[header, ("X-Original-Method", method), ("X-Original-URI", uri)], None).status
}

fn decided(app: &TestApp, token: &str, method: &str, path: &str) -> Value {
    let reply = app.post(
        &app.admin_token,
        "/internal/authorize",
        json!({"requests": [{"credential": token, "method": method, "path": path}]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.body["results"][0].clone()
}

const CLONE: &str = "/g/p.git/info/refs?service=git-upload-pack";

#[test]
fn a_project_deploy_token_clones_and_pulls_its_project_and_reaches_nothing_of_the_rest_api() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/deploy_tokens", w.project);
    let made = app.post(&w.maintainer, &tokens, json!({"name": "ci", "scopes": ["read_repository", "read_registry"]}));
    assert_eq!(made.status, 201, "{}", made.text);
    let token = secret(&made);
    assert!(token.starts_with("gldt-"), "{token}");
    let token_id = id(&made);
    let username = format!("gitlab+deploy-token-{token_id}");
    assert_eq!(made.body["username"], username.as_str());
    assert_eq!(made.body["revoked"], false);

    // Git reads, through every channel of its row; Basic needs its own username.
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", CLONE), 200);
    assert_eq!(gateway(&app, ("Authorization", &basic(&username, &token)), "GET", CLONE), 200);
    assert_eq!(gateway(&app, ("Authorization", &format!("Bearer {token}")), "GET", CLONE), 200);
    assert_eq!(gateway(&app, ("Authorization", &basic("someone-else", &token)), "GET", CLONE), 401);
    assert_eq!(gateway(&app, ("PRIVATE-TOKEN", &token), "GET", CLONE), 401);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "POST", "/g/p.git/git-upload-pack"), 200);
    // No push, no other project, no REST API.
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", "/g/p.git/info/refs?service=git-receive-pack"), 401);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", "/g/q.git/info/refs?service=git-upload-pack"), 403);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", "/h/r.git/info/refs?service=git-upload-pack"), 403);
    let rest = app.raw("GET", &format!("/api/v4/projects/{}", w.project), &[("DEPLOY-TOKEN", &token)], None);
    assert_eq!(rest.status, 401, "{}", rest.text);
    assert_eq!(app.raw("GET", "/api/v4/user", &[("DEPLOY-TOKEN", &token)], None).status, 401);
    // The registry: pulls by read_registry, no pushes without write_registry.
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", "/v2/g/p/manifests/latest"), 200);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "PUT", "/v2/g/p/manifests/latest"), 403);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", "/v2/g/q/manifests/latest"), 403);
    // The decision API agrees, and names the deploy token as the identity.
    let answer = decided(&app, &token, "GET", CLONE);
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["identity"]["token_type"], "deploy_token");
    assert_eq!(answer["identity"]["username"], username.as_str());
    assert_eq!(decided(&app, &token, "GET", &format!("/api/v4/projects/{}", w.project))["status"], 401);

    // Its last use is recorded, as a user token's.
    let shown = app.get(&w.maintainer, &format!("{tokens}/{token_id}"));
    let inventory = app.get(&app.admin_token, "/admin/credentials?type=deploy_token");
    assert!(inventory.body[0]["last_used_at"].is_string(), "{} {}", shown.text, inventory.text);
    assert_eq!(inventory.body[0]["last_used_ips"], json!(["127.0.0.1"]), "{}", inventory.text);
    // Listed and shown on its project, not on another; administrators list every one.
    let listed = app.get(&w.maintainer, &tokens);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);
    assert!(listed.body[0].get("token").is_none(), "a listing never shows the secret");
    assert_eq!(app.get(&w.maintainer, &format!("{tokens}/{token_id}")).body["name"], "ci");
    assert_eq!(app.get(&app.admin_token, "/deploy_tokens").body.as_array().map(Vec::len), Some(1));
    assert_eq!(app.get(&w.developer, &tokens).status, 403, "a developer does not manage deploy tokens");
    // The token information API knows it, and revocation ends it at once.
    let info = app.post(&app.admin_token, "/admin/token", json!({"token": token}));
    assert_eq!((info.status, info.body["type"].as_str()), (200, Some("deploy_token")), "{}", info.text);
    assert!(!info.text.contains(&token), "the information never holds the secret");
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{tokens}/{token_id}"), None).status, 204);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &token), "GET", CLONE), 401);
    assert_eq!(app.call(&w.maintainer, "DELETE", &format!("{tokens}/{token_id}"), None).status, 400);
    assert_eq!(app.get(&w.maintainer, &format!("{tokens}?active=false")).body.as_array().map(Vec::len), Some(1));
    assert_eq!(app.get(&w.maintainer, &format!("{tokens}?active=true")).body, json!([]));
}

#[test]
fn a_group_deploy_token_reaches_the_groups_projects_and_its_lifecycle_ends_it() {
    let app = TestApp::spawn();
    let w = world(&app);
    let admin = &app.admin_token;
    let made = app.post(
        admin,
        &format!("/groups/{}/deploy_tokens", w.group),
        json!({"name": "pkg", "username": "packager", "scopes": ["read_package_registry", "write_package_registry", "read_repository"]}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    let token = secret(&made);
    let header = ("DEPLOY-TOKEN", token.as_str());
    assert_eq!(gateway(&app, header, "GET", CLONE), 200);
    assert_eq!(gateway(&app, header, "GET", "/g/q.git/info/refs?service=git-upload-pack"), 200);
    assert_eq!(gateway(&app, header, "GET", "/h/r.git/info/refs?service=git-upload-pack"), 403);
    let packages = format!("/api/v4/projects/{}/packages", w.project);
    assert_eq!(gateway(&app, header, "GET", &packages), 200);
    let upload = format!("/api/v4/projects/{}/packages/generic/app/1.0.0/app.tar.gz", w.project);
    assert_eq!(gateway(&app, header, "PUT", &upload), 200);
    assert_eq!(gateway(&app, header, "DELETE", &format!("{packages}/1")), 403, "no package deletion");
    assert_eq!(gateway(&app, header, "GET", "/v2/g/p/manifests/latest"), 403, "no registry scope");
    assert_eq!(gateway(&app, ("Authorization", &basic("packager", &token)), "GET", &packages), 200);

    // Expiry: a token made to end tomorrow is refused from 00:00 UTC of that day.
    let tomorrow = app.clock_today().add_days(1).to_string();
    let brief = app.post(
        admin,
        &format!("/projects/{}/deploy_tokens", w.project),
        json!({"name": "brief", "scopes": ["read_repository"], "expires_at": format!("{tomorrow}T12:00:00Z")}),
    );
    assert_eq!(brief.status, 201, "{}", brief.text);
    assert_eq!(brief.body["expires_at"].as_str().map(|t| t.starts_with(&tomorrow)), Some(true), "{}", brief.text);
    let brief = secret(&brief);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &brief), "GET", CLONE), 200);
    app.advance_days(1);
    assert_eq!(gateway(&app, ("DEPLOY-TOKEN", &brief), "GET", CLONE), 401);

    // Deleting a project revokes its deploy tokens; the group's lives on for the other projects.
    let own = app.post(
        admin,
        &format!("/projects/{}/deploy_tokens", w.project),
        json!({"name": "own", "scopes": ["read_repository"]}),
    );
    let own = secret(&own);
    let deleted = app.call(admin, "DELETE", &format!("/projects/{}", w.project), None);
    assert!(matches!(deleted.status, 202 | 204), "{}", deleted.text);
    let info = app.post(admin, "/admin/token", json!({"token": own}));
    assert_eq!(info.body["state"], "revoked", "{}", info.text);
    assert_eq!(gateway(&app, header, "GET", "/g/q.git/info/refs?service=git-upload-pack"), 200);

    // A leak report revokes it.
    let reported = app.raw(
        "POST",
        "/api/v4/internal/tokens/leaked",
        &[("Content-Type", "application/json")],
        Some(("application/json", json!({"token": token, "url": "https://example.com/paste"}).to_string().as_bytes())),
    );
    assert_eq!(reported.status, 202, "{}", reported.text);
    assert_eq!(gateway(&app, header, "GET", "/g/q.git/info/refs?service=git-upload-pack"), 401);
}

#[test]
fn bad_deploy_token_requests_are_refused_and_write_nothing() {
    let app = TestApp::spawn();
    let w = world(&app);
    let tokens = format!("/projects/{}/deploy_tokens", w.project);
    let long = "n".repeat(300);
    for body in [
        json!({"name": "x", "scopes": ["api"]}),
        json!({"name": "x", "scopes": ["read_user"]}),
        json!({"name": "x", "scopes": ["write_repository"]}),
        json!({"name": "x", "scopes": ["read_repository "]}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "x"}),
        json!({"scopes": ["read_repository"]}),
        json!({"name": long, "scopes": ["read_repository"]}),
        json!({"name": "x", "scopes": ["read_repository"], "username": "a b"}),
        json!({"name": "x", "scopes": ["read_repository"], "username": "a/b"}),
        json!({"name": "x", "scopes": ["read_repository"], "expires_at": "2020-01-01"}),
        json!({"name": "x", "scopes": ["read_repository"], "expires_at": "tomorrow"}),
        json!({"name": "x", "scopes": "read_repository,api"}),
        json!({"name": ["x"], "scopes": ["read_repository"]}),
    ] {
        let refused = app.post(&w.maintainer, &tokens, body.clone());
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
    }
    assert_eq!(app.get(&w.maintainer, &tokens).body, json!([]), "nothing was written");
    // A token reaches no other project's token by id.
    let made = app.post(&w.maintainer, &tokens, json!({"name": "ok", "scopes": ["read_repository"]}));
    let other = app.post(&app.admin_token, "/projects", json!({"name": "Z", "path": "z"}));
    let path = format!("/projects/{}/deploy_tokens/{}", id(&other), id(&made));
    assert_eq!(app.get(&app.admin_token, &path).status, 404);
    assert_eq!(app.call(&app.admin_token, "DELETE", &path, None).status, 404);
}
