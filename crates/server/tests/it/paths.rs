//! One reading of a path (issue 21, point 5): for every generated alias of a request, REST, forward-auth in the
//! Envoy sub-path form and in the nginx form, and the decision API give the answer of its canonical form, or all
//! four answer 400. Requests go out as raw bytes, so that no client library cleans the target first.

use std::io::{Read, Write};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::helpers::TestApp;

/// What a way in answered: a bad request, or allowed or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    BadRequest,
    Allowed(bool),
}

struct World {
    app: TestApp,
    token: String,
    /// The project the token's user is a Developer of, and one they are nothing of.
    mine: i64,
    other: i64,
}

fn world() -> World {
    let app = TestApp::spawn();
    let admin = app.admin_token.clone();
    let id = |reply: crate::helpers::Reply| reply.body["id"].as_i64().unwrap_or_else(|| panic!("{}", reply.text));
    let g = id(app.post(&admin, "/groups", json!({"name": "G", "path": "g"})));
    let h = id(app.post(&admin, "/groups", json!({"name": "H", "path": "h"})));
    let mine = id(app.post(&admin, "/projects", json!({"name": "P", "path": "p", "namespace_id": g})));
    let other = id(app.post(&admin, "/projects", json!({"name": "Q", "path": "q", "namespace_id": h})));
    let dev = app.create_user("dev");
    let added = app.post(&admin, &format!("/groups/{g}/members"), json!({"user_id": dev, "access_level": 30}));
    assert_eq!(added.status, 201, "{}", added.text);
    let (_, token) = app.token_for(dev, &["api"]);
    World { app, token, mine, other }
}

