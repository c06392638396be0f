//! Feed and incoming-email tokens (issue 15, point 5): one of each per user, resettable; a feed token reads the
//! feeds its user may read (`.atom`, `.ics`) and nothing else; an incoming-email token names its user in an
//! incoming address, for the internal lookup alone, and is no credential of any request.

use serde_json::json;

use crate::helpers::{Reply, TestApp};

fn id(reply: &Reply) -> i64 {
    reply.body["id"].as_i64().unwrap_or_else(|| panic!("no id in {}", reply.text))
}

/// The status forward-auth (nginx form) answers for `GET uri`.
fn feed(app: &TestApp, uri: &str) -> u16 {
    app.raw("GET", "/-/auth", &[("X-Original-Method", "GET"), ("X-Original-URI", uri)], None).status
}

#[test]
fn a_feed_token_reads_its_users_feeds_and_nothing_else() {
    let app = TestApp::spawn();
    let admin = &app.admin_token;
    let group = id(&app.post(admin, "/groups", json!({"name": "G", "path": "g"})));
    let project = id(&app.post(admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": group})));
    app.post(admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": group}));
    let dev = app.create_user("dev");
    let added = app.post(admin, &format!("/projects/{project}/members"), json!({"user_id": dev, "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    let (_, token) = app.token_for(dev, &["api"]);

    assert_eq!(app.get(&token, "/user/feed_token").status, 404, "none yet");
    let made = app.post(&token, "/user/feed_token", json!({}));
    assert_eq!(made.status, 201, "{}", made.text);
    let secret = made.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("glft-") && secret.len() == 25, "{secret}");
    let shown = app.get(&token, "/user/feed_token");
    assert_eq!(shown.status, 200);
    assert!(shown.body.get("token").is_none() && !shown.text.contains(&secret), "never shown again");

    // Its user's feeds, on the project they are a member of; not another project's, nothing of the API.
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={secret}")), 200);
    assert_eq!(feed(&app, &format!("/g/p.atom?feed_token={secret}")), 200);
    assert_eq!(feed(&app, &format!("/g/p/-/issues.ics?feed_token={secret}")), 200);
    assert_eq!(feed(&app, &format!("/dashboard/issues.atom?feed_token={secret}")), 200);
    assert_eq!(feed(&app, &format!("/g/q/-/issues.atom?feed_token={secret}")), 403);
    assert_eq!(feed(&app, "/g/p/-/issues.atom"), 401, "a private project's feed needs a credential");
    assert_eq!(feed(&app, &format!("/api/v4/projects/{project}?feed_token={secret}")), 401);
    assert_eq!(feed(&app, &format!("/g/p.git/info/refs?service=git-upload-pack&feed_token={secret}")), 401);
    let rest = app.raw("GET", &format!("/api/v4/user?feed_token={secret}"), &[], None);
    assert_eq!(rest.status, 401, "{}", rest.text);
    assert_eq!(app.raw("GET", "/api/v4/user", &[("PRIVATE-TOKEN", &secret)], None).status, 401);
    let decided = app.post(
        admin,
        "/internal/authorize",
        json!({"requests": [{"credential": secret, "method": "GET", "path": "/g/p/-/issues.atom"}]}),
    );
    assert_eq!(decided.body["results"][0]["allowed"], true, "{}", decided.text);
    assert_eq!(decided.body["results"][0]["identity"]["token_type"], "feed_token");
    // A personal token reads feeds too, by its scopes.
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?private_token={token}")), 200);

    // The user's current rights: removed from the project, the feed is closed.
    let removed = app.call(admin, "DELETE", &format!("/projects/{project}/members/{dev}"), None);
    assert_eq!(removed.status, 204);
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={secret}")), 403);
    app.post(admin, &format!("/projects/{project}/members"), json!({"user_id": dev, "access_level": 30}));
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={secret}")), 200);

    // A reset refuses the old token at once; a removal refuses the new one.
    let again = app.post(&token, "/user/feed_token", json!({}));
    let fresh = again.body["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    assert_ne!(again.body["id"], made.body["id"], "a new token never takes an old one's id");
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={secret}")), 401);
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={fresh}")), 200);
    let info = app.post(admin, "/admin/token", json!({"token": fresh}));
    assert_eq!(info.body["type"], "feed_token", "{}", info.text);
    assert_eq!(app.call(&token, "DELETE", "/user/feed_token", None).status, 204);
    assert_eq!(feed(&app, &format!("/g/p/-/issues.atom?feed_token={fresh}")), 401);
    assert_eq!(app.call(&token, "DELETE", "/user/feed_token", None).status, 404);
}

#[test]
fn an_incoming_email_token_maps_an_address_to_its_user_and_is_no_credential() {
    let app = TestApp::spawn();
    let admin = &app.admin_token;
    let dev = app.create_user("dev");
    let (_, token) = app.token_for(dev, &["api"]);
    let made = app.post(&token, "/user/incoming_email_token", json!({}));
    assert_eq!(made.status, 201, "{}", made.text);
    let secret = made.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("glimt-") && secret.len() == 31, "{secret}");

    let address = format!("incoming+g-p-7-{secret}-issue@mail.example.com");
    let found = app.post(admin, "/internal/incoming_email", json!({"address": address}));
    assert_eq!((found.status, found.body["user"]["id"].as_i64()), (200, Some(dev)), "{}", found.text);
    // The same 404 for an address with no token, an unknown token and a blocked user.
    let unknown = format!("incoming+g-p-7-glimt-{}-issue@mail.example.com", "a".repeat(25));
    for other in ["incoming+nothing@mail.example.com", unknown.as_str()] {
        let missing = app.post(admin, "/internal/incoming_email", json!({"address": other}));
        assert_eq!(missing.status, 404, "{other}: {}", missing.text);
    }
    // Only administrators and `authorize` service accounts look addresses up.
    assert_eq!(app.post(&token, "/internal/incoming_email", json!({"address": address})).status, 403);
    assert_eq!(app.post(admin, "/internal/incoming_email", json!({})).status, 400);
    assert_eq!(app.post(admin, "/internal/incoming_email", json!({"address": "x".repeat(400)})).status, 400);

    // No credential anywhere, through any channel.
    for headers in [[("PRIVATE-TOKEN", secret.as_str())], [("Authorization", &format!("Bearer {secret}"))]] {
        assert_eq!(app.raw("GET", "/api/v4/user", &headers, None).status, 401);
    }
    assert_eq!(app.raw("GET", &format!("/api/v4/user?private_token={secret}"), &[], None).status, 401);
    assert_eq!(feed(&app, &format!("/dashboard/issues.atom?feed_token={secret}")), 401);

    assert_eq!(app.post(admin, &format!("/users/{dev}/block"), json!({})).status, 201);
    assert_eq!(app.post(admin, "/internal/incoming_email", json!({"address": address})).status, 404);
    assert_eq!(app.post(admin, &format!("/users/{dev}/unblock"), json!({})).status, 201);
    let reset = app.post(&token, "/user/incoming_email_token", json!({}));
    assert_eq!(reset.status, 201);
    assert_eq!(app.post(admin, "/internal/incoming_email", json!({"address": address})).status, 404, "reset");
    // A leak report removes it.
    let fresh = reset.body["token"].as_str().unwrap().to_owned();
    let body = json!({"token": fresh}).to_string();
    let reported = app.raw("POST", "/api/v4/internal/tokens/leaked", &[], Some(("application/json", body.as_bytes())));
    assert_eq!(reported.status, 202);
    assert_eq!(app.get(&token, "/user/incoming_email_token").status, 404);
}
