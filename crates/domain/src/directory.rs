//! The directory's plain data: organizations, users, groups, projects, members, tokens, settings, audit events.

use crate::{AccessLevel, Date, Scopes, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    Active,
    Blocked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }

    pub fn parse(s: &str) -> Option<UserState> {
        match s {
            "active" => Some(UserState::Active),
            "blocked" => Some(UserState::Blocked),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    Human,
    ServiceAccount,
    ProjectBot,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Human => "human",
            UserType::ServiceAccount => "service_account",
            UserType::ProjectBot => "project_bot",
        }
    }

    pub fn parse(s: &str) -> Option<UserType> {
        match s {
            "human" => Some(UserType::Human),
            "service_account" => Some(UserType::ServiceAccount),
            "project_bot" => Some(UserType::ProjectBot),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub name: String,
    pub state: UserState,
    pub is_admin: bool,
    pub user_type: UserType,
    pub bio: String,
    pub public_email: Option<String>,
    pub can_create_group: bool,
    pub external: bool,
    pub namespace_id: i64,
    pub organization_id: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.state == UserState::Active
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Private,
    Internal,
    Public,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub full_name: String,
    pub description: String,
    pub visibility: Visibility,
    pub parent_id: Option<i64>,
    /// Ids of the group's ancestors, root first, then the group itself.
    pub traversal_ids: Vec<i64>,
    pub organization_id: i64,
    pub created_at: Timestamp,
    /// What the group's owners require of tokens used on its hierarchy (set on top-level groups only).
    pub token_policy: GroupTokenPolicy,
}

impl Group {
    /// The id of the top-level group of this group's hierarchy.
    pub fn root_id(&self) -> i64 {
        self.traversal_ids.first().copied().unwrap_or(self.id)
    }
}

/// The token policy of a top-level group, applied to every request on its hierarchy: legacy (scope-based) tokens
/// refused (those created after an optional date only), and a maximum token lifetime in days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTokenPolicy {
    pub fine_grained_tokens_only: bool,
    pub fine_grained_tokens_only_after: Option<Date>,
    pub max_personal_access_token_lifetime: Option<i64>,
}

impl GroupTokenPolicy {
    /// Whether the policy asks anything of tokens.
    pub fn is_set(&self) -> bool {
        self.fine_grained_tokens_only || self.max_personal_access_token_lifetime.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub full_name: String,
    pub description: String,
    pub visibility: Visibility,
    pub namespace_id: i64,
    /// The owning group, when the project is not in a user's namespace.
    pub group_id: Option<i64>,
    /// The owning user, when the project is in a user's namespace.
    pub owner_user_id: Option<i64>,
    /// Ids of the group ancestors of the project, root first (empty in a user namespace).
    pub group_traversal_ids: Vec<i64>,
    pub organization_id: i64,
    pub creator_id: i64,
    /// How job tokens may reach the project, and how its own jobs' tokens behave.
    pub job_token: crate::JobTokenSettings,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Project {
    /// The id of the top-level group the project sits under (`None` in a user's namespace).
    pub fn root_group_id(&self) -> Option<i64> {
        self.group_traversal_ids.first().copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberSource {
    Group(i64),
    Project(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub source: MemberSource,
    pub user_id: i64,
    pub access_level: AccessLevel,
    pub expires_at: Option<Date>,
    pub created_at: Timestamp,
    pub created_by: Option<i64>,
}

/// A personal (or impersonation) access token's record. Never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub description: String,
    pub scopes: Scopes,
    pub impersonation: bool,
    pub revoked: bool,
    pub revoked_at: Option<Timestamp>,
    pub expires_at: Option<Date>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ips: Vec<String>,
    pub previous_token_id: Option<i64>,
    pub organization_id: i64,
    /// What a fine-grained token (scopes `granular`) may do, and where; empty for any other token.
    pub grants: Vec<crate::Grant>,
    /// Allowlist rules (`METHODS PATH`): when any are set, the token is refused every request none matches.
    pub route_rules: Vec<String>,
}

/// Why a token cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl Token {
    /// The token's type as GitLab names it (gateways, inventories, audit event names).
    pub fn kind(&self) -> crate::CredentialKind {
        crate::CredentialKind::of_user_token(self.impersonation)
    }

    /// GitLab's order: expired is reported before revoked.
    pub fn state(&self, now: Timestamp) -> TokenState {
        if self.is_expired(now) {
            return TokenState::Expired;
        }
        if self.revoked {
            return TokenState::Revoked;
        }
        TokenState::Active
    }

    /// A token expires at 00:00 UTC of its expiry date.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        match self.expires_at {
            Some(date) => date.start() <= now,
            None => false,
        }
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.state(now) == TokenState::Active
    }
}

/// Instance-wide settings an administrator changes with `PUT /application/settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Days; `None` means GitLab's default of 365.
    pub max_personal_access_token_lifetime: Option<i64>,
    pub require_personal_access_token_expiry: bool,
    pub impersonation_enabled: bool,
    pub admin_mode: bool,
    /// Legacy (scope-based) tokens are refused at use, except on routes a token uses on itself.
    pub fine_grained_tokens_only: bool,
    /// With `fine_grained_tokens_only`: only legacy tokens created after this date are refused.
    pub fine_grained_tokens_only_after: Option<Date>,
    /// No new legacy personal or impersonation token may be created.
    pub disable_legacy_token_creation: bool,
}

impl Settings {
    pub const DEFAULT_MAX_LIFETIME_DAYS: i64 = 365;

    pub fn max_lifetime_days(&self) -> i64 {
        self.max_personal_access_token_lifetime.unwrap_or(Self::DEFAULT_MAX_LIFETIME_DAYS)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_personal_access_token_lifetime: None,
            require_personal_access_token_expiry: true,
            impersonation_enabled: true,
            admin_mode: false,
            fine_grained_tokens_only: false,
            fine_grained_tokens_only_after: None,
            disable_legacy_token_creation: false,
        }
    }
}

/// An audit event as it is written. `details` is a JSON object rendered by the writer; it never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub author_id: Option<i64>,
    pub entity_type: String,
    pub entity_id: i64,
    pub event_name: String,
    pub details: String,
    pub ip_address: Option<String>,
    pub created_at: Timestamp,
}

/// A message to a user about their credentials, such as a token someone else revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    /// What happened, as a stable code (`personal_access_token_revoked`).
    pub kind: String,
    pub message: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub event: NewAuditEvent,
}
