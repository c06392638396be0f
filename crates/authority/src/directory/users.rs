//! Users: the first administrator, accounts made by administrators, service accounts, changes and blocks,
//! and their passwords (Argon2id).
//!
//! **Invariant:** passwords are stored only as Argon2id hashes; every change to a user is audited.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::{Email, User, UserType, Username, validate_display_name};

use crate::{AuditContext, Authority, CreateUser, Error, NewUser, Result, UserUpdate};

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
            provisioned_by_group_id: None,
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
            domain::CredentialKind::PersonalAccessToken.spec().audit_entity,
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
        self.refuse_pasted_secrets(&[("username", Some(username.as_str())), ("name", Some(name))]).await?;
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
            provisioned_by_group_id: request.provisioned_by_group_id,
            now: self.now(),
        };
        let user = self.store.insert_user(&new).await?;
        self.audit(ctx, "user_created", "User", user.id, &format!("Created user {}", user.username), &[]).await?;
        Ok(user)
    }

    /// Creates a service account: a user without a password that signs in only with tokens, made by an
    /// administrator for the instance (`POST /service_accounts`) or, with `group`, by a top-level group's owners,
    /// who then manage it and its tokens; it then lives in the group's organization. Missing fields get GitLab's
    /// defaults.
    pub async fn create_service_account(
        &self,
        ctx: &AuditContext,
        name: Option<String>,
        username: Option<String>,
        email: Option<String>,
        group: Option<&domain::Group>,
    ) -> Result<User> {
        if group.is_some_and(|g| g.parent_id.is_some()) {
            return Err(Error::BadRequest("service accounts belong to top-level groups".to_owned()));
        }
        let suffix: String = crate::random_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect();
        let request = CreateUser {
            username: Some(username.unwrap_or_else(|| format!("service_account_{suffix}"))),
            email: Some(email.unwrap_or_else(|| format!("service_account_{suffix}@noreply.tessera.localhost"))),
            name: Some(name.unwrap_or_else(|| "Service account user".to_owned())),
            force_random_password: true,
            can_create_group: Some(false),
            service_account: true,
            organization_id: group.map(|g| g.organization_id),
            provisioned_by_group_id: group.map(|g| g.id),
            ..CreateUser::default()
        };
        self.create_user(ctx, &request).await
    }

    /// The service account `user_id` made by top-level group `group_id`; not found for any other user.
    pub async fn group_service_account(&self, group_id: i64, user_id: i64) -> Result<User> {
        let user = self.facts.user(user_id).await?;
        user.filter(|u| u.user_type == UserType::ServiceAccount && u.provisioned_by_group_id == Some(group_id))
            .map(std::sync::Arc::unwrap_or_clone)
            .ok_or(Error::NotFound("User"))
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
        self.refuse_pasted_secrets(&[("username", update.username.as_deref()), ("name", update.name.as_deref())])
            .await?;
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
        // A bot is its access token and nothing more: it never signs in and is never an administrator.
        if (password.is_some() || update.is_admin == Some(true))
            && self.facts.user(id).await?.is_some_and(|u| u.user_type == UserType::ProjectBot)
        {
            return Err(Error::BadRequest(
                "a project or group bot has no password and no administrator rights".to_owned(),
            ));
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
}
