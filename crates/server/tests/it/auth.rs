//! Authentication: where a token may come from, and the one 401 for every failure.

use base64::Engine;
use serde_json::json;

use crate::helpers::{Reply, TestApp};

fn assert_generic_401(reply: &Reply) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.text, r#"{"message":"401 Unauthorized"}"#);
    assert_eq!(reply.header("www-authenticate"), Some(r#"Bearer realm="The API", error="invalid_token""#));
}

#[test]
fn a_token_is_accepted_in_every_place_gitlab_reads_it() {
    let app = TestApp::spawn();
    let t = app.admin_token.as_str();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("whoever:{t}"));
    let cases: Vec<(String, Vec<(&str, String)>)> = vec![
        ("/api/v4/user".into(), vec![("PRIVATE-TOKEN", t.to_owned())]),
        ("/api/v4/user".into(), vec![("Authorization", format!("Bearer {t}"))]),
        ("/api/v4/user".into(), vec![("Authorization", format!("Basic {basic}"))]),
        (format!("/api/v4/user?private_token={t}"), vec![]),
    ];
    for (path, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let reply = app.raw("GET", &path, &headers, None);
        assert_eq!(reply.status, 200, "{path} {headers:?}");
        assert_eq!(reply.body["username"], "root");
    }
}

#[test]
fn every_credential_failure_gets_the_same_401() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (revoked_id, revoked) = app.token_for(user, &["api"]);
    assert_eq!(
        app.call(&app.admin_token, "DELETE", &format!("/personal_access_tokens/{revoked_id}"), None).status,
        204
    );
    let (_, blocked) = app.token_for(user, &["api"]);
    let (_, good) = app.token_for(user, &["api"]);
    // A well-formed token with a valid checksum that was never issued.
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), ..Default::default() };
    let unknown = tokens::mint("glpat-", &[9; 16], &payload).unwrap();
    let long = format!("glpat-{}", "a".repeat(10_000));
    for bad in ["glpat-malformed", "not-a-token", unknown.as_str(), revoked.as_str(), long.as_str()] {
        assert_generic_401(&app.get(bad, "/user"));
    }
    assert_eq!(app.get(&blocked, "/user").status, 200);
    assert_eq!(app.post(&app.admin_token, &format!("/users/{user}/block"), json!({})).status, 201);
    assert_generic_401(&app.get(&blocked, "/user"));
    assert_generic_401(&app.get(&good, "/user"));
    app.advance_days(400);
    assert_generic_401(&app.get(&app.admin_token, "/user"));
}

#[test]
fn a_string_known_to_be_no_token_is_the_same_401_each_time_and_its_attempts_are_audited_at_most_ten_a_second() {
    let app = TestApp::spawn();
    let payload = tokens::RoutingPayload { cell: Some(1), organization: Some(1), ..Default::default() };
    let unknown = tokens::mint("glpat-", &[7; 16], &payload).unwrap();
    // The first attempt looks the string up and remembers it as no token; the later ones are refused from that,
    // and forward-auth's at once once this second's audited attempts are spent: each the same answer.
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("x:{unknown}")));
    let (mut api, mut git) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        assert_generic_401(&app.get(&unknown, "/user"));
        let gate = app.raw("POST", "/-/auth/api/v4/projects/1/issues", &[("PRIVATE-TOKEN", &unknown)], None);
        api.push((gate.status, gate.text.clone(), gate.header("www-authenticate").map(str::to_owned)));
        let clone =
            app.raw("GET", "/-/auth/g/p.git/info/refs?service=git-upload-pack", &[("Authorization", &basic)], None);
        git.push((clone.status, clone.text.clone(), clone.header("www-authenticate").map(str::to_owned)));
    }
    assert_eq!(api[0].0, 401, "{:?}", api[0]);
    assert!(api.iter().all(|answer| *answer == api[0]), "{api:?}");
    assert_eq!(git[0].0, 401, "{:?}", git[0]);
    assert!(git[0].2.as_deref().is_some_and(|challenge| challenge.starts_with("Basic")), "{:?}", git[0]);
    assert!(git.iter().all(|answer| *answer == git[0]), "{git:?}");
    let events = app.get(&app.admin_token, "/audit_events?per_page=100");
    assert_eq!(events.status, 200, "{}", events.text);
    assert!(!events.text.contains(&unknown), "{}", events.text);
    let mut per_second = std::collections::BTreeMap::<String, usize>::new();
    for event in events.body.as_array().unwrap() {
        if event["event_name"] == "authentication_failed" && event["details"]["custom_message"] == "unknown token" {
            assert_eq!(event["details"]["ip_address"], "127.0.0.1");
            let second: String = event["created_at"].as_str().unwrap().chars().take(19).collect();
            *per_second.entry(second).or_default() += 1;
        }
    }
    // Twenty-four attempts: the first ten of each second are audited, the rest counted in the process log alone.
    assert!(per_second.values().all(|n| *n <= 10), "{per_second:?}");
    assert!(per_second.values().sum::<usize>() >= 10, "{per_second:?}");
}

#[test]
fn no_credential_on_a_protected_endpoint_is_a_401() {
    let app = TestApp::spawn();
    let reply = app.raw("GET", "/api/v4/user", &[], None);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["message"], "401 Unauthorized");
}

