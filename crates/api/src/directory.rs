//! Groups, projects and their members. `:id` is a numeric id or a URL-encoded full path (`group%2Fsub`).
//!
//! **Invariant:** a list shows only what the caller may see; a group or project the caller may not see is a 404, as
//! one that does not exist.

use authority::{
    CreateGroup, CreateProject, DirectoryFilter, MemberChange, NamespaceRef, NamespaceUpdate, OrderBy, Resolved,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use domain::{AccessLevel, Group, GroupTokenPolicy, MemberSource, Visibility};

use crate::error::{ApiResult, bad_request, not_found};
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list_groups).post(create_group))
        .route("/groups/{id}", get(show_group).put(update_group).delete(delete_group))
        .route("/groups/{id}/subgroups", get(list_subgroups))
        .route("/groups/{id}/projects", get(list_group_projects))
        .route("/groups/{id}/members", get(list_members).post(add_member))
        .route("/groups/{id}/members/all", get(list_all_members))
        .route("/groups/{id}/members/{user_id}", get(show_member).put(edit_member).delete(remove_member))
        .route("/organizations", get(list_organizations).post(create_organization))
        .route("/organizations/{id}", get(show_organization))
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{id}", get(show_project).put(update_project).delete(delete_project))
        .route("/projects/{id}/transfer", put(transfer_project))
        .route("/projects/{id}/members", get(list_members).post(add_member))
        .route("/projects/{id}/members/all", get(list_all_members))
        .route("/projects/{id}/members/{user_id}", get(show_member).put(edit_member).delete(remove_member))
}

/// What the caller sees: everything for administrators, otherwise memberships plus what visibility allows.
fn viewer_filter(caller: &Caller) -> DirectoryFilter {
    DirectoryFilter { organization_id: crate::auth::caller_organization(caller), ..visibility_filter(caller) }
}

fn visibility_filter(caller: &Caller) -> DirectoryFilter {
    match &caller.principal {
        Some(_) if caller.is_admin() => DirectoryFilter::default(),
        Some(p) if p.user.external => DirectoryFilter {
            viewer: Some(p.user.id),
            visibilities: vec![Visibility::Public],
            ..DirectoryFilter::default()
        },
        Some(p) => DirectoryFilter {
            viewer: Some(p.user.id),
            visibilities: vec![Visibility::Public, Visibility::Internal],
            ..DirectoryFilter::default()
        },
        None => {
            DirectoryFilter { viewer: Some(0), visibilities: vec![Visibility::Public], ..DirectoryFilter::default() }
        }
    }
}

fn namespace_update(params: &Params) -> ApiResult<NamespaceUpdate> {
    let name = params.str("name")?;
    if let Some(name) = &name {
        domain::validate_display_name(name).map_err(|e| authority::Error::invalid("name", e))?;
    }
    let description = params.str("description")?;
    if description.as_ref().is_some_and(|d| d.chars().count() > 2000) {
        return Err(authority::Error::invalid("description", "is too long (maximum is 2000 characters)").into());
    }
    let visibility = match params.str("visibility")? {
        None => None,
        Some(v) => Some(Visibility::parse(&v).ok_or_else(|| bad_request("visibility does not have a valid value"))?),
    };
    Ok(NamespaceUpdate { name, description, visibility, token_policy: None })
}

/// The group's token policy with the changes the request asks for, if it asks any. Only top-level groups have one.
fn group_token_policy(group: &Group, params: &Params) -> ApiResult<Option<GroupTokenPolicy>> {
    let only = params.bool("fine_grained_tokens_only")?;
    let after = params.has("fine_grained_tokens_only_after").then(|| params.date("fine_grained_tokens_only_after"));
    let lifetime = crate::admin::max_lifetime(params)?;
    if only.is_none() && after.is_none() && lifetime.is_none() {
        return Ok(None);
    }
    if group.parent_id.is_some() {
        return Err(bad_request("token policies can only be set on a top-level group"));
    }
    let mut policy = group.token_policy;
    if let Some(only) = only {
        policy.fine_grained_tokens_only = only;
    }
    if let Some(after) = after {
        policy.fine_grained_tokens_only_after = after?;
    }
    if let Some(days) = lifetime {
        policy.max_personal_access_token_lifetime = days;
    }
    Ok(Some(policy))
}

