//! Personal access tokens (`/personal_access_tokens`, `/user/personal_access_tokens`,
//! `/users/:id/personal_access_tokens`) and impersonation tokens (`/users/:id/impersonation_tokens`).
//!
//! **Invariant:** a token is acted on only after the decision allowed the route and the token is found in the list
//! the route names.

use authority::{CreateToken, RequestedGrant, RotateToken, TokenFilter, TokenSort};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{Scopes, Token, User};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, bad_request, not_found};
use crate::users::{parse_id, user_by_id};
use crate::{AppState, Caller, Here, Params, Principal, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/personal_access_tokens", get(list_tokens))
        .route("/personal_access_tokens/{id}", get(show_token).delete(revoke_token))
        .route("/personal_access_tokens/{id}/rotate", post(rotate_token))
        .route("/personal_access_tokens/{id}/usage", get(token_usage))
        .route("/user/personal_access_tokens", post(create_own_token))
        .route("/users/{id}/personal_access_tokens", post(create_token_for_user))
        .route("/users/{id}/impersonation_tokens", get(list_impersonation_tokens).post(create_impersonation_token))
        .route(
            "/users/{id}/impersonation_tokens/{token_id}",
            get(show_impersonation_token).delete(revoke_impersonation_token),
        )
}

async fn create_request(state: &AppState, params: &Params, principal: &Principal) -> ApiResult<CreateToken> {
    Ok(CreateToken {
        name: params.str("name")?,
        description: params.str("description")?,
        scopes: params.list("scopes")?,
        expires_at: params.str("expires_at")?,
        organization_id: params.int("organization_id")?,
        grants: granular_scopes(params)?,
        route_rules: params.list_exact("route_rules")?,
        creator: Some(principal.token_row(state).await?),
    })
}

/// `granular_scopes`: a JSON array of `{access, permissions, group_ids, project_ids}`, read by `authority`.
fn granular_scopes(params: &Params) -> ApiResult<Option<Vec<RequestedGrant>>> {
    Ok(authority::requested_grants(params.0.get("granular_scopes"))?)
}

/// A token never mints a token with administrator scopes it does not hold itself.
fn check_grant(principal: &Principal, request: &CreateToken) -> ApiResult<()> {
    let Some(names) = &request.scopes else { return Ok(()) };
    let Ok(requested) = Scopes::parse(names) else { return Ok(()) };
    match policy::check_grant(&principal.token.scopes, &requested) {
        Ok(()) => Ok(()),
        Err(missing) => Err(ApiError::InsufficientScope(missing)),
    }
}

/// Issues a token to `owner` as the caller asks, and answers 201 with the plaintext, once.
pub(crate) async fn issue(
    state: &AppState,
    caller: &Caller,
    owner: &User,
    params: &Params,
    impersonation: bool,
) -> ApiResult<Response> {
    let principal = caller.principal.as_ref().ok_or(ApiError::Unauthorized)?;
    let request = create_request(state, params, principal).await?;
    check_grant(principal, &request)?;
    let issued = state.authority.create_token(&caller.audit(), owner, &request, impersonation).await?;
    let now = state.authority.now();
    let body = entities::token(&issued.token, now, Some(&issued.plaintext), impersonation);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn create_own_token(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let owner = principal.user.clone();
    issue(&state, &caller, &owner, &params, false).await
}

async fn create_token_for_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let user = user_by_id(&state, &id).await?;
    issue(&state, &caller, &user, &params, false).await
}

fn sort(params: &Params) -> ApiResult<TokenSort> {
    Ok(match params.str("sort")?.as_deref() {
        None | Some("id_desc") => TokenSort::IdDesc,
        Some("id_asc") => TokenSort::IdAsc,
        Some("created_asc") => TokenSort::CreatedAsc,
        Some("created_desc") => TokenSort::CreatedDesc,
        Some("last_used_asc") => TokenSort::LastUsedAsc,
        Some("last_used_desc") => TokenSort::LastUsedDesc,
        Some("expires_asc") => TokenSort::ExpiresAsc,
        Some("expires_desc") => TokenSort::ExpiresDesc,
        Some("name_asc") => TokenSort::NameAsc,
        Some("name_desc") => TokenSort::NameDesc,
        Some(_) => return Err(bad_request("sort does not have a valid value")),
    })
}

fn state_filter(params: &Params) -> ApiResult<Option<bool>> {
    match params.str("state")?.as_deref() {
        None | Some("all") => Ok(None),
        Some("active") => Ok(Some(true)),
        Some("inactive") => Ok(Some(false)),
        Some(_) => Err(bad_request("state does not have a valid value")),
    }
}

