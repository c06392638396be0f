//! The hot path's memory: the facts a decision needs (tokens, users, settings, groups, projects, membership
//! levels), kept so that a request whose facts are known touches no storage.
//!
//! Correctness comes first. Every write goes through [`CachedStore`], which forgets what the write changed. On
//! PostgreSQL the write's own transaction also announces it as a [`Change`] (triggers, `NOTIFY` at commit); every
//! node receives it (`LISTEN`, wired by `server`) and forgets the same facts. A fill races with a concurrent
//! change through a generation counter: a value read before a change is never kept after it. While the change
//! feed is down the cache is disabled (every read goes to storage) and it is emptied when the feed comes back, so
//! a missed notification cannot leave a stale fact behind.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use async_trait::async_trait;
use domain::{
    AccessLevel, AllowlistEntry, AllowlistSource, AuditEvent, Date, Group, Job, JobPolicies, JobStatus, JobTokenAccess,
    JobTokenSettings, Member, MemberSource, NewAuditEvent, Notification, Organization, Pipeline, Project, Runner,
    Settings, StoredKey, Timestamp, Token, TokenUsage, UsageBoundary, User,
};
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, UnitWeighter};
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::store::*;

/// What a write changed, as other nodes learn it: the `NOTIFY` payloads PostgreSQL's triggers send
/// (`store` migration `0002_announce_changes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A token's state (revoked, rotated).
    Token(i64),
    /// A user's facts (blocked, administrator, external, username).
    User(i64),
    /// Groups, projects or memberships: paths, visibility, ancestry and levels may all move.
    Directory,
    Settings,
    /// A CI job's state.
    Job(i64),
    /// The signing keys of job tokens and ID tokens.
    Keys,
    /// Anything: forget everything.
    All,
}

impl Change {
    /// Reads a change; anything unreadable means "forget everything", the safe answer.
    pub fn decode(text: &str) -> Change {
        let id = |s: &str| s.parse::<i64>().ok();
        match text.split_once(':') {
            Some(("t", rest)) => id(rest).map_or(Change::All, Change::Token),
            Some(("u", rest)) => id(rest).map_or(Change::All, Change::User),
            Some(("j", rest)) => id(rest).map_or(Change::All, Change::Job),
            _ => match text {
                "d" => Change::Directory,
                "s" => Change::Settings,
                "k" => Change::Keys,
                _ => Change::All,
            },
        }
    }
}

/// What a presented token string is known to be, keyed by a keyed hash of the string (never the string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Known(i64),
    Unknown,
}

/// Hashes the presented-token keys, which are already secret-keyed SipHash outputs: their own bits are as good
/// a table hash as any and hashing them again would only cost time on every request.
#[derive(Debug, Clone, Copy, Default)]
struct AlreadyHashed;

impl BuildHasher for AlreadyHashed {
    type Hasher = Folded;

    fn build_hasher(&self) -> Folded {
        Folded(0)
    }
}

struct Folded(u64);

impl Hasher for Folded {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, key: u128) {
        self.0 ^= (key as u64) ^ ((key >> 64) as u64);
    }

    /// Only `u128` keys are hashed here; anything else still gets every byte mixed in.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// A membership-levels question: the user, the sources asked about and the day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct LevelsKey {
    user_id: i64,
    today: Date,
    sources: Box<[MemberSource]>,
}

#[derive(Hash)]
struct LevelsQuery<'a> {
    user_id: i64,
    today: Date,
    sources: &'a [MemberSource],
}

impl Equivalent<LevelsKey> for LevelsQuery<'_> {
    fn equivalent(&self, key: &LevelsKey) -> bool {
        self.user_id == key.user_id && self.today == key.today && *self.sources == *key.sources
    }
}

/// A user's levels on the sources asked about, shared.
pub type Levels = Arc<[(MemberSource, AccessLevel)]>;

/// The cached facts. One per process, shared by the store decorator and `Authority`.
pub struct FactCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    keys: (u64, u64),
    presented: Cache<u128, Presented, UnitWeighter, AlreadyHashed>,
    tokens: Cache<i64, Option<Arc<Token>>>,
    users: Cache<i64, Option<Arc<User>>>,
    settings: RwLock<Option<Arc<Settings>>>,
    groups: Cache<i64, Option<Arc<Group>>>,
    group_paths: Cache<String, Option<Arc<Group>>>,
    projects: Cache<i64, Option<Arc<Project>>>,
    project_paths: Cache<String, Option<Arc<Project>>>,
    levels: Cache<LevelsKey, Levels>,
    jobs: Cache<i64, Option<Arc<Job>>>,
    /// What the nearest allowlist entry of a project (first) lets jobs of another project (second) do there.
    allowlisted: Cache<(i64, i64), Option<JobPolicies>>,
    /// Job tokens whose signature was checked, by the keyed hash of the presented string.
    job_tokens: Cache<u128, Arc<crate::ci::VerifiedJobToken>, UnitWeighter, AlreadyHashed>,
    /// Moves on every change of the signing keys: whoever holds keys reloads them when it has moved.
    keys_generation: AtomicU64,
}

