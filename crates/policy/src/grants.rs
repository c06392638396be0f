//! Fine-grained tokens: what their grants give where, and what a new grant may ask for.
//!
//! A grant names assignable permissions (catalog bundles) over a reach: the owner's personal projects, all their
//! memberships, selected groups (with descendants and their projects) and projects, their own user, or the
//! instance. On a route it gives the raw permissions of its bundles that apply to the route's boundary; the
//! user's role is checked on top, so a grant only ever narrows.
//!
//! **Invariant:** a grant never gives what the owner's role does not hold.

use catalog::{Boundary, BoundarySet, Bundle, Catalog, PermSet};
use domain::{Grant, GrantAccess, GrantTarget};

/// Where a grant is asked to apply: the resource of a request, or the reach of a grant being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach<'a> {
    /// A project: its id, its group ancestors (root first; empty in a user's namespace) and the user whose
    /// namespace holds it.
    Project {
        /// The project's id.
        id: i64,
        /// Its group ancestors, root first.
        groups: &'a [i64],
        /// The user whose namespace holds it, if any.
        owner_user_id: Option<i64>,
    },
    /// A group: its ancestors, root first, then the group itself.
    Group {
        /// Its ancestors, root first, then the group itself.
        groups: &'a [i64],
    },
    /// Every group and project of the owner (a grant being created with `all_memberships`).
    AllMemberships,
    /// The owner's personal projects (a grant being created with `personal_projects`).
    PersonalProjects,
    /// The owner's own user.
    User,
    /// The instance as a whole.
    Instance,
}

/// Whether `grant`, held by a token of `owner_id`, applies at `reach`.
pub fn applies(grant: &Grant, owner_id: i64, reach: &Reach<'_>) -> bool {
    reaches(grant.access, grant.target, owner_id, reach)
}

/// Whether a grant of this access and target, held by a token of `owner_id`, applies at `reach`.
fn reaches(access: GrantAccess, target: Option<GrantTarget>, owner_id: i64, reach: &Reach<'_>) -> bool {
    match (access, reach) {
        (GrantAccess::AllMemberships, Reach::Project { .. } | Reach::Group { .. }) => true,
        (GrantAccess::AllMemberships, Reach::AllMemberships | Reach::PersonalProjects) => true,
        (GrantAccess::PersonalProjects, Reach::Project { owner_user_id, .. }) => *owner_user_id == Some(owner_id),
        (GrantAccess::PersonalProjects, Reach::PersonalProjects) => true,
        (GrantAccess::SelectedMemberships, Reach::Project { id, groups, .. }) => match target {
            Some(GrantTarget::Project(p)) => p == *id,
            Some(GrantTarget::Group(g)) => groups.contains(&g),
            None => false,
        },
        (GrantAccess::SelectedMemberships, Reach::Group { groups }) => {
            target.is_some_and(|t| matches!(t, GrantTarget::Group(g) if groups.contains(&g)))
        }
        (GrantAccess::User, Reach::User) | (GrantAccess::Instance, Reach::Instance) => true,
        _ => false,
    }
}

/// The raw permissions `grants` give at `reach` on routes of `boundary`: the union of the bundles of every grant
/// that applies there and that apply to that kind of route. Unknown bundle names give nothing.
pub fn granted(catalog: &Catalog, grants: &[Grant], owner_id: i64, reach: &Reach<'_>, boundary: Boundary) -> PermSet {
    let mut held = PermSet::default();
    for grant in grants.iter().filter(|g| applies(g, owner_id, reach)) {
        for bundle in grant.permissions.iter().filter_map(|name| catalog.bundle(name)) {
            if bundle.boundaries.contains(boundary) {
                held = held.union(bundle.permissions);
            }
        }
    }
    held
}

/// A fine-grained token's grant read once against the catalog (when its token is loaded): where it applies, and
/// the raw permissions it gives on each kind of route, so that a request looks no bundle up by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledGrant {
    access: GrantAccess,
    target: Option<GrantTarget>,
    /// The project a `selected_memberships` grant names, if it names one: the case asked most, compared first.
    project: Option<i64>,
    /// Per boundary, in `BoundarySet::ALL`'s order: the union of its bundles that apply there.
    by_boundary: [PermSet; 4],
}

impl CompiledGrant {
    /// Reads a grant as [`granted`] does: unknown bundle names give nothing.
    pub fn new(catalog: &Catalog, grant: &Grant) -> CompiledGrant {
        let mut by_boundary = [PermSet::default(); 4];
        for (held, boundary) in by_boundary.iter_mut().zip(BoundarySet::ALL) {
            for bundle in grant.permissions.iter().filter_map(|name| catalog.bundle(name)) {
                if bundle.boundaries.contains(boundary) {
                    *held = held.union(bundle.permissions);
                }
            }
        }
        let project = match (grant.access, grant.target) {
            (GrantAccess::SelectedMemberships, Some(GrantTarget::Project(id))) => Some(id),
            _ => None,
        };
        CompiledGrant { access: grant.access, target: grant.target, project, by_boundary }
    }
}

