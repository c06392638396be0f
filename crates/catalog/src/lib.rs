//! The permission catalog as data: raw permissions, the role → permission matrix and the route catalog, read
//! from `data/*.txt` (compiled in), and the matcher that maps a canonical request to its route.
//!
//! **Architecture Invariant:** `catalog` does no I/O and knows nothing of HTTP frameworks or storage; the data
//! files are part of the binary and a test validates them.

#![deny(missing_docs)]

mod bundles;
mod canonical;
mod parse;
mod perms;
mod routes;
mod segments;
mod trie;

pub use bundles::{BoundarySet, Bundle};
pub use canonical::{CanonicalPath, PathError, canonical_method, canonical_path, is_canonical, split_target};
pub use parse::CatalogError;
pub use perms::{PermSet, Permission};
pub use routes::{Boundary, MAX_PARAMS, MAX_TEMPLATE_SEGMENTS, Param, Params, Route, RouteMatch, Segment, Surface};
pub use segments::{INLINE_SEGMENTS, SegmentList};
pub use trie::Located;

use domain::AccessLevel;

/// The whole catalog, built once at start.
#[derive(Debug)]
pub struct Catalog {
    names: Vec<String>,
    /// Cumulative permissions of each access level, Guest first.
    levels: [PermSet; 6],
    public: PermSet,
    internal: PermSet,
    admin: PermSet,
    anyone: PermSet,
    signed_in: PermSet,
    own_user: PermSet,
    target_self: PermSet,
    service_account: PermSet,
    job_self: PermSet,
    /// What a deploy token or key holds by each scope, in `domain::DEPLOYED_SCOPES`'s order.
    deploy: [PermSet; 8],
    routes: Vec<Route>,
    trie: trie::RouteTrie,
    /// Assignable permissions, in the file's order.
    bundles: Vec<Bundle>,
    /// Indices into `bundles`, by name (a fine-grained token's grants name theirs on every request).
    bundle_index: std::collections::HashMap<String, usize, domain::Words>,
    /// Every raw permission some route of each boundary requires, in `BoundarySet::ALL`'s order.
    route_permissions: [PermSet; 4],
}

/// The catalog files compiled into the binary.
pub const ROLES: &str = include_str!("../data/roles.txt");
/// The route catalog (`routes.txt`).
pub const ROUTES: &str = include_str!("../data/routes.txt");
/// The assignable permissions of fine-grained tokens (`bundles.txt`).
pub const BUNDLES: &str = include_str!("../data/bundles.txt");