impl FactCache {
    /// A cache holding at most `capacity` entries of each kind, disabled until [`FactCache::enable`].
    pub fn new(capacity: usize) -> FactCache {
        let capacity = capacity.max(16);
        let mut seed = [0u8; 16];
        // Without randomness the keyed hash would be predictable; fall back to a disabled cache key of zeros
        // only in the impossible case that the OS has no random source (the cache stays correct either way:
        // a hit still loads the token by id and checks its state).
        let _ = getrandom::fill(&mut seed);
        let (k0, k1) = seed.split_at(8);
        let k0 = u64::from_le_bytes(k0.try_into().unwrap_or([0; 8]));
        let k1 = u64::from_le_bytes(k1.try_into().unwrap_or([0; 8]));
        FactCache {
            enabled: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            keys: (k0, k1),
            presented: Cache::with(capacity, capacity as u64, UnitWeighter, AlreadyHashed, Default::default()),
            tokens: Cache::new(capacity),
            users: Cache::new(capacity),
            settings: RwLock::new(None),
            groups: Cache::new(capacity),
            group_paths: Cache::new(capacity),
            projects: Cache::new(capacity),
            project_paths: Cache::new(capacity),
            levels: Cache::new(capacity),
            jobs: Cache::new(capacity),
            allowlisted: Cache::new(capacity),
            job_tokens: Cache::with(capacity, capacity as u64, UnitWeighter, AlreadyHashed, Default::default()),
            keys_generation: AtomicU64::new(0),
        }
    }

    /// Starts serving from memory, from empty.
    pub fn enable(&self) {
        self.forget(Change::All);
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Stops serving from memory (the change feed is down): every read goes to storage until `enable`.
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        self.forget(Change::All);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    /// Forgets what `change` may have made stale. Called for local writes and for changes other nodes publish.
    pub fn forget(&self, change: Change) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Token(id) => {
                self.tokens.remove(&id);
            }
            Change::User(id) => {
                self.users.remove(&id);
            }
            Change::Directory => self.forget_directory(),
            Change::Settings => self.forget_settings(),
            Change::Job(id) => {
                self.jobs.remove(&id);
            }
            Change::Keys => self.forget_keys(),
            Change::All => {
                self.presented.clear();
                self.tokens.clear();
                self.users.clear();
                self.jobs.clear();
                self.forget_settings();
                self.forget_directory();
                self.forget_keys();
            }
        }
    }

    fn forget_keys(&self) {
        self.keys_generation.fetch_add(1, Ordering::SeqCst);
        self.job_tokens.clear();
    }

    /// The generation of the signing keys: it moves whenever they change here or on another node.
    pub fn keys_generation(&self) -> u64 {
        self.keys_generation.load(Ordering::SeqCst)
    }

    /// A job token seen before, with its signature checked then (its times still need checking now).
    pub(crate) fn verified_job_token(&self, key: u128) -> Option<Arc<crate::ci::VerifiedJobToken>> {
        self.get(&self.job_tokens, &key)
    }

    pub(crate) fn remember_job_token(&self, generation: u64, key: u128, claims: Arc<crate::ci::VerifiedJobToken>) {
        self.keep(&self.job_tokens, generation, key, &key, claims);
    }

    fn forget_directory(&self) {
        self.groups.clear();
        self.group_paths.clear();
        self.projects.clear();
        self.project_paths.clear();
        self.levels.clear();
        self.allowlisted.clear();
    }

    fn forget_settings(&self) {
        if let Ok(mut settings) = self.settings.write() {
            *settings = None;
        }
    }

    /// The current generation: read it before a storage read, hand it to the fill afterwards.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Keeps `value` unless a change happened since `generation` was read (before the storage read).
    fn keep<K, Q, V, B>(&self, cache: &Cache<K, V, UnitWeighter, B>, generation: u64, key: K, lookup: &Q, value: V)
    where
        K: Eq + Hash,
        Q: Hash + Equivalent<K> + ?Sized,
        V: Clone,
        B: BuildHasher + Clone,
    {
        if !self.is_enabled() || self.generation() != generation {
            return;
        }
        cache.insert(key, value);
        if self.generation() != generation {
            cache.remove(lookup);
        }
    }

    fn get<K, Q, V, B>(&self, cache: &Cache<K, V, UnitWeighter, B>, key: &Q) -> Option<V>
    where
        K: Eq + Hash,
        Q: Hash + Equivalent<K> + ?Sized,
        V: Clone,
        B: BuildHasher + Clone,
    {
        if !self.is_enabled() {
            return None;
        }
        cache.get(key)
    }

    /// The key under which a presented token string is remembered: SipHash-1-3/128 with a per-process random key.
    pub(crate) fn presented_key(&self, presented: &str) -> u128 {
        let mut hasher = SipHasher13::new_with_keys(self.keys.0, self.keys.1);
        hasher.write(presented.as_bytes());
        hasher.finish128().as_u128()
    }

    /// `Some(Some(id))`: the string is the token `id`; `Some(None)`: no such token; `None`: not known yet.
    pub(crate) fn presented(&self, key: u128) -> Option<Option<i64>> {
        self.get(&self.presented, &key).map(|p| match p {
            Presented::Known(id) => Some(id),
            Presented::Unknown => None,
        })
    }

    pub(crate) fn remember_presented(&self, generation: u64, key: u128, token_id: Option<i64>) {
        let value = token_id.map_or(Presented::Unknown, Presented::Known);
        self.keep(&self.presented, generation, key, &key, value);
    }

    /// Forgets that a string was unknown (it has just been issued as a token).
    pub(crate) fn issued(&self, presented: &str) {
        let key = self.presented_key(presented);
        self.presented.remove(&key);
    }

    /// Entries held, per kind, for diagnostics and tests.
    pub fn len(&self) -> usize {
        self.presented.len()
            + self.tokens.len()
            + self.users.len()
            + self.groups.len()
            + self.group_paths.len()
            + self.projects.len()
            + self.project_paths.len()
            + self.levels.len()
            + self.jobs.len()
            + self.allowlisted.len()
            + self.job_tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The most exercised pairs kept in memory between writes; past it (the writer is far behind) new pairs are
/// dropped with a warning, so that memory stays bounded.
const MAX_PENDING_EXERCISES: usize = 100_000;

/// A token's use of an assignable permission at a boundary, as gathered before it is written. The permission is
/// the address of the catalog's one shared copy of its name: the key is plain integers, cheap to hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ExerciseKey {
    token_id: i64,
    permission: usize,
    boundary: UsageBoundary,
}