/// Reads a token's grants once.
pub fn compile_grants(catalog: &Catalog, grants: &[Grant]) -> Vec<CompiledGrant> {
    grants.iter().map(|grant| CompiledGrant::new(catalog, grant)).collect()
}

/// What [`granted`] answers, from grants read once.
pub fn granted_compiled(grants: &[CompiledGrant], owner_id: i64, reach: &Reach<'_>, boundary: Boundary) -> PermSet {
    let Some(at) = BoundarySet::ALL.iter().position(|b| *b == boundary) else { return PermSet::default() };
    let project = match reach {
        Reach::Project { id, .. } => Some(*id),
        _ => None,
    };
    let mut held = PermSet::default();
    for grant in grants {
        // A grant naming a project applies to that project alone: most of a token's grants are settled here.
        let applies = match (grant.project, project) {
            (Some(named), Some(asked)) => named == asked,
            (Some(_), None) => false,
            (None, _) => reaches(grant.access, grant.target, owner_id, reach),
        };
        if applies && let Some(given) = grant.by_boundary.get(at) {
            held = held.union(*given);
        }
    }
    held
}

/// The kinds of route a grant with this access (and target) can reach.
pub fn boundaries_of(access: GrantAccess, target: Option<GrantTarget>) -> BoundarySet {
    match (access, target) {
        (GrantAccess::PersonalProjects, _) | (GrantAccess::SelectedMemberships, Some(GrantTarget::Project(_))) => {
            BoundarySet::of(&[Boundary::Project])
        }
        (GrantAccess::AllMemberships | GrantAccess::SelectedMemberships, _) => {
            BoundarySet::of(&[Boundary::Group, Boundary::Project])
        }
        (GrantAccess::User, _) => BoundarySet::of(&[Boundary::OwnUser]),
        (GrantAccess::Instance, _) => BoundarySet::of(&[Boundary::Instance]),
    }
}

/// Why a requested grant is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// The grant names no permission.
    NoPermissions,
    /// The grant names a permission the catalog does not know.
    UnknownPermission(String),
    /// The bundle applies to no route this grant's access reaches (`read_group` on one project, say).
    WrongBoundary {
        /// The permission named.
        permission: String,
        /// The access the grant asked for.
        access: GrantAccess,
    },
    /// The owner's role at the grant's reach lacks what the bundle gives.
    NotHeld(Vec<String>),
    /// The token asking for the grant does not hold it itself.
    CreatorLacks(Vec<String>),
}

/// The bundles of a grant, checked against the catalog: every name known, and each applying to some route the
/// grant's access reaches.
pub fn bundles_of<'c>(catalog: &'c Catalog, grant: &Grant) -> Result<Vec<&'c Bundle>, GrantError> {
    if grant.permissions.is_empty() {
        return Err(GrantError::NoPermissions);
    }
    let reachable = boundaries_of(grant.access, grant.target);
    grant
        .permissions
        .iter()
        .map(|name| {
            let bundle = catalog.bundle(name).ok_or_else(|| GrantError::UnknownPermission(name.clone()))?;
            if !bundle.boundaries.intersects(reachable) {
                return Err(GrantError::WrongBoundary { permission: name.clone(), access: grant.access });
            }
            Ok(bundle)
        })
        .collect()
}

/// Whether a user holding `held` at the grant's reach (on routes of each boundary the grant reaches) holds
/// everything its bundles give there: nobody grants a permission their role does not have. `held` answers
/// for one boundary; only the raw permissions routes of that boundary can require are compared.
pub fn role_allows(
    catalog: &Catalog,
    grant: &Grant,
    bundles: &[&Bundle],
    held: impl Fn(Boundary) -> PermSet,
) -> Result<(), GrantError> {
    let reachable = boundaries_of(grant.access, grant.target);
    let missing: Vec<String> = bundles
        .iter()
        .filter(|bundle| {
            bundle.boundaries.iter().filter(|b| reachable.contains(*b)).any(|boundary| {
                let needed = bundle.permissions.intersect(catalog.route_permissions(boundary));
                !held(boundary).covers(&needed)
            })
        })
        .map(|bundle| bundle.name.clone())
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(GrantError::NotHeld(missing)) }
}

/// Whether a fine-grained token with `creator` grants (owned by `owner_id`) may mint `grant` over `reach`: it
/// must itself hold every bundle there. A legacy token with `api` holds everything a grant can name.
pub fn creator_holds(
    catalog: &Catalog,
    creator: &[Grant],
    owner_id: i64,
    grant: &Grant,
    bundles: &[&Bundle],
    reach: &Reach<'_>,
) -> Result<(), GrantError> {
    let reachable = boundaries_of(grant.access, grant.target);
    let missing: Vec<String> = bundles
        .iter()
        .filter(|bundle| {
            bundle
                .boundaries
                .iter()
                .filter(|b| reachable.contains(*b))
                .any(|boundary| !granted(catalog, creator, owner_id, reach, boundary).covers(&bundle.permissions))
        })
        .map(|bundle| bundle.name.clone())
        .collect();
    if missing.is_empty() { Ok(()) } else { Err(GrantError::CreatorLacks(missing)) }
}
