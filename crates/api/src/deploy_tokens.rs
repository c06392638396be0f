//! Deploy tokens (`/projects/:id/deploy_tokens`, `/groups/:id/deploy_tokens`, and administrators'
//! `/deploy_tokens`): create, list, show and revoke, as GitLab serves them.
//!
//! **Invariant:** a handler acts only on a deploy token of the project or group the path names (another one is
//! 404); the plaintext is in the creation's answer only.

use authority::{CreateDeployToken, DeployTokenFilter};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use domain::MemberSource;

use crate::error::ApiResult;
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/deploy_tokens", get(list_instance))
        .route("/projects/{id}/deploy_tokens", get(list).post(create))
        .route("/projects/{id}/deploy_tokens/{token_id}", get(show).delete(revoke))
        .route("/groups/{id}/deploy_tokens", get(list).post(create))
        .route("/groups/{id}/deploy_tokens/{token_id}", get(show).delete(revoke))
}

/// The project or group the decision resolved, and its organization.
fn resource(caller: &Caller) -> ApiResult<(MemberSource, i64)> {
    if let Ok((project, _)) = caller.project() {
        return Ok((MemberSource::Project(project.id), project.organization_id));
    }
    let (group, _) = caller.group()?;
    Ok((MemberSource::Group(group.id), group.organization_id))
}

/// `active=true|false`, as GitLab's lists take it.
fn active(params: &Params) -> ApiResult<Option<bool>> {
    params.bool("active")
}

async fn create(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let (source, organization_id) = resource(&caller)?;
    let request = CreateDeployToken {
        name: params.str("name")?,
        scopes: params.list("scopes")?,
        expires_at: params.str("expires_at")?,
        username: params.str("username")?,
        creator: Some(principal.token_row(&state).await?),
    };
    let issued = state
        .authority
        .create_deploy_token(&caller.audit(), source, organization_id, principal.user.id, &request)
        .await?;
    let body = entities::deploy_token(&issued.token, state.authority.now(), Some(&issued.plaintext));
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn page(state: &AppState, here: &Here, params: &Params, filter: DeployTokenFilter) -> ApiResult<Response> {
    let page = pagination::page(params)?;
    let now = state.authority.now();
    let filter = DeployTokenFilter { active: active(params)?, today: Some(now.date()), ..filter };
    let (tokens, total) = state.authority.list_deploy_tokens(&filter, page).await?;
    let items = tokens.iter().map(|t| entities::deploy_token(t, now, None)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn list(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let (source, _) = resource(&caller)?;
    page(&state, &here, &params, DeployTokenFilter { resource: Some(source), ..DeployTokenFilter::default() }).await
}

/// `GET /deploy_tokens` (administrators): every deploy token of the caller's organization.
async fn list_instance(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let filter = DeployTokenFilter {
        organization_id: crate::auth::caller_organization(&caller),
        ..DeployTokenFilter::default()
    };
    page(&state, &here, &params, filter).await
}

async fn named(state: &AppState, caller: &Caller, token_id: &str) -> ApiResult<domain::DeployToken> {
    let (source, _) = resource(caller)?;
    let id = parse_id(token_id, "Deploy Token")?;
    Ok(state.authority.deploy_token(source, id).await?)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = named(&state, &caller, &token_id).await?;
    Ok(axum::Json(entities::deploy_token(&token, state.authority.now(), None)).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = named(&state, &caller, &token_id).await?;
    state.authority.revoke_deploy_token(&caller.audit(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
