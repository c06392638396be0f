//! CI job tokens: a job started through the internal CI API gets a `glcbt-` JWT whose rights are the
//! intersection of the triggering user's role, the target's allowlist entry, the job's declared permissions and
//! the job-token routes; the token lives only while the job runs; keys rotate; anyone verifies with the JWKS.

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, within_one_second};

/// Group `acme` with `acme/app` (where jobs run) and group `other` with `other/deploy`. `dev` is a Developer
/// on `acme` and a Reporter on `other`.
struct Ci {
    app: TestApp,
    dev: i64,
    app_id: i64,
    deploy_id: i64,
    acme: i64,
}

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn ci() -> Ci {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let acme = id(&app.post(&admin, "/groups", json!({"name": "Acme", "path": "acme"})));
    let other = id(&app.post(&admin, "/groups", json!({"name": "Other", "path": "other"})));
    let app_id = id(&app.post(&admin, "/projects", json!({"name": "App", "path": "app", "namespace_id": acme})));
    let deploy_id =
        id(&app.post(&admin, "/projects", json!({"name": "Deploy", "path": "deploy", "namespace_id": other})));
    let dev = app.create_user("dev");
    for (group, level) in [(acme, 30), (other, 20)] {
        let added =
            app.post(&admin, &format!("/groups/{group}/members"), json!({"user_id": dev, "access_level": level}));
        assert_eq!(added.status, 201, "{}", added.text);
    }
    Ci { app, dev, app_id, deploy_id, acme }
}

impl Ci {
    /// Starts a job on `acme/app` for `dev`, with `permissions` YAML (or the default set); returns (id, token).
    fn start(&self, permissions: Option<&str>) -> (i64, String) {
        let mut body = json!({"project_id": self.app_id, "user_id": self.dev, "ref": "main", "timeout": 600});
        if let Some(permissions) = permissions {
            body["permissions"] = json!(permissions);
        }
        let reply = self.app.post(&self.app.admin_token, "/internal/ci/jobs", body);
        assert_eq!(reply.status, 201, "{}", reply.text);
        (id(&reply), reply.body["token"].as_str().unwrap().to_owned())
    }

    fn finish(&self, job: i64, status: &str) -> Reply {
        self.app.call(
            &self.app.admin_token,
            "PUT",
            &format!("/internal/ci/jobs/{job}"),
            Some(json!({"status": status})),
        )
    }

    /// Forward-auth (Envoy style) with the job token in `JOB-TOKEN`.
    fn gate(&self, token: &str, method: &str, path: &str) -> Reply {
        self.app.raw(method, &format!("/-/auth{path}"), &[("JOB-TOKEN", token)], None)
    }

    fn allow(&self, target: i64, body: Value) -> Reply {
        self.app.post(&self.app.admin_token, &format!("/projects/{target}/job_token_scope/allowlist"), body)
    }
}

fn refused(reply: &Reply, layer: &str) {
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.body["layer"], layer, "{}", reply.text);
}

