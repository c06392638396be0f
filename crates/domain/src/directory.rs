//! The directory's plain data: organizations, users, groups, projects, members, tokens, settings, audit events.
//!
//! **Invariant:** a token record never holds its plaintext; a token is refused from 00:00 UTC of its expiry date.

use crate::{AccessLevel, Date, Scopes, Timestamp};

/// An organization: the outermost boundary; a token reaches nothing of another organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id (1 is the default organization).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its path, unique.
    pub path: String,
    /// When it was made.
    pub created_at: Timestamp,
}

/// Whether a user may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// The user may sign in and their tokens work.
    Active,
    /// Every token of the user is refused.
    Blocked,
}

impl UserState {
    /// The stored and shown form.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<UserState> {
        match s {
            "active" => Some(UserState::Active),
            "blocked" => Some(UserState::Blocked),
            _ => None,
        }
    }
}

/// What kind of account a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    /// A person.
    Human,
    /// A service account (a machine identity an administrator manages).
    ServiceAccount,
    /// The bot user behind a project or group access token.
    ProjectBot,
}

impl UserType {
    /// The stored and shown form.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Human => "human",
            UserType::ServiceAccount => "service_account",
            UserType::ProjectBot => "project_bot",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<UserType> {
        match s {
            "human" => Some(UserType::Human),
            "service_account" => Some(UserType::ServiceAccount),
            "project_bot" => Some(UserType::ProjectBot),
            _ => None,
        }
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's id.
    pub id: i64,
    /// Their username, unique regardless of case.
    pub username: String,
    /// Their e-mail address, unique regardless of case.
    pub email: String,
    /// Their display name.
    pub name: String,
    /// Active or blocked.
    pub state: UserState,
    /// An administrator of the instance.
    pub is_admin: bool,
    /// What kind of account it is.
    pub user_type: UserType,
    /// What they say about themselves.
    pub bio: String,
    /// The address they show others, if any.
    pub public_email: Option<String>,
    /// Whether they may create top-level groups.
    pub can_create_group: bool,
    /// An external user: sees no internal group or project unless a member.
    pub external: bool,
    /// Their personal namespace.
    pub namespace_id: i64,
    /// The organization they belong to.
    pub organization_id: i64,
    /// When the account was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// For a service account made by a top-level group, that group: its owners manage the account and its tokens.
    pub provisioned_by_group_id: Option<i64>,
}

impl User {
    /// Whether the user may act (not blocked).
    pub fn is_active(&self) -> bool {
        self.state == UserState::Active
    }
}

/// Who sees a group or project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Its members only.
    Private,
    /// Every signed-in user who is not external.
    Internal,
    /// Everyone, signed in or not.
    Public,
}

impl Visibility {
    /// The stored and shown form.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Internal => "internal",
            Visibility::Public => "public",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "private" => Some(Visibility::Private),
            "internal" => Some(Visibility::Internal),
            "public" => Some(Visibility::Public),
            _ => None,
        }
    }
}

/// A group of projects and subgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group's id (its namespace's).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its path segment.
    pub path: String,
    /// Its full path from the top-level group, unique regardless of case.
    pub full_path: String,
    /// Its full name from the top-level group (`Top / Sub`).
    pub full_name: String,
    /// Its description.
    pub description: String,
    /// Who sees it.
    pub visibility: Visibility,
    /// The parent group; `None` for a top-level group.
    pub parent_id: Option<i64>,
    /// Ids of the group's ancestors, root first, then the group itself.
    pub traversal_ids: Vec<i64>,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// When it was made.
    pub created_at: Timestamp,
    /// What the group's owners require of tokens used on its hierarchy (set on top-level groups only).
    pub token_policy: GroupTokenPolicy,
}

impl Group {
    /// The id of the top-level group of this group's hierarchy.
    pub fn root_id(&self) -> i64 {
        self.traversal_ids.first().copied().unwrap_or(self.id)
    }