impl Catalog {
    /// The catalog shipped with Tessera.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        Catalog::parse(ROLES, ROUTES, BUNDLES)
    }

    /// Reads and validates a catalog from the text of its three files; unknown names are errors.
    pub fn parse(roles: &str, routes: &str, bundles: &str) -> Result<Catalog, CatalogError> {
        parse::catalog(roles, routes, bundles)
    }

    /// Every raw permission some route of `boundary` requires.
    pub fn route_permissions(&self, boundary: Boundary) -> PermSet {
        let i = BoundarySet::ALL.iter().position(|b| *b == boundary).unwrap_or(0);
        self.route_permissions.get(i).copied().unwrap_or_default()
    }

    /// Every assignable permission, in the catalog's order.
    pub fn bundles(&self) -> &[Bundle] {
        &self.bundles
    }

    /// The assignable permission of this name.
    pub fn bundle(&self, name: &str) -> Option<&Bundle> {
        self.bundle_index.get(name).and_then(|i| self.bundles.get(*i))
    }

    /// Every raw permission, by name.
    pub fn permission_names(&self) -> &[String] {
        &self.names
    }

    /// The raw permission of this name, if the catalog knows it (exact match).
    pub fn permission(&self, name: &str) -> Option<Permission> {
        self.names.iter().position(|n| n == name).and_then(|i| u8::try_from(i).ok()).map(Permission)
    }

    /// The name of a raw permission.
    pub fn name(&self, permission: Permission) -> &str {
        self.names.get(usize::from(permission.0)).map(String::as_str).unwrap_or("unknown")
    }

    /// What a member with `level` holds.
    pub fn level(&self, level: AccessLevel) -> PermSet {
        let idx = AccessLevel::ALL.iter().position(|l| *l == level).unwrap_or(0);
        self.levels.get(idx).copied().unwrap_or_default()
    }

    /// What anyone holds on a public group or project.
    pub fn public(&self) -> PermSet {
        self.public
    }

    /// What a signed-in user holds on an internal group or project.
    pub fn internal(&self) -> PermSet {
        self.internal
    }

    /// What an administrator holds at the instance.
    pub fn admin(&self) -> PermSet {
        self.admin
    }

    /// What anyone, signed in or not, holds at the instance.
    pub fn anyone(&self) -> PermSet {
        self.anyone
    }

    /// What a signed-in user holds at the instance (including what anyone holds).
    pub fn signed_in(&self) -> PermSet {
        self.signed_in
    }

    /// What a user holds on their own user.
    pub fn own_user(&self) -> PermSet {
        self.own_user
    }

    /// What a user holds on a group or project route whose `:user_id` names themselves.
    pub fn target_self(&self) -> PermSet {
        self.target_self
    }

    /// What a service account holds at the instance when its token carries the `authorize` scope.
    pub fn service_account(&self) -> PermSet {
        self.service_account
    }

    /// What a CI job token holds on routes about its own job (`GET /job`).
    pub fn job_self(&self) -> PermSet {
        self.job_self
    }

    /// What a deploy token or deploy key with `scopes` holds on its own project (other scopes give nothing).
    pub fn deploy(&self, scopes: domain::Scopes) -> PermSet {
        let mut held = PermSet::default();
        for (scope, set) in domain::DEPLOYED_SCOPES.iter().zip(self.deploy) {
            if scopes.contains(*scope) {
                held = held.union(set);
            }
        }
        held
    }

    /// Every route, in the file's order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The job-token policies whose routes a holder of `held` could use at all: those of every job-token route
    /// with an alternative of required permissions within `held`. What a job's token is bound to on a project is
    /// never more than this for the triggering user's role there.
    pub fn job_policies_within(&self, held: PermSet) -> domain::JobPolicies {
        self.routes
            .iter()
            .filter_map(|route| Some((route.job_token?, route)))
            .filter(|(_, route)| route.required.iter().any(|needed| held.covers(needed)))
            .fold(domain::JobPolicies::NONE, |set, (policies, _)| set.union(policies))
    }

    /// Finds the route for a canonical method and path (and its query). The most specific template wins:
    /// literal segments before parameters before multi-segment wildcards.
    pub fn find<'a: 'p, 'p>(
        &'a self,
        method: &str,
        path: &'p CanonicalPath,
        query: Option<&str>,
    ) -> Option<RouteMatch<'a, 'p>> {
        trie::find(&self.routes, &self.trie, method, path, query)
    }

    /// Where [`Catalog::find`] finds the route, kept without borrowing the path or the catalog, so that a reading
    /// of a request's target can be kept and found again ([`Catalog::matched`]).
    pub fn locate(&self, method: &str, path: &CanonicalPath, query: Option<&str>) -> Option<Located> {
        trie::locate(&self.routes, &self.trie, method, path, query)
    }

    /// The route `located` stands for: [`Catalog::matched`]'s, without reading its parameters out of the path.
    pub fn route_of(&self, located: &Located) -> Option<&Route> {
        trie::route_of(&self.routes, located)
    }

    /// The match `located` stands for, with `path`, the path it was located for: what [`Catalog::find`] returned
    /// then. (With another path its values are spans of the wrong text: never wrong in memory, always in meaning.)
    pub fn matched<'a: 'p, 'p>(&'a self, located: &Located, path: &'p CanonicalPath) -> Option<RouteMatch<'a, 'p>> {
        trie::matched(&self.routes, located, path)
    }
}

