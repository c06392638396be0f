//! One request decided end to end: canonical method and path, the catalog's route, the credential authenticated,
//! the resource resolved and the user's level loaded, then `policy::authorize`. Every way in that asks
//! "may this credential do this?" (forward-auth, the decision API) comes here.

use catalog::{Boundary, RouteMatch, canonical_method, canonical_path};
use domain::{Group, Project};
use policy::{CredentialFacts, Facts, ResourceFacts, UserFacts};

use crate::{Authenticated, Authority, NamespaceRef, Result};

/// The answer, with what a caller needs to respond.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub allowed: bool,
    /// The layer that decided (`credential` for an authentication failure, `route` for an unknown route).
    pub layer: &'static str,
    pub reasons: Vec<String>,
    pub required: Vec<Vec<String>>,
    /// The authenticated principal, when a credential was presented and accepted.
    pub principal: Option<Authenticated>,
    /// A credential was presented and refused: answer 401, never say why.
    pub bad_credential: bool,
    /// No credential was presented and one might allow the request: answer 401 so that clients prompt.
    pub needs_credential: bool,
    /// The route is Git over HTTP (the 401 challenge is Basic so that git prompts).
    pub git: bool,
    /// The boundary of the matched route (`None` for an unknown route), to name what was not found.
    pub boundary: Option<Boundary>,
    /// Scopes that would allow a request of this kind on the route, for an `insufficient_scope` answer.
    pub allowing_scopes: &'static [domain::Scope],
}

impl Outcome {
    fn refused(layer: &'static str, reason: &str) -> Outcome {
        Outcome {
            allowed: false,
            layer,
            reasons: vec![reason.to_owned()],
            required: Vec::new(),
            principal: None,
            bad_credential: false,
            needs_credential: false,
            git: false,
            boundary: None,
            allowing_scopes: &[],
        }
    }
}

impl Authority {
    /// Decides `method target` (target = path and optional query, as the client sent it) for `credential`.
    pub async fn decide(
        &self,
        credential: Option<&str>,
        method: &str,
        target: &str,
        ip: Option<&str>,
    ) -> Result<Outcome> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let method = canonical_method(method);
        let path = match canonical_path(path) {
            Ok(path) => path,
            Err(e) => return Ok(Outcome::refused("route", &e.to_string())),
        };
        let Some(found) = self.catalog.find(&method, &path, query) else {
            return Ok(Outcome::refused("route", policy::Reason::UnknownRoute.text()));
        };
        let git = found.route.surface.is_git();
        let boundary = Some(found.route.boundary);
        let allowing_scopes = policy::scopes_allowing(found.route.surface, method == "GET");
        let principal = match credential {
            None => None,
            Some(credential) => match self.authenticate(credential, ip, false).await? {
                Ok(principal) => Some(principal),
                Err(_) => {
                    let mut outcome = Outcome::refused("credential", policy::Reason::InactiveCredential.text());
                    outcome.bad_credential = true;
                    outcome.git = git;
                    outcome.boundary = boundary;
                    return Ok(outcome);
                }
            },
        };
        let resource = self.resource_facts(&found, principal.as_ref()).await?;
        let admin_mode = match &principal {
            Some(_) => self.store.settings().await?.admin_mode,
            None => false,
        };
        let facts = Facts {
            credential: principal.as_ref().map(|p| CredentialFacts {
                scopes: p.token.scopes.clone(),
                active: true,
                organization_id: p.token.organization_id,
            }),
            user: principal.as_ref().map(|p| UserFacts {
                id: p.user.id,
                is_admin: p.user.is_admin,
                external: p.user.external,
                active: p.user.is_active(),
                service_account: p.user.user_type == domain::UserType::ServiceAccount,
            }),
            resource,
            admin_mode,
        };
        let decision = policy::authorize(&self.catalog, found.route, method == "GET", &facts);
        Ok(Outcome {
            allowed: decision.allowed,
            layer: decision.layer.as_str(),
            reasons: vec![decision.reason.text().to_owned()],
            required: decision.required.to_vec(),
            needs_credential: !decision.allowed && principal.is_none(),
            principal,
            bad_credential: false,
            git,
            boundary,
            allowing_scopes,
        })
    }

    async fn resource_facts(&self, found: &RouteMatch<'_>, principal: Option<&Authenticated>) -> Result<ResourceFacts> {
        match found.route.boundary {
            Boundary::Instance => Ok(ResourceFacts::Instance),
            Boundary::OwnUser => Ok(ResourceFacts::OwnUser),
            Boundary::Group => {
                let group = match found.param("id") {
                    Some(id) => self.find_group(&NamespaceRef::parse(id)).await?,
                    None => None,
                };
                let Some(group) = group else { return Ok(ResourceFacts::Missing) };
                let level = match principal {
                    Some(p) => self.group_access(&p.user, &group).await?,
                    None => None,
                };
                Ok(group_facts(&group, level))
            }
            Boundary::Project => {
                let project = if let Some(id) = found.param("id") {
                    self.find_project(&NamespaceRef::parse(id)).await?
                } else if let Some(path) = found.param("project") {
                    self.store.project_by_path(path).await?
                } else if let Some(name) = found.param("name") {
                    self.longest_project_prefix(name).await?
                } else {
                    None
                };
                let Some(project) = project else { return Ok(ResourceFacts::Missing) };
                let level = match principal {
                    Some(p) => self.project_access(&p.user, &project).await?,
                    None => None,
                };
                Ok(project_facts(&project, level))
            }
        }
    }

    /// A registry image name is a project path, possibly followed by an image name: the longest known prefix wins.
    async fn longest_project_prefix(&self, name: &str) -> Result<Option<Project>> {
        let parts: Vec<&str> = name.split('/').collect();
        for take in (1..=parts.len().min(21)).rev() {
            let candidate = parts.get(..take).map(|p| p.join("/")).unwrap_or_default();
            if let Some(project) = self.store.project_by_path(&candidate).await? {
                return Ok(Some(project));
            }
        }
        Ok(None)
    }
}

fn group_facts(group: &Group, level: Option<domain::AccessLevel>) -> ResourceFacts {
    ResourceFacts::Group { organization_id: group.organization_id, visibility: group.visibility, level }
}

fn project_facts(project: &Project, level: Option<domain::AccessLevel>) -> ResourceFacts {
    ResourceFacts::Project { organization_id: project.organization_id, visibility: project.visibility, level }
}
