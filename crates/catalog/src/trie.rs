//! The route trie: which route a path matches, found by walking the templates' segments once per method.
//!
//! Each node is a position in some templates; its edges are their next segments (a literal, a `:param` with its
//! suffix, a `*wildcard` with its suffix), and the routes whose templates end there hang from it. A route's rank
//! is its place when every route is sorted from the most specific (literal before parameter before wildcard,
//! segment by segment, then a query condition) to the least, the catalog's order between equals: the walk keeps
//! the best-ranked route that matches, and skips a subtree whose best rank cannot beat it.
//!
//! **Invariant:** the walk picks the route a scan of every template of the method would pick (a test compares
//! the two on every template of the catalog, parameters included); it reads the path's text and allocates
//! nothing.

use std::cmp::Ordering;

use crate::CanonicalPath;
use crate::routes::{ENCODED_PATH_PARAMS, MAX_PARAMS, Params, Route, RouteMatch, Segment, Span, query_has};

/// The values a walk took for the parameters of the templates it is in, in order, as spans of the path's text.
type Values = arrayvec::ArrayVec<Span, MAX_PARAMS>;

/// The span of `start..end` of the path's text (which `MAX_PATH_LEN` keeps within a `u16`).
fn span(start: usize, end: usize) -> Span {
    (u16::try_from(start).unwrap_or(u16::MAX), u16::try_from(end).unwrap_or(u16::MAX))
}

pub(crate) fn find<'a: 'p, 'p>(
    routes: &'a [Route],
    trie: &RouteTrie,
    method: &str,
    path: &'p CanonicalPath,
    query: Option<&str>,
) -> Option<RouteMatch<'a, 'p>> {
    matched(routes, &locate(routes, trie, method, path, query)?, path)
}

/// Where the route of a path was found, borrowing neither: the route's number and its parameters' spans of the
/// path's text. Made into a [`RouteMatch`] again, with the path it was found for, by `Catalog::matched`.
#[derive(Debug, Clone)]
pub struct Located {
    route: usize,
    values: Values,
}

pub(crate) fn locate(
    routes: &[Route],
    trie: &RouteTrie,
    method: &str,
    path: &CanonicalPath,
    query: Option<&str>,
) -> Option<Located> {
    let (route, values) = trie.find(routes, method, path, query)?;
    Some(Located { route, values })
}

pub(crate) fn route_of<'a>(routes: &'a [Route], located: &Located) -> Option<&'a Route> {
    routes.get(located.route)
}

pub(crate) fn matched<'a: 'p, 'p>(
    routes: &'a [Route],
    located: &Located,
    path: &'p CanonicalPath,
) -> Option<RouteMatch<'a, 'p>> {
    let route = routes.get(located.route)?;
    // The walk kept the values in the template's order; the template names them.
    let params = Params::new(&route.segments, path.text(), located.values.clone());
    Some(RouteMatch { route, params })
}

/// The trie of every route, one root per method.
#[derive(Debug, Default)]
pub(crate) struct RouteTrie {
    /// Each method's root node (a handful of methods: a scan).
    methods: Vec<(Box<str>, u32)>,
    nodes: Vec<Node>,
}

#[derive(Debug)]
struct Node {
    /// Literal edges, sorted by [`Word`] and then text, so that a search mostly compares integers.
    literals: Vec<(Word, Box<str>, u32)>,
    /// `:param` edges.
    params: Vec<Edge>,
    /// `*wildcard` edges.
    multis: Vec<Edge>,
    /// The routes whose template ends here, as (rank, route number), best rank first.
    ends: Vec<(u32, usize)>,
    /// The best rank of any route ending here or below.
    best: u32,
}

#[derive(Debug)]
struct Edge {
    /// A literal the segment (the last one taken, for a wildcard) must end with; empty for none.
    suffix: Box<str>,
    /// Whether a decoded `/` may stand in the value: only in GitLab's URL-encoded path parameters.
    slash: bool,
    child: u32,
}

impl Node {
    fn new() -> Node {
        Node { literals: Vec::new(), params: Vec::new(), multis: Vec::new(), ends: Vec::new(), best: u32::MAX }
    }

    fn literal(&self, segment: &str) -> Option<u32> {
        let key = Word::of(segment);
        // Most nodes have a literal edge or two: compared in turn.
        if self.literals.len() <= 4 {
            let mut edges = self.literals.iter();
            let found = edges.find(|(word, text, _)| *word == key && (key.whole() || **text == *segment));
            return found.map(|(_, _, child)| *child);
        }
        let found = self
            .literals
            .binary_search_by(|(word, text, _)| {
                // Equal words are equal texts when the word holds the whole text.
                word.cmp(&key).then_with(|| if key.whole() { Ordering::Equal } else { (**text).cmp(segment) })
            })
            .ok()?;
        self.literals.get(found).map(|(_, _, child)| *child)
    }
}

