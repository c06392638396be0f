//! A thread's own copies of the hottest entries of the shared fact cache, so that a decision whose facts each
//! thread has seen reads them without a lock: a shared read takes a shard's lock and releases it (two atomic
//! read-modify-writes on a line every thread writes), a near read takes neither.
//!
//! **Invariant:** a copy is served only while the fact cache's generation is the one it was copied at, and the
//! generation is read *before* the shared entry it copies. Whatever removes or replaces a shared entry moves
//! the generation after doing so ([`crate::facts::FactCache`] does, in `forget`, `keep` and `replace`), so
//! that every copy taken of the old entry is stale from then on.

use std::cell::RefCell;
use std::hash::BuildHasher;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, UnitWeighter};
use thread_local::ThreadLocal;

/// Slots per thread and kind of fact: direct-mapped, so that a lookup is one probe.
const SLOTS: usize = 512;
const SLOT_BITS: u32 = SLOTS.trailing_zeros();

/// What a thread's copies are looked up by (a key, or a borrowed form of one), with the slot it goes to.
pub(crate) trait NearKey {
    /// A well-mixed 64-bit word of the key; its high bits choose the slot. Equal keys mix equally.
    fn mixed(&self) -> u64;

    fn slot(&self) -> usize {
        // `SLOT_BITS` < 64: the shift keeps the high bits, the best-mixed ones of a multiplicative hash.
        (self.mixed() >> (u64::BITS - SLOT_BITS)) as usize
    }
}

/// Fibonacci hashing: ids are sequential, their product with the golden ratio's odd integer spreads them.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Folds one more word into a mixed word.
pub(crate) fn fold(mixed: u64, word: u64) -> u64 {
    (mixed.rotate_left(29) ^ word).wrapping_mul(GOLDEN)
}

impl NearKey for i64 {
    fn mixed(&self) -> u64 {
        (*self as u64).wrapping_mul(GOLDEN)
    }
}

impl NearKey for (i64, i64) {
    fn mixed(&self) -> u64 {
        fold(self.0.mixed(), self.1 as u64)
    }
}

/// A presented string's keyed SipHash: already uniform.
impl NearKey for u128 {
    fn mixed(&self) -> u64 {
        *self as u64
    }
}

/// The one entry of a kind that has one (the instance's settings).
impl NearKey for () {
    fn mixed(&self) -> u64 {
        0
    }
}

/// A path: eight bytes at a time. The slot only spreads the keys (a copy is served for an equal key alone), so
/// a path chosen to share a slot costs its sender a miss, nothing more.
impl NearKey for str {
    fn mixed(&self) -> u64 {
        let mut words = self.as_bytes().chunks_exact(8);
        let mut mixed = fold(0, self.len() as u64);
        for word in &mut words {
            mixed = fold(mixed, u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
        }
        let mut last = [0; 8];
        if let Some(head) = last.get_mut(..words.remainder().len()) {
            head.copy_from_slice(words.remainder());
        }
        fold(mixed, u64::from_le_bytes(last))
    }
}

struct Copied<K, V> {
    generation: u64,
    key: K,
    value: V,
}

type Table<K, V> = Box<[Option<Copied<K, V>>]>;

/// Each thread's copies of one kind of fact.
pub(crate) struct Near<K: Send, V: Send> {
    threads: ThreadLocal<RefCell<Table<K, V>>>,
}

impl<K: Send, V: Clone + Send> Near<K, V> {
    pub(crate) fn new() -> Near<K, V> {
        Near { threads: ThreadLocal::new() }
    }

    /// This thread's copy of `key`'s value, if it was copied at `generation`.
    pub(crate) fn get<Q>(&self, key: &Q, generation: u64) -> Option<V>
    where
        Q: NearKey + Equivalent<K> + ?Sized,
    {
        self.with(key, generation, V::clone)
    }

