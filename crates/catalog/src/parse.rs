//! Reading the catalog files. Every unknown word is an error: empty requirement lists, unknown permissions,
//! boundaries or surfaces, and duplicate routes never become "everything".
//!
//! **Invariant:** a catalog that does not read whole is refused whole.

use std::fmt;

use crate::routes::Segment;
use crate::{Boundary, BoundarySet, Bundle, Catalog, PermSet, Permission, Route, Surface};

/// A line of a catalog file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// The file (`roles.txt`, `routes.txt`, `bundles.txt`).
    pub file: &'static str,
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

fn err(file: &'static str, line: usize, message: impl Into<String>) -> CatalogError {
    CatalogError { file, line, message: message.into() }
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.contains('_')
}

pub(crate) fn catalog(roles: &str, routes: &str, bundles: &str) -> Result<Catalog, CatalogError> {
    let mut names: Vec<String> = Vec::new();
    let mut intern = |name: &str, file: &'static str, line: usize| -> Result<Permission, CatalogError> {
        if !valid_name(name) {
            return Err(err(file, line, format!("{name:?} is not a permission name (<verb>_<resource>)")));
        }
        if let Some(i) = names.iter().position(|n| n == name) {
            return Ok(Permission(u8::try_from(i).map_err(|_| err(file, line, "too many permissions"))?));
        }
        if names.len() >= PermSet::MAX {
            return Err(err(file, line, "too many permissions"));
        }
        names.push(name.to_owned());
        Ok(Permission(u8::try_from(names.len() - 1).map_err(|_| err(file, line, "too many permissions"))?))
    };

    let level_names = ["guest", "planner", "reporter", "developer", "maintainer", "owner"];
    let mut levels = [PermSet::default(); 6];
    let mut seen_levels = [false; 6];
    let (mut public, mut internal, mut admin, mut signed_in, mut own_user, mut service_account) =
        (None, None, None, None, None, None);
    let (mut anyone, mut target_self, mut job_self) = (None, None, None);
    let mut deploy: [Option<PermSet>; 8] = [None; 8];
    for (n, line) in lines(roles) {
        let (role, perms) = line.split_once(':').ok_or_else(|| err("roles.txt", n, "expected `role: permissions`"))?;
        let mut set = PermSet::default();
        let mut count = 0;
        for name in perms.split_whitespace() {
            set.insert(intern(name, "roles.txt", n)?);
            count += 1;
        }
        if count == 0 {
            return Err(err("roles.txt", n, "a role needs at least one permission"));
        }
        let role = role.trim();
        let slot = match role {
            "public" => &mut public,
            "internal" => &mut internal,
            "admin" => &mut admin,
            "anyone" => &mut anyone,
            "signed_in" => &mut signed_in,
            "target_self" => &mut target_self,
            "self" => &mut own_user,
            "service_account" => &mut service_account,
            "job" => &mut job_self,
            _ if role.starts_with("deploy_") => {
                let scope = domain::Scope::parse(&role["deploy_".len()..]);
                let idx = domain::DEPLOYED_SCOPES
                    .iter()
                    .position(|s| Some(*s) == scope)
                    .ok_or_else(|| err("roles.txt", n, format!("{role:?} names no deploy token scope")))?;
                &mut deploy[idx]
            }
            _ => {
                let idx = level_names
                    .iter()
                    .position(|l| *l == role)
                    .ok_or_else(|| err("roles.txt", n, format!("unknown role {role:?}")))?;
                if std::mem::replace(&mut seen_levels[idx], true) {
                    return Err(err("roles.txt", n, format!("role {role:?} given twice")));
                }
                levels[idx] = set;
                continue;
            }
        };
        if slot.replace(set).is_some() {
            return Err(err("roles.txt", n, format!("role {role:?} given twice")));
        }
    }
    if let Some(missing) = seen_levels.iter().position(|seen| !seen) {
        return Err(err("roles.txt", 0, format!("role {:?} is missing", level_names[missing])));
    }
    // Each level holds what the levels below it hold.
    for i in 1..levels.len() {
        levels[i] = levels[i].union(levels[i - 1]);
    }
    let missing = |what: &str| err("roles.txt", 0, format!("role {what:?} is missing"));
    let owner = levels[5];
    let admin = admin.ok_or_else(|| missing("admin"))?.union(owner);
    let public = public.ok_or_else(|| missing("public"))?;
    let internal = internal.ok_or_else(|| missing("internal"))?;
    let anyone = anyone.ok_or_else(|| missing("anyone"))?;
    // A signed-in user holds what anyone holds.
    let signed_in = signed_in.ok_or_else(|| missing("signed_in"))?.union(anyone);
    let target_self = target_self.ok_or_else(|| missing("target_self"))?;
    let own_user = own_user.ok_or_else(|| missing("self"))?;
    let service_account = service_account.ok_or_else(|| missing("service_account"))?;
    let job_self = job_self.ok_or_else(|| missing("job"))?;
    let mut deploy_sets = [PermSet::default(); 8];
    for (i, set) in deploy.into_iter().enumerate() {
        deploy_sets[i] = set.ok_or_else(|| missing(&format!("deploy_{}", domain::DEPLOYED_SCOPES[i])))?;
    }

    let mut parsed = Vec::new();
    for (n, line) in lines(routes) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [method, template, boundary, surface, job, required @ ..] = fields.as_slice() else {
            return Err(err("routes.txt", n, "expected METHOD PATH BOUNDARY SURFACE JOB REQUIRED"));
        };
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(method) {
            return Err(err("routes.txt", n, format!("unknown method {method}")));
        }
        let boundary = match *boundary {
            "project" => Boundary::Project,
            "group" => Boundary::Group,
            "self" => Boundary::OwnUser,
            "instance" => Boundary::Instance,
            other => return Err(err("routes.txt", n, format!("unknown boundary {other}"))),
        };
        let surface = match *surface {
            "api" => Surface::Api,
            "user" => Surface::User,
            "token_self" => Surface::TokenSelf,
            "token_self_rotate" => Surface::TokenSelfRotate,
            "git_read" => Surface::GitRead,
            "git_write" => Surface::GitWrite,
            "registry_read" => Surface::RegistryRead,
            "registry_write" => Surface::RegistryWrite,
            "packages" => Surface::Packages,
            "decide" => Surface::Decide,
            "trigger" => Surface::Trigger,
            "feed" => Surface::Feed,
            other => return Err(err("routes.txt", n, format!("unknown surface {other}"))),
        };
        let job_token = match *job {
            "no" => None,
            "any" => Some(domain::JobPolicies::NONE),
            policies => Some(
                domain::JobPolicies::parse_names(policies.split('&'))
                    .map_err(|e| err("routes.txt", n, format!("JOB: {e}")))?,
            ),
        };
        let mut alternatives = Vec::new();
        let mut alternative_names = Vec::new();
        for alternative in required.join(" ").split('|') {
            let mut set = PermSet::default();
            let mut group_names = Vec::new();
            for name in alternative.split('&').map(str::trim) {
                set.insert(intern(name, "routes.txt", n)?);
                group_names.push(name.to_owned());
            }
            alternatives.push(set);
            alternative_names.push(group_names);
        }
        let (path, query) = match template.split_once('?') {
            Some((path, q)) => {
                let (k, v) =
                    q.split_once('=').ok_or_else(|| err("routes.txt", n, "query condition must be key=value"))?;
                (path, Some((k.to_owned(), v.to_owned())))
            }
            None => (*template, None),
        };
        let segments = template_segments(path).map_err(|m| err("routes.txt", n, m))?;
        if boundary == Boundary::Project
            && !segments.iter().any(|s| is_named(s, "id") || is_named(s, "project") || is_named(s, "name"))
        {
            return Err(err("routes.txt", n, "a project route needs :id, *project or *name"));
        }
        if boundary == Boundary::Group && !segments.iter().any(|s| is_named(s, "id")) {
            return Err(err("routes.txt", n, "a group route needs :id"));
        }
        let route = Route {
            method: (*method).to_owned(),
            template: (*template).to_owned(),
            segments,
            query,
            boundary,
            surface,
            job_token,
            required: alternatives,
            required_names: alternative_names,
            bundles: Vec::new(),
            least_bundles: Vec::new(),
        };
        if parsed.iter().any(|r: &Route| r.method == route.method && r.template == route.template) {
            return Err(err("routes.txt", n, format!("duplicate route {method} {template}")));
        }
        parsed.push(route);
    }
    let bundles = parse_bundles(bundles, &names)?;
    // One shared name per bundle, so that a name's identity is its address (recording a use hashes no text).
    let shared: Vec<std::sync::Arc<str>> = bundles.iter().map(|b| std::sync::Arc::from(b.name.as_str())).collect();
    for route in &mut parsed {
        route.bundles = covering_bundles(route, &bundles);
        let least = route.bundles.iter().min_by_key(|alternative| alternative.len());
        route.least_bundles = least
            .into_iter()
            .flatten()
            .filter_map(|name| shared.iter().find(|s| s.as_ref() == name.as_str()).cloned())
            .collect();
    }
    let bundle_index = bundles.iter().enumerate().map(|(i, b)| (b.name.clone(), i)).collect();
    let mut route_permissions = [PermSet::default(); 4];
    for (slot, boundary) in route_permissions.iter_mut().zip(BoundarySet::ALL) {
        for route in parsed.iter().filter(|r| r.boundary == boundary) {
            *slot = route.required.iter().fold(*slot, |all, needed| all.union(*needed));
        }
    }
    let trie = crate::trie::RouteTrie::new(&parsed);
    Ok(Catalog {
        names,
        levels,
        public,
        internal,
        admin,
        anyone,
        signed_in,
        own_user,
        target_self,
        service_account,
        job_self,
        deploy: deploy_sets,
        routes: parsed,
        trie,
        bundles,
        bundle_index,
        route_permissions,
    })
}

