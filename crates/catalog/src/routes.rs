//! Route templates and the matcher.
//!
//! **Invariant:** a path matches at most one route, the most specific; a path no template matches is an unknown
//! route, denied.

use crate::{CanonicalPath, PermSet};
use std::borrow::Cow;

/// Where a route's resource lives: the boundary its permissions are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Boundary {
    /// A project, named by `:id` (an id or a URL-encoded path) or by its path in Git and registry routes.
    Project,
    /// A group, named by `:id`.
    Group,
    /// The authenticated caller's own user.
    OwnUser,
    /// The instance as a whole.
    Instance,
}

impl Boundary {
    /// The name `routes.txt` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Boundary::Project => "project",
            Boundary::Group => "group",
            Boundary::OwnUser => "self",
            Boundary::Instance => "instance",
        }
    }
}

pub use domain::Surface;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A literal segment, matched exactly.
    Literal(String),
    /// One segment, optionally ending in a literal suffix (`:module_version.info`).
    Param {
        /// The parameter's name.
        name: String,
        /// A literal the segment must end with (empty for none).
        suffix: String,
    },
    /// One or more segments, optionally ending in a literal suffix (`*project.git`).
    Multi {
        /// The parameter's name.
        name: String,
        /// A literal the last segment must end with (empty for none).
        suffix: String,
    },
}

/// A protected route from the catalog.
#[derive(Debug, Clone)]
pub struct Route {
    /// The canonical method (`HEAD` is read as `GET`).
    pub method: String,
    /// The path template as `routes.txt` writes it.
    pub template: String,
    /// The template's segments.
    pub segments: Vec<Segment>,
    /// A `key=value` pair the query must carry, if any.
    pub query: Option<(String, String)>,
    /// Where its resource lives.
    pub boundary: Boundary,
    /// Which credential scopes reach it.
    pub surface: Surface,
    /// Whether CI job tokens may use the route: `None` if not, otherwise the job-token policies it needs (none
    /// for a route about the job itself).
    pub job_token: Option<domain::JobPolicies>,
    /// Alternatives: the request is allowed if the caller holds every permission of any one set.
    pub required: Vec<PermSet>,
    /// The same, by name, for explanations.
    pub required_names: Vec<Vec<String>>,
    /// Alternatives of assignable permissions (bundles) that would let a fine-grained token use the route; empty
    /// when no grant can.
    pub bundles: Vec<Vec<String>>,
    /// The alternative of `bundles` with the fewest bundles: what a use of the route is recorded as having
    /// exercised. Every route shares one allocation per bundle name, so equal names have equal addresses.
    pub least_bundles: Vec<std::sync::Arc<str>>,
}

/// A named parameter taken from the path: borrowed from it, unless a wildcard joined several segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter's name in the template.
    pub name: &'a str,
    /// Its value as the path carries it.
    pub value: Cow<'a, str>,
}

/// A route found for a path: the route (borrowed from the catalog) and its parameters (borrowed from the path).
#[derive(Debug, Clone)]
pub struct RouteMatch<'a, 'p> {
    /// The route, borrowed from the catalog.
    pub route: &'a Route,
    /// The template's parameters, in the path's order.
    pub params: Params<'p>,
}

/// The most parameters a template may have (a test checks the catalog), kept inline so that a match allocates
/// nothing.
pub const MAX_PARAMS: usize = 8;
/// The most segments a template may have, for its specificity score, kept inline too.
pub const MAX_TEMPLATE_SEGMENTS: usize = 32;

/// A match's parameters, inline.
#[derive(Debug, Clone)]
pub struct Params<'p> {
    items: [Option<Param<'p>>; MAX_PARAMS],
    len: usize,
}

