//! The token information API (`POST` and `DELETE /admin/token`, administrators) and the public leak report
//! (`POST /internal/tokens/leaked`), over `authority`'s identification of any credential by its value.
//!
//! **Invariant:** an unknown and a malformed string get the same 404 with the same body, a leak report always
//! gets the same 202, and no answer, log line or audit entry holds the presented secret.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use authority::{Identified, LeakReport};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::auth::MAX_CREDENTIAL_LEN;
use crate::error::{ApiError, ApiResult, bad_request, not_found};
use crate::{AppState, Caller, Params, entities};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/token", post(identify).delete(revoke))
        .route("/internal/tokens/leaked", post(report_leaks))
}

/// The `token` a request names; too long a string is no credential (the same 404 as an unknown one).
fn presented(params: &Params) -> ApiResult<Option<String>> {
    let token = params.str("token")?.ok_or_else(|| bad_request("token is missing"))?;
    Ok((token.len() <= MAX_CREDENTIAL_LEN).then_some(token))
}

fn not_a_credential() -> ApiError {
    not_found("Token")
}

/// `POST /admin/token`: what a credential is, never its secret.
async fn identify(State(state): State<AppState>, params: Params) -> ApiResult<Response> {
    let Some(token) = presented(&params)? else { return Err(not_a_credential()) };
    let found = state.authority.identify_credential(&token).await?.ok_or_else(not_a_credential)?;
    Ok(axum::Json(information(&found, state.authority.now())).into_response())
}

/// `DELETE /admin/token`: revokes a user token or a runner's token, or ends the job whose token it is.
async fn revoke(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let Some(token) = presented(&params)? else { return Err(not_a_credential()) };
    match state.authority.revoke_credential(&caller.audit(), &token).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(not_a_credential()),
    }
}

fn information(found: &Identified, now: domain::Timestamp) -> Value {
    let kind = found.kind().name();
    match found {
        Identified::UserToken(token, owner) => {
            let mut v = entities::token(token, now, None, true);
            v["type"] = json!(kind);
            v["state"] = json!(entities::state_name(token.state(now)));
            v["organization_id"] = json!(token.organization_id);
            v["owner"] = json!({"id": owner.id, "username": owner.username, "name": owner.name});
            v
        }
        Identified::Deploy(token) => {
            let mut v = entities::deploy_token(token, now, None);
            v["type"] = json!(kind);
            v["state"] = json!(entities::state_name(token.state(now)));
            v["organization_id"] = json!(token.organization_id);
            v["resource_type"] = json!(token.resource.kind());
            v["resource_id"] = json!(token.resource.id());
            v
        }
        Identified::UserSecret(secret, owner) => json!({
            "id": secret.id,
            "type": kind,
            "state": if secret.is_expired(now) { "expired" } else { "active" },
            "user_id": owner.id,
            "owner": {"id": owner.id, "username": owner.username, "name": owner.name},
            "organization_id": owner.organization_id,
            "expires_at": secret.expires_at.map(|d| d.to_string()),
            "created_at": secret.created_at.to_string(),
            "last_used_at": secret.last_used_at.map(|t| t.to_string()),
        }),
        Identified::Trigger(trigger) => json!({
            "id": trigger.id,
            "type": kind,
            "state": if trigger.is_expired(now) { "expired" } else { "active" },
            "description": trigger.description,
            "project_id": trigger.project_id,
            "owner_id": trigger.owner_id,
            "organization_id": trigger.organization_id,
            "expires_at": trigger.expires_at.map(|d| d.to_string()),
            "created_at": trigger.created_at.to_string(),
        }),
        Identified::Runner(runner) => json!({
            "id": runner.id,
            "type": kind,
            "state": "active",
            "description": runner.description,
            "runner_type": runner.runner_type.as_str(),
            "created_by": runner.created_by,
            "created_at": runner.created_at.to_string(),
        }),
        Identified::Job(job) => json!({
            "id": job.job.id,
            "type": kind,
            "state": "active",
            "job_id": job.job.id,
            "project_id": job.project.id,
            "user_id": job.user.id,
            "owner": {"id": job.user.id, "username": job.user.username, "name": job.user.name},
            "ref": job.job.git_ref,
            "status": job.job.status.as_str(),
            "expires_at": job.job.token_expires_at.to_string(),
        }),
    }
}

