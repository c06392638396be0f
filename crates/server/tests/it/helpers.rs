//! `TestApp::spawn()`: a real Tessera on port 0 with a fresh database and a clock the test can move.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

/// A clock that starts at the real time and moves when told.
pub struct TestClock {
    pub offset_ms: AtomicI64,
}

impl authority::Clock for TestClock {
    fn now(&self) -> domain::Timestamp {
        authority::SystemClock.now().add_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

pub struct TestApp {
    pub base: String,
    pub admin_token: String,
    pub clock: Arc<TestClock>,
    pub data_dir: std::path::PathBuf,
    agent: ureq::Agent,
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<server::Running>,
    database: Option<store::testing::TestDatabase>,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub fn config(data_dir: &std::path::Path, database_url: &str) -> server::Config {
    let overrides = server::ConfigOverrides {
        data_dir: Some(data_dir.to_path_buf()),
        listen: Some("127.0.0.1:0".to_owned()),
        database_url: Some(database_url.to_owned()),
        token_secrets: Some(vec!["11".repeat(32)]),
        ..server::ConfigOverrides::default()
    };
    server::Config::resolve(overrides, None).unwrap()
}

impl TestApp {
    pub fn spawn() -> TestApp {
        // `TESSERA_TEST_LOG=debug` shows the servers' logs when a test needs explaining.
        if let Ok(filter) = std::env::var("TESSERA_TEST_LOG") {
            server::init_logging(&filter);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let database = runtime.block_on(store::testing::TestDatabase::create()).unwrap();
        let data_dir = std::env::temp_dir().join(format!("tessera-it-{}", database.url.len() as u64 ^ rand_u64()));
        let clock = Arc::new(TestClock { offset_ms: AtomicI64::new(0) });
        let config = config(&data_dir, &database.url);
        let running = runtime.block_on(server::start_with_clock(&config, clock.clone())).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        TestApp {
            base: format!("http://{}", running.addr),
            admin_token: running.admin_token.clone().expect("a fresh database prints an admin token"),
            clock,
            data_dir,
            agent,
            runtime: Some(runtime),
            running: Some(running),
            database: Some(database),
        }
    }

    /// Moves the server's clock forward.
    pub fn advance_days(&self, days: i64) {
        self.clock.offset_ms.fetch_add(days * 86_400_000, Ordering::SeqCst);
    }

    /// Moves the server's clock forward by seconds.
    pub fn advance_seconds(&self, seconds: i64) {
        self.clock.offset_ms.fetch_add(seconds * 1000, Ordering::SeqCst);
    }

    /// Sends a request with the given headers and raw body.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<(&str, &[u8])>) -> Reply {
        self.send(&self.base, method, path, headers, body)
    }

    /// Sends a request to the server at `base` (this app, or another node) with this app's client.
    fn send(
        &self,
        base: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Reply {
        let url = format!("{base}{path}");
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let response = match body {
            Some((content_type, bytes)) => {
                let request = builder.header("Content-Type", content_type).body(bytes.to_vec()).unwrap();
                self.agent.run(request)
            }
            None => self.agent.run(builder.body(()).unwrap()),
        }
        .unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = response.into_body().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    /// A JSON request authenticated with `PRIVATE-TOKEN`.
    pub fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let headers = [("PRIVATE-TOKEN", token)];
        let text = body.map(|b| b.to_string());
        self.raw(method, &format!("/api/v4{path}"), &headers, text.as_ref().map(|t| ("application/json", t.as_bytes())))
    }

    pub fn get(&self, token: &str, path: &str) -> Reply {
        self.call(token, "GET", path, None)
    }

    pub fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(token, "POST", path, Some(body))
    }

    /// Creates a user with a password, as the administrator; returns its id.
    pub fn create_user(&self, username: &str) -> i64 {
        let reply = self.post(
            &self.admin_token,
            "/users",
            json!({"username": username, "email": format!("{username}@example.com"), "name": username, "password": "a long password"}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["id"].as_i64().unwrap()
    }

    /// Issues a token to `user_id` with `scopes`, as the administrator; returns (id, plaintext).
    pub fn token_for(&self, user_id: i64, scopes: &[&str]) -> (i64, String) {
        let reply = self.post(
            &self.admin_token,
            &format!("/users/{user_id}/personal_access_tokens"),
            json!({"name": "t", "scopes": scopes}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        (reply.body["id"].as_i64().unwrap(), reply.body["token"].as_str().unwrap().to_owned())
    }

    /// Stops the server and keeps the database (for a restart), returning its URL and data directory.
    pub fn stop_keeping_data(mut self) -> (tokio::runtime::Runtime, store::testing::TestDatabase, std::path::PathBuf) {
        let runtime = self.runtime.take().unwrap();
        if let Some(running) = self.running.take() {
            runtime.block_on(running.stop()).unwrap();
        }
        (runtime, self.database.take().unwrap(), self.data_dir.clone())
    }
}

/// Another Tessera started with the same configuration on the same database (a second node).
pub struct Node {
    pub base: String,
    running: Option<server::Running>,
    data_dir: std::path::PathBuf,
}

impl TestApp {
    /// Starts a second node on this app's database, or returns why it cannot start.
    pub fn start_second_node(&self) -> anyhow::Result<Node> {
        let database = self.database.as_ref().unwrap();
        let data_dir = std::env::temp_dir().join(format!("tessera-it-node-{}", rand_u64()));
        // Nodes behind one address share its URL, which is also the `iss` of CI job tokens.
        let mut config = config(&data_dir, &database.url);
        config.external_url = Some(self.base.clone());
        let runtime = self.runtime.as_ref().unwrap();
        let running = runtime.block_on(server::start_with_clock(&config, self.clock.clone())).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&data_dir);
        })?;
        Ok(Node { base: format!("http://{}", running.addr), running: Some(running), data_dir })
    }

    /// Stops a node started by `start_second_node`.
    pub fn stop_node(&self, mut node: Node) {
        if let Some(running) = node.running.take() {
            self.runtime.as_ref().unwrap().block_on(running.stop()).unwrap();
        }
        let _ = std::fs::remove_dir_all(&node.data_dir);
    }

    /// Whether the tests run on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.database.as_ref().is_some_and(|d| d.url.starts_with("postgres"))
    }

    /// A request to another node, with this app's client.
    pub fn raw_at(&self, base: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(base, method, path, headers, None)
    }
}

/// Polls `check` until it holds, for at most one second; returns how long it took.
pub fn within_one_second(check: impl Fn() -> bool) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(1) {
        if check() {
            return Some(start.elapsed());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    u64::from_le_bytes(b)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if let Some(running) = self.running.take() {
                let _ = runtime.block_on(running.stop());
            }
            if let Some(database) = self.database.take() {
                let _ = runtime.block_on(database.drop_database());
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl TestApp {
    /// Today, by the server's clock.
    pub fn clock_today(&self) -> domain::Date {
        use authority::Clock;
        self.clock.now().date()
    }
}

/// An `Authority` over a fresh store of its own, with its fact cache on, for tests that reach the store and the
/// use cases directly (without a server).
pub async fn authority_on_fresh_store() -> (store::testing::TestDatabase, Arc<store::SqlStore>, authority::Authority) {
    let db = store::testing::TestDatabase::create().await.unwrap();
    let store = Arc::new(store::SqlStore::connect(&db.url, 4).await.unwrap());
    let config = authority::AuthorityConfig {
        ci: authority::CiConfig::default(),
        digester: tokens::Digester::new(&[vec![7; 32]]).unwrap(),
        pat_prefix: tokens::Prefix::new("glpat-", None, "glpat-"),
        cell_id: 1,
        catalog: catalog::Catalog::builtin().unwrap(),
        cache_capacity: 100,
    };
    let authority = authority::Authority::new(store.clone(), config, Arc::new(authority::SystemClock));
    authority.cache().enable();
    (db, store, authority)
}