#[test]
fn a_job_token_works_on_job_token_routes_while_its_job_runs_and_never_after() {
    let ci = ci();
    let (job, token) = ci.start(None);
    assert!(token.starts_with("glcbt-ey"), "{token}");
    let own = ci.app.raw("GET", "/api/v4/job", &[("JOB-TOKEN", &token)], None);
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.body["id"], job);
    assert_eq!(own.body["user"]["username"], "dev");
    assert_eq!(own.body["status"], "running");
    let by_param = ci.app.raw("GET", &format!("/api/v4/job?job_token={token}"), &[], None);
    assert_eq!(by_param.status, 200, "{}", by_param.text);
    let as_other = ci.app.raw("GET", "/api/v4/job", &[("JOB-TOKEN", &token), ("Sudo", "root")], None);
    assert_eq!(as_other.status, 401, "a job token never acts as another user: {}", as_other.text);
    let releases = format!("/api/v4/projects/{}/releases", ci.app_id);
    let allowed = ci.gate(&token, "GET", &releases);
    assert_eq!(allowed.status, 200, "{}", allowed.text);
    assert_eq!(allowed.header("x-auth-token-type"), Some("ci_job_token"));
    assert_eq!(allowed.header("x-auth-user"), Some("dev"));
    let bearer =
        ci.app.raw("GET", &format!("/-/auth{releases}"), &[("Authorization", &format!("Bearer {token}"))], None);
    assert_eq!(bearer.status, 200, "{}", bearer.text);
    // Git over HTTP with the user gitlab-ci-token, as runners clone.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("gitlab-ci-token:{token}"));
    let basic = format!("Basic {basic}");
    let clone = "/acme/app.git/info/refs?service=git-upload-pack";
    let git = ci.app.raw(
        "GET",
        "/-/auth",
        &[("X-Original-Method", "GET"), ("X-Original-URI", clone), ("Authorization", &basic)],
        None,
    );
    assert_eq!(git.status, 200, "{}", git.text);
    // Nothing outside the job-token routes: no user endpoints, no token management.
    for (method, path) in [("GET", "/api/v4/user"), ("POST", "/api/v4/user/personal_access_tokens")] {
        let reply = ci.app.raw(method, path, &[("JOB-TOKEN", &token)], None);
        assert_eq!(reply.status, 403, "{}", reply.text);
        assert_eq!(reply.body["error"], "job_token_route_refused");
    }
    refused(&ci.gate(&token, "GET", &format!("/api/v4/projects/{}/issues", ci.app_id)), "token_reach");

    let finished = ci.finish(job, "success");
    assert_eq!(finished.status, 200, "{}", finished.text);
    assert_eq!(finished.body["status"], "success");
    assert_eq!(ci.app.raw("GET", "/api/v4/job", &[("JOB-TOKEN", &token)], None).status, 401);
    assert_eq!(ci.gate(&token, "GET", &releases).status, 401);
    let git = ci.app.raw(
        "GET",
        "/-/auth",
        &[("X-Original-Method", "GET"), ("X-Original-URI", clone), ("Authorization", &basic)],
        None,
    );
    assert_eq!(git.status, 401, "{}", git.text);
    assert_eq!(ci.finish(job, "failed").body["status"], "success", "a job ends once");
    for status in ["failed", "canceled"] {
        let (job, token) = ci.start(None);
        assert_eq!(ci.finish(job, status).status, 200);
        assert_eq!(ci.gate(&token, "GET", &releases).status, 401, "{status}");
    }
}