impl<'p> Params<'p> {
    fn new() -> Params<'p> {
        Params { items: [const { None }; MAX_PARAMS], len: 0 }
    }

    /// Adds a parameter; false when the template has more than [`MAX_PARAMS`] (no match then).
    fn push(&mut self, param: Param<'p>) -> bool {
        let Some(slot) = self.items.get_mut(self.len) else { return false };
        *slot = Some(param);
        self.len += 1;
        true
    }

    /// Replaces the value of parameter `index`.
    fn set(&mut self, index: usize, value: Cow<'p, str>) {
        if let Some(Some(param)) = self.items.get_mut(index) {
            param.value = value;
        }
    }

    fn truncate(&mut self, len: usize) {
        while self.len > len {
            self.len -= 1;
            if let Some(slot) = self.items.get_mut(self.len) {
                *slot = None;
            }
        }
    }

    /// The parameters, in the path's order.
    pub fn iter(&self) -> impl Iterator<Item = &Param<'p>> {
        self.items.iter().take(self.len).flatten()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A match's specificity: 3 per literal, 2 per parameter, 1 per wildcard, then 1 for a query condition; compared
/// in order.
#[derive(Debug, Clone, Copy)]
struct Score {
    items: [u8; MAX_TEMPLATE_SEGMENTS + 1],
    len: usize,
}

impl Score {
    fn new() -> Score {
        Score { items: [0; MAX_TEMPLATE_SEGMENTS + 1], len: 0 }
    }

    fn push(&mut self, value: u8) -> bool {
        let Some(slot) = self.items.get_mut(self.len) else { return false };
        *slot = value;
        self.len += 1;
        true
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_slice(&self) -> &[u8] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

impl RouteMatch<'_, '_> {
    /// The value of the parameter `name`, if the template has one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|p| p.name == name).map(|p| &*p.value)
    }
}

/// Which routes a request can match at all, by method and segment count, and each route's literal segments as
/// small numbers, so that a lookup rules candidates out with integer comparisons before matching any text.
#[derive(Debug, Default)]
pub(crate) struct RouteIndex {
    methods: std::collections::HashMap<String, MethodIndex, domain::Words>,
    /// Every literal segment of every template, numbered.
    literals: std::collections::HashMap<String, u16, domain::Words>,
    /// Per route (same order as the routes): each template segment's literal number, `None` for a parameter.
    patterns: Vec<Pattern>,
}

#[derive(Debug, Default)]
struct MethodIndex {
    /// Routes without a multi-segment wildcard, by their number of segments, each bucket sorted by the literal
    /// number of the last segment ([`NO_LITERAL`] for a parameter) and then by route.
    by_len: Vec<Vec<(u16, usize)>>,
    /// Routes with one: they match paths of at least their number of segments. Sorted as a bucket of `by_len`
    /// (a route whose last segment is a literal only matches paths ending in it).
    multi: Vec<(u16, usize)>,
}

#[derive(Debug, Default)]
struct Pattern {
    /// Literal numbers of the segments; `None` for `:param` and `*wildcard`.
    literals: Vec<Option<u16>>,
    /// Segments before the first wildcard and after the last one; `None` without a wildcard.
    multi: Option<(usize, usize)>,
}

/// A path segment that is no template's literal.
const NO_LITERAL: u16 = u16::MAX;
/// Paths up to this many segments are numbered on the stack.
const STACK_SEGMENTS: usize = 24;

impl RouteIndex {
    pub(crate) fn new(routes: &[Route]) -> RouteIndex {
        let mut index = RouteIndex::default();
        for (i, route) in routes.iter().enumerate() {
            let mut literals = Vec::with_capacity(route.segments.len());
            for segment in &route.segments {
                literals.push(match segment {
                    Segment::Literal(lit) => {
                        let next = u16::try_from(index.literals.len()).unwrap_or(NO_LITERAL - 1);
                        Some(*index.literals.entry(lit.clone()).or_insert(next))
                    }
                    _ => None,
                });
            }
            let is_multi = |s: &Segment| matches!(s, Segment::Multi { .. });
            let first = route.segments.iter().position(is_multi);
            let last = route.segments.iter().rposition(is_multi);
            let multi = first.zip(last).map(|(first, last)| (first, route.segments.len() - last - 1));
            index.patterns.push(Pattern { literals, multi });
            let entry = index.methods.entry(route.method.clone()).or_default();
            let last = index.patterns.last().and_then(|p| p.literals.last().copied().flatten());
            if multi.is_some() {
                entry.multi.push((last.unwrap_or(NO_LITERAL), i));
            } else {
                let len = route.segments.len();
                if entry.by_len.len() <= len {
                    entry.by_len.resize_with(len + 1, Vec::new);
                }
                if let Some(bucket) = entry.by_len.get_mut(len) {
                    bucket.push((last.unwrap_or(NO_LITERAL), i));
                }
            }
        }
        for entry in index.methods.values_mut() {
            for bucket in &mut entry.by_len {
                bucket.sort_unstable();
            }
            entry.multi.sort_unstable();
        }
        index
    }