fn parse_bundles(text: &str, names: &[String]) -> Result<Vec<Bundle>, CatalogError> {
    let mut bundles: Vec<Bundle> = Vec::new();
    let mut category: Option<String> = None;
    for (n, line) in lines(text) {
        if let Some(heading) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            category = Some(heading.trim().to_owned());
            continue;
        }
        let category = category.clone().ok_or_else(|| err("bundles.txt", n, "a bundle needs a [Category] above it"))?;
        let (fields, description) = line
            .split_once(" -- ")
            .ok_or_else(|| err("bundles.txt", n, "expected NAME BOUNDARIES PERMISSIONS -- text"))?;
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let [name, boundaries, raw @ ..] = fields.as_slice() else {
            return Err(err("bundles.txt", n, "expected NAME BOUNDARIES PERMISSIONS -- text"));
        };
        if !valid_name(name) {
            return Err(err("bundles.txt", n, format!("{name:?} is not a permission name (<verb>_<resource>)")));
        }
        if bundles.iter().any(|b| b.name == *name) {
            return Err(err("bundles.txt", n, format!("bundle {name} given twice")));
        }
        let mut set = BoundarySet::default();
        for boundary in boundaries.split(',') {
            set.insert(match boundary {
                "project" => Boundary::Project,
                "group" => Boundary::Group,
                "user" => Boundary::OwnUser,
                "instance" => Boundary::Instance,
                other => return Err(err("bundles.txt", n, format!("unknown boundary {other}"))),
            });
        }
        let mut permissions = PermSet::default();
        for raw in raw {
            let i = names
                .iter()
                .position(|known| known == raw)
                .ok_or_else(|| err("bundles.txt", n, format!("unknown raw permission {raw}")))?;
            permissions.insert(Permission(u8::try_from(i).map_err(|_| err("bundles.txt", n, "too many permissions"))?));
        }
        if permissions.is_empty() || description.trim().is_empty() {
            return Err(err("bundles.txt", n, "a bundle needs permissions and a description"));
        }
        bundles.push(Bundle {
            name: (*name).to_owned(),
            category,
            description: description.trim().to_owned(),
            boundaries: set,
            permissions,
        });
    }
    if bundles.is_empty() {
        return Err(err("bundles.txt", 0, "no bundles"));
    }
    Ok(bundles)
}