#[test]
fn each_layer_of_the_intersection_narrows_a_job_token() {
    let ci = ci();
    let own_releases = format!("/api/v4/projects/{}/releases", ci.app_id);
    let deploy_releases = format!("/api/v4/projects/{}/releases", ci.deploy_id);

    // The default set reads and publishes packages and releases, but does not deploy.
    let (_, default) = ci.start(None);
    assert_eq!(ci.gate(&default, "POST", &own_releases).status, 200);
    assert_eq!(
        ci.gate(&default, "PUT", &format!("/api/v4/projects/{}/packages/generic/a/1/f.bin", ci.app_id)).status,
        200
    );
    refused(&ci.gate(&default, "POST", &format!("/api/v4/projects/{}/deployments", ci.app_id)), "job_permissions");

    // The job's declaration: only what it names.
    let (_, declared) = ci.start(Some("permissions:\n  releases: read\n  deployments: admin\n  environments: admin\n"));
    assert_eq!(ci.gate(&declared, "GET", &own_releases).status, 200);
    assert_eq!(ci.gate(&declared, "POST", &format!("/api/v4/projects/{}/deployments", ci.app_id)).status, 200);
    refused(&ci.gate(&declared, "POST", &own_releases), "job_permissions");
    refused(&ci.gate(&declared, "GET", &format!("/api/v4/projects/{}/packages", ci.app_id)), "job_permissions");

    // Another project: nothing until its allowlist names acme/app (or acme), then only the entry's policies.
    let (_, before) = ci.start(Some("{releases: admin}"));
    refused(&ci.gate(&before, "GET", &deploy_releases), "allowlist");
    let added =
        ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id, "job_token_policies": ["read_releases"]}));
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(
        added.body,
        json!({"source_project_id": ci.deploy_id, "target_project_id": ci.app_id, "default_permissions": false, "job_token_policies": ["read_releases"]})
    );
    // The token signed before the entry existed is not bound to the project: tokens never widen.
    refused(&ci.gate(&before, "GET", &deploy_releases), "job_permissions");
    let (_, after) = ci.start(Some("{releases: admin}"));
    assert_eq!(ci.gate(&after, "GET", &deploy_releases).status, 200);
    refused(&ci.gate(&after, "POST", &deploy_releases), "allowlist");

    // The role: dev is only a Reporter on other/deploy, so even an entry with every policy does not let the
    // token create a release there.
    let patched = ci.app.call(
        &ci.app.admin_token,
        "PATCH",
        &format!("/projects/{}/job_token_scope/allowlist/{}", ci.deploy_id, ci.app_id),
        Some(json!({"default_permissions": true})),
    );
    assert_eq!(patched.status, 200, "{}", patched.text);
    let (_, wide) = ci.start(Some("{releases: admin}"));
    refused(&ci.gate(&wide, "POST", &deploy_releases), "job_permissions");
    assert_eq!(ci.gate(&wide, "GET", &deploy_releases).status, 200);
    let promoted = ci.app.post(
        &ci.app.admin_token,
        &format!("/projects/{}/members", ci.deploy_id),
        json!({"user_id": ci.dev, "access_level": 30}),
    );
    assert_eq!(promoted.status, 201, "{}", promoted.text);
    let (_, developer) = ci.start(Some("{releases: admin}"));
    assert_eq!(ci.gate(&developer, "POST", &deploy_releases).status, 200);
    // And the role is asked live: demoted, the same token falls back.
    let demoted =
        ci.app.call(&ci.app.admin_token, "DELETE", &format!("/projects/{}/members/{}", ci.deploy_id, ci.dev), None);
    assert_eq!(demoted.status, 204, "{}", demoted.text);
    refused(&ci.gate(&developer, "POST", &deploy_releases), "role");

    // A group entry lets every project under the group in.
    let (_, reader) = ci.start(Some("{releases: read}"));
    ci.app.call(
        &ci.app.admin_token,
        "DELETE",
        &format!("/projects/{}/job_token_scope/allowlist/{}", ci.deploy_id, ci.app_id),
        None,
    );
    refused(&ci.gate(&reader, "GET", &deploy_releases), "allowlist");
    let group = ci.app.post(
        &ci.app.admin_token,
        &format!("/projects/{}/job_token_scope/groups_allowlist", ci.deploy_id),
        json!({"target_group_id": ci.acme}),
    );
    assert_eq!(group.status, 201, "{}", group.text);
    let (_, grouped) = ci.start(Some("{releases: read}"));
    assert_eq!(ci.gate(&grouped, "GET", &deploy_releases).status, 200);
}

#[test]
fn a_removed_allowlist_entry_or_a_blocked_user_stops_a_running_token_at_once() {
    let ci = ci();
    ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id}));
    let (_, token) = ci.start(None);
    let releases = format!("/api/v4/projects/{}/releases", ci.deploy_id);
    assert_eq!(ci.gate(&token, "GET", &releases).status, 200);
    let removed = ci.app.call(
        &ci.app.admin_token,
        "DELETE",
        &format!("/projects/{}/job_token_scope/allowlist/{}", ci.deploy_id, ci.app_id),
        None,
    );
    assert_eq!(removed.status, 204, "{}", removed.text);
    refused(&ci.gate(&token, "GET", &releases), "allowlist");
    let own = format!("/api/v4/projects/{}/releases", ci.app_id);
    assert_eq!(ci.gate(&token, "GET", &own).status, 200);
    let blocked = ci.app.post(&ci.app.admin_token, &format!("/users/{}/block", ci.dev), json!({}));
    assert_eq!(blocked.status, 201, "{}", blocked.text);
    assert_eq!(ci.gate(&token, "GET", &own).status, 401);
}