impl Catalog {
    /// The reference table of the catalog, as committed in `docs/catalog.md`.
    pub fn reference_markdown(&self) -> String {
        let mut out = String::from(
            "# Permission catalog\n\nGenerated from `crates/catalog/data/` by `UPDATE_EXPECT=1 cargo test -p catalog`; do not edit by hand.\n\n## Roles\n\n| role | permissions (cumulative) |\n| --- | --- |\n",
        );
        let row = |out: &mut String, role: &str, set: PermSet| {
            let names: Vec<&str> = set.iter().map(|p| self.name(p)).collect();
            out.push_str(&format!("| {role} | {} |\n", names.join(", ")));
        };
        for level in AccessLevel::ALL {
            row(&mut out, &format!("{} ({})", level.name(), level.value()), self.level(level));
        }
        row(&mut out, "Administrator", self.admin);
        row(&mut out, "anyone, on public resources", self.public);
        row(&mut out, "signed-in users, on internal resources", self.internal);
        row(&mut out, "anyone, at the instance", self.anyone);
        row(&mut out, "signed-in users, at the instance", self.signed_in);
        row(&mut out, "a user, on their own user", self.own_user);
        row(&mut out, "a member, on a membership route naming themselves", self.target_self);
        row(&mut out, "a service account, with the authorize scope", self.service_account);
        row(&mut out, "a CI job token, on its own job", self.job_self);
        for (scope, set) in domain::DEPLOYED_SCOPES.iter().zip(self.deploy) {
            row(&mut out, &format!("a deploy token or key with {scope}, on its project"), set);
        }
        self.job_policies_markdown(&mut out);
        out.push_str("\n## Assignable permissions (fine-grained tokens)\n\n| category | name | boundaries | raw permissions | description |\n| --- | --- | --- | --- | --- |\n");
        for bundle in &self.bundles {
            let boundaries: Vec<&str> = bundle.boundaries.iter().map(Boundary::grant_name).collect();
            let raw: Vec<&str> = bundle.permissions.iter().map(|p| self.name(p)).collect();
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} |\n",
                bundle.category,
                bundle.name,
                boundaries.join(", "),
                raw.join(", "),
                bundle.description
            ));
        }
        out.push_str("\n## Routes\n\n| method | path | boundary | surface | job token | required (any line of) | fine-grained (any line of) |\n| --- | --- | --- | --- | --- | --- | --- |\n");
        for route in &self.routes {
            let required: Vec<String> = route.required_names.iter().map(|g| g.join(" AND ")).collect();
            let bundles: Vec<String> = route.bundles.iter().map(|g| g.join(" AND ")).collect();
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} | {} |\n",
                route.method,
                route.template,
                route.boundary.as_str(),
                route.surface.as_str(),
                match route.job_token {
                    None => "no".to_owned(),
                    Some(policies) if policies.is_empty() => "yes (the job itself)".to_owned(),
                    Some(policies) => policies.names().join(" AND "),
                },
                required.join(" OR "),
                if bundles.is_empty() { "—".to_owned() } else { bundles.join(" OR ") },
            ));
        }
        out
    }
}

