//! SSH keys: users' own (`/user/keys`) and deploy keys (`/projects/:id/deploy_keys`, administrators'
//! `/deploy_keys`), and Git over SSH decided for gitlab-shell (`internal/allowed`) through the one decision flow,
//! on the Git route of the repository and action asked.
//!
//! **Invariant:** a key is stored only when it parses whole and is of an accepted kind and size; a fingerprint
//! names one key; an SSH request is decided as the Git-over-HTTP request of the same repository and action.

use domain::{Date, DeployKeyLink, Project, SshKey, User, UserType};

use crate::{AuditContext, Authority, Error, NewSshKey, Outcome, Page, Request, Result};

/// The longest title a key may have.
const MAX_TITLE: usize = 255;

/// A key as a client gives it.
#[derive(Debug, Clone, Default)]
pub struct AddSshKey {
    pub title: Option<String>,
    pub key: Option<String>,
    pub expires_at: Option<String>,
    /// A deploy key's `can_push` on the project it is added to.
    pub can_push: bool,
}

/// The Git actions gitlab-shell asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitAction {
    UploadPack,
    ReceivePack,
}

impl GitAction {
    pub fn parse(text: &str) -> Option<GitAction> {
        match text {
            "git-upload-pack" => Some(GitAction::UploadPack),
            "git-receive-pack" => Some(GitAction::ReceivePack),
            _ => None,
        }
    }

    fn service(self) -> &'static str {
        match self {
            GitAction::UploadPack => "git-upload-pack",
            GitAction::ReceivePack => "git-receive-pack",
        }
    }
}

impl Authority {
    fn checked_key(&self, request: &AddSshKey) -> Result<(String, tokens::ssh::PublicKey, Option<Date>)> {
        let title = request.title.as_deref().ok_or_else(|| Error::BadRequest("title is missing".to_owned()))?;
        if title.trim().is_empty() || title.chars().count() > MAX_TITLE || title.chars().any(char::is_control) {
            return Err(Error::invalid("title", "is invalid (1 to 255 characters, no control characters)"));
        }
        let text = request.key.as_deref().ok_or_else(|| Error::BadRequest("key is missing".to_owned()))?;
        let key = tokens::ssh::parse_public_key(text).map_err(|e| Error::invalid("key", e))?;
        let expires_at = match request.expires_at.as_deref().map(|t| t.split_once('T').map_or(t, |(d, _)| d)) {
            None | Some("") => None,
            Some(text) => {
                let date = Date::parse(text).ok_or_else(|| Error::BadRequest("expires_at is invalid".to_owned()))?;
                if date <= self.now().date() {
                    return Err(Error::invalid("expires_at", "must be in the future"));
                }
                Some(date)
            }
        };
        Ok((title.to_owned(), key, expires_at))
    }

    async fn store_key(
        &self,
        ctx: &AuditContext,
        user: Option<&User>,
        request: &AddSshKey,
        enable_on: Option<&Project>,
    ) -> Result<SshKey> {
        let (title, key, expires_at) = self.checked_key(request)?;
        self.refuse_pasted_secrets(&[("title", Some(&title))]).await?;
        let new = NewSshKey {
            user_id: user.map(|u| u.id),
            title,
            key: key.canonical,
            fingerprint: key.fingerprint,
            bits: i64::try_from(key.bits).unwrap_or(i64::MAX),
            expires_at,
            enable_on: enable_on.map(|p| (p.id, request.can_push)),
            now: self.now(),
        };
        let (entity, event) = if user.is_some() { ("Key", "ssh_key_added") } else { ("DeployKey", "deploy_key_added") };
        let audit = |id: i64| {
            let message = format!("Added SSH key {id} ({})", new.fingerprint);
            Some(self.audit_record(ctx, event, entity, id, &message, &[("fingerprint", new.fingerprint.clone())]))
        };
        self.store.insert_ssh_key(&new, &audit).await.map_err(|e| match e {
            crate::StoreError::Conflict(_) => Error::invalid("fingerprint", "has already been taken"),
            other => other.into(),
        })
    }

    /// Adds a user's own SSH key.
    pub async fn add_user_key(&self, ctx: &AuditContext, user: &User, request: &AddSshKey) -> Result<SshKey> {
        if user.user_type == UserType::ProjectBot {
            return Err(Error::refused("a project or group bot has only the access token it was made with"));
        }
        self.store_key(ctx, Some(user), request, None).await
    }

    /// Adds a deploy key, enabled on `project` (or, for administrators, instance-wide: on no project yet).
    pub async fn add_deploy_key(
        &self,
        ctx: &AuditContext,
        project: Option<&Project>,
        request: &AddSshKey,
    ) -> Result<SshKey> {
        self.store_key(ctx, None, request, project).await
    }

    pub async fn list_user_keys(&self, user_id: i64, page: Page) -> Result<(Vec<SshKey>, i64)> {
        Ok(self.store.list_ssh_keys(Some(user_id), page).await?)
    }

    pub async fn list_deploy_keys(&self, page: Page) -> Result<(Vec<SshKey>, i64)> {
        Ok(self.store.list_ssh_keys(None, page).await?)
    }

    pub async fn project_deploy_keys(
        &self,
        project_id: i64,
        page: Page,
    ) -> Result<(Vec<(SshKey, DeployKeyLink)>, i64)> {
        Ok(self.store.project_deploy_keys(project_id, page).await?)
    }

