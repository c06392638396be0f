//! The hot path's memory: the facts a decision needs (tokens, users, settings, groups, projects, membership
//! levels, jobs, allowlist answers, verified job tokens), kept so that a request whose facts are known touches
//! no storage. the cached reads (`reads`) fill it; the store's change announcements empty it.
//!
//! **Invariant:** a value read before a change is never kept after it. Every committed write is announced by
//! the store itself (after commit on this node; on PostgreSQL also by triggers and `LISTEN` on every node) and
//! reaches [`FactCache::forget`]; a fill races with it through a generation counter. While the change feed is
//! down the cache is disabled (every read goes to storage), and it starts from empty when it comes back.

use std::hash::{BuildHasher, Hash};
use std::num::NonZeroI64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use domain::{
    AccessLevel, Date, DeployToken, Group, Job, JobPolicies, MemberSource, PipelineTrigger, Project, Settings, Token,
    TokenFacts, User, UserSecret,
};
use quick_cache::sync::Cache;
use quick_cache::{Equivalent, UnitWeighter};

use crate::hashing::{AlreadyHashed, PresentedKeys};
use crate::store::{Change, ChangeListener};

/// What a presented token string is known to be, keyed by a keyed hash of the string (never the string): the id
/// of the token its prefix's kind stores it as (a user token's, or a deploy token's), or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    /// Ids start at 1: the non-zero id makes this 8 bytes, not 16.
    Known(NonZeroI64),
    Unknown,
}

/// A membership-levels question: the user, the sources asked about and the day.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LevelsKey {
    pub(crate) user_id: i64,
    pub(crate) today: Date,
    pub(crate) sources: Box<[MemberSource]>,
}

#[derive(Hash)]
pub(crate) struct LevelsQuery<'a> {
    pub(crate) user_id: i64,
    pub(crate) today: Date,
    pub(crate) sources: &'a [MemberSource],
}

impl Equivalent<LevelsKey> for LevelsQuery<'_> {
    fn equivalent(&self, key: &LevelsKey) -> bool {
        self.user_id == key.user_id && self.today == key.today && *self.sources == *key.sources
    }
}

/// A user's levels on the sources asked about, shared.
pub type Levels = Arc<[(MemberSource, AccessLevel)]>;

/// What a decision asks of a token on every request, read once from its row: its allowlist rules and its grants.
#[derive(Debug)]
pub(crate) struct CompiledToken {
    pub(crate) rules: Box<[policy::CompiledRule]>,
    pub(crate) grants: Box<[policy::CompiledGrant]>,
}

impl CompiledToken {
    /// A token row's rules and grants, compiled.
    pub(crate) fn of(catalog: &catalog::Catalog, token: &Token) -> CompiledToken {
        CompiledToken {
            rules: policy::compile_rules(&token.route_rules).into(),
            grants: policy::compile_grants(catalog, &token.grants).into(),
        }
    }
}

/// The most token entries whose room is made when the cache is.
const RESERVED_TOKENS: usize = 1_000_000;

/// The cached facts. One per process, filled by the cached reads and emptied by changes.
pub struct FactCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    keys: PresentedKeys,
    presented: Cache<u128, Presented, UnitWeighter, AlreadyHashed>,
    /// A user token's decision facts (inline: no row, no text).
    pub(crate) tokens: Cache<i64, Option<TokenFacts>>,
    /// A token's allowlist rules and grants, read once from its row (only tokens that have either are here).
    pub(crate) token_compiled: Cache<i64, Arc<CompiledToken>>,
    pub(crate) deploy_tokens: Cache<i64, Option<Arc<DeployToken>>>,
    pub(crate) triggers: Cache<i64, Option<Arc<PipelineTrigger>>>,
    pub(crate) user_secrets: Cache<i64, Option<Arc<UserSecret>>>,
    pub(crate) users: Cache<i64, Option<Arc<User>>>,
    pub(crate) settings: RwLock<Option<Arc<Settings>>>,
    pub(crate) groups: Cache<i64, Option<Arc<Group>>>,
    pub(crate) group_paths: Cache<String, Option<Arc<Group>>>,
    pub(crate) projects: Cache<i64, Option<Arc<Project>>>,
    pub(crate) project_paths: Cache<String, Option<Arc<Project>>>,
    pub(crate) levels: Cache<LevelsKey, Levels>,
    pub(crate) jobs: Cache<i64, Option<Arc<Job>>>,
    /// What the nearest allowlist entry of a project (first) lets jobs of another project (second) do there.
    pub(crate) allowlisted: Cache<(i64, i64), Option<JobPolicies>>,
    /// Job tokens whose signature was checked, by the keyed hash of the presented string.
    job_tokens: Cache<u128, Arc<crate::principal::VerifiedJobToken>, UnitWeighter, AlreadyHashed>,
    /// Moves on every change of the signing keys: whoever holds keys reloads them when it has moved.
    keys_generation: AtomicU64,
}

