//! Client commands (`tessera token|user|group|project|member|job-token …`) that talk to a running Tessera through its
//! REST API, with readable tables or `--json`. No database access.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// Where the server is and which token to use.
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// Tessera's URL.
    #[arg(long, env = "TESSERA_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token (for yourself, or with --user for another user as an administrator).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated scopes, such as api,read_repository.
        #[arg(long)]
        scopes: String,
        #[arg(long)]
        expires_at: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        user: Option<i64>,
        /// Create an impersonation token for --user.
        #[arg(long, requires = "user")]
        impersonation: bool,
    },
    /// List tokens.
    List {
        #[arg(long)]
        user_id: Option<i64>,
        /// active, inactive or all.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show a token (an id, or `self`).
    Show { id: String },
    /// Rotate a token (an id, or `self`): the old one is revoked, the new one printed once.
    Rotate {
        id: String,
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revoke a token (an id, or `self`).
    Revoke { id: String },
    /// Show what a token (an id, or `self`) exercised over the last --days and the smallest fine-grained grant
    /// that covers it.
    Suggest {
        id: String,
        /// How many days of use to cover (1 to 365).
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
    /// Create the fine-grained token `suggest` proposes, for the same user, and with --revoke revoke the old one.
    Narrow {
        id: String,
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// The new token's name [default: the old name with " (narrowed)"].
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        expires_at: Option<String>,
        /// Revoke the old token once the new one exists.
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    List {
        #[arg(long)]
        search: Option<String>,
    },
    Show {
        id: String,
    },
    /// Show the user the token belongs to.
    Me,
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The password; read from TESSERA_NEW_PASSWORD when absent.
        #[arg(long, env = "TESSERA_NEW_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long)]
        admin: bool,
    },
    Block {
        id: String,
    },
    Unblock {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    List {
        #[arg(long)]
        search: Option<String>,
    },
    /// Show a group by id or full path.
    Show { id: String },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        path: String,
        #[arg(long)]
        parent_id: Option<i64>,
        #[arg(long)]
        visibility: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    List {
        #[arg(long)]
        search: Option<String>,
    },
    /// Show a project by id or full path.
    Show {
        id: String,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        namespace_id: Option<i64>,
        #[arg(long)]
        visibility: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobTokenCommand {
    /// Show a project's job-token settings (inbound allowlist on or off, legacy mode, push with job tokens).
    Scope { project: String },
    /// List the projects and groups whose CI jobs may use their job tokens on PROJECT, with their policies.
    Allowlist { project: String },
    /// Propose the allowlist entries of PROJECT, with the narrowest job-token policies, that cover what other
    /// projects' job tokens did there over the last --days; with --apply, add or widen the entries not yet
    /// covering it.
    SuggestAllowlist {
        project: String,
        /// How many days of use to cover (1 to 365).
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Add the missing entries and add the missing policies to entries that exist.
        #[arg(long)]
        apply: bool,
    },
}

/// A group or project whose members to manage.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct MemberSource {
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long)]
    pub project: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    List {
        #[command(flatten)]
        source: MemberSource,
        /// Include members inherited from ancestor groups.
        #[arg(long)]
        all: bool,
    },
    Add {
        #[command(flatten)]
        source: MemberSource,
        #[arg(long)]
        user_id: i64,
        /// 10 Guest, 15 Planner, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner.
        #[arg(long)]
        access_level: i64,
        #[arg(long)]
        expires_at: Option<String>,
    },
    Remove {
        #[command(flatten)]
        source: MemberSource,
        #[arg(long)]
        user_id: i64,
    },
}

/// A client over HTTP with the token from `TESSERA_TOKEN`.
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
    json: bool,
}

impl Client {
    pub fn new(connection: &Connection) -> anyhow::Result<Client> {
        let token = std::env::var("TESSERA_TOKEN").context("set TESSERA_TOKEN to a personal access token")?;
        let config = ureq::Agent::config_builder().http_status_as_error(false).build();
        Ok(Client {
            base: connection.url.trim_end_matches('/').to_owned(),
            token,
            agent: config.into(),
            json: connection.json,
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/api/v4{path}", self.base);
        let request = ureq::http::Request::builder().method(method).uri(&url).header("PRIVATE-TOKEN", &self.token);
        let response = match body {
            Some(body) => {
                let request = request.header("Content-Type", "application/json").body(body.to_string())?;
                self.agent.run(request)
            }
            None => self.agent.run(request.body(())?),
        }
        .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let text = response.into_body().read_to_string().unwrap_or_default();
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if !status.is_success() {
            let message = value.get("message").or_else(|| value.get("error")).cloned().unwrap_or(value.clone());
            bail!("{} {}: {}", status.as_u16(), method, message);
        }
        Ok(value)
    }

    fn print(&self, value: &Value, columns: &[&str]) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
            return;
        }
        let rows: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            Value::Null => return,
            other => vec![other],
        };
        print_table(&rows, columns);
    }
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|v| cell(Some(v))).collect::<Vec<_>>().join(","),
        Some(other) => other.to_string(),
    }
}

