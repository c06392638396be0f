//! Rules for issuing tokens, past the route: what a token may put in the tokens it mints.
//!
//! **Invariant:** a minted token never gets an administrator scope its creator's role or token cannot give, nor
//! any scope that reaches a request its creator's scopes do not.

use domain::{Scope, Scopes, Surface};

/// Whether a token holding `creator` may mint a token with `requested` scopes: administrator scopes only if
/// the creating token holds them itself, so that no token mints a wider one.
pub fn check_grant(creator: &Scopes, requested: &Scopes) -> Result<(), Vec<Scope>> {
    let missing: Vec<Scope> = requested.iter().filter(|s| s.is_admin_only() && !creator.contains(*s)).collect();
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

/// The requested scopes that reach something the creator's scopes do not: empty when `requested` is within
/// `creator`. A scope is within when the creator holds it, or when, on every surface and for reads and writes
/// alike, whatever the scope allows the creator's scopes allow too (`api` holds `read_api`, `write_repository`
/// holds `read_repository`). A scope that reaches no route of the catalog (`create_runner`, `ai_features`…) is
/// within `api`, GitLab's complete API scope, or itself; an administrator scope only within itself. A granular
/// marker is not a scope and is left to the grants' own check.
pub fn scopes_beyond(creator: &Scopes, requested: &Scopes) -> Vec<Scope> {
    requested.iter().filter(|scope| *scope != Scope::Granular && !within(creator, *scope)).collect()
}

fn within(creator: &Scopes, scope: Scope) -> bool {
    if creator.contains(scope) {
        return true;
    }
    if scope.is_admin_only() {
        return false;
    }
    let mut reaches_a_route = false;
    for surface in Surface::ALL.into_iter().filter(|s| *s != Surface::TokenSelf) {
        for safe in [true, false] {
            let allowing = crate::scopes_allowing(surface, safe);
            if allowing.contains(&scope) {
                reaches_a_route = true;
                if !allowing.iter().any(|held| creator.contains(*held)) {
                    return false;
                }
            }
        }
    }
    reaches_a_route || creator.contains(Scope::Api)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(names: &[&str]) -> Scopes {
        Scopes::parse(names).unwrap()
    }

    #[test]
    fn a_token_mints_only_scopes_within_its_own() {
        let api = scopes(&["api"]);
        assert!(
            scopes_beyond(&api, &scopes(&["read_api", "read_user", "write_repository", "create_runner"])).is_empty()
        );
        assert_eq!(scopes_beyond(&api, &scopes(&["api", "sudo"])), [Scope::Sudo]);
        let read_api = scopes(&["read_api"]);
        assert!(scopes_beyond(&read_api, &scopes(&["read_user"])).is_empty());
        // `read_api` does not clone (Git's upload-pack is a POST) nor pull from the registry with a POST.
        assert_eq!(scopes_beyond(&read_api, &scopes(&["read_repository"])), [Scope::ReadRepository]);
        assert_eq!(scopes_beyond(&read_api, &scopes(&["api"])), [Scope::Api]);
        assert_eq!(scopes_beyond(&read_api, &scopes(&["write_repository"])), [Scope::WriteRepository]);
        assert_eq!(scopes_beyond(&read_api, &scopes(&["create_runner"])), [Scope::CreateRunner]);
        let write_repository = scopes(&["write_repository"]);
        assert!(scopes_beyond(&write_repository, &scopes(&["read_repository"])).is_empty());
        assert_eq!(scopes_beyond(&scopes(&["read_repository"]), &write_repository), [Scope::WriteRepository]);
        assert_eq!(scopes_beyond(&scopes(&["read_user"]), &read_api), [Scope::ReadApi]);
    }

    #[test]
    fn a_token_cannot_grant_an_administrator_scope_it_lacks() {
        let api = Scopes::parse(&["api"]).unwrap();
        let sudo = Scopes::parse(&["api", "sudo"]).unwrap();
        assert_eq!(check_grant(&api, &sudo), Err(vec![Scope::Sudo]));
        assert_eq!(check_grant(&sudo, &sudo), Ok(()));
        assert_eq!(check_grant(&api, &Scopes::parse(&["read_api", "read_repository"]).unwrap()), Ok(()));
    }
}
