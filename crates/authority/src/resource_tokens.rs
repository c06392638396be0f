//! Project and group access tokens: each is the one token of its own bot user (`project_<id>_bot_<hex>`, user type
//! `project_bot`), a member of that one project or group at the token's level. Created, listed, revoked and
//! rotated through the same token store as personal tokens; the decision bounds them to their resource.
//!
//! **Invariant:** a bot's level is never above its creator's own level on the resource, its scopes are those the
//! table of kinds allows bots and within the creating token's, and the bot, its membership and its token are
//! written in one transaction or not at all.

use domain::{AccessLevel, CredentialKind, MemberSource, Scopes, Token, User, UserType};

use crate::tokens::{IssuedToken, within_parent};
use crate::{AuditContext, Authority, CreateToken, Error, NewBotToken, NewToken, NewUser, Result};

/// The most active access tokens one project or one group may hold (GitLab sets no number on self-managed
/// instances; Tessera keeps each bot population bounded). A creation beyond it is refused with 400.
pub const MAX_ACCESS_TOKENS_PER_RESOURCE: i64 = 100;

/// GitLab's default level of a new project or group access token: Maintainer.
const DEFAULT_LEVEL: AccessLevel = AccessLevel::Maintainer;

/// The project or group an access token is made for, with what the request may know of it.
#[derive(Debug, Clone, Copy)]
pub struct TokenResource<'a> {
    /// Which one.
    pub source: MemberSource,
    /// Its organization: the bot and the token belong to it.
    pub organization_id: i64,
    /// The id of its top-level group, whose token policy applies (`None` for a project in a user's namespace).
    pub root_group_id: Option<i64>,
    /// The path shown in the bot's name and audit entries.
    pub full_path: &'a str,
    /// The creator's own level there (`Owner` for an administrator acting as one).
    pub creator_level: Option<AccessLevel>,
}

impl TokenResource<'_> {
    fn word(&self) -> &'static str {
        self.source.kind()
    }

    fn id(&self) -> i64 {
        self.source.id()
    }

    fn kind(&self) -> CredentialKind {
        CredentialKind::of_user_token(false, Some(self.source))
    }
}

/// Reads `access_level` as GitLab's API takes it (default Maintainer); Minimal Access and unknown numbers are
/// refused.
pub fn token_level(requested: Option<i64>) -> Result<AccessLevel> {
    let Some(value) = requested else { return Ok(DEFAULT_LEVEL) };
    AccessLevel::try_from(value)
        .ok()
        .filter(|level| AccessLevel::ALL.contains(level))
        .ok_or_else(|| Error::BadRequest("access_level does not have a valid value".to_owned()))
}

