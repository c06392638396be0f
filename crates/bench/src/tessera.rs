//! Tessera as the benchmarks run it: a real [`Authority`] over a fresh SQLite file, with the server's background
//! usage writer and its fact cache on (the benches also run on the `tessera` binary's allocator).
//!
//! **Invariant:** the Tessera measured is the product's own `Authority`, run as `tessera serve` runs it.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use authority::{
    Actor, AuditContext, Authority, AuthorityConfig, CreateGroup, CreateProject, CreateToken, CreateUser, MemberChange,
    Presented, Request, SystemClock,
};
use domain::{AccessLevel, Channel, MemberSource, User};
use tokio::runtime::Runtime;

use crate::scenario::{Role, Scenario};

/// A directory removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runtime and an authority over a fresh database (SQLite, or PostgreSQL with [`Node::postgres`]),
/// bootstrapped (user 1 is the administrator).
pub struct Node {
    pub rt: Runtime,
    pub authority: Arc<Authority>,
    pub dir: TempDir,
    /// A PostgreSQL node's database, dropped with the node.
    pub database: Option<store::testing::TestDatabase>,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(database) = self.database.take() {
            let _ = self.rt.block_on(database.drop_database());
        }
    }
}

impl Node {
    /// A new node named `name` (its database directory's name).
    pub fn new(name: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("tessera-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let authority = rt.block_on(Node::authority(&url));
        Node { rt, authority, dir: TempDir(dir), database: None }
    }

    /// A new node over a fresh database on the PostgreSQL server `admin_url` names (its administrator's URL),
    /// dropped with the node; an error when the server cannot be reached.
    pub fn postgres(admin_url: &str) -> Result<Node, String> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
        let rt = rt.map_err(|e| e.to_string())?;
        let database = rt.block_on(store::testing::TestDatabase::create_on(Some(admin_url)));
        let database = database.map_err(|e| format!("{e:#}"))?;
        let authority = rt.block_on(Node::authority(&database.url));
        let dir = TempDir(std::env::temp_dir().join(format!("tessera-bench-postgres-{}", std::process::id())));
        Ok(Node { rt, authority, dir, database: Some(database) })
    }

    /// An authority over the database at `url`, as `tessera serve` runs one.
    async fn authority(url: &str) -> Arc<Authority> {
        let store = Arc::new(store::SqlStore::connect(url, 4).await.expect("store"));
        let config = AuthorityConfig {
            ci: authority::CiConfig::default(),
            digester: tokens::Digester::new(&[vec![7; 32]]).expect("digester"),
            pat_prefix: tokens::Prefix::new("glpat-", None, "glpat-"),
            cell_id: 1,
            catalog: catalog::Catalog::builtin().expect("catalog"),
            // Room for every token the benches decide, the memory bench's 100,000 included: a figure per
            // cached token is only that if none was evicted.
            cache_capacity: 1_000_000,
        };
        let authority = Arc::new(Authority::new(store, config, Arc::new(SystemClock)));
        authority.cache().enable();
        // As the server runs it: token uses are written off the request path.
        server::spawn_usage_writer(&authority);
        authority.bootstrap("admin@example.com").await.expect("bootstrap");
        authority.prepare_signing_keys().await.expect("signing keys");
        authority
    }

    /// The administrator.
    pub fn admin(&self) -> Arc<User> {
        Arc::new(self.run(self.authority.user(1)).expect("admin").expect("admin exists"))
    }

    /// Runs a future that completes without waiting (every fact cached) by polling it once, as a server's task
    /// would; one that has to wait (a database read) is finished on the runtime. The caller has entered the
    /// runtime (`rt.enter()`), as a server's task runs inside it.
    pub fn run<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => self.rt.block_on(fut),
        }
    }
}

/// The peers scenario in a real Tessera: its users, projects (private, in one group), memberships and tokens,
/// each token's plaintext kept for the requests.
pub struct ScenarioWorld {
    pub node: Node,
    /// Per scenario token, its plaintext.
    pub tokens: Vec<String>,
    /// Per scenario project, its id.
    pub projects: Vec<i64>,
    /// Per scenario project, `GET /api/v4/projects/:id/repository/tree` (leaked once, to be borrowed by requests).
    pub targets: Vec<&'static str>,
}

