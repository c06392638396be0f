//! The hot path's memory: the facts a decision needs (tokens, users, settings, groups, projects, membership
//! levels, jobs, allowlist answers, verified job tokens), kept so that a request whose facts are known touches
//! no storage. the cached reads (`reads`) fill it; the store's change announcements empty it.
//!
//! **Invariant:** a value read before a change is never kept after it. Every committed write is announced by
//! the store itself (after commit on this node; on PostgreSQL also by triggers and `LISTEN` on every node) and
//! reaches [`FactCache::forget`]; a fill races with it through a generation counter. While the change feed is
//! down the cache is disabled (every read goes to storage), and it starts from empty when it comes back. Each
//! thread reads through its own copies of the entries it used last ([`crate::near`]), served only at the
//! generation they were copied at: whatever removes or replaces an entry moves the generation afterwards.

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
use crate::near::{Near, NearKey, Tier, fold};
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

impl NearKey for LevelsQuery<'_> {
    fn mixed(&self) -> u64 {
        let mut mixed = fold(self.user_id.mixed(), self.today.days() as u64);
        for source in self.sources {
            let (kind, id) = match source {
                MemberSource::Group(id) => (1, *id),
                MemberSource::Project(id) => (2, *id),
            };
            mixed = fold(mixed, (id as u64) ^ (kind << 62));
        }
        mixed
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
    presented: Tier<u128, Presented, AlreadyHashed>,
    /// A user token's decision facts (inline: no row, no text).
    pub(crate) tokens: Tier<i64, Option<TokenFacts>>,
    /// A token's allowlist rules and grants, read once from its row (only tokens that have either are here).
    pub(crate) token_compiled: Tier<i64, Arc<CompiledToken>>,
    pub(crate) deploy_tokens: Tier<i64, Option<Arc<DeployToken>>>,
    pub(crate) triggers: Tier<i64, Option<Arc<PipelineTrigger>>>,
    pub(crate) user_secrets: Tier<i64, Option<Arc<UserSecret>>>,
    pub(crate) users: Tier<i64, Option<Arc<User>>>,
    pub(crate) settings: RwLock<Option<Arc<Settings>>>,
    pub(crate) settings_near: Near<(), Arc<Settings>>,
    pub(crate) groups: Tier<i64, Option<Arc<Group>>>,
    pub(crate) group_paths: Tier<String, Option<Arc<Group>>>,
    pub(crate) projects: Tier<i64, Option<Arc<Project>>>,
    pub(crate) project_paths: Tier<String, Option<Arc<Project>>>,
    pub(crate) levels: Tier<LevelsKey, Levels>,
    pub(crate) jobs: Tier<i64, Option<Arc<Job>>>,
    /// What the nearest allowlist entry of a project (first) lets jobs of another project (second) do there.
    pub(crate) allowlisted: Tier<(i64, i64), Option<JobPolicies>>,
    /// Job tokens whose signature was checked, by the keyed hash of the presented string.
    job_tokens: Tier<u128, Arc<crate::principal::VerifiedJobToken>, AlreadyHashed>,
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
            presented: Tier::with_hasher(capacity, AlreadyHashed),
            tokens: Tier::new(capacity),
            token_compiled: Tier::new(capacity),
            deploy_tokens: Tier::new(capacity),
            triggers: Tier::new(capacity),
            user_secrets: Tier::new(capacity),
            users: Tier::new(capacity),
            settings: RwLock::new(None),
            settings_near: Near::new(),
            groups: Tier::new(capacity),
            group_paths: Tier::new(capacity),
            projects: Tier::new(capacity),
            project_paths: Tier::new(capacity),
            levels: Tier::new(capacity),
            jobs: Tier::new(capacity),
            allowlisted: Tier::new(capacity),
            job_tokens: Tier::with_hasher(capacity, AlreadyHashed),
            keys_generation: AtomicU64::new(0),
        };
        // One entry of each per token: their tables are made at full size now (address space, touched as they
        // fill) rather than grown by doubling, which would leave the copies' pages resident. Up to a million
        // entries (~200 MB of address space for both): a larger cache grows past that as it fills.
        let reserved = capacity.min(RESERVED_TOKENS);
        cache.presented.shared.reserve(reserved);
        cache.tokens.shared.reserve(reserved);
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
        self.removing(|| self.remove_for(change));
    }

    /// Runs `remove` between two moves of the generation. Before: a fill that read storage before the removal is
    /// not kept. After: a thread's copy of an entry removed here, taken while it was being removed, is not served
    /// (see `crate::near`).
    fn removing(&self, remove: impl FnOnce()) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        remove();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn remove_for(&self, change: Change) {
        match change {
            Change::Token(id) => {
                self.tokens.shared.remove(&id);
                self.token_compiled.shared.remove(&id);
            }
            Change::DeployToken(id) => {
                self.deploy_tokens.shared.remove(&id);
            }
            // These rows are deleted, not revoked: what a presented string was known to be goes with them (ids
            // are never reused, and such changes are rare).
            Change::Trigger(id) => {
                self.triggers.shared.remove(&id);
                self.presented.shared.clear();
            }
            Change::UserSecret(id) => {
                self.user_secrets.shared.remove(&id);
                self.presented.shared.clear();
            }
            Change::User(id) => {
                self.users.shared.remove(&id);
            }
            Change::Directory => self.forget_directory(),
            Change::Settings => self.forget_settings(),
            Change::Job(id) => {
                self.jobs.shared.remove(&id);
            }
            Change::Keys => self.forget_keys(),
            Change::All => {
                self.presented.shared.clear();
                self.tokens.shared.clear();
                self.token_compiled.shared.clear();
                self.deploy_tokens.shared.clear();
                self.triggers.shared.clear();
                self.user_secrets.shared.clear();
                self.users.shared.clear();
                self.jobs.shared.clear();
                self.forget_settings();
                self.forget_directory();
                self.forget_keys();
            }
        }
    }

    fn forget_keys(&self) {
        self.keys_generation.fetch_add(1, Ordering::SeqCst);
        self.job_tokens.shared.clear();
    }

    /// The generation of the signing keys: it moves whenever they change here or on another node.
    pub fn keys_generation(&self) -> u64 {
        self.keys_generation.load(Ordering::SeqCst)
    }

    /// A job token seen before, with its signature checked then (its times still need checking now).
    pub(crate) fn verified_job_token(&self, key: u128) -> Option<Arc<crate::principal::VerifiedJobToken>> {
        self.get_near(&self.job_tokens, &key, || key)
    }

    pub(crate) fn remember_job_token(
        &self,
        generation: u64,
        key: u128,
        claims: Arc<crate::principal::VerifiedJobToken>,
    ) {
        self.keep(&self.job_tokens.shared, generation, key, &key, claims);
    }

    fn forget_directory(&self) {
        self.groups.shared.clear();
        self.group_paths.shared.clear();
        self.projects.shared.clear();
        self.project_paths.shared.clear();
        self.levels.shared.clear();
        self.allowlisted.shared.clear();
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
            // A change came between the check and the insert: the value may be stale, and a thread may have
            // copied it meanwhile; moving the generation again makes any such copy stale too.
            cache.remove(lookup);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Puts a new value in place of a cached one that is no decision fact's change (a token's last use): kept
    /// like a fill, then the generation moves so that no thread keeps serving its copy of the old value.
    pub(crate) fn replace<K, V, B>(&self, tier: &Tier<K, V, B>, generation: u64, key: K, value: V)
    where
        K: Copy + Eq + Hash + Send,
        V: Clone + Send,
        B: BuildHasher + Clone,
    {
        self.keep(&tier.shared, generation, key, &key, value);
        self.generation.fetch_add(1, Ordering::SeqCst);
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

    /// A cached value: this thread's copy when it holds one of the current generation (no lock taken), else the
    /// shared entry, copied for the next read. The generation is read before the shared entry, so that a copy
    /// of an entry a change removes is stale once the change is done.
    pub(crate) fn get_near<K, Q, V, B>(&self, tier: &Tier<K, V, B>, key: &Q, owned: impl FnOnce() -> K) -> Option<V>
    where
        K: Eq + Hash + Send,
        Q: NearKey + Hash + Equivalent<K> + ?Sized,
        V: Clone + Send,
        B: BuildHasher + Clone,
    {
        if !self.is_enabled() {
            return None;
        }
        let generation = self.generation();
        if let Some(copied) = tier.near.get(key, generation) {
            return Some(copied);
        }
        let shared = tier.shared.get(key)?;
        tier.near.put(key, owned, generation, shared.clone());
        Some(shared)
    }

    /// The key under which a presented token string is remembered: SipHash-1-3/128 with a per-process random key.
    pub(crate) fn presented_key(&self, presented: &str) -> u128 {
        self.keys.key(presented)
    }

    /// `Some(Some(id))`: the string is the token `id`; `Some(None)`: no such token; `None`: not known yet.
    pub(crate) fn presented(&self, key: u128) -> Option<Option<i64>> {
        self.get_near(&self.presented, &key, || key).map(|p| match p {
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
        self.keep(&self.presented.shared, generation, key, &key, value);
    }

    /// Forgets that a string was unknown (it has just been issued as a token).
    pub(crate) fn issued(&self, presented: &str) {
        let key = self.presented_key(presented);
        // As a change is forgotten: no thread keeps serving its copy of "unknown".
        self.removing(|| {
            self.presented.shared.remove(&key);
        });
    }

    /// User tokens whose decision facts are held (the memory benchmark's count).
    pub fn tokens_held(&self) -> usize {
        self.tokens.shared.len()
    }

    /// Entries held, per kind, for diagnostics and tests.
    pub fn len(&self) -> usize {
        self.presented.shared.len()
            + self.tokens.shared.len()
            + self.token_compiled.shared.len()
            + self.deploy_tokens.shared.len()
            + self.triggers.shared.len()
            + self.user_secrets.shared.len()
            + self.users.shared.len()
            + self.groups.shared.len()
            + self.group_paths.shared.len()
            + self.projects.shared.len()
            + self.project_paths.shared.len()
            + self.levels.shared.len()
            + self.jobs.shared.len()
            + self.allowlisted.shared.len()
            + self.job_tokens.shared.len()
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

    #[test]
    fn a_thread_s_copy_is_not_served_once_its_entry_is_forgotten_or_replaced() {
        let cache = FactCache::new(100);
        cache.enable();
        cache.remember_presented(cache.generation(), 5, Some(1));
        assert_eq!(cache.presented(5), Some(Some(1)), "copied on this thread");
        cache.forget(Change::Trigger(9));
        assert_eq!(cache.presented(5), None);
        cache.remember_presented(cache.generation(), 5, None);
        assert_eq!(cache.presented(5), Some(None));
        cache.issued("the string");
        let key = (3, 4);
        cache.keep(&cache.allowlisted.shared, cache.generation(), key, &key, None);
        assert_eq!(cache.get_near(&cache.allowlisted, &key, || key), Some(None), "copied on this thread");
        cache.replace(&cache.allowlisted, cache.generation(), key, Some(JobPolicies::default()));
        assert_eq!(cache.get_near(&cache.allowlisted, &key, || key), Some(Some(JobPolicies::default())));
    }

    /// Linearizability of forgetting against every thread's copies: once `forget` has returned, no thread is
    /// served a value kept before it, however its reads interleave with the removal.
    #[test]
    fn no_thread_is_served_a_value_forgotten_before_its_read_began() {
        use std::sync::atomic::AtomicI64;
        let cache = Arc::new(FactCache::new(100));
        cache.enable();
        let forgotten = Arc::new(AtomicI64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (cache, forgotten, done) = (cache.clone(), forgotten.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut served = 0u64;
                    while !done.load(Ordering::SeqCst) {
                        let before = forgotten.load(Ordering::SeqCst);
                        if let Some(Some(value)) = cache.presented(5) {
                            assert!(value > before, "served {value}, forgotten up to {before} before the read");
                            served += 1;
                        }
                    }
                    served
                })
            })
            .collect();
        for value in 1..=20_000 {
            cache.remember_presented(cache.generation(), 5, Some(value));
            std::thread::yield_now();
            cache.forget(Change::Trigger(0));
            forgotten.store(value, Ordering::SeqCst);
        }
        done.store(true, Ordering::SeqCst);
        let served: u64 = readers.into_iter().map(|r| r.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).sum();
        assert!(served > 0, "the readers saw no value at all: the test proved nothing");
    }
}