impl Authority {
    /// Issues an access token to a new bot of `resource`, at `level`, asked for by `creator` (whose token is
    /// `request.creator`).
    pub async fn create_resource_token(
        &self,
        ctx: &AuditContext,
        creator: &User,
        resource: &TokenResource<'_>,
        level: AccessLevel,
        request: &CreateToken,
    ) -> Result<IssuedToken> {
        let parent = request.creator.as_deref();
        if parent.is_some_and(|p| p.resource.is_some()) || creator.user_type == UserType::ProjectBot {
            return Err(Error::refused("a project or group access token cannot create tokens"));
        }
        if parent.is_some_and(|p| p.scopes.is_granular()) && request.grants.is_none() {
            return Err(Error::refused("a fine-grained token can only create fine-grained tokens"));
        }
        if parent.is_some_and(|p| p.organization_id != resource.organization_id) {
            return Err(Error::refused("a token can only create tokens in its own organization"));
        }
        if resource.creator_level.is_none_or(|own| level > own) {
            return Err(Error::BadRequest(
                "Access level of the token can't be greater the access level of the user who created the token"
                    .to_owned(),
            ));
        }
        let (name, description) = self.name_and_description(request).await?;
        let scopes = match (request.scopes.as_deref(), &request.grants) {
            (Some(_), Some(_)) => {
                return Err(Error::BadRequest("scopes, granular_scopes are mutually exclusive".to_owned()));
            }
            (None, None) => {
                return Err(Error::BadRequest(
                    "scopes, granular_scopes are missing, exactly one parameter must be provided".to_owned(),
                ));
            }
            (Some(names), None) => Scopes::parse(names).map_err(|e| Error::invalid("scopes", e))?,
            (None, Some(_)) => Scopes::granular(),
        };
        let grants = match &request.grants {
            Some(requested) => {
                let grants = crate::grants::read_grants(requested)?;
                self.check_bot_grants(resource.source, level, &grants, parent).await?;
                grants
            }
            None => Vec::new(),
        };
        let kind = resource.kind();
        if scopes.iter().any(|scope| !kind.spec().may_hold(scope)) {
            return Err(Error::invalid("scopes", "can only contain available scopes"));
        }
        let settings = self.facts.settings().await?;
        let now = self.now();
        let mut expires_at = crate::tokens::expiry(request.expires_at.as_deref(), now.date(), &settings, None)?;
        if let Some(parent) = parent {
            // A fine-grained parent's grants were checked above; its expiry caps the bot's like any parent's.
            expires_at = within_parent(parent, &scopes, expires_at, request.expires_at.as_deref())?;
        }
        self.check_hierarchy_lifetime(resource.root_group_id, (now.date(), expires_at)).await?;
        let route_rules = crate::tokens::route_rules(request.route_rules.as_deref().unwrap_or_default())?;
        if let Some(parent) = parent.filter(|p| !p.route_rules.is_empty())
            && (route_rules.is_empty() || route_rules.iter().any(|r| !parent.route_rules.contains(r)))
        {
            return Err(Error::refused(
                "a token with route rules can only create tokens held to some of the same rules",
            ));
        }
        let suffix: String = crate::random_bytes::<16>()?.iter().map(|b| format!("{b:02x}")).collect();
        let username = format!("{}_{}_bot_{suffix}", resource.word(), resource.id());
        let bot = NewUser {
            email: format!("{username}@noreply.tessera.localhost"),
            username,
            name: name.as_str().to_owned(),
            password_hash: None,
            is_admin: false,
            user_type: UserType::ProjectBot,
            bio: String::new(),
            public_email: None,
            can_create_group: false,
            // A bot sees nothing internal it is not a member of, whatever the decision's bound already refuses.
            external: true,
            organization_id: resource.organization_id,
            provisioned_by_group_id: None,
            now,
        };
        let (plaintext, digest) = self.mint(resource.organization_id, None, Some(resource.source))?;
        let token = NewToken {
            user_id: 0,
            name: name.as_str().to_owned(),
            description,
            digest,
            scopes,
            impersonation: false,
            expires_at,
            previous_token_id: None,
            organization_id: resource.organization_id,
            grants,
            route_rules,
            resource: Some(resource.source),
            now,
        };
        let new = NewBotToken {
            bot,
            access_level: level,
            created_by: creator.id,
            token,
            limit: MAX_ACCESS_TOKENS_PER_RESOURCE,
            today: now.date(),
        };
        let audit = |id: i64| {
            let message = format!("Created {} access token {id} for {}", resource.word(), resource.full_path);
            let extra = [
                ("token_name", name.as_str().to_owned()),
                ("access_level", level.value().to_string()),
                (if resource.word() == "project" { "project_id" } else { "group_id" }, resource.id().to_string()),
            ];
            Some(self.audit_record(ctx, &format!("{kind}_created"), kind.spec().audit_entity, id, &message, &extra))
        };
        let Some((_, token)) = self.store.insert_bot(&new, &audit).await? else {
            return Err(Error::BadRequest(format!(
                "This {} already has {MAX_ACCESS_TOKENS_PER_RESOURCE} active access tokens, the most it may have",
                resource.word()
            )));
        };
        Ok(IssuedToken { token, plaintext })
    }

    /// The access token `id` of `source`; not found for any other token.
    pub async fn resource_token(&self, source: MemberSource, id: i64) -> Result<Token> {
        let token = self.token(id).await?;
        token.filter(|t| t.resource == Some(source)).ok_or(Error::NotFound("Token"))
    }

    /// The level a resource token's bot holds on its resource (`None` once revoked: the membership went with it).
    pub async fn bot_level(&self, token: &Token) -> Result<Option<AccessLevel>> {
        let Some(source) = token.resource else { return Ok(None) };
        Ok(self.store.member(source, token.user_id).await?.map(|m| m.access_level))
    }

    /// Rotates a project's or group's access token, for someone whose own level there (`rotator_level`) is at
    /// least the bot's; the token rotating itself needs no more than its own level.
    pub async fn rotate_resource_token(
        &self,
        ctx: &AuditContext,
        token: &Token,
        rotator_level: Option<AccessLevel>,
        request: &crate::RotateToken,
    ) -> Result<IssuedToken> {
        let itself = request.creator.as_ref().is_some_and(|c| c.id == token.id);
        if !itself {
            if request.creator.as_ref().is_some_and(|c| c.resource.is_some()) {
                return Err(Error::refused("a project or group access token can only rotate itself"));
            }
            let bot = self.bot_level(token).await?;
            if bot.is_some_and(|bot| rotator_level.is_none_or(|own| bot > own)) {
                return Err(Error::BadRequest(
                    "Not eligible to rotate token with access level higher than the user".to_owned(),
                ));
            }
        }
        self.rotate_token(ctx, token, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_level_is_read_exactly_and_defaults_to_maintainer() {
        assert_eq!(token_level(None).unwrap(), AccessLevel::Maintainer);
        assert_eq!(token_level(Some(30)).unwrap(), AccessLevel::Developer);
        assert_eq!(token_level(Some(50)).unwrap(), AccessLevel::Owner);
        for refused in [0, 5, 25, 60, -10] {
            assert!(token_level(Some(refused)).is_err(), "{refused}");
        }
    }
}