#[test]
fn pushing_with_a_job_token_needs_the_project_setting_and_only_reaches_its_own_project() {
    let ci = ci();
    ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id}));
    let (_, token) = ci.start(Some("{repositories: admin}"));
    let push = |path: &str| {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("gitlab-ci-token:{token}"));
        let uri = format!("/{path}.git/info/refs?service=git-receive-pack");
        ci.app.raw(
            "GET",
            "/-/auth",
            &[("X-Original-Method", "GET"), ("X-Original-URI", &uri), ("Authorization", &format!("Basic {basic}"))],
            None,
        )
    };
    refused(&push("acme/app"), "policy");
    let scope = ci.app.call(
        &ci.app.admin_token,
        "PATCH",
        &format!("/projects/{}/job_token_scope", ci.app_id),
        Some(json!({"ci_push_repository_for_job_token_allowed": true})),
    );
    assert_eq!(scope.status, 204, "{}", scope.text);
    assert_eq!(push("acme/app").status, 200);
    let shown = ci.app.get(&ci.app.admin_token, &format!("/projects/{}/job_token_scope", ci.app_id));
    assert_eq!(
        shown.body,
        json!({"inbound_enabled": true, "outbound_enabled": false, "legacy_mode": false, "ci_push_repository_for_job_token_allowed": true})
    );
    refused(&push("other/deploy"), "policy");
}

#[test]
fn legacy_mode_acts_with_the_role_on_job_token_routes_checked_against_the_allowlist_only() {
    let ci = ci();
    let legacy = ci.app.call(
        &ci.app.admin_token,
        "PATCH",
        &format!("/projects/{}/job_token_scope", ci.app_id),
        Some(json!({"legacy_mode": true})),
    );
    assert_eq!(legacy.status, 204, "{}", legacy.text);
    let (_, token) = ci.start(Some("{releases: read}"));
    // The declaration does not narrow a legacy token; the role still does, and the routes.
    assert_eq!(ci.gate(&token, "POST", &format!("/api/v4/projects/{}/deployments", ci.app_id)).status, 200);
    refused(&ci.gate(&token, "GET", &format!("/api/v4/projects/{}/issues", ci.app_id)), "token_reach");
    let deploy = format!("/api/v4/projects/{}/releases", ci.deploy_id);
    refused(&ci.gate(&token, "GET", &deploy), "allowlist");
    ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id, "job_token_policies": ["read_packages"]}));
    assert_eq!(ci.gate(&token, "GET", &deploy).status, 200, "membership of the allowlist is enough");
    refused(&ci.gate(&token, "POST", &deploy), "role");
}

