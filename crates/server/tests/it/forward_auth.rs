//! `/-/auth` as Envoy and nginx call it.

use base64::Engine;
use serde_json::json;

use crate::helpers::{Reply, TestApp};

/// A private project `g/p` in group `g`, and a user with `level` on the group and a token with `scopes`.
fn setup(app: &TestApp, level: i64, scopes: &[&str]) -> (i64, String) {
    let group = app.post(&app.admin_token, "/groups", json!({"name": "G", "path": "g"}));
    let gid = group.body["id"].as_i64().unwrap();
    let project = app.post(&app.admin_token, "/projects", json!({"name": "P", "path": "p", "namespace_id": gid}));
    assert_eq!(project.status, 201);
    let user = app.create_user("dev");
    app.post(&app.admin_token, &format!("/groups/{gid}/members"), json!({"user_id": user, "access_level": level}));
    let (_, token) = app.token_for(user, scopes);
    (project.body["id"].as_i64().unwrap(), token)
}

fn envoy(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    app.raw(method, &format!("/-/auth{path}"), headers, None)
}

fn nginx(app: &TestApp, method: &str, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("X-Original-Method", method), ("X-Original-URI", uri)];
    all.extend_from_slice(headers);
    app.raw("GET", "/-/auth", &all, None)
}

#[test]
fn an_allowed_request_gets_200_and_identity_headers_in_both_gateway_styles() {
    let app = TestApp::spawn();
    let (pid, token) = setup(&app, 30, &["api"]);
    let path = format!("/api/v4/projects/{pid}/issues");
    let auth = [("PRIVATE-TOKEN", token.as_str())];
    for reply in [envoy(&app, "POST", &path, &auth), nginx(&app, "POST", &path, &auth)] {
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("x-auth-user"), Some("dev"));
        assert_eq!(reply.header("x-auth-token-type"), Some("personal_access_token"));
        assert_eq!(reply.header("x-auth-organization-id"), Some("1"));
        assert_eq!(reply.header("x-auth-anonymous"), Some("false"));
        let user_id = reply.header("x-auth-user-id").and_then(|id| id.parse::<i64>().ok());
        assert!(user_id.is_some_and(|id| id > 1), "the user's id: {:?}", reply.header("x-auth-user-id"));
        assert!(reply.header("x-auth-token-id").and_then(|id| id.parse::<i64>().ok()).is_some());
    }
}

#[test]
fn a_denied_request_gets_403_naming_the_missing_permissions() {
    let app = TestApp::spawn();
    let (pid, token) = setup(&app, 20, &["api"]);
    let reply = envoy(&app, "POST", &format!("/api/v4/projects/{pid}/deployments"), &[("PRIVATE-TOKEN", &token)]);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("x-tessera-required-permissions"), Some("read_deployment+create_deployment"));
    assert_eq!(reply.body["layer"], "role");
    assert_eq!(reply.body["required"], json!([["read_deployment", "create_deployment"]]));
}

#[test]
fn read_api_is_refused_writes_whatever_the_override_headers_say() {
    let app = TestApp::spawn();
    let (pid, token) = setup(&app, 40, &["read_api"]);
    let path = format!("/api/v4/projects/{pid}/issues");
    assert_eq!(envoy(&app, "GET", &path, &[("PRIVATE-TOKEN", &token)]).status, 200);
    let overridden = envoy(&app, "POST", &path, &[("PRIVATE-TOKEN", &token), ("X-HTTP-Method-Override", "GET")]);
    assert_eq!(overridden.status, 403);
    assert_eq!(overridden.body["layer"], "scope");
}

#[test]
fn aliases_of_a_path_get_the_canonical_answer() {
    let app = TestApp::spawn();
    let (pid, token) = setup(&app, 30, &["read_api"]);
    let auth = [("PRIVATE-TOKEN", token.as_str())];
    for alias in [
        format!("/api/v4/projects/{pid}/issues"),
        format!("/api/v4//projects/{pid}/issues/"),
        format!("/api/v4/projects/%{:02X}{}/issues", pid.to_string().as_bytes()[0], &pid.to_string()[1..]),
        "/api/v4/projects/g%2Fp/issues".to_owned(),
        "/api/v4/projects/G%2FP/issues".to_owned(),
    ] {
        assert_eq!(envoy(&app, "GET", &alias, &auth).status, 200, "{alias}");
        assert_eq!(envoy(&app, "POST", &alias, &auth).status, 403, "{alias}");
    }
    for bad in [
        "/api/v4/projects/1%00/issues",
        "/api/v4/projects/%zz/issues",
        "/api/v4/groups/../projects/1/issues",
        "/api/v4/projects/./1/issues",
    ] {
        let reply = envoy(&app, "GET", bad, &auth);
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text);
    }
}

