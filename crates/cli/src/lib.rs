//! Client commands (`tessera token|user|group|project|member|job-token …`) that talk to a running Tessera through its
//! REST API, with readable tables or `--json`. No database access.
//!
//! **Architecture Invariant:** the CLI reads no database and no configuration file of the server: it speaks the REST
//! API with the token it is given, and the server decides.

mod directory;
mod explain;
mod job_tokens;
mod tokens;

use anyhow::{Context, bail};
use clap::Args;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

pub use directory::{
    GroupCommand, MemberCommand, MemberSource, ProjectCommand, UserCommand, group, member, project, user,
};
pub use explain::{ExplainArgs, explain};
pub use job_tokens::{JobTokenCommand, job_token};
pub use tokens::{TokenCommand, token};

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