    /// The routes that may match a path of `len` segments whose last segment has literal number `last`: those
    /// of that length, and those with a wildcard, that end in that literal or in a parameter or wildcard. In no
    /// set order, as four runs of (literal number, route number).
    fn candidates<'i>(&'i self, method: &str, len: usize, last: u16) -> [&'i [(u16, usize)]; 4] {
        let entry = self.methods.get(method);
        let exact = entry.and_then(|e| e.by_len.get(len)).map(Vec::as_slice).unwrap_or_default();
        let multi = entry.map(|e| e.multi.as_slice()).unwrap_or_default();
        // The run of `key` in a sorted bucket: one binary search for its start, then a walk (runs are short).
        let ending = |bucket: &'i [(u16, usize)], key: u16| {
            let from = bucket.get(bucket.partition_point(|(k, _)| *k < key)..).unwrap_or_default();
            from.get(..from.iter().take_while(|(k, _)| *k == key).count()).unwrap_or_default()
        };
        let literal_last = |bucket| if last == NO_LITERAL { &[][..] } else { ending(bucket, last) };
        [literal_last(exact), ending(exact, NO_LITERAL), literal_last(multi), ending(multi, NO_LITERAL)]
    }

    /// Whether route `i` can match a path whose segments have literal numbers `path`: the segment count, and the
    /// literal segments (all of them without a wildcard; before the first and after the last one with one).
    fn could_match(&self, i: usize, path: &[u16]) -> bool {
        let Some(pattern) = self.patterns.get(i) else { return false };
        let fits = |t: &Option<u16>, p: &u16| t.is_none_or(|t| t == *p);
        match pattern.multi {
            None => path.len() == pattern.literals.len() && pattern.literals.iter().zip(path).all(|(t, p)| fits(t, p)),
            Some((head, tail)) => {
                if path.len() < pattern.literals.len() {
                    return false;
                }
                let template_tail = pattern.literals.get(pattern.literals.len() - tail..).unwrap_or_default();
                let path_tail = path.get(path.len() - tail..).unwrap_or_default();
                pattern.literals.iter().take(head).zip(path).all(|(t, p)| fits(t, p))
                    && template_tail.iter().zip(path_tail).all(|(t, p)| fits(t, p))
            }
        }
    }
}

pub(crate) fn find<'a: 'p, 'p>(
    routes: &'a [Route],
    index: &RouteIndex,
    method: &str,
    path: &'p CanonicalPath,
    query: Option<&str>,
) -> Option<RouteMatch<'a, 'p>> {
    let number = |s: &str| index.literals.get(s).copied().unwrap_or(NO_LITERAL);
    let (mut texts, mut numbers) = ([""; STACK_SEGMENTS], [NO_LITERAL; STACK_SEGMENTS]);
    let (long_texts, long_numbers): (Vec<&str>, Vec<u16>);
    let (texts, numbers): (&[&str], &[u16]) = if path.len() <= STACK_SEGMENTS {
        for ((text, n), segment) in texts.iter_mut().zip(numbers.iter_mut()).zip(path.segments()) {
            (*text, *n) = (segment, number(segment));
        }
        (texts.get(..path.len()).unwrap_or_default(), numbers.get(..path.len()).unwrap_or_default())
    } else {
        long_texts = path.segments().collect();
        long_numbers = long_texts.iter().map(|s| number(s)).collect();
        (&long_texts, &long_numbers)
    };
    let last = numbers.last().copied().unwrap_or(NO_LITERAL);
    let mut among = Among::new(texts, query);
    for run in index.candidates(method, path.len(), last) {
        for &(_, i) in run {
            if index.could_match(i, numbers)
                && let Some(route) = routes.get(i)
            {
                among.consider(i, route);
            }
        }
    }
    among.best()
}