fn print_table(rows: &[&Value], columns: &[&str]) {
    let cells: Vec<Vec<String>> = rows.iter().map(|row| columns.iter().map(|c| cell(row.get(*c))).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r.get(i).map_or(0, |s| s.chars().count())).max().unwrap_or(0).max(c.len()))
        .collect();
    let line = |items: Vec<String>| {
        items
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(columns.iter().map(|c| c.to_uppercase()).collect()).trim_end());
    for row in cells {
        println!("{}", line(row).trim_end());
    }
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, String)> = pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (*k, v))).collect();
    if present.is_empty() {
        return String::new();
    }
    format!("?{}", present.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&"))
}

const TOKEN_COLUMNS: &[&str] = &["id", "name", "scopes", "active", "revoked", "expires_at", "last_used_at", "user_id"];
const USAGE_COLUMNS: &[&str] = &["permission", "boundary", "uses", "first_used_at", "last_used_at"];
const USER_COLUMNS: &[&str] = &["id", "username", "name", "state", "email", "is_admin"];
const GROUP_COLUMNS: &[&str] = &["id", "full_path", "name", "visibility", "parent_id"];
const PROJECT_COLUMNS: &[&str] = &["id", "path_with_namespace", "name", "visibility"];
const ALLOWLIST_COLUMNS: &[&str] =
    &["id", "path_with_namespace", "full_path", "default_permissions", "job_token_policies"];
const SUGGESTION_COLUMNS: &[&str] = &[
    "target_project_id",
    "target_project_path",
    "job_token_policies",
    "uses",
    "last_used_at",
    "allowlisted",
    "covered",
];
const MEMBER_COLUMNS: &[&str] = &["id", "username", "name", "access_level", "expires_at"];

pub fn token(connection: &Connection, command: TokenCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        TokenCommand::Create { name, scopes, expires_at, description, user, impersonation } => {
            let scopes: Vec<&str> = scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            let body = json!({"name": name, "scopes": scopes, "expires_at": expires_at, "description": description});
            let path = match (user, impersonation) {
                (Some(user), true) => format!("/users/{user}/impersonation_tokens"),
                (Some(user), false) => format!("/users/{user}/personal_access_tokens"),
                (None, _) => "/user/personal_access_tokens".to_owned(),
            };
            let created = client.call("POST", &path, Some(body))?;
            print_issued(&client, &created);
        }
        TokenCommand::List { user_id, state } => {
            let q = query(&[
                ("user_id", user_id.map(|u| u.to_string())),
                ("state", state),
                ("per_page", Some("100".into())),
            ]);
            client.print(&client.call("GET", &format!("/personal_access_tokens{q}"), None)?, TOKEN_COLUMNS);
        }
        TokenCommand::Show { id } => {
            client.print(&client.call("GET", &format!("/personal_access_tokens/{}", enc(&id)), None)?, TOKEN_COLUMNS);
        }
        TokenCommand::Rotate { id, expires_at } => {
            let rotated = client.call(
                "POST",
                &format!("/personal_access_tokens/{}/rotate", enc(&id)),
                Some(json!({"expires_at": expires_at})),
            )?;
            print_issued(&client, &rotated);
        }
        TokenCommand::Revoke { id } => {
            client.call("DELETE", &format!("/personal_access_tokens/{}", enc(&id)), None)?;
            if !client.json {
                println!("Token {id} revoked");
            }
        }
        TokenCommand::Suggest { id, days } => {
            let usage = client.call("GET", &format!("/personal_access_tokens/{}/usage?days={days}", enc(&id)), None)?;
            if client.json {
                client.print(&usage, &[]);
                return Ok(());
            }
            let exercised: Vec<&Value> = usage["exercised"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
            println!(
                "Exercised by token {} from {} to {}:",
                cell(usage.get("token_id")),
                cell(usage.get("since")),
                cell(usage.get("until"))
            );
            print_table(&exercised, USAGE_COLUMNS);
            println!("\nSmallest fine-grained grant covering it (granular_scopes):");
            println!("{}", serde_json::to_string_pretty(&usage["granular_scopes"]).unwrap_or_default());
        }
        TokenCommand::Narrow { id, days, name, expires_at, revoke } => {
            let old = client.call("GET", &format!("/personal_access_tokens/{}", enc(&id)), None)?;
            let usage = client.call("GET", &format!("/personal_access_tokens/{}/usage?days={days}", enc(&id)), None)?;
            let grants = &usage["granular_scopes"];
            if grants.as_array().is_none_or(Vec::is_empty) {
                bail!(
                    "token {id} exercised nothing a fine-grained grant can cover in the last {days} days: nothing to narrow to"
                );
            }
            let me = client.call("GET", "/user", None)?;
            let owner = old["user_id"].as_i64().context("the token has no owner")?;
            let path = if me["id"].as_i64() == Some(owner) {
                "/user/personal_access_tokens".to_owned()
            } else {
                format!("/users/{owner}/personal_access_tokens")
            };
            let name = name.unwrap_or_else(|| format!("{} (narrowed)", cell(old.get("name"))));
            let body = json!({"name": name, "granular_scopes": grants, "expires_at": expires_at});
            let created = client.call("POST", &path, Some(body))?;
            print_issued(&client, &created);
            if revoke {
                client.call("DELETE", &format!("/personal_access_tokens/{}", cell(old.get("id"))), None)?;
                if !client.json {
                    println!("Token {} revoked", cell(old.get("id")));
                }
            }
        }
    }
    Ok(())
}

