//! Allowlist rules: `METHODS PATH` lines a token may carry (the original proposal of fine-grained tokens). When a
//! token has any, a request must match one of them, on top of everything else: rules only ever narrow.
//!
//! - METHODS: `*` or a comma-separated list of GET, HEAD (the same as GET), POST, PUT, PATCH, DELETE.
//! - PATH: relative to `/api/v4` (`/projects/278964/issues`), or `git:/group/project.git/…` for Git over HTTP,
//!   or `registry:/group/project/…` for the container registry (`/v2/…`).
//! - Wildcards, the only globbing: `*` is exactly one segment, `**` (last only) is one or more segments.
//! - A group or project in the path is named by its numeric id (`/projects/42`), never by its path, so that no
//!   alias of the request can slip past a rule: requests are matched with the id Tessera resolved.
//!
//! **Invariant:** rules only ever narrow; a token with rules and a request no rule matches is refused.

use std::fmt;

/// The most rules a token may carry, and the longest one.
pub const MAX_RULES: usize = 50;
/// The longest rule, in bytes.
pub const MAX_RULE_LEN: usize = 512;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Where a request's path is matched: the API, Git over HTTP or the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleSurface {
    /// The REST API, under `/api/v4`.
    Api,
    /// Git over HTTP.
    Git,
    /// The container registry, under `/v2`.
    Registry,
}

impl RuleSurface {
    fn prefix(self) -> &'static str {
        match self {
            RuleSurface::Api => "",
            RuleSurface::Git => "git:",
            RuleSurface::Registry => "registry:",
        }
    }
}

/// A request as rules see it: its canonical method, surface and path segments (decoded; a group or project
/// `:id` replaced by the resolved numeric id; `/api/v4` or `/v2` left out).
#[derive(Debug, Clone, Copy)]
pub struct RuleTarget<'a> {
    /// The canonical method.
    pub method: &'a str,
    /// Where the path is matched.
    pub surface: RuleSurface,
    /// The path's segments as rules see them.
    pub segments: &'a [&'a str],
}

/// Why a rule is refused at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError(pub String);

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads a rule a client wrote and returns it normalised (methods upper-case, sorted and deduplicated, HEAD as
/// GET, one space), or why it is refused.
pub fn normalize_rule(text: &str) -> Result<String, RuleError> {
    let bad = |why: &str| Err(RuleError(format!("{:?}: {why}", text.chars().take(80).collect::<String>())));
    if text.len() > MAX_RULE_LEN {
        return bad("is too long");
    }
    let mut parts = text.split_whitespace();
    let (Some(methods), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return bad("expected METHODS PATH, such as GET,POST /projects/42/issues");
    };
    let mut names: Vec<&str> = Vec::new();
    for method in methods.split(',') {
        let upper = method.to_ascii_uppercase();
        let name = match upper.as_str() {
            "*" => "*",
            "HEAD" | "GET" => "GET",
            other => match METHODS.iter().find(|m| **m == other) {
                Some(m) => *m,
                None => return bad("methods are *, GET, HEAD, POST, PUT, PATCH or DELETE"),
            },
        };
        names.push(name);
    }
    if names.contains(&"*") {
        names = vec!["*"];
    }
    names.sort_by_key(|m| METHODS.iter().position(|k| k == m));
    names.dedup();
    let (prefix, rest) = split_surface(path);
    if !rest.starts_with('/') {
        return bad("the path starts with /, git:/ or registry:/");
    }
    if prefix == RuleSurface::Api && (rest == "/api/v4" || rest.starts_with("/api/v4/")) {
        return bad("paths are relative to /api/v4: leave it out");
    }
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return bad("a path has no empty, . or .. segments");
        }
        if segment.contains(['%', '?', '#']) || segment.chars().any(char::is_control) {
            return bad("a path has no %, ? or # (write * for a segment you cannot spell)");
        }
        if segment.contains('*') && *segment != "*" && *segment != "**" {
            return bad("* and ** stand alone as a segment");
        }
        if *segment == "**" && i + 1 != segments.len() {
            return bad("** is the last segment");
        }
        let names_namespace = i > 0 && matches!(segments.get(i - 1), Some(&"projects") | Some(&"groups"));
        if prefix == RuleSurface::Api
            && names_namespace
            && i == 1
            && !(segment.bytes().all(|b| b.is_ascii_digit()) || *segment == "*" || *segment == "**")
        {
            return bad("name a group or project by its numeric id");
        }
    }
    Ok(format!("{} {}{}", names.join(","), prefix.prefix(), rest))
}