async fn group_page(
    state: &AppState,
    here: &Here,
    filter: &DirectoryFilter,
    page: authority::Page,
) -> ApiResult<Response> {
    let (groups, total) = state.authority.list_groups(filter, page).await?;
    let items = groups.iter().map(|g| entities::group(g, &here.base)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn project_page(
    state: &AppState,
    here: &Here,
    filter: &DirectoryFilter,
    page: authority::Page,
) -> ApiResult<Response> {
    let (projects, total) = state.authority.list_projects(filter, page).await?;
    let items = projects.iter().map(|p| entities::project(p, &here.base)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn list_organizations(State(state): State<AppState>, here: Here, params: Params) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    let (organizations, total) = state.authority.list_organizations(page).await?;
    let items = organizations.iter().map(|o| entities::organization(o, &here.base)).collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

/// `POST /organizations` (administrators): `name` and `path`. The answer carries `founder_token`, the asking
/// administrator's first personal access token in the new organization.
async fn create_organization(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let request = authority::CreateOrganization { name: params.str("name")?, path: params.str("path")? };
    let principal = caller.require()?;
    let founding = principal.token_row(&state).await?;
    let founder = Some((&*principal.owner, &*founding));
    let (organization, token) = state.authority.create_organization(&caller.audit(), &request, founder).await?;
    let mut body = entities::organization(&organization, &here.base);
    // The founder's first token there, shown once: no token of another organization can mint in this one.
    if let Some(issued) = token {
        let now = state.authority.now();
        body["founder_token"] = entities::token(&issued.token, now, Some(&issued.plaintext), false);
    }
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn show_organization(State(state): State<AppState>, here: Here, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_id(&id, "Organization")?;
    let organization = state.authority.organization(id).await?.ok_or(not_found("Organization"))?;
    Ok(axum::Json(entities::organization(&organization, &here.base)).into_response())
}

async fn list_groups(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    let filter = DirectoryFilter {
        search: params.str("search")?,
        top_level_only: params.bool("top_level_only")?.unwrap_or(false),
        ..viewer_filter(&caller)
    };
    group_page(&state, &here, &filter, page).await
}

async fn list_subgroups(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    let page = pagination::page(&params)?;
    let filter = DirectoryFilter { parent_id: Some(group.id), search: params.str("search")?, ..viewer_filter(&caller) };
    group_page(&state, &here, &filter, page).await
}

async fn show_group(caller: Caller, here: Here) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    Ok(axum::Json(entities::group(group, &here.base)).into_response())
}

async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let actor = caller.actor()?;
    let request = CreateGroup {
        name: params.str("name")?,
        path: params.str("path")?,
        description: params.str("description")?,
        visibility: params.str("visibility")?,
        parent_id: params.int("parent_id")?,
        organization_id: params.int("organization_id")?,
    };
    let group = state.authority.create_group(&caller.audit(), actor, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(entities::group(&group, &here.base))).into_response())
}

async fn update_group(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    let mut update = namespace_update(&params)?;
    update.token_policy = group_token_policy(group, &params)?;
    // A policy that would refuse the very token setting it locks its owner out of the group: refuse it instead.
    if let (Some(policy), Some(principal)) = (&update.token_policy, &caller.principal)
        && authority::group_refusal(policy, catalog::Surface::Api, &principal.token).is_some()
    {
        return Err(bad_request(
            "this token policy would refuse the token making this request: create a token that meets it first",
        ));
    }
    let group = state.authority.update_group(&caller.audit(), group, &update).await?;
    Ok(axum::Json(entities::group(&group, &here.base)).into_response())
}

async fn list_group_projects(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    let page = pagination::page(&params)?;
    let filter = DirectoryFilter { parent_id: Some(group.id), search: params.str("search")?, ..viewer_filter(&caller) };
    project_page(&state, &here, &filter, page).await
}

async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let page = pagination::page(&params)?;
    const ORDERS: [OrderBy; 6] =
        [OrderBy::Id, OrderBy::Name, OrderBy::Path, OrderBy::CreatedAt, OrderBy::UpdatedAt, OrderBy::LastActivityAt];
    let order = pagination::order(&params, &ORDERS, OrderBy::CreatedAt)?;
    let mut filter = DirectoryFilter { search: params.str("search")?, order, ..viewer_filter(&caller) };
    if params.bool("membership")?.unwrap_or(false)
        && let Some(user) = caller.user()
    {
        filter.viewer = Some(user.id);
        filter.visibilities.clear();
    }
    project_page(&state, &here, &filter, page).await
}

async fn show_project(caller: Caller, here: Here) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    Ok(axum::Json(entities::project(project, &here.base)).into_response())
}

