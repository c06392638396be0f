//! Organizations, groups and projects: creating, changing, moving and deleting them.
//!
//! **Invariant:** a new group or project lands only where the actor's level grants it, in the actor's organization.

use domain::{AccessLevel, Group, Member, MemberSource, Path, Project, Visibility, validate_display_name};

use super::{CREATE_PROJECTS, CREATE_SUBGROUP, parse_visibility};
use crate::{
    Actor, AuditContext, Authority, CreateGroup, CreateOrganization, CreateProject, Error, NamespaceRef,
    NamespaceTarget, NamespaceUpdate, NewGroup, NewProject, Result,
};

impl Authority {
    /// Creates an organization (the route admits administrators only). Its path follows a top-level group's rules.
    /// With a `founder` (the administrator and the token asking), it also issues the founder's first token there,
    /// returned once.
    pub async fn create_organization(
        &self,
        ctx: &AuditContext,
        request: &CreateOrganization,
        founder: Option<(&domain::User, &domain::Token)>,
    ) -> Result<(domain::Organization, Option<crate::IssuedToken>)> {
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let path = request.path.as_deref().ok_or_else(|| Error::BadRequest("path is missing".to_owned()))?;
        validate_display_name(name).map_err(|e| Error::invalid("name", e))?;
        let path = Path::parse_top_level(path).map_err(|e| Error::invalid("path", e))?;
        self.refuse_pasted_secrets(&[("name", Some(name)), ("path", Some(path.as_str()))]).await?;
        let organization = self.store.insert_organization(name, path.as_str(), self.now()).await?;
        self.audit(
            ctx,
            "organization_created",
            "Organization",
            organization.id,
            &format!("Created organization {}", organization.path),
            &[("organization_path", organization.path.clone())],
        )
        .await?;
        let token = match founder {
            Some((user, token)) => Some(self.founder_token(ctx, user, token, &organization).await?),
            None => None,
        };
        Ok((organization, token))
    }

    pub async fn create_group(&self, ctx: &AuditContext, actor: Actor<'_>, request: &CreateGroup) -> Result<Group> {
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let path = request.path.as_deref().ok_or_else(|| Error::BadRequest("path is missing".to_owned()))?;
        validate_display_name(name).map_err(|e| Error::invalid("name", e))?;
        let path = match request.parent_id {
            Some(_) => Path::parse(path),
            None => Path::parse_top_level(path),
        }
        .map_err(|e| Error::invalid("path", e))?;
        let fields =
            [("name", Some(name)), ("path", Some(path.as_str())), ("description", request.description.as_deref())];
        self.refuse_pasted_secrets(&fields).await?;
        let visibility = parse_visibility(request.visibility.as_deref(), Visibility::Private)?;
        let parent = match request.parent_id {
            None => None,
            Some(id) => {
                let parent = self
                    .facts
                    .group(id)
                    .await?
                    .map(std::sync::Arc::unwrap_or_clone)
                    .filter(|p| actor.reaches(p.organization_id));
                let parent = parent.ok_or(Error::NotFound("Parent Group"))?;
                let level = self.group_access(actor.user, &parent).await?;
                if !policy::role_grants(&self.catalog, actor.admin, level, CREATE_SUBGROUP) {
                    return Err(Error::forbidden());
                }
                if parent.traversal_ids.len() >= 20 {
                    return Err(Error::invalid("parent_id", "has too deep a hierarchy (at most 20 levels)"));
                }
                Some(parent)
            }
        };
        if parent.is_none() && !actor.admin && !actor.user.can_create_group {
            return Err(Error::forbidden());
        }
        let organization_id = match (&parent, request.organization_id) {
            (Some(parent), Some(org)) if org != parent.organization_id => {
                return Err(Error::invalid("organization_id", "must match the parent group's organization"));
            }
            (Some(parent), _) => parent.organization_id,
            (None, Some(org)) => self.existing_organization(org).await?,
            (None, None) => actor.organization_id.unwrap_or(domain::DEFAULT_ORGANIZATION_ID),
        };
        if !actor.reaches(organization_id) {
            return Err(Error::refused("the token belongs to another organization"));
        }
        let new = NewGroup {
            name: name.to_owned(),
            path: path.as_str().to_owned(),
            description: request.description.clone().unwrap_or_default(),
            visibility,
            parent,
            organization_id,
            now: self.now(),
        };
        if new.description.chars().count() > 2000 {
            return Err(Error::invalid("description", "is too long (maximum is 2000 characters)"));
        }
        let group = self.store.insert_group(&new).await.map_err(taken_path)?;
        // The creator of a group becomes its owner, as in GitLab.
        let owner = Member {
            source: MemberSource::Group(group.id),
            user_id: actor.user.id,
            access_level: AccessLevel::Owner,
            expires_at: None,
            created_at: self.now(),
            created_by: Some(actor.user.id),
        };
        self.store.upsert_member(&owner).await?;
        self.audit(ctx, "group_created", "Group", group.id, &format!("Created group {}", group.full_path), &[]).await?;
        Ok(group)
    }

