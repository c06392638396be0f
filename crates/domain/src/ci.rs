//! CI/CD: jobs, their declared `permissions`, and the job-token policies that bound what a CI job token may do.
//!
//! A job-token policy is a level (`read` or `admin`) on one of the resources job tokens may touch; `admin_x`
//! includes `read_x`. A set of policies is a bit set, so that the intersections a request needs cost nothing.

use std::fmt;

use crate::Timestamp;

/// The resources a CI job token may touch, as the job-token policies and a job's `permissions:` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobResource {
    /// Container images in the registry.
    Containers,
    /// Deployments.
    Deployments,
    /// Environments.
    Environments,
    /// Jobs and their artifacts.
    Jobs,
    /// Packages in the package registries.
    Packages,
    /// Releases.
    Releases,
    /// Secure files.
    SecureFiles,
    /// Terraform state.
    TerraformState,
    /// Pipelines.
    Pipelines,
    /// The Git repository (a push needs the project to allow it too).
    Repositories,
}

impl JobResource {
    /// Every resource, in the fixed order of the stored bit set.
    pub const ALL: [JobResource; 10] = [
        JobResource::Containers,
        JobResource::Deployments,
        JobResource::Environments,
        JobResource::Jobs,
        JobResource::Packages,
        JobResource::Releases,
        JobResource::SecureFiles,
        JobResource::TerraformState,
        JobResource::Pipelines,
        JobResource::Repositories,
    ];

    /// The resource's name in a policy (`secure_files`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobResource::Containers => "containers",
            JobResource::Deployments => "deployments",
            JobResource::Environments => "environments",
            JobResource::Jobs => "jobs",
            JobResource::Packages => "packages",
            JobResource::Releases => "releases",
            JobResource::SecureFiles => "secure_files",
            JobResource::TerraformState => "terraform_state",
            JobResource::Pipelines => "pipelines",
            JobResource::Repositories => "repositories",
        }
    }

    /// The resource of this name, exactly.
    pub fn parse(s: &str) -> Option<JobResource> {
        JobResource::ALL.into_iter().find(|r| r.as_str() == s)
    }

    fn index(self) -> u32 {
        self as u32
    }
}

/// How much of a resource: `admin` includes `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobLevel {
    /// Reading the resource.
    Read,
    /// Reading and changing it.
    Admin,
}

impl JobLevel {
    /// The level's prefix in a policy name (`read`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobLevel::Read => "read",
            JobLevel::Admin => "admin",
        }
    }
}

/// One job-token policy: `read_releases`, `admin_packages`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobPolicy {
    /// How much of the resource.
    pub level: JobLevel,
    /// Which resource.
    pub resource: JobResource,
}

impl JobPolicy {
    /// The policy of this name (`read_releases`), exactly.
    pub fn parse(s: &str) -> Option<JobPolicy> {
        let (level, resource) = if let Some(rest) = s.strip_prefix("read_") {
            (JobLevel::Read, rest)
        } else if let Some(rest) = s.strip_prefix("admin_") {
            (JobLevel::Admin, rest)
        } else {
            return None;
        };
        Some(JobPolicy { level, resource: JobResource::parse(resource)? })
    }

    fn bit(self) -> u32 {
        1 << (self.resource.index() * 2 + u32::from(self.level == JobLevel::Admin))
    }
}

impl fmt::Display for JobPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.level.as_str(), self.resource.as_str())
    }
}

/// A set of job-token policies. Adding `admin_x` adds `read_x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JobPolicies(u32);

const READ_BITS: u32 = 0x5_5555; // the read bit of each of the ten resources
const ALL_BITS: u32 = 0xf_ffff;

impl JobPolicies {
    /// No policy.
    pub const NONE: JobPolicies = JobPolicies(0);
    /// Every policy.
    pub const ALL: JobPolicies = JobPolicies(ALL_BITS);

    /// What a job may do when it declares no `permissions`: what GitLab CI needs to work. It reads every
    /// resource, and writes only what jobs commonly publish (container images, packages, releases, Terraform
    /// state). Deployments, environments, pipelines, jobs, secure files and pushes to repositories must be
    /// declared.
    pub fn default_for_jobs() -> JobPolicies {
        let mut set = JobPolicies(READ_BITS);
        for resource in
            [JobResource::Containers, JobResource::Packages, JobResource::Releases, JobResource::TerraformState]
        {
            set.insert(JobPolicy { level: JobLevel::Admin, resource });
        }
        set
    }

    /// Adds a policy (with `read_x` for `admin_x`).
    pub fn insert(&mut self, policy: JobPolicy) {
        self.0 |= policy.bit();
        if policy.level == JobLevel::Admin {
            self.0 |= JobPolicy { level: JobLevel::Read, resource: policy.resource }.bit();
        }
    }

