//! Cached reads of the facts a decision needs: a hit is shared, never copied, and touches no storage; a miss
//! reads the store and fills the [`FactCache`].
//!
//! **Invariant:** these are the only reads that fill the cache, and they fill it only through
//! [`FactCache::keep`], so that a value read before a change is never kept after it. Writes never pass here:
//! the store announces them.

use std::hash::Hash;
use std::sync::Arc;

use domain::{
    AllowlistSource, Date, DeployToken, Group, Job, JobPolicies, MemberSource, PipelineTrigger, Project, Settings,
    Timestamp, Token, TokenFacts, User, UserSecret, nearest_allowed,
};
use quick_cache::Equivalent;

use crate::directory::Sources;
use crate::facts::{CompiledToken, FactCache, Levels, LevelsKey, LevelsQuery};
use crate::near::{NearKey, Tier};
use crate::store::{Asked, ResourceKey, Store, StoreResult, TokenKey};

/// The store's decision facts, read through the fact cache.
pub(crate) struct Facts {
    store: Arc<dyn Store>,
    cache: Arc<FactCache>,
}

impl Facts {
    pub(crate) fn new(store: Arc<dyn Store>, cache: Arc<FactCache>) -> Facts {
        Facts { store, cache }
    }

    /// Reads one fact through its cache: a hit is shared, not copied; a miss is loaded and kept unless a change
    /// happened meanwhile. `remember_missing` keeps an absent answer too (for what a write announces when it
    /// creates it: groups and projects).
    async fn read_through<K, Q, T, F>(
        &self,
        tier: &Tier<K, Option<Arc<T>>>,
        lookup: &Q,
        key: impl Fn() -> K,
        remember_missing: bool,
        load: impl FnOnce() -> F,
    ) -> StoreResult<Option<Arc<T>>>
    where
        K: Eq + Hash + Send,
        Q: NearKey + Hash + Equivalent<K> + ?Sized,
        T: Send + Sync,
        F: Future<Output = StoreResult<Option<T>>>,
    {
        if let Some(hit) = self.cache.get_near(tier, lookup, &key) {
            return Ok(hit);
        }
        // The store's future is made only on a miss (making it boxes it), after the generation is read.
        let generation = self.cache.generation();
        let value = load().await?.map(Arc::new);
        if value.is_some() || remember_missing {
            self.cache.keep(&tier.shared, generation, key(), lookup, value.clone());
        }
        Ok(value)
    }

    /// A user token's decision facts: a hit copies 88 bytes and touches no storage; a miss reads the row and
    /// keeps its facts (and a restricted token's compiled rules and grants, from the same row).
    pub(crate) async fn token(&self, catalog: &catalog::Catalog, id: i64) -> StoreResult<Option<TokenFacts>> {
        if let Some(hit) = self.cache.get_near(&self.cache.tokens, &id, || id) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let row = self.store.token(id).await?;
        Ok(row.map(|row| self.keep_token(catalog, generation, &row)))
    }

    /// The decision facts of the token stored under one of `digests`, kept by id for the requests that follow.
    pub(crate) async fn token_by_digest(
        &self,
        catalog: &catalog::Catalog,
        digests: &[String],
    ) -> StoreResult<Option<TokenFacts>> {
        let generation = self.cache.generation();
        let row = self.store.token_by_digest(digests).await?;
        Ok(row.map(|row| self.keep_token(catalog, generation, &row)))
    }

    /// Keeps what a decision needs of a token's row, read at `generation`: its facts, and for a restricted token
    /// its rules and grants compiled. The row itself is not kept.
    fn keep_token(&self, catalog: &catalog::Catalog, generation: u64, row: &Token) -> TokenFacts {
        let facts = TokenFacts::from(row);
        if facts.restricted {
            let compiled = Arc::new(CompiledToken::of(catalog, row));
            self.cache.keep(&self.cache.token_compiled.shared, generation, row.id, &row.id, compiled);
        }
        self.cache.keep(&self.cache.tokens.shared, generation, row.id, &row.id, Some(facts));
        facts
    }

