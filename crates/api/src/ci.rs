//! CI/CD: the internal API a CI system starts and ends jobs with, `GET /job`, runners, each project's job-token
//! scope and allowlists (GitLab's `job_token_scope` endpoints, with per-entry policies), allowlist suggestions
//! from use, signing-key rotation, and the JWKS and OpenID discovery documents services verify tokens with.
//!
//! **Invariant:** every route here passed the decision layer, except the runner's `glrt-` token on the internal job
//! routes, which reaches nothing else.

use std::sync::Arc;

use authority::{CiActor, StartJob};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use domain::{AllowlistEntry, AllowlistSource, Job, JobPolicies, JobStatus, JobTokenSettings, RunnerType};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, bad_request, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

/// Routes under `/api/v4`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/internal/ci/jobs", post(start_job))
        .route("/internal/ci/jobs/{job_id}", put(update_job))
        .route("/job", get(show_own_job))
        .route("/user/runners", post(create_runner))
        .route("/admin/ci/job_token_keys/rotate", post(rotate_keys))
        .route("/projects/{id}/job_token_scope", get(show_scope).patch(update_scope))
        .route("/projects/{id}/job_token_scope/allowlist", get(list_projects).post(add_project))
        .route("/projects/{id}/job_token_scope/allowlist/suggestions", get(suggestions))
        .route(
            "/projects/{id}/job_token_scope/allowlist/{target_project_id}",
            patch(update_project_entry).delete(remove_project),
        )
        .route("/projects/{id}/job_token_scope/groups_allowlist", get(list_groups).post(add_group))
        .route(
            "/projects/{id}/job_token_scope/groups_allowlist/{target_group_id}",
            patch(update_group_entry).delete(remove_group),
        )
}

/// Public documents outside `/api/v4`: anyone may verify tokens.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/oauth/discovery/keys", get(jwks))
        .route("/-/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
}

async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let keys = state.authority.published_keys().await?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

async fn discovery(State(state): State<AppState>) -> ApiResult<Response> {
    let issuer = state.authority.issuer().trim_end_matches('/').to_owned();
    let algorithms = state.authority.signing_algorithms().await?;
    Ok(Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/oauth/discovery/keys"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "scopes_supported": ["openid"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "namespace_id", "namespace_path", "project_id",
            "project_path", "user_id", "user_login", "user_email", "pipeline_id", "pipeline_source", "job_id",
            "ref", "ref_type", "ref_path", "ref_protected", "runner_id", "runner_environment", "organization_id"
        ],
    }))
    .into_response())
}

/// Who calls the internal CI API: a runner's token, or an administrator's (the decision layer checked it).
fn ci_actor(caller: &Caller) -> ApiResult<CiActor> {
    if let Some(runner) = &caller.runner {
        return Ok(CiActor::Runner(runner.clone()));
    }
    match &caller.principal {
        Some(principal) if caller.admin => Ok(CiActor::Admin(principal.user.clone())),
        _ => Err(crate::error::forbidden()),
    }
}

/// `id_tokens` as in `.gitlab-ci.yml`: `{NAME: {aud: "x" | ["x", "y"]}}`.
fn id_tokens(value: Option<&Value>) -> ApiResult<Vec<(String, Vec<String>)>> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let map = value.as_object().ok_or_else(|| bad_request("id_tokens must be an object of NAME: {aud: ...}"))?;
    let mut out = Vec::with_capacity(map.len());
    for (name, spec) in map {
        let aud = spec.as_object().and_then(|s| s.get("aud"));
        let fields_ok = spec.as_object().is_some_and(|s| s.keys().all(|k| k == "aud"));
        let audiences = match aud {
            Some(Value::String(one)) if fields_ok => vec![one.clone()],
            Some(Value::Array(many)) if fields_ok => many
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_request(format!("id_tokens.{name}.aud must be strings")))?,
            _ => return Err(bad_request(format!("id_tokens.{name} must be {{aud: string or list of strings}}"))),
        };
        out.push((name.clone(), audiences));
    }
    Ok(out)
}

