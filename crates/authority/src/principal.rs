//! Who a request is: a user token's principal, a CI job's, and why authentication failed. The types every way
//! of authenticating hands to the decision.
//!
//! **Invariant:** these hold facts as they were when the credential was checked, shared with the fact cache;
//! an `AuthFailure` never reaches a client (every failure is one 401).

use std::sync::Arc;

use domain::{Job, JobPolicies, Project, Timestamp, TokenFacts, User};
use tokens::jwt::JobTokenClaims;

/// A token that passed authentication, with its owner as they are now (shared with the fact cache).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user: Arc<User>,
    /// The token's decision facts (its row, when a handler needs it, is `Authority::token`).
    pub token: TokenFacts,
    /// When the token was checked: the request's time, read once.
    pub at: Timestamp,
}

/// Why authentication failed. Never shown to the client: all of these are one 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    Unknown,
    Expired,
    Revoked,
    ImpersonationDisabled,
    BlockedUser,
    /// A known token presented through a channel its kind does not take (a personal token in `JOB-TOKEN`).
    WrongChannel,
    /// A deploy token presented in Basic authentication with a username that is not its own.
    WrongUsername,
}

impl AuthFailure {
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::Malformed => "malformed token",
            AuthFailure::Unknown => "unknown token",
            AuthFailure::Expired => "token expired",
            AuthFailure::Revoked => "token revoked",
            AuthFailure::ImpersonationDisabled => "impersonation disabled",
            AuthFailure::BlockedUser => "token owner blocked",
            AuthFailure::WrongChannel => "token presented through a channel its kind does not take",
            AuthFailure::WrongUsername => "deploy token presented with another username",
        }
    }
}

/// A job token that passed authentication, with its job, project and triggering user as they are now.
#[derive(Debug, Clone)]
pub struct JobPrincipal {
    pub job: Arc<Job>,
    pub user: Arc<User>,
    pub project: Arc<Project>,
    pub claims: Arc<VerifiedJobToken>,
    pub at: Timestamp,
}

/// A job token's claims, its scope read into project ids and policies as it was verified.
#[derive(Debug, Clone)]
pub struct VerifiedJobToken {
    pub claims: JobTokenClaims,
}

impl VerifiedJobToken {
    /// The policies the token is bound to on `project_id`.
    pub fn on(&self, project_id: i64) -> JobPolicies {
        self.claims.scope.on(project_id)
    }
}