#[test]
fn both_forms_that_disagree_are_refused() {
    let app = TestApp::spawn();
    let reply = app.raw(
        "GET",
        "/-/auth/api/v4/projects/1",
        &[("X-Original-URI", "/api/v4/projects/2"), ("X-Original-Method", "GET")],
        None,
    );
    assert_eq!(reply.status, 400);
    assert_eq!(app.raw("GET", "/-/auth", &[], None).status, 400);
}

#[test]
fn git_without_credentials_is_challenged_with_basic_and_a_token_as_password_clones_but_cannot_push() {
    let app = TestApp::spawn();
    let (_, token) = setup(&app, 30, &["read_repository"]);
    let refs = "/g/p.git/info/refs?service=git-upload-pack";
    let anonymous = nginx(&app, "GET", refs, &[]);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Basic realm=\"GitLab\""));
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("oauth2:{token}")));
    let clone = nginx(&app, "GET", refs, &[("Authorization", &basic)]);
    assert_eq!(clone.status, 200, "{}", clone.text);
    assert_eq!(nginx(&app, "POST", "/g/p.git/git-upload-pack", &[("Authorization", &basic)]).status, 200);
    let push = nginx(&app, "GET", "/g/p.git/info/refs?service=git-receive-pack", &[("Authorization", &basic)]);
    assert_eq!(push.status, 403);
    let bad = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("oauth2:glpat-bad"));
    let refused = nginx(&app, "GET", refs, &[("Authorization", &bad)]);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Basic realm=\"GitLab\""));
}

#[test]
fn anonymous_requests_are_decided_as_for_an_anonymous_user() {
    let app = TestApp::spawn();
    let public = app.post(&app.admin_token, "/projects", json!({"name": "Open", "visibility": "public"}));
    let pid = public.body["id"].as_i64().unwrap();
    let read = envoy(&app, "GET", &format!("/api/v4/projects/{pid}"), &[]);
    assert_eq!(read.status, 200);
    assert_eq!(read.header("x-auth-anonymous"), Some("true"));
    // Every identity header is set, empty, so that a gateway copying them overwrites what a client sent.
    for name in ["x-auth-user-id", "x-auth-user", "x-auth-token-id", "x-auth-token-type", "x-auth-organization-id"] {
        assert_eq!(read.header(name), Some(""), "{name}");
    }
    let write = envoy(&app, "POST", &format!("/api/v4/projects/{pid}/issues"), &[]);
    assert_eq!(write.status, 401);
    assert_eq!(write.header("www-authenticate"), Some("Bearer realm=\"The API\""));
}

#[test]
fn a_revoked_token_and_an_unknown_route_are_refused() {
    let app = TestApp::spawn();
    let (pid, token) = setup(&app, 30, &["api"]);
    assert_eq!(envoy(&app, "GET", "/api/v4/no/such/route", &[("PRIVATE-TOKEN", &token)]).status, 403);
    app.call(&token, "DELETE", "/personal_access_tokens/self", None);
    let reply = envoy(&app, "GET", &format!("/api/v4/projects/{pid}"), &[("PRIVATE-TOKEN", &token)]);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.text, r#"{"message":"401 Unauthorized"}"#);
}

#[test]
fn a_sudo_request_is_decided_as_the_user_it_names() {
    let app = TestApp::spawn();
    let (pid, _) = setup(&app, 30, &["api"]);
    let outsider = app.create_user("outsider");
    let path = format!("/api/v4/projects/{pid}/issues");
    let as_dev = envoy(&app, "POST", &path, &[("PRIVATE-TOKEN", &app.admin_token), ("Sudo", "dev")]);
    assert_eq!(as_dev.status, 200, "{}", as_dev.text);
    assert_eq!(as_dev.header("x-auth-user"), Some("dev"), "the upstream acts as the Sudo user");
    let as_outsider =
        envoy(&app, "POST", &path, &[("PRIVATE-TOKEN", &app.admin_token), ("Sudo", &outsider.to_string())]);
    assert_eq!(as_outsider.status, 403, "the outsider cannot see the private project, whoever sudoes");
    assert_eq!(as_outsider.body["layer"], "visibility");
    let (_, plain_admin) = app.token_for(1, &["api"]);
    let refused = envoy(&app, "POST", &path, &[("PRIVATE-TOKEN", &plain_admin), ("Sudo", "dev")]);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["layer"], "scope");
}
