//! A request target read once per thread: its canonical path and where the catalog's route for it lies, kept by
//! the exact method and target they were read from, so that a target asked about again (a gateway asks about
//! the same few paths all day) is neither decoded nor walked through the route trie again.
//!
//! **Invariant:** a kept reading is served only for the very bytes of the method and target it was made from, and
//! it is what reading them again would give: a reading depends on those bytes and on the catalog alone, and an
//! authority's catalog never changes. Nothing else (no credential, no fact) is kept here.

use std::sync::Arc;

use catalog::{CanonicalPath, Catalog, Located, PathError};
use quick_cache::Equivalent;

use crate::near::{Near, NearKey, fold};

/// The longest target whose reading is kept: longer ones (rare, and a sender's choice) are read each time, so
/// that a thread's readings stay small.
const KEPT_TARGET_LEN: usize = 512;

/// A target's path in its canonical spelling and its route, or why it has neither.
pub(crate) struct Reading {
    pub(crate) path: CanonicalPath,
    /// The route's place (`Ok(None)`: no route takes the path), or why the path has no canonical spelling.
    pub(crate) found: Result<Option<Located>, PathError>,
}

impl Reading {
    /// Reads `target` (its path and query) for the canonical `method`.
    fn of(catalog: &Catalog, method: &str, target: &str) -> Reading {
        let (path, query) = catalog::split_target(target);
        let mut canonical = CanonicalPath::default();
        let found = canonical.read(path).map(|()| catalog.locate(method, &canonical, query));
        Reading { path: canonical, found }
    }
}

/// A kept reading's key: the method as sent, then the target, in one string.
pub(crate) struct TargetKey {
    text: Box<str>,
    method_len: usize,
}

/// A request's method as sent and its target, borrowed: what a kept reading is looked up by.
#[derive(Clone, Copy)]
struct Asked<'r> {
    method: &'r str,
    target: &'r str,
}

impl Equivalent<TargetKey> for Asked<'_> {
    fn equivalent(&self, key: &TargetKey) -> bool {
        key.method_len == self.method.len()
            && key.text.split_at_checked(key.method_len) == Some((self.method, self.target))
    }
}

impl NearKey for Asked<'_> {
    fn mixed(&self) -> u64 {
        fold(self.target.mixed(), self.method.mixed())
    }
}

/// Each thread's readings of the targets it read last.
pub(crate) struct Readings {
    kept: Near<TargetKey, Arc<Reading>>,
}

/// A reading, kept or made for this request alone (a long target's: boxed, so that the decision's future holds
/// a pointer, not a path).
pub(crate) enum Read {
    Kept(Arc<Reading>),
    Made(Box<Reading>),
}

impl std::ops::Deref for Read {
    type Target = Reading;

    fn deref(&self) -> &Reading {
        match self {
            Read::Kept(kept) => kept,
            Read::Made(made) => made,
        }
    }
}

/// Readings never change: every one is served at this generation.
const ALWAYS: u64 = 0;

impl Readings {
    pub(crate) fn new() -> Readings {
        Readings { kept: Near::new() }
    }

    /// The reading of `target` asked with `method` as sent (`canonical`, its canonical spelling, is what the
    /// route is found for): this thread's, when it read the same bytes before.
    pub(crate) fn read(&self, catalog: &Catalog, method: &str, canonical: &str, target: &str) -> Read {
        if target.len() > KEPT_TARGET_LEN {
            return Read::Made(Box::new(Reading::of(catalog, canonical, target)));
        }
        let asked = Asked { method, target };
        if let Some(kept) = self.kept.get(&asked, ALWAYS) {
            return Read::Kept(kept);
        }
        let reading = Arc::new(Reading::of(catalog, canonical, target));
        let owned = || TargetKey { text: [method, target].concat().into_boxed_str(), method_len: method.len() };
        self.kept.put(&asked, owned, ALWAYS, Arc::clone(&reading));
        Read::Kept(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap_or_else(|e| panic!("the builtin catalog: {e}"))
    }

    /// What a reading says, in words: the canonical path and the route's template with its parameters.
    fn said(catalog: &Catalog, reading: &Reading) -> String {
        match &reading.found {
            Err(e) => format!("refused: {e:?}"),
            Ok(None) => format!("{} (no route)", reading.path),
            Ok(Some(located)) => match catalog.matched(located, &reading.path) {
                Some(found) => {
                    let params: Vec<String> = found.params.iter().map(|p| format!("{}={}", p.name, p.value)).collect();
                    format!("{} {} {}", reading.path, found.route.template, params.join(","))
                }
                None => "a place the catalog does not have".to_owned(),
            },
        }
    }

    #[test]
    fn a_kept_reading_is_what_reading_the_target_again_gives() {
        let catalog = catalog();
        let readings = Readings::new();
        let asked = [
            ("POST", "/api/v4/projects/root%2Fload/issues"),
            ("GET", "/api/v4/projects/7/repository/tree?ref=main"),
            ("GET", "/api/v4/projects/7/repository/tree?ref=dev"),
            ("get", "/api/v4/projects/7/repository/tree?ref=main"),
            ("GET", "/api/v4/projects/7/../8"),
            ("GET", "/api/v4/no/such/route"),
            ("GET", "/api/v4/user"),
        ];
        for round in 0..3 {
            for (method, target) in asked {
                let canonical = catalog::canonical_method(method);
                let read = readings.read(&catalog, method, &canonical, target);
                let fresh = Reading::of(&catalog, &canonical, target);
                assert_eq!(said(&catalog, &read), said(&catalog, &fresh), "{method} {target}, round {round}");
                assert!(matches!(read, Read::Kept(_)), "a short target's reading is kept");
            }
        }
    }

    #[test]
    fn a_reading_is_served_only_for_the_same_method_and_target_bytes() {
        let asked = Asked { method: "GET", target: "/api/v4/user" };
        let key = TargetKey { text: "GET/api/v4/user".into(), method_len: 3 };
        assert!(asked.equivalent(&key));
        for other in [
            Asked { method: "GE", target: "T/api/v4/user" },
            Asked { method: "GET", target: "/api/v4/users" },
            Asked { method: "GETX", target: "/api/v4/user" },
            Asked { method: "get", target: "/api/v4/user" },
        ] {
            assert!(!other.equivalent(&key), "{} {}", other.method, other.target);
        }
    }

    #[test]
    fn a_long_target_is_read_each_time() {
        let catalog = catalog();
        let target = format!("/api/v4/projects/7/issues?search={}", "x".repeat(KEPT_TARGET_LEN));
        let read = Readings::new().read(&catalog, "GET", "GET", &target);
        assert!(matches!(read, Read::Made(_)));
        assert!(said(&catalog, &read).contains("/projects/:id/issues"), "{}", said(&catalog, &read));
    }
}
