//! The token policies applied at every use, past the route: the instance's rules for personal access tokens and
//! a top-level group's rules for its hierarchy.
//!
//! **Invariant:** a rule that is not set refuses nothing; a set rule is asked at every use, never only at
//! creation, so that a policy made stricter applies to tokens that already exist.

use domain::GroupTokenPolicy;
use policy::{Reason, TokenRules};

use super::Resolved;
use super::resolve::Named;

/// Whether the token policy of the top-level group above the resource `named` (the group itself, when it is a
/// top-level one) refuses `token` there.
pub(super) fn hierarchy_refusal(
    named: &Named,
    surface: catalog::Surface,
    token: &domain::TokenFacts,
) -> Option<Reason> {
    match (&named.resource, &named.root) {
        (Resolved::Group(group, _), _) if group.root_id() == group.id => {
            group_refusal(&group.token_policy, surface, token)
        }
        (Resolved::Group(..) | Resolved::Project(..), Some(root)) => group_refusal(&root.token_policy, surface, token),
        _ => None,
    }
}

/// The instance's rules for personal access tokens at use.
pub fn token_rules(settings: &domain::Settings) -> TokenRules {
    TokenRules {
        fine_grained_only: settings.fine_grained_tokens_only,
        fine_grained_only_after: settings.fine_grained_tokens_only_after,
        max_lifetime_days: settings.max_personal_access_token_lifetime,
        expiry_required: settings.require_personal_access_token_expiry,
    }
}

/// Whether the instance's rules refuse `token` on a route of `surface` now (see [`policy::token_rules_refusal`]).
pub fn token_refusal(
    settings: &domain::Settings,
    surface: catalog::Surface,
    token: &domain::TokenFacts,
) -> Option<Reason> {
    policy::token_rules_refusal(
        &token_rules(settings),
        surface,
        token.scopes,
        token.created_at.date(),
        token.expires_at(),
    )
}

/// A top-level group's token policy as rules: a maximum lifetime there also refuses tokens that never expire.
fn group_token_rules(policy: &GroupTokenPolicy) -> TokenRules {
    TokenRules {
        fine_grained_only: policy.fine_grained_tokens_only,
        fine_grained_only_after: policy.fine_grained_tokens_only_after,
        max_lifetime_days: policy.max_personal_access_token_lifetime,
        expiry_required: true,
    }
}

/// Whether a top-level group's token policy refuses `token` on its hierarchy, on a route of `surface`.
pub fn group_refusal(
    policy: &GroupTokenPolicy,
    surface: catalog::Surface,
    token: &domain::TokenFacts,
) -> Option<Reason> {
    group_rules_refusal(policy, surface, token.scopes, token.created_at.date(), token.expires_at())
}

/// [`group_refusal`] for a token described by its scopes and lifetime (one being created, say).
pub(crate) fn group_rules_refusal(
    policy: &GroupTokenPolicy,
    surface: catalog::Surface,
    scopes: domain::Scopes,
    created: domain::Date,
    expires: Option<domain::Date>,
) -> Option<Reason> {
    if !policy.is_set() {
        return None;
    }
    match policy::token_rules_refusal(&group_token_rules(policy), surface, scopes, created, expires) {
        Some(Reason::LifetimeBeyondPolicy) => Some(Reason::LifetimeBeyondGroupPolicy),
        other => other,
    }
}