async fn list_tokens(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let page = pagination::page(&params)?;
    let admin = caller.is_admin();
    let user_id = params.int("user_id")?;
    if !admin && user_id.is_some_and(|id| id != principal.user.id) {
        return Err(ApiError::Unauthorized);
    }
    let now = state.authority.now();
    let filter = TokenFilter {
        user_id: if admin { user_id } else { Some(principal.user.id) },
        impersonation: if admin { None } else { Some(false) },
        organization_id: Some(principal.token.organization_id),
        ..token_filter(&params, now)?
    };
    let (tokens, total) = state.authority.list_tokens(&filter, page).await?;
    let items = tokens.iter().map(|t| entities::token(t, now, None, false)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

/// The filters and order every token list accepts: `revoked`, `state`, `created_*`, `last_used_*`,
/// `expires_*`, `search`, `granular` and `sort`.
pub(crate) fn token_filter(params: &Params, now: domain::Timestamp) -> ApiResult<TokenFilter> {
    Ok(TokenFilter {
        revoked: params.bool("revoked")?,
        active: state_filter(params)?,
        today: Some(now.date()),
        created_before: params.time("created_before")?,
        created_after: params.time("created_after")?,
        last_used_before: params.time("last_used_before")?,
        last_used_after: params.time("last_used_after")?,
        expires_before: params.date("expires_before")?,
        expires_after: params.date("expires_after")?,
        search: params.str("search")?,
        granular: params.bool("granular")?,
        sort: sort(params)?,
        ..TokenFilter::default()
    })
}

/// The token `:id` names (`self` is the presented token), if the caller may see it.
/// Non-administrators get the same 401 for someone else's token as for a missing one.
async fn visible_token(state: &AppState, caller: &Caller, principal: &Principal, id: &str) -> ApiResult<Token> {
    if id == "self" {
        return Ok(std::sync::Arc::unwrap_or_clone(principal.token_row(state).await?));
    }
    let admin = caller.is_admin();
    let Ok(id) = id.parse::<i64>() else {
        return Err(if admin { not_found("Personal Access Token") } else { ApiError::Unauthorized });
    };
    // Another organization's token looks absent, as an unknown one does.
    let token = state.authority.token(id).await?.filter(|t| t.organization_id == principal.token.organization_id);
    match token {
        Some(token) if admin => Ok(token),
        Some(token) if token.user_id == principal.user.id && !token.impersonation => Ok(token),
        None if admin => Err(not_found("Personal Access Token")),
        _ => Err(ApiError::Unauthorized),
    }
}

async fn show_token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = visible_token(&state, &caller, principal, &id).await?;
    Ok(axum::Json(entities::token(&token, state.authority.now(), None, false)).into_response())
}

async fn revoke_token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = visible_token(&state, &caller, principal, &id).await?;
    state.authority.revoke_token(&caller.audit(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = visible_token(&state, &caller, principal, &id).await?;
    let request =
        RotateToken { expires_at: params.str("expires_at")?, creator: Some(principal.token_row(&state).await?) };
    let issued = state.authority.rotate_token(&caller.audit(), &token, &request).await?;
    let now = state.authority.now();
    Ok(axum::Json(entities::token(&issued.token, now, Some(&issued.plaintext), false)).into_response())
}

/// The longest window of use a suggestion looks back over, in days (and the default).
const MAX_USAGE_DAYS: i64 = 365;
const DEFAULT_USAGE_DAYS: i64 = 30;

/// The window of use `?days=` asks a suggestion to cover: 1 to 365 days, 30 by default. Token usage and job-token
/// allowlist suggestions take the same.
pub(crate) fn usage_days(params: &Params) -> ApiResult<i64> {
    let days = params.int("days")?.unwrap_or(DEFAULT_USAGE_DAYS);
    if !(1..=MAX_USAGE_DAYS).contains(&days) {
        return Err(authority::Error::invalid("days", "must be between 1 and 365").into());
    }
    Ok(days)
}

/// What a token exercised over the last `days` (default 30), and the smallest fine-grained grant covering it,
/// in the shape `granular_scopes` takes on creation.
async fn token_usage(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = visible_token(&state, &caller, principal, &id).await?;
    let days = usage_days(&params)?;
    let now = state.authority.now();
    let since = domain::Timestamp::from_millis(now.millis() - days * 86_400_000);
    let usage = state.authority.token_usage(token.id, Some(since)).await?;
    let exercised: Vec<Value> = usage
        .iter()
        .map(|u| {
            serde_json::json!({
                "permission": u.permission,
                "boundary": u.boundary.to_stored(),
                "first_used_at": u.first_used_at.to_string(),
                "last_used_at": u.last_used_at.to_string(),
                "uses": u.uses,
            })
        })
        .collect();
    let grants = policy::suggest_grants(usage.iter().map(|u| (u.permission.as_str(), u.boundary)));
    Ok(axum::Json(serde_json::json!({
        "token_id": token.id,
        "since": since.to_string(),
        "until": now.to_string(),
        "exercised": exercised,
        "granular_scopes": entities::granular_scopes_request(&grants),
    }))
    .into_response())
}

async fn list_impersonation_tokens(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let user = user_by_id(&state, &id).await?;
    let page = pagination::page(&params)?;
    let now = state.authority.now();
    let filter = TokenFilter {
        user_id: Some(user.id),
        impersonation: Some(true),
        active: state_filter(&params)?,
        today: Some(now.date()),
        organization_id: crate::auth::caller_organization(&caller),
        ..TokenFilter::default()
    };
    let (tokens, total) = state.authority.list_tokens(&filter, page).await?;
    let items = tokens.iter().map(|t| entities::token(t, now, None, true)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn create_impersonation_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let user = user_by_id(&state, &id).await?;
    issue(&state, &caller, &user, &params, true).await
}

async fn impersonation_token(state: &AppState, user_id: &str, token_id: &str) -> ApiResult<Token> {
    let user = user_by_id(state, user_id).await?;
    let id = parse_id(token_id, "Impersonation Token")?;
    match state.authority.token(id).await? {
        Some(token) if token.user_id == user.id && token.impersonation => Ok(token),
        _ => Err(not_found("Impersonation Token")),
    }
}

async fn show_impersonation_token(
    State(state): State<AppState>,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = impersonation_token(&state, &id, &token_id).await?;
    Ok(axum::Json(entities::token(&token, state.authority.now(), None, true)).into_response())
}

async fn revoke_impersonation_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = impersonation_token(&state, &id, &token_id).await?;
    state.authority.revoke_token(&caller.audit(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