impl ScenarioWorld {
    pub fn new(scenario: &Scenario) -> ScenarioWorld {
        let node = Node::new("peers");
        let a = node.authority.clone();
        let ctx = AuditContext::default();
        let admin = node.admin();
        let (tokens, projects) = node.rt.block_on(async {
            let actor = Actor { user: &admin, admin: true, organization_id: None };
            let group = CreateGroup { name: Some("B".into()), path: Some("b".into()), ..CreateGroup::default() };
            let group = a.create_group(&ctx, actor, &group).await.expect("group");
            let mut users = Vec::new();
            for u in 0..crate::scenario::USERS {
                let request = CreateUser {
                    username: Some(format!("user{u}")),
                    email: Some(format!("user{u}@example.com")),
                    name: Some(format!("User {u}")),
                    // No password to hash: a user the benchmark never signs in as.
                    reset_password: true,
                    ..CreateUser::default()
                };
                users.push(a.create_user(&ctx, &request).await.expect("user"));
            }
            let mut projects = Vec::new();
            for p in 0..crate::scenario::PROJECTS {
                let request = CreateProject {
                    name: Some(format!("P{p}")),
                    path: Some(format!("p{p}")),
                    namespace_id: Some(group.id),
                    visibility: Some("private".into()),
                    ..CreateProject::default()
                };
                projects.push(a.create_project(&ctx, actor, &request).await.expect("project").id);
            }
            for (u, p, role) in &scenario.members {
                let access_level = match role {
                    Role::Guest => AccessLevel::Guest,
                    Role::Reporter => AccessLevel::Reporter,
                    Role::Developer => AccessLevel::Developer,
                };
                let user = users.get(*u).expect("member");
                let change = MemberChange { user_id: user.id, access_level, expires_at: None };
                let source = MemberSource::Project(*projects.get(*p).expect("project"));
                a.set_member(&ctx, actor, Some(AccessLevel::Owner), source, &change, Some(false))
                    .await
                    .expect("membership");
            }
            let mut tokens = Vec::new();
            for (t, spec) in scenario.tokens.iter().enumerate() {
                let owner = users.get(spec.owner).expect("owner");
                let request = CreateToken {
                    name: Some(format!("token {t}")),
                    scopes: Some(vec![spec.scope.to_owned()]),
                    // The instance's default lifetime: Tessera checks it on every use, as the others check theirs.
                    ..CreateToken::default()
                };
                let issued = a.create_token(&ctx, owner, &request, false).await.expect("token");
                if spec.revoked {
                    a.revoke_token(&ctx, &issued.token).await.expect("revoke");
                }
                tokens.push(issued.plaintext);
            }
            (tokens, projects)
        });
        let targets = projects
            .iter()
            .map(|id| &*Box::leak(format!("/api/v4/projects/{id}/repository/tree").into_boxed_str()))
            .collect();
        ScenarioWorld { node, tokens, projects, targets }
    }

    /// `GET /api/v4/projects/:id/repository/tree` with token `t` on project `p`, as a gateway would ask it.
    pub fn request<'r>(&'r self, t: usize, p: usize) -> Request<'r> {
        let secret = self.tokens.get(t).map_or("", String::as_str);
        Request {
            credential: Some(Presented { secret, channel: Channel::PrivateTokenHeader, username: None }),
            method: "GET",
            target: self.targets.get(p).copied().unwrap_or("/"),
            ip: Some("10.0.0.1"),
            sudo: None,
            served: true,
            ssh_key: None,
        }
    }

    /// Tessera's answer, the whole decision.
    pub fn allows(&self, t: usize, p: usize) -> bool {
        let _runtime = self.node.rt.enter();
        let request = self.request(t, p);
        self.node.run(self.node.authority.decide_request(&request)).expect("decide").allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tessera_answers_every_question_of_the_scenario_as_the_rule_says() {
        let scenario = Scenario::new();
        let world = ScenarioWorld::new(&scenario);
        for (t, p) in scenario.questions() {
            assert_eq!(world.allows(t, p), scenario.expected(t, p), "token {t} on project {p}");
        }
    }
}