#[derive(Debug, Clone)]
struct ExerciseTally {
    /// The name `permission` points at, kept with the first use of the pair.
    name: Arc<str>,
    first: Timestamp,
    last: Timestamp,
    uses: i64,
}

/// Exercised pairs waiting to be written.
type PendingExercises = HashMap<ExerciseKey, ExerciseTally, BuildHasherDefault<Mixed>>;

/// A multiply-rotate hash (FxHash's) for keys of a few integers. Not resistant to chosen collisions, which is
/// fine here: keys are ids of authenticated tokens and of resources they were allowed, and their number is capped.
#[derive(Debug, Default)]
struct Mixed(u64);

impl Hasher for Mixed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write_isize(&mut self, word: isize) {
        self.write_u64(word as u64);
    }
}

/// The allowlist sources that stand for a project: itself, then its groups from the nearest up.
pub(crate) fn allowlist_sources(project: &Project) -> Vec<AllowlistSource> {
    std::iter::once(AllowlistSource::Project(project.id))
        .chain(project.group_traversal_ids.iter().rev().map(|id| AllowlistSource::Group(*id)))
        .collect()
}

/// What the nearest entry among `entries` (all of one project's allowlist) lets in: the first of `sources` (as
/// [`allowlist_sources`] orders them) that an entry names.
pub(crate) fn nearest_allowed(entries: &[AllowlistEntry], sources: &[AllowlistSource]) -> Option<JobPolicies> {
    sources.iter().find_map(|s| entries.iter().find(|e| e.source == *s)).map(AllowlistEntry::allowed)
}