async fn start_job(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let actor = ci_actor(&caller)?;
    let required = |key: &str| params.int(key)?.ok_or_else(|| bad_request(format!("{key} is missing")));
    let request = StartJob {
        project_id: required("project_id")?,
        user_id: required("user_id")?,
        pipeline_id: params.int("pipeline_id")?,
        name: params.str("name")?.unwrap_or_else(|| "job".to_owned()),
        git_ref: params.str("ref")?.ok_or_else(|| bad_request("ref is missing"))?,
        ref_protected: params.bool("ref_protected")?.unwrap_or(false),
        timeout_s: params.int("timeout")?.unwrap_or(3600),
        permissions: params.str("permissions")?,
        id_tokens: id_tokens(params.0.get("id_tokens"))?,
    };
    let started = state.authority.start_job(&caller.audit(), &actor, &request).await?;
    let id_tokens: serde_json::Map<String, Value> =
        started.id_tokens.into_iter().map(|(name, jwt)| (name, Value::String(jwt))).collect();
    let body = json!({
        "id": started.job.id,
        "pipeline_id": started.job.pipeline_id,
        "status": started.job.status.as_str(),
        "token": started.token,
        "token_expires_at": started.job.token_expires_at.to_string(),
        "permissions": started.job.permissions.names(),
        "legacy": started.job.mode == domain::JobTokenMode::Legacy,
        "id_tokens": id_tokens,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn update_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let actor = ci_actor(&caller)?;
    let id = parse_id(&id, "Job")?;
    let status = params.str("status")?.ok_or_else(|| bad_request("status is missing"))?;
    let status = JobStatus::parse(&status)
        .filter(|s| *s != JobStatus::Running)
        .ok_or_else(|| bad_request("status does not have a valid value (success, failed or canceled)"))?;
    let job = state.authority.finish_job(&caller.audit(), &actor, id, status).await?;
    Ok(Json(
        json!({"id": job.id, "status": job.status.as_str(), "finished_at": job.finished_at.map(|t| t.to_string())}),
    )
    .into_response())
}

/// `GET /job`: the job of the presented job token, as GitLab shows it.
async fn show_own_job(State(state): State<AppState>, caller: Caller, here: Here) -> ApiResult<Response> {
    let Some(principal) = &caller.job else { return Err(ApiError::Unauthorized) };
    let job = &principal.job;
    let pipeline = state.authority.pipeline(job.pipeline_id).await?;
    Ok(Json(job_entity(job, &principal.user, &principal.project, pipeline.as_ref(), &here.base)).into_response())
}

fn job_entity(
    job: &Job,
    user: &domain::User,
    project: &domain::Project,
    pipeline: Option<&domain::Pipeline>,
    base: &str,
) -> Value {
    let duration = job.finished_at.map(|end| (end.millis() - job.created_at.millis()) as f64 / 1000.0);
    json!({
        "id": job.id,
        "status": job.status.as_str(),
        "stage": "test",
        "name": job.name,
        "ref": job.git_ref,
        "tag": false,
        "coverage": null,
        "allow_failure": false,
        "created_at": job.created_at.to_string(),
        "started_at": job.created_at.to_string(),
        "finished_at": job.finished_at.map(|t| t.to_string()),
        "erased_at": null,
        "duration": duration,
        "queued_duration": 0.0,
        "user": entities::user_basic(user, base),
        "pipeline": pipeline.map(|p| json!({
            "id": p.id,
            "project_id": p.project_id,
            "ref": p.git_ref,
            "sha": null,
            "status": job.status.as_str(),
        })),
        "web_url": format!("{base}/{}/-/jobs/{}", project.full_path, job.id),
        "project": {"ci_job_token_scope_enabled": project.job_token.inbound_enabled},
        "runner": job.runner_id.map(|id| json!({"id": id})),
        "artifacts": [],
        "tag_list": [],
    })
}

async fn create_runner(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let runner_type = match params.str("runner_type")?.as_deref() {
        Some("instance_type") => {
            if !caller.is_admin() {
                return Err(crate::error::forbidden());
            }
            RunnerType::Instance
        }
        Some("project_type") => {
            let id = params.int("project_id")?.ok_or_else(|| bad_request("project_id is missing"))?;
            let project = state.authority.find_project(&authority::NamespaceRef::Id(id)).await?;
            let Some(project) = project else { return Err(not_found("Project")) };
            let level = state.authority.project_access(&principal.user, &project).await?;
            if !policy::role_grants(state.authority.catalog(), caller.is_admin(), level, "create_runner") {
                return Err(if level.is_some() || caller.is_admin() {
                    crate::error::forbidden()
                } else {
                    not_found("Project")
                });
            }
            RunnerType::Project(project.id)
        }
        Some("group_type") => return Err(bad_request("runner_type group_type is not supported")),
        _ => return Err(bad_request("runner_type does not have a valid value")),
    };
    let description = params.str("description")?.unwrap_or_default();
    let (runner, token) =
        state.authority.create_runner(&caller.audit(), &principal.user, runner_type, &description).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": runner.id, "token": token, "token_expires_at": null}))).into_response())
}

async fn rotate_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let keys = state.authority.rotate_signing_keys(&caller.audit()).await?;
    Ok(Json(json!({ "keys": keys })).into_response())
}

fn scope_entity(project: &domain::Project) -> Value {
    json!({
        "inbound_enabled": project.job_token.inbound_enabled,
        "outbound_enabled": false,
        "legacy_mode": project.job_token.legacy,
        "ci_push_repository_for_job_token_allowed": project.job_token.push_allowed,
    })
}

async fn show_scope(caller: Caller) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    Ok(Json(scope_entity(project)).into_response())
}

