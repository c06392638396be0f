//! The world of the peers benchmark: 150 users, 100 private projects, 300 role groups (a project's Guests,
//! Reporters and Developers) and 450 tokens, 1,000 entities in all, made the same way for every engine.
//!
//! **Invariant:** the scenario is deterministic, and every engine of the peers benchmark is built from it.

/// A member's role on a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Guest,
    Reporter,
    Developer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Guest, Role::Reporter, Role::Developer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Reporter => "reporter",
            Role::Developer => "developer",
        }
    }
}

/// A token: its owner, its one scope, and whether it is revoked.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub owner: usize,
    pub scope: &'static str,
    pub revoked: bool,
}

/// A membership: user, project, role.
pub type Membership = (usize, usize, Role);

pub const USERS: usize = 150;
pub const PROJECTS: usize = 100;
pub const TOKENS: usize = 450;
/// The scopes tokens are given, in turn: two that read the API and one that does not.
pub const SCOPES: [&str; 3] = ["read_api", "api", "read_repository"];
/// The action asked about: reading a project's code through the API (`GET /projects/:id/repository/tree`, which
/// needs `download_code`: Reporter and above on a private project).
pub const ACTION: &str = "download_code";
/// When every token of the scenario expires, in seconds since the epoch (2100-01-01): each engine checks it.
pub const EXPIRES_AT: i64 = 4_102_444_800;

/// The scenario: who is what where.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub tokens: Vec<TokenSpec>,
    pub members: Vec<Membership>,
}

impl Scenario {
    /// The one scenario: user `u` is a Guest, a Reporter and a Developer of three different projects; token `t`
    /// belongs to user `t % 150`, its scope cycles through [`SCOPES`], and every eleventh token is revoked.
    pub fn new() -> Scenario {
        let members = (0..USERS)
            .flat_map(|u| Role::ALL.iter().enumerate().map(move |(k, role)| (u, (u * 3 + k * 7) % PROJECTS, *role)))
            .collect();
        let tokens = (0..TOKENS)
            .map(|t| TokenSpec { owner: t % USERS, scope: SCOPES[(t / USERS) % SCOPES.len()], revoked: t % 11 == 5 })
            .collect();
        Scenario { tokens, members }
    }

    /// The user's role on the project, if a member.
    pub fn role(&self, user: usize, project: usize) -> Option<Role> {
        self.members.iter().filter(|(u, p, _)| *u == user && *p == project).map(|(_, _, r)| *r).max()
    }

    /// What the rule answers: may token `t` read project `p`'s code?
    pub fn expected(&self, t: usize, p: usize) -> bool {
        let Some(token) = self.tokens.get(t) else { return false };
        !token.revoked
            && matches!(token.scope, "read_api" | "api")
            && self.role(token.owner, p).is_some_and(|r| r >= Role::Reporter)
    }

    /// A token and a project the rule allows (the benchmark's request), and one it refuses for the role alone.
    pub fn allowed_and_refused(&self) -> ((usize, usize), (usize, usize)) {
        let token = 0;
        let owner = self.tokens.first().map_or(0, |t| t.owner);
        let on = |role: Role| self.members.iter().find(|(u, _, r)| *u == owner && *r == role).map_or(0, |(_, p, _)| *p);
        ((token, on(Role::Reporter)), (token, on(Role::Guest)))
    }

    /// Questions for the agreement tests: every token on a spread of projects.
    pub fn questions(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.tokens.len()).flat_map(move |t| {
            let owner = self.tokens.get(t).map_or(0, |s| s.owner);
            let theirs = self.members.iter().filter(move |(u, _, _)| *u == owner).map(|(_, p, _)| *p);
            theirs.chain([(t * 13) % PROJECTS]).map(move |p| (t, p))
        })
    }
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scenario_has_a_thousand_entities_and_both_answers() {
        let s = Scenario::new();
        assert_eq!(USERS + PROJECTS + PROJECTS * Role::ALL.len() + s.tokens.len(), 1_000);
        let ((t, p), (rt, rp)) = s.allowed_and_refused();
        assert!(s.expected(t, p));
        assert!(!s.expected(rt, rp));
        let answers: Vec<bool> = s.questions().map(|(t, p)| s.expected(t, p)).collect();
        assert!(answers.iter().filter(|a| **a).count() > 100);
        assert!(answers.iter().filter(|a| !**a).count() > 100);
    }

    #[test]
    fn a_user_holds_one_role_per_project() {
        let s = Scenario::new();
        for u in 0..USERS {
            let mut projects: Vec<usize> = s.members.iter().filter(|m| m.0 == u).map(|m| m.1).collect();
            projects.sort_unstable();
            projects.dedup();
            assert_eq!(projects.len(), Role::ALL.len(), "user {u}");
        }
    }
}
