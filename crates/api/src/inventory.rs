//! The credential inventory: every credential, with its owner, reach, use and breadth warnings, for
//! administrators (`/admin/credentials`) and for the owners of a top-level group (`/groups/:id/manage/
//! personal_access_tokens`, the credentials that reach its hierarchy). Filter, sort, revoke (the owner is told
//! in the audit log and in their notifications) and export as JSON or CSV.
//!
//! **Invariant:** an inventory lists only what its reader may see (the instance for administrators, a hierarchy for
//! its owners), and never a token's secret or digest.

use std::collections::HashMap;

use authority::{InventoryItem, Page, TokenFilter};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use domain::{CredentialKind, GrantAccess, Timestamp, Token, User};
use serde_json::{Value, json};

use crate::error::{ApiResult, bad_request, not_found};
use crate::tokens::token_filter;
use crate::users::parse_id;
use crate::{AppState, Caller, Here, Params, entities, pagination};

/// The most rows one export holds; a larger inventory is cut there and says so in `X-Tessera-Export-Truncated`.
const MAX_EXPORT_ROWS: i64 = 50_000;
/// Rows read from the store at a time while exporting.
const EXPORT_BATCH: i64 = 1_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/credentials", get(list_instance))
        .route("/admin/credentials/export", get(export_instance))
        .route("/admin/credentials/{token_id}", delete(revoke_instance))
        .route("/groups/{id}/manage/personal_access_tokens", get(list_group))
        .route("/groups/{id}/manage/personal_access_tokens/export", get(export_group))
        .route("/groups/{id}/manage/personal_access_tokens/{token_id}", delete(revoke_group))
        .route("/user/notifications", get(list_notifications))
}

/// The inventory's filters: those of every token list, and `type` and `user_id`.
fn filter(state: &AppState, caller: &Caller, params: &Params) -> ApiResult<TokenFilter> {
    // The kinds the inventory lists, by the table's names.
    let kind = match params.str("type")?.as_deref().map(CredentialKind::parse) {
        None => None,
        Some(Some(kind)) if kind.spec().inventoried => Some(kind),
        Some(_) => return Err(bad_request("type does not have a valid value")),
    };
    Ok(TokenFilter {
        kind,
        user_id: params.int("user_id")?,
        // The inventory of the caller's organization: another organization's credentials are not listed.
        organization_id: crate::auth::caller_organization(caller),
        ..token_filter(params, state.authority.now())?
    })
}

/// The top-level group the route names: only those have an inventory.
fn top_level_group(caller: &Caller) -> ApiResult<&domain::Group> {
    let (group, _) = caller.group()?;
    if group.parent_id.is_some() {
        return Err(bad_request("the credential inventory belongs to top-level groups"));
    }
    Ok(group)
}

fn group_filter(state: &AppState, caller: &Caller, params: &Params) -> ApiResult<TokenFilter> {
    let group = top_level_group(caller)?;
    Ok(TokenFilter { reaching_group: Some(group.id), ..filter(state, caller, params)? })
}