#[test]
fn job_tokens_are_refused_when_forged_expired_or_malformed() {
    let ci = ci();
    let (_, token) = ci.start(Some("{releases: read}"));
    let own = format!("/api/v4/projects/{}/releases", ci.app_id);
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let (header, claims) = signed.split_once('.').unwrap();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut body: Value = serde_json::from_slice(&engine.decode(claims).unwrap()).unwrap();
    body["scope"]["admin_releases"] = json!([format!("gid://gitlab/Project/{}", ci.app_id)]);
    let widened = format!("{header}.{}.{signature}", engine.encode(body.to_string()));
    let none = format!("glcbt-{}.{claims}.", engine.encode(r#"{"alg":"none","typ":"JWT"}"#));
    // Headers that name the real key but another algorithm, or point elsewhere for the key.
    let real: Value = serde_json::from_slice(&engine.decode(header.trim_start_matches("glcbt-")).unwrap()).unwrap();
    let kid = real["kid"].as_str().unwrap();
    let with_header = |h: Value| format!("glcbt-{}.{claims}.{signature}", engine.encode(h.to_string()));
    let hmac = with_header(json!({"alg": "HS256", "kid": kid, "typ": "JWT"}));
    let jku = with_header(json!({"alg": "RS256", "kid": kid, "typ": "JWT", "jku": "https://evil.example/jwks"}));
    let foreign_kid = with_header(json!({"alg": "RS256", "kid": "not-a-published-key", "typ": "JWT"}));
    for forged in [
        widened.as_str(),
        none.as_str(),
        hmac.as_str(),
        jku.as_str(),
        foreign_kid.as_str(),
        "glcbt-not.a.jwt",
        "glcbt-",
        &format!("{token}x"),
    ] {
        assert_eq!(ci.gate(forged, "GET", &own).status, 401, "{forged}");
    }
    assert_eq!(ci.gate(&token, "GET", &own).status, 200);
    // start + timeout (600 s) + 5 minutes, with at most a minute of leeway.
    ci.app.advance_seconds(600 + 300 + 61);
    assert_eq!(ci.gate(&token, "GET", &own).status, 401);
}

#[test]
fn the_published_keys_verify_job_and_id_tokens_and_survive_a_rotation() {
    let ci = ci();
    let body = json!({"project_id": ci.app_id, "user_id": ci.dev, "ref": "main", "timeout": 600, "id_tokens": {"VAULT_ID_TOKEN": {"aud": "https://vault.example.com"}}});
    let started = ci.app.post(&ci.app.admin_token, "/internal/ci/jobs", body);
    assert_eq!(started.status, 201, "{}", started.text);
    let token = started.body["token"].as_str().unwrap().to_owned();
    let id_token = started.body["id_tokens"]["VAULT_ID_TOKEN"].as_str().unwrap().to_owned();
    let jwks = ci.app.raw("GET", "/oauth/discovery/keys", &[], None);
    assert_eq!(jwks.status, 200);
    let keys = |reply: &Reply| -> Vec<tokens::jwt::VerifyingKey> {
        reply.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| tokens::jwt::VerifyingKey::from_jwk(&serde_json::from_value(k.clone()).unwrap()).unwrap())
            .collect()
    };
    let published = keys(&jwks);
    assert_eq!(published.len(), 2, "one job-token key and one ID-token key: {}", jwks.text);
    let claims: tokens::jwt::JobTokenClaims =
        tokens::jwt::verify(token.strip_prefix("glcbt-").unwrap(), &published).unwrap();
    assert_eq!(claims.aud, "gitlab-authz-token");
    assert_eq!(claims.iss, ci.app.base);
    assert_eq!(claims.scoped_user_id, ci.dev);
    let read_releases = domain::JobPolicies::parse_names(["read_releases"]).unwrap();
    assert!(claims.scope.on(ci.app_id).covers(read_releases), "{:?}", claims.scope);
    let id_claims: Value = tokens::jwt::verify(&id_token, &published).unwrap();
    assert_eq!(id_claims["aud"], "https://vault.example.com");
    assert_eq!(id_claims["project_path"], "acme/app");
    assert_eq!(id_claims["user_login"], "dev");
    assert_eq!(id_claims["ref_protected"], "false");
    let discovery = ci.app.raw("GET", "/.well-known/openid-configuration", &[], None);
    assert_eq!(discovery.body["issuer"], ci.app.base);
    assert_eq!(discovery.body["jwks_uri"], format!("{}/oauth/discovery/keys", ci.app.base));
    assert_eq!(discovery.body["id_token_signing_alg_values_supported"], json!(["RS256"]));

    let rotated = ci.app.post(&ci.app.admin_token, "/admin/ci/job_token_keys/rotate", json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert_eq!(keys(&ci.app.raw("GET", "/oauth/discovery/keys", &[], None)).len(), 4, "old keys stay published");
    let own = format!("/api/v4/projects/{}/releases", ci.app_id);
    assert_eq!(ci.gate(&token, "GET", &own).status, 200, "a token signed before the rotation still works");
    let (_, fresh) = ci.start(None);
    assert_eq!(ci.gate(&fresh, "GET", &own).status, 200);
    let kid = |t: &str| -> Value {
        let header = t.trim_start_matches("glcbt-").split('.').next().unwrap();
        serde_json::from_slice::<Value>(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap())
            .unwrap()["kid"]
            .clone()
    };
    assert_ne!(kid(&token), kid(&fresh));
    // Once every token the old keys signed has expired, a rotation stops publishing them.
    ci.app.advance_days(2);
    ci.app.post(&ci.app.admin_token, "/admin/ci/job_token_keys/rotate", json!({}));
    assert_eq!(keys(&ci.app.raw("GET", "/oauth/discovery/keys", &[], None)).len(), 4);
}

#[test]
fn the_internal_api_takes_runners_and_administrators_and_refuses_bad_jobs() {
    let ci = ci();
    let (_, dev_token) = ci.app.token_for(ci.dev, &["api"]);
    let body = json!({"project_id": ci.app_id, "user_id": ci.dev, "ref": "main"});
    assert_eq!(ci.app.post(&dev_token, "/internal/ci/jobs", body.clone()).status, 403);
    let runner = ci.app.post(
        &ci.app.admin_token,
        "/user/runners",
        json!({"runner_type": "instance_type", "description": "shared"}),
    );
    assert_eq!(runner.status, 201, "{}", runner.text);
    let runner_token = runner.body["token"].as_str().unwrap().to_owned();
    assert!(runner_token.starts_with("glrt-"));
    let as_runner = |token: &str, body: &Value| {
        let bearer = format!("Bearer {token}");
        let text = body.to_string();
        ci.app.raw(
            "POST",
            "/api/v4/internal/ci/jobs",
            &[("Authorization", &bearer)],
            Some(("application/json", text.as_bytes())),
        )
    };
    let started = as_runner(&runner_token, &body);
    assert_eq!(started.status, 201, "{}", started.text);
    // A runner token is a Bearer credential only, and reaches nothing else.
    assert_eq!(ci.app.post(&runner_token, "/internal/ci/jobs", body.clone()).status, 401, "not in PRIVATE-TOKEN");
    assert_eq!(ci.app.get(&runner_token, "/user").status, 401);
    let project_runner =
        ci.app.post(&dev_token, "/user/runners", json!({"runner_type": "project_type", "project_id": ci.app_id}));
    assert_eq!(project_runner.status, 403, "a Developer may not register runners: {}", project_runner.text);
    let project_runner = ci.app.post(
        &ci.app.admin_token,
        "/user/runners",
        json!({"runner_type": "project_type", "project_id": ci.deploy_id}),
    );
    let foreign = project_runner.body["token"].as_str().unwrap().to_owned();
    assert_eq!(as_runner(&foreign, &body).status, 403);
    let admin = ci.app.admin_token.clone();
    for (bad, field) in [
        (json!({"permissions": "{issues: read}"}), "permissions"),
        (json!({"permissions": "{releases: write}"}), "permissions"),
        (json!({"timeout": 0}), "timeout"),
        (json!({"ref": ""}), "ref"),
        (json!({"id_tokens": {"1BAD": {"aud": "x"}}}), "id_tokens"),
    ] {
        let mut request = body.clone();
        for (k, v) in bad.as_object().unwrap() {
            request[k] = v.clone();
        }
        let reply = ci.app.post(&admin, "/internal/ci/jobs", request);
        assert_eq!(reply.status, 400, "{field}: {}", reply.text);
        assert!(reply.text.contains(field), "{}", reply.text);
    }
    let reporter = ci.app.create_user("reporter");
    ci.app.post(&admin, &format!("/groups/{}/members", ci.acme), json!({"user_id": reporter, "access_level": 20}));
    let reply =
        ci.app.post(&admin, "/internal/ci/jobs", json!({"project_id": ci.app_id, "user_id": reporter, "ref": "main"}));
    assert_eq!(reply.status, 403, "a Reporter cannot run pipelines: {}", reply.text);
}

#[test]
fn allowlist_suggestions_name_the_projects_and_narrowest_policies_jobs_used() {
    let ci = ci();
    ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id}));
    let (_, token) = ci.start(None);
    assert_eq!(ci.gate(&token, "GET", &format!("/api/v4/projects/{}/releases", ci.deploy_id)).status, 200);
    assert_eq!(ci.gate(&token, "GET", &format!("/api/v4/projects/{}/packages", ci.deploy_id)).status, 200);
    let suggested =
        ci.app.get(&ci.app.admin_token, &format!("/projects/{}/job_token_scope/allowlist/suggestions", ci.deploy_id));
    assert_eq!(suggested.status, 200, "{}", suggested.text);
    let items = suggested.body.as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", suggested.text);
    assert_eq!(items[0]["target_project_id"], ci.app_id);
    assert_eq!(items[0]["job_token_policies"], json!(["read_packages", "read_releases"]));
    assert_eq!(items[0]["covered"], true);
    for days in ["0", "366", "x"] {
        let path = format!("/projects/{}/job_token_scope/allowlist/suggestions?days={days}", ci.deploy_id);
        let refused = ci.app.get(&ci.app.admin_token, &path);
        assert_eq!(refused.status, 400, "days={days}: {}", refused.text);
    }
    let allowed = items[0]["allowed_job_token_policies"].as_array().unwrap();
    assert_eq!(allowed.len(), 10, "an entry with default permissions allows admin_ on all ten: {}", suggested.text);
    let listed = ci.app.get(&ci.app.admin_token, &format!("/projects/{}/job_token_scope/allowlist", ci.deploy_id));
    let ids: Vec<i64> = listed.body.as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [ci.deploy_id, ci.app_id]);
}

