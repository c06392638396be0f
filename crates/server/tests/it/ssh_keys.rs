//! Deploy keys and users' SSH keys (issue 15, point 3): stored only when they parse whole and are of an accepted
//! kind and size, listed with their SHA256 fingerprint, and decided for gitlab-shell at `internal/allowed` (signed
//! with the shared secret) through the same decision flow as Git over HTTP. A real sshd and git are in
//! `tests/gateways/test_ssh.py`.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

/// Keys made by `ssh-keygen` for these tests (public halves only).
const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example";
const ED25519_FINGERPRINT: &str = "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU";

fn key_of(seed: u8) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    for field in [b"ssh-ed25519".as_slice(), &[seed; 32]] {
        blob.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
        blob.extend_from_slice(field);
    }
    format!("ssh-ed25519 {}", base64::engine::general_purpose::STANDARD.encode(blob))
}

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

fn shell_header(app: &TestApp) -> String {
    let secret = std::fs::read_to_string(app.data_dir.join(".gitlab_shell_secret")).unwrap();
    let now_s = app.clock.offset_ms.load(std::sync::atomic::Ordering::SeqCst) / 1000
        + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    tokens::shell::sign_shell_request(secret.trim().as_bytes(), now_s).unwrap()
}

fn allowed(app: &TestApp, body: Value) -> Reply {
    let signed = shell_header(app);
    let text = body.to_string();
    app.raw(
        "POST",
        "/api/v4/internal/allowed",
        &[("Gitlab-Shell-Api-Request", &signed)],
        Some(("application/json", text.as_bytes())),
    )
}