/// Reports one call may carry.
const MAX_REPORTS: usize = 100;
/// Leak reports an address may send per window.
const REPORTS_PER_WINDOW: u32 = 30;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at once; past it the oldest windows are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// A fixed-window limit on leak reports per client address.
#[derive(Debug, Default)]
pub struct LeakLimit {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LeakLimit {
    /// Counts one report from `ip`; false when its window is spent.
    fn admit(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut windows) = self.windows.lock() else { return false };
        if windows.len() >= MAX_ADDRESSES {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if windows.len() >= MAX_ADDRESSES {
                windows.clear();
            }
        }
        let (start, count) = windows.entry(ip).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        *count += 1;
        *count <= REPORTS_PER_WINDOW
    }
}

/// `POST /internal/tokens/leaked`, public: `{"token", "url", "source"}`, or an array of such objects (GitHub's
/// secret-scanning partner format also names `type`, ignored). Every credential found is revoked, audited and
/// its owner told; the answer is the same 202 whatever was found.
async fn report_leaks(State(state): State<AppState>, caller: Caller, body: Body) -> ApiResult<Response> {
    let ip = caller.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !state.limits.leaks.admit(ip, Instant::now()) {
        // The body is read and dropped, so that a client reusing the connection finds it open.
        crate::auth::drain(body).await;
        let body = json!({"message": "429 Too Many Requests", "retry_after": WINDOW.as_secs()});
        return Ok((StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response());
    }
    let bytes = axum::body::to_bytes(body, crate::params::MAX_BODY_BYTES)
        .await
        .map_err(|_| bad_request(format!("body is too large (maximum is {} bytes)", crate::params::MAX_BODY_BYTES)))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad_request("the body must be JSON"))?;
    let reports = match value {
        Value::Array(items) => items,
        one @ Value::Object(_) => vec![one],
        _ => return Err(bad_request("the body must be a report {\"token\", \"url\", \"source\"} or an array of them")),
    };
    if reports.is_empty() || reports.len() > MAX_REPORTS {
        return Err(bad_request(format!("give 1 to {MAX_REPORTS} reports")));
    }
    let mut read = Vec::with_capacity(reports.len());
    for (i, report) in reports.iter().enumerate() {
        let text = |key: &str, max: usize| -> ApiResult<Option<String>> {
            match report.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
                Some(_) => Err(bad_request(format!("[{i}].{key} must be a string of at most {max} bytes"))),
            }
        };
        let token = text("token", MAX_CREDENTIAL_LEN)?.ok_or_else(|| bad_request(format!("[{i}].token is missing")))?;
        // A place that itself looks like a secret is not kept (it would land in the audit log).
        let url = text("url", 2048)?.filter(|u| !tokens::secrets::looks_like_secret(u));
        let source = text("source", 255)?.filter(|s| !tokens::secrets::looks_like_secret(s));
        read.push((token, LeakReport { url, source }));
    }
    for (token, report) in &read {
        state.authority.report_leak(&caller.audit(), token, report).await?;
    }
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"message": "202 Accepted"}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_reports_per_window_and_then_429_until_the_window_turns() {
        let limit = LeakLimit::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let start = Instant::now();
        for _ in 0..REPORTS_PER_WINDOW {
            assert!(limit.admit(a, start));
        }
        assert!(!limit.admit(a, start));
        assert!(limit.admit(b, start), "another address has its own window");
        assert!(limit.admit(a, start + WINDOW), "a new window");
    }
}