/// The most specific of the routes considered (all of the request's method) that matches the path's `segments`;
/// between equally specific ones, the first in the catalog, whatever order they come in.
struct Among<'a, 'p, 's, 'q> {
    segments: &'s [&'p str],
    query: Option<&'q str>,
    best: Option<(Score, usize, RouteMatch<'a, 'p>)>,
    /// Reused across candidates: only a match that becomes the best keeps its own (inline: nothing is allocated).
    params: Params<'p>,
    score: Score,
}

impl<'a: 'p, 'p, 's, 'q> Among<'a, 'p, 's, 'q> {
    fn new(segments: &'s [&'p str], query: Option<&'q str>) -> Self {
        Among { segments, query, best: None, params: Params::new(), score: Score::new() }
    }

    /// Route `i` of the catalog, if it matches and is more specific than the best so far.
    fn consider(&mut self, i: usize, route: &'a Route) {
        if let Some((key, value)) = &route.query
            && !query_has(self.query, key, value)
        {
            return;
        }
        self.params.truncate(0);
        self.score.truncate(0);
        if !match_segments(&route.segments, self.segments, &mut self.params, &mut self.score) {
            return;
        }
        // Routes with a query condition are more specific than the same path without one.
        if !self.score.push(u8::from(route.query.is_some())) {
            return;
        }
        let better = match &self.best {
            None => true,
            Some((best_score, best_i, _)) => {
                (self.score.as_slice(), std::cmp::Reverse(i)) > (best_score.as_slice(), std::cmp::Reverse(*best_i))
            }
        };
        if better {
            self.best = Some((self.score, i, RouteMatch { route, params: self.params.clone() }));
        }
    }

    fn best(self) -> Option<RouteMatch<'a, 'p>> {
        self.best.map(|(_, _, m)| m)
    }
}

fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
    let Some(query) = query else { return false };
    let mut found = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            if found.is_some() {
                // A repeated key is ambiguous: refuse to match rather than pick one.
                return false;
            }
            found = Some(v);
        }
    }
    found == Some(value)
}

/// The parameters GitLab defines as URL-encoded paths, the only ones a decoded `/` may stand in: a project's or
/// group's full path as `:id` (every `:id` of the catalog is under `/projects` or `/groups`), a repository file's
/// path, a ref or tag name, and a package name (`@scope%2Fname`).
pub const ENCODED_PATH_PARAMS: [&str; 5] = ["id", "file_path", "ref_name", "tag_name", "package_name"];