/// A segment's length and its first eight bytes, as one ordered pair of integers: two literals of a node rarely
/// share both, so that the search compares their text only at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Word(usize, u64);

impl Word {
    fn of(segment: &str) -> Word {
        let bytes = segment.as_bytes();
        // Eight bytes at once when there are as many (a fixed-size read), else byte by byte: no copy is called.
        let head = match bytes.first_chunk::<8>() {
            Some(head) => u64::from_be_bytes(*head),
            None => bytes.iter().fold(0u64, |word, b| word << 8 | u64::from(*b)) << (8 * (8 - bytes.len())),
        };
        Word(segment.len(), head)
    }

    /// Whether it holds its segment's whole text.
    fn whole(self) -> bool {
        self.0 <= 8
    }
}

/// A route's specificity, compared in order: 3 per literal, 2 per parameter, 1 per wildcard, then 1 for a query
/// condition (the scores `match_segments` records).
fn specificity(route: &Route) -> Vec<u8> {
    let mut score: Vec<u8> = route
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Literal(_) => 3,
            Segment::Param { .. } => 2,
            Segment::Multi { .. } => 1,
        })
        .collect();
    score.push(u8::from(route.query.is_some()));
    score
}

impl RouteTrie {
    pub(crate) fn new(routes: &[Route]) -> RouteTrie {
        let mut order: Vec<usize> = (0..routes.len()).collect();
        let scores: Vec<Vec<u8>> = routes.iter().map(specificity).collect();
        order.sort_by(|a, b| scores.get(*b).cmp(&scores.get(*a)).then(a.cmp(b)));
        let mut rank = vec![0u32; routes.len()];
        for (place, i) in order.iter().enumerate() {
            if let Some(slot) = rank.get_mut(*i) {
                *slot = u32::try_from(place).unwrap_or(u32::MAX);
            }
        }
        let mut trie = RouteTrie::default();
        for (i, route) in routes.iter().enumerate() {
            let rank = rank.get(i).copied().unwrap_or(u32::MAX);
            let mut node = trie.root(&route.method);
            for segment in &route.segments {
                node = trie.child(node, segment);
            }
            if let Some(end) = trie.nodes.get_mut(node as usize) {
                end.ends.push((rank, i));
                end.ends.sort_unstable();
            }
        }
        trie.rank_subtrees();
        trie
    }

    fn add_node(&mut self) -> u32 {
        self.nodes.push(Node::new());
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    fn root(&mut self, method: &str) -> u32 {
        if let Some((_, root)) = self.methods.iter().find(|(m, _)| **m == *method) {
            return *root;
        }
        let root = self.add_node();
        self.methods.push((method.into(), root));
        root
    }

    /// The child of `node` along `segment`, made if it is new.
    fn child(&mut self, node: u32, segment: &Segment) -> u32 {
        let slash = match segment {
            Segment::Param { name, suffix } => suffix.is_empty() && ENCODED_PATH_PARAMS.contains(&name.as_str()),
            Segment::Literal(_) | Segment::Multi { .. } => false,
        };
        let existing = self.nodes.get(node as usize).and_then(|n| match segment {
            Segment::Literal(text) => n.literal(text),
            Segment::Param { suffix, .. } => {
                n.params.iter().find(|e| *e.suffix == **suffix && e.slash == slash).map(|e| e.child)
            }
            Segment::Multi { suffix, .. } => n.multis.iter().find(|e| *e.suffix == **suffix).map(|e| e.child),
        });
        if let Some(child) = existing {
            return child;
        }
        let child = self.add_node();
        if let Some(n) = self.nodes.get_mut(node as usize) {
            match segment {
                Segment::Literal(text) => {
                    n.literals.push((Word::of(text), text.as_str().into(), child));
                    n.literals.sort_unstable();
                }
                Segment::Param { suffix, .. } => n.params.push(Edge { suffix: suffix.as_str().into(), slash, child }),
                Segment::Multi { suffix, .. } => n.multis.push(Edge { suffix: suffix.as_str().into(), slash, child }),
            }
        }
        child
    }

    /// Sets each node's best rank from its own routes and its children's (children are always made after their
    /// parent, so a walk from the last node to the first sees every child before its parent).
    fn rank_subtrees(&mut self) {
        for i in (0..self.nodes.len()).rev() {
            let Some(node) = self.nodes.get(i) else { continue };
            let children =
                node.literals.iter().map(|(_, _, c)| *c).chain(node.params.iter().chain(&node.multis).map(|e| e.child));
            let below = children.filter_map(|c| self.nodes.get(c as usize)).map(|c| c.best).min();
            let own = node.ends.first().map(|(rank, _)| *rank);
            let best = own.into_iter().chain(below).min().unwrap_or(u32::MAX);
            if let Some(node) = self.nodes.get_mut(i) {
                node.best = best;
            }
        }
    }

    /// The number of the best-ranked route of `method` matching `path` and `query`, and the values of its
    /// parameters, in the template's order.
    pub(crate) fn find(
        &self,
        routes: &[Route],
        method: &str,
        path: &CanonicalPath,
        query: Option<&str>,
    ) -> Option<(usize, Values)> {
        let (_, root) = self.methods.iter().find(|(m, _)| **m == *method)?;
        let slashed = path.has_decoded_slash();
        let mut walk = Walk { trie: self, routes, query, path, slashed, values: Values::new(), best: None };
        walk.visit(*root, 0);
        walk.best.map(|(_, route, values)| (route, values))
    }
}

struct Walk<'t, 'q, 'p> {
    trie: &'t RouteTrie,
    routes: &'t [Route],
    query: Option<&'q str>,
    /// The whole path, whose segments the walk reads by index (a wildcard's value is a span of its text).
    path: &'p CanonicalPath,
    /// Whether any segment of the path holds a decoded `/` (when none does, no segment is searched for one).
    slashed: bool,
    /// The values taken by the parameters on the way to the current node.
    values: Values,
    /// The best match so far: (rank, route number, its parameters' values).
    best: Option<(u32, usize, Values)>,
}

