//! GitLab's JSON entities, built from domain values. Domain types are never `Serialize`: the wire shape lives here.
//!
//! **Invariant:** an entity never carries a digest, and a token's plaintext only in the answer that issued it.

use domain::{AuditEvent, Group, Member, Project, Timestamp, Token, User};
use serde_json::{Value, json};

fn date_or_null(date: Option<domain::Date>) -> Value {
    date.map(|d| Value::String(d.to_string())).unwrap_or(Value::Null)
}

fn time_or_null(t: Option<Timestamp>) -> Value {
    t.map(|t| Value::String(t.to_string())).unwrap_or(Value::Null)
}

/// `PersonalAccessToken` (with `impersonation` for impersonation tokens and `token` once, at creation).
pub fn token(token: &Token, now: Timestamp, plaintext: Option<&str>, impersonation_entity: bool) -> Value {
    let mut v = json!({
        "id": token.id,
        "name": token.name,
        "description": token.description,
        "revoked": token.revoked,
        "created_at": token.created_at.to_string(),
        "scopes": token.scopes.names().collect::<Vec<_>>(),
        "user_id": token.user_id,
        "last_used_at": time_or_null(token.last_used_at),
        "active": token.is_active(now),
        "expires_at": date_or_null(token.expires_at),
        "expired": token.is_expired(now),
        "granular": token.scopes.is_granular(),
        "last_used_ips": token.last_used_ips,
        "route_rules": token.route_rules,
        "warnings": policy::breadth_warnings(token)
            .into_iter()
            .map(|w| json!({"code": w.code, "message": w.message}))
            .collect::<Vec<_>>(),
    });
    if token.scopes.is_granular() {
        v["granular_scopes"] = token
            .grants
            .iter()
            .map(|g| {
                json!({
                    "access": g.access.as_str(),
                    "permissions": g.permissions,
                    "project_id": g.project_id(),
                    "group_id": g.group_id(),
                })
            })
            .collect();
    }
    if impersonation_entity {
        v["impersonation"] = json!(token.impersonation);
    }
    if let Some(plaintext) = plaintext {
        v["token"] = json!(plaintext);
    }
    v
}

/// `ResourceAccessToken`: a project's or group's token, with its bot's `access_level` (null once revoked, when the
/// membership went with it) and the resource it belongs to.
pub fn resource_token(
    token: &Token,
    now: Timestamp,
    plaintext: Option<&str>,
    level: Option<domain::AccessLevel>,
) -> Value {
    let mut v = self::token(token, now, plaintext, false);
    v["access_level"] = level.map_or(Value::Null, |l| json!(l.value()));
    if let Some(source) = token.resource {
        v["resource_type"] = json!(source.kind());
        v["resource_id"] = json!(source.id());
    }
    v
}

/// `DeployToken`: GitLab's shape (`expires_at` as a date and time, the start of the day the token ends on), with
/// `token` once, at creation.
pub fn deploy_token(token: &domain::DeployToken, now: Timestamp, plaintext: Option<&str>) -> Value {
    let mut v = json!({
        "id": token.id,
        "name": token.name,
        "username": token.username,
        "expires_at": token.expires_at.map_or(Value::Null, |d| json!(d.start().to_string())),
        "scopes": token.scopes.names().collect::<Vec<_>>(),
        "revoked": token.revoked,
        "expired": token.state(now) == domain::TokenState::Expired,
    });
    if let Some(plaintext) = plaintext {
        v["token"] = json!(plaintext);
    }
    v
}

/// A token's state as the token information API names it.
pub fn state_name(state: domain::TokenState) -> &'static str {
    match state {
        domain::TokenState::Active => "active",
        domain::TokenState::Expired => "expired",
        domain::TokenState::Revoked => "revoked",
    }
}

/// Grants in the shape `granular_scopes` takes on creation: selected groups and projects that share the same
/// permissions become one entry with their `group_ids` and `project_ids`.
pub fn granular_scopes_request(grants: &[domain::Grant]) -> Vec<Value> {
    /// One entry being gathered: its access and permissions, and the groups and projects it selects.
    struct Entry<'g> {
        access: domain::GrantAccess,
        permissions: &'g [String],
        groups: Vec<i64>,
        projects: Vec<i64>,
    }
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for grant in grants {
        let at = entries.iter().position(|e| e.access == grant.access && e.permissions == grant.permissions.as_slice());
        let index = at.unwrap_or_else(|| {
            entries.push(Entry {
                access: grant.access,
                permissions: &grant.permissions,
                groups: Vec::new(),
                projects: Vec::new(),
            });
            entries.len() - 1
        });
        if let Some(entry) = entries.get_mut(index) {
            entry.groups.extend(grant.group_id());
            entry.projects.extend(grant.project_id());
        }
    }
    entries
        .into_iter()
        .map(|e| {
            let mut entry = json!({"access": e.access.as_str(), "permissions": e.permissions});
            if e.access == domain::GrantAccess::SelectedMemberships {
                entry["group_ids"] = json!(e.groups);
                entry["project_ids"] = json!(e.projects);
            }
            entry
        })
        .collect()
}