impl Catalog {
    /// The CI job-token policies: which are in the default set, and the routes that need each.
    fn job_policies_markdown(&self, out: &mut String) {
        out.push_str(concat!(
            "\n## CI job-token policies\n\n",
            "A job token reaches a route only if the route names job-token policies (the routes table's `job token` ",
            "column) and the token holds every one of them: on the target project's allowlist entry (unless the ",
            "target is the job's own project), in the job's declared `permissions:` and in the triggering user's ",
            "current role. A job that declares no `permissions:` gets the default set. `admin_x` includes ",
            "`read_x`. Routes marked `yes (the job itself)`, such as `GET /api/v4/job`, need only a running job.\n\n",
            "| policy | in the default set | routes that need it |\n",
            "| --- | --- | --- |\n",
        ));
        let default = domain::JobPolicies::default_for_jobs();
        for policy in domain::JobPolicies::ALL.iter() {
            let name = policy.to_string();
            let routes: Vec<String> = self
                .routes
                .iter()
                .filter(|r| r.job_token.is_some_and(|needed| needed.names().contains(&name)))
                .map(|r| format!("{} `{}`", r.method, r.template))
                .collect();
            out.push_str(&format!(
                "| `{name}` | {} | {} |\n",
                if default.contains(policy) { "yes" } else { "no" },
                if routes.is_empty() { "—".to_owned() } else { routes.join("<br>") },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin().unwrap()
    }

    fn find(method: &str, path: &str) -> Option<(String, Vec<(String, String)>)> {
        let catalog = catalog();
        let (path, query) = path.split_once('?').map_or((path, None), |(p, q)| (p, Some(q)));
        let canonical = canonical_path(path).unwrap();
        catalog.find(method, &canonical, query).map(|m| {
            (m.route.template.clone(), m.params.iter().map(|p| (p.name.to_owned(), p.value.to_string())).collect())
        })
    }

    #[test]
    fn every_template_fits_the_inline_buffers_of_a_match() {
        for route in catalog().routes() {
            let params = route.template.split('/').filter(|s| s.starts_with([':', '*'])).count();
            assert!(params <= routes::MAX_PARAMS, "{}", route.template);
            assert!(route.segments.len() <= routes::MAX_TEMPLATE_SEGMENTS, "{}", route.template);
        }
    }

    #[test]
    fn the_route_a_place_stands_for_is_the_route_of_its_match() {
        let catalog = catalog();
        for (method, path, query) in [
            ("GET", "/api/v4/projects/7/repository/tree", None),
            ("GET", "/api/v4/projects/group%2Fsub%2Fproj/issues", None),
            ("DELETE", "/api/v4/projects/1/environments/review_apps", None),
            ("GET", "/api/v4/personal_access_tokens/self", None),
            ("GET", "/group/proj.git/info/refs", Some("service=git-upload-pack")),
        ] {
            let canonical = canonical_path(path).unwrap();
            let located = catalog.locate(method, &canonical, query).unwrap();
            let matched = catalog.matched(&located, &canonical).unwrap();
            let found = catalog.find(method, &canonical, query).unwrap();
            assert!(std::ptr::eq(catalog.route_of(&located).unwrap(), matched.route), "{method} {path}");
            assert!(std::ptr::eq(matched.route, found.route), "{method} {path}");
        }
    }

    #[test]
    fn the_shipped_catalog_is_valid() {
        let catalog = catalog();
        assert!(catalog.routes().len() > 150);
        assert!(catalog.permission("read_project").is_some());
    }

    #[test]
    fn the_reference_table_in_docs_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/catalog.md");
        let want = catalog().reference_markdown();
        if std::env::var("UPDATE_EXPECT").is_ok() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/catalog.md is out of date: run UPDATE_EXPECT=1 cargo test -p catalog");
    }

    #[test]
    fn bundles_are_found_by_name_and_grant_their_raw_permissions() {
        let catalog = catalog();
        let run = catalog.bundle("run_job").unwrap();
        assert_eq!(run.category, "CI/CD");
        let names: Vec<&str> = run.permissions.iter().map(|p| catalog.name(p)).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"play_job") && names.contains(&"retry_job"));
        assert!(run.boundaries.contains(Boundary::Project) && !run.boundaries.contains(Boundary::Group));
        for bundle in catalog.bundles() {
            assert_eq!(catalog.bundle(&bundle.name).map(|b| &b.name), Some(&bundle.name));
        }
        assert!(catalog.bundle("run_jobs").is_none());
        assert!(catalog.bundle("").is_none());
    }

    #[test]
    fn a_fine_grained_token_can_be_granted_every_route_but_the_internal_lookups_the_leak_report_the_trigger_and_the_job_tokens_own()
     {
        let catalog = catalog();
        let unreachable: Vec<String> = catalog
            .routes()
            .iter()
            .filter(|r| r.bundles.is_empty())
            .map(|r| format!("{} {}", r.method, r.template))
            .collect();
        assert_eq!(
            unreachable,
            [
                "POST /api/v4/internal/authorize",
                "POST /api/v4/internal/tokens/leaked",
                "POST /api/v4/projects/:id/trigger/pipeline",
                "GET /api/v4/job",
                "GET /api/v4/job/allowed_agents",
                "POST /api/v4/internal/incoming_email",
                "POST /api/v4/internal/allowed",
                "GET /api/v4/internal/authorized_keys"
            ],
            "routes no grant reaches (the leak report is for anyone, without a credential)"
        );
        let play = find_route(&catalog, "POST", "/api/v4/projects/:id/jobs/:job_id/play");
        assert_eq!(play.bundles, vec![vec!["run_job".to_owned()]]);
    }

    #[test]
    fn every_job_token_route_names_its_policies_and_a_role_bounds_them() {
        let catalog = catalog();
        let release = find_route(&catalog, "POST", "/api/v4/projects/:id/releases");
        assert_eq!(release.job_token.map(|p| p.names()), Some(vec!["admin_releases".to_owned()]));
        let deploy = find_route(&catalog, "POST", "/api/v4/projects/:id/deployments");
        assert_eq!(
            deploy.job_token.map(|p| p.names()),
            Some(vec!["admin_deployments".to_owned(), "admin_environments".to_owned()])
        );
        assert_eq!(find_route(&catalog, "GET", "/api/v4/job").job_token, Some(domain::JobPolicies::NONE));
        assert_eq!(find_route(&catalog, "GET", "/api/v4/user").job_token, None);
        let reporter = catalog.job_policies_within(catalog.level(AccessLevel::Reporter));
        assert!(reporter.contains(domain::JobPolicy::parse("read_packages").unwrap()));
        assert!(!reporter.contains(domain::JobPolicy::parse("admin_packages").unwrap()));
        assert!(!reporter.contains(domain::JobPolicy::parse("read_secure_files").unwrap()));
        let maintainer = catalog.job_policies_within(catalog.level(AccessLevel::Maintainer));
        assert!(maintainer.contains(domain::JobPolicy::parse("admin_secure_files").unwrap()));
        assert!(catalog.job_policies_within(PermSet::default()).is_empty());
    }

