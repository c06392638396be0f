//! Permission sets as bitsets, so that a decision is a few AND operations.
//!
//! **Invariant:** a set holds at most 256 permissions, and operations never add a permission that neither operand
//! held.

/// One raw permission, an index into the catalog's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission(pub u8);

/// A set of up to 256 permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermSet([u64; 4]);

impl PermSet {
    /// The most permissions a set holds.
    pub const MAX: usize = 256;

    /// Adds a permission.
    pub fn insert(&mut self, p: Permission) {
        let i = usize::from(p.0);
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1u64 << (i % 64);
        }
    }

    /// Whether the set holds `p`.
    pub fn contains(&self, p: Permission) -> bool {
        let i = usize::from(p.0);
        self.0.get(i / 64).is_some_and(|word| word & (1u64 << (i % 64)) != 0)
    }

    /// Every permission of either set.
    pub fn union(self, other: PermSet) -> PermSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        out
    }

    /// The permissions of both sets.
    pub fn intersect(self, other: PermSet) -> PermSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        out
    }

    /// Whether every permission of `other` is in this set.
    pub fn covers(&self, other: &PermSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & b == *b)
    }

    /// Whether the set holds no permission.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    /// The permissions in the set, lowest index first.
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        (0..=255u8).map(Permission).filter(|p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(iter: T) -> Self {
        let mut set = PermSet::default();
        for p in iter {
            set.insert(p);
        }
        set
    }
}
