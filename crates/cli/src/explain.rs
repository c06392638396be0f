//! `tessera explain`: what the decision function answers for one request, and why.
//!
//! **Invariant:** it shows what the server's decision API answers, and decides nothing itself.

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Client, Connection};

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
    let answer: Answer = serde_json::from_value(result).context("the decision API answered an unexpected shape")?;
    print!("{}", explanation(&args.method, &args.path, &answer));
    Ok(())
}

/// One answer of the decision API, as the explanation reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Answer {
    allowed: bool,
    status: Option<u16>,
    layer: Option<String>,
    /// Alternatives of permissions that would allow the request.
    required: Vec<Vec<String>>,
    reasons: Vec<String>,
    identity: Option<Identity>,
}

/// Who the credential is, when it was accepted.
#[derive(Debug, Deserialize)]
struct Identity {
    user_id: i64,
    username: String,
    token_type: String,
    token_id: Option<i64>,
    organization_id: Option<i64>,
}

/// The explanation as a two-column table.
fn explanation(method: &str, path: &str, answer: &Answer) -> String {
    let shown = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let mut rows: Vec<(&str, String)> = vec![
        ("request", format!("{} {path}", method.to_uppercase())),
        (
            "decision",
            format!(
                "{} ({})",
                if answer.allowed { "allowed" } else { "denied" },
                shown(answer.status.map(|s| s.to_string()))
            ),
        ),
        ("layer", shown(answer.layer.clone())),
    ];
    for (i, group) in answer.required.iter().enumerate() {
        rows.push((if i == 0 { "required" } else { "or" }, group.join(" AND ")));
    }
    if answer.required.is_empty() {
        rows.push(("required", "-".to_owned()));
    }
    rows.extend(answer.reasons.iter().map(|reason| ("reason", reason.clone())));
    let identity = match &answer.identity {
        Some(id) => format!(
            "user {} ({}), {} {}, organization {}",
            id.user_id,
            id.username,
            id.token_type,
            shown(id.token_id.map(|t| t.to_string())),
            shown(id.organization_id.map(|o| o.to_string())),
        ),
        None => "anonymous, or the credential was refused".to_owned(),
    };
    rows.push(("identity", identity));
    rows.iter().map(|(label, value)| format!("{label:<10}{value}\n")).collect()
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
        let text = explanation("post", "/api/v4/projects/1/deployments", &serde_json::from_value(result).unwrap());
        assert!(text.contains("request   POST /api/v4/projects/1/deployments\n"), "{text}");
        assert!(text.contains("decision  denied (403)\n"), "{text}");
        assert!(text.contains("required  read_deployment AND create_deployment\n"), "{text}");
        assert!(text.contains("or        admin_instance\n"), "{text}");
        assert!(text.contains("identity  user 2 (rep), personal_access_token 3, organization 1\n"), "{text}");
    }
}