async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let actor = caller.actor()?;
    let request = CreateProject {
        name: params.str("name")?,
        path: params.str("path")?,
        description: params.str("description")?,
        visibility: params.str("visibility")?,
        namespace_id: params.int("namespace_id")?,
    };
    let project = state.authority.create_project(&caller.audit(), actor, &request).await?;
    Ok((StatusCode::CREATED, axum::Json(entities::project(&project, &here.base))).into_response())
}

async fn update_project(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    let project = state.authority.update_project(&caller.audit(), project, &namespace_update(&params)?).await?;
    Ok(axum::Json(entities::project(&project, &here.base)).into_response())
}

async fn delete_project(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let (project, _) = caller.project()?;
    state.authority.delete_project(&caller.audit(), project).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(serde_json::json!({"message": "202 Accepted"}))).into_response())
}

/// `DELETE /groups/:id`: the group, its subgroups and their projects, at once (GitLab's answer, 202).
async fn delete_group(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let (group, _) = caller.group()?;
    state.authority.delete_group(&caller.audit(), group).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(serde_json::json!({"message": "202 Accepted"}))).into_response())
}

/// `PUT /projects/:id/transfer` with `namespace` (an id or a path).
async fn transfer_project(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let actor = caller.actor()?;
    let (project, _) = caller.project()?;
    let namespace = params.str("namespace")?.ok_or_else(|| bad_request("namespace is missing"))?;
    let target = match namespace.parse::<i64>() {
        Ok(id) => NamespaceRef::Id(id),
        Err(_) => NamespaceRef::Path(namespace),
    };
    let moved = state.authority.transfer_project(&caller.audit(), actor, project, &target).await?;
    Ok(axum::Json(entities::project(&moved, &here.base)).into_response())
}

/// The member source the route names (the group or project the decision resolved), the sources whose members
/// count for it (itself and its ancestors, for `all`), and the caller's level there.
fn member_source(caller: &Caller) -> ApiResult<(MemberSource, Vec<MemberSource>, Option<AccessLevel>)> {
    match &caller.resource {
        Resolved::Group(group, level) => {
            let inherited = group.traversal_ids.iter().map(|id| MemberSource::Group(*id)).collect();
            Ok((MemberSource::Group(group.id), inherited, *level))
        }
        Resolved::Project(project, level) => {
            let mut inherited: Vec<MemberSource> =
                project.group_traversal_ids.iter().map(|id| MemberSource::Group(*id)).collect();
            inherited.push(MemberSource::Project(project.id));
            Ok((MemberSource::Project(project.id), inherited, *level))
        }
        Resolved::None => Err(not_found("Resource")),
    }
}

async fn render_members(
    state: &AppState,
    members: Vec<domain::Member>,
    base: &str,
) -> ApiResult<Vec<serde_json::Value>> {
    let ids: Vec<i64> = members.iter().map(|m| m.user_id).collect();
    let users = state.authority.users(&ids).await?;
    let items = members
        .iter()
        .filter_map(|member| {
            let user = users.iter().find(|u| u.id == member.user_id)?;
            Some(entities::member(member, user, base))
        })
        .collect();
    Ok(items)
}

