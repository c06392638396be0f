//! Administrator endpoints: instance settings and the audit log.
//!
//! **Invariant:** only administrators reach these routes (the catalog says so), and every settings change is
//! audited.

use authority::AuditFilter;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::Settings;
use serde_json::json;

use crate::error::{ApiResult, bad_request, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/application/settings", get(show_settings).put(update_settings))
        .route("/audit_events", get(list_audit_events))
        .route("/audit_events/{id}", get(show_audit_event))
        .route("/admin/expiry_notices/run", axum::routing::post(run_expiry_notices))
}

fn settings_json(settings: &Settings) -> serde_json::Value {
    json!({
        "max_personal_access_token_lifetime": settings.max_personal_access_token_lifetime,
        "require_personal_access_token_expiry": settings.require_personal_access_token_expiry,
        "impersonation_enabled": settings.impersonation_enabled,
        "admin_mode": settings.admin_mode,
        "fine_grained_tokens_only": settings.fine_grained_tokens_only,
        "fine_grained_tokens_only_after": settings.fine_grained_tokens_only_after.map(|d| d.to_string()),
        "disable_legacy_token_creation": settings.disable_legacy_token_creation,
    })
}

async fn show_settings(State(state): State<AppState>) -> ApiResult<Response> {
    Ok(axum::Json(settings_json(&state.authority.settings().await?)).into_response())
}

async fn update_settings(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let mut settings = state.authority.settings().await?;
    if let Some(days) = max_lifetime(&params)? {
        settings.max_personal_access_token_lifetime = days;
    }
    if let Some(v) = params.bool("require_personal_access_token_expiry")? {
        settings.require_personal_access_token_expiry = v;
    }
    if let Some(v) = params.bool("impersonation_enabled")? {
        settings.impersonation_enabled = v;
    }
    if let Some(v) = params.bool("admin_mode")? {
        settings.admin_mode = v;
    }
    if let Some(v) = params.bool("fine_grained_tokens_only")? {
        settings.fine_grained_tokens_only = v;
    }
    if params.has("fine_grained_tokens_only_after") {
        settings.fine_grained_tokens_only_after = params.date("fine_grained_tokens_only_after")?;
    }
    if let Some(v) = params.bool("disable_legacy_token_creation")? {
        settings.disable_legacy_token_creation = v;
    }
    // A change that would refuse the very token making it locks its administrator out: refuse it instead.
    if let Some(principal) = &caller.principal
        && authority::token_refusal(&settings, catalog::Surface::Api, &principal.token).is_some()
    {
        return Err(bad_request(
            "these settings would refuse the token making this request: create a token that meets them first",
        ));
    }
    let saved = state.authority.update_settings(&caller.audit(), &settings).await?;
    Ok(axum::Json(settings_json(&saved)).into_response())
}

/// `max_personal_access_token_lifetime` when given: `Some(None)` clears it, `Some(Some(days))` sets it (1 to 365).
pub(crate) fn max_lifetime(params: &Params) -> ApiResult<Option<Option<i64>>> {
    const NAME: &str = "max_personal_access_token_lifetime";
    if !params.has(NAME) {
        return Ok(None);
    }
    match params.int(NAME)? {
        None => Ok(Some(None)),
        Some(days) if (1..=Settings::DEFAULT_MAX_LIFETIME_DAYS).contains(&days) => Ok(Some(Some(days))),
        Some(_) => Err(authority::Error::invalid(NAME, "must be between 1 and 365").into()),
    }
}

async fn list_audit_events(State(state): State<AppState>, here: Here, params: Params) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    let entity_type = params.str("entity_type")?;
    if entity_type.as_ref().is_some_and(|t| t.len() > 64) {
        return Err(bad_request("entity_type is invalid"));
    }
    let filter = AuditFilter {
        entity_type,
        entity_id: params.int("entity_id")?,
        created_after: params.time("created_after")?,
        created_before: params.time("created_before")?,
    };
    let (events, total) = state.authority.list_audit_events(&filter, page).await?;
    let items = events.iter().map(crate::entities::audit_event).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn show_audit_event(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_id(&id, "Audit Event")?;
    let event = state.authority.audit_event(id).await?.ok_or(not_found("Audit Event"))?;
    Ok(axum::Json(crate::entities::audit_event(&event)).into_response())
}

/// `POST /admin/expiry_notices/run`: runs the expiry-notice schedule now (it also runs on its own every
/// `expiry_check_interval`), and says what it did. Each notice still goes out once.
async fn run_expiry_notices(State(state): State<AppState>) -> ApiResult<Response> {
    let run = state.authority.run_expiry_notices(&*state.notices).await?;
    Ok(axum::Json(json!({"claimed": run.claimed, "emailed": run.emailed, "failed": run.failed})).into_response())
}