fn split_surface(path: &str) -> (RuleSurface, &str) {
    if let Some(rest) = path.strip_prefix("git:") {
        (RuleSurface::Git, rest)
    } else if let Some(rest) = path.strip_prefix("registry:") {
        (RuleSurface::Registry, rest)
    } else {
        (RuleSurface::Api, path)
    }
}

/// Whether one normalised rule matches the request, read from its text: the reference a [`CompiledRule`] (what
/// a decision asks) is held to by the tests. The rule is read as bytes (`,`, ` ` and `/` are ASCII: no character
/// of UTF-8 text holds their byte).
#[cfg(test)]
fn rule_matches(rule: &str, target: &RuleTarget<'_>) -> bool {
    let Some(space) = rule.bytes().position(|b| b == b' ') else { return false };
    let (Some(methods), Some(path)) = (rule.get(..space), rule.get(space + 1..)) else { return false };
    let (methods, method) = (methods.as_bytes(), target.method.as_bytes());
    // Most rules name one method: a list is split only when there is one.
    let listed = if methods.contains(&b',') {
        methods.split(|&b| b == b',').any(|m| m == b"*" || m == method)
    } else {
        methods == b"*" || methods == method
    };
    if !listed {
        return false;
    }
    let (surface, rest) = split_surface(path);
    if surface != target.surface {
        return false;
    }
    let mut want = rest.as_bytes().split(|&b| b == b'/').skip(1);
    let mut have = target.segments.iter();
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(b"**"), Some(_)) => return true,
            (Some(b"*"), Some(_)) => {}
            (Some(literal), Some(segment)) if literal == segment.as_bytes() => {}
            _ => return false,
        }
    }
}

/// A normalised rule read once (when its token is loaded), so that asking it on every request reads no text:
/// its methods as bits, its surface, and its path's segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRule {
    /// Bit `i` for `METHODS[i]`, and [`OTHER_METHODS`] too for `*`; none for a rule that cannot be read (it
    /// matches nothing: rules only narrow).
    methods: u8,
    surface: RuleSurface,
    parts: Box<[RulePart]>,
}

/// The bit `*` sets for methods outside `METHODS`.
const OTHER_METHODS: u8 = 1 << METHODS.len();

#[derive(Debug, Clone, PartialEq, Eq)]
enum RulePart {
    /// A segment matched exactly.
    Literal(Box<str>),
    /// `*`: any one segment.
    One,
    /// `**`: one or more segments, to the end.
    Rest,
}

fn method_bit(method: &str) -> u8 {
    METHODS.iter().position(|m| *m == method).map_or(OTHER_METHODS, |i| 1 << i)
}

impl CompiledRule {
    /// Reads a rule as `rule_matches` does; one it cannot read matches nothing, and a method outside
    /// `METHODS` (which [`normalize_rule`] never writes) is none (rules only narrow).
    pub fn new(rule: &str) -> CompiledRule {
        let Some((methods, path)) = rule.split_once(' ') else {
            return CompiledRule { methods: 0, surface: RuleSurface::Api, parts: Box::new([]) };
        };
        let methods = methods.split(',').fold(0, |bits, m| match m {
            "*" => bits | u8::MAX,
            named => bits | METHODS.iter().position(|k| *k == named).map_or(0, |i| 1 << i),
        });
        let (surface, rest) = split_surface(path);
        let parts = rest
            .split('/')
            .skip(1)
            .map(|segment| match segment {
                "*" => RulePart::One,
                "**" => RulePart::Rest,
                literal => RulePart::Literal(literal.into()),
            })
            .collect();
        CompiledRule { methods, surface, parts }
    }

    /// Whether the rule matches the request, as `rule_matches` would answer for its text.
    pub fn matches(&self, target: &RuleTarget<'_>) -> bool {
        self.matches_method(target, method_bit(target.method))
    }

    /// As [`CompiledRule::matches`], the request's method already read as its bit.
    fn matches_method(&self, target: &RuleTarget<'_>, method: u8) -> bool {
        if self.methods & method == 0 || self.surface != target.surface {
            return false;
        }
        let mut have = target.segments.iter();
        for part in self.parts.iter() {
            match (part, have.next()) {
                (RulePart::Rest, Some(_)) => return true,
                (RulePart::One, Some(_)) => {}
                (RulePart::Literal(literal), Some(segment)) if **literal == **segment => {}
                _ => return false,
            }
        }
        have.next().is_none()
    }
}

/// Reads a token's rules once.
pub fn compile_rules(rules: &[String]) -> Vec<CompiledRule> {
    rules.iter().map(|rule| CompiledRule::new(rule)).collect()
}