#[test]
fn two_different_credentials_are_refused() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, other) = app.token_for(user, &["api"]);
    let bearer = format!("Bearer {other}");
    let reply =
        app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &app.admin_token), ("Authorization", &bearer)], None);
    assert_generic_401(&reply);
}

#[test]
fn read_api_reads_but_cannot_write() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["read_api"]);
    assert_eq!(app.get(&token, "/personal_access_tokens").status, 200);
    let reply = app.post(&token, "/groups", json!({"name": "G", "path": "g"}));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error"], "insufficient_scope");
    assert_eq!(reply.body["scope"], "api");
}

#[test]
fn read_user_reaches_the_user_endpoints_only() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["read_user"]);
    assert_eq!(app.get(&token, "/user").status, 200);
    assert_eq!(app.get(&token, &format!("/users/{user}")).status, 200);
    assert_eq!(app.get(&token, "/personal_access_tokens").status, 403);
    assert_eq!(app.get(&token, "/groups").status, 403);
}

#[test]
fn repository_scopes_reach_no_api_endpoint() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["read_repository", "write_repository"]);
    assert_eq!(app.get(&token, "/user").status, 403);
    assert_eq!(app.get(&token, "/projects").status, 403);
    assert_eq!(app.get(&token, "/personal_access_tokens/self").status, 200, "a token may always read itself");
}

#[test]
fn sudo_acts_as_another_user_only_with_the_sudo_scope() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let as_alice = app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &app.admin_token), ("Sudo", "alice")], None);
    assert_eq!(as_alice.status, 200);
    assert_eq!(as_alice.body["id"], user);
    let (_, plain_admin) = app.token_for(1, &["api"]);
    let refused = app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &plain_admin), ("Sudo", "alice")], None);
    assert_eq!(refused.status, 403);
    let (_, alice_token) = app.token_for(user, &["api"]);
    let refused = app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &alice_token), ("Sudo", "root")], None);
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["message"], "403 Forbidden - Must be admin to use sudo");
    let nobody = app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &app.admin_token), ("Sudo", "nobody")], None);
    assert_eq!(nobody.status, 404);
    let private = app.post(&app.admin_token, "/projects", json!({"name": "Closed"}));
    let path = format!("/api/v4/projects/{}", private.body["id"]);
    let as_alice = app.raw("GET", &path, &[("PRIVATE-TOKEN", &app.admin_token), ("Sudo", "alice")], None);
    assert_eq!(as_alice.status, 404, "a Sudo request has the named user's rights, not the administrator's");
    let anonymous = app.raw("GET", "/api/v4/user", &[("Sudo", "alice")], None);
    assert_eq!(anonymous.status, 401);
}

#[test]
fn with_admin_mode_on_administrator_actions_need_the_admin_mode_scope() {
    let app = TestApp::spawn();
    let (_, api_only) = app.token_for(1, &["api"]);
    assert_eq!(
        app.call(&app.admin_token, "PUT", "/application/settings", Some(json!({"admin_mode": true}))).status,
        200
    );
    assert_eq!(app.get(&api_only, "/users").status, 200, "non-admin reads still work");
    assert_eq!(app.get(&api_only, "/audit_events").status, 403);
    assert_eq!(app.get(&app.admin_token, "/audit_events").status, 200);
}

#[test]
fn audit_events_record_failures_and_never_a_secret() {
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (id, token) = app.token_for(user, &["api"]);
    app.call(&token, "DELETE", "/personal_access_tokens/self", None);
    assert_eq!(app.get(&token, "/user").status, 401);
    let events = app.get(&app.admin_token, "/audit_events?per_page=100");
    assert_eq!(events.status, 200);
    assert!(!events.text.contains("glpat-"), "{}", events.text);
    let failed = events.body.as_array().unwrap().iter().find(|e| e["event_name"] == "authentication_failed").unwrap();
    assert_eq!(failed["entity_id"], id);
    assert_eq!(failed["details"]["custom_message"], "token revoked");
    assert_eq!(failed["details"]["ip_address"], "127.0.0.1");
}

/// Reads one whole answer from `stream` (headers and a `Content-Length` body); empty if the server hung up.
fn answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::{BufRead, BufReader, Read};
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return head;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    head
}

#[test]
fn a_denied_request_with_a_body_leaves_the_connection_usable() {
    use std::io::Write;
    let app = TestApp::spawn();
    let user = app.create_user("alice");
    let (_, token) = app.token_for(user, &["read_api"]);
    let mut stream = std::net::TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    let body = r#"{"name": "denied before any handler reads this"}"#;
    // The body arrives after the headers, as a client streaming it sends it: the denial must not leave it unread.
    let head = format!(
        "POST /api/v4/projects HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    stream.write_all(body.as_bytes()).unwrap();
    let denied = answer(&mut stream);
    assert!(denied.starts_with("HTTP/1.1 403"), "{denied}");
    stream
        .write_all(format!("GET /api/v4/user HTTP/1.1\r\nHost: x\r\nPRIVATE-TOKEN: {token}\r\n\r\n").as_bytes())
        .unwrap();
    let next = answer(&mut stream);
    assert!(next.starts_with("HTTP/1.1 200"), "the same connection answers the next request: {next:?}");
}
