//! The directory: users, groups, projects and memberships, and a user's effective access level.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::{
    AccessLevel, Email, Group, Member, MemberSource, Path, Project, User, UserType, Username, Visibility,
    validate_display_name,
};

use crate::{
    AuditContext, Authority, Error, NamespaceTarget, NamespaceUpdate, NewGroup, NewProject, NewUser, Result, UserUpdate,
};

/// What an administrator sends to create a user.
#[derive(Debug, Clone, Default)]
pub struct CreateUser {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
    pub reset_password: bool,
    pub force_random_password: bool,
    pub admin: bool,
    pub bio: Option<String>,
    pub public_email: Option<String>,
    pub can_create_group: Option<bool>,
    pub external: bool,
    pub service_account: bool,
    /// The user's organization (the default one when absent): their namespace and, by default, their tokens.
    pub organization_id: Option<i64>,
}

/// What an administrator asks for when creating an organization.
#[derive(Debug, Clone, Default)]
pub struct CreateOrganization {
    pub name: Option<String>,
    pub path: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateGroup {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub parent_id: Option<i64>,
    pub organization_id: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateProject {
    pub name: Option<String>,
    pub path: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<String>,
    pub namespace_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct MemberChange {
    pub user_id: i64,
    pub access_level: AccessLevel,
    pub expires_at: Option<domain::Date>,
}

/// A group or a project, named by numeric id or by full path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceRef {
    Id(i64),
    Path(String),
}

impl NamespaceRef {
    /// GitLab's `:id`: a number, or a URL-decoded full path such as `group/sub/project`.
    pub fn parse(s: &str) -> NamespaceRef {
        match s.parse::<i64>() {
            Ok(id) if !s.starts_with('+') && !s.starts_with('-') => NamespaceRef::Id(id),
            _ => NamespaceRef::Path(s.trim_matches('/').to_owned()),
        }
    }
}

/// Argon2id with the crate's default parameters (19 MiB, 2 passes).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&crate::random_bytes::<16>()?)
        .map_err(|e| Error::Internal(anyhow::anyhow!("salt: {e}")))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("password hash: {e}")))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

fn check_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < 8 {
        return Err(Error::invalid("password", "is too short (minimum is 8 characters)"));
    }
    if n > 128 {
        return Err(Error::invalid("password", "is too long (maximum is 128 characters)"));
    }
    Ok(())
}

fn parse_visibility(s: Option<&str>, default: Visibility) -> Result<Visibility> {
    match s {
        None => Ok(default),
        Some(s) => {
            Visibility::parse(s).ok_or_else(|| Error::BadRequest("visibility does not have a valid value".to_owned()))
        }
    }
}

/// The membership sources of one group or project (itself and its ancestors, at most 21), kept on the stack.
struct Sources {
    items: [MemberSource; 24],
    len: usize,
}

impl Sources {
    fn new() -> Sources {
        Sources { items: [MemberSource::Group(0); 24], len: 0 }
    }

    fn extend(&mut self, sources: impl IntoIterator<Item = MemberSource>) {
        for source in sources {
            if let Some(slot) = self.items.get_mut(self.len) {
                *slot = source;
                self.len += 1;
            }
        }
    }

    fn as_slice(&self) -> &[MemberSource] {
        self.items.get(..self.len).unwrap_or_default()
    }
}

/// Who performs a directory change: the user the request acts as, and whether it acts with administrator powers
/// now (the decision's answer, Admin Mode included).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a User,
    pub admin: bool,
    /// The organization of the token the request came with (`None` without one, as for the command line): a
    /// namespace of another organization is out of its reach, administrators' tokens included.
    pub organization_id: Option<i64>,
}

impl Actor<'_> {
    fn reaches(&self, organization_id: i64) -> bool {
        self.organization_id.is_none_or(|own| own == organization_id)
    }
}

/// Permissions checked past the route, by the catalog's role matrix.
const CREATE_SUBGROUP: &str = "create_subgroup";
const CREATE_PROJECTS: &str = "create_projects";
const MANAGE_OWNERS: &str = "manage_owners";

