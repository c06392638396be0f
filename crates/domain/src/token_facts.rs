//! What deciding a request asks of a user token, copied out of its row: the record the fact cache keeps per
//! token (88 bytes inline, against the row's 256 and its texts), and what an authenticated request
//! carries.
//!
//! **Invariant:** the facts hold no text: a name, a description, rules and grants stay in the row, read when
//! something needs them (rules and grants once, compiled, beside the facts). Whatever a decision reads of a
//! token is here, so that a cached decision reads nothing else of it.

use crate::{CredentialKind, Date, MemberSource, Scopes, Timestamp, Token, TokenState};

/// A user token's decision facts (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenFacts {
    /// The token's id.
    pub id: i64,
    /// Its user (for an impersonation token, the user it acts as).
    pub user_id: i64,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// Its scopes.
    pub scopes: Scopes,
    /// When it was made (the instance's and groups' rules ask its day).
    pub created_at: Timestamp,
    /// For a project or group access token, the project or group it is bound to.
    pub resource: Option<MemberSource>,
    /// The day it expires on, as [`Date::days`], or [`NEVER`] (8 bytes where an `Option<Date>` takes 16).
    expires_on: i64,
    /// When its last use was recorded, as [`Timestamp::millis`], or [`UNUSED`].
    last_used: i64,
    /// [`address_digest`] of the client address of its last recorded use, `0` when none: enough to tell that a
    /// use comes from a new address (the addresses themselves stay in the row).
    pub last_address: u64,
    /// An impersonation token, made by an administrator.
    pub impersonation: bool,
    /// Revoked: refused from then on.
    pub revoked: bool,
    /// It has allowlist rules or grants, which a decision reads from its row (once, compiled).
    pub restricted: bool,
}

/// `expires_on` of a token that never expires.
const NEVER: i64 = i64::MAX;
/// `last_used` of a token never used.
const UNUSED: i64 = i64::MIN;

impl TokenFacts {
    /// The date it expires on (at 00:00 UTC), if any.
    pub fn expires_at(&self) -> Option<Date> {
        (self.expires_on != NEVER).then(|| Date::from_days(self.expires_on))
    }

    /// When its last use was recorded.
    pub fn last_used_at(&self) -> Option<Timestamp> {
        (self.last_used != UNUSED).then(|| Timestamp::from_millis(self.last_used))
    }

    /// These facts after a use at `at` from `address` (an unknown address leaves the last one).
    pub fn used(self, at: Timestamp, address: Option<&str>) -> TokenFacts {
        let last_address = address.map_or(self.last_address, address_digest);
        TokenFacts { last_used: at.millis(), last_address, ..self }
    }

    /// The token's type as GitLab names it.
    pub fn kind(&self) -> CredentialKind {
        CredentialKind::of_user_token(self.impersonation, self.resource)
    }

    /// GitLab's order: expired is reported before revoked.
    pub fn state(&self, now: Timestamp) -> TokenState {
        state(self.expires_at(), self.revoked, now)
    }
}

/// GitLab's order: a token expired at 00:00 UTC of its expiry date is reported before revoked.
pub(crate) fn state(expires_at: Option<Date>, revoked: bool, now: Timestamp) -> TokenState {
    if expires_at.is_some_and(|date| date.start() <= now) {
        TokenState::Expired
    } else if revoked {
        TokenState::Revoked
    } else {
        TokenState::Active
    }
}

impl From<&Token> for TokenFacts {
    fn from(token: &Token) -> TokenFacts {
        TokenFacts {
            id: token.id,
            user_id: token.user_id,
            organization_id: token.organization_id,
            scopes: token.scopes,
            created_at: token.created_at,
            resource: token.resource,
            expires_on: token.expires_at.map_or(NEVER, Date::days),
            last_used: token.last_used_at.map_or(UNUSED, Timestamp::millis),
            last_address: token.last_used_ips.first().map_or(0, |ip| address_digest(ip)),
            impersonation: token.impersonation,
            revoked: token.revoked,
            restricted: !token.route_rules.is_empty() || !token.grants.is_empty(),
        }
    }
}