    /// A restricted token's allowlist rules and grants, compiled (neither changes for an id: a rotation makes a
    /// new token): kept with its facts, read from its row again if they were evicted apart. `None` when the row
    /// is gone.
    pub(crate) async fn compiled_of(
        &self,
        catalog: &catalog::Catalog,
        token: &TokenFacts,
    ) -> StoreResult<Option<Arc<CompiledToken>>> {
        if let Some(compiled) = self.cache.get_near(&self.cache.token_compiled, &token.id, || token.id) {
            return Ok(Some(compiled));
        }
        let generation = self.cache.generation();
        let Some(row) = self.store.token(token.id).await? else { return Ok(None) };
        let compiled = Arc::new(CompiledToken::of(catalog, &row));
        self.cache.keep(&self.cache.token_compiled.shared, generation, row.id, &row.id, compiled.clone());
        Ok(Some(compiled))
    }

    /// Puts a use into the cached facts of the token, if they are cached. A use is not a decision fact: nothing
    /// is announced for it.
    pub(crate) fn note_use(&self, id: i64, last_used_at: Timestamp, address: Option<&str>) {
        let generation = self.cache.generation();
        if let Some(Some(cached)) = self.cache.get(&self.cache.tokens.shared, &id) {
            self.cache.replace(&self.cache.tokens, generation, id, Some(cached.used(last_used_at, address)));
        }
    }

    pub(crate) async fn deploy_token(&self, id: i64) -> StoreResult<Option<Arc<DeployToken>>> {
        self.read_through(&self.cache.deploy_tokens, &id, || id, false, || self.store.deploy_token(id)).await
    }

    /// Puts a use into the cached copy of a deploy token, if there is one (a use announces nothing).
    pub(crate) fn note_deploy_use(&self, id: i64, at: Timestamp, ips: Vec<String>) {
        let generation = self.cache.generation();
        if let Some(Some(cached)) = self.cache.get(&self.cache.deploy_tokens.shared, &id) {
            let token = DeployToken { last_used_at: Some(at), last_used_ips: ips, ..DeployToken::clone(&cached) };
            self.cache.replace(&self.cache.deploy_tokens, generation, id, Some(Arc::new(token)));
        }
    }

    /// The deploy token stored under one of `digests`, kept by id for the requests that follow.
    pub(crate) async fn deploy_token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Arc<DeployToken>>> {
        let generation = self.cache.generation();
        let token = self.store.deploy_token_by_digest(digests).await?.map(Arc::new);
        if let Some(token) = &token {
            self.cache.keep(&self.cache.deploy_tokens.shared, generation, token.id, &token.id, Some(token.clone()));
        }
        Ok(token)
    }

    pub(crate) async fn trigger(&self, id: i64) -> StoreResult<Option<Arc<PipelineTrigger>>> {
        self.read_through(&self.cache.triggers, &id, || id, false, || self.store.trigger(id)).await
    }

    /// The trigger stored under one of `digests`, kept by id for the requests that follow.
    pub(crate) async fn trigger_by_digest(&self, digests: &[String]) -> StoreResult<Option<Arc<PipelineTrigger>>> {
        let generation = self.cache.generation();
        let trigger = self.store.trigger_by_digest(digests).await?.map(Arc::new);
        if let Some(trigger) = &trigger {
            self.cache.keep(&self.cache.triggers.shared, generation, trigger.id, &trigger.id, Some(trigger.clone()));
        }
        Ok(trigger)
    }

    pub(crate) async fn user_secret(&self, id: i64) -> StoreResult<Option<Arc<UserSecret>>> {
        self.read_through(&self.cache.user_secrets, &id, || id, false, || self.store.user_secret(id)).await
    }

    /// Puts a use into the cached copy of a feed or incoming-email token, if there is one (a use announces
    /// nothing).
    pub(crate) fn note_secret_use(&self, id: i64, at: Timestamp, ips: Vec<String>) {
        let generation = self.cache.generation();
        if let Some(Some(cached)) = self.cache.get(&self.cache.user_secrets.shared, &id) {
            let secret = UserSecret { last_used_at: Some(at), last_used_ips: ips, ..UserSecret::clone(&cached) };
            self.cache.replace(&self.cache.user_secrets, generation, id, Some(Arc::new(secret)));
        }
    }

