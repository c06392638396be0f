//! The credential inventory of administrators and top-level group owners: every stored credential, of every kind
//! the table of kinds marks as inventoried, in one list, and revoked from there with its owner told.
//!
//! **Invariant:** an item is acted on only when the inventory's own filter (its organization, its group) lists
//! it; anything else looks absent.

use std::sync::Arc;

use domain::{CredentialKind, DeployToken, PipelineTrigger, Token, UserSecret};

use crate::{AuditContext, Authority, Error, Page, Result, TokenFilter};

/// One credential of the inventory.
#[derive(Debug, Clone)]
pub enum InventoryItem {
    /// A personal, impersonation, project or group access token.
    UserToken(Arc<Token>),
    Deploy(Arc<DeployToken>),
    Trigger(Arc<PipelineTrigger>),
    /// A feed or incoming-email token.
    UserSecret(Arc<UserSecret>),
}

impl InventoryItem {
    pub fn kind(&self) -> CredentialKind {
        match self {
            InventoryItem::UserToken(token) => token.kind(),
            InventoryItem::Deploy(_) => CredentialKind::DeployToken,
            InventoryItem::Trigger(_) => CredentialKind::PipelineTriggerToken,
            InventoryItem::UserSecret(secret) => secret.kind,
        }
    }

    /// The user who owns it and is told of its revocation (a deploy token's creator).
    pub fn owner_id(&self) -> Option<i64> {
        match self {
            InventoryItem::UserToken(token) => Some(token.user_id),
            InventoryItem::Deploy(token) => token.creator_id,
            InventoryItem::Trigger(trigger) => Some(trigger.owner_id),
            InventoryItem::UserSecret(secret) => Some(secret.user_id),
        }
    }

    fn id(&self) -> i64 {
        match self {
            InventoryItem::UserToken(token) => token.id,
            InventoryItem::Deploy(token) => token.id,
            InventoryItem::Trigger(trigger) => trigger.id,
            InventoryItem::UserSecret(secret) => secret.id,
        }
    }

    fn name(&self) -> String {
        match self {
            InventoryItem::UserToken(token) => token.name.clone(),
            InventoryItem::Deploy(token) => token.name.clone(),
            InventoryItem::Trigger(trigger) => trigger.description.clone(),
            InventoryItem::UserSecret(secret) => secret.kind.name().replace('_', " "),
        }
    }
}

impl Authority {
    /// One page of the inventory `filter` selects, every kind in one order, and how many there are.
    pub async fn list_inventory(&self, filter: &TokenFilter, page: Page) -> Result<(Vec<InventoryItem>, i64)> {
        self.usage.flush().await?;
        let (found, total) = self.store.list_credentials(filter, page).await?;
        let mut items = Vec::with_capacity(found.len());
        for (kind, id) in found {
            if let Some(item) = self.inventory_item(kind, id).await? {
                items.push(item);
            }
        }
        Ok((items, total))
    }

    async fn inventory_item(&self, kind: CredentialKind, id: i64) -> Result<Option<InventoryItem>> {
        Ok(match kind.spec().secret {
            domain::SecretHome::TokenDigest => self.token(id).await?.map(|row| InventoryItem::UserToken(Arc::new(row))),
            domain::SecretHome::DeployDigest => self.facts.deploy_token(id).await?.map(InventoryItem::Deploy),
            domain::SecretHome::TriggerDigest => self.facts.trigger(id).await?.map(InventoryItem::Trigger),
            domain::SecretHome::UserSecretDigest => self.facts.user_secret(id).await?.map(InventoryItem::UserSecret),
            domain::SecretHome::RunnerDigest | domain::SecretHome::SignedJwt | domain::SecretHome::SshKey => None,
        })
    }

    /// The item `kind` `id`, when `filter` (the inventory's own) lists it.
    pub async fn listed_item(&self, filter: &TokenFilter, kind: CredentialKind, id: i64) -> Result<InventoryItem> {
        let filter = TokenFilter { id: Some(id), kind: Some(kind), ..filter.clone() };
        let (mut found, _) = self.list_inventory(&filter, Page { page: 1, per_page: 1 }).await?;
        found.pop().ok_or(Error::NotFound("Credential"))
    }

    /// Revokes an item from an inventory (`inventory` names it: "the instance", "group top"), audited against the
    /// credential and its owner, who is told in their notifications.
    pub async fn revoke_inventory_item(&self, ctx: &AuditContext, item: &InventoryItem, inventory: &str) -> Result<()> {
        match item {
            InventoryItem::UserToken(token) => return self.revoke_from_inventory(ctx, token, inventory).await,
            InventoryItem::Deploy(token) => self.revoke_deploy_token(ctx, token).await?,
            InventoryItem::Trigger(trigger) => self.delete_trigger(ctx, trigger).await?,
            InventoryItem::UserSecret(secret) => self.delete_user_secret(ctx, secret).await?,
        }
        let kind = item.kind();
        let by = ctx.author_name.as_deref().unwrap_or("an administrator");
        let what = kind.name().replace('_', " ");
        let message = format!(
            "Your {what} \"{}\" (id {}) was revoked by {by} from the credential inventory of {inventory}.",
            item.name(),
            item.id()
        );
        let Some(owner) = item.owner_id() else { return Ok(()) };
        let extra = [("token_id", item.id().to_string()), ("token_type", kind.name().to_owned())];
        self.audit(ctx, "credential_revoked_from_inventory", "User", owner, &message, &extra).await?;
        let notification = domain::Notification {
            id: 0,
            user_id: owner,
            kind: format!("{kind}_revoked"),
            message,
            created_at: self.now(),
        };
        Ok(self.store.insert_notification(&notification).await?)
    }
}
