//! The facts one decision reads, asked of storage at once: a user token and its user (or a CI job, its project and
//! its user), the group or project a route names with the top-level group above it, the user's memberships there,
//! and the instance's settings. On a database server each separate read is a round trip, and several of them
//! depend on each other (the user on the token, the top-level group on the project, the memberships on both); read
//! together they are one.
//!
//! **Invariant:** what [`DecisionStore::decision_facts`] answers is what the aggregates' own reads answer for the
//! same keys ([`one_by_one`] is that definition, and what an embedded database runs); it writes nothing.

use async_trait::async_trait;
use domain::{AccessLevel, Date, Group, Job, MemberSource, Project, Settings, Token, User};

use super::{CiStore, MemberStore, NamespaceStore, SettingsStore, StoreResult, TokenStore, UserStore};

/// How the decision's user token is looked up.
#[derive(Debug, Clone, Copy)]
pub enum TokenKey<'a> {
    /// By the digests its presented string may be stored under (the current key's first).
    Digests(&'a [String]),
    /// By id, the presented string being known already.
    Id(i64),
    /// A CI job token's job, by the id its checked claims name: the job, its project and its user are read, and
    /// the memberships asked are that user's.
    Job(i64),
}

/// How the group or project a route names is looked up (a path regardless of case, as the single reads do).
#[derive(Debug, Clone, Copy)]
pub enum ResourceKey<'a> {
    ProjectId(i64),
    ProjectPath(&'a str),
    GroupId(i64),
    GroupPath(&'a str),
}

/// What one decision asks of storage.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub token: Option<TokenKey<'a>>,
    pub resource: Option<ResourceKey<'a>>,
    /// The day memberships must be unexpired on.
    pub today: Date,
}

/// What storage holds for an [`Asked`].
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub token: Option<Token>,
    /// The CI job asked about ([`TokenKey::Job`]).
    pub job: Option<Job>,
    /// The job's own project.
    pub job_project: Option<Project>,
    /// The token's user, or the job's.
    pub user: Option<User>,
    /// The project asked about (by a project key).
    pub project: Option<Project>,
    /// The group asked about (by a group key).
    pub group: Option<Group>,
    /// The top-level group above the project or group found, when that is not the group itself.
    pub root: Option<Group>,
    /// The user's memberships among the resource's [`member_sources`](Project::member_sources), unexpired
    /// on the day asked, in no particular order: empty unless both the user and the resource were found.
    pub levels: Vec<(MemberSource, AccessLevel)>,
    pub settings: Settings,
}

impl Found {
    /// Where a membership gives access to the project or group found (none when neither was).
    pub fn member_sources(&self) -> impl Iterator<Item = MemberSource> + '_ {
        let project = self.project.iter().flat_map(|project| project.member_sources());
        project.chain(self.group.iter().flat_map(|group| group.member_sources()))
    }
}

/// Reads a decision's facts in one go.
#[async_trait]
pub trait DecisionStore: Send + Sync {
    async fn decision_facts(&self, asked: &Asked<'_>) -> StoreResult<Found>;
}

/// What [`DecisionStore::decision_facts`] answers, read one fact after the other through the aggregates' reads.
pub async fn one_by_one<S>(store: &S, asked: &Asked<'_>) -> StoreResult<Found>
where
    S: TokenStore + UserStore + NamespaceStore + MemberStore + SettingsStore + CiStore + ?Sized,
{
    let (token, job) = match asked.token {
        Some(TokenKey::Digests(digests)) => (store.token_by_digest(digests).await?, None),
        Some(TokenKey::Id(id)) => (store.token(id).await?, None),
        Some(TokenKey::Job(id)) => (None, store.job(id).await?),
        None => (None, None),
    };
    let job_project = match &job {
        Some(job) => store.project(job.project_id).await?,
        None => None,
    };
    let user = match token.as_ref().map(|t| t.user_id).or(job.as_ref().map(|j| j.user_id)) {
        Some(id) => store.user(id).await?,
        None => None,
    };
    let (project, group) = match asked.resource {
        Some(ResourceKey::ProjectId(id)) => (store.project(id).await?, None),
        Some(ResourceKey::ProjectPath(path)) => (store.project_by_path(path).await?, None),
        Some(ResourceKey::GroupId(id)) => (None, store.group(id).await?),
        Some(ResourceKey::GroupPath(path)) => (None, store.group_by_path(path).await?),
        None => (None, None),
    };
    let root_id = match (&project, &group) {
        (Some(project), _) => project.root_group_id(),
        (None, Some(group)) => group.top_level_above(),
        (None, None) => None,
    };
    let root = match root_id {
        Some(id) => store.group(id).await?,
        None => None,
    };
    let settings = store.settings().await?;
    let mut found = Found { token, job, job_project, user, project, group, root, levels: Vec::new(), settings };
    let sources: Vec<MemberSource> = found.member_sources().collect();
    if let Some(user) = &found.user
        && !sources.is_empty()
    {
        found.levels = store.member_levels(user.id, &sources, asked.today).await?;
    }
    Ok(found)
}