async fn members_page(state: AppState, caller: Caller, here: Here, params: Params, all: bool) -> ApiResult<Response> {
    let (source, inherited, _) = member_source(&caller)?;
    let page = pagination::page(&params)?;
    let sources = if all { inherited } else { vec![source] };
    let (members, total) = state.authority.list_members(&sources, all, page).await?;
    let items = render_members(&state, members, &here.base).await?;
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

/// `GET /groups/:id/members` and `GET /projects/:id/members`: direct members.
async fn list_members(State(s): State<AppState>, c: Caller, h: Here, p: Params) -> ApiResult<Response> {
    members_page(s, c, h, p, false).await
}

/// `…/members/all`: members with inherited ones, each user once at their highest level.
async fn list_all_members(State(s): State<AppState>, c: Caller, h: Here, p: Params) -> ApiResult<Response> {
    members_page(s, c, h, p, true).await
}

async fn show_member(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (source, _, _) = member_source(&caller)?;
    let user_id = parse_id(&user_id, "Member")?;
    let member = state.authority.member(source, user_id).await?.ok_or(not_found("Member"))?;
    let items = render_members(&state, vec![member], &here.base).await?;
    let item = items.into_iter().next().ok_or(not_found("Member"))?;
    Ok(axum::Json(item).into_response())
}

fn member_change(params: &Params, user_id: i64) -> ApiResult<MemberChange> {
    let level = params.int("access_level")?.ok_or_else(|| bad_request("access_level is missing"))?;
    let access_level =
        AccessLevel::try_from(level).map_err(|_| bad_request("access_level does not have a valid value"))?;
    Ok(MemberChange { user_id, access_level, expires_at: params.date("expires_at")? })
}

async fn set_member(
    state: AppState,
    caller: Caller,
    here: Here,
    user_id: Option<String>,
    params: Params,
) -> ApiResult<Response> {
    let actor = caller.actor()?;
    let (source, _, level) = member_source(&caller)?;
    let (user_id, must_exist, status) = match user_id {
        Some(u) => (parse_id(&u, "Member")?, Some(true), StatusCode::OK),
        None => (new_member_id(&state, &params).await?, Some(false), StatusCode::CREATED),
    };
    let change = member_change(&params, user_id)?;
    let member = state.authority.set_member(&caller.audit(), actor, level, source, &change, must_exist).await?;
    let items = render_members(&state, vec![member], &here.base).await?;
    let item = items.into_iter().next().ok_or(not_found("Member"))?;
    Ok((status, axum::Json(item)).into_response())
}

/// The user a new membership is for: `user_id`, or `username` (exactly one of them, as in GitLab).
async fn new_member_id(state: &AppState, params: &Params) -> ApiResult<i64> {
    match (params.int("user_id")?, params.str("username")?) {
        (Some(id), None) => Ok(id),
        (None, Some(username)) => {
            let user = state.authority.user_by_username(&username).await?;
            Ok(user.ok_or(not_found("User"))?.id)
        }
        (Some(_), Some(_)) => Err(bad_request("user_id, username are mutually exclusive")),
        (None, None) => Err(bad_request("user_id, username are missing, exactly one parameter must be provided")),
    }
}

async fn add_member(State(s): State<AppState>, c: Caller, h: Here, p: Params) -> ApiResult<Response> {
    set_member(s, c, h, None, p).await
}

async fn edit_member(
    State(s): State<AppState>,
    c: Caller,
    h: Here,
    Path((_, u)): Path<(String, String)>,
    p: Params,
) -> ApiResult<Response> {
    set_member(s, c, h, Some(u), p).await
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, user_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let actor = caller.actor()?;
    let (source, _, level) = member_source(&caller)?;
    let user_id = parse_id(&user_id, "Member")?;
    state.authority.remove_member(&caller.audit(), actor, level, source, user_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