/// `PATCH …/job_token_scope`: `enabled` (the inbound allowlist), and Tessera's `legacy_mode` and
/// `ci_push_repository_for_job_token_allowed`.
async fn update_scope(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let mut settings: JobTokenSettings = project.job_token;
    let mut any = false;
    if let Some(enabled) = params.bool("enabled")? {
        settings.inbound_enabled = enabled;
        any = true;
    }
    if let Some(legacy) = params.bool("legacy_mode")? {
        settings.legacy = legacy;
        any = true;
    }
    if let Some(push) = params.bool("ci_push_repository_for_job_token_allowed")? {
        settings.push_allowed = push;
        any = true;
    }
    if !any {
        return Err(bad_request("enabled is missing"));
    }
    state.authority.set_job_token_settings(&caller.audit(), project, settings).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The policies of an entry as given on `POST` and `PATCH`: `default_permissions` (default true when no
/// policies are given) and `job_token_policies`.
fn entry_policies(params: &Params, current: Option<&AllowlistEntry>) -> ApiResult<(bool, JobPolicies)> {
    let policies = match params.list_exact("job_token_policies")? {
        Some(names) => Some(
            JobPolicies::parse_names(names.iter().map(String::as_str))
                .map_err(|e| ApiError::from(authority::Error::invalid("job_token_policies", e)))?,
        ),
        None => None,
    };
    let default = match (params.bool("default_permissions")?, &policies, current) {
        (Some(default), _, _) => default,
        (None, Some(_), _) => false,
        (None, None, Some(entry)) => entry.default_permissions,
        (None, None, None) => true,
    };
    let policies = policies.or(current.map(|e| e.policies)).unwrap_or(JobPolicies::NONE);
    Ok((default, policies))
}

fn entry_policy_names(entry: &AllowlistEntry) -> Vec<String> {
    if entry.default_permissions { Vec::new() } else { entry.policies.names() }
}

async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let entries = state.authority.allowlist(project).await?;
    let mut items = vec![entities::project(project, &here.base)];
    for entry in entries {
        if let AllowlistSource::Project(id) = entry.source
            && let Some(source) = state.authority.find_project(&authority::NamespaceRef::Id(id)).await?
        {
            items.push(with_policies(entities::project(&source, &here.base), &entry));
        }
    }
    page_of(items, &params, &here)
}

async fn list_groups(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let entries = state.authority.allowlist(project).await?;
    let mut items = Vec::new();
    for entry in entries {
        if let AllowlistSource::Group(id) = entry.source
            && let Some(group) = state.authority.find_group(&authority::NamespaceRef::Id(id)).await?
        {
            items.push(with_policies(entities::group(&group, &here.base), &entry));
        }
    }
    page_of(items, &params, &here)
}

fn page_of(items: Vec<Value>, params: &Params, here: &Here) -> ApiResult<Response> {
    let page = pagination::page(params)?;
    let total = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let start = usize::try_from(page.offset()).unwrap_or(usize::MAX).min(items.len());
    let take = usize::try_from(page.per_page).unwrap_or(usize::MAX);
    let items: Vec<Value> = items.into_iter().skip(start).take(take).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

fn entry_json(entry: &AllowlistEntry, source_key: &str, target: i64) -> Value {
    with_policies(json!({"source_project_id": entry.project_id, source_key: target}), entry)
}

/// `item` with the entry's `default_permissions` and `job_token_policies`, as every allowlist answer shows them.
fn with_policies(mut item: Value, entry: &AllowlistEntry) -> Value {
    item["default_permissions"] = json!(entry.default_permissions);
    item["job_token_policies"] = json!(entry_policy_names(entry));
    item
}

async fn add_project(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    add_entry(state, caller, params, "target_project_id").await
}

async fn add_group(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    add_entry(state, caller, params, "target_group_id").await
}

fn source_of(key: &str, id: i64) -> AllowlistSource {
    if key == "target_group_id" { AllowlistSource::Group(id) } else { AllowlistSource::Project(id) }
}

async fn add_entry(state: AppState, caller: Caller, params: Params, key: &str) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let principal = caller.require()?;
    let id = params.int(key)?.ok_or_else(|| bad_request(format!("{key} is missing")))?;
    let source = source_of(key, id);
    if source == AllowlistSource::Project(project.id) {
        return Err(bad_request("a project's own jobs need no allowlist entry"));
    }
    let (default, policies) = entry_policies(&params, None)?;
    let entry = state
        .authority
        .add_allowlist_entry(&caller.audit(), &principal.user, project, source, default, policies)
        .await?;
    Ok((StatusCode::CREATED, Json(entry_json(&entry, key, id))).into_response())
}

async fn update_project_entry(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, target)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    update_entry(state, caller, params, "target_project_id", &target).await
}