    /// The top-level group above this group: `None` for a top-level group itself.
    pub fn top_level_above(&self) -> Option<i64> {
        Some(self.root_id()).filter(|root| *root != self.id)
    }

    /// Where a user's membership gives access to the group: the group and each of its ancestors, root first.
    pub fn member_sources(&self) -> impl Iterator<Item = MemberSource> + '_ {
        self.traversal_ids.iter().map(|id| MemberSource::Group(*id))
    }
}

/// The token policy of a top-level group, applied to every request on its hierarchy: legacy (scope-based) tokens
/// refused (those created after an optional date only), and a maximum token lifetime in days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTokenPolicy {
    /// Legacy (scope-based) tokens are refused on the hierarchy.
    pub fine_grained_tokens_only: bool,
    /// With `fine_grained_tokens_only`: only legacy tokens created after this date are refused.
    pub fine_grained_tokens_only_after: Option<Date>,
    /// The longest a token used on the hierarchy may live, in days; a token that never expires is refused.
    pub max_personal_access_token_lifetime: Option<i64>,
}

impl GroupTokenPolicy {
    /// Whether the policy asks anything of tokens.
    pub fn is_set(&self) -> bool {
        self.fine_grained_tokens_only || self.max_personal_access_token_lifetime.is_some()
    }
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project's id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its path segment.
    pub path: String,
    /// Its full path (`group/sub/project`), unique regardless of case.
    pub full_path: String,
    /// Its full name (`Group / Sub / Project`).
    pub full_name: String,
    /// Its description.
    pub description: String,
    /// Who sees it.
    pub visibility: Visibility,
    /// The namespace it lives in: a group's, or a user's.
    pub namespace_id: i64,
    /// The owning group, when the project is not in a user's namespace.
    pub group_id: Option<i64>,
    /// The owning user, when the project is in a user's namespace.
    pub owner_user_id: Option<i64>,
    /// Ids of the group ancestors of the project, root first (empty in a user namespace).
    pub group_traversal_ids: Vec<i64>,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// The user who created it.
    pub creator_id: i64,
    /// How job tokens may reach the project, and how its own jobs' tokens behave.
    pub job_token: crate::JobTokenSettings,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Project {
    /// The id of the top-level group the project sits under (`None` in a user's namespace).
    pub fn root_group_id(&self) -> Option<i64> {
        self.group_traversal_ids.first().copied()
    }

    /// Where a user's membership gives access to the project: each of its groups, root first, then the project
    /// itself (the owner of a personal namespace has Owner without one).
    pub fn member_sources(&self) -> impl Iterator<Item = MemberSource> + '_ {
        let groups = self.group_traversal_ids.iter().map(|id| MemberSource::Group(*id));
        groups.chain([MemberSource::Project(self.id)])
    }
}

/// Where a membership is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberSource {
    /// A group, by id (it also gives access to everything under the group).
    Group(i64),
    /// A project, by id.
    Project(i64),
}

impl MemberSource {
    /// `project` or `group`, as stored and shown (`resource_type`).
    pub fn kind(self) -> &'static str {
        match self {
            MemberSource::Group(_) => "group",
            MemberSource::Project(_) => "project",
        }
    }

    /// The group's or project's id.
    pub fn id(self) -> i64 {
        match self {
            MemberSource::Group(id) | MemberSource::Project(id) => id,
        }
    }
}

/// A user's membership of a group or project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Where it is held.
    pub source: MemberSource,
    /// The member.
    pub user_id: i64,
    /// The level it gives.
    pub access_level: AccessLevel,
    /// The date it ends on, if any.
    pub expires_at: Option<Date>,
    /// When it was made.
    pub created_at: Timestamp,
    /// The user who made it, if a user did.
    pub created_by: Option<i64>,
}