    pub async fn update_group(&self, ctx: &AuditContext, group: &Group, update: &NamespaceUpdate) -> Result<Group> {
        self.refuse_pasted_secrets(&[("name", update.name.as_deref()), ("description", update.description.as_deref())])
            .await?;
        let group = self.store.update_group(group.id, update).await?.ok_or(Error::NotFound("Group"))?;
        let extra = match &update.token_policy {
            Some(policy) => vec![("token_policy", format!("{policy:?}"))],
            None => Vec::new(),
        };
        self.audit(ctx, "group_updated", "Group", group.id, &format!("Updated group {}", group.full_path), &extra)
            .await?;
        Ok(group)
    }

    pub async fn create_project(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        request: &CreateProject,
    ) -> Result<Project> {
        let (name, path) = match (request.name.as_deref(), request.path.as_deref()) {
            (None, None) => {
                return Err(Error::BadRequest(
                    "name, path are missing, at least one parameter must be provided".to_owned(),
                ));
            }
            (Some(name), Some(path)) => (name.to_owned(), path.to_owned()),
            (Some(name), None) => (name.to_owned(), name.to_lowercase().replace(' ', "-")),
            (None, Some(path)) => (path.to_owned(), path.to_owned()),
        };
        validate_display_name(&name).map_err(|e| Error::invalid("name", e))?;
        let path = Path::parse(&path).map_err(|e| Error::invalid("path", e))?;
        let fields = [
            ("name", Some(name.as_str())),
            ("path", Some(path.as_str())),
            ("description", request.description.as_deref()),
        ];
        self.refuse_pasted_secrets(&fields).await?;
        let visibility = parse_visibility(request.visibility.as_deref(), Visibility::Private)?;
        let (
            NamespaceTarget { namespace_id, full_path: namespace_full_path, full_name: namespace_full_name },
            organization_id,
        ) = match request.namespace_id {
            None if actor.reaches(actor.user.organization_id) => (
                NamespaceTarget {
                    namespace_id: actor.user.namespace_id,
                    full_path: actor.user.username.clone(),
                    full_name: actor.user.name.clone(),
                },
                actor.user.organization_id,
            ),
            None => return Err(Error::NotFound("Namespace")),
            Some(id) => self.target_namespace(actor, &NamespaceRef::Id(id)).await?,
        };
        let description = request.description.clone().unwrap_or_default();
        if description.chars().count() > 2000 {
            return Err(Error::invalid("description", "is too long (maximum is 2000 characters)"));
        }
        let new = NewProject {
            name,
            path: path.as_str().to_owned(),
            description,
            visibility,
            namespace_id,
            namespace_full_path,
            namespace_full_name,
            organization_id,
            creator_id: actor.user.id,
            now: self.now(),
        };
        let project = self.store.insert_project(&new).await.map_err(taken_path)?;
        self.audit(
            ctx,
            "project_created",
            "Project",
            project.id,
            &format!("Created project {}", project.full_path),
            &[],
        )
        .await?;
        Ok(project)
    }

    pub async fn update_project(
        &self,
        ctx: &AuditContext,
        project: &Project,
        update: &NamespaceUpdate,
    ) -> Result<Project> {
        self.refuse_pasted_secrets(&[("name", update.name.as_deref()), ("description", update.description.as_deref())])
            .await?;
        let project =
            self.store.update_project(project.id, update, self.now()).await?.ok_or(Error::NotFound("Project"))?;
        self.audit(
            ctx,
            "project_updated",
            "Project",
            project.id,
            &format!("Updated project {}", project.full_path),
            &[],
        )
        .await?;
        Ok(project)
    }

