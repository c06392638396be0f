//! Deploy tokens (`gldt-`) of projects and groups: issued by the resource's maintainers (a group's by its owners,
//! as the catalog says), listed, shown and revoked; they have no user and reach Git reads and the registries of
//! their resource only, as the decision's `DeployFacts` says.
//!
//! **Invariant:** a plaintext exists only in the answer that issued it; a deploy token never outlives the token
//! that made it nor the instance's maximum lifetime, and holds only GitLab's deploy scopes.

use std::sync::Arc;

use domain::{CredentialKind, DeployToken, MemberSource, Scopes, Token, TokenName, check_deploy_username};

use crate::{AuditContext, Authority, DeployTokenFilter, Error, NewDeployToken, Page, Result};

/// What a client asks for when it creates a deploy token.
#[derive(Debug, Clone, Default)]
pub struct CreateDeployToken {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    /// A date, or a date and time of which the date is kept (the token then ends at 00:00 UTC of that day: never
    /// later than asked).
    pub expires_at: Option<String>,
    pub username: Option<String>,
    /// The token making the request.
    pub creator: Option<Arc<Token>>,
}

/// A deploy token just issued: its record and its plaintext, shown once.
#[derive(Debug)]
pub struct IssuedDeployToken {
    pub token: DeployToken,
    pub plaintext: String,
}

impl Authority {
    /// Issues a deploy token of `resource` (of organization `organization_id`), made by user `creator_id`.
    pub async fn create_deploy_token(
        &self,
        ctx: &AuditContext,
        resource: MemberSource,
        organization_id: i64,
        creator_id: i64,
        request: &CreateDeployToken,
    ) -> Result<IssuedDeployToken> {
        let kind = CredentialKind::DeployToken.spec();
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let name = TokenName::parse(name).map_err(|e| Error::invalid("name", e))?;
        if let Some(username) = &request.username {
            check_deploy_username(username).map_err(|e| Error::invalid("username", e))?;
        }
        self.refuse_pasted_secrets(&[("name", Some(name.as_str())), ("username", request.username.as_deref())]).await?;
        let names = request.scopes.as_deref().ok_or_else(|| Error::BadRequest("scopes is missing".to_owned()))?;
        let scopes = Scopes::parse(names).map_err(|e| Error::invalid("scopes", e))?;
        if scopes.iter().any(|scope| !kind.may_hold(scope)) {
            return Err(Error::invalid("scopes", "can only contain available scopes"));
        }
        if request.creator.as_ref().is_some_and(|c| c.resource.is_some()) {
            return Err(Error::refused("a project or group access token cannot create tokens"));
        }
        let settings = self.facts.settings().await?;
        let now = self.now();
        // GitLab takes a date and time; the day is kept, so the token ends no later than asked.
        let asked = request.expires_at.as_deref().map(|t| t.split_once('T').map_or(t, |(date, _)| date));
        let mut expires_at = crate::tokens::expiry(asked, now.date(), &settings, None)?;
        if let Some(parent) = request.creator.as_deref() {
            expires_at = crate::tokens::expiry_within(parent, expires_at, asked)?;
        }
        let (plaintext, digest) = self.mint_routable(kind.prefix, organization_id, None, Some(resource))?;
        let new = NewDeployToken {
            resource,
            name: name.as_str().to_owned(),
            username: request.username.clone(),
            digest,
            scopes,
            expires_at,
            creator_id: Some(creator_id),
            organization_id,
            now,
        };
        let audit = |id: i64| {
            let message = format!("Created deploy token {id}");
            let extra = [("token_name", name.as_str().to_owned())];
            Some(self.audit_record(ctx, "deploy_token_created", kind.audit_entity, id, &message, &extra))
        };
        let token = self.store.insert_deploy_token(&new, &audit).await?;
        Ok(IssuedDeployToken { token, plaintext })
    }

    pub async fn list_deploy_tokens(&self, filter: &DeployTokenFilter, page: Page) -> Result<(Vec<DeployToken>, i64)> {
        Ok(self.store.list_deploy_tokens(filter, page).await?)
    }

    /// The deploy token `id` of `resource`; not found for any other.
    pub async fn deploy_token(&self, resource: MemberSource, id: i64) -> Result<DeployToken> {
        let token = self.facts.deploy_token(id).await?;
        token.filter(|t| t.resource == resource).map(Arc::unwrap_or_clone).ok_or(Error::NotFound("Deploy Token"))
    }

    /// Revokes a deploy token; revoking twice is a 400, as for every token.
    pub async fn revoke_deploy_token(&self, ctx: &AuditContext, token: &DeployToken) -> Result<()> {
        let kind = CredentialKind::DeployToken.spec();
        let event = self.audit_record(
            ctx,
            "deploy_token_revoked",
            kind.audit_entity,
            token.id,
            &format!("Revoked deploy token {}", token.id),
            &[("token_name", token.name.clone())],
        );
        if !self.store.revoke_deploy_token(token.id, self.now(), &event).await? {
            return Err(Error::BadRequest("Token already revoked".to_owned()));
        }
        Ok(())
    }
}