/// For each alternative of a route, the bundles that together grant it on the route's boundary (the first in
/// the file for each permission); an alternative no bundle can grant is left out.
fn covering_bundles(route: &Route, bundles: &[Bundle]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    'alternatives: for needed in &route.required {
        let mut names: Vec<String> = Vec::new();
        for permission in needed.iter() {
            let found =
                bundles.iter().find(|b| b.boundaries.contains(route.boundary) && b.permissions.contains(permission));
            let Some(bundle) = found else { continue 'alternatives };
            if !names.contains(&bundle.name) {
                names.push(bundle.name.clone());
            }
        }
        if !out.contains(&names) {
            out.push(names);
        }
    }
    out
}

fn is_named(segment: &Segment, want: &str) -> bool {
    match segment {
        Segment::Param { name, .. } | Segment::Multi { name, .. } => name == want,
        Segment::Literal(_) => false,
    }
}

fn template_segments(path: &str) -> Result<Vec<Segment>, String> {
    if !path.starts_with('/') {
        return Err("a path starts with /".to_owned());
    }
    let mut out = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        let (kind, body) = match part.as_bytes().first() {
            Some(b':') => (Some(false), &part[1..]),
            Some(b'*') => (Some(true), &part[1..]),
            _ => (None, part),
        };
        let Some(multi) = kind else {
            out.push(Segment::Literal(part.to_owned()));
            continue;
        };
        let split = body.find('.').unwrap_or(body.len());
        let (name, suffix) = body.split_at(split);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(format!("bad parameter {part}"));
        }
        let (name, suffix) = (name.to_owned(), suffix.to_owned());
        out.push(if multi { Segment::Multi { name, suffix } } else { Segment::Param { name, suffix } });
    }
    Ok(out)
}