    /// What `read` makes of this thread's copy of `key`'s value, read in place, if it was copied at
    /// `generation`. The thread's copies of this kind are borrowed meanwhile: a copy `read` would keep of the
    /// same kind is not kept.
    pub(crate) fn with<Q, R>(&self, key: &Q, generation: u64, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        Q: NearKey + Equivalent<K> + ?Sized,
    {
        let table = self.threads.get()?.try_borrow().ok()?;
        let copied = table.get(key.slot())?.as_ref()?;
        (copied.generation == generation && key.equivalent(&copied.key)).then(|| read(&copied.value))
    }

    /// Keeps a copy of `value`, read from the shared cache after the generation `generation` was read. The key
    /// is made (`owned`) only when the slot holds another: a copy renewed at a new generation allocates nothing.
    pub(crate) fn put<Q>(&self, key: &Q, owned: impl FnOnce() -> K, generation: u64, value: V)
    where
        Q: NearKey + Equivalent<K> + ?Sized,
    {
        let table = self.threads.get_or(|| RefCell::new((0..SLOTS).map(|_| None).collect()));
        // Only a value's own drop could be running here, and none reads the cache: the borrow is free.
        let Ok(mut table) = table.try_borrow_mut() else { return };
        let Some(slot) = table.get_mut(key.slot()) else { return };
        match slot {
            Some(copied) if key.equivalent(&copied.key) => {
                copied.generation = generation;
                copied.value = value;
            }
            _ => *slot = Some(Copied { generation, key: owned(), value }),
        }
    }
}

/// A shared cache and each thread's copies of its hottest entries. Reads go through
/// [`crate::facts::FactCache::get_near`]; everything else (fills, removals) is the shared cache's, through
/// `shared`.
pub(crate) struct Tier<K: Send, V: Send, B = quick_cache::DefaultHashBuilder> {
    pub(crate) shared: Cache<K, V, UnitWeighter, B>,
    pub(crate) near: Near<K, V>,
}

impl<K, V> Tier<K, V>
where
    K: Eq + std::hash::Hash + Send,
    V: Clone + Send,
{
    pub(crate) fn new(capacity: usize) -> Tier<K, V> {
        Tier { shared: Cache::new(capacity), near: Near::new() }
    }
}

impl<K, V, B> Tier<K, V, B>
where
    K: Eq + std::hash::Hash + Send,
    V: Clone + Send,
    B: BuildHasher + Clone,
{
    pub(crate) fn with_hasher(capacity: usize, hasher: B) -> Tier<K, V, B> {
        let shared = Cache::with(capacity, capacity as u64, UnitWeighter, hasher, Default::default());
        Tier { shared, near: Near::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_served_only_at_the_generation_it_was_made_and_only_for_its_key() {
        let near: Near<i64, &str> = Near::new();
        assert_eq!(near.get(&7, 1), None, "nothing copied yet");
        near.put(&7, || 7, 1, "seven");
        assert_eq!(near.get(&7, 1), Some("seven"));
        assert_eq!(near.get(&7, 2), None, "the generation moved");
        // A key of the same slot takes it over.
        let other = (8..).find(|k: &i64| k.slot() == 7i64.slot()).unwrap_or(8);
        assert_eq!(near.get(&other, 1), None, "another key in the same slot is no hit");
        near.put(&other, || other, 1, "other");
        assert_eq!((near.get(&other, 1), near.get(&7, 1)), (Some("other"), None));
    }

    #[test]
    fn a_copy_is_read_in_place_only_at_its_generation_and_for_its_key() {
        let near: Near<i64, String> = Near::new();
        near.put(&7, || 7, 1, "seven".to_owned());
        assert_eq!(near.with(&7, 1, |v| v.len()), Some(5));
        assert_eq!(near.with(&7, 2, |v| v.len()), None, "the generation moved");
        assert_eq!(near.with(&8, 1, |v| v.len()), None, "another key");
        // While one copy is read, the copies of its kind are borrowed: one kept meanwhile is not.
        near.with(&7, 1, |_| near.put(&7, || 7, 1, "other".to_owned()));
        assert_eq!(near.get(&7, 1).as_deref(), Some("seven"));
    }

    #[test]
    fn each_thread_has_its_own_copies() {
        let near: std::sync::Arc<Near<u128, u32>> = std::sync::Arc::new(Near::new());
        near.put(&5, || 5, 1, 50);
        let there = std::sync::Arc::clone(&near);
        let seen = std::thread::spawn(move || {
            let before = there.get(&5, 1);
            there.put(&5, || 5, 1, 51);
            (before, there.get(&5, 1))
        })
        .join()
        .ok();
        assert_eq!(seen, Some((None, Some(51))));
        assert_eq!(near.get(&5, 1), Some(50));
    }

    #[test]
    fn keys_spread_over_the_slots() {
        let used: std::collections::HashSet<usize> = (1..=SLOTS as i64).map(|id| id.slot()).collect();
        assert!(used.len() > SLOTS / 2, "sequential ids fill {} of {SLOTS} slots", used.len());
        let pairs: std::collections::HashSet<usize> = (1..=SLOTS as i64).map(|id| (3, id).slot()).collect();
        assert!(pairs.len() > SLOTS / 2, "pairs fill {} of {SLOTS} slots", pairs.len());
    }

    #[test]
    fn a_copy_renewed_at_a_new_generation_keeps_its_key_and_a_new_key_is_made_once() {
        let near: Near<String, u8> = Near::new();
        let made = std::cell::Cell::new(0);
        let owned = || {
            made.set(made.get() + 1);
            "g/p".to_owned()
        };
        near.put("g/p", owned, 1, 1);
        near.put("g/p", owned, 2, 2);
        assert_eq!((near.get("g/p", 2), near.get("g/p", 1), made.get()), (Some(2), None, 1));
        assert_eq!(near.get("g/q", 2), None);
    }

    #[test]
    fn paths_spread_over_the_slots_and_equal_paths_share_one() {
        let paths: Vec<String> = (0..SLOTS).map(|i| format!("group-{}/project-{i}", i % 7)).collect();
        let used: std::collections::HashSet<usize> = paths.iter().map(|p| p.as_str().slot()).collect();
        assert!(used.len() > SLOTS / 2, "paths fill {} of {SLOTS} slots", used.len());
        assert_eq!("a/b".slot(), String::from("a/b").as_str().slot());
        assert_ne!("abcdefgh".mixed(), "abcdefgh\0".mixed());
    }
}
