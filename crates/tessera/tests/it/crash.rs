//! Nothing lost on a crash (issue 21, point 8): `tessera serve` is killed with SIGKILL while token creations,
//! rotations and revocations are in flight, restarted on the same database (SQLite, or PostgreSQL when
//! `TEST_DATABASE_URL` is set), and checked: every token is there whole with its audit entry or not at all, every
//! rotation family has exactly one live member, every revocation that answered 204 holds, and rows written before
//! the crash (a token's last use, the audit log) are still there.

use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tessera serve`; returns it and the first administrator's token when this start created it.
fn start(data_dir: &std::path::Path, database_url: Option<&str>) -> (Server, Option<String>) {
    let started = crate::serve::start(data_dir, database_url);
    (Server { child: started.child, url: format!("{}/api/v4", started.url) }, started.token)
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// A request; `None` when the server did not answer (it was killed).
fn call(
    agent: &ureq::Agent,
    url: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let request =
        ureq::http::Request::builder().method(method).uri(format!("{url}{path}")).header("PRIVATE-TOKEN", token);
    let response = match body {
        Some(body) => agent.run(request.header("Content-Type", "application/json").body(body.to_string()).unwrap()),
        None => agent.run(request.body(()).unwrap()),
    };
    let response = response.ok()?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// What the clients were told before the crash.
#[derive(Default)]
struct Told {
    /// Tokens whose creation answered 201: name and plaintext.
    created: Vec<(String, String)>,
    /// Rotations that answered 200: the old token's id and the new plaintext.
    rotated: Vec<(i64, String)>,
    /// Revocations that answered 204, by token id.
    revoked: Vec<i64>,
}

/// Every page of a list.
fn all(agent: &ureq::Agent, url: &str, token: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, body) =
            call(agent, url, token, "GET", &format!("{path}{separator}per_page=100&page={page}"), None).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        let batch = body.as_array().cloned().unwrap_or_default();
        let done = batch.len() < 100;
        items.extend(batch);
        if done {
            break;
        }
    }
    items
}

/// One round: tokens to rotate and revoke, a storm of writes, SIGKILL after `delay`, a restart, the checks.
fn crash_round(data_dir: &std::path::Path, database_url: Option<&str>, admin: &mut Option<String>, delay: Duration) {
    let (server, printed) = start(data_dir, database_url);
    if admin.is_none() {
        *admin = printed;
    }
    let admin = admin.clone().unwrap();
    let (agent, url) = (new_agent(), server.url.clone());
    let user = match call(&agent, &url, &admin, "GET", "/users?username=alice", None).unwrap().1[0]["id"].as_i64() {
        Some(id) => id,
        None => {
            let body = json!({"username": "alice", "email": "alice@example.com", "name": "Alice", "password": "a-long-passphrase-1"});
            call(&agent, &url, &admin, "POST", "/users", Some(body)).unwrap().1["id"].as_i64().unwrap()
        }
    };
    let mint = |name: &str| {
        let body = json!({"name": name, "scopes": ["api"]});
        let (status, reply) =
            call(&agent, &url, &admin, "POST", &format!("/users/{user}/personal_access_tokens"), Some(body)).unwrap();
        assert_eq!(status, 201, "{reply}");
        (reply["id"].as_i64().unwrap(), reply["token"].as_str().unwrap().to_owned())
    };
    let to_rotate: Vec<(i64, String)> = (0..40).map(|i| mint(&format!("rotate-{i}"))).collect();
    let to_revoke: Vec<(i64, String)> = (0..40).map(|i| mint(&format!("revoke-{i}"))).collect();
    // A use written before the crash: reading a token by id flushes the write-behind usage first.
    let used = mint("used");
    call(&agent, &url, &used.1, "GET", "/user", None).unwrap();
    let (_, seen) = call(&agent, &url, &admin, "GET", &format!("/personal_access_tokens/{}", used.0), None).unwrap();
    assert!(seen["last_used_at"].is_string(), "{seen}");
    let audit_before = all(&agent, &url, &admin, "/audit_events").len();

    let told = Arc::new(Mutex::new(Told::default()));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (told, url, admin) = (told.clone(), url.clone(), admin.clone());
        let to_rotate = to_rotate.clone();
        let to_revoke = to_revoke.clone();
        workers.push(std::thread::spawn(move || {
            let agent = new_agent();
            for i in 0.. {
                let answered = match (worker, i % 2) {
                    (0 | 1, _) => {
                        let name = format!("created-{worker}-{i}");
                        let body = json!({"name": name, "scopes": ["read_api"]});
                        let path = format!("/users/{user}/personal_access_tokens");
                        call(&agent, &url, &admin, "POST", &path, Some(body)).map(|(status, reply)| {
                            if status == 201 {
                                told.lock().unwrap().created.push((name, reply["token"].as_str().unwrap().to_owned()));
                            }
                        })
                    }
                    (2, _) => match to_rotate.get(i) {
                        Some((id, plaintext)) => {
                            let path = "/personal_access_tokens/self/rotate";
                            call(&agent, &url, plaintext, "POST", path, Some(json!({}))).map(|(status, reply)| {
                                if status == 200 {
                                    told.lock()
                                        .unwrap()
                                        .rotated
                                        .push((*id, reply["token"].as_str().unwrap().to_owned()));
                                }
                            })
                        }
                        None => None,
                    },
                    _ => match to_revoke.get(i) {
                        Some((id, _)) => {
                            call(&agent, &url, &admin, "DELETE", &format!("/personal_access_tokens/{id}"), None).map(
                                |(status, _)| {
                                    if status == 204 {
                                        told.lock().unwrap().revoked.push(*id);
                                    }
                                },
                            )
                        }
                        None => None,
                    },
                };
                if answered.is_none() {
                    break;
                }
            }
        }));
    }
    std::thread::sleep(delay);
    drop(server);
    for worker in workers {
        worker.join().unwrap();
    }

    let (server, _) = start(data_dir, database_url);
    let url = server.url.clone();
    let told = told.lock().unwrap();
    eprintln!(
        "killed after {delay:?}: {} creations, {} rotations and {} revocations had answered",
        told.created.len(),
        told.rotated.len(),
        told.revoked.len()
    );
    let tokens = all(&agent, &url, &admin, &format!("/personal_access_tokens?user_id={user}"));
    let audit = all(&agent, &url, &admin, "/audit_events");
    assert!(audit.len() >= audit_before, "audit rows written before the crash are kept");
    let audited = |id: i64| {
        audit.iter().any(|e| {
            let details = &e["details"];
            (e["entity_id"] == id && e["event_name"] == "personal_access_token_created")
                || (e["event_name"] == "personal_access_token_rotated"
                    && details["new_token_id"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(id))
        })
    };
    for token in &tokens {
        let id = token["id"].as_i64().unwrap();
        assert!(token["name"].is_string() && token["scopes"].as_array().is_some_and(|s| !s.is_empty()), "{token}");
        assert!(audited(id), "token {id} is there whole, with the audit entry of its creation: {token}");
    }
    let status = |token: &str| call(&agent, &url, token, "GET", "/user", None).unwrap().0;
    for (name, plaintext) in &told.created {
        assert!(tokens.iter().any(|t| t["name"] == name.as_str()), "{name} answered 201 and is there");
        assert_eq!(status(plaintext), 200, "{name} works after the crash");
    }
    for (old, new) in &told.rotated {
        assert_eq!(status(new), 200, "a rotation that answered 200 holds");
        let old_token = tokens.iter().find(|t| t["id"] == *old).unwrap();
        assert_eq!(old_token["revoked"], true, "{old_token}");
    }
    for (id, plaintext) in &to_rotate {
        // The family: the token and the tokens rotated from it, as the audit entries of rotations name them
        // (they commit with the rotation).
        let successors: Vec<String> = audit
            .iter()
            .filter(|e| e["event_name"] == "personal_access_token_rotated" && e["entity_id"] == *id)
            .filter_map(|e| e["details"]["new_token_id"].as_str().map(str::to_owned))
            .collect();
        let family: Vec<&Value> = tokens
            .iter()
            .filter(|t| t["id"] == *id || successors.contains(&t["id"].as_i64().unwrap_or(0).to_string()))
            .collect();
        assert_eq!(family.len(), 1 + successors.len(), "every rotation's new token is there: {family:?}");
        let live = family.iter().filter(|t| t["active"] == true).count();
        assert_eq!(live, 1, "exactly one live member of the family of {id}: {family:?}");
        let rotated = told.rotated.iter().any(|(old, _)| old == id);
        assert_eq!(status(plaintext) == 200, !rotated && family.len() == 1, "token {id}");
    }
    for (id, plaintext) in &to_revoke {
        let token = tokens.iter().find(|t| t["id"] == *id).unwrap();
        if told.revoked.contains(id) {
            assert_eq!(token["revoked"], true, "a revocation that answered 204 holds: {token}");
            assert_eq!(status(plaintext), 401);
        }
        assert_eq!(token["revoked"] == true, status(plaintext) == 401, "{token}");
    }
    let (_, seen) = call(&agent, &url, &admin, "GET", &format!("/personal_access_tokens/{}", used.0), None).unwrap();
    assert!(seen["last_used_at"].is_string(), "the use written before the crash is kept: {seen}");
    drop(server);
}

#[test]
fn a_server_killed_in_the_middle_of_token_writes_restarts_with_each_token_whole_or_absent() {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    let data_dir = std::env::temp_dir().join(format!("tessera-crash-{}", u64::from_le_bytes(random)));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let postgres = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"));
    let database = postgres.as_ref().map(|_| runtime.block_on(store::testing::TestDatabase::create()).unwrap());
    let database_url = database.as_ref().map(|d| d.url.clone());
    let mut admin = None;
    // The kill lands at different points of the storm: early, in the middle, and late.
    for delay in [10, 30, 60, 120, 300] {
        crash_round(&data_dir, database_url.as_deref(), &mut admin, Duration::from_millis(delay));
    }
    if let Some(database) = database {
        runtime.block_on(database.drop_database()).unwrap();
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}