/// A 64-bit digest of a client address (FNV-1a), never `0`. Two addresses may share one: then a use from the
/// second within the minute after one from the first is not written as a new address, as if it were the same
/// one (the next use past the interval writes it).
pub fn address_digest(address: &str) -> u64 {
    let digest =
        address.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    digest.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Grant, GrantAccess};

    fn token() -> Token {
        Token {
            id: 7,
            user_id: 2,
            name: "ci".to_owned(),
            description: String::new(),
            scopes: Scopes::parse(&["read_api"]).expect("scopes"),
            impersonation: false,
            revoked: false,
            revoked_at: None,
            expires_at: Date::parse("2030-01-01"),
            created_at: Timestamp::from_millis(1_000),
            updated_at: Timestamp::from_millis(1_000),
            last_used_at: None,
            last_used_ips: Vec::new(),
            previous_token_id: None,
            organization_id: 1,
            grants: Vec::new(),
            route_rules: Vec::new(),
            resource: None,
        }
    }

    #[test]
    fn facts_keep_what_a_decision_reads_of_the_row() {
        let row = Token { last_used_ips: vec!["10.0.0.1".to_owned(), "10.0.0.2".to_owned()], ..token() };
        let facts = TokenFacts::from(&row);
        assert_eq!((facts.id, facts.user_id, facts.organization_id, facts.scopes), (7, 2, 1, row.scopes));
        assert_eq!((facts.expires_at(), facts.created_at, facts.resource), (row.expires_at, row.created_at, None));
        assert_eq!(facts.last_used_at(), None);
        let at = Timestamp::from_millis(5_000);
        let used = Token { last_used_at: Some(at), expires_at: None, ..row.clone() };
        assert_eq!((TokenFacts::from(&used).last_used_at(), TokenFacts::from(&used).expires_at()), (Some(at), None));
        assert_eq!(facts.last_address, address_digest("10.0.0.1"));
        assert_eq!(facts.kind(), row.kind());
        assert!(!facts.restricted);
    }

    #[test]
    fn a_token_with_rules_or_grants_is_restricted() {
        let ruled = Token { route_rules: vec!["GET /api/v4/user".to_owned()], ..token() };
        let grant = Grant { access: GrantAccess::User, target: None, permissions: vec!["read_user".to_owned()] };
        let granted = Token { grants: vec![grant], ..token() };
        assert!(TokenFacts::from(&ruled).restricted);
        assert!(TokenFacts::from(&granted).restricted);
    }

    #[test]
    fn facts_report_expiry_before_revocation_as_the_row_does() {
        let row = Token { revoked: true, expires_at: Date::parse("2020-01-01"), ..token() };
        let now = Timestamp::from_millis(1_700_000_000_000);
        assert_eq!(TokenFacts::from(&row).state(now), TokenState::Expired);
        assert_eq!(row.state(now), TokenState::Expired);
        let revoked = Token { revoked: true, ..token() };
        assert_eq!(TokenFacts::from(&revoked).state(now), TokenState::Revoked);
        assert_eq!(TokenFacts::from(&token()).state(now), TokenState::Active);
    }

    #[test]
    fn a_use_moves_the_last_use_and_a_known_address_replaces_the_last() {
        let facts = TokenFacts::from(&Token { last_used_ips: vec!["10.0.0.1".to_owned()], ..token() });
        let at = Timestamp::from_millis(9_000);
        let used = facts.used(at, Some("10.0.0.2"));
        assert_eq!((used.last_used_at(), used.last_address), (Some(at), address_digest("10.0.0.2")));
        assert_eq!(facts.used(at, None).last_address, address_digest("10.0.0.1"));
    }

    #[test]
    fn no_address_digests_to_zero_and_addresses_differ() {
        assert_ne!(address_digest(""), 0);
        assert_ne!(address_digest("10.0.0.1"), address_digest("10.0.0.2"));
        assert_eq!(address_digest("::1"), address_digest("::1"));
    }

    #[test]
    fn the_facts_stay_small() {
        assert!(std::mem::size_of::<TokenFacts>() <= 88, "{}", std::mem::size_of::<TokenFacts>());
    }
}