    /// The namespace `actor` may put a project in: a group where they may create projects, or a user's own
    /// namespace (anyone's, for administrators). Returns it with its organization.
    /// Another organization's namespaces look absent.
    async fn target_namespace(&self, actor: Actor<'_>, r: &NamespaceRef) -> Result<(NamespaceTarget, i64)> {
        if let Some(group) = self.find_group(r).await? {
            if !actor.reaches(group.organization_id) {
                return Err(Error::NotFound("Namespace"));
            }
            let level = self.group_access(actor.user, &group).await?;
            if !policy::role_grants(&self.catalog, actor.admin, level, CREATE_PROJECTS) {
                return Err(Error::forbidden());
            }
            let target = NamespaceTarget {
                namespace_id: group.id,
                full_path: group.full_path.clone(),
                full_name: group.full_name.clone(),
            };
            return Ok((target, group.organization_id));
        }
        let owner = match r {
            NamespaceRef::Id(id) => self.store.user_by_namespace(*id).await?,
            NamespaceRef::Path(path) => self.store.user_by_username(path).await?,
        };
        match owner {
            Some(owner) if !actor.reaches(owner.organization_id) => Err(Error::NotFound("Namespace")),
            Some(owner) if owner.id == actor.user.id || actor.admin => Ok((
                NamespaceTarget { namespace_id: owner.namespace_id, full_path: owner.username, full_name: owner.name },
                owner.organization_id,
            )),
            Some(_) => Err(Error::forbidden()),
            None => Err(Error::NotFound("Namespace")),
        }
    }

    /// `PUT /projects/:id/transfer` (the decision required the route's permission on the project): moves the
    /// project into a namespace where the actor may create projects, in the same organization. Paths, inherited
    /// memberships and cached facts follow at once.
    pub async fn transfer_project(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        project: &Project,
        to: &NamespaceRef,
    ) -> Result<Project> {
        let (target, organization_id) = self.target_namespace(actor, to).await?;
        if organization_id != project.organization_id {
            return Err(Error::BadRequest("Project cannot be transferred to another organization".to_owned()));
        }
        if target.namespace_id == project.namespace_id {
            return Err(Error::BadRequest("Project is already in this namespace".to_owned()));
        }
        let moved = self
            .store
            .transfer_project(project.id, &target, self.now())
            .await
            .map_err(taken_path)?
            .ok_or(Error::NotFound("Project"))?;
        self.audit(
            ctx,
            "project_transferred",
            "Project",
            project.id,
            &format!("Transferred project {} to {}", project.full_path, moved.full_path),
            &[("from", project.full_path.clone()), ("to", moved.full_path.clone())],
        )
        .await?;
        Ok(moved)
    }

    pub async fn delete_project(&self, ctx: &AuditContext, project: &Project) -> Result<()> {
        if !self.store.delete_project(project.id, self.now()).await? {
            return Err(Error::NotFound("Project"));
        }
        self.audit(
            ctx,
            "project_deleted",
            "Project",
            project.id,
            &format!("Deleted project {}", project.full_path),
            &[],
        )
        .await
    }
}

impl Authority {
    /// Deletes a group with its subgroups and every project under them: the tokens bound to any of them are
    /// revoked, their memberships and allowlist entries go, and their ids are never given again.
    pub async fn delete_group(&self, ctx: &AuditContext, group: &domain::Group) -> Result<()> {
        if !self.store.delete_group(group.id, self.now()).await? {
            return Err(Error::NotFound("Group"));
        }
        let message = format!("Deleted group {} with its subgroups and projects", group.full_path);
        self.audit(ctx, "group_deleted", "Group", group.id, &message, &[]).await
    }
}

/// A group's or project's path already taken is a 400 naming the field, as GitLab answers it
/// (`{"message": {"path": ["has already been taken"]}}`), not a 409.
fn taken_path(e: crate::StoreError) -> Error {
    match e {
        crate::StoreError::Conflict(field) => Error::invalid(field, "has already been taken"),
        e => e.into(),
    }
}
