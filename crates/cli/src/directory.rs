//! `tessera user|group|project|member …`: the directory over the REST API.
//!
//! **Invariant:** every command is one or more REST calls under the caller's token; the server decides.

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::{Client, Connection, GROUP_COLUMNS, MEMBER_COLUMNS, PROJECT_COLUMNS, USER_COLUMNS, enc, query};

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
