//! Personal and impersonation tokens (fine-grained or not), their rotation families and their last use.
//!
//! **Invariant:** only digests are stored; revoking and rotating change a token only if it is still active.

use async_trait::async_trait;
use domain::{AccessLevel, Date, MemberSource, NewAuditEvent, Timestamp, Token};

use super::{Page, StoreResult};

#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    pub description: String,
    pub digest: String,
    pub scopes: domain::Scopes,
    pub impersonation: bool,
    pub expires_at: Option<Date>,
    pub previous_token_id: Option<i64>,
    pub organization_id: i64,
    /// A fine-grained token's grants (its scopes are then `granular` alone).
    pub grants: Vec<domain::Grant>,
    /// Allowlist rules, normalised (`policy::RouteRule`).
    pub route_rules: Vec<String>,
    /// The project or group of a project or group access token (its bot's one membership).
    pub resource: Option<MemberSource>,
    pub now: Timestamp,
}

/// A project or group access token with its bot: the bot user, its one membership, and the token.
#[derive(Debug, Clone)]
pub struct NewBotToken {
    pub bot: super::NewUser,
    /// The bot's level on `token.resource`.
    pub access_level: AccessLevel,
    /// The user who made the token (the membership's creator).
    pub created_by: i64,
    /// The token; its `user_id` is the bot's, whatever is given here, and its `resource` is set.
    pub token: NewToken,
    /// The most active access tokens the resource may hold, the new one included.
    pub limit: i64,
    /// The day on which tokens are counted as active.
    pub today: Date,
}

#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    /// One token only (to check that a token is in a list before acting on it).
    pub id: Option<i64>,
    pub user_id: Option<i64>,
    pub impersonation: Option<bool>,
    pub revoked: Option<bool>,
    /// `Some(true)`: active (not revoked, not expired on `today`); `Some(false)`: inactive.
    pub active: Option<bool>,
    pub today: Option<Date>,
    pub created_before: Option<Timestamp>,
    pub created_after: Option<Timestamp>,
    pub last_used_before: Option<Timestamp>,
    pub last_used_after: Option<Timestamp>,
    pub expires_before: Option<Date>,
    pub expires_after: Option<Date>,
    pub search: Option<String>,
    /// `Some(true)`: fine-grained tokens only; `Some(false)`: legacy (scope-based) tokens only.
    pub granular: Option<bool>,
    /// Only tokens that reach the hierarchy of this top-level group: legacy tokens and `all_memberships`
    /// grants of its members (through any group or project in it), and grants selecting a group or project in it.
    pub reaching_group: Option<i64>,
    /// Only tokens of this organization (the caller's token's).
    pub organization_id: Option<i64>,
    /// Only the access tokens of this project or group.
    pub resource: Option<MemberSource>,
    /// Only tokens of this kind (of the kinds stored as user tokens).
    pub kind: Option<domain::CredentialKind>,
    pub sort: TokenSort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenSort {
    #[default]
    IdDesc,
    IdAsc,
    CreatedAsc,
    CreatedDesc,
    LastUsedAsc,
    LastUsedDesc,
    ExpiresAsc,
    ExpiresDesc,
    NameAsc,
    NameDesc,
}

/// The audit entry of a token write, made from the new token's id once the store knows it (`None`: no entry).
pub type AuditOf<'a> = dyn Fn(i64) -> Option<NewAuditEvent> + Send + Sync + 'a;

/// No audit entry, for writes whose caller records none (fixtures, tests).
pub fn no_audit(_: i64) -> Option<NewAuditEvent> {
    None
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Inserts the token and, in the same transaction, the audit entry `audit` makes of its id: a token is never
    /// there without its entry, nor its entry without it.
    async fn insert_token(&self, token: &NewToken, audit: &AuditOf<'_>) -> StoreResult<Token>;
    async fn token(&self, id: i64) -> StoreResult<Option<Token>>;
    /// The token stored under any of these digests.
    async fn token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Token>>;
    async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> StoreResult<(Vec<Token>, i64)>;
    /// Revokes the token, with its audit entry in the same transaction; true only for the one call that changed it.
    async fn revoke_token(&self, id: i64, now: Timestamp, audit: Option<&NewAuditEvent>) -> StoreResult<bool>;
    /// In one transaction: revokes `old_id` (failing with `None` if it was already revoked), inserts `new`, and
    /// writes the audit entry `audit` makes of the new token's id.
    async fn rotate_token(&self, old_id: i64, new: &NewToken, audit: &AuditOf<'_>) -> StoreResult<Option<Token>>;
    /// Revokes every active token descending from `id` through rotations; returns their ids.
    async fn revoke_family(&self, id: i64, now: Timestamp) -> StoreResult<Vec<i64>>;
    /// In one transaction: revokes a project or group access token and removes its bot's membership of the
    /// token's resource, with the audit entry; true only for the one call that changed it.
    async fn revoke_bot_token(&self, token: &Token, now: Timestamp, audit: &NewAuditEvent) -> StoreResult<bool>;
    /// Records a token's last use. Not a decision fact: it announces nothing.
    async fn touch_token(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()>;
}
