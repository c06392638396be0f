//! `tessera job-token scope|allowlist|suggest-allowlist [--apply]`: a project's job-token settings and inbound
//! allowlist, and the entries suggested from what job tokens of other projects did.
//!
//! **Invariant:** `--apply` only adds or widens entries to what is allowed now plus what was used; it never
//! removes.

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::{ALLOWLIST_COLUMNS, Client, Connection, SUGGESTION_COLUMNS, enc, every_page, print_table};

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
