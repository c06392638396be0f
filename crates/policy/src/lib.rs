//! Authorization rules, as pure functions of facts the caller loads: which scopes an endpoint accepts,
//! what administrators may do, and what a member's access level allows on groups, projects and members.
//!
//! **Architecture Invariant:** this crate does no I/O and fetches nothing. Every function denies by default:
//! a case it does not name is a denial, never an allowance.

mod decide;
mod directory;
mod scopes;

pub use decide::{
    CredentialFacts, Decision, Facts, Layer, Reason, ResourceFacts, UserFacts, authorize, scopes_allowing,
    unknown_route,
};
pub use directory::{Action, can, visible};
#[cfg(test)]
mod tests;

pub use scopes::{Denial, ScopeRule, check_admin, check_grant, check_scopes, check_sudo};