/// Matches segments; `score` records, per template segment, 3 for a literal, 2 for a parameter, 1 for a
/// multi-segment wildcard, so that the most specific template wins.
fn match_segments<'a>(template: &'a [Segment], path: &[&'a str], params: &mut Params<'a>, score: &mut Score) -> bool {
    let Some((first, rest)) = template.split_first() else {
        return path.is_empty();
    };
    match first {
        Segment::Literal(lit) => {
            let Some((seg, path_rest)) = path.split_first() else { return false };
            if *seg != lit {
                return false;
            }
            score.push(3) && match_segments(rest, path_rest, params, score)
        }
        Segment::Param { name, suffix } => {
            let Some((seg, path_rest)) = path.split_first() else { return false };
            let value = if suffix.is_empty() { Some(*seg) } else { seg.strip_suffix(suffix.as_str()) };
            let Some(value) = value.filter(|v| !v.is_empty()) else { return false };
            if value.contains('/') && !(suffix.is_empty() && ENCODED_PATH_PARAMS.contains(&name.as_str())) {
                return false;
            }
            let mark = (params.len(), score.len());
            if params.push(Param { name, value: Cow::Borrowed(value) })
                && score.push(2)
                && match_segments(rest, path_rest, params, score)
            {
                return true;
            }
            params.truncate(mark.0);
            score.truncate(mark.1);
            false
        }
        Segment::Multi { name, suffix } => {
            // Longest first: the wildcard takes as much as the rest of the template allows.
            for take in (1..=path.len()).rev() {
                let (taken, path_rest) = path.split_at(take);
                // A wildcard joins segments with `/`: a decoded one inside them would read as another path.
                if taken.iter().any(|segment| segment.contains('/')) {
                    continue;
                }
                // The suffix ends the last segment taken; the joined value is built only once the whole template
                // matched, so that trying a wildcard allocates nothing.
                let Some((last, init)) = taken.split_last() else { continue };
                let Some(last) = last.strip_suffix(suffix.as_str()) else { continue };
                if init.is_empty() && last.is_empty() {
                    continue;
                }
                let mark = (params.len(), score.len());
                if params.push(Param { name, value: Cow::Borrowed("") })
                    && score.push(1)
                    && match_segments(rest, path_rest, params, score)
                {
                    let mut value = init.join("/");
                    if !init.is_empty() {
                        value.push('/');
                    }
                    value.push_str(last);
                    params.set(mark.0, Cow::Owned(value));
                    return true;
                }
                params.truncate(mark.0);
                score.truncate(mark.1);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Catalog, canonical_path};

    /// A concrete path for a template: `x1` for each parameter, two segments for each wildcard.
    fn instance(route: &Route) -> String {
        let mut out = String::new();
        for segment in &route.segments {
            out.push('/');
            match segment {
                Segment::Literal(lit) => out.push_str(lit),
                Segment::Param { suffix, .. } => out.push_str(&format!("x1{suffix}")),
                Segment::Multi { suffix, .. } => out.push_str(&format!("a/b{suffix}")),
            }
        }
        out
    }

    #[test]
    fn the_index_finds_what_a_scan_of_every_route_finds() {
        let catalog = Catalog::builtin().unwrap();
        let routes = catalog.routes();
        let mut checked = 0;
        for route in routes {
            let path = canonical_path(&instance(route)).unwrap();
            let query = route.query.as_ref().map(|(k, v)| format!("{k}={v}"));
            // Parameters given the text of literals too, so that a parameter's value can look like a literal.
            let literal_valued = instance(route).replace("x1", "members").replace("a/b", "projects/issues");
            for path in [path.clone(), canonical_path(&literal_valued).unwrap()] {
                for method in ["GET", "POST", "PUT", "DELETE", route.method.as_str()] {
                    let indexed = catalog.find(method, &path, query.as_deref()).map(|m| &m.route.template);
                    let segments: Vec<&str> = path.segments().collect();
                    let mut among = Among::new(&segments, query.as_deref());
                    for (i, route) in routes.iter().enumerate().filter(|(_, r)| r.method == method) {
                        among.consider(i, route);
                    }
                    let scanned = among.best().map(|m| &m.route.template);
                    assert_eq!(indexed, scanned, "{method} {path:?}");
                    checked += 1;
                }
            }
            assert!(catalog.find(&route.method, &path, query.as_deref()).is_some(), "{}", route.template);
        }
        assert!(checked > 500);
    }

    #[test]
    fn a_decoded_slash_stands_only_in_a_parameter_gitlab_defines_as_an_encoded_path() {
        let catalog = Catalog::builtin().unwrap();
        let find = |method: &str, path: &str, query: Option<&str>| {
            let path = canonical_path(path).unwrap();
            catalog.find(method, &path, query).map(|m| m.route.template.clone())
        };
        let issues = find("GET", "/api/v4/projects/group%2Fproj/issues", None);
        assert_eq!(issues.as_deref(), Some("/api/v4/projects/:id/issues"));
        assert!(find("GET", "/api/v4/projects/1/repository/files/dir%2Ffile.txt/raw", None).is_some());
        assert!(find("GET", "/api/v4/projects/1/releases/v1%2Frc", None).is_some());
        assert_eq!(find("GET", "/api/v4/projects/1/issues/2%2F3", None), None);
        assert_eq!(find("GET", "/api/v4/projects/1/jobs/2%2Fjobs", None), None);
        let git = find("GET", "/group%2Fproj.git/info/refs", Some("service=git-upload-pack"));
        assert_eq!(git, None, "a wildcard joins segments with /, so a decoded one inside them is refused");
        assert!(find("GET", "/group/proj.git/info/refs", Some("service=git-upload-pack")).is_some());
    }
}