/// One page of credentials with their owners, as entities.
async fn entities_of(state: &AppState, here: &Here, items: &[InventoryItem]) -> ApiResult<Vec<Value>> {
    let mut ids: Vec<i64> = items.iter().filter_map(InventoryItem::owner_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let owners: HashMap<i64, User> = state.authority.users(&ids).await?.into_iter().map(|u| (u.id, u)).collect();
    let now = state.authority.now();
    Ok(items
        .iter()
        .map(|item| {
            let owner = item.owner_id().and_then(|id| owners.get(&id));
            match item {
                InventoryItem::UserToken(token) => credential(token, owner, now, &here.base),
                other => other_credential(other, owner, now, &here.base),
            }
        })
        .collect())
}

/// A credential that is no user token, in the inventory's shape: the fields every row has.
fn other_credential(item: &InventoryItem, owner: Option<&User>, now: Timestamp, base: &str) -> Value {
    let warnings = match item {
        InventoryItem::Deploy(token) => policy::credential_warnings(
            item.kind(),
            token.expires_at,
            token.scopes,
            matches!(token.resource, domain::MemberSource::Group(_)),
        ),
        InventoryItem::Trigger(trigger) => {
            policy::credential_warnings(item.kind(), trigger.expires_at, domain::Scopes::default(), false)
        }
        InventoryItem::UserSecret(secret) => {
            policy::credential_warnings(item.kind(), secret.expires_at, domain::Scopes::default(), false)
        }
        InventoryItem::UserToken(_) => Vec::new(),
    };
    let warnings: Vec<Value> = warnings.into_iter().map(|w| json!({"code": w.code, "message": w.message})).collect();
    let ips = match item {
        InventoryItem::Deploy(token) => token.last_used_ips.clone(),
        InventoryItem::Trigger(trigger) => trigger.last_used_ips.clone(),
        InventoryItem::UserSecret(secret) => secret.last_used_ips.clone(),
        InventoryItem::UserToken(_) => Vec::new(),
    };
    let (id, name, scopes, created_at, expires_at, last_used_at, revoked, revoked_at, organization_id, boundary) =
        match item {
            InventoryItem::Deploy(token) => (
                token.id,
                token.name.clone(),
                token.scopes.names().collect::<Vec<_>>(),
                token.created_at,
                token.expires_at,
                token.last_used_at,
                token.revoked,
                token.revoked_at,
                token.organization_id,
                vec![resource_boundary(token.resource)],
            ),
            InventoryItem::Trigger(trigger) => (
                trigger.id,
                trigger.description.clone(),
                Vec::new(),
                trigger.created_at,
                trigger.expires_at,
                trigger.last_used_at,
                false,
                None,
                trigger.organization_id,
                vec![format!("project:{}", trigger.project_id)],
            ),
            InventoryItem::UserSecret(secret) => (
                secret.id,
                secret.kind.name().replace('_', " "),
                Vec::new(),
                secret.created_at,
                secret.expires_at,
                secret.last_used_at,
                false,
                None,
                owner.map_or(0, |o| o.organization_id),
                vec![if secret.kind == CredentialKind::FeedToken { "feeds" } else { "incoming_email" }.to_owned()],
            ),
            InventoryItem::UserToken(_) => return Value::Null,
        };
    let expired = expires_at.is_some_and(|d| d.start() <= now);
    json!({
        "id": id,
        "type": item.kind().name(),
        "name": name,
        "scopes": scopes,
        "created_at": created_at.to_string(),
        "expires_at": expires_at.map(|d| d.to_string()),
        "last_used_at": last_used_at.map(|t| t.to_string()),
        "last_used_ips": ips,
        "active": !revoked && !expired,
        "revoked": revoked,
        "expired": expired,
        "revoked_at": revoked_at.map(|t| t.to_string()),
        "organization_id": organization_id,
        "boundary": boundary,
        "warnings": warnings,
        "owner": owner.map_or(Value::Null, |o| {
            let mut basic = entities::user_basic(o, base);
            basic["user_type"] = json!(o.user_type.as_str());
            basic
        }),
    })
}

fn resource_boundary(source: domain::MemberSource) -> String {
    format!("{}:{}", source.kind(), source.id())
}

/// A credential as the inventory shows it: the token's entity, its type, owner and boundary.
fn credential(token: &Token, owner: Option<&User>, now: Timestamp, base: &str) -> Value {
    let mut v = entities::token(token, now, None, true);
    v["type"] = json!(token.kind().name());
    v["owner"] = match owner {
        Some(owner) => {
            let mut basic = entities::user_basic(owner, base);
            basic["user_type"] = json!(owner.user_type.as_str());
            basic
        }
        None => Value::Null,
    };
    v["boundary"] = json!(boundary(token));
    v["revoked_at"] = json!(token.revoked_at.map(|t| t.to_string()));
    v["organization_id"] = json!(token.organization_id);
    v
}

/// Where a token reaches: its project or group for a project's or group's token, `all` (everything its owner can
/// reach) for a scope-based token; for a fine-grained one each grant's reach (`personal_projects`, `all_memberships`, `group:ID`, `project:ID`, `user`, `instance`).
fn boundary(token: &Token) -> Vec<String> {
    if let Some(source) = token.resource {
        return vec![resource_boundary(source)];
    }
    if !token.scopes.is_granular() {
        return vec!["all".to_owned()];
    }
    token
        .grants
        .iter()
        .map(|g| match (g.access, g.group_id(), g.project_id()) {
            (GrantAccess::SelectedMemberships, Some(id), _) => format!("group:{id}"),
            (GrantAccess::SelectedMemberships, _, Some(id)) => format!("project:{id}"),
            (access, _, _) => access.as_str().to_owned(),
        })
        .collect()
}

async fn page_of(state: &AppState, here: &Here, params: &Params, filter: &TokenFilter) -> ApiResult<Response> {
    let page = pagination::page(params)?;
    let (found, total) = state.authority.list_inventory(filter, page).await?;
    let items = entities_of(state, here, &found).await?;
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

async fn list_instance(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    page_of(&state, &here, &params, &filter(&state, &caller, &params)?).await
}

async fn list_group(State(state): State<AppState>, caller: Caller, here: Here, params: Params) -> ApiResult<Response> {
    page_of(&state, &here, &params, &group_filter(&state, &caller, &params)?).await
}

async fn export_instance(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    export(&state, &here, &params, &filter(&state, &caller, &params)?).await
}

async fn export_group(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    export(&state, &here, &params, &group_filter(&state, &caller, &params)?).await
}

/// Every matching credential (up to [`MAX_EXPORT_ROWS`]) as a JSON array or, with `format=csv`, as CSV.
async fn export(state: &AppState, here: &Here, params: &Params, filter: &TokenFilter) -> ApiResult<Response> {
    let csv = match params.str("format")?.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(bad_request("format does not have a valid value")),
    };
    let mut rows = Vec::new();
    let mut total = 0;
    for number in 1..=MAX_EXPORT_ROWS / EXPORT_BATCH {
        let (found, all) =
            state.authority.list_inventory(filter, Page { page: number, per_page: EXPORT_BATCH }).await?;
        total = all;
        let done = (found.len() as i64) < EXPORT_BATCH;
        rows.extend(entities_of(state, here, &found).await?);
        if done {
            break;
        }
    }
    let truncated = total > rows.len() as i64;
    let mut response = if csv {
        let mut res = to_csv(&rows).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        let disposition = HeaderValue::from_static("attachment; filename=\"credentials.csv\"");
        res.headers_mut().insert(header::CONTENT_DISPOSITION, disposition);
        res
    } else {
        axum::Json(Value::Array(rows)).into_response()
    };
    response.headers_mut().insert("x-total", HeaderValue::from(total));
    if truncated {
        response.headers_mut().insert("x-tessera-export-truncated", HeaderValue::from_static("true"));
    }
    Ok(response)
}

const CSV_COLUMNS: [&str; 18] = [
    "id",
    "type",
    "name",
    "owner_id",
    "owner_username",
    "scopes",
    "granular_permissions",
    "boundary",
    "route_rules",
    "created_at",
    "last_used_at",
    "last_used_ips",
    "expires_at",
    "active",
    "revoked",
    "revoked_at",
    "organization_id",
    "warnings",
];

/// The export's rows as CSV (RFC 4180), one column per field of [`CSV_COLUMNS`], lists joined by spaces (route
/// rules, which hold spaces, by `; `).
fn to_csv(rows: &[Value]) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push_str("\r\n");
    for row in rows {
        let fields = [
            plain(&row["id"]),
            plain(&row["type"]),
            plain(&row["name"]),
            plain(&row["owner"]["id"]),
            plain(&row["owner"]["username"]),
            texts(&row["scopes"], plain),
            texts(&row["granular_scopes"], |g| texts(&g["permissions"], plain)),
            texts(&row["boundary"], plain),
            joined(&row["route_rules"], "; ", plain),
            plain(&row["created_at"]),
            plain(&row["last_used_at"]),
            texts(&row["last_used_ips"], plain),
            plain(&row["expires_at"]),
            plain(&row["active"]),
            plain(&row["revoked"]),
            plain(&row["revoked_at"]),
            plain(&row["organization_id"]),
            texts(&row["warnings"], |w| plain(&w["code"])),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The items of a JSON list, each picked as text, joined by `separator`.
fn joined(value: &Value, separator: &str, pick: impl Fn(&Value) -> String) -> String {
    match value {
        Value::Array(items) => items.iter().map(pick).collect::<Vec<_>>().join(separator),
        _ => String::new(),
    }
}

fn texts(value: &Value, pick: impl Fn(&Value) -> String) -> String {
    joined(value, " ", pick)
}

/// A JSON scalar as text (null as empty).
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-`, `@`, tab or
/// carriage return is escaped with `'` so that a spreadsheet never runs a token's name as a formula.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

/// The item a revocation names: `:token_id` of `?type=` (a user token's when absent, as before other kinds were
/// listed), if the inventory's `filter` lists it.
async fn named_item(
    state: &AppState,
    params: &Params,
    filter: &TokenFilter,
    token_id: &str,
) -> ApiResult<InventoryItem> {
    let id = parse_id(token_id, "Credential")?;
    let kind = match params.str("type")?.as_deref().map(CredentialKind::parse) {
        None => None,
        Some(Some(kind)) if kind.spec().inventoried => Some(kind),
        Some(_) => return Err(bad_request("type does not have a valid value")),
    };
    let user_token_kinds = [
        CredentialKind::PersonalAccessToken,
        CredentialKind::ImpersonationToken,
        CredentialKind::ProjectAccessToken,
        CredentialKind::GroupAccessToken,
    ];
    for kind in kind.map_or(user_token_kinds.to_vec(), |k| vec![k]) {
        match state.authority.listed_item(filter, kind, id).await {
            Ok(item) => return Ok(item),
            Err(authority::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(not_found("Credential"))
}

async fn revoke_instance(
    State(state): State<AppState>,
    caller: Caller,
    Path(token_id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    // Another organization's credential looks absent.
    let filter = TokenFilter { organization_id: crate::auth::caller_organization(&caller), ..TokenFilter::default() };
    let item = named_item(&state, &params, &filter, &token_id).await?;
    state.authority.revoke_inventory_item(&caller.audit(), &item, "the instance").await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_group(
    State(state): State<AppState>,
    caller: Caller,
    Path((_, token_id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let group = top_level_group(&caller)?;
    // Only a credential in this group's inventory: any other looks absent.
    let filter = TokenFilter { reaching_group: Some(group.id), ..TokenFilter::default() };
    let item = named_item(&state, &params, &filter, &token_id).await?;
    let inventory = format!("group {}", group.full_path);
    state.authority.revoke_inventory_item(&caller.audit(), &item, &inventory).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_notifications(
    State(state): State<AppState>,
    caller: Caller,
    here: Here,
    params: Params,
) -> ApiResult<Response> {
    let principal = caller.require()?;
    let page = pagination::page(&params)?;
    let (notifications, total) = state.authority.notifications(principal.user.id, page).await?;
    let items = notifications
        .iter()
        .map(|n| json!({"id": n.id, "kind": n.kind, "message": n.message, "created_at": n.created_at.to_string()}))
        .collect();
    Ok(pagination::paginated(items, total, page, &here.base, &here.uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed_and_never_start_a_formula() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }
}
