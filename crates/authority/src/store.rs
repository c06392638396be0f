//! The storage contract. `store` implements it for SQLite and PostgreSQL; nothing here knows SQL.

use async_trait::async_trait;
use domain::{
    AccessLevel, AllowlistEntry, AllowlistSource, AuditEvent, Date, Group, Job, JobPolicies, JobStatus, JobTokenAccess,
    JobTokenMode, JobTokenSettings, Member, MemberSource, NewAuditEvent, Notification, Organization, Pipeline, Project,
    Runner, RunnerType, Settings, StoredKey, Timestamp, Token, TokenUsage, User, UserState, UserType, Visibility,
};

/// A storage failure. `Conflict` names the unique field that clashed.
#[derive(Debug)]
pub enum StoreError {
    Conflict(&'static str),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StoreError {
    fn from(e: anyhow::Error) -> Self {
        StoreError::Other(e)
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(field) => write!(f, "{field} has already been taken"),
            StoreError::Other(e) => write!(f, "storage error: {e:#}"),
        }
    }
}

impl std::error::Error for StoreError {}

pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a list: 1-based page number and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: i64,
    pub per_page: i64,
}

impl Page {
    pub fn offset(self) -> i64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub user_type: UserType,
    pub bio: String,
    pub public_email: Option<String>,
    pub can_create_group: bool,
    pub external: bool,
    pub organization_id: i64,
    pub now: Timestamp,
}

/// Fields an administrator may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub is_admin: Option<bool>,
    pub bio: Option<String>,
    pub public_email: Option<Option<String>>,
    pub can_create_group: Option<bool>,
    pub external: Option<bool>,
    pub state: Option<UserState>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub username: Option<String>,
    pub search: Option<String>,
    pub state: Option<UserState>,
    pub admins: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
    pub parent: Option<Group>,
    pub organization_id: i64,
    pub now: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct NamespaceUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// The token policy of a top-level group, replaced whole.
    pub token_policy: Option<domain::GroupTokenPolicy>,
}

/// Which groups or projects a list may show.
#[derive(Debug, Clone, Default)]
pub struct DirectoryFilter {
    /// `None`: everything (administrators). `Some(user)`: what the user is a member of (directly or through a
    /// group), plus what `visible_levels` makes visible.
    pub viewer: Option<i64>,
    pub visibilities: Vec<Visibility>,
    pub search: Option<String>,
    pub parent_id: Option<i64>,
    pub top_level_only: bool,
}

#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: String,
    pub path: String,
    pub description: String,
    pub visibility: Visibility,
    /// The namespace: a group, or a user's namespace.
    pub namespace_id: i64,
    pub namespace_full_path: String,
    pub namespace_full_name: String,
    pub organization_id: i64,
    pub creator_id: i64,
    pub now: Timestamp,
}

/// A namespace a project lives in: its id, full path and full name.
#[derive(Debug, Clone)]
pub struct NamespaceTarget {
    pub namespace_id: i64,
    pub full_path: String,
    pub full_name: String,
}

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
    pub now: Timestamp,
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

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<i64>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewRunner {
    /// The keyed digest of its `glrt-` token.
    pub digest: String,
    pub description: String,
    pub runner_type: RunnerType,
    pub created_by: i64,
    pub created_at: Timestamp,
}

/// A job to start; with no `pipeline_id`, a new pipeline is made for it on the same project, user and ref.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub pipeline_id: Option<i64>,
    pub project_id: i64,
    pub user_id: i64,
    pub name: String,
    pub git_ref: String,
    pub ref_protected: bool,
    pub timeout_s: i64,
    pub permissions: JobPolicies,
    pub declared: bool,
    pub mode: JobTokenMode,
    pub runner_id: Option<i64>,
    pub created_at: Timestamp,
    pub token_expires_at: Timestamp,
}

/// What adding an allowlist entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowlistAdd {
    Added,
    /// The source is already on the list.
    Exists,
    /// The list holds the most entries it may.
    Full,
}