impl<'p> Walk<'_, '_, 'p> {
    fn beats_best(&self, rank: u32) -> bool {
        self.best.as_ref().is_none_or(|(best, _, _)| rank < *best)
    }

    /// Visits `child` at segment `at` with `value` taken by the parameter or wildcard leading to it.
    fn visit_with(&mut self, child: u32, at: usize, value: Span) {
        if self.values.try_push(value).is_ok() {
            self.visit(child, at);
            self.values.pop();
        }
    }

    /// Whether some route at or below `node` could beat the best so far.
    fn may_improve(&self, node: u32) -> bool {
        self.trie.nodes.get(node as usize).is_some_and(|n| self.beats_best(n.best))
    }

    /// Visits `node` with the path's segments from `at` on still to take.
    fn visit(&mut self, node: u32, at: usize) {
        let trie = self.trie;
        let Some(node) = trie.nodes.get(node as usize) else { return };
        if !self.beats_best(node.best) {
            return;
        }
        let path = self.path;
        let Some((start, end)) = path.segment_bounds(at) else {
            for &(rank, route) in &node.ends {
                if !self.beats_best(rank) {
                    break;
                }
                let condition = self.routes.get(route).map(|r| &r.query);
                if condition.is_some_and(|q| q.as_ref().is_none_or(|(k, v)| query_has(self.query, k, v))) {
                    self.best = Some((rank, route, self.values.clone()));
                    break;
                }
            }
            return;
        };
        let segment = path.text().get(start..end).unwrap_or_default();
        let rest = at + 1;
        if let Some(child) = node.literal(segment) {
            self.visit(child, rest);
        }
        for edge in &node.params {
            if !self.may_improve(edge.child) {
                continue;
            }
            let value = segment.strip_suffix(&*edge.suffix).unwrap_or_default();
            // A suffix is template text, never a `/`: the value holds a decoded `/` when its segment does.
            if !value.is_empty() && (edge.slash || !self.slashed || !path.is_slashed(at)) {
                self.visit_with(edge.child, rest, span(start, start + value.len()));
            }
        }
        if !node.multis.iter().any(|edge| self.may_improve(edge.child)) {
            return;
        }
        // A wildcard joins the segments it takes with `/`: a decoded one inside them would read as another path.
        let left = path.len() - at;
        let clean = if self.slashed { (at..path.len()).take_while(|i| !path.is_slashed(*i)).count() } else { left };
        for edge in &node.multis {
            if !self.may_improve(edge.child) {
                continue;
            }
            for take in 1..=clean {
                // The segments taken, joined in the path's own text; the suffix ends the last of them.
                let Some(value) = path.span(at, at + take - 1).strip_suffix(&*edge.suffix) else { continue };
                if !value.is_empty() {
                    self.visit_with(edge.child, at + take, span(start, start + value.len()));
                }
            }
        }
    }
}
