//! SSH keys: users' own (`/user/keys`), deploy keys (`/projects/:id/deploy_keys`, administrators' `/deploy_keys`),
//! and gitlab-shell's internal API (`POST /internal/allowed`, `GET /internal/authorized_keys`), authenticated by
//! the shell's signed `Gitlab-Shell-Api-Request` header.
//!
//! **Invariant:** the internal API answers nothing before the shell's signature is checked; `internal/allowed`
//! answers only what the one decision flow decided for the Git route of the same repository and action.

use authority::{Accepted, AddSshKey, GitAction};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{DeployKeyLink, SshKey};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, bad_request, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user/keys", get(list_own).post(add_own))
        .route("/user/keys/{key_id}", get(show_own).delete(remove_own))
        .route("/projects/{id}/deploy_keys", get(list_project).post(add_project))
        .route("/projects/{id}/deploy_keys/{key_id}", get(show_project).put(update_project).delete(disable_project))
        .route("/projects/{id}/deploy_keys/{key_id}/enable", post(enable_project))
        .route("/deploy_keys", get(list_instance).post(add_instance))
        .route("/internal/allowed", post(allowed))
        .route("/internal/authorized_keys", get(authorized_keys))
}

fn key_entity(key: &SshKey) -> Value {
    json!({
        "id": key.id,
        "title": key.title,
        "key": key.key,
        "fingerprint_sha256": key.fingerprint,
        "created_at": key.created_at.to_string(),
        "expires_at": key.expires_at.map(|d| d.start().to_string()),
        "last_used_at": key.last_used_at.map(|t| t.to_string()),
        "usage_type": if key.is_deploy_key() { "auth" } else { "auth_and_signing" },
    })
}

fn deploy_entity(key: &SshKey, link: &DeployKeyLink) -> Value {
    let mut v = key_entity(key);
    v["can_push"] = json!(link.can_push);
    v
}

fn add_request(params: &Params) -> ApiResult<AddSshKey> {
    Ok(AddSshKey {
        title: params.str("title")?,
        key: params.str("key")?,
        expires_at: params.str("expires_at")?,
        can_push: params.bool("can_push")?.unwrap_or(false),
    })
}

async fn list_own(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let page = pagination::page(&params)?;
    let (keys, total) = state.authority.list_user_keys(principal.user.id, page).await?;
    Ok(pagination::paginated(keys.iter().map(key_entity).collect(), total, page, &here.base, &here.uri))
}

async fn add_own(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let key = state.authority.add_user_key(&caller.audit(), &principal.user, &add_request(&params)?).await?;
    Ok((StatusCode::CREATED, axum::Json(key_entity(&key))).into_response())
}

async fn own(state: &AppState, caller: &Caller, key_id: &str) -> ApiResult<SshKey> {
    let principal = caller.require()?;
    let id = parse_id(key_id, "Key")?;
    Ok(state.authority.user_key(principal.user.id, id).await?)
}

async fn show_own(State(state): State<AppState>, caller: Caller, Path(key_id): Path<String>) -> ApiResult<Response> {
    Ok(axum::Json(key_entity(&own(&state, &caller, &key_id).await?)).into_response())
}

async fn remove_own(State(state): State<AppState>, caller: Caller, Path(key_id): Path<String>) -> ApiResult<Response> {
    let key = own(&state, &caller, &key_id).await?;
    state.authority.delete_ssh_key(&caller.audit(), &key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_project(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let page = pagination::page(&params)?;
    let (keys, total) = state.authority.project_deploy_keys(project.id, page).await?;
    let items = keys.iter().map(|(key, link)| deploy_entity(key, link)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn add_project(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let request = add_request(&params)?;
    let key = state.authority.add_deploy_key(&caller.audit(), Some(project), &request).await?;
    let (key, link) = state.authority.project_deploy_key(project.id, key.id).await?;
    Ok((StatusCode::CREATED, axum::Json(deploy_entity(&key, &link))).into_response())
}

async fn show_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let (key, link) = state.authority.project_deploy_key(project.id, parse_id(&key_id, "Deploy Key")?).await?;
    Ok(axum::Json(deploy_entity(&key, &link)).into_response())
}

async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, key_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let id = parse_id(&key_id, "Deploy Key")?;
    let title = params.str("title")?;
    let can_push = params.bool("can_push")?;
    let (key, link) =
        state.authority.update_deploy_key(&caller.audit(), project, id, title.as_deref(), can_push).await?;
    Ok(axum::Json(deploy_entity(&key, &link)).into_response())
}

async fn disable_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    state.authority.disable_deploy_key(&caller.audit(), project, parse_id(&key_id, "Deploy Key")?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn enable_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, key_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let (key, link) =
        state.authority.enable_deploy_key(&caller.audit(), project, parse_id(&key_id, "Deploy Key")?).await?;
    Ok((StatusCode::CREATED, axum::Json(deploy_entity(&key, &link))).into_response())
}

async fn list_instance(State(state): State<AppState>, here: Here, params: Params) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    let (keys, total) = state.authority.list_deploy_keys(page).await?;
    Ok(pagination::paginated(keys.iter().map(key_entity).collect(), total, page, &here.base, &here.uri))
}

async fn add_instance(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let key = state.authority.add_deploy_key(&caller.audit(), None, &add_request(&params)?).await?;
    Ok((StatusCode::CREATED, axum::Json(key_entity(&key))).into_response())
}

/// Refuses a request that gitlab-shell did not sign with the shared secret.
fn shell_only(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let signed = headers.get("gitlab-shell-api-request").and_then(|v| v.to_str().ok());
    let now_s = state.authority.now().millis() / 1000;
    match signed {
        Some(token) if tokens::shell::verify_shell_request(token, &state.shell_secret, now_s) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// gitlab-shell's answer when access is refused.
fn refused(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"status": false, "message": message}))).into_response()
}

