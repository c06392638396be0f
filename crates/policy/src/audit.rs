//! The breadth audit: warnings about tokens that reach further than a task is likely to need, shown when a
//! token is created and in the credential inventory. Warnings never change a decision.
//!
//! **Invariant:** warnings never change a decision.

use domain::{GrantAccess, Scope, Token};

/// One warning: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A stable code for machines (`no_expiry`, say).
    pub code: &'static str,
    /// What reaches further than likely needed, in words.
    pub message: String,
}

/// First path segments of administration routes.
const ADMIN_ROOTS: [&str; 6] = ["admin", "application", "users", "audit_events", "organizations", "service_accounts"];
/// Assignable permissions that act on the whole instance or on other users.
const ADMIN_BUNDLES: [&str; 4] = ["manage_user", "manage_instance", "read_audit_event", "create_organization"];

/// What is broad about a token.
pub fn breadth_warnings(token: &Token) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code: &'static str, message: String| out.push(Warning { code, message });
    if token.expires_at.is_none() {
        warn("no_expiry", "The token never expires.".to_owned());
    }
    for scope in [Scope::Sudo, Scope::AdminMode] {
        if token.scopes.contains(scope) {
            warn("admin_scope", format!("The {scope} scope acts with administrator powers."));
        }
    }
    if token.scopes.contains(Scope::Api) && token.route_rules.is_empty() {
        warn(
            "broad_scope",
            "The api scope reaches everything its user can do, with no route rules to narrow it.".to_owned(),
        );
    }
    for grant in &token.grants {
        match grant.access {
            GrantAccess::Instance => {
                warn("instance_wide", format!("A grant reaches the whole instance: {}.", grant.permissions.join(", ")))
            }
            GrantAccess::AllMemberships => warn(
                "all_memberships",
                "A grant reaches every group and project of its user, including future ones.".to_owned(),
            ),
            _ => {}
        }
        for admin in grant.permissions.iter().filter(|p| ADMIN_BUNDLES.contains(&p.as_str())) {
            warn("admin_permission", format!("The permission {admin} administers the instance or other users."));
        }
    }
    for rule in &token.route_rules {
        let Some((methods, path)) = rule.split_once(' ') else { continue };
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let wildcard = segments.iter().any(|s| *s == "*" || *s == "**");
        let writes = methods.split(',').any(|m| m != "GET");
        if segments.first() == Some(&"**") {
            if methods == "*" {
                warn("all_routes", format!("The rule \"{rule}\" allows every request."));
            } else {
                warn("all_paths", format!("The rule \"{rule}\" allows every path."));
            }
        }
        if writes && wildcard {
            warn("write_wildcard", format!("The rule \"{rule}\" allows writes on a wildcard path."));
        }
        if !path.starts_with("git:")
            && !path.starts_with("registry:")
            && segments.first().is_some_and(|s| ADMIN_ROOTS.contains(s) || *s == "*" || *s == "**")
        {
            warn("admin_routes", format!("The rule \"{rule}\" can reach administration routes."));
        }
    }
    out
}

/// What is broad about a credential that is no user token (a deploy token, a trigger, a feed or incoming-email
/// token): its expiry, and for a deploy token its writes and a group's reach over every project under it.
pub fn credential_warnings(
    kind: domain::CredentialKind,
    expires_at: Option<domain::Date>,
    scopes: domain::Scopes,
    group_wide: bool,
) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code: &'static str, message: String| out.push(Warning { code, message });
    if expires_at.is_none() {
        warn("no_expiry", format!("The {} never expires.", kind.name().replace('_', " ")));
    }
    let writes: Vec<&str> = [Scope::WriteRegistry, Scope::WritePackageRegistry, Scope::WriteVirtualRegistry]
        .into_iter()
        .filter(|s| scopes.contains(*s))
        .map(Scope::as_str)
        .collect();
    if !writes.is_empty() {
        warn("write_scope", format!("The {} publishes: {}.", kind.name().replace('_', " "), writes.join(", ")));
    }
    if group_wide {
        warn(
            "group_wide",
            format!("The {} reaches every project of its group, including future ones.", kind.name().replace('_', " ")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use domain::{Date, Grant, Scopes, Timestamp};

    #[test]
    fn a_group_deploy_token_that_publishes_and_never_expires_is_flagged_three_times() {
        let scopes: domain::Scopes = [Scope::ReadRepository, Scope::WritePackageRegistry].into_iter().collect();
        let warnings = credential_warnings(domain::CredentialKind::DeployToken, None, scopes, true);
        let codes: Vec<&str> = warnings.iter().map(|w| w.code).collect();
        assert_eq!(codes, ["no_expiry", "write_scope", "group_wide"]);
        let read: domain::Scopes = [Scope::ReadRepository].into_iter().collect();
        let expires = Date::parse("2030-01-01");
        assert!(credential_warnings(domain::CredentialKind::DeployToken, expires, read, false).is_empty());
    }

    fn token(scopes: Scopes, rules: &[&str], grants: Vec<Grant>, expires: Option<Date>) -> Token {
        let now = Timestamp::parse("2026-11-22T10:00:00Z").expect("time");
        Token {
            id: 1,
            user_id: 1,
            name: "t".into(),
            description: String::new(),
            scopes,
            impersonation: false,
            revoked: false,
            revoked_at: None,
            expires_at: expires,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            last_used_ips: Vec::new(),
            previous_token_id: None,
            organization_id: 1,
            grants,
            route_rules: rules.iter().map(|r| (*r).to_owned()).collect(),
            resource: None,
        }
    }

    fn codes(token: &Token) -> Vec<&'static str> {
        breadth_warnings(token).into_iter().map(|w| w.code).collect()
    }

    #[test]
    fn a_narrow_expiring_token_has_no_warnings() {
        let soon = Date::parse("2026-12-01");
        let rules = ["GET /projects/42/issues"];
        assert!(codes(&token(Scopes::parse(&["api"]).expect("s"), &rules, vec![], soon)).is_empty());
        let grant = Grant { access: GrantAccess::User, target: None, permissions: vec!["read_user".into()] };
        assert!(codes(&token(Scopes::granular(), &[], vec![grant], soon)).is_empty());
    }

    #[test]
    fn broad_rules_grants_and_scopes_are_named() {
        let rules = ["* /**", "POST /projects/42/*", "GET /users/*"];
        let got = codes(&token(Scopes::parse(&["api", "sudo"]).expect("s"), &rules, vec![], None));
        for code in ["no_expiry", "admin_scope", "all_routes", "write_wildcard", "admin_routes"] {
            assert!(got.contains(&code), "{code} in {got:?}");
        }
        let grants = vec![
            Grant { access: GrantAccess::Instance, target: None, permissions: vec!["manage_user".into()] },
            Grant { access: GrantAccess::AllMemberships, target: None, permissions: vec!["read_job".into()] },
        ];
        let got = codes(&token(Scopes::granular(), &[], grants, Date::parse("2026-12-01")));
        assert_eq!(got, ["instance_wide", "admin_permission", "all_memberships"]);
        let api = codes(&token(Scopes::parse(&["api"]).expect("s"), &[], vec![], Date::parse("2026-12-01")));
        assert_eq!(api, ["broad_scope"]);
    }
}