    /// Whether the set holds `policy`.
    pub fn contains(self, policy: JobPolicy) -> bool {
        self.0 & policy.bit() != 0
    }

    /// Whether every policy of `other` is in `self`.
    pub fn covers(self, other: JobPolicies) -> bool {
        self.0 & other.0 == other.0
    }

    /// The policies of both sets.
    pub fn intersect(self, other: JobPolicies) -> JobPolicies {
        JobPolicies(self.0 & other.0)
    }

    /// The policies of either set.
    pub fn union(self, other: JobPolicies) -> JobPolicies {
        JobPolicies(self.0 | other.0)
    }

    /// Whether the set holds no policy.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The stored form.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Reads the stored form; bits no policy has are dropped.
    pub fn from_bits(bits: u32) -> JobPolicies {
        JobPolicies(bits & ALL_BITS)
    }

    /// Every policy in the set, `read` before `admin`, resources in their fixed order.
    pub fn iter(self) -> impl Iterator<Item = JobPolicy> {
        JobResource::ALL.into_iter().flat_map(move |resource| {
            [JobLevel::Read, JobLevel::Admin]
                .into_iter()
                .map(move |level| JobPolicy { level, resource })
                .filter(move |p| self.contains(*p))
        })
    }

    /// The policies by name; an unknown name is an error naming it.
    pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<JobPolicies, String> {
        let mut set = JobPolicies::NONE;
        for name in names {
            let policy = JobPolicy::parse(name).ok_or_else(|| format!("unknown job token policy {name:?}"))?;
            set.insert(policy);
        }
        Ok(set)
    }

    /// The narrowest names that give this set: `admin_x` alone where both levels are present.
    pub fn names(self) -> Vec<String> {
        self.iter()
            .filter(|p| {
                p.level == JobLevel::Admin || !self.contains(JobPolicy { level: JobLevel::Admin, resource: p.resource })
            })
            .map(|p| p.to_string())
            .collect()
    }
}

/// Why a job's `permissions:` could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionsError(pub String);

impl fmt::Display for PermissionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest `permissions:` text accepted.
pub const MAX_PERMISSIONS_TEXT: usize = 4096;

/// Reads a job's `permissions:` as written in `.gitlab-ci.yml`: a map from resource to `none`, `read` or
/// `admin`, in block style (one `resource: level` per line) or flow style (`{releases: read, packages: admin}`),
/// with or without the enclosing `permissions:` key, comments allowed. Unknown resources and levels, duplicate
/// resources, and anything that is not such a map are errors. An empty map declares no permission at all.
pub fn parse_job_permissions(text: &str) -> Result<JobPolicies, PermissionsError> {
    let fail = |m: String| Err(PermissionsError(m));
    if text.len() > MAX_PERMISSIONS_TEXT {
        return fail(format!("permissions is longer than {MAX_PERMISSIONS_TEXT} characters"));
    }
    let lines: Vec<&str> = text.lines().map(strip_comment).collect::<Result<_, _>>()?;
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
    let body: String = match lines.as_slice() {
        [] => return fail("permissions is empty".into()),
        [first, rest @ ..] if first.trim_start().starts_with("permissions:") => {
            let after = first.trim_start().trim_start_matches("permissions:").trim();
            if !after.is_empty() && !rest.is_empty() {
                return fail("permissions: give the map either on its line or below it, not both".into());
            }
            if after.is_empty() {
                if rest.iter().any(|l| !l.starts_with([' ', '\t'])) {
                    return fail("permissions: expected only indented `resource: level` lines below it".into());
                }
                rest.join("\n")
            } else {
                after.to_owned()
            }
        }
        _ => lines.join("\n"),
    };
    let pairs: Vec<(String, String)> = if let Some(inner) = body.trim().strip_prefix('{') {
        let Some(inner) = inner.trim_end().strip_suffix('}') else { return fail("permissions: unclosed `{`".into()) };
        if inner.trim().is_empty() {
            Vec::new()
        } else {
            inner.split(',').map(|item| pair(item.trim())).collect::<Result<_, _>>()?
        }
    } else {
        let indent = |l: &str| l.len() - l.trim_start().len();
        let lines: Vec<&str> = body.lines().collect();
        let first = lines.iter().map(|l| indent(l)).min().unwrap_or(0);
        lines
            .iter()
            .map(|line| {
                if indent(line) != first {
                    return Err(PermissionsError("permissions: nested values are not allowed".into()));
                }
                pair(line.trim())
            })
            .collect::<Result<_, _>>()?
    };
    let mut seen = Vec::new();
    let mut set = JobPolicies::NONE;
    for (resource_name, level) in pairs {
        let Some(resource) = JobResource::parse(&resource_name) else {
            let known: Vec<&str> = JobResource::ALL.iter().map(|r| r.as_str()).collect();
            return fail(format!("permissions: unknown resource {resource_name:?} (known: {})", known.join(", ")));
        };
        if seen.contains(&resource) {
            return fail(format!("permissions: {resource_name} is given twice"));
        }
        seen.push(resource);
        match level.as_str() {
            "none" => {}
            "read" => set.insert(JobPolicy { level: JobLevel::Read, resource }),
            "admin" => set.insert(JobPolicy { level: JobLevel::Admin, resource }),
            other => {
                return fail(format!("permissions: {resource_name}: unknown level {other:?} (none, read or admin)"));
            }
        }
    }
    Ok(set)
}