/// Makes the first administrator's token from its id; `None` aborts the bootstrap.
pub type MintFirstToken<'a> = dyn Fn(i64) -> Option<NewToken> + Send + Sync + 'a;

/// Everything Tessera keeps. Implementations must make each method atomic.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates an organization; a taken path is `Conflict("path")`.
    async fn insert_organization(&self, name: &str, path: &str, now: Timestamp) -> StoreResult<Organization>;
    async fn organization(&self, id: i64) -> StoreResult<Option<Organization>>;
    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<Organization>, i64)>;

    async fn count_users(&self) -> StoreResult<i64>;
    /// Creates the user and its personal namespace.
    async fn insert_user(&self, user: &NewUser) -> StoreResult<User>;
    async fn update_user(&self, id: i64, update: &UserUpdate, now: Timestamp) -> StoreResult<Option<User>>;
    async fn user(&self, id: i64) -> StoreResult<Option<User>>;
    /// The users among `ids` that exist, in no set order.
    async fn users(&self, ids: &[i64]) -> StoreResult<Vec<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_namespace(&self, namespace_id: i64) -> StoreResult<Option<User>>;
    async fn password_hash(&self, id: i64) -> StoreResult<Option<String>>;
    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<User>, i64)>;
    /// Creates the first administrator and its token in one transaction, only if there is no user yet.
    /// `mint` makes the token once the administrator's id is known.
    async fn bootstrap(&self, admin: &NewUser, mint: &MintFirstToken<'_>) -> StoreResult<Option<(User, Token)>>;

    async fn insert_group(&self, group: &NewGroup) -> StoreResult<Group>;
    async fn group(&self, id: i64) -> StoreResult<Option<Group>>;
    async fn group_by_path(&self, full_path: &str) -> StoreResult<Option<Group>>;
    async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Group>, i64)>;
    async fn update_group(&self, id: i64, update: &NamespaceUpdate) -> StoreResult<Option<Group>>;

    async fn insert_project(&self, project: &NewProject) -> StoreResult<Project>;
    async fn project(&self, id: i64) -> StoreResult<Option<Project>>;
    async fn project_by_path(&self, full_path: &str) -> StoreResult<Option<Project>>;
    async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Project>, i64)>;
    async fn update_project(&self, id: i64, update: &NamespaceUpdate, now: Timestamp) -> StoreResult<Option<Project>>;
    async fn delete_project(&self, id: i64) -> StoreResult<bool>;
    /// Moves a project into another namespace, renaming its full path; `None` if the project is gone.
    async fn transfer_project(&self, id: i64, to: &NamespaceTarget, now: Timestamp) -> StoreResult<Option<Project>>;

    /// Adds or replaces a membership.
    async fn upsert_member(&self, member: &Member) -> StoreResult<()>;
    async fn member(&self, source: MemberSource, user_id: i64) -> StoreResult<Option<Member>>;
    /// Members of `sources`; with `highest_per_user`, each user once, at their highest level among them.
    async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> StoreResult<(Vec<Member>, i64)>;
    async fn delete_member(&self, source: MemberSource, user_id: i64) -> StoreResult<bool>;
    /// The user's memberships among `sources`, unexpired on `today`.
    async fn member_levels(
        &self,
        user_id: i64,
        sources: &[MemberSource],
        today: Date,
    ) -> StoreResult<Vec<(MemberSource, AccessLevel)>>;

    async fn insert_token(&self, token: &NewToken) -> StoreResult<Token>;
    async fn token(&self, id: i64) -> StoreResult<Option<Token>>;
    /// The token stored under any of these digests.
    async fn token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Token>>;
    async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> StoreResult<(Vec<Token>, i64)>;
    /// Revokes the token; true only for the one call that changed it.
    async fn revoke_token(&self, id: i64, now: Timestamp) -> StoreResult<bool>;
    /// In one transaction: revokes `old_id` (failing with `None` if it was already revoked) and inserts `new`.
    async fn rotate_token(&self, old_id: i64, new: &NewToken) -> StoreResult<Option<Token>>;
    /// Revokes every active token descending from `id` through rotations; returns their ids.
    async fn revoke_family(&self, id: i64, now: Timestamp) -> StoreResult<Vec<i64>>;
    async fn touch_token(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()>;

    async fn settings(&self) -> StoreResult<Settings>;
    async fn save_settings(&self, settings: &Settings) -> StoreResult<()>;

    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()>;
    /// Adds uses of (permission, boundary) pairs: a new pair is stored as given; a known one keeps its first use
    /// and takes the given last use and the sum of the counts.
    async fn add_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()>;
    /// The pairs a token exercised, last used at or after `since` when given, by permission then boundary.
    async fn token_usage(&self, token_id: i64, since: Option<Timestamp>) -> StoreResult<Vec<TokenUsage>>;
    /// Stores a notification (its `id` is ignored) for its user.
    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()>;
    /// A user's notifications, newest first.
    async fn list_notifications(&self, user_id: i64, page: Page) -> StoreResult<(Vec<Notification>, i64)>;
    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)>;
    async fn audit_event(&self, id: i64) -> StoreResult<Option<AuditEvent>>;

    /// Registers a runner.
    async fn insert_runner(&self, runner: &NewRunner) -> StoreResult<Runner>;
    /// The runner whose token has one of these digests.
    async fn runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<Runner>>;
    /// Starts a job (and its pipeline, when none is named); a pipeline of another project is `Conflict("pipeline_id")`.
    async fn insert_job(&self, job: &NewJob) -> StoreResult<Job>;
    async fn job(&self, id: i64) -> StoreResult<Option<Job>>;
    async fn pipeline(&self, id: i64) -> StoreResult<Option<Pipeline>>;
    /// Ends a running job; `None` when there is no such job, and the job as it is with `false` when it had
    /// already ended (exactly one caller ends a job).
    async fn finish_job(&self, id: i64, status: JobStatus, now: Timestamp) -> StoreResult<Option<(Job, bool)>>;
    async fn save_job_token_settings(
        &self,
        project_id: i64,
        settings: JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>>;
    /// A project's inbound allowlist, oldest entry first.
    async fn allowlist(&self, project_id: i64) -> StoreResult<Vec<AllowlistEntry>>;
    /// Adds an entry, unless the source is there already or the list is full (checked in the same transaction).
    async fn add_allowlist_entry(&self, entry: &AllowlistEntry) -> StoreResult<AllowlistAdd>;
    async fn update_allowlist_entry(
        &self,
        project_id: i64,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> StoreResult<Option<AllowlistEntry>>;
    async fn delete_allowlist_entry(&self, project_id: i64, source: AllowlistSource) -> StoreResult<bool>;
    /// The entries of `project_id`'s allowlist that name one of `sources`.
    async fn allowlist_entries(&self, project_id: i64, sources: &[AllowlistSource])
    -> StoreResult<Vec<AllowlistEntry>>;
    /// Every entry, on any project's allowlist, that names one of `sources`, at most `limit`.
    async fn allowlisting(&self, sources: &[AllowlistSource], limit: i64) -> StoreResult<Vec<AllowlistEntry>>;
    /// Every signing key, current and retired.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Adds the first key of its purpose; `false` (and nothing written) when one is already current.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool>;
    /// Retires the current key of `key.purpose` (published until `publish_until`), makes `key` current, and
    /// forgets keys no longer published at `now`.
    async fn rotate_signing_key(&self, key: &StoredKey, now: Timestamp, publish_until: Timestamp) -> StoreResult<()>;
    /// Adds cross-project uses of job tokens (policies are merged, uses added).
    async fn add_job_token_access(&self, access: &[JobTokenAccess]) -> StoreResult<()>;
    /// The uses of job tokens of other projects on `target_project_id`, since `since`.
    async fn job_token_access(&self, target_project_id: i64, since: Timestamp) -> StoreResult<Vec<JobTokenAccess>>;
}
