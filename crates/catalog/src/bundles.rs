//! Assignable permissions: the bundles of raw permissions a fine-grained token's grants name, each with the
//! kinds of route (boundaries) it applies to.
//!
//! **Invariant:** a bundle gives only the raw permissions it lists, and only on routes of its boundaries.

use crate::{Boundary, PermSet};

/// A set of boundaries, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BoundarySet(u8);

impl BoundarySet {
    /// Every boundary, in the order sets and tables list them.
    pub const ALL: [Boundary; 4] = [Boundary::Project, Boundary::Group, Boundary::OwnUser, Boundary::Instance];

    fn bit(boundary: Boundary) -> u8 {
        match boundary {
            Boundary::Project => 1,
            Boundary::Group => 2,
            Boundary::OwnUser => 4,
            Boundary::Instance => 8,
        }
    }

    /// The set of these boundaries.
    pub fn of(boundaries: &[Boundary]) -> BoundarySet {
        BoundarySet(boundaries.iter().fold(0, |bits, b| bits | BoundarySet::bit(*b)))
    }

    /// Adds a boundary.
    pub fn insert(&mut self, boundary: Boundary) {
        self.0 |= BoundarySet::bit(boundary);
    }

    /// Whether the set holds `boundary`.
    pub fn contains(self, boundary: Boundary) -> bool {
        self.0 & BoundarySet::bit(boundary) != 0
    }

    /// Whether the two sets share a boundary.
    pub fn intersects(self, other: BoundarySet) -> bool {
        self.0 & other.0 != 0
    }

    /// The boundaries in the set, in [`BoundarySet::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Boundary> {
        BoundarySet::ALL.into_iter().filter(move |b| self.contains(*b))
    }
}

/// One assignable permission.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Its name, as a fine-grained token's grant names it (`read_job`).
    pub name: String,
    /// The heading it is listed under, as GitLab groups them ("CI/CD").
    pub category: String,
    /// What it lets a token do, in words.
    pub description: String,
    /// The kinds of route it applies to.
    pub boundaries: BoundarySet,
    /// The raw permissions it grants on those routes.
    pub permissions: PermSet,
}

impl Boundary {
    /// The name a grant uses for the boundary (GitLab's: `user` for the caller's own user).
    pub fn grant_name(self) -> &'static str {
        match self {
            Boundary::OwnUser => "user",
            other => other.as_str(),
        }
    }
}