    fn find_route<'c>(catalog: &'c Catalog, method: &str, template: &str) -> &'c Route {
        catalog.routes().iter().find(|r| r.method == method && r.template == template).unwrap()
    }

    #[test]
    fn levels_are_cumulative() {
        let catalog = catalog();
        for pair in AccessLevel::ALL.windows(2) {
            assert!(catalog.level(pair[1]).covers(&catalog.level(pair[0])));
        }
        assert!(catalog.admin().covers(&catalog.level(AccessLevel::Owner)));
        let push = catalog.permission("push_code").unwrap();
        assert!(!catalog.level(AccessLevel::Reporter).contains(push));
        assert!(catalog.level(AccessLevel::Developer).contains(push));
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        assert_eq!(
            find("GET", "/api/v4/personal_access_tokens/self").unwrap().0,
            "/api/v4/personal_access_tokens/self"
        );
        assert_eq!(
            find("GET", "/api/v4/personal_access_tokens/5").unwrap().0,
            "/api/v4/personal_access_tokens/:token_id"
        );
        assert_eq!(
            find("DELETE", "/api/v4/projects/1/environments/review_apps").unwrap().0,
            "/api/v4/projects/:id/environments/review_apps"
        );
    }

    #[test]
    fn git_paths_span_several_segments() {
        let (template, params) = find("GET", "/group/sub/proj.git/info/refs?service=git-receive-pack").unwrap();
        assert_eq!(template, "/*project.git/info/refs?service=git-receive-pack");
        assert_eq!(params, vec![("project".to_owned(), "group/sub/proj".to_owned())]);
        let (template, _) = find("GET", "/group/proj.git/info/refs?service=git-upload-pack").unwrap();
        assert_eq!(template, "/*project.git/info/refs?service=git-upload-pack");
        assert!(find("GET", "/group/proj.git/info/refs").is_none(), "no service, no route");
        assert!(find("GET", "/group/proj.git/info/refs?service=git-upload-pack&service=git-receive-pack").is_none());
    }

    #[test]
    fn an_encoded_project_path_is_one_parameter() {
        let (_, params) = find("GET", "/api/v4/projects/group%2Fsub%2Fproj/issues").unwrap();
        assert_eq!(params, vec![("id".to_owned(), "group/sub/proj".to_owned())]);
    }

    #[test]
    fn unknown_routes_match_nothing() {
        assert!(find("GET", "/api/v4/nothing/here").is_none());
        assert!(find("PATCH", "/api/v4/projects/1").is_none());
    }

    #[test]
    fn a_bad_catalog_is_refused() {
        let roles = ROLES;
        for routes in [
            "GET /api/v4/x instance api no",
            "GET /api/v4/x instance api no READ",
            "GET /api/v4/x somewhere api no read_x",
            "GET /api/v4/x instance api maybe read_x",
            "GET /api/v4/x instance api no read_x\nGET /api/v4/x instance api no read_y",
            "GET /api/v4/x project api no read_x",
        ] {
            assert!(Catalog::parse(roles, routes, BUNDLES).is_err(), "{routes}");
        }
        assert!(Catalog::parse("guest:\n", "", BUNDLES).is_err());
        for bundles in [
            "",
            "read_x project read_project -- no category",
            "[C]\nread_x project read_project",
            "[C]\nread_x somewhere read_project -- x",
            "[C]\nread_x project read_nothing -- x",
            "[C]\nread_x project -- x",
            "[C]\nread_x project read_project -- x\nread_x group read_group -- y",
            "[C]\nREAD project read_project -- x",
        ] {
            assert!(Catalog::parse(roles, ROUTES, bundles).is_err(), "{bundles}");
        }
    }
}
