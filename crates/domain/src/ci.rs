//! CI/CD: jobs and pipelines, a project's job-token settings and inbound allowlist, runners, signing keys, and the
//! uses of job tokens on other projects.
//!
//! **Invariant:** the nearest allowlist entry decides: a project's own entry before its groups', the deepest group
//! first.

use crate::{JobPolicies, Timestamp};

/// Where a job is in its life. Only a running job's token is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// The job runs: its token is accepted.
    Running,
    /// It ended well.
    Success,
    /// It ended in failure.
    Failed,
    /// It was canceled.
    Canceled,
}

impl JobStatus {
    /// The stored and shown form.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Failed => "failed",
            JobStatus::Canceled => "canceled",
        }
    }

    /// The stored form, and what the internal API accepts (`finished` is GitLab's word for `success` there).
    pub fn parse(s: &str) -> Option<JobStatus> {
        match s {
            "running" => Some(JobStatus::Running),
            "success" | "finished" => Some(JobStatus::Success),
            "failed" => Some(JobStatus::Failed),
            "canceled" | "cancelled" => Some(JobStatus::Canceled),
            _ => None,
        }
    }
}

/// How a job's token is authorized: with the low-privilege intersection, or as GitLab did before it (the
/// triggering user's role on the job-token routes, checked against the allowlist only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobTokenMode {
    /// The token holds what the job declared, within the user's role and each allowlist entry.
    LowPrivilege,
    /// The token acts with the triggering user's role on the job-token routes, as GitLab did before.
    Legacy,
}

/// One CI job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: i64,
    /// Its pipeline.
    pub pipeline_id: i64,
    /// Its project.
    pub project_id: i64,
    /// The user who triggered the pipeline: the token acts with their current role.
    pub user_id: i64,
    /// The job's name in the pipeline.
    pub name: String,
    /// The Git ref it runs for.
    pub git_ref: String,
    /// Whether that ref is protected.
    pub ref_protected: bool,
    /// The job's timeout, in seconds.
    pub timeout_s: i64,
    /// Where it is in its life.
    pub status: JobStatus,
    /// What the job declared in `permissions:` (or the default set when it declared nothing).
    pub permissions: JobPolicies,
    /// Whether `permissions:` was declared.
    pub declared: bool,
    /// How its token is authorized.
    pub mode: JobTokenMode,
    /// The runner that took it, if a runner started it.
    pub runner_id: Option<i64>,
    /// When it started.
    pub created_at: Timestamp,
    /// When it ended, if it has.
    pub finished_at: Option<Timestamp>,
    /// When the job's token expires: start + timeout + 5 minutes, capped.
    pub token_expires_at: Timestamp,
}

/// A CI pipeline: the jobs of one run on one ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// The pipeline's id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The user who triggered it.
    pub user_id: i64,
    /// The Git ref it runs for.
    pub git_ref: String,
    /// Whether that ref is protected.
    pub ref_protected: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A project's job-token settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobTokenSettings {
    /// Only projects and groups on the allowlist may use their job tokens here (GitLab's inbound scope).
    pub inbound_enabled: bool,
    /// The project's jobs get tokens of GitLab's earlier behaviour.
    pub legacy: bool,
    /// The project's own job tokens may push to its repository.
    pub push_allowed: bool,
}

impl Default for JobTokenSettings {
    /// A new project: inbound allowlist on, low-privilege tokens, no pushes.
    fn default() -> Self {
        JobTokenSettings { inbound_enabled: true, legacy: false, push_allowed: false }
    }
}

/// Who an allowlist entry lets in: a project, or every project under a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AllowlistSource {
    /// A project, by id.
    Project(i64),
    /// Every project under a group, by the group's id.
    Group(i64),
}

/// One entry of a project's inbound job-token allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowlistEntry {
    /// The project whose allowlist this is (the target of the job tokens).
    pub project_id: i64,
    /// Who it lets in.
    pub source: AllowlistSource,
    /// The entry does not restrict the policies (GitLab's "default permissions").
    pub default_permissions: bool,
    /// With `default_permissions` off: the policies job tokens of the source get here.
    pub policies: JobPolicies,
    /// The user who added it.
    pub added_by: i64,
    /// When it was added.
    pub created_at: Timestamp,
}

impl AllowlistEntry {
    /// What the entry lets a job token do.
    pub fn allowed(&self) -> JobPolicies {
        if self.default_permissions { JobPolicies::ALL } else { self.policies }
    }
}

impl AllowlistSource {
    /// The allowlist sources that stand for a project: itself, then its groups from the nearest up.
    pub fn of_project(project: &crate::Project) -> Vec<AllowlistSource> {
        std::iter::once(AllowlistSource::Project(project.id))
            .chain(project.group_traversal_ids.iter().rev().map(|id| AllowlistSource::Group(*id)))
            .collect()
    }
}

/// What the nearest entry among `entries` (all of one project's allowlist) lets in: the first of `sources` (as
/// [`AllowlistSource::of_project`] orders them) that an entry names; `None` when no entry names any.
pub fn nearest_allowed(entries: &[AllowlistEntry], sources: &[AllowlistSource]) -> Option<JobPolicies> {
    sources.iter().find_map(|s| entries.iter().find(|e| e.source == *s)).map(AllowlistEntry::allowed)
}

/// What a runner may take jobs of: every project, or one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerType {
    /// It takes jobs of every project.
    Instance,
    /// It takes jobs of one project, by id.
    Project(i64),
}

impl RunnerType {
    /// GitLab's name of the type (`instance_type`, `project_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerType::Instance => "instance_type",
            RunnerType::Project(_) => "project_type",
        }
    }
}