/// Whether a token with `rules` may make the request: no rules means no allowlist.
pub fn within_rules(rules: &[CompiledRule], target: &RuleTarget<'_>) -> bool {
    let method = method_bit(target.method);
    rules.is_empty() || rules.iter().any(|rule| rule.matches_method(target, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api<'a>(method: &'a str, segments: &'a [&'a str]) -> RuleTarget<'a> {
        RuleTarget { method, surface: RuleSurface::Api, segments }
    }

    #[test]
    fn rules_are_normalised() {
        assert_eq!(normalize_rule("get,post  /projects/42/issues").as_deref(), Ok("GET,POST /projects/42/issues"));
        assert_eq!(normalize_rule("DELETE,HEAD,GET /x").as_deref(), Ok("GET,DELETE /x"));
        assert_eq!(normalize_rule("GET,* /x").as_deref(), Ok("* /x"));
        assert_eq!(normalize_rule("GET git:/g/p.git/**").as_deref(), Ok("GET git:/g/p.git/**"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "",
            "GET",
            "GET /x extra",
            "FETCH /x",
            "GET x",
            "GET /api/v4/projects",
            "GET /projects//issues",
            "GET /projects/../admin",
            "GET /projects/a%2Fb",
            "GET /projects/group/issues",
            "GET /pro*ts",
            "GET /projects/**/issues",
            "GET /x?y=1",
        ] {
            assert!(normalize_rule(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_rule(&format!("GET /{}", "a".repeat(600))).is_err());
    }

    #[test]
    fn one_star_is_one_segment_and_two_stars_the_rest() {
        let rule = "GET /projects/42/*";
        assert!(rule_matches(rule, &api("GET", &["projects", "42", "issues"])));
        assert!(!rule_matches(rule, &api("GET", &["projects", "42", "issues", "1"])));
        assert!(!rule_matches(rule, &api("GET", &["projects", "42"])));
        let rest = "GET /projects/42/**";
        assert!(rule_matches(rest, &api("GET", &["projects", "42", "issues", "1", "notes"])));
        assert!(!rule_matches(rest, &api("GET", &["projects", "42"])));
        assert!(!rule_matches(rest, &api("GET", &["projects", "43", "issues"])));
    }

    #[test]
    fn methods_and_surfaces_must_match() {
        assert!(rule_matches("GET,POST /projects/42/issues", &api("POST", &["projects", "42", "issues"])));
        assert!(!rule_matches("GET,POST /projects/42/issues", &api("DELETE", &["projects", "42", "issues"])));
        assert!(rule_matches("* /user", &api("PUT", &["user"])));
        let git = RuleTarget { method: "GET", surface: RuleSurface::Git, segments: &["g", "p.git", "info", "refs"] };
        assert!(rule_matches("GET git:/g/p.git/**", &git));
        assert!(!rule_matches("GET /g/p.git/**", &git), "an API rule never matches Git");
    }

    #[test]
    fn no_rules_is_no_allowlist() {
        assert!(within_rules(&[], &api("DELETE", &["projects", "1"])));
        assert!(!within_rules(&compile_rules(&["GET /user".to_owned()]), &api("DELETE", &["projects", "1"])));
    }

    #[test]
    fn a_rule_that_cannot_be_read_matches_nothing_once_compiled() {
        let any = api("GET", &["user"]);
        for unreadable in ["", "GET", "FETCH /user", "get /user"] {
            assert!(!CompiledRule::new(unreadable).matches(&any), "{unreadable:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Rules and requests drawn from a few words, so that many match: the compiled rule answers as its text.
        #[test]
        fn a_compiled_rule_answers_as_its_text(
            methods in proptest::collection::vec(0usize..7, 1..3),
            rule_path in proptest::collection::vec(0usize..7, 0..5),
            method in 0usize..6,
            surface in 0usize..3,
            path in proptest::collection::vec(0usize..5, 0..5),
        ) {
            const WORDS: [&str; 7] = ["projects", "42", "issues", "7", "g", "*", "**"];
            const NAMES: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "*", "HEAD"];
            let prefix = ["", "git:", "registry:"][surface % 3];
            let rule_path: String = rule_path.iter().map(|w| format!("/{}", WORDS[*w])).collect();
            let names: Vec<&str> = methods.iter().map(|m| NAMES[*m]).collect();
            let Ok(rule) = normalize_rule(&format!("{} {prefix}{}", names.join(","), if rule_path.is_empty() { "/x" } else { &rule_path })) else {
                return Ok(());
            };
            let segments: Vec<&str> = path.iter().map(|w| WORDS[*w]).collect();
            let method = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"][method];
            for surface in [RuleSurface::Api, RuleSurface::Git, RuleSurface::Registry] {
                let target = RuleTarget { method, surface, segments: &segments };
                proptest::prop_assert_eq!(CompiledRule::new(&rule).matches(&target), rule_matches(&rule, &target), "{}", rule);
            }
        }
    }
}