impl ChangeListener for FactCache {
    fn changed(&self, change: Change) {
        self.forget(change);
    }
}

impl FactCache {
    /// A cache holding at most `capacity` entries of each kind, disabled until [`FactCache::enable`].
    pub fn new(capacity: usize) -> FactCache {
        let capacity = capacity.max(16);
        let cache = FactCache {
            enabled: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            keys: PresentedKeys::random(),
            presented: Cache::with(capacity, capacity as u64, UnitWeighter, AlreadyHashed, Default::default()),
            tokens: Cache::new(capacity),
            token_compiled: Cache::new(capacity),
            deploy_tokens: Cache::new(capacity),
            triggers: Cache::new(capacity),
            user_secrets: Cache::new(capacity),
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
        };
        // One entry of each per token: their tables are made at full size now (address space, touched as they
        // fill) rather than grown by doubling, which would leave the copies' pages resident. Up to a million
        // entries (~200 MB of address space for both): a larger cache grows past that as it fills.
        let reserved = capacity.min(RESERVED_TOKENS);
        cache.presented.reserve(reserved);
        cache.tokens.reserve(reserved);
        cache
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

    /// Forgets what `change` may have made stale. The store announces its own commits here; `server` brings
    /// the changes other nodes publish.
    pub fn forget(&self, change: Change) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Token(id) => {
                self.tokens.remove(&id);
                self.token_compiled.remove(&id);
            }
            Change::DeployToken(id) => {
                self.deploy_tokens.remove(&id);
            }
            // These rows are deleted, not revoked: what a presented string was known to be goes with them (ids
            // are never reused, and such changes are rare).
            Change::Trigger(id) => {
                self.triggers.remove(&id);
                self.presented.clear();
            }
            Change::UserSecret(id) => {
                self.user_secrets.remove(&id);
                self.presented.clear();
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
                self.token_compiled.clear();
                self.deploy_tokens.clear();
                self.triggers.clear();
                self.user_secrets.clear();
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
    pub(crate) fn verified_job_token(&self, key: u128) -> Option<Arc<crate::principal::VerifiedJobToken>> {
        self.get(&self.job_tokens, &key)
    }

    pub(crate) fn remember_job_token(
        &self,
        generation: u64,
        key: u128,
        claims: Arc<crate::principal::VerifiedJobToken>,
    ) {
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
    pub(crate) fn keep<K, Q, V, B>(
        &self,
        cache: &Cache<K, V, UnitWeighter, B>,
        generation: u64,
        key: K,
        lookup: &Q,
        value: V,
    ) where
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

    pub(crate) fn get<K, Q, V, B>(&self, cache: &Cache<K, V, UnitWeighter, B>, key: &Q) -> Option<V>
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
        self.keys.key(presented)
    }

    /// `Some(Some(id))`: the string is the token `id`; `Some(None)`: no such token; `None`: not known yet.
    pub(crate) fn presented(&self, key: u128) -> Option<Option<i64>> {
        self.get(&self.presented, &key).map(|p| match p {
            Presented::Known(id) => Some(id.get()),
            Presented::Unknown => None,
        })
    }

    pub(crate) fn remember_presented(&self, generation: u64, key: u128, token_id: Option<i64>) {
        let value = match token_id.map(NonZeroI64::new) {
            Some(Some(id)) => Presented::Known(id),
            None => Presented::Unknown,
            // No row has id 0; were one found, it is read by digest each time rather than remembered wrongly.
            Some(None) => return,
        };
        self.keep(&self.presented, generation, key, &key, value);
    }

    /// Forgets that a string was unknown (it has just been issued as a token).
    pub(crate) fn issued(&self, presented: &str) {
        let key = self.presented_key(presented);
        self.presented.remove(&key);
    }

    /// User tokens whose decision facts are held (the memory benchmark's count).
    pub fn tokens_held(&self) -> usize {
        self.tokens.len()
    }

    /// Entries held, per kind, for diagnostics and tests.
    pub fn len(&self) -> usize {
        self.presented.len()
            + self.tokens.len()
            + self.token_compiled.len()
            + self.deploy_tokens.len()
            + self.triggers.len()
            + self.user_secrets.len()
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_announced_change_is_forgotten() {
        let cache = FactCache::new(100);
        cache.enable();
        cache.remember_presented(cache.generation(), 5, Some(1));
        ChangeListener::changed(&cache, Change::All);
        assert_eq!(cache.presented(5), None);
    }
}