/// Prints a new token's record, and its secret once, on its own line.
fn print_issued(client: &Client, value: &Value) {
    client.print(value, TOKEN_COLUMNS);
    if !client.json {
        println!("\nToken (shown once): {}", cell(value.get("token")));
    }
}

pub fn user(connection: &Connection, command: UserCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let value = match command {
        UserCommand::List { search } => client.call(
            "GET",
            &format!("/users{}", query(&[("search", search), ("per_page", Some("100".into()))])),
            None,
        )?,
        UserCommand::Show { id } => client.call("GET", &format!("/users/{}", enc(&id)), None)?,
        UserCommand::Me => client.call("GET", "/user", None)?,
        UserCommand::Create { username, email, name, password, admin } => {
            let mut body = json!({"username": username, "email": email, "name": name, "admin": admin});
            match password {
                Some(password) => body["password"] = json!(password),
                None => body["force_random_password"] = json!(true),
            }
            client.call("POST", "/users", Some(body))?
        }
        UserCommand::Block { id } => {
            client.call("POST", &format!("/users/{}/block", enc(&id)), None)?;
            client.call("GET", &format!("/users/{}", enc(&id)), None)?
        }
        UserCommand::Unblock { id } => {
            client.call("POST", &format!("/users/{}/unblock", enc(&id)), None)?;
            client.call("GET", &format!("/users/{}", enc(&id)), None)?
        }
    };
    client.print(&value, USER_COLUMNS);
    Ok(())
}

pub fn group(connection: &Connection, command: GroupCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let value = match command {
        GroupCommand::List { search } => client.call(
            "GET",
            &format!("/groups{}", query(&[("search", search), ("per_page", Some("100".into()))])),
            None,
        )?,
        GroupCommand::Show { id } => client.call("GET", &format!("/groups/{}", enc(&id)), None)?,
        GroupCommand::Create { name, path, parent_id, visibility } => client.call(
            "POST",
            "/groups",
            Some(json!({"name": name, "path": path, "parent_id": parent_id, "visibility": visibility})),
        )?,
    };
    client.print(&value, GROUP_COLUMNS);
    Ok(())
}

pub fn project(connection: &Connection, command: ProjectCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let value = match command {
        ProjectCommand::List { search } => client.call(
            "GET",
            &format!("/projects{}", query(&[("search", search), ("per_page", Some("100".into()))])),
            None,
        )?,
        ProjectCommand::Show { id } => client.call("GET", &format!("/projects/{}", enc(&id)), None)?,
        ProjectCommand::Create { name, path, namespace_id, visibility } => client.call(
            "POST",
            "/projects",
            Some(json!({"name": name, "path": path, "namespace_id": namespace_id, "visibility": visibility})),
        )?,
        ProjectCommand::Delete { id } => {
            client.call("DELETE", &format!("/projects/{}", enc(&id)), None)?;
            Value::Null
        }
    };
    client.print(&value, PROJECT_COLUMNS);
    Ok(())
}

