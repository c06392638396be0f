//! Authorization rules, as pure functions of facts the caller loads: the decision every request goes through
//! (`authorize`), and the few rules past the route that it leaves to the action itself (who may act as another
//! user, which level a member may grant, what a token may mint).
//!
//! **Architecture Invariant:** this crate does no I/O and fetches nothing. Every function denies by default:
//! a case it does not name is a denial, never an allowance.

#![deny(missing_docs)]

mod audit;
mod decide;
mod grants;
mod issue;
mod reasons;
mod rules;
mod suggest;

pub use audit::{Warning, breadth_warnings, credential_warnings};
pub use decide::{
    CredentialFacts, Decision, DeployFacts, Facts, JobFacts, Layer, Reason, ResourceFacts, TokenRules, TriggerFacts,
    UserFacts, acting_admin, authorize, held_on, role_grants, scopes_allowing, sudo, token_rules_refusal,
    unknown_route,
};
pub use grants::{
    CompiledGrant, GrantError, Reach, applies, boundaries_of, bundles_of, compile_grants, creator_holds, granted,
    granted_compiled, role_allows,
};
pub use issue::{check_grant, scopes_beyond};
pub use rules::{
    CompiledRule, MAX_RULE_LEN, MAX_RULES, RuleError, RuleSurface, RuleTarget, compile_rules, normalize_rule,
    within_rules,
};
pub use suggest::suggest_grants;

#[cfg(test)]
mod tests;