/// Sends one request exactly as given and returns its status and body.
fn send(app: &TestApp, method: &str, target: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or(""));
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {reply}"));
    (status, reply.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

fn status_answer(status: u16) -> Answer {
    match status {
        400 => Answer::BadRequest,
        200..=299 => Answer::Allowed(true),
        _ => Answer::Allowed(false),
    }
}

/// The four ways in, asked about `GET target` with the world's token.
fn ask(w: &World, target: &str) -> [Answer; 4] {
    let auth = [("PRIVATE-TOKEN", w.token.as_str())];
    let rest = send(&w.app, "GET", target, &auth, None).0;
    let envoy = send(&w.app, "GET", &format!("/-/auth{target}"), &auth, None).0;
    let nginx_headers = [("PRIVATE-TOKEN", w.token.as_str()), ("X-Original-URI", target), ("X-Original-Method", "GET")];
    let nginx = send(&w.app, "GET", "/-/auth", &nginx_headers, None).0;
    let asked = json!({"requests": [{"credential": w.token, "method": "GET", "path": target}]}).to_string();
    let admin = [("PRIVATE-TOKEN", w.app.admin_token.as_str())];
    let (status, body) = send(&w.app, "POST", "/api/v4/internal/authorize", &admin, Some(&asked));
    let decision = match status {
        400 => Answer::BadRequest,
        200 => {
            let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            Answer::Allowed(body["results"][0]["allowed"].as_bool().unwrap_or_else(|| panic!("{body}")))
        }
        other => panic!("the decision API answered {other}: {body}"),
    };
    [status_answer(rest), status_answer(envoy), status_answer(nginx), decision]
}

/// Percent-encodes every byte of `text` (upper or lower case hex).
fn encode(text: &str, upper: bool) -> String {
    text.bytes().map(|b| if upper { format!("%{b:02X}") } else { format!("%{b:02x}") }).collect()
}

/// An alias of `GET /api/v4/projects/:project/members` for one of the two projects, built from spellings of its
/// segments, separators between them and a tail, some with one reading and some with none.
fn alias(w: &World) -> impl Strategy<Value = String> + use<> {
    let projects = vec![w.mine.to_string(), w.other.to_string(), "g%2Fp".to_owned(), "h%2Fq".to_owned()];
    let other = w.other;
    let spelling = prop_oneof![Just(0u8), Just(1u8), Just(2u8)];
    // Mostly plain separators and no tail, so that readable aliases are common too.
    let plain = || std::iter::repeat_n("/", 24);
    let separator =
        prop::sample::select(plain().chain(["//", "/./", "/zz/../", "/%2e/", "/%2E%2e/", "%2F"]).collect::<Vec<_>>());
    let tail = prop::sample::select(vec![
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "".to_owned(),
        "/".to_owned(),
        "/".to_owned(),
        "/.".to_owned(),
        "/..".to_owned(),
        "#frag".to_owned(),
        "#/../../projects/1".to_owned(),
        "%23".to_owned(),
        "\\".to_owned(),
        "%5C".to_owned(),
        "%00".to_owned(),
        "%252F".to_owned(),
        format!("/..%2F..%2F{other}%2Fmembers"),
        format!("%2F..%2F..%2F{other}%2Fmembers"),
    ]);
    (prop::sample::select(projects), prop::collection::vec((spelling, separator), 5), tail).prop_map(
        |(project, parts, tail)| {
            let segments = ["api", "v4", "projects", project.as_str(), "members"];
            let mut path = String::new();
            for (segment, (spelling, separator)) in segments.iter().zip(parts) {
                path.push_str(if path.is_empty() { "/" } else { separator });
                match spelling {
                    // A project path already carries its encoded `/`: only its plain spelling is kept.
                    _ if segment.contains('%') => path.push_str(segment),
                    1 => path.push_str(&encode(segment, true)),
                    2 => path.push_str(&encode(&segment[..1], false)),
                    _ => path.push_str(segment),
                }
                if spelling == 2 && !segment.contains('%') {
                    path.push_str(&segment[1..]);
                }
            }
            path.push_str(&tail);
            path
        },
    )
}

#[test]
fn every_alias_gets_the_canonical_answer_or_400_on_every_way_in() {
    let w = world();
    let mine = format!("/api/v4/projects/{}/members", w.mine);
    assert_eq!(ask(&w, &mine), [Answer::Allowed(true); 4], "the canonical request is allowed");
    let other = format!("/api/v4/projects/{}/members", w.other);
    assert_eq!(ask(&w, &other), [Answer::Allowed(false); 4], "the other project is refused");
    let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
    let seen = std::cell::RefCell::new((0, 0, 0));
    runner
        .run(&alias(&w), |target| {
            let answers = ask(&w, &target);
            if answers.contains(&Answer::BadRequest) {
                prop_assert_eq!(answers, [Answer::BadRequest; 4], "{}", target);
                seen.borrow_mut().0 += 1;
                return Ok(());
            }
            let path = target.split('?').next().unwrap_or_default();
            let canonical = catalog::canonical_path(path).map_err(|e| TestCaseError::fail(format!("{target}: {e}")))?;
            let expected = ask(&w, &canonical.to_string());
            prop_assert_eq!(answers, expected, "{} reads as {}", target, canonical);
            if answers[0] == Answer::Allowed(true) {
                seen.borrow_mut().1 += 1
            } else {
                seen.borrow_mut().2 += 1
            }
            Ok(())
        })
        .unwrap();
    let (bad, allowed, refused) = *seen.borrow();
    assert!(bad > 0 && allowed > 0 && refused > 0, "the aliases cover every answer: {bad} / {allowed} / {refused}");
}

#[test]
fn the_attacks_of_the_issue_are_bad_requests_on_every_way_in() {
    let w = world();
    let (p, q) = (w.mine, w.other);
    for target in [
        format!("/api/v4/projects/{p}/issues/..%2F..%2F{q}%2Fissues"),
        format!("/api/v4/projects/{p}/jobs/..%2F..%2F{q}%2Fjobs"),
        format!("/api/v4/projects/{p}#/../{q}/issues"),
        format!("/api/v4/projects/{p}/members/1%2F2"),
        format!("/api/v4/projects/{p}/..%5C{q}"),
        format!("/api/v4/projects/{p}/%2e%2e/{q}"),
    ] {
        assert_eq!(ask(&w, &target), [Answer::BadRequest; 4], "{target}");
    }
}