#[test]
fn a_second_node_sees_finished_jobs_removed_entries_and_new_keys_within_a_second() {
    let ci = ci();
    let node = match ci.app.start_second_node() {
        Ok(node) => node,
        Err(e) => {
            assert!(!ci.app.on_postgres(), "a second node on PostgreSQL must start: {e:#}");
            return;
        }
    };
    let on_node = |token: &str, path: &str| {
        ci.app.raw_at(&node.base, "GET", &format!("/-/auth{path}"), &[("JOB-TOKEN", token)]).status
    };
    let own = format!("/api/v4/projects/{}/releases", ci.app_id);
    let other = format!("/api/v4/projects/{}/releases", ci.deploy_id);
    ci.allow(ci.deploy_id, json!({"target_project_id": ci.app_id}));
    let (job, token) = ci.start(None);
    // The second node verifies the token and caches the verification, the job and the allowlist.
    for _ in 0..3 {
        assert_eq!(on_node(&token, &own), 200);
        assert_eq!(on_node(&token, &other), 200);
    }

    // The allowlist entry removed on the first node.
    let removed = ci.app.call(
        &ci.app.admin_token,
        "DELETE",
        &format!("/projects/{}/job_token_scope/allowlist/{}", ci.deploy_id, ci.app_id),
        None,
    );
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert!(within_one_second(|| on_node(&token, &other) == 403).is_some(), "removed entry not seen");
    assert_eq!(on_node(&token, &own), 200, "the job's own project needs no entry");

    // The job finished on the first node.
    assert_eq!(ci.finish(job, "success").status, 200);
    assert!(within_one_second(|| on_node(&token, &own) == 401).is_some(), "finished job not seen");

    // Keys rotated on the first node: the second publishes the new keys and accepts the tokens they sign.
    let published = |base: &str| ci.app.raw_at(base, "GET", "/oauth/discovery/keys", &[]).body["keys"].clone();
    let before = published(&node.base);
    let rotated = ci.app.post(&ci.app.admin_token, "/admin/ci/job_token_keys/rotate", json!({}));
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    assert!(
        within_one_second(|| published(&node.base) == published(&ci.app.base) && published(&node.base) != before)
            .is_some(),
        "the second node did not publish the rotated keys"
    );
    let (_, fresh) = ci.start(None);
    assert!(within_one_second(|| on_node(&fresh, &own) == 200).is_some(), "a token of the new key refused");
    ci.app.stop_node(node);
}

