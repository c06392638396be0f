//! Rules for issuing tokens, past the route: what a token may put in the tokens it mints.
//!
//! **Invariant:** a minted token never gets an administrator scope its creator's role or token cannot give.

use domain::{Scope, Scopes};

/// Whether a token holding `creator` may mint a token with `requested` scopes: administrator scopes only if
/// the creating token holds them itself, so that no token mints a wider one.
pub fn check_grant(creator: &Scopes, requested: &Scopes) -> Result<(), Vec<Scope>> {
    let missing: Vec<Scope> = requested.iter().filter(|s| s.is_admin_only() && !creator.contains(*s)).collect();
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
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
