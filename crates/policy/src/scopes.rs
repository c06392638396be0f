//! Legacy scope enforcement, as GitLab's `AccessTokenValidationService` does it.

use domain::{Scope, Scopes};

/// Which scopes an endpoint accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    /// `api`; `read_api` on safe methods (GET, HEAD).
    Api,
    /// As `Api`, and also `read_user` on safe methods: `/user` and the read-only `/users` endpoints.
    ApiOrReadUser,
    /// `api` or `self_rotate`: a token rotating itself.
    SelfRotate,
    /// Any scope: a token reading or revoking itself.
    AnyScope,
}

/// Why a token may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The token lacks a scope; the list names the scopes any one of which would allow the request.
    InsufficientScope(Vec<Scope>),
    /// The token's owner is not an administrator.
    NotAdmin,
    /// Admin Mode is on and the token lacks `admin_mode`.
    AdminModeRequired,
}

/// Checks a token's scopes against an endpoint's rule. `safe` is true for GET and HEAD.
pub fn check_scopes(scopes: &Scopes, rule: ScopeRule, safe: bool) -> Result<(), Denial> {
    let accepted: &[Scope] = match (rule, safe) {
        (ScopeRule::AnyScope, _) => return Ok(()),
        (ScopeRule::Api, true) => &[Scope::Api, Scope::ReadApi],
        (ScopeRule::Api, false) => &[Scope::Api],
        (ScopeRule::ApiOrReadUser, true) => &[Scope::Api, Scope::ReadApi, Scope::ReadUser],
        (ScopeRule::ApiOrReadUser, false) => &[Scope::Api],
        (ScopeRule::SelfRotate, _) => &[Scope::Api, Scope::SelfRotate],
    };
    if accepted.iter().any(|scope| scopes.contains(*scope)) {
        return Ok(());
    }
    Err(Denial::InsufficientScope(accepted.to_vec()))
}

/// Checks that an administrator's token may perform an administrator action.
/// With Admin Mode on, the token must also carry `admin_mode`.
pub fn check_admin(owner_is_admin: bool, scopes: &Scopes, admin_mode_enabled: bool) -> Result<(), Denial> {
    if !owner_is_admin {
        return Err(Denial::NotAdmin);
    }
    if admin_mode_enabled && !scopes.contains(Scope::AdminMode) {
        return Err(Denial::AdminModeRequired);
    }
    Ok(())
}

/// Checks that a token may act as another user through the `Sudo` header.
pub fn check_sudo(owner_is_admin: bool, scopes: &Scopes) -> Result<(), Denial> {
    if !scopes.contains(Scope::Sudo) {
        return Err(Denial::InsufficientScope(vec![Scope::Sudo]));
    }
    if !owner_is_admin {
        return Err(Denial::NotAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Scopes {
        Scopes::parse(names).unwrap()
    }

    #[test]
    fn read_api_reads_but_never_writes() {
        assert_eq!(check_scopes(&scopes(&["read_api"]), ScopeRule::Api, true), Ok(()));
        assert_eq!(
            check_scopes(&scopes(&["read_api"]), ScopeRule::Api, false),
            Err(Denial::InsufficientScope(vec![Scope::Api]))
        );
    }

    #[test]
    fn read_user_reaches_only_user_endpoints_and_only_to_read() {
        assert!(check_scopes(&scopes(&["read_user"]), ScopeRule::ApiOrReadUser, true).is_ok());
        assert!(check_scopes(&scopes(&["read_user"]), ScopeRule::ApiOrReadUser, false).is_err());
        assert!(check_scopes(&scopes(&["read_user"]), ScopeRule::Api, true).is_err());
    }

    #[test]
    fn self_rotate_allows_rotation_of_itself_only() {
        assert!(check_scopes(&scopes(&["self_rotate"]), ScopeRule::SelfRotate, false).is_ok());
        assert!(check_scopes(&scopes(&["self_rotate"]), ScopeRule::Api, true).is_err());
    }

    #[test]
    fn repository_scopes_reach_no_api_endpoint() {
        let git = scopes(&["read_repository", "write_repository", "read_registry"]);
        for rule in [ScopeRule::Api, ScopeRule::ApiOrReadUser, ScopeRule::SelfRotate] {
            assert!(check_scopes(&git, rule, true).is_err());
            assert!(check_scopes(&git, rule, false).is_err());
        }
        assert!(check_scopes(&git, ScopeRule::AnyScope, false).is_ok());
    }

    #[test]
    fn admin_mode_needs_the_admin_mode_scope_only_when_enabled() {
        assert_eq!(check_admin(true, &scopes(&["api"]), false), Ok(()));
        assert_eq!(check_admin(true, &scopes(&["api"]), true), Err(Denial::AdminModeRequired));
        assert_eq!(check_admin(true, &scopes(&["api", "admin_mode"]), true), Ok(()));
        assert_eq!(check_admin(false, &scopes(&["api", "admin_mode"]), false), Err(Denial::NotAdmin));
    }

    #[test]
    fn sudo_needs_the_scope_and_an_administrator() {
        assert!(check_sudo(true, &scopes(&["api"])).is_err());
        assert_eq!(check_sudo(false, &scopes(&["sudo"])), Err(Denial::NotAdmin));
        assert_eq!(check_sudo(true, &scopes(&["sudo"])), Ok(()));
    }
}

/// Whether a token holding `creator` may mint a token with `requested` scopes: administrator scopes only if
/// the creating token holds them itself, so that no token mints a wider one.
pub fn check_grant(creator: &Scopes, requested: &Scopes) -> Result<(), Vec<Scope>> {
    let missing: Vec<Scope> = requested.iter().filter(|s| s.is_admin_only() && !creator.contains(*s)).collect();
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

#[cfg(test)]
mod grant_tests {
    use super::*;

    #[test]
    fn a_token_cannot_grant_an_administrator_scope_it_lacks() {
        let api = Scopes::parse(&["api"]).unwrap();
        let sudo = Scopes::parse(&["api", "sudo"]).unwrap();
        assert_eq!(check_grant(&api, &sudo), Err(vec![Scope::Sudo]));
        assert_eq!(check_grant(&sudo, &sudo), Ok(()));
        assert_eq!(check_grant(&api, &Scopes::parse(&["read_api", "read_repository"]).unwrap()), Ok(()));
    }
}