fn source_path(source: &MemberSource) -> anyhow::Result<String> {
    match (&source.group, &source.project) {
        (Some(g), None) => Ok(format!("/groups/{}", enc(g))),
        (None, Some(p)) => Ok(format!("/projects/{}", enc(p))),
        _ => bail!("give exactly one of --group and --project"),
    }
}

pub fn member(connection: &Connection, command: MemberCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let value = match command {
        MemberCommand::List { source, all } => {
            let suffix = if all { "/members/all" } else { "/members" };
            client.call("GET", &format!("{}{suffix}?per_page=100", source_path(&source)?), None)?
        }
        MemberCommand::Add { source, user_id, access_level, expires_at } => client.call(
            "POST",
            &format!("{}/members", source_path(&source)?),
            Some(json!({"user_id": user_id, "access_level": access_level, "expires_at": expires_at})),
        )?,
        MemberCommand::Remove { source, user_id } => {
            client.call("DELETE", &format!("{}/members/{user_id}", source_path(&source)?), None)?;
            Value::Null
        }
    };
    client.print(&value, MEMBER_COLUMNS);
    Ok(())
}

pub fn job_token(connection: &Connection, command: JobTokenCommand) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    match command {
        JobTokenCommand::Scope { project } => {
            let scope = client.call("GET", &format!("/projects/{}/job_token_scope", enc(&project)), None)?;
            client.print(&scope, &["inbound_enabled", "legacy_mode", "ci_push_repository_for_job_token_allowed"]);
        }
        JobTokenCommand::Allowlist { project } => {
            let base = format!("/projects/{}/job_token_scope", enc(&project));
            let mut entries = every_page(&client, &format!("{base}/allowlist"))?;
            entries.extend(every_page(&client, &format!("{base}/groups_allowlist"))?);
            client.print(&Value::Array(entries), ALLOWLIST_COLUMNS);
        }
        JobTokenCommand::SuggestAllowlist { project, days, apply } => {
            let base = format!("/projects/{}/job_token_scope", enc(&project));
            let suggested = client.call("GET", &format!("{base}/allowlist/suggestions?days={days}"), None)?;
            let items: Vec<&Value> = suggested.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if !apply {
                if !client.json && items.is_empty() {
                    println!("No other project's job token was used on {project} in the last {days} days.");
                    return Ok(());
                }
                client.print(&suggested, SUGGESTION_COLUMNS);
                return Ok(());
            }
            let applied = apply_suggestions(&client, &base, &items)?;
            if client.json {
                client.print(&Value::Array(applied), &[]);
            } else if applied.is_empty() {
                println!("The allowlist of {project} already covers every use of the last {days} days.");
            } else {
                let rows: Vec<&Value> = applied.iter().collect();
                print_table(&rows, &["target_project_id", "default_permissions", "job_token_policies"]);
            }
        }
    }
    Ok(())
}

/// Every item of a paginated list, 100 per page (allowlists hold at most 200 entries).
fn every_page(client: &Client, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    for page in 1..=100 {
        let items = client.call("GET", &format!("{path}?per_page=100&page={page}"), None)?;
        let items = items.as_array().cloned().unwrap_or_default();
        let last = items.len() < 100;
        all.extend(items);
        if last {
            break;
        }
    }
    Ok(all)
}

/// Makes the allowlist cover each suggestion it does not cover yet: the source project's entry gets what the
/// source is allowed now (through its own entry or a group's) plus the suggested policies, so that nothing it
/// could do before is lost. An existing project entry is changed, otherwise one is added. Answers the entries
/// written, as the server returned them.
fn apply_suggestions(client: &Client, base: &str, items: &[&Value]) -> anyhow::Result<Vec<Value>> {
    let names = |value: &Value| -> Vec<String> {
        value.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default()
    };
    let mut applied = Vec::new();
    let current = every_page(client, &format!("{base}/allowlist"))?;
    for item in items.iter().filter(|i| i["covered"] != Value::Bool(true)) {
        let target = item["target_project_id"].as_i64().context("a suggestion without target_project_id")?;
        let mut policies = names(&item["allowed_job_token_policies"]);
        policies.extend(names(&item["job_token_policies"]));
        policies.sort_unstable();
        policies.dedup();
        let written = if current.iter().any(|e| e["id"].as_i64() == Some(target)) {
            client.call(
                "PATCH",
                &format!("{base}/allowlist/{target}"),
                Some(json!({"default_permissions": false, "job_token_policies": policies})),
            )?
        } else {
            client.call(
                "POST",
                &format!("{base}/allowlist"),
                Some(
                    json!({"target_project_id": target, "default_permissions": false, "job_token_policies": policies}),
                ),
            )?
        };
        applied.push(json!({
            "target_project_id": target,
            "default_permissions": written["default_permissions"],
            "job_token_policies": written["job_token_policies"],
        }));
    }
    Ok(applied)
}