    /// The user's key `id`; not found for any other.
    pub async fn user_key(&self, user_id: i64, id: i64) -> Result<SshKey> {
        let key = self.store.ssh_key(id).await?;
        key.filter(|k| k.user_id == Some(user_id)).ok_or(Error::NotFound("Key"))
    }

    /// The deploy key `id` and its enablement on `project_id`; not found when it is not enabled there.
    pub async fn project_deploy_key(&self, project_id: i64, id: i64) -> Result<(SshKey, DeployKeyLink)> {
        let link = self.store.deploy_key_link(id, project_id).await?.ok_or(Error::NotFound("Deploy Key"))?;
        let key = self.store.ssh_key(id).await?.filter(SshKey::is_deploy_key).ok_or(Error::NotFound("Deploy Key"))?;
        Ok((key, link))
    }

    /// Enables an existing deploy key on a project (read-only until `can_push` is set).
    pub async fn enable_deploy_key(
        &self,
        ctx: &AuditContext,
        project: &Project,
        id: i64,
    ) -> Result<(SshKey, DeployKeyLink)> {
        let key = self.store.ssh_key(id).await?.filter(SshKey::is_deploy_key).ok_or(Error::NotFound("Deploy Key"))?;
        if self.store.deploy_key_link(id, project.id).await?.is_none() {
            self.store.enable_deploy_key(id, project.id, false, self.now()).await?;
            let message = format!("Enabled deploy key {id} on {}", project.full_path);
            self.audit(ctx, "deploy_key_enabled", "DeployKey", id, &message, &[]).await?;
        }
        self.project_deploy_key(project.id, key.id).await
    }

    /// Changes a deploy key's title and its `can_push` on a project.
    pub async fn update_deploy_key(
        &self,
        ctx: &AuditContext,
        project: &Project,
        id: i64,
        title: Option<&str>,
        can_push: Option<bool>,
    ) -> Result<(SshKey, DeployKeyLink)> {
        let (key, link) = self.project_deploy_key(project.id, id).await?;
        if let Some(title) = title {
            if title.trim().is_empty() || title.chars().count() > MAX_TITLE || title.chars().any(char::is_control) {
                return Err(Error::invalid("title", "is invalid (1 to 255 characters, no control characters)"));
            }
            self.store.retitle_ssh_key(key.id, title).await?;
        }
        if let Some(can_push) = can_push.filter(|c| *c != link.can_push) {
            self.store.enable_deploy_key(key.id, project.id, can_push, link.created_at).await?;
        }
        let message = format!("Changed deploy key {id} on {}", project.full_path);
        self.audit(ctx, "deploy_key_updated", "DeployKey", id, &message, &[]).await?;
        self.project_deploy_key(project.id, id).await
    }

    /// Disables a deploy key on a project (and removes it when no project has it any more).
    pub async fn disable_deploy_key(&self, ctx: &AuditContext, project: &Project, id: i64) -> Result<()> {
        let event = self.audit_record(
            ctx,
            "deploy_key_disabled",
            "DeployKey",
            id,
            &format!("Disabled deploy key {id} on {}", project.full_path),
            &[],
        );
        if !self.store.disable_deploy_key(id, project.id, &event).await? {
            return Err(Error::NotFound("Deploy Key"));
        }
        Ok(())
    }

    /// Removes a key.
    pub async fn delete_ssh_key(&self, ctx: &AuditContext, key: &SshKey) -> Result<()> {
        let event =
            self.audit_record(ctx, "ssh_key_removed", "Key", key.id, &format!("Removed SSH key {}", key.id), &[]);
        if !self.store.delete_ssh_key(key.id, &event).await? {
            return Err(Error::NotFound("Key"));
        }
        Ok(())
    }

    /// The key `id`, unless it has expired.
    pub async fn ssh_key_now(&self, id: i64) -> Result<Option<SshKey>> {
        let now = self.now();
        Ok(self.store.ssh_key(id).await?.filter(|k| !k.is_expired(now)))
    }

    /// The key an SSH server names by its fingerprint or by its wire form, for `AuthorizedKeysCommand`.
    pub async fn authorized_key(&self, fingerprint: Option<&str>, key: Option<&str>) -> Result<Option<SshKey>> {
        let fingerprint = match (fingerprint, key) {
            (Some(fingerprint), _) => fingerprint.to_owned(),
            (None, Some(encoded)) => {
                use base64::Engine;
                let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return Ok(None) };
                tokens::ssh::fingerprint(&blob)
            }
            (None, None) => return Ok(None),
        };
        let now = self.now();
        Ok(self.store.ssh_key_by_fingerprint(&fingerprint).await?.filter(|k| !k.is_expired(now)))
    }

    /// Decides Git over SSH for gitlab-shell: the key (by id or fingerprint), the repository path and the action,
    /// decided as the Git-over-HTTP request of the same repository and action, through the one decision flow.
    pub async fn decide_ssh(&self, key: &SshKey, repository: &str, action: GitAction) -> Result<Outcome<'_>> {
        let path = repository.trim_start_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let target = format!("/{path}.git/info/refs?service={}", action.service());
        let request =
            Request { method: "GET", target: &target, ssh_key: Some(key.id), served: true, ..Request::default() };
        self.decide_request(&request).await
    }
}