/// A personal (or impersonation) access token's record. Never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token's id.
    pub id: i64,
    /// Its user (for an impersonation token, the user it acts as).
    pub user_id: i64,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its scopes (`granular` alone for a fine-grained token).
    pub scopes: Scopes,
    /// An impersonation token, made by an administrator.
    pub impersonation: bool,
    /// Revoked: refused from then on.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// The date it expires on (at 00:00 UTC), if any.
    pub expires_at: Option<Date>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was last used (written at most every 10 minutes).
    pub last_used_at: Option<Timestamp>,
    /// The last client addresses it was used from, newest first.
    pub last_used_ips: Vec<String>,
    /// The token it was rotated from, if any.
    pub previous_token_id: Option<i64>,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// What a fine-grained token (scopes `granular`) may do, and where; empty for any other token.
    pub grants: Vec<crate::Grant>,
    /// Allowlist rules (`METHODS PATH`): when any are set, the token is refused every request none matches.
    pub route_rules: Vec<String>,
    /// For a project or group access token, the project or group its bot user belongs to: the token reaches
    /// nothing outside it.
    pub resource: Option<MemberSource>,
}

/// Why a token cannot be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// It may be used.
    Active,
    /// Its expiry date has come.
    Expired,
    /// It was revoked.
    Revoked,
}

impl Token {
    /// The token's type as GitLab names it (gateways, inventories, audit event names).
    pub fn kind(&self) -> crate::CredentialKind {
        crate::CredentialKind::of_user_token(self.impersonation, self.resource)
    }

    /// GitLab's order: expired is reported before revoked.
    pub fn state(&self, now: Timestamp) -> TokenState {
        crate::token_facts::state(self.expires_at, self.revoked, now)
    }

    /// A token expires at 00:00 UTC of its expiry date.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.state(now) == TokenState::Expired
    }

    /// Whether it may be used at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.state(now) == TokenState::Active
    }
}

/// Instance-wide settings an administrator changes with `PUT /application/settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Days; `None` means GitLab's default of 365.
    pub max_personal_access_token_lifetime: Option<i64>,
    /// New tokens must carry an expiry date.
    pub require_personal_access_token_expiry: bool,
    /// Impersonation tokens work (when off, every one is refused).
    pub impersonation_enabled: bool,
    /// Administrator powers need a token with the `admin_mode` scope.
    pub admin_mode: bool,
    /// Legacy (scope-based) tokens are refused at use, except on routes a token uses on itself.
    pub fine_grained_tokens_only: bool,
    /// With `fine_grained_tokens_only`: only legacy tokens created after this date are refused.
    pub fine_grained_tokens_only_after: Option<Date>,
    /// No new legacy personal or impersonation token may be created.
    pub disable_legacy_token_creation: bool,
}

impl Settings {
    /// GitLab's default maximum lifetime of a token, in days.
    pub const DEFAULT_MAX_LIFETIME_DAYS: i64 = 365;

    /// The maximum lifetime of a token, in days.
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
    /// The user who acted, if a user did.
    pub author_id: Option<i64>,
    /// What kind of thing it is about (`PersonalAccessToken`, `User`, `Project`).
    pub entity_type: String,
    /// Which one, by id (0 when there is none).
    pub entity_id: i64,
    /// What happened (`personal_access_token_created`).
    pub event_name: String,
    /// Details, as a JSON object.
    pub details: String,
    /// The client address, if known.
    pub ip_address: Option<String>,
    /// When it happened.
    pub created_at: Timestamp,
}

/// A message to a user about their credentials, such as a token someone else revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Its id (ignored when storing a new one).
    pub id: i64,
    /// The user it is for.
    pub user_id: i64,
    /// What happened, as a stable code (`personal_access_token_revoked`).
    pub kind: String,
    /// What happened, in words.
    pub message: String,
    /// When it happened.
    pub created_at: Timestamp,
}

/// An audit event as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id.
    pub id: i64,
    /// What was written.
    pub event: NewAuditEvent,
}