/// `tessera explain`: what the decision function answers for one request, and why.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The credential to explain (or TESSERA_EXPLAIN_TOKEN); without one the request is anonymous.
    /// The caller's own token (TESSERA_TOKEN) must be an administrator's or carry the `authorize` scope.
    #[arg(long = "token", env = "TESSERA_EXPLAIN_TOKEN", hide_env_values = true)]
    pub credential: Option<String>,
    /// The request's method, such as GET or POST.
    pub method: String,
    /// The request's path and query, such as /api/v4/projects/1/issues.
    pub path: String,
}

pub fn explain(connection: &Connection, args: ExplainArgs) -> anyhow::Result<()> {
    let client = Client::new(connection)?;
    let asked = json!({"requests": [{"credential": args.credential, "method": args.method, "path": args.path}]});
    let reply = client.call("POST", "/internal/authorize", Some(asked))?;
    let result = reply.get("results").and_then(|r| r.get(0)).cloned().unwrap_or(Value::Null);
    if client.json {
        println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
        return Ok(());
    }
    print!("{}", explanation(&args.method, &args.path, &result));
    Ok(())
}

/// The explanation as a two-column table.
fn explanation(method: &str, path: &str, result: &Value) -> String {
    let allowed = result.get("allowed").and_then(Value::as_bool).unwrap_or(false);
    let mut rows: Vec<(&str, String)> = vec![
        ("request", format!("{} {path}", method.to_uppercase())),
        ("decision", format!("{} ({})", if allowed { "allowed" } else { "denied" }, cell(result.get("status")))),
        ("layer", cell(result.get("layer"))),
    ];
    let required: Vec<String> = result
        .get("required")
        .and_then(Value::as_array)
        .map(|groups| {
            groups
                .iter()
                .map(|g| g.as_array().map(|p| p.iter().map(|v| cell(Some(v))).collect::<Vec<_>>().join(" AND ")))
                .map(Option::unwrap_or_default)
                .collect()
        })
        .unwrap_or_default();
    for (i, group) in required.iter().enumerate() {
        rows.push((if i == 0 { "required" } else { "or" }, group.clone()));
    }
    if required.is_empty() {
        rows.push(("required", "-".to_owned()));
    }
    for reason in result.get("reasons").and_then(Value::as_array).into_iter().flatten() {
        rows.push(("reason", cell(Some(reason))));
    }
    let identity = match result.get("identity") {
        Some(id) if id.is_object() => format!(
            "user {} ({}), {} {}, organization {}",
            cell(id.get("user_id")),
            cell(id.get("username")),
            cell(id.get("token_type")),
            cell(id.get("token_id")),
            cell(id.get("organization_id")),
        ),
        _ => "anonymous, or the credential was refused".to_owned(),
    };
    rows.push(("identity", identity));
    let mut out = String::new();
    for (label, value) in rows {
        out.push_str(&format!("{label:<10}{value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explanation_lists_every_alternative_and_reason() {
        let result = json!({
            "allowed": false, "status": 403, "layer": "role",
            "required": [["read_deployment", "create_deployment"], ["admin_instance"]],
            "reasons": ["the user's role does not grant the required permissions"],
            "identity": {"user_id": 2, "username": "rep", "token_type": "personal_access_token", "token_id": 3, "organization_id": 1},
        });
        let text = explanation("post", "/api/v4/projects/1/deployments", &result);
        assert!(text.contains("request   POST /api/v4/projects/1/deployments\n"), "{text}");
        assert!(text.contains("decision  denied (403)\n"), "{text}");
        assert!(text.contains("required  read_deployment AND create_deployment\n"), "{text}");
        assert!(text.contains("or        admin_instance\n"), "{text}");
        assert!(text.contains("identity  user 2 (rep), personal_access_token 3, organization 1\n"), "{text}");
    }
}
