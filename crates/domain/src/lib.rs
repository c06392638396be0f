//! Tessera's vocabulary: access levels, scopes, names, dates and the directory's plain data.
//!
//! **Architecture Invariant:** this crate does no I/O. It knows nothing of tokio, sqlx, axum or serde,
//! never reads the clock or the environment, and never panics on input. Values are parsed at the boundary
//! (`Scopes::parse`, `TokenName::parse`, `Date::parse`) and are valid once they exist.

#![deny(missing_docs)]

mod access;
pub mod bytes;
mod ci;
mod credential;
mod deploy;
mod directory;
mod grant;
mod hashing;
mod job_policies;
mod names;
mod notices;
mod scope;
mod ssh_keys;
mod surface;
mod time;
mod token_facts;
mod usage;
mod user_secret;

pub use access::AccessLevel;
pub use ci::{
    AllowlistEntry, AllowlistSource, Job, JobStatus, JobTokenAccess, JobTokenMode, JobTokenSettings, KeyPurpose,
    MAX_ALLOWLIST_ENTRIES, Pipeline, PipelineTrigger, Runner, RunnerType, StoredKey, nearest_allowed,
};
pub use credential::{
    BOT_SCOPES, Channel, CredentialKind, DEPLOY_SCOPES, DEPLOYED_SCOPES, KindSpec, Lifecycle, Reach, SecretHome,
    USER_SCOPES, kind_by_prefix, secret_home,
};
pub use deploy::{DeployToken, MAX_DEPLOY_USERNAME, check_deploy_username};
pub use directory::{
    AuditEvent, Group, GroupTokenPolicy, Member, MemberSource, NewAuditEvent, Notification, Organization, Project,
    Settings, Token, TokenState, User, UserState, UserType, Visibility,
};
pub use grant::{Grant, GrantAccess, GrantTarget};
pub use hashing::{WordHasher, Words};
pub use job_policies::{
    JobLevel, JobPolicies, JobPolicy, JobResource, MAX_PERMISSIONS_TEXT, PermissionsError, parse_job_permissions,
};
pub use names::{Email, NameError, Path, TokenName, Username, validate_display_name};
pub use notices::{EmailState, ExpiringCredential, ExpiryNotice, NoticeOwner, NoticeWindow};
pub use scope::{Scope, ScopeError, Scopes};
pub use ssh_keys::{DeployKeyLink, SshKey};
pub use surface::Surface;
pub use time::{Date, Timestamp};
pub use token_facts::{TokenFacts, address_digest};
pub use usage::{TokenUsage, UsageBoundary};
pub use user_secret::{UserSecret, incoming_email_token};

/// The identifier of the organization that always exists.
pub const DEFAULT_ORGANIZATION_ID: i64 = 1;