async fn update_group_entry(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, target)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    update_entry(state, caller, params, "target_group_id", &target).await
}

async fn update_entry(state: AppState, caller: Caller, params: Params, key: &str, target: &str) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let id = parse_id(target, if key == "target_group_id" { "Group" } else { "Project" })?;
    let source = source_of(key, id);
    let current = state.authority.allowlist(project).await?.into_iter().find(|e| e.source == source);
    let Some(current) = current else { return Err(not_found("Allowlist entry")) };
    let (default, policies) = entry_policies(&params, Some(&current))?;
    let entry = state.authority.update_allowlist_entry(&caller.audit(), project, source, default, policies).await?;
    Ok(Json(entry_json(&entry, key, id)).into_response())
}

async fn remove_project(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, target)): Path<(String, String)>,
) -> ApiResult<Response> {
    remove_entry(state, caller, "target_project_id", &target).await
}

async fn remove_group(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, target)): Path<(String, String)>,
) -> ApiResult<Response> {
    remove_entry(state, caller, "target_group_id", &target).await
}

async fn remove_entry(state: AppState, caller: Caller, key: &str, target: &str) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let id = parse_id(target, if key == "target_group_id" { "Group" } else { "Project" })?;
    state.authority.remove_allowlist_entry(&caller.audit(), project, source_of(key, id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/allowlist/suggestions?days=N`: the entries that would cover what other projects' job tokens did here.
async fn suggestions(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let days = crate::tokens::usage_days(&params)?;
    let suggestions = state.authority.suggest_allowlist(project, days).await?;
    let items: Vec<Value> = suggestions
        .iter()
        .map(|s| {
            let source: &Arc<domain::Project> = &s.source_project;
            json!({
                "target_project_id": source.id,
                "target_project_path": source.full_path,
                "default_permissions": false,
                "job_token_policies": s.policies.names(),
                "uses": s.uses,
                "last_used_at": s.last_used_at.to_string(),
                "allowlisted": s.allowed_now.is_some(),
                "allowed_job_token_policies": s.allowed_now.map(JobPolicies::names),
                "covered": s.allowed_now.is_some_and(|allowed| allowed.covers(s.policies)),
            })
        })
        .collect();
    Ok(Json(items).into_response())
}
