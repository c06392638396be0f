//! Job-token policies: what a CI job token may do, as a level (`read` or `admin`) on one of the resources job
//! tokens may touch, and a job's `permissions:` that declares them. `admin_x` includes `read_x`. A set of
//! policies is a bit set, so that the intersections a request needs cost nothing.
//!
//! **Invariant:** `admin_x` always includes `read_x`, and unknown resources, levels or shapes are errors, never
//! ignored.

use std::fmt;

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
}