/// A line without its comment (`#` outside quotes, at the start or after a space).
fn strip_comment(line: &str) -> Result<&str, PermissionsError> {
    if line.get(..line.len() - line.trim_start().len()).is_some_and(|indent| indent.contains('\t')) {
        return Err(PermissionsError("permissions: tabs are not allowed for indentation".into()));
    }
    let mut quote = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if previous == ' ' => return Ok(line.get(..i).unwrap_or("")),
            _ => {}
        }
        previous = c;
    }
    Ok(line)
}

/// `key: value`, either side optionally quoted.
fn pair(item: &str) -> Result<(String, String), PermissionsError> {
    let Some((key, value)) = item.split_once(':') else {
        return Err(PermissionsError(format!("permissions: expected `resource: level`, found {item:?}")));
    };
    Ok((unquote(key.trim())?, unquote(value.trim())?))
}

fn unquote(s: &str) -> Result<String, PermissionsError> {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q) {
            return match inner.strip_suffix(q) {
                Some(inner) => Ok(inner.to_owned()),
                None => Err(PermissionsError(format!("permissions: unclosed quote in {s:?}"))),
            };
        }
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(PermissionsError(format!("permissions: expected a plain word, found {s:?}")));
    }
    Ok(s.to_owned())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        parse_job_permissions(text).map(JobPolicies::names).unwrap_or_else(|e| vec![format!("error: {e}")])
    }

    #[test]
    fn permissions_are_read_in_block_and_flow_style() {
        assert_eq!(
            names("permissions: {releases: read, packages: admin, deployments: none}"),
            ["admin_packages", "read_releases"]
        );
        assert_eq!(
            names("permissions:\n  releases: read  # comment\n  packages: admin\n"),
            ["admin_packages", "read_releases"]
        );
        assert_eq!(names("releases: read\nrepositories: admin"), ["read_releases", "admin_repositories"]);
        assert_eq!(names("{\"secure_files\": \"read\"}"), ["read_secure_files"]);
        assert_eq!(names("permissions: {}"), Vec::<String>::new());
    }

    #[test]
    fn unknown_resources_levels_and_shapes_are_errors() {
        for bad in [
            "",
            "permissions: {issues: read}",
            "permissions: {releases: write}",
            "releases: read\nreleases: admin",
            "permissions:\n  releases:\n    nested: read",
            "permissions: {releases: read",
            "- releases",
            "releases: [read]",
            "permissions: {releases: read}\n  packages: read",
        ] {
            assert!(parse_job_permissions(bad).is_err(), "{bad:?} was accepted");
        }
        let long = "releases: read\n".repeat(400);
        assert!(parse_job_permissions(&long).is_err());
    }

    #[test]
    fn admin_includes_read_and_sets_intersect() {
        let mut set = JobPolicies::NONE;
        set.insert(JobPolicy::parse("admin_packages").expect("known"));
        assert!(set.contains(JobPolicy::parse("read_packages").expect("known")));
        let read_only = JobPolicies::parse_names(["read_packages"]).expect("known");
        assert_eq!(set.intersect(read_only), read_only);
        assert!(!read_only.covers(set));
        assert_eq!(JobPolicies::ALL.iter().count(), 20);
        assert_eq!(JobPolicies::from_bits(JobPolicies::ALL.bits()), JobPolicies::ALL);
        assert!(JobPolicies::parse_names(["write_packages"]).is_err());
    }

    #[test]
    fn the_default_set_reads_everything_and_writes_what_jobs_publish() {
        let set = JobPolicies::default_for_jobs();
        assert!(JobResource::ALL.iter().all(|&resource| set.contains(JobPolicy { level: JobLevel::Read, resource })));
        assert_eq!(
            set.names(),
            [
                "admin_containers",
                "read_deployments",
                "read_environments",
                "read_jobs",
                "admin_packages",
                "admin_releases",
                "read_secure_files",
                "admin_terraform_state",
                "read_pipelines",
                "read_repositories"
            ]
        );
    }

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
