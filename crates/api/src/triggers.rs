//! Pipeline triggers (`/projects/:id/triggers`) and the trigger route (`POST /projects/:id/trigger/pipeline`),
//! as GitLab serves them: a project's maintainers make, list, describe and delete triggers; a trigger's `token`
//! runs a pipeline of its project as the trigger's owner.
//!
//! **Invariant:** a handler acts only on a trigger of the project the path names; the trigger route acts only
//! for the trigger the decision authenticated, and a token is shown once, when it is made.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::PipelineTrigger;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, bad_request};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

/// The most variables a run may carry, and the longest key and value.
const MAX_VARIABLES: usize = 200;
const MAX_VARIABLE_KEY: usize = 255;
const MAX_VARIABLE_VALUE: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/triggers", get(list).post(create))
        .route("/projects/{id}/triggers/{trigger_id}", get(show).put(update).delete(remove))
        .route("/projects/{id}/trigger/pipeline", post(run))
}

/// GitLab's `Trigger` entity: `token` only in the answer that made it.
async fn entity(state: &AppState, here: &Here, trigger: &PipelineTrigger, plaintext: Option<&str>) -> ApiResult<Value> {
    let owner = state.authority.user(trigger.owner_id).await?;
    Ok(json!({
        "id": trigger.id,
        "token": plaintext,
        "description": trigger.description,
        "created_at": trigger.created_at.to_string(),
        "updated_at": trigger.updated_at.to_string(),
        "last_used": trigger.last_used_at.map(|t| t.to_string()),
        "expires_at": trigger.expires_at.map(|d| d.to_string()),
        "owner": owner.as_ref().map(|u| entities::user_basic(u, &here.base)),
    }))
}

async fn create(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let (project, _) = caller.project()?;
    let issued = state
        .authority
        .create_trigger(
            &caller.audit(),
            &principal.user,
            project,
            params.str("description")?.as_deref(),
            params.str("expires_at")?.as_deref(),
            Some(&*principal.token_row(&state).await?),
        )
        .await?;
    let body = entity(&state, &here, &issued.trigger, Some(&issued.plaintext)).await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn list(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let page = pagination::page(&params)?;
    let (triggers, total) = state.authority.list_triggers(project.id, page).await?;
    let mut items = Vec::with_capacity(triggers.len());
    for trigger in &triggers {
        items.push(entity(&state, &here, trigger, None).await?);
    }
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn named(state: &AppState, caller: &Caller, trigger_id: &str) -> ApiResult<PipelineTrigger> {
    let (project, _) = caller.project()?;
    let id = parse_id(trigger_id, "Trigger")?;
    Ok(state.authority.project_trigger(project.id, id).await?)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path((_, trigger_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let trigger = named(&state, &caller, &trigger_id).await?;
    Ok(axum::Json(entity(&state, &here, &trigger, None).await?).into_response())
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path((_, trigger_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let trigger = named(&state, &caller, &trigger_id).await?;
    let description = params.str("description")?.ok_or_else(|| bad_request("description is missing"))?;
    let updated = state.authority.describe_trigger(&caller.audit(), &trigger, &description).await?;
    Ok(axum::Json(entity(&state, &here, &updated, None).await?).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, trigger_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let trigger = named(&state, &caller, &trigger_id).await?;
    state.authority.delete_trigger(&caller.audit(), &trigger).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `variables`: an object of string values (or `variables[KEY]` form fields), checked and bounded. Tessera's CI
/// model keeps no variables, so they go no further.
fn check_variables(params: &Params) -> ApiResult<()> {
    let mut count = 0;
    for (key, value) in &params.0 {
        let entries: Vec<(&str, &Value)> = match (key.as_str(), value) {
            ("variables", Value::Object(map)) => map.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            ("variables", Value::Null) => Vec::new(),
            ("variables", _) => return Err(bad_request("variables is invalid")),
            (other, v) => match other.strip_prefix("variables[").and_then(|k| k.strip_suffix(']')) {
                Some(k) => vec![(k, v)],
                None => continue,
            },
        };
        for (name, value) in entries {
            count += 1;
            let valid_name = !name.is_empty()
                && name.len() <= MAX_VARIABLE_KEY
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let valid_value = value.as_str().is_some_and(|v| v.len() <= MAX_VARIABLE_VALUE);
            if !valid_name || !valid_value || count > MAX_VARIABLES {
                return Err(bad_request("variables is invalid"));
            }
        }
    }
    Ok(())
}

/// `POST /projects/:id/trigger/pipeline` with `token` and `ref`: a pipeline and its job, as the trigger's owner.
async fn run(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let trigger = caller.trigger.clone().ok_or(ApiError::Unauthorized)?;
    let (project, _) = caller.project()?;
    check_variables(&params)?;
    let git_ref = params.str("ref")?;
    let ctx =
        authority::AuditContext { author_id: Some(trigger.owner_id), author_name: None, ip_address: caller.ip.clone() };
    let started = state.authority.run_trigger(&ctx, &trigger, git_ref.as_deref()).await?;
    let owner = state.authority.user(trigger.owner_id).await?;
    let job = &started.job;
    let body = json!({
        "id": job.pipeline_id,
        "iid": job.pipeline_id,
        "project_id": project.id,
        "ref": job.git_ref,
        "sha": null,
        "status": "running",
        "source": "trigger",
        "created_at": job.created_at.to_string(),
        "updated_at": job.created_at.to_string(),
        "web_url": format!("{}/{}/-/pipelines/{}", here.base, project.full_path, job.pipeline_id),
        "user": owner.as_ref().map(|u| entities::user_basic(u, &here.base)),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}
