//! Project and group access tokens (`/projects/:id/access_tokens`, `/groups/:id/access_tokens`): create, list,
//! show, revoke, rotate, and a token's own `self` and `self/rotate`, as GitLab serves them.
//!
//! **Invariant:** a handler acts only on a token of the project or group the path names (another one is 404), and
//! every token goes through the same issuing, rotation and revocation as a personal one.

use authority::{CreateToken, NamespaceRef, RotateToken, TokenFilter, TokenResource};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use domain::{AccessLevel, MemberSource, Token};

use crate::error::{ApiResult, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{id}/access_tokens", get(list).post(create))
        .route("/projects/{id}/access_tokens/self", get(|s, c, p| show_self(s, c, p, Kind::Project)))
        .route("/projects/{id}/access_tokens/self/rotate", post(|s, c, p, q| rotate_self(s, c, p, q, Kind::Project)))
        .route("/projects/{id}/access_tokens/{token_id}", get(show).delete(revoke))
        .route("/projects/{id}/access_tokens/{token_id}/rotate", post(rotate))
        .route("/groups/{id}/access_tokens", get(list).post(create))
        .route("/groups/{id}/access_tokens/self", get(|s, c, p| show_self(s, c, p, Kind::Group)))
        .route("/groups/{id}/access_tokens/self/rotate", post(|s, c, p, q| rotate_self(s, c, p, q, Kind::Group)))
        .route("/groups/{id}/access_tokens/{token_id}", get(show).delete(revoke))
        .route("/groups/{id}/access_tokens/{token_id}/rotate", post(rotate))
}

/// The project or group the decision resolved, as a token's resource, with the caller's own level there.
fn resource<'c>(caller: &'c Caller) -> ApiResult<TokenResource<'c>> {
    let own = |level: Option<AccessLevel>| if caller.is_admin() { Some(AccessLevel::Owner) } else { level };
    if let Ok((project, level)) = caller.project() {
        return Ok(TokenResource {
            source: MemberSource::Project(project.id),
            organization_id: project.organization_id,
            root_group_id: project.root_group_id(),
            full_path: &project.full_path,
            creator_level: own(level),
        });
    }
    let (group, level) = caller.group()?;
    Ok(TokenResource {
        source: MemberSource::Group(group.id),
        organization_id: group.organization_id,
        root_group_id: Some(group.root_id()),
        full_path: &group.full_path,
        creator_level: own(level),
    })
}

async fn render(state: &AppState, token: &Token, plaintext: Option<&str>) -> ApiResult<serde_json::Value> {
    let level = state.authority.bot_level(token).await?;
    Ok(entities::resource_token(token, state.authority.now(), plaintext, level))
}

async fn create(State(state): State<AppState>, caller: Caller, params: Params) -> ApiResult<Response> {
    let principal = caller.require()?;
    let resource = resource(&caller)?;
    let level = authority::token_level(params.int("access_level")?)?;
    let request = CreateToken {
        name: params.str("name")?,
        description: params.str("description")?,
        scopes: params.list("scopes")?,
        expires_at: params.str("expires_at")?,
        organization_id: None,
        grants: authority::requested_grants(params.0.get("granular_scopes"))?,
        route_rules: params.list_exact("route_rules")?,
        creator: Some(principal.token_row(&state).await?),
    };
    let issued =
        state.authority.create_resource_token(&caller.audit(), &principal.user, &resource, level, &request).await?;
    let body = render(&state, &issued.token, Some(&issued.plaintext)).await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn list(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let resource = resource(&caller)?;
    let page = pagination::page(&params)?;
    let now = state.authority.now();
    let filter = TokenFilter { resource: Some(resource.source), ..crate::tokens::token_filter(&params, now)? };
    let (tokens, total) = state.authority.list_tokens(&filter, page).await?;
    let mut items = Vec::with_capacity(tokens.len());
    for token in &tokens {
        items.push(render(&state, token, None).await?);
    }
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

/// The access token `:token_id` of the path's project or group.
async fn named_token(state: &AppState, caller: &Caller, token_id: &str) -> ApiResult<Token> {
    let source = resource(caller)?.source;
    let id = parse_id(token_id, "Token")?;
    Ok(state.authority.resource_token(source, id).await?)
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = named_token(&state, &caller, &token_id).await?;
    Ok(axum::Json(render(&state, &token, None).await?).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let token = named_token(&state, &caller, &token_id).await?;
    state.authority.revoke_token(&caller.audit(), &token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = named_token(&state, &caller, &token_id).await?;
    let level = resource(&caller)?.creator_level;
    let request =
        RotateToken { expires_at: params.str("expires_at")?, creator: Some(principal.token_row(&state).await?) };
    let issued = state.authority.rotate_resource_token(&caller.audit(), &token, level, &request).await?;
    Ok(axum::Json(render(&state, &issued.token, Some(&issued.plaintext)).await?).into_response())
}

/// Whether a `self` route is under `/projects` or `/groups`.
#[derive(Clone, Copy)]
enum Kind {
    Project,
    Group,
}

/// The presented token, when it is an access token of the project or group the path names (the route is one a
/// token uses on itself, so the decision resolved no resource).
async fn own_token(state: &AppState, caller: &Caller, id: &str, kind: Kind) -> ApiResult<Token> {
    let principal = caller.require()?;
    let reference = NamespaceRef::parse(id);
    let source = match kind {
        Kind::Project => {
            let project = state.authority.find_project(&reference).await?.ok_or(not_found("Project"))?;
            MemberSource::Project(project.id)
        }
        Kind::Group => {
            let group = state.authority.find_group(&reference).await?.ok_or(not_found("Group"))?;
            MemberSource::Group(group.id)
        }
    };
    match principal.token.resource {
        Some(own) if own == source => Ok(std::sync::Arc::unwrap_or_clone(principal.token_row(state).await?)),
        _ => Err(not_found("Token")),
    }
}

async fn show_self(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    kind: Kind,
) -> ApiResult<Response> {
    let token = own_token(&state, &caller, &id, kind).await?;
    Ok(axum::Json(render(&state, &token, None).await?).into_response())
}

async fn rotate_self(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
    kind: Kind,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let token = own_token(&state, &caller, &id, kind).await?;
    let request =
        RotateToken { expires_at: params.str("expires_at")?, creator: Some(principal.token_row(&state).await?) };
    let issued = state.authority.rotate_resource_token(&caller.audit(), &token, None, &request).await?;
    Ok(axum::Json(render(&state, &issued.token, Some(&issued.plaintext)).await?).into_response())
}
