//! CI/CD job tokens: runners, jobs and their `CI_JOB_TOKEN` (`glcbt-` + a signed JWT), ID tokens, the signing
//! keys and their rotation, each project's job-token settings and inbound allowlist, and the job-token facts a
//! decision needs.
//!
//! A job's token carries, signed, what it may do where: for its own project, the job's declared policies within
//! the triggering user's role; for every project whose allowlist names the job's project or one of its groups,
//! that ∩ the entry's policies ∩ the user's role there. At each use the job must still run, the user must still
//! be active, the allowlist entry must still be there, and the user's role is asked again.
//!
//! **Invariant:** a job token is accepted only while its job runs, and never carries more than the intersection
//! above.

mod allowlists;
mod job_auth;
mod jobs;
mod keys;

use std::sync::Arc;

use domain::{Job, JobPolicies, Project, Runner, Timestamp, User};
use tokens::jwt::Algorithm;

use crate::Authority;

pub(crate) use keys::{KeyRing, SharedKeyRing};

/// Settings of job tokens and ID tokens.
#[derive(Debug, Clone)]
pub struct CiConfig {
    /// `iss` of every token: the URL clients reach Tessera at.
    pub issuer: String,
    /// The algorithm new signing keys use.
    pub algorithm: Algorithm,
    /// The longest a job token or ID token may live, whatever the job's timeout.
    pub max_token_lifetime_s: i64,
}

impl Default for CiConfig {
    fn default() -> Self {
        CiConfig { issuer: "http://localhost".to_owned(), algorithm: Algorithm::RS256, max_token_lifetime_s: 86_400 }
    }
}

/// How much clock skew a token's times are allowed.
pub const JWT_LEEWAY_S: i64 = 60;
/// A job token outlives its job's timeout by this much, as in GitLab.
const TOKEN_GRACE_S: i64 = 5 * 60;
/// The longest job timeout accepted (GitLab's maximum, one month).
pub const MAX_JOB_TIMEOUT_S: i64 = 30 * 24 * 3600;
/// The most ID tokens one job may ask for, and audiences per ID token.
pub const MAX_ID_TOKENS: usize = 20;
pub const MAX_AUDIENCES: usize = 10;
/// The most projects other than its own a job token is bound to.
pub const MAX_TOKEN_TARGETS: usize = 50;
const KEY_SEAL_LABEL: &str = "ci signing keys";
const RUNNER_PREFIX: &str = domain::CredentialKind::RunnerAuthenticationToken.spec().prefix;
/// The prefix of CI job tokens.
pub const JOB_TOKEN_PREFIX: &str = domain::CredentialKind::CiJobToken.spec().prefix;
/// Who starts a job: a runner or an administrator through the internal CI API, or a pipeline trigger.
#[derive(Debug, Clone)]
pub enum CiActor {
    Runner(Runner),
    Admin(Arc<User>),
    Trigger(Arc<domain::PipelineTrigger>),
}

/// A job to start, as the internal CI API receives it.
#[derive(Debug, Clone, Default)]
pub struct StartJob {
    pub project_id: i64,
    pub user_id: i64,
    pub pipeline_id: Option<i64>,
    pub name: String,
    pub git_ref: String,
    pub ref_protected: bool,
    pub timeout_s: i64,
    /// The job's `permissions:` as YAML text; `None` for the default set.
    pub permissions: Option<String>,
    /// ID tokens to mint: name → audiences.
    pub id_tokens: Vec<(String, Vec<String>)>,
}

/// A started job with its secrets, shown once.
#[derive(Debug, Clone)]
pub struct StartedJob {
    pub job: Job,
    pub token: String,
    pub id_tokens: Vec<(String, String)>,
}

/// A suggested allowlist entry: a project whose job tokens used this one, and the narrowest policies covering it.
#[derive(Debug, Clone)]
pub struct SuggestedEntry {
    pub source_project: Arc<Project>,
    pub policies: JobPolicies,
    pub uses: i64,
    pub last_used_at: Timestamp,
    /// An entry already lets the source in with these policies (`None`: no entry).
    pub allowed_now: Option<JobPolicies>,
}

impl Authority {
    pub fn issuer(&self) -> &str {
        &self.ci.issuer
    }

    pub fn ci_config(&self) -> &CiConfig {
        &self.ci
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
