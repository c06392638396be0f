//! `tessera explain`: what the decision function answers for one request, and why.
//!
//! **Invariant:** it shows what the server's decision API answers, and decides nothing itself.

use clap::Args;
use serde_json::{Value, json};

use crate::*;

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