#[test]
fn registries_take_a_job_token_as_basic_gitlab_ci_token_within_its_permissions() {
    let ci = ci();
    let registry = |token: &str, method: &str, uri: &str| {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("gitlab-ci-token:{token}"));
        ci.app.raw(
            "GET",
            "/-/auth",
            &[("X-Original-Method", method), ("X-Original-URI", uri), ("Authorization", &format!("Basic {basic}"))],
            None,
        )
    };
    let manifest = "/v2/acme/app/manifests/latest";
    let package = format!("/api/v4/projects/{}/packages/generic/tool/1.0.0/tool.tar.gz", ci.app_id);
    // The default set reads and writes containers and packages.
    let (_, default) = ci.start(None);
    assert_eq!(registry(&default, "GET", manifest).status, 200);
    assert_eq!(registry(&default, "PUT", manifest).status, 200);
    assert_eq!(registry(&default, "PUT", &package).status, 200);
    // A job that declares read-only containers and no packages.
    let (_, narrow) = ci.start(Some("permissions: {containers: read}"));
    assert_eq!(registry(&narrow, "GET", manifest).status, 200);
    refused(&registry(&narrow, "PUT", manifest), "job_permissions");
    refused(&registry(&narrow, "PUT", &package), "job_permissions");
    // Another project's registry without an allowlist entry.
    refused(&registry(&default, "GET", "/v2/other/deploy/manifests/latest"), "allowlist");
}

