//! `tessera token …`: create, list, show, rotate, revoke, usage, suggest and narrow tokens.
//!
//! **Invariant:** a token's secret is printed once, on its own line, only when the server has just issued it.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::{Client, Connection, TOKEN_COLUMNS, USAGE_COLUMNS, cell, enc, print_table, query};

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