impl Authority {
    /// Creates the first administrator (`root`) and prints nothing: returns its token's plaintext for the
    /// caller to print once. Returns `None` when users already exist.
    pub async fn bootstrap(&self, email: &str) -> Result<Option<(User, String)>> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let now = self.now();
        let admin = NewUser {
            username: "root".to_owned(),
            email: email.to_owned(),
            name: "Administrator".to_owned(),
            password_hash: None,
            is_admin: true,
            user_type: UserType::Human,
            bio: String::new(),
            public_email: None,
            can_create_group: true,
            external: false,
            organization_id: domain::DEFAULT_ORGANIZATION_ID,
            now,
        };
        let random = crate::random_bytes::<{ tokens::RANDOM_BYTES }>()?;
        let plaintext = std::sync::Mutex::new(None::<String>);
        let mint = |user_id: i64| {
            let (text, token) = self.bootstrap_token(&random, user_id, now)?;
            if let Ok(mut slot) = plaintext.lock() {
                *slot = Some(text);
            }
            Some(token)
        };
        let Some((user, token)) = self.store.bootstrap(&admin, &mint).await? else { return Ok(None) };
        let plaintext = plaintext
            .into_inner()
            .ok()
            .flatten()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the first token was not minted")))?;
        let ctx = AuditContext { author_id: Some(user.id), author_name: Some(user.username.clone()), ip_address: None };
        self.audit(
            &ctx,
            "personal_access_token_created",
            "PersonalAccessToken",
            token.id,
            "Created the first administrator's token",
            &[],
        )
        .await?;
        Ok(Some((user, plaintext)))
    }

    pub async fn create_user(&self, ctx: &AuditContext, request: &CreateUser) -> Result<User> {
        let username =
            request.username.as_deref().ok_or_else(|| Error::BadRequest("username is missing".to_owned()))?;
        let email = request.email.as_deref().ok_or_else(|| Error::BadRequest("email is missing".to_owned()))?;
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let username = Username::parse(username).map_err(|e| Error::invalid("username", e))?;
        let email = Email::parse(email).map_err(|e| Error::invalid("email", e))?;
        validate_display_name(name).map_err(|e| Error::invalid("name", e))?;
        let password_hash = match (&request.password, request.reset_password || request.force_random_password) {
            (Some(password), _) => {
                check_password(password)?;
                Some(hash_password(password)?)
            }
            (None, true) => None,
            (None, false) => {
                return Err(Error::BadRequest("password, reset_password, force_random_password are missing, exactly one parameter must be provided".to_owned()));
            }
        };
        let public_email = match &request.public_email {
            Some(e) if !e.is_empty() => {
                Some(Email::parse(e).map_err(|err| Error::invalid("public_email", err))?.as_str().to_owned())
            }
            _ => None,
        };
        let bio = request.bio.clone().unwrap_or_default();
        if bio.chars().count() > 255 {
            return Err(Error::invalid("bio", "is too long (maximum is 255 characters)"));
        }
        let organization_id = match request.organization_id {
            None => domain::DEFAULT_ORGANIZATION_ID,
            Some(id) => self.existing_organization(id).await?,
        };
        let new = NewUser {
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            name: name.to_owned(),
            password_hash,
            is_admin: request.admin,
            user_type: if request.service_account { UserType::ServiceAccount } else { UserType::Human },
            bio,
            public_email,
            can_create_group: request.can_create_group.unwrap_or(true),
            external: request.external,
            organization_id,
            now: self.now(),
        };
        let user = self.store.insert_user(&new).await?;
        self.audit(ctx, "user_created", "User", user.id, &format!("Created user {}", user.username), &[]).await?;
        Ok(user)
    }

    /// Creates an instance service account (`POST /service_accounts`): a user without a password that signs in
    /// only with tokens. Missing fields get GitLab's defaults.
    pub async fn create_service_account(
        &self,
        ctx: &AuditContext,
        name: Option<String>,
        username: Option<String>,
        email: Option<String>,
    ) -> Result<User> {
        let suffix: String = crate::random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect();
        let request = CreateUser {
            username: Some(username.unwrap_or_else(|| format!("service_account_{suffix}"))),
            email: Some(email.unwrap_or_else(|| format!("service_account_{suffix}@noreply.tessera.localhost"))),
            name: Some(name.unwrap_or_else(|| "Service account user".to_owned())),
            force_random_password: true,
            can_create_group: Some(false),
            service_account: true,
            ..CreateUser::default()
        };
        self.create_user(ctx, &request).await
    }

    /// Applies an administrator's change. Fields are validated as on creation.
    pub async fn update_user(
        &self,
        ctx: &AuditContext,
        id: i64,
        mut update: UserUpdate,
        password: Option<&str>,
    ) -> Result<User> {
        if let Some(username) = &update.username {
            Username::parse(username).map_err(|e| Error::invalid("username", e))?;
        }
        if let Some(email) = &update.email {
            Email::parse(email).map_err(|e| Error::invalid("email", e))?;
        }
        if let Some(name) = &update.name {
            validate_display_name(name).map_err(|e| Error::invalid("name", e))?;
        }
        if let Some(Some(email)) = &update.public_email {
            if email.is_empty() {
                update.public_email = Some(None);
            } else {
                Email::parse(email).map_err(|e| Error::invalid("public_email", e))?;
            }
        }
        if update.bio.as_ref().is_some_and(|bio| bio.chars().count() > 255) {
            return Err(Error::invalid("bio", "is too long (maximum is 255 characters)"));
        }
        if let Some(password) = password {
            check_password(password)?;
            update.password_hash = Some(hash_password(password)?);
        }
        let user = self.store.update_user(id, &update, self.now()).await?.ok_or(Error::NotFound("User"))?;
        self.audit(ctx, "user_updated", "User", user.id, &format!("Updated user {}", user.username), &[]).await?;
        Ok(user)
    }

    /// Blocks or unblocks a user. Their tokens stop working at once while blocked and work again on unblock.
    pub async fn set_blocked(&self, ctx: &AuditContext, id: i64, blocked: bool) -> Result<User> {
        let state = if blocked { domain::UserState::Blocked } else { domain::UserState::Active };
        let update = UserUpdate { state: Some(state), ..UserUpdate::default() };
        let user = self.store.update_user(id, &update, self.now()).await?.ok_or(Error::NotFound("User"))?;
        let event = if blocked { "user_blocked" } else { "user_unblocked" };
        self.audit(
            ctx,
            event,
            "User",
            user.id,
            &format!("{} user {}", if blocked { "Blocked" } else { "Unblocked" }, user.username),
            &[],
        )
        .await?;
        Ok(user)
    }

    pub async fn find_group(&self, r: &NamespaceRef) -> Result<Option<Arc<Group>>> {
        Ok(match r {
            NamespaceRef::Id(id) => self.facts.group(*id).await?,
            NamespaceRef::Path(path) => self.facts.group_by_path(path).await?,
        })
    }

    pub async fn find_project(&self, r: &NamespaceRef) -> Result<Option<Arc<Project>>> {
        Ok(match r {
            NamespaceRef::Id(id) => self.facts.project(*id).await?,
            NamespaceRef::Path(path) => self.facts.project_by_path(path).await?,
        })
    }

    /// The user's highest access level on a group: its own membership or one inherited from an ancestor.
    pub async fn group_access(&self, user: &User, group: &Group) -> Result<Option<AccessLevel>> {
        let mut sources = Sources::new();
        sources.extend(group.traversal_ids.iter().map(|id| MemberSource::Group(*id)));
        self.highest_level(user, sources.as_slice()).await
    }

    /// The user's highest access level on a project: its own membership, those inherited from ancestor groups,
    /// and Owner for the owner of a personal namespace.
    pub async fn project_access(&self, user: &User, project: &Project) -> Result<Option<AccessLevel>> {
        if project.owner_user_id == Some(user.id) {
            return Ok(Some(AccessLevel::Owner));
        }
        let mut sources = Sources::new();
        sources.extend(project.group_traversal_ids.iter().map(|id| MemberSource::Group(*id)));
        sources.extend([MemberSource::Project(project.id)]);
        self.highest_level(user, sources.as_slice()).await
    }

    async fn highest_level(&self, user: &User, sources: &[MemberSource]) -> Result<Option<AccessLevel>> {
        let levels = self.facts.levels(user.id, sources, self.now().date()).await?;
        Ok(levels.iter().map(|(_, level)| *level).max())
    }

    /// Creates an organization (the route admits administrators only). Its path follows a top-level group's rules.
    pub async fn create_organization(
        &self,
        ctx: &AuditContext,
        request: &CreateOrganization,
    ) -> Result<domain::Organization> {
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let path = request.path.as_deref().ok_or_else(|| Error::BadRequest("path is missing".to_owned()))?;
        validate_display_name(name).map_err(|e| Error::invalid("name", e))?;
        let path = Path::parse_top_level(path).map_err(|e| Error::invalid("path", e))?;
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
        Ok(organization)
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
        let group = self.store.insert_group(&new).await?;
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
        let project = self.store.insert_project(&new).await?;
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
        let moved =
            self.store.transfer_project(project.id, &target, self.now()).await?.ok_or(Error::NotFound("Project"))?;
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
        if !self.store.delete_project(project.id).await? {
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

    /// Adds or changes a membership (the decision required the route's permission to manage members); making or
    /// changing an Owner also needs `manage_owners`.
    pub async fn set_member(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        actor_level: Option<AccessLevel>,
        source: MemberSource,
        change: &MemberChange,
        must_exist: Option<bool>,
    ) -> Result<Member> {
        let existing = self.store.member(source, change.user_id).await?;
        match (must_exist, &existing) {
            (Some(true), None) => return Err(Error::NotFound("Member")),
            (Some(false), Some(_)) => return Err(Error::Conflict("Member already exists".to_owned())),
            _ => {}
        }
        let mut needed = change.access_level;
        if let Some(existing) = &existing {
            needed = needed.max(existing.access_level);
        }
        if needed == AccessLevel::Owner && !policy::role_grants(&self.catalog, actor.admin, actor_level, MANAGE_OWNERS)
        {
            return Err(Error::forbidden());
        }
        self.facts.user(change.user_id).await?.ok_or(Error::NotFound("User"))?;
        if change.expires_at.is_some_and(|date| date <= self.now().date()) {
            return Err(Error::invalid("expires_at", "must be in the future"));
        }
        let member = Member {
            source,
            user_id: change.user_id,
            access_level: change.access_level,
            expires_at: change.expires_at,
            created_at: existing.as_ref().map(|m| m.created_at).unwrap_or_else(|| self.now()),
            created_by: existing.as_ref().and_then(|m| m.created_by).or(Some(actor.user.id)),
        };
        self.store.upsert_member(&member).await?;
        let (kind, id) = source_parts(source);
        self.audit(
            ctx,
            "member_updated",
            kind,
            id,
            &format!("Set user {} to {}", change.user_id, change.access_level.name()),
            &[("access_level", change.access_level.value().to_string())],
        )
        .await?;
        Ok(member)
    }

    /// Removes a membership: a member leaving, or (as the decision checked) one who manages members; removing an
    /// Owner also needs `manage_owners`.
    pub async fn remove_member(
        &self,
        ctx: &AuditContext,
        actor: Actor<'_>,
        actor_level: Option<AccessLevel>,
        source: MemberSource,
        user_id: i64,
    ) -> Result<()> {
        let existing = self.store.member(source, user_id).await?.ok_or(Error::NotFound("Member"))?;
        let leaving = user_id == actor.user.id;
        if !leaving
            && existing.access_level == AccessLevel::Owner
            && !policy::role_grants(&self.catalog, actor.admin, actor_level, MANAGE_OWNERS)
        {
            return Err(Error::forbidden());
        }
        self.store.delete_member(source, user_id).await?;
        let (kind, id) = source_parts(source);
        self.audit(ctx, "member_removed", kind, id, &format!("Removed user {user_id}"), &[]).await
    }
}

fn source_parts(source: MemberSource) -> (&'static str, i64) {
    match source {
        MemberSource::Group(id) => ("Group", id),
        MemberSource::Project(id) => ("Project", id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permissions_checked_past_the_route_are_in_the_catalog() {
        let catalog = catalog::Catalog::builtin().unwrap();
        for name in [CREATE_SUBGROUP, CREATE_PROJECTS, MANAGE_OWNERS] {
            assert!(catalog.permission(name).is_some(), "{name} is not in the catalog");
        }
    }

    #[test]
    fn numeric_ids_and_paths_are_told_apart() {
        assert_eq!(NamespaceRef::parse("42"), NamespaceRef::Id(42));
        assert_eq!(NamespaceRef::parse("group/sub/proj"), NamespaceRef::Path("group/sub/proj".to_owned()));
        assert_eq!(NamespaceRef::parse("+42"), NamespaceRef::Path("+42".to_owned()));
    }

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }
}