#[test]
fn a_job_token_is_named_by_its_job_and_project_on_the_decision_api_and_by_its_job_in_forward_auth_headers() {
    let ci = ci();
    let (job, token) = ci.start(None);
    let releases = format!("/api/v4/projects/{}/releases", ci.app_id);
    let asked = json!({"requests": [{"credential": token, "method": "GET", "path": releases}]});
    let decided = ci.app.post(&ci.app.admin_token, "/internal/authorize", asked);
    assert_eq!(decided.status, 200, "{}", decided.text);
    let identity = &decided.body["results"][0]["identity"];
    assert_eq!(decided.body["results"][0]["allowed"], true, "{}", decided.text);
    assert_eq!(
        identity,
        &json!({
            "user_id": ci.dev,
            "username": "dev",
            "job_id": job,
            "project_id": ci.app_id,
            "token_type": "ci_job_token",
            "organization_id": 1,
        }),
        "a job's identity names no token id"
    );
    let gated = ci.gate(&token, "GET", &releases);
    assert_eq!(gated.status, 200, "{}", gated.text);
    let headers = ["x-auth-user-id", "x-auth-user", "x-auth-token-id", "x-auth-token-type", "x-auth-organization-id"]
        .map(|name| gated.header(name).map(str::to_owned));
    let want = [ci.dev.to_string(), "dev".to_owned(), job.to_string(), "ci_job_token".to_owned(), "1".to_owned()];
    assert_eq!(headers, want.map(Some));
}
