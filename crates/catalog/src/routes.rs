//! Route templates and the matcher.
//!
//! **Invariant:** a path matches at most one route, the most specific; a path no template matches is an unknown
//! route, denied.

#[cfg(test)]
use crate::CanonicalPath;
use crate::PermSet;

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

/// A named parameter taken from the path, borrowed from it (a wildcard's segments are joined there already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The parameter's name in the template.
    pub name: &'a str,
    /// Its value as the path carries it.
    pub value: &'a str,
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

/// Where a parameter's value lies in the path's text: every value is a span of it (a segment less its suffix, or
/// the segments a wildcard takes), so that a match holds two small integers per value, not a borrowed string.
pub(crate) type Span = (u16, u16);

/// A match's parameters: the values the path gave them, in the template's order, named by the template (inline:
/// nothing is initialized or allocated until a value is pushed).
#[derive(Debug, Clone)]
pub struct Params<'p> {
    /// The template's segments, which name its parameters.
    template: &'p [Segment],
    /// The path's text, which the values are spans of.
    text: &'p str,
    values: arrayvec::ArrayVec<Span, MAX_PARAMS>,
}

impl<'p> Params<'p> {
    pub(crate) fn new(
        template: &'p [Segment],
        text: &'p str,
        values: arrayvec::ArrayVec<Span, MAX_PARAMS>,
    ) -> Params<'p> {
        Params { template, text, values }
    }

    /// Adds a value, a span of the path's text; false when the template has more than [`MAX_PARAMS`] parameters
    /// (no match then).
    #[cfg(test)]
    fn push(&mut self, value: &'p str) -> bool {
        let start = value.as_ptr().addr().wrapping_sub(self.text.as_ptr().addr());
        let span = (u16::try_from(start).unwrap_or(u16::MAX), u16::try_from(start + value.len()).unwrap_or(u16::MAX));
        assert_eq!(
            self.text.get(usize::from(span.0)..usize::from(span.1)),
            Some(value),
            "a value is a span of the path"
        );
        self.values.try_push(span).is_ok()
    }

    #[cfg(test)]
    fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }

    /// The parameters, in the path's order.
    pub fn iter(&self) -> impl Iterator<Item = Param<'p>> + '_ {
        let names = self.template.iter().filter_map(|segment| match segment {
            Segment::Literal(_) => None,
            Segment::Param { name, .. } | Segment::Multi { name, .. } => Some(name.as_str()),
        });
        let text = self.text;
        names.zip(&self.values).map(move |(name, &(start, end))| Param {
            name,
            value: text.get(usize::from(start)..usize::from(end)).unwrap_or_default(),
        })
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
/// A match's specificity: 3 per literal, 2 per parameter, 1 per wildcard, then 1 for a query condition; compared
/// in order.
#[derive(Debug, Clone)]
struct Score {
    items: arrayvec::ArrayVec<u8, { MAX_TEMPLATE_SEGMENTS + 1 }>,
}

#[cfg(test)]
impl Score {
    fn new() -> Score {
        Score { items: arrayvec::ArrayVec::new() }
    }

    fn push(&mut self, value: u8) -> bool {
        self.items.try_push(value).is_ok()
    }

    fn truncate(&mut self, len: usize) {
        self.items.truncate(len);
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn as_slice(&self) -> &[u8] {
        &self.items
    }
}

impl RouteMatch<'_, '_> {
    /// The value of the parameter `name`, if the template has one.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|p| p.name == name).map(|p| p.value)
    }
}

#[cfg(test)]
/// The most specific of the routes considered (all of the request's method) that matches the path's `segments`;
/// between equally specific ones, the first in the catalog, whatever order they come in.
struct Among<'a, 'p, 's, 'q> {
    segments: &'s [&'p str],
    path: &'p CanonicalPath,
    query: Option<&'q str>,
    best: Option<(Score, usize, RouteMatch<'a, 'p>)>,
    /// Reused across candidates: only a match that becomes the best keeps its own (inline: nothing is allocated).
    params: Params<'p>,
    score: Score,
}