/// A runner: it authenticates to the internal CI API with its `glrt-` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// The runner's id.
    pub id: i64,
    /// What its owner calls it.
    pub description: String,
    /// Whose jobs it takes.
    pub runner_type: RunnerType,
    /// The user who registered it.
    pub created_by: i64,
    /// When it was registered.
    pub created_at: Timestamp,
    /// A revoked runner's token is refused.
    pub revoked: bool,
}

/// What a signing key signs. A key never signs both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Signs CI job tokens.
    JobToken,
    /// Signs ID tokens (OIDC, for other services).
    IdToken,
}

impl KeyPurpose {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::JobToken => "job_token",
            KeyPurpose::IdToken => "id_token",
        }
    }

    /// Reads the stored form, exactly.
    pub fn parse(s: &str) -> Option<KeyPurpose> {
        match s {
            "job_token" => Some(KeyPurpose::JobToken),
            "id_token" => Some(KeyPurpose::IdToken),
            _ => None,
        }
    }
}

/// A signing key as stored: the private key sealed, the public key as a JWK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key's id: the RFC 7638 thumbprint of its public key.
    pub kid: String,
    /// What it signs.
    pub purpose: KeyPurpose,
    /// Its JOSE algorithm (`RS256`, `EdDSA`).
    pub algorithm: String,
    /// The sealed PKCS#8 private key, base64.
    pub sealed_key: String,
    /// The public JWK, as JSON.
    pub public_jwk: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When the key stopped signing (a newer key of its purpose took over).
    pub retired_at: Option<Timestamp>,
    /// A retired key's public half is published until then: every token it signed has expired by then.
    pub publish_until: Option<Timestamp>,
}

/// Which policies jobs of one project exercised on another, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTokenAccess {
    /// The project whose jobs used the token.
    pub source_project_id: i64,
    /// The project they used it on.
    pub target_project_id: i64,
    /// The policies they exercised there.
    pub policies: JobPolicies,
    /// The first use.
    pub first_used_at: Timestamp,
    /// The last use.
    pub last_used_at: Timestamp,
    /// How many uses.
    pub uses: i64,
}

/// The most entries (projects and groups together) a project's allowlist holds, as in GitLab.
pub const MAX_ALLOWLIST_ENTRIES: usize = 200;

/// A pipeline trigger of a project: its `glptt-` token runs pipelines there as its owner, with the owner's
/// current role. Never holds the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineTrigger {
    /// Its id.
    pub id: i64,
    /// The project it runs pipelines of.
    pub project_id: i64,
    /// The user its pipelines run as.
    pub owner_id: i64,
    /// What it is for.
    pub description: String,
    /// The date it expires on (at 00:00 UTC), if any.
    pub expires_at: Option<crate::Date>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it last ran a pipeline.
    pub last_used_at: Option<Timestamp>,
    /// The last client addresses it was used from, newest first.
    pub last_used_ips: Vec<String>,
    /// The organization of its project.
    pub organization_id: i64,
}

impl PipelineTrigger {
    /// The prefix of its tokens.
    pub const PREFIX: &'static str = "glptt-";
    /// How many hexadecimal digits follow the prefix, as in GitLab.
    pub const HEX_DIGITS: usize = 40;

    /// Whether `presented` has the shape of a trigger token: the prefix and 40 lowercase hexadecimal digits.
    pub fn is_token_shape(presented: &str) -> bool {
        presented.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == Self::HEX_DIGITS && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }

    /// Whether it has expired at `now` (at 00:00 UTC of its expiry date).
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|date| date.start() <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_token_has_gitlabs_shape_exactly() {
        let good = format!("glptt-{}", "0a".repeat(20));
        assert!(PipelineTrigger::is_token_shape(&good));
        for bad in [
            format!("glptt-{}", "0A".repeat(20)),
            format!("glptt-{}", "0a".repeat(19)),
            format!("glpt-{}", "0a".repeat(20)),
            format!("{good} "),
        ] {
            assert!(!PipelineTrigger::is_token_shape(&bad), "{bad}");
        }
    }

    use crate::{JobLevel, JobPolicy, JobResource};

    fn entry(source: AllowlistSource, policies: JobPolicies) -> AllowlistEntry {
        AllowlistEntry {
            project_id: 9,
            source,
            default_permissions: false,
            policies,
            added_by: 1,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn the_nearest_allowlist_entry_decides_and_none_means_not_allowlisted() {
        let sources = [AllowlistSource::Project(5), AllowlistSource::Group(3), AllowlistSource::Group(1)];
        let mut read = JobPolicies::NONE;
        read.insert(JobPolicy { level: JobLevel::Read, resource: JobResource::Jobs });
        let mut admin = JobPolicies::NONE;
        admin.insert(JobPolicy { level: JobLevel::Admin, resource: JobResource::Jobs });
        let top = entry(AllowlistSource::Group(1), admin);
        let near = entry(AllowlistSource::Group(3), read);
        assert_eq!(nearest_allowed(&[top.clone(), near.clone()], &sources), Some(read), "the deeper group first");
        let own = entry(AllowlistSource::Project(5), JobPolicies::NONE);
        assert_eq!(nearest_allowed(&[top.clone(), own, near], &sources), Some(JobPolicies::NONE));
        assert_eq!(nearest_allowed(&[entry(AllowlistSource::Group(2), admin)], &sources), None);
        let mut all = top;
        all.default_permissions = true;
        assert_eq!(nearest_allowed(&[all], &sources), Some(JobPolicies::ALL));
    }
}
