//! Service accounts as GitLab has them: made for the instance by administrators (`/service_accounts`) or by a
//! top-level group's owners (`/groups/:id/service_accounts`), who then create, list, rotate and revoke the
//! account's personal access tokens. A service account authenticates only with tokens: it has no password anyone
//! knows.
//!
//! **Invariant:** a group's owners reach only the service accounts their group made, and only those accounts'
//! own personal access tokens; every token goes through the same issuing, rotation and revocation as any other.

use authority::{RotateToken, TokenFilter, UserFilter};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use domain::{Token, User};
use serde_json::{Value, json};

use crate::error::{ApiResult, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/service_accounts", get(list_instance).post(create_instance))
        .route("/groups/{id}/service_accounts", get(list_group).post(create_group))
        .route("/groups/{id}/service_accounts/{user_id}/personal_access_tokens", get(list_tokens).post(create_token))
        .route("/groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}", delete(revoke_token))
        .route("/groups/{id}/service_accounts/{user_id}/personal_access_tokens/{token_id}/rotate", post(rotate_token))
}

fn account(user: &User) -> Value {
    json!({"id": user.id, "username": user.username, "name": user.name, "email": user.email})
}

async fn create(
    state: &AppState,
    caller: &Caller,
    params: &Params,
    group: Option<&domain::Group>,
) -> ApiResult<Response> {
    let user = state
        .authority
        .create_service_account(
            &caller.audit(),
            params.str("name")?,
            params.str("username")?,
            params.str("email")?,
            group,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(account(&user))).into_response())
}

/// `POST /service_accounts` (administrators).
async fn create_instance(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    create(&state, &caller, &params, None).await
}

/// `POST /groups/:id/service_accounts` (a top-level group's owners).
async fn create_group(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    create(&state, &caller, &params, Some(group)).await
}

async fn list(state: &AppState, here: &Here, params: &Params, made_by: Option<i64>) -> ApiResult<Response> {
    let page = pagination::page(params)?;
    let filter = UserFilter { service_accounts: Some(made_by), ..UserFilter::default() };
    let (users, total) = state.authority.list_users(&filter, page).await?;
    let items = users.iter().map(account).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

/// `GET /service_accounts` (administrators): every service account.
async fn list_instance(State(state): State<AppState>, here: Here, params: Params) -> ApiResult<Response> {
    list(&state, &here, &params, None).await
}

/// `GET /groups/:id/service_accounts`: the accounts the group made.
async fn list_group(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    list(&state, &here, &params, Some(group.id)).await
}

/// The service account the path names, made by the group the path names.
async fn account_of(state: &AppState, caller: &Caller, user_id: &str) -> ApiResult<User> {
    let (group, _) = caller.group()?;
    let user_id = parse_id(user_id, "User")?;
    Ok(state.authority.group_service_account(group.id, user_id).await?)
}

/// One of the account's own personal access tokens.
async fn token_of(state: &AppState, account: &User, token_id: &str) -> ApiResult<Token> {
    let id = parse_id(token_id, "Personal Access Token")?;
    let token = state.authority.token(id).await?;
    token.filter(|t| t.user_id == account.id && !t.impersonation).ok_or(not_found("Personal Access Token"))
}

async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, user_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let account = account_of(&state, &caller, &user_id).await?;
    crate::tokens::issue(&state, &caller, &account, &params, false).await
}

async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path((_, user_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let account = account_of(&state, &caller, &user_id).await?;
    let page = pagination::page(&params)?;
    let now = state.authority.now();
    let filter = TokenFilter {
        user_id: Some(account.id),
        impersonation: Some(false),
        organization_id: crate::auth::caller_organization(&caller),
        ..crate::tokens::token_filter(&params, now)?
    };
    let (tokens, total) = state.authority.list_tokens(&filter, page).await?;
    let items = tokens.iter().map(|t| entities::token(t, now, None, false)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, user_id, token_id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let account = account_of(&state, &caller, &user_id).await?;
    let token = token_of(&state, &account, &token_id).await?;
    state.authority.revoke_token(&caller.audit(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, user_id, token_id)): Path<(String, String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let account = account_of(&state, &caller, &user_id).await?;
    let token = token_of(&state, &account, &token_id).await?;
    let request =
        RotateToken { expires_at: params.str("expires_at")?, creator: Some(principal.token_row(&state).await?) };
    let issued = state.authority.rotate_token(&caller.audit(), &token, &request).await?;
    let now = state.authority.now();
    Ok(axum::Json(entities::token(&issued.token, now, Some(&issued.plaintext), false)).into_response())
}
