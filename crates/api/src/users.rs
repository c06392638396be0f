//! `/user` and `/users`: the current user, and administrators' management of users.
//!
//! **Invariant:** a user's private fields are shown only to administrators and to the user.

use authority::{CreateUser, OrderBy, UserFilter, UserUpdate};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::error::{ApiResult, bad_request, not_found};
use crate::{AppState, Caller, Here, Params, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/user", get(current_user))
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(show_user).put(update_user))
        .route("/users/{id}/block", post(block_user))
        .route("/users/{id}/unblock", post(unblock_user))
}

pub(crate) fn parse_id(s: &str, thing: &'static str) -> ApiResult<i64> {
    match s.parse::<i64>() {
        Ok(id) if id > 0 && !s.starts_with('+') => Ok(id),
        _ => Err(not_found(thing)),
    }
}

/// The user `:id` names, or 404.
pub(crate) async fn user_by_id(state: &AppState, id: &str) -> ApiResult<domain::User> {
    let id = parse_id(id, "User")?;
    state.authority.user(id).await?.ok_or(not_found("User"))
}

async fn current_user(caller: Caller, here: Here) -> ApiResult<Response> {
    let principal = caller.require()?;
    Ok(axum::Json(entities::user_full(&principal.user, &here.base, principal.user.is_admin)).into_response())
}

/// What `GET /users` may be ordered by, as in GitLab.
const USER_ORDERS: [OrderBy; 5] =
    [OrderBy::Id, OrderBy::Name, OrderBy::Username, OrderBy::CreatedAt, OrderBy::UpdatedAt];

async fn list_users(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    let admin = caller.is_admin();
    let state_filter = match params.str("state")?.as_deref() {
        None => None,
        Some("active") => Some(domain::UserState::Active),
        Some("blocked") => Some(domain::UserState::Blocked),
        Some(_) => return Err(bad_request("state does not have a valid value")),
    };
    let filter = UserFilter {
        username: params.str("username")?,
        search: params.str("search")?,
        state: if admin { state_filter } else { Some(domain::UserState::Active) },
        admins: if admin { params.bool("admins")?.filter(|a| *a) } else { None },
        service_accounts: None,
        order: pagination::order(&params, &USER_ORDERS, OrderBy::Id)?,
    };
    let (users, total) = state.authority.list_users(&filter, page).await?;
    let items = users
        .iter()
        .map(|u| if admin { entities::user_full(u, &here.base, true) } else { entities::user_basic(u, &here.base) })
        .collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn show_user(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let user = user_by_id(&state, &id).await?;
    let admin = caller.is_admin();
    let body = if admin || principal.user.id == user.id {
        entities::user_full(&user, &here.base, admin)
    } else {
        entities::user_basic(&user, &here.base)
    };
    Ok(axum::Json(body).into_response())
}

async fn create_user(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let request = CreateUser {
        username: params.str("username")?,
        email: params.str("email")?,
        name: params.str("name")?,
        password: params.str("password")?,
        reset_password: params.bool("reset_password")?.unwrap_or(false),
        force_random_password: params.bool("force_random_password")?.unwrap_or(false),
        admin: params.bool("admin")?.unwrap_or(false),
        bio: params.str("bio")?,
        public_email: params.str("public_email")?,
        can_create_group: params.bool("can_create_group")?,
        external: params.bool("external")?.unwrap_or(false),
        service_account: false,
        organization_id: params.int("organization_id")?,
        provisioned_by_group_id: None,
    };
    let user = state.authority.create_user(&caller.audit(), &request).await?;
    Ok((StatusCode::CREATED, axum::Json(entities::user_full(&user, &here.base, true))).into_response())
}

async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let id = parse_id(&id, "User")?;
    let update = UserUpdate {
        username: params.str("username")?,
        email: params.str("email")?,
        name: params.str("name")?,
        password_hash: None,
        is_admin: params.bool("admin")?,
        bio: params.str("bio")?,
        public_email: if params.has("public_email") { Some(params.str("public_email")?) } else { None },
        can_create_group: params.bool("can_create_group")?,
        external: params.bool("external")?,
        state: None,
    };
    let password = params.str("password")?;
    let user = state.authority.update_user(&caller.audit(), id, update, password.as_deref()).await?;
    Ok(axum::Json(entities::user_full(&user, &here.base, true)).into_response())
}

async fn set_blocked(state: AppState, caller: Caller, id: String, blocked: bool) -> ApiResult<Response> {
    let principal = caller.require()?;
    let id = parse_id(&id, "User")?;
    if principal.owner.id == id && blocked {
        return Err(crate::error::forbidden());
    }
    state.authority.set_blocked(&caller.audit(), id, blocked).await?;
    Ok((StatusCode::CREATED, axum::Json(serde_json::json!(true))).into_response())
}

async fn block_user(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    set_blocked(state, caller, id, true).await
}

async fn unblock_user(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    set_blocked(state, caller, id, false).await
}