/// A [`Store`] that serves the hot path's reads from a [`FactCache`] and, on every write, forgets what the
/// write changed and publishes the change for other nodes.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<FactCache>,
    /// Token uses not yet written: token id → last use and client addresses, newest use only.
    pending_use: Mutex<HashMap<i64, (Timestamp, Vec<String>)>>,
    /// Exercised (assignable permission, boundary) pairs not yet written, tallied per token.
    pending_exercise: Mutex<PendingExercises>,
    /// Cross-project uses of job tokens not yet written, by (source project, target project).
    pending_access: Mutex<HashMap<(i64, i64), JobTokenAccess, BuildHasherDefault<Mixed>>>,
    /// Wakes the writer of [`CachedStore::flush_use`], once one is attached.
    use_writer: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Held from taking a batch until it is written, so that a flush returns only once every use recorded
    /// before it is in the store, including a batch another flush took and is still writing.
    flushing: tokio::sync::Mutex<()>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, cache: Arc<FactCache>) -> CachedStore {
        CachedStore {
            inner,
            cache,
            pending_use: Mutex::default(),
            pending_exercise: Mutex::default(),
            pending_access: Mutex::default(),
            use_writer: OnceLock::new(),
            flushing: tokio::sync::Mutex::const_new(()),
        }
    }

    /// From now on, [`CachedStore::record_use`] leaves the write to a writer that `wake` wakes and that calls
    /// [`CachedStore::flush_use`]. Usage is bookkeeping, not a decision fact: a request need not wait for it.
    pub fn write_use_in_background(&self, wake: impl Fn() + Send + Sync + 'static) {
        if self.use_writer.set(Box::new(wake)).is_err() {
            tracing::warn!("a usage writer was already attached; keeping the first");
        }
    }

    /// Records a token's use (`last_used_at`, the last client addresses): the cached copy changes now, the row
    /// now or, with a background writer attached, moments later.
    pub async fn record_use(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()> {
        let Some(wake) = self.use_writer.get() else {
            return self.touch_token(id, last_used_at, ips).await;
        };
        self.refresh_use(id, last_used_at, ips);
        if let Ok(mut pending) = self.pending_use.lock() {
            pending.insert(id, (last_used_at, ips.to_vec()));
        }
        wake();
        Ok(())
    }

    /// Records that a token's allowed request exercised `permissions` at `boundary`: tallied in memory (no
    /// text copied, no storage touched) and written with the next batch of uses. A pair not yet pending wakes
    /// the writer.
    pub fn record_exercise(&self, token_id: i64, permissions: &[Arc<str>], boundary: UsageBoundary, now: Timestamp) {
        let mut fresh = false;
        if let Ok(mut pending) = self.pending_exercise.lock() {
            for permission in permissions {
                let key = ExerciseKey { token_id, permission: Arc::as_ptr(permission).addr(), boundary };
                if let Some(tally) = pending.get_mut(&key) {
                    tally.last = now;
                    tally.uses += 1;
                } else if pending.len() < MAX_PENDING_EXERCISES {
                    pending.insert(key, ExerciseTally { name: permission.clone(), first: now, last: now, uses: 1 });
                    fresh = true;
                } else {
                    tracing::warn!(token_id, "too many token uses wait to be written: one was not recorded");
                }
            }
        }
        if fresh && let Some(wake) = self.use_writer.get() {
            wake();
        }
    }

    /// Writes every pending use. Reads of token rows and usage call it first, so that what a client is shown
    /// includes the use it just made.
    pub async fn flush_use(&self) -> StoreResult<()> {
        let _writing = self.flushing.lock().await;
        let exercises = match self.pending_exercise.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => PendingExercises::default(),
        };
        let mut first_error = None;
        if !exercises.is_empty() {
            let usage: Vec<TokenUsage> = exercises
                .into_iter()
                .map(|(key, tally)| TokenUsage {
                    token_id: key.token_id,
                    permission: tally.name.to_string(),
                    boundary: key.boundary,
                    first_used_at: tally.first,
                    last_used_at: tally.last,
                    uses: tally.uses,
                })
                .collect();
            if let Err(e) = self.inner.add_token_usage(&usage).await {
                tracing::warn!(error = ?e, pairs = usage.len(), "tokens' exercised permissions could not be recorded");
                first_error = Some(e);
            }
        }
        let access: Vec<JobTokenAccess> = match self.pending_access.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending).into_values().collect(),
            Err(_) => Vec::new(),
        };
        if !access.is_empty()
            && let Err(e) = self.inner.add_job_token_access(&access).await
        {
            tracing::warn!(error = ?e, pairs = access.len(), "job tokens' cross-project uses could not be recorded");
            first_error.get_or_insert(e);
        }
        let batch = match self.pending_use.lock() {
            Ok(mut pending) if !pending.is_empty() => std::mem::take(&mut *pending),
            _ => return first_error.map_or(Ok(()), Err),
        };
        for (id, (at, ips)) in batch {
            if let Err(e) = self.inner.touch_token(id, at, &ips).await {
                tracing::warn!(token_id = id, error = ?e, "a token's last use could not be recorded");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Puts a use into the cached copy of the token, if there is one.
    fn refresh_use(&self, id: i64, last_used_at: Timestamp, ips: &[String]) {
        let generation = self.cache.generation();
        if let Some(Some(cached)) = self.cache.get(&self.cache.tokens, &id) {
            let mut token = Token::clone(&cached);
            token.last_used_at = Some(last_used_at);
            token.last_used_ips = ips.to_vec();
            self.cache.keep(&self.cache.tokens, generation, id, &id, Some(Arc::new(token)));
        }
    }

    /// Reads one fact through its cache: a hit is shared, not copied; a miss is loaded and kept unless a change
    /// happened meanwhile. `remember_missing` keeps an absent answer too (for what a write announces when it
    /// creates it: groups and projects).
    async fn read_through<K, Q, T>(
        &self,
        cache: &Cache<K, Option<Arc<T>>>,
        lookup: &Q,
        key: impl FnOnce() -> K,
        remember_missing: bool,
        load: impl Future<Output = StoreResult<Option<T>>>,
    ) -> StoreResult<Option<Arc<T>>>
    where
        K: Eq + Hash,
        Q: Hash + Equivalent<K> + ?Sized,
    {
        if let Some(hit) = self.cache.get(cache, lookup) {
            return Ok(hit);
        }
        // Read before the load starts (a future does nothing until awaited).
        let generation = self.cache.generation();
        let value = load.await?.map(Arc::new);
        if value.is_some() || remember_missing {
            self.cache.keep(cache, generation, key(), lookup, value.clone());
        }
        Ok(value)
    }

    pub async fn shared_token(&self, id: i64) -> StoreResult<Option<Arc<Token>>> {
        self.read_through(&self.cache.tokens, &id, || id, false, self.inner.token(id)).await
    }

    pub async fn shared_user(&self, id: i64) -> StoreResult<Option<Arc<User>>> {
        self.read_through(&self.cache.users, &id, || id, false, self.inner.user(id)).await
    }

    pub async fn shared_group(&self, id: i64) -> StoreResult<Option<Arc<Group>>> {
        self.read_through(&self.cache.groups, &id, || id, true, self.inner.group(id)).await
    }

    pub async fn shared_group_by_path(&self, path: &str) -> StoreResult<Option<Arc<Group>>> {
        let load = self.inner.group_by_path(path);
        self.read_through(&self.cache.group_paths, path, || path.to_owned(), true, load).await
    }

    pub async fn shared_project(&self, id: i64) -> StoreResult<Option<Arc<Project>>> {
        self.read_through(&self.cache.projects, &id, || id, true, self.inner.project(id)).await
    }

    pub async fn shared_project_by_path(&self, path: &str) -> StoreResult<Option<Arc<Project>>> {
        let load = self.inner.project_by_path(path);
        self.read_through(&self.cache.project_paths, path, || path.to_owned(), true, load).await
    }

    pub async fn shared_settings(&self) -> StoreResult<Arc<Settings>> {
        if self.cache.is_enabled()
            && let Ok(cached) = self.cache.settings.read()
            && let Some(settings) = cached.as_ref()
        {
            return Ok(settings.clone());
        }
        let generation = self.cache.generation();
        let settings = Arc::new(self.inner.settings().await?);
        if self.cache.is_enabled()
            && self.cache.generation() == generation
            && let Ok(mut cached) = self.cache.settings.write()
            && self.cache.generation() == generation
        {
            *cached = Some(settings.clone());
        }
        Ok(settings)
    }

    pub async fn shared_job(&self, id: i64) -> StoreResult<Option<Arc<Job>>> {
        self.read_through(&self.cache.jobs, &id, || id, false, self.inner.job(id)).await
    }

    /// What the allowlist of `target` lets jobs of `source` do there: the policies of the nearest entry naming
    /// the project or one of its groups (the project's own entry first, then the deepest group), or `None` when
    /// no entry names them.
    pub async fn shared_allowlisted(&self, target: i64, source: &Project) -> StoreResult<Option<JobPolicies>> {
        let key = (target, source.id);
        if let Some(hit) = self.cache.get(&self.cache.allowlisted, &key) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let sources = allowlist_sources(source);
        let entries = self.inner.allowlist_entries(target, &sources).await?;
        let nearest = nearest_allowed(&entries, &sources);
        self.cache.keep(&self.cache.allowlisted, generation, key, &key, nearest);
        Ok(nearest)
    }

    /// Notes that a job token of `source` used `policies` on the project `target`, for allowlist suggestions:
    /// tallied in memory and written with the next batch of uses.
    pub fn record_job_token_access(&self, source: i64, target: i64, policies: JobPolicies, now: Timestamp) {
        let mut fresh = false;
        if let Ok(mut pending) = self.pending_access.lock() {
            if let Some(tally) = pending.get_mut(&(source, target)) {
                tally.policies = tally.policies.union(policies);
                tally.last_used_at = now;
                tally.uses += 1;
            } else if pending.len() < MAX_PENDING_EXERCISES {
                pending.insert(
                    (source, target),
                    JobTokenAccess {
                        source_project_id: source,
                        target_project_id: target,
                        policies,
                        first_used_at: now,
                        last_used_at: now,
                        uses: 1,
                    },
                );
                fresh = true;
            }
        }
        if fresh && let Some(wake) = self.use_writer.get() {
            wake();
        }
    }

    /// The user's levels on `sources` today, shared.
    pub async fn shared_levels(&self, user_id: i64, sources: &[MemberSource], today: Date) -> StoreResult<Levels> {
        let query = LevelsQuery { user_id, today, sources };
        if let Some(levels) = self.cache.get(&self.cache.levels, &query) {
            return Ok(levels);
        }
        let generation = self.cache.generation();
        let levels = Levels::from(self.inner.member_levels(user_id, sources, today).await?);
        let key = LevelsKey { user_id, today, sources: sources.into() };
        self.cache.keep(&self.cache.levels, generation, key, &query, levels.clone());
        Ok(levels)
    }

    /// Forgets what a write changed, here. Other nodes hear it from the store itself: on PostgreSQL the write's
    /// own transaction announces it (`NOTIFY` at commit), so no write can commit unannounced.
    async fn changed(&self, changes: &[Change]) -> StoreResult<()> {
        for change in changes {
            self.cache.forget(*change);
        }
        Ok(())
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn insert_organization(&self, name: &str, path: &str, now: Timestamp) -> StoreResult<Organization> {
        // Nothing cached names an organization that did not exist.
        self.inner.insert_organization(name, path, now).await
    }

    async fn organization(&self, id: i64) -> StoreResult<Option<Organization>> {
        self.inner.organization(id).await
    }

    async fn list_organizations(&self, page: Page) -> StoreResult<(Vec<Organization>, i64)> {
        self.inner.list_organizations(page).await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        self.inner.count_users().await
    }

    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let created = self.inner.insert_user(user).await?;
        self.changed(&[Change::User(created.id), Change::Directory]).await?;
        Ok(created)
    }

    async fn update_user(&self, id: i64, update: &UserUpdate, now: Timestamp) -> StoreResult<Option<User>> {
        let updated = self.inner.update_user(id, update, now).await;
        // A renamed user renames its namespace and the paths of its projects.
        self.changed(&[Change::User(id), Change::Directory]).await?;
        updated
    }

    async fn user(&self, id: i64) -> StoreResult<Option<User>> {
        Ok(self.shared_user(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn users(&self, ids: &[i64]) -> StoreResult<Vec<User>> {
        self.inner.users(ids).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_username(username).await
    }

    async fn user_by_namespace(&self, namespace_id: i64) -> StoreResult<Option<User>> {
        self.inner.user_by_namespace(namespace_id).await
    }

    async fn password_hash(&self, id: i64) -> StoreResult<Option<String>> {
        self.inner.password_hash(id).await
    }

    async fn list_users(&self, filter: &UserFilter, page: Page) -> StoreResult<(Vec<User>, i64)> {
        self.inner.list_users(filter, page).await
    }

    async fn bootstrap(&self, admin: &NewUser, mint: &MintFirstToken<'_>) -> StoreResult<Option<(User, Token)>> {
        let created = self.inner.bootstrap(admin, mint).await;
        self.changed(&[Change::All]).await?;
        created
    }

    async fn insert_group(&self, group: &NewGroup) -> StoreResult<Group> {
        let created = self.inner.insert_group(group).await;
        self.changed(&[Change::Directory]).await?;
        created
    }

    async fn group(&self, id: i64) -> StoreResult<Option<Group>> {
        Ok(self.shared_group(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn group_by_path(&self, full_path: &str) -> StoreResult<Option<Group>> {
        Ok(self.shared_group_by_path(full_path).await?.map(Arc::unwrap_or_clone))
    }

    async fn list_groups(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Group>, i64)> {
        self.inner.list_groups(filter, page).await
    }

    async fn update_group(&self, id: i64, update: &NamespaceUpdate) -> StoreResult<Option<Group>> {
        let updated = self.inner.update_group(id, update).await;
        self.changed(&[Change::Directory]).await?;
        updated
    }

    async fn insert_project(&self, project: &NewProject) -> StoreResult<Project> {
        let created = self.inner.insert_project(project).await;
        self.changed(&[Change::Directory]).await?;
        created
    }

    async fn project(&self, id: i64) -> StoreResult<Option<Project>> {
        Ok(self.shared_project(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn project_by_path(&self, full_path: &str) -> StoreResult<Option<Project>> {
        Ok(self.shared_project_by_path(full_path).await?.map(Arc::unwrap_or_clone))
    }

    async fn list_projects(&self, filter: &DirectoryFilter, page: Page) -> StoreResult<(Vec<Project>, i64)> {
        self.inner.list_projects(filter, page).await
    }

    async fn update_project(&self, id: i64, update: &NamespaceUpdate, now: Timestamp) -> StoreResult<Option<Project>> {
        let updated = self.inner.update_project(id, update, now).await;
        self.changed(&[Change::Directory]).await?;
        updated
    }

    async fn delete_project(&self, id: i64) -> StoreResult<bool> {
        let deleted = self.inner.delete_project(id).await;
        self.changed(&[Change::Directory]).await?;
        deleted
    }

    async fn transfer_project(&self, id: i64, to: &NamespaceTarget, now: Timestamp) -> StoreResult<Option<Project>> {
        let moved = self.inner.transfer_project(id, to, now).await;
        self.changed(&[Change::Directory]).await?;
        moved
    }

    async fn upsert_member(&self, member: &Member) -> StoreResult<()> {
        let done = self.inner.upsert_member(member).await;
        self.changed(&[Change::Directory]).await?;
        done
    }

    async fn member(&self, source: MemberSource, user_id: i64) -> StoreResult<Option<Member>> {
        self.inner.member(source, user_id).await
    }

    async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> StoreResult<(Vec<Member>, i64)> {
        self.inner.list_members(sources, highest_per_user, page).await
    }

    async fn delete_member(&self, source: MemberSource, user_id: i64) -> StoreResult<bool> {
        let deleted = self.inner.delete_member(source, user_id).await;
        self.changed(&[Change::Directory]).await?;
        deleted
    }

    async fn member_levels(
        &self,
        user_id: i64,
        sources: &[MemberSource],
        today: Date,
    ) -> StoreResult<Vec<(MemberSource, AccessLevel)>> {
        Ok(self.shared_levels(user_id, sources, today).await?.to_vec())
    }

    async fn insert_token(&self, token: &NewToken) -> StoreResult<Token> {
        self.inner.insert_token(token).await
    }

    async fn token(&self, id: i64) -> StoreResult<Option<Token>> {
        self.flush_use().await?;
        Ok(self.shared_token(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Token>> {
        let generation = self.cache.generation();
        let token = self.inner.token_by_digest(digests).await?;
        if let Some(token) = &token {
            self.cache.keep(&self.cache.tokens, generation, token.id, &token.id, Some(Arc::new(token.clone())));
        }
        Ok(token)
    }

    async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> StoreResult<(Vec<Token>, i64)> {
        self.flush_use().await?;
        self.inner.list_tokens(filter, page).await
    }

    async fn revoke_token(&self, id: i64, now: Timestamp) -> StoreResult<bool> {
        let revoked = self.inner.revoke_token(id, now).await;
        self.changed(&[Change::Token(id)]).await?;
        revoked
    }

    async fn rotate_token(&self, old_id: i64, new: &NewToken) -> StoreResult<Option<Token>> {
        let rotated = self.inner.rotate_token(old_id, new).await;
        self.changed(&[Change::Token(old_id)]).await?;
        rotated
    }

    async fn revoke_family(&self, id: i64, now: Timestamp) -> StoreResult<Vec<i64>> {
        let revoked = self.inner.revoke_family(id, now).await;
        let mut changes = vec![Change::Token(id)];
        if let Ok(ids) = &revoked {
            changes.extend(ids.iter().map(|id| Change::Token(*id)));
        }
        self.changed(&changes).await?;
        revoked
    }

    async fn touch_token(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()> {
        self.inner.touch_token(id, last_used_at, ips).await?;
        // Usage is not a decision fact: refresh the local copy, tell no one.
        self.refresh_use(id, last_used_at, ips);
        Ok(())
    }

    async fn settings(&self) -> StoreResult<Settings> {
        Ok(Arc::unwrap_or_clone(self.shared_settings().await?))
    }

    async fn save_settings(&self, settings: &Settings) -> StoreResult<()> {
        let saved = self.inner.save_settings(settings).await;
        self.changed(&[Change::Settings]).await?;
        saved
    }

    async fn insert_audit_event(&self, event: &NewAuditEvent) -> StoreResult<()> {
        self.inner.insert_audit_event(event).await
    }

    async fn list_audit_events(&self, filter: &AuditFilter, page: Page) -> StoreResult<(Vec<AuditEvent>, i64)> {
        self.inner.list_audit_events(filter, page).await
    }

    async fn insert_notification(&self, notification: &Notification) -> StoreResult<()> {
        self.inner.insert_notification(notification).await
    }

    async fn add_token_usage(&self, usage: &[TokenUsage]) -> StoreResult<()> {
        self.inner.add_token_usage(usage).await
    }

    async fn token_usage(&self, token_id: i64, since: Option<Timestamp>) -> StoreResult<Vec<TokenUsage>> {
        self.flush_use().await?;
        self.inner.token_usage(token_id, since).await
    }

    async fn list_notifications(&self, user_id: i64, page: Page) -> StoreResult<(Vec<Notification>, i64)> {
        self.inner.list_notifications(user_id, page).await
    }

    async fn audit_event(&self, id: i64) -> StoreResult<Option<AuditEvent>> {
        self.inner.audit_event(id).await
    }

    async fn insert_runner(&self, runner: &NewRunner) -> StoreResult<Runner> {
        self.inner.insert_runner(runner).await
    }

    async fn runner_by_digest(&self, digests: &[String]) -> StoreResult<Option<Runner>> {
        self.inner.runner_by_digest(digests).await
    }

    async fn insert_job(&self, job: &NewJob) -> StoreResult<Job> {
        // Absent jobs are never cached, so a new one needs nothing forgotten.
        self.inner.insert_job(job).await
    }

    async fn job(&self, id: i64) -> StoreResult<Option<Job>> {
        self.inner.job(id).await
    }

    async fn pipeline(&self, id: i64) -> StoreResult<Option<Pipeline>> {
        self.inner.pipeline(id).await
    }

    async fn finish_job(&self, id: i64, status: JobStatus, now: Timestamp) -> StoreResult<Option<(Job, bool)>> {
        let finished = self.inner.finish_job(id, status, now).await;
        self.changed(&[Change::Job(id)]).await?;
        finished
    }

    async fn save_job_token_settings(
        &self,
        project_id: i64,
        settings: JobTokenSettings,
        now: Timestamp,
    ) -> StoreResult<Option<Project>> {
        let saved = self.inner.save_job_token_settings(project_id, settings, now).await;
        self.changed(&[Change::Directory]).await?;
        saved
    }

    async fn allowlist(&self, project_id: i64) -> StoreResult<Vec<AllowlistEntry>> {
        self.inner.allowlist(project_id).await
    }

    async fn add_allowlist_entry(&self, entry: &AllowlistEntry) -> StoreResult<AllowlistAdd> {
        let added = self.inner.add_allowlist_entry(entry).await;
        self.changed(&[Change::Directory]).await?;
        added
    }

    async fn update_allowlist_entry(
        &self,
        project_id: i64,
        source: AllowlistSource,
        default_permissions: bool,
        policies: JobPolicies,
    ) -> StoreResult<Option<AllowlistEntry>> {
        let updated = self.inner.update_allowlist_entry(project_id, source, default_permissions, policies).await;
        self.changed(&[Change::Directory]).await?;
        updated
    }

    async fn delete_allowlist_entry(&self, project_id: i64, source: AllowlistSource) -> StoreResult<bool> {
        let deleted = self.inner.delete_allowlist_entry(project_id, source).await;
        self.changed(&[Change::Directory]).await?;
        deleted
    }

    async fn allowlist_entries(
        &self,
        project_id: i64,
        sources: &[AllowlistSource],
    ) -> StoreResult<Vec<AllowlistEntry>> {
        self.inner.allowlist_entries(project_id, sources).await
    }

    async fn allowlisting(&self, sources: &[AllowlistSource], limit: i64) -> StoreResult<Vec<AllowlistEntry>> {
        self.inner.allowlisting(sources, limit).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.inner.signing_keys().await
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let inserted = self.inner.insert_first_signing_key(key).await;
        self.changed(&[Change::Keys]).await?;
        inserted
    }

    async fn rotate_signing_key(&self, key: &StoredKey, now: Timestamp, publish_until: Timestamp) -> StoreResult<()> {
        let rotated = self.inner.rotate_signing_key(key, now, publish_until).await;
        self.changed(&[Change::Keys]).await?;
        rotated
    }

    async fn add_job_token_access(&self, access: &[JobTokenAccess]) -> StoreResult<()> {
        self.inner.add_job_token_access(access).await
    }

    async fn job_token_access(&self, target_project_id: i64, since: Timestamp) -> StoreResult<Vec<JobTokenAccess>> {
        self.flush_use().await?;
        self.inner.job_token_access(target_project_id, since).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_the_triggers_send_is_read() {
        let payloads = [("t:7", Change::Token(7)), ("u:-1", Change::User(-1)), ("d", Change::Directory)];
        let more = [("s", Change::Settings), ("*", Change::All), ("j:12", Change::Job(12)), ("k", Change::Keys)];
        for (text, change) in payloads.into_iter().chain(more) {
            assert_eq!(Change::decode(text), change, "{text:?}");
        }
    }

    #[test]
    fn an_unreadable_change_forgets_everything() {
        for text in ["", "t:", "t:x", "u:1:2", "zz", "d:1"] {
            assert_eq!(Change::decode(text), Change::All, "{text:?}");
        }
    }

    #[test]
    fn a_value_read_before_a_change_is_not_kept_after_it() {
        let cache = FactCache::new(100);
        cache.enable();
        let before = cache.generation();
        cache.forget(Change::Token(1));
        cache.remember_presented(before, 5, Some(1));
        assert_eq!(cache.presented(5), None);
        cache.remember_presented(cache.generation(), 5, Some(1));
        assert_eq!(cache.presented(5), Some(Some(1)));
    }

    #[test]
    fn a_disabled_cache_neither_serves_nor_keeps() {
        let cache = FactCache::new(100);
        cache.remember_presented(cache.generation(), 5, None);
        assert_eq!(cache.presented(5), None);
        cache.enable();
        cache.remember_presented(cache.generation(), 5, None);
        assert_eq!(cache.presented(5), Some(None));
        cache.disable();
        assert_eq!(cache.presented(5), None);
        cache.enable();
        assert_eq!(cache.presented(5), None, "re-enabling starts from empty");
    }

    #[test]
    fn the_presented_key_depends_on_every_byte_and_on_the_process_key() {
        let a = FactCache::new(16);
        let b = FactCache::new(16);
        assert_ne!(a.presented_key("glpat-abc"), a.presented_key("glpat-abd"));
        assert_ne!(a.presented_key("glpat-abc"), b.presented_key("glpat-abc"));
    }
}