#[test]
fn a_deploy_key_reads_the_projects_it_is_enabled_on_and_pushes_only_with_can_push() {
    let app = TestApp::spawn();
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let other = id(&app.post(admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": group})));
    let made = app.post(admin, &format!("/projects/{project}/deploy_keys"), json!({"title": "ci", "key": ED25519}));
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.body["fingerprint_sha256"], ED25519_FINGERPRINT);
    assert_eq!(made.body["can_push"], false);
    assert!(!made.text.contains("alice@example"), "the comment is not kept");
    let key = id(&made);

    let ask = |project: &str, action: &str| {
        allowed(&app, json!({"key_id": key, "project": project, "action": action, "protocol": "ssh"}))
    };
    let read = ask("g/p.git", "git-upload-pack");
    assert_eq!((read.status, read.body["status"].as_bool()), (200, Some(true)), "{}", read.text);
    assert_eq!(read.body["gl_repository"], format!("project-{project}"));
    assert_eq!(read.body["gl_key_type"], "deploy_key");
    assert_eq!(ask("/g/p.git", "git-receive-pack").status, 403, "read-only");
    assert_eq!(ask("g/q.git", "git-upload-pack").status, 404, "not enabled there");
    assert_eq!(ask("g/none.git", "git-upload-pack").status, 404);
    let by_fingerprint =
        allowed(&app, json!({"fingerprint": ED25519_FINGERPRINT, "project": "g/p", "action": "git-upload-pack"}));
    assert_eq!(by_fingerprint.status, 200, "{}", by_fingerprint.text);

    // can_push, then enabled on another project.
    let pushed =
        app.call(admin, "PUT", &format!("/projects/{project}/deploy_keys/{key}"), Some(json!({"can_push": true})));
    assert_eq!((pushed.status, pushed.body["can_push"].as_bool()), (200, Some(true)), "{}", pushed.text);
    assert_eq!(ask("g/p.git", "git-receive-pack").status, 200);
    let enabled = app.post(admin, &format!("/projects/{other}/deploy_keys/{key}/enable"), json!({}));
    assert_eq!(enabled.status, 201, "{}", enabled.text);
    assert_eq!(ask("g/q.git", "git-upload-pack").status, 200);
    assert_eq!(ask("g/q.git", "git-receive-pack").status, 403, "can_push is per project");
    let listed = app.get(admin, &format!("/projects/{other}/deploy_keys"));
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{}", listed.text);

    // The same key cannot be registered twice; gitlab-shell's signature is required.
    let again = app.post(admin, &format!("/projects/{other}/deploy_keys"), json!({"title": "dup", "key": ED25519}));
    assert_eq!(again.status, 400, "{}", again.text);
    let unsigned = app.raw("POST", "/api/v4/internal/allowed", &[("PRIVATE-TOKEN", admin)], None);
    assert_eq!(unsigned.status, 401);
    let forged = tokens::shell::sign_shell_request(b"not the shared secret at all", 0).unwrap();
    let bad = app.raw(
        "GET",
        &format!("/api/v4/internal/authorized_keys?fingerprint={}", "x"),
        &[("Gitlab-Shell-Api-Request", &forged)],
        None,
    );
    assert_eq!(bad.status, 401);
    let signed = shell_header(&app);
    let encoded: String = ED25519_FINGERPRINT.replace('+', "%2B").replace('/', "%2F");
    let found = app.raw(
        "GET",
        &format!("/api/v4/internal/authorized_keys?fingerprint={encoded}"),
        &[("Gitlab-Shell-Api-Request", &signed)],
        None,
    );
    assert_eq!((found.status, found.body["id"].as_i64()), (200, Some(key)), "{}", found.text);

    // Disabled on both projects, the key is gone.
    assert_eq!(app.call(admin, "DELETE", &format!("/projects/{project}/deploy_keys/{key}"), None).status, 204);
    assert_eq!(ask("g/p.git", "git-upload-pack").status, 404);
    assert_eq!(app.call(admin, "DELETE", &format!("/projects/{other}/deploy_keys/{key}"), None).status, 204);
    assert_eq!(ask("g/q.git", "git-upload-pack").status, 403, "{}", "no such key any more");
}

#[test]
fn a_users_key_acts_with_the_users_current_role_over_ssh() {
    let app = TestApp::spawn();
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    let dev = app.create_user("dev");
    let (_, token) = app.token_for(dev, &["api"]);
    let made = app.post(&token, "/user/keys", json!({"title": "laptop", "key": key_of(3)}));
    assert_eq!(made.status, 201, "{}", made.text);
    let key = id(&made);
    assert_eq!(app.get(&token, "/user/keys").body.as_array().map(Vec::len), Some(1));
    let ask =
        |action: &str| allowed(&app, json!({"key_id": format!("key-{key}"), "project": "g/p.git", "action": action}));
    assert_eq!(ask("git-upload-pack").status, 404, "not a member of a private project");
    app.post(admin, &format!("/projects/{project}/members"), json!({"user_id": dev, "access_level": 20}));
    assert_eq!(ask("git-upload-pack").status, 200, "a Reporter reads");
    assert_eq!(ask("git-receive-pack").status, 403, "a Reporter does not push");
    app.call(admin, "PUT", &format!("/projects/{project}/members/{dev}"), Some(json!({"access_level": 30})));
    let push = ask("git-receive-pack");
    assert_eq!(
        (push.status, push.body["gl_id"].as_str()),
        (200, Some(format!("user-{dev}").as_str())),
        "{}",
        push.text
    );
    assert_eq!(app.post(admin, &format!("/users/{dev}/block"), json!({})).status, 201);
    assert_eq!(ask("git-upload-pack").status, 403, "a blocked user's key");
    assert_eq!(app.post(admin, &format!("/users/{dev}/unblock"), json!({})).status, 201);
    // Removed, the key is no credential.
    assert_eq!(app.call(&token, "DELETE", &format!("/user/keys/{key}"), None).status, 204);
    assert_eq!(ask("git-upload-pack").status, 403);
}

#[test]
fn malformed_weak_and_foreign_keys_are_refused_and_write_nothing() {
    use base64::Engine;
    let app = TestApp::spawn();
    let dev = app.create_user("dev");
    let (_, token) = app.token_for(dev, &["api"]);
    let mut short_rsa = Vec::new();
    let mut modulus = vec![0u8];
    modulus.extend(std::iter::repeat_n(0xC5u8, 128));
    for field in [b"ssh-rsa".as_slice(), &[1, 0, 1], &modulus] {
        short_rsa.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
        short_rsa.extend_from_slice(field);
    }
    let short_rsa = format!("ssh-rsa {}", base64::engine::general_purpose::STANDARD.encode(short_rsa));
    let long_title = "t".repeat(300);
    for body in [
        json!({"title": "x", "key": short_rsa}),
        json!({"title": "x", "key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}),
        json!({"title": "x", "key": "ssh-ed25519 AAAA"}),
        json!({"title": "x", "key": "not a key"}),
        json!({"title": "x"}),
        json!({"key": key_of(5)}),
        json!({"title": long_title, "key": key_of(5)}),
        json!({"title": "x", "key": key_of(5), "expires_at": "2020-01-01"}),
        json!({"title": ["x"], "key": key_of(5)}),
    ] {
        let refused = app.post(&token, "/user/keys", body.clone());
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
    }
    assert_eq!(app.get(&token, "/user/keys").body, json!([]));
    let made = app.post(&token, "/user/keys", json!({"title": "ok", "key": key_of(5)}));
    assert_eq!(made.status, 201, "{}", made.text);
    let other = app.create_user("other");
    let (_, other_token) = app.token_for(other, &["api"]);
    assert_eq!(app.get(&other_token, &format!("/user/keys/{}", id(&made))).status, 404);
    assert_eq!(app.post(&other_token, "/user/keys", json!({"title": "dup", "key": key_of(5)})).status, 400);
}