#[cfg(test)]
impl<'a: 'p, 'p, 's, 'q> Among<'a, 'p, 's, 'q> {
    fn new(segments: &'s [&'p str], path: &'p CanonicalPath, query: Option<&'q str>) -> Self {
        Among {
            segments,
            path,
            query,
            best: None,
            params: Params::new(&[], path.text(), arrayvec::ArrayVec::new()),
            score: Score::new(),
        }
    }

    /// Route `i` of the catalog, if it matches and is more specific than the best so far.
    fn consider(&mut self, i: usize, route: &'a Route) {
        if let Some((key, value)) = &route.query
            && !query_has(self.query, key, value)
        {
            return;
        }
        self.params = Params::new(&route.segments, self.path.text(), arrayvec::ArrayVec::new());
        self.score.truncate(0);
        if !match_segments(&route.segments, self.segments, self.path, &mut self.params, &mut self.score) {
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
            self.best = Some((self.score.clone(), i, RouteMatch { route, params: self.params.clone() }));
        }
    }

    fn best(self) -> Option<RouteMatch<'a, 'p>> {
        self.best.map(|(_, _, m)| m)
    }
}

pub(crate) fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
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

#[cfg(test)]
/// Matches segments (`path`, the last `path.len()` segments of `whole`) one template at a time: the scan's reading,
/// which the tests hold the trie's walk to. `score` records, per template segment, 3 for a literal, 2 for a
/// parameter, 1 for a multi-segment wildcard, so that the most specific template wins.
fn match_segments<'a>(
    template: &'a [Segment],
    path: &[&'a str],
    whole: &'a CanonicalPath,
    params: &mut Params<'a>,
    score: &mut Score,
) -> bool {
    let Some((first, rest)) = template.split_first() else {
        return path.is_empty();
    };
    match first {
        Segment::Literal(lit) => {
            let Some((seg, path_rest)) = path.split_first() else { return false };
            if *seg != lit {
                return false;
            }
            score.push(3) && match_segments(rest, path_rest, whole, params, score)
        }
        Segment::Param { name, suffix } => {
            let Some((seg, path_rest)) = path.split_first() else { return false };
            let value = if suffix.is_empty() { Some(*seg) } else { seg.strip_suffix(suffix.as_str()) };
            let Some(value) = value.filter(|v| !v.is_empty()) else { return false };
            if whole.has_decoded_slash()
                && value.contains('/')
                && !(suffix.is_empty() && ENCODED_PATH_PARAMS.contains(&name.as_str()))
            {
                return false;
            }
            let mark = (params.len(), score.len());
            if params.push(value) && score.push(2) && match_segments(rest, path_rest, whole, params, score) {
                return true;
            }
            params.truncate(mark.0);
            score.truncate(mark.1);
            false
        }
        Segment::Multi { suffix, .. } => {
            let at = whole.len() - path.len();
            // Longest first: the wildcard takes as much as the rest of the template allows.
            for take in (1..=path.len()).rev() {
                let (taken, path_rest) = path.split_at(take);
                // A wildcard joins segments with `/`: a decoded one inside them would read as another path.
                if whole.has_decoded_slash() && taken.iter().any(|segment| segment.contains('/')) {
                    continue;
                }
                // The suffix ends the last segment taken; the segments are joined in the path's own text.
                let Some(value) = whole.span(at, at + take - 1).strip_suffix(suffix.as_str()) else { continue };
                if value.is_empty() {
                    continue;
                }
                let mark = (params.len(), score.len());
                if params.push(value) && score.push(1) && match_segments(rest, path_rest, whole, params, score) {
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
    fn the_trie_finds_what_a_scan_of_every_route_finds() {
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
                    let walked = found(catalog.find(method, &path, query.as_deref()));
                    assert_eq!(walked, scanned(&catalog, method, &path, query.as_deref()), "{method} {path:?}");
                    checked += 1;
                }
            }
            assert!(catalog.find(&route.method, &path, query.as_deref()).is_some(), "{}", route.template);
        }
        assert!(checked > 500);
    }

    /// A match as the tests compare it: the template and each parameter's name and value.
    type Found<'c> = Option<(&'c str, Vec<(String, String)>)>;

    fn found<'c>(m: Option<RouteMatch<'c, '_>>) -> Found<'c> {
        m.map(|m| {
            (m.route.template.as_str(), m.params.iter().map(|p| (p.name.to_owned(), p.value.to_owned())).collect())
        })
    }

    /// The scan's choice: every route of the method considered, the most specific kept.
    fn scanned<'c>(catalog: &'c Catalog, method: &str, path: &CanonicalPath, query: Option<&str>) -> Found<'c> {
        let segments: Vec<&str> = path.segments().collect();
        let mut among = Among::new(&segments, path, query);
        for (i, route) in catalog.routes().iter().enumerate().filter(|(_, r)| r.method == method) {
            among.consider(i, route);
        }
        found(among.best())
    }

    /// The shipped catalog and every word its templates hold (literals, suffixes, a value with each suffix).
    fn catalog_and_words() -> &'static (Catalog, Vec<String>) {
        static BOTH: std::sync::OnceLock<(Catalog, Vec<String>)> = std::sync::OnceLock::new();
        BOTH.get_or_init(|| {
            let catalog = Catalog::builtin().unwrap();
            let mut words: Vec<String> = ["42", "g%2Fp", "a%2F.git", "x"].map(str::to_owned).to_vec();
            for segment in catalog.routes().iter().flat_map(|r| &r.segments) {
                match segment {
                    Segment::Literal(lit) => words.push(lit.clone()),
                    Segment::Param { suffix, .. } | Segment::Multi { suffix, .. } => {
                        words.extend([format!("x{suffix}"), suffix.clone()]);
                    }
                }
            }
            words.sort();
            words.dedup();
            (catalog, words)
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Paths made from a template, most segments kept, some replaced by another word of the catalog, doubled,
        /// dropped or given a decoded `/`, sometimes lengthened: many match several templates, and wildcards take
        /// many segments.
        #[test]
        fn the_trie_picks_what_the_scan_picks_on_paths_made_from_the_templates(
            route in 0usize..10_000,
            choices in proptest::collection::vec((0usize..14, 0usize..10_000), 12),
            extra in proptest::collection::vec(0usize..10_000, 0..2),
            method in 0usize..5,
            query in 0usize..4,
        ) {
            let (catalog, words) = catalog_and_words();
            let route = &catalog.routes()[route % catalog.routes().len()];
            let mut raw = String::new();
            let mut choices = choices.into_iter();
            for segment in &route.segments {
                let (how, word) = choices.next().unwrap_or((0, 0));
                let word = &words[word % words.len()];
                let own = match segment {
                    Segment::Literal(lit) => lit.clone(),
                    Segment::Param { suffix, .. } => format!("v{suffix}"),
                    Segment::Multi { suffix, .. } => format!("a/b{suffix}"),
                };
                match how {
                    0 => raw.push_str(&format!("/{word}")),
                    1 => raw.push_str(&format!("/{word}/{own}")),
                    2 => raw.push_str(&format!("/g%2Fp{own}")),
                    3 => raw.push_str(&format!("/{own}/{own}")),
                    4 => {}
                    _ => raw.push_str(&format!("/{own}")),
                }
            }
            for word in extra {
                raw.push_str(&format!("/{}", words[word % words.len()]));
            }
            let Ok(path) = canonical_path(&raw) else { return Ok(()) };
            let method = ["GET", "POST", "PUT", "DELETE", route.method.as_str()][method];
            let query = [None, Some("service=git-upload-pack"), Some("service=git-receive-pack"), Some("a=b")][query];
            let walked = found(catalog.find(method, &path, query));
            proptest::prop_assert_eq!(walked, scanned(catalog, method, &path, query), "{} {}", method, raw);
        }
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