    /// The feed or incoming-email token stored under one of `digests`, kept by id for the requests that follow.
    pub(crate) async fn user_secret_by_digest(&self, digests: &[String]) -> StoreResult<Option<Arc<UserSecret>>> {
        let generation = self.cache.generation();
        let secret = self.store.user_secret_by_digest(digests).await?.map(Arc::new);
        if let Some(secret) = &secret {
            self.cache.keep(&self.cache.user_secrets.shared, generation, secret.id, &secret.id, Some(secret.clone()));
        }
        Ok(secret)
    }

    pub(crate) async fn user(&self, id: i64) -> StoreResult<Option<Arc<User>>> {
        self.read_through(&self.cache.users, &id, || id, false, || self.store.user(id)).await
    }

    pub(crate) async fn group(&self, id: i64) -> StoreResult<Option<Arc<Group>>> {
        self.read_through(&self.cache.groups, &id, || id, true, || self.store.group(id)).await
    }

    pub(crate) async fn group_by_path(&self, path: &str) -> StoreResult<Option<Arc<Group>>> {
        let load = || self.store.group_by_path(path);
        self.read_through(&self.cache.group_paths, path, || path.to_owned(), true, load).await
    }

    pub(crate) async fn project(&self, id: i64) -> StoreResult<Option<Arc<Project>>> {
        self.read_through(&self.cache.projects, &id, || id, true, || self.store.project(id)).await
    }

    pub(crate) async fn project_by_path(&self, path: &str) -> StoreResult<Option<Arc<Project>>> {
        let load = || self.store.project_by_path(path);
        self.read_through(&self.cache.project_paths, path, || path.to_owned(), true, load).await
    }

    /// Reads the facts of one decision at once (see [`crate::DecisionStore`]) and keeps each as its own read
    /// would: the token (and, asked by digest, what the string whose key is `presented` is) or the CI job and its
    /// project, the user, the group or project by the key asked, the top-level group above it, the user's levels
    /// there on the day asked, and the settings. The reads the decision makes next find them.
    pub(crate) async fn read_at_once(
        &self,
        catalog: &catalog::Catalog,
        asked: &Asked<'_>,
        presented: u128,
    ) -> StoreResult<()> {
        let generation = self.cache.generation();
        let found = self.store.decision_facts(asked).await?;
        let sources = (found.project.is_some() || found.group.is_some()).then(|| Sources::of(found.member_sources()));
        let cache = &self.cache;
        if let Some(TokenKey::Digests(_)) = asked.token {
            cache.remember_presented(generation, presented, found.token.as_ref().map(|t| t.id));
        }
        if let Some(token) = &found.token {
            self.keep_token(catalog, generation, token);
        }
        // A job not found is not kept as missing, as its own read does not keep it.
        if let Some(job) = found.job {
            let id = job.id;
            cache.keep(&cache.jobs.shared, generation, id, &id, Some(Arc::new(job)));
        }
        if let Some(project) = found.job_project {
            let id = project.id;
            cache.keep(&cache.projects.shared, generation, id, &id, Some(Arc::new(project)));
        }
        let user_id = found.user.as_ref().map(|u| u.id);
        if let Some(user) = found.user {
            let id = user.id;
            cache.keep(&cache.users.shared, generation, id, &id, Some(Arc::new(user)));
        }
        let (project, group) = (found.project.map(Arc::new), found.group.map(Arc::new));
        // A resource not found is kept as missing, as its own read keeps it.
        match asked.resource {
            Some(ResourceKey::ProjectId(id)) => cache.keep(&cache.projects.shared, generation, id, &id, project),
            Some(ResourceKey::ProjectPath(path)) => {
                cache.keep(&cache.project_paths.shared, generation, path.to_owned(), path, project);
            }
            Some(ResourceKey::GroupId(id)) => cache.keep(&cache.groups.shared, generation, id, &id, group),
            Some(ResourceKey::GroupPath(path)) => {
                cache.keep(&cache.group_paths.shared, generation, path.to_owned(), path, group);
            }
            None => {}
        }
        if let Some(root) = found.root {
            let id = root.id;
            cache.keep(&cache.groups.shared, generation, id, &id, Some(Arc::new(root)));
        }
        if let (Some(user_id), Some(sources)) = (user_id, sources) {
            let query = LevelsQuery { user_id, today: asked.today, sources: sources.as_slice() };
            let key = LevelsKey { user_id, today: asked.today, sources: sources.as_slice().into() };
            cache.keep(&cache.levels.shared, generation, key, &query, Levels::from(found.levels));
        }
        self.keep_settings(generation, Arc::new(found.settings));
        Ok(())
    }