fn web_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path)
}

/// `UserBasic`, as anyone may see it.
pub fn user_basic(user: &User, base: &str) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "state": user.state.as_str(),
        "locked": false,
        "avatar_url": null,
        "web_url": web_url(base, &user.username),
    })
}

/// `User` for the user themself and administrators (`UserWithAdmin` adds `is_admin`).
pub fn user_full(user: &User, base: &str, admin_view: bool) -> Value {
    let mut v = user_basic(user, base);
    let extra = json!({
        "created_at": user.created_at.to_string(),
        "bio": user.bio,
        "public_email": user.public_email,
        "email": user.email,
        "bot": user.user_type != domain::UserType::Human,
        "user_type": user.user_type.as_str(),
        "can_create_group": user.can_create_group,
        "external": user.external,
        "namespace_id": user.namespace_id,
        "organization_id": user.organization_id,
        "two_factor_enabled": false,
        "private_profile": false,
    });
    if let (Some(target), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
        if admin_view {
            target.insert("is_admin".to_owned(), json!(user.is_admin));
        }
    }
    v
}

pub fn group(group: &Group, base: &str) -> Value {
    json!({
        "id": group.id,
        "name": group.name,
        "path": group.path,
        "full_path": group.full_path,
        "full_name": group.full_name,
        "description": group.description,
        "visibility": group.visibility.as_str(),
        "parent_id": group.parent_id,
        "organization_id": group.organization_id,
        "created_at": group.created_at.to_string(),
        "web_url": web_url(base, &format!("groups/{}", group.full_path)),
        "avatar_url": null,
        "fine_grained_tokens_only": group.token_policy.fine_grained_tokens_only,
        "fine_grained_tokens_only_after": group.token_policy.fine_grained_tokens_only_after.map(|d| d.to_string()),
        "max_personal_access_token_lifetime": group.token_policy.max_personal_access_token_lifetime,
    })
}

pub fn project(project: &Project, base: &str) -> Value {
    let kind = if project.group_id.is_some() { "group" } else { "user" };
    let namespace_path = project.full_path.rsplit_once('/').map(|(ns, _)| ns).unwrap_or("");
    json!({
        "id": project.id,
        "name": project.name,
        "path": project.path,
        "path_with_namespace": project.full_path,
        "name_with_namespace": project.full_name,
        "description": project.description,
        "visibility": project.visibility.as_str(),
        "organization_id": project.organization_id,
        "creator_id": project.creator_id,
        "created_at": project.created_at.to_string(),
        "last_activity_at": project.updated_at.to_string(),
        "web_url": web_url(base, &project.full_path),
        "namespace": {
            "id": project.namespace_id,
            "kind": kind,
            "full_path": namespace_path,
            "path": namespace_path.rsplit('/').next().unwrap_or(""),
            "parent_id": null,
        },
    })
}

pub fn member(member: &Member, user: &User, base: &str) -> Value {
    let mut v = user_basic(user, base);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("access_level".to_owned(), json!(member.access_level.value()));
        obj.insert("created_at".to_owned(), json!(member.created_at.to_string()));
        obj.insert("expires_at".to_owned(), date_or_null(member.expires_at));
        obj.insert("created_by".to_owned(), json!(member.created_by.map(|id| json!({"id": id}))));
    }
    v
}

pub fn organization(organization: &domain::Organization, base: &str) -> Value {
    json!({
        "id": organization.id,
        "name": organization.name,
        "path": organization.path,
        "description": "",
        "created_at": organization.created_at.to_string(),
        "web_url": web_url(base, &format!("-/organizations/{}", organization.path)),
    })
}

pub fn audit_event(event: &AuditEvent) -> Value {
    let details: Value = serde_json::from_str(&event.event.details).unwrap_or_else(|_| json!({}));
    json!({
        "id": event.id,
        "author_id": event.event.author_id.unwrap_or(-1),
        "entity_id": event.event.entity_id,
        "entity_type": event.event.entity_type,
        "event_name": event.event.event_name,
        "details": details,
        "created_at": event.event.created_at.to_string(),
    })
}