/// `POST /internal/allowed`: whether the SSH key (`key_id`, or `fingerprint`) may run `action` on `project`,
/// in gitlab-shell's shape.
async fn allowed(State(state): State<AppState>, headers: HeaderMap, params: Params) -> ApiResult<Response> {
    shell_only(&state, &headers)?;
    if params.str("protocol")?.is_some_and(|p| p != "ssh") {
        return Err(bad_request("protocol does not have a valid value"));
    }
    let action = params.str("action")?.ok_or_else(|| bad_request("action is missing"))?;
    let action = GitAction::parse(&action).ok_or_else(|| bad_request("action does not have a valid value"))?;
    let project = params.str("project")?.ok_or_else(|| bad_request("project is missing"))?;
    if project.len() > 1024 || project.chars().any(char::is_control) {
        return Err(bad_request("project is invalid"));
    }
    let key = match (params.0.get("key_id"), params.str("fingerprint")?) {
        (Some(id), None) => {
            let id = match id {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.strip_prefix("key-").unwrap_or(s).parse::<i64>().ok(),
                _ => None,
            };
            let id = id.ok_or_else(|| bad_request("key_id is invalid"))?;
            state.authority.ssh_key_now(id).await?
        }
        (None, Some(fingerprint)) => state.authority.authorized_key(Some(&fingerprint), None).await?,
        _ => return Err(bad_request("exactly one of key_id and fingerprint must be given")),
    };
    let Some(key) = key else {
        return Ok(refused(StatusCode::FORBIDDEN, "The key you are using is not registered"));
    };
    let outcome = state.authority.decide_ssh(&key, &project, action).await?;
    if outcome.is_bad_request() {
        return Err(bad_request("project is invalid"));
    }
    if !outcome.allowed {
        let status = match outcome.layer {
            policy::Layer::Visibility | policy::Layer::Route => StatusCode::NOT_FOUND,
            _ => StatusCode::FORBIDDEN,
        };
        let message = if status == StatusCode::NOT_FOUND {
            "The project you were looking for could not be found."
        } else {
            outcome.reason.text()
        };
        return Ok(refused(status, message));
    }
    let (project_id, path) = match &outcome.resource {
        authority::Resolved::Project(project, _) => (project.id, project.full_path.clone()),
        _ => return Ok(refused(StatusCode::NOT_FOUND, "The project you were looking for could not be found.")),
    };
    let (gl_id, username, key_type) = match &outcome.credential {
        Accepted::Ssh(key, Some(user)) => (
            format!("user-{}", user.id),
            Some(user.username.clone()),
            if key.is_deploy_key() { "deploy_key" } else { "key" },
        ),
        Accepted::Ssh(key, None) => (format!("key-{}", key.id), None, "deploy_key"),
        _ => return Ok(refused(StatusCode::FORBIDDEN, "access denied")),
    };
    Ok(axum::Json(json!({
        "status": true,
        "gl_repository": format!("project-{project_id}"),
        "gl_project_path": path,
        "gl_id": gl_id,
        "gl_username": username,
        "gl_key_type": key_type,
        "gl_key_id": key.id,
        "git_config_options": [],
        "gl_console_messages": [],
        "need_audit": false,
    }))
    .into_response())
}

/// `GET /internal/authorized_keys?key=…` (the key's base64 blob, as sshd's `AuthorizedKeysCommand` has it) or
/// `?fingerprint=SHA256:…`: the registered key, for an `authorized_keys` line.
async fn authorized_keys(State(state): State<AppState>, headers: HeaderMap, params: Params) -> ApiResult<Response> {
    shell_only(&state, &headers)?;
    let fingerprint = params.str("fingerprint")?;
    let key = params.str("key")?;
    if fingerprint.is_none() && key.is_none() {
        return Err(bad_request("key or fingerprint is missing"));
    }
    let found = state.authority.authorized_key(fingerprint.as_deref(), key.as_deref()).await?;
    let key = found.ok_or(not_found("Key"))?;
    Ok(axum::Json(json!({"id": key.id, "title": key.title, "key": key.key, "created_at": key.created_at.to_string()}))
        .into_response())
}