    /// Whether the token with id `id`, and the group or project by `resource`, are cached (a decision asking
    /// about them reads nothing more of storage than their levels and settings).
    pub(crate) fn holds(&self, id: i64, resource: Option<ResourceKey<'_>>) -> bool {
        self.holds_resource(resource) && self.cache.get(&self.cache.tokens.shared, &id).is_some()
    }

    /// Whether the group or project by `resource` is cached (no resource: nothing to hold).
    pub(crate) fn holds_resource(&self, resource: Option<ResourceKey<'_>>) -> bool {
        let cache = &self.cache;
        match resource {
            Some(ResourceKey::ProjectId(id)) => cache.get(&cache.projects.shared, &id).is_some(),
            Some(ResourceKey::ProjectPath(path)) => cache.get(&cache.project_paths.shared, path).is_some(),
            Some(ResourceKey::GroupId(id)) => cache.get(&cache.groups.shared, &id).is_some(),
            Some(ResourceKey::GroupPath(path)) => cache.get(&cache.group_paths.shared, path).is_some(),
            None => true,
        }
    }

    /// Whether the job with id `id` is cached.
    pub(crate) fn holds_job(&self, id: i64) -> bool {
        self.cache.get(&self.cache.jobs.shared, &id).is_some()
    }

    pub(crate) async fn settings(&self) -> StoreResult<Arc<Settings>> {
        if self.cache.is_enabled() {
            let generation = self.cache.generation();
            if let Some(copied) = self.cache.settings_near.get(&(), generation) {
                return Ok(copied);
            }
            if let Ok(cached) = self.cache.settings.read()
                && let Some(settings) = cached.as_ref()
            {
                self.cache.settings_near.put(&(), || (), generation, settings.clone());
                return Ok(settings.clone());
            }
        }
        let generation = self.cache.generation();
        let settings = Arc::new(self.store.settings().await?);
        self.keep_settings(generation, settings.clone());
        Ok(settings)
    }

    /// Keeps the settings read at `generation`, unless a change happened since.
    fn keep_settings(&self, generation: u64, settings: Arc<Settings>) {
        if self.cache.is_enabled()
            && self.cache.generation() == generation
            && let Ok(mut cached) = self.cache.settings.write()
            && self.cache.generation() == generation
        {
            *cached = Some(settings);
        }
    }

    pub(crate) async fn job(&self, id: i64) -> StoreResult<Option<Arc<Job>>> {
        self.read_through(&self.cache.jobs, &id, || id, false, || self.store.job(id)).await
    }

    /// Keeps a job this node has just written, as a read made at `generation` would have.
    pub(crate) fn remember_job(&self, generation: u64, job: &Job) {
        self.cache.keep(&self.cache.jobs.shared, generation, job.id, &job.id, Some(Arc::new(job.clone())));
    }

    /// What the allowlist of `target` lets jobs of `source` do there: the policies of the nearest entry naming
    /// the project or one of its groups (the project's own entry first, then the deepest group), or `None` when
    /// no entry names them.
    pub(crate) async fn allowlisted(&self, target: i64, source: &Project) -> StoreResult<Option<JobPolicies>> {
        let key = (target, source.id);
        if let Some(hit) = self.cache.get_near(&self.cache.allowlisted, &key, || key) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let sources = AllowlistSource::of_project(source);
        let entries = self.store.allowlist_entries(target, &sources).await?;
        let nearest = nearest_allowed(&entries, &sources);
        self.cache.keep(&self.cache.allowlisted.shared, generation, key, &key, nearest);
        Ok(nearest)
    }

    /// The user's levels on `sources` today, shared.
    pub(crate) async fn levels(&self, user_id: i64, sources: &[MemberSource], today: Date) -> StoreResult<Levels> {
        let query = LevelsQuery { user_id, today, sources };
        let key = || LevelsKey { user_id, today, sources: sources.into() };
        if let Some(levels) = self.cache.get_near(&self.cache.levels, &query, key) {
            return Ok(levels);
        }
        let generation = self.cache.generation();
        let levels = Levels::from(self.store.member_levels(user_id, sources, today).await?);
        self.cache.keep(&self.cache.levels.shared, generation, key(), &query, levels.clone());
        Ok(levels)
    }
}
