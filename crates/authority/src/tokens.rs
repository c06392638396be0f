//! Personal and impersonation access tokens: issue, list, show, revoke and rotate.
//!
//! **Invariant:** a plaintext exists only in the answer that issued it; revocation and rotation are conditional
//! updates, so exactly one caller wins.

use domain::{CredentialKind, Date, Grant, MemberSource, Scope, Scopes, Settings, Token, TokenName, User, UserType};
use tokens::RoutingPayload;

use crate::grants::RequestedGrant;
use crate::{AuditContext, Authority, Error, NewToken, Page, Result, TokenFilter};

/// What a client asks for when it creates a token.
#[derive(Debug, Clone, Default)]
pub struct CreateToken {
    pub name: Option<String>,
    pub description: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<String>,
    /// The organization the token is bound to; the owner's own when absent.
    pub organization_id: Option<i64>,
    /// `granular_scopes`: a fine-grained token's grants, instead of `scopes`.
    pub grants: Option<Vec<RequestedGrant>>,
    /// Allowlist rules (`METHODS PATH`), which only ever narrow what the token may do.
    pub route_rules: Option<Vec<String>>,
    /// The token making the request: a fine-grained one mints only what it holds itself.
    pub creator: Option<std::sync::Arc<Token>>,
}

/// What a client asks for when it rotates a token.
#[derive(Debug, Clone, Default)]
pub struct RotateToken {
    pub expires_at: Option<String>,
    /// The token making the request (the rotated one itself for `self/rotate`).
    pub creator: Option<std::sync::Arc<Token>>,
}

/// What a new token is, before it has a secret.
struct Unissued<'a> {
    name: &'a str,
    description: &'a str,
    scopes: Scopes,
    impersonation: bool,
    expires_at: Option<Date>,
    grants: Vec<Grant>,
    route_rules: Vec<String>,
}

/// A token just issued: its record and its plaintext, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: Token,
    pub plaintext: String,
}

/// Reads allowlist rules as a client wrote them: each normalised, duplicates dropped, at most
/// [`policy::MAX_RULES`].
pub fn route_rules(requested: &[String]) -> Result<Vec<String>> {
    if requested.len() > policy::MAX_RULES {
        return Err(Error::invalid("route_rules", format!("has too many entries (maximum is {})", policy::MAX_RULES)));
    }
    let mut rules = Vec::new();
    for text in requested {
        let rule = policy::normalize_rule(text).map_err(|e| Error::invalid("route_rules", e.to_string()))?;
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// Checks a requested expiry date against the instance's rules: not today or earlier, not beyond the maximum
/// lifetime; when none is given, the maximum lifetime if expiry is required, otherwise none.
pub fn expiry(
    requested: Option<&str>,
    today: Date,
    settings: &Settings,
    default_days: Option<i64>,
) -> Result<Option<Date>> {
    let max = today.add_days(settings.max_lifetime_days());
    let Some(text) = requested.map(str::trim).filter(|t| !t.is_empty()) else {
        if !settings.require_personal_access_token_expiry {
            return Ok(None);
        }
        let days = default_days.unwrap_or_else(|| settings.max_lifetime_days());
        return Ok(Some(today.add_days(days).min(max)));
    };
    let Some(date) = Date::parse(text) else {
        return Err(Error::BadRequest("expires_at is invalid".to_owned()));
    };
    if date <= today {
        return Err(Error::invalid("expires_at", "must be in the future"));
    }
    if date > max {
        return Err(Error::invalid("expires_at", format!("must be before {}", max.add_days(1))));
    }
    Ok(Some(date))
}

/// A token never mints a wider or longer-lived one (product invariant 2). Whoever it mints for, the new token is
/// of the creating token's organization (organizations are walls: a token mints nothing where it reaches
/// nothing). For the creating token's own user, the new token's scopes are within the creator's and it expires no
/// later: a date past the creator's is refused, and a default expiry is cut to it. An administrator minting for
/// another user keeps GitLab's rules for scopes and expiry. Returns the expiry to give the new token.
fn within_creator(
    creator: &Token,
    owner: &User,
    organization_id: i64,
    scopes: &Scopes,
    expires_at: Option<Date>,
    request: &CreateToken,
) -> Result<Option<Date>> {
    if organization_id != creator.organization_id {
        return Err(Error::refused("a token can only create tokens in its own organization"));
    }
    if creator.user_id != owner.id {
        return Ok(expires_at);
    }
    within_parent(creator, scopes, expires_at, request.expires_at.as_deref())
}

/// A token minted from `parent` holds none of `scopes` the parent's do not reach (a fine-grained parent's grants
/// are checked on their own) and expires no later than it: a date `asked` past the parent's is refused, a
/// default one is cut to it. Returns the expiry to give the new token.
pub(crate) fn within_parent(
    parent: &Token,
    scopes: &Scopes,
    expires_at: Option<Date>,
    asked: Option<&str>,
) -> Result<Option<Date>> {
    if !parent.scopes.is_granular() {
        let beyond = policy::scopes_beyond(&parent.scopes, scopes);
        if !beyond.is_empty() {
            let names: Vec<&str> = beyond.iter().map(|s| s.as_str()).collect();
            return Err(Error::refused(format!(
                "a token can only create tokens within its own scopes, and it does not hold {}",
                names.join(", ")
            )));
        }
    }
    expiry_within(parent, expires_at, asked)
}

/// A credential minted from `parent` expires no later than it: a date `asked` past the parent's is refused, a
/// default one (or none) is cut to it.
pub(crate) fn expiry_within(parent: &Token, expires_at: Option<Date>, asked: Option<&str>) -> Result<Option<Date>> {
    let explicit = asked.is_some_and(|t| !t.trim().is_empty());
    match parent.expires_at {
        None => Ok(expires_at),
        Some(cap) => cut_to(expires_at, cap, explicit, ", when the token making the request expires"),
    }
}

/// An expiry no later than `cap`: a date asked for `explicit`ly past it is refused (`why` says whose cap it is), a
/// default one, or none, is cut to it.
fn cut_to(expires_at: Option<Date>, cap: Date, explicit: bool, why: &str) -> Result<Option<Date>> {
    match expires_at {
        Some(wanted) if wanted > cap && explicit => {
            Err(Error::invalid("expires_at", format!("must be on or before {cap}{why}")))
        }
        Some(wanted) => Ok(Some(wanted.min(cap))),
        None => Ok(Some(cap)),
    }
}

impl Authority {
    /// Issues a personal (or, for administrators, impersonation) access token to `owner`.
    pub async fn create_token(
        &self,
        ctx: &AuditContext,
        owner: &User,
        request: &CreateToken,
        impersonation: bool,
    ) -> Result<IssuedToken> {
        let settings = self.facts.settings().await?;
        if impersonation && !settings.impersonation_enabled {
            return Err(Error::refused("Impersonation is disabled"));
        }
        if owner.user_type == UserType::ProjectBot {
            return Err(Error::refused("a project or group bot has only the access token it was made with"));
        }
        if request.creator.as_ref().is_some_and(|c| c.resource.is_some()) {
            return Err(Error::refused("a project or group access token cannot create tokens"));
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
            (Some(scopes), None) => {
                Scopes::parse_for(scopes, owner.is_admin).map_err(|e| Error::invalid("scopes", e))?
            }
            (None, Some(_)) => Scopes::granular(),
        };
        let kind = CredentialKind::of_user_token(impersonation, None).spec();
        if scopes.iter().any(|scope| !kind.may_hold(scope)) {
            return Err(Error::invalid("scopes", "can only contain available scopes"));
        }
        let legacy_closed =
            settings.disable_legacy_token_creation || crate::token_rules(&settings).refuses_legacy(self.now().date());
        if legacy_closed && !scopes.is_granular() {
            return Err(Error::refused(
                "legacy personal access tokens cannot be created here; create a fine-grained token",
            ));
        }
        if request.creator.as_ref().is_some_and(|c| c.scopes.is_granular()) && !scopes.is_granular() {
            return Err(Error::refused("a fine-grained token can only create fine-grained tokens"));
        }
        // The decision API's scope is for service accounts (and administrators), not for people's tokens.
        if scopes.contains(Scope::Authorize) && !owner.is_admin && owner.user_type != UserType::ServiceAccount {
            return Err(Error::invalid("scopes", "can only contain available scopes"));
        }
        // A token's organization is the one the request is made in (GitLab's `Current.organization`): the creating
        // token's, or the owner's own when no token asks.
        let organization_id = match (request.organization_id, request.creator.as_deref()) {
            (None, Some(creator)) => creator.organization_id,
            (None, None) => owner.organization_id,
            (Some(id), _) => self.existing_organization(id).await?,
        };
        let now = self.now();
        let mut expires_at = expiry(request.expires_at.as_deref(), now.date(), &settings, None)?;
        if let Some(creator) = request.creator.as_deref() {
            expires_at = within_creator(creator, owner, organization_id, &scopes, expires_at, request)?;
        }
        let grants = match &request.grants {
            Some(requested) => {
                let grants = crate::grants::read_grants(requested)?;
                let lifetime = (now.date(), expires_at);
                self.check_grants(owner, organization_id, &grants, request.creator.as_deref(), lifetime).await?;
                grants
            }
            None => Vec::new(),
        };
        let route_rules = route_rules(request.route_rules.as_deref().unwrap_or_default())?;
        if let Some(creator) = request.creator.as_ref().filter(|c| !c.route_rules.is_empty())
            && (route_rules.is_empty() || route_rules.iter().any(|r| !creator.route_rules.contains(r)))
        {
            return Err(Error::refused(
                "a token with route rules can only create tokens held to some of the same rules",
            ));
        }
        let new = Unissued {
            name: name.as_str(),
            description: &description,
            scopes,
            impersonation,
            expires_at,
            grants,
            route_rules,
        };
        let kind = CredentialKind::of_user_token(impersonation, None);
        let what = if impersonation { "impersonation" } else { "personal" };
        let audit = |id: i64| {
            let extra = [("token_name", name.as_str().to_owned()), ("target_user_id", owner.id.to_string())];
            let message = format!("Created {what} access token {id}");
            Some(self.audit_record(ctx, &format!("{kind}_created"), kind.spec().audit_entity, id, &message, &extra))
        };
        let issued = self.issue(owner, organization_id, new, &audit).await?;
        Ok(issued)
    }

    /// A new token's name and description as asked: checked, and refused when either holds a credential.
    pub(crate) async fn name_and_description(&self, request: &CreateToken) -> Result<(TokenName, String)> {
        let name = request.name.as_deref().ok_or_else(|| Error::BadRequest("name is missing".to_owned()))?;
        let name = TokenName::parse(name).map_err(|e| Error::invalid("name", e))?;
        let description = request.description.clone().unwrap_or_default();
        if description.chars().count() > 255 {
            return Err(Error::invalid("description", "is too long (maximum is 255 characters)"));
        }
        self.refuse_pasted_secrets(&[("name", Some(name.as_str())), ("description", Some(&description))]).await?;
        Ok((name, description))
    }

    /// The first token of a new organization, for the administrator who founds it: no token of another
    /// organization can mint there, so this is how an organization's first owner gets in. It carries the founding
    /// token's scopes and expiry, never more (its grants and route rules too), and is shown once.
    pub(crate) async fn founder_token(
        &self,
        ctx: &AuditContext,
        founder: &User,
        founding: &Token,
        organization: &domain::Organization,
    ) -> Result<IssuedToken> {
        if founding.scopes.is_granular() || founding.impersonation {
            return Err(Error::refused("an organization is founded with a legacy personal access token"));
        }
        let name = format!("{} founder", organization.path);
        let name = TokenName::parse(&name).map_err(|e| Error::invalid("path", e))?;
        let description = format!("First token of organization {}", organization.path);
        let new = Unissued {
            name: name.as_str(),
            description: &description,
            scopes: founding.scopes,
            impersonation: false,
            expires_at: founding.expires_at,
            grants: Vec::new(),
            route_rules: founding.route_rules.clone(),
        };
        let kind = CredentialKind::PersonalAccessToken;
        let audit = |id: i64| {
            let message = format!("Created personal access token {id} for organization {}", organization.path);
            let extra = [("token_name", name.as_str().to_owned()), ("target_user_id", founder.id.to_string())];
            Some(self.audit_record(ctx, &format!("{kind}_created"), kind.spec().audit_entity, id, &message, &extra))
        };
        self.issue(founder, organization.id, new, &audit).await
    }

    /// A new plaintext and its digest; the routable payload names the token's organization, as GitLab's does.
    /// A project's or group's token names its project or group, and its bot once the bot exists.
    pub(crate) fn mint(
        &self,
        organization_id: i64,
        user_id: Option<i64>,
        resource: Option<MemberSource>,
    ) -> Result<(String, String)> {
        self.mint_routable(&self.pat_prefix.mint, organization_id, user_id, resource)
    }

    /// A new routable plaintext of `prefix` and its digest: its payload names this cell, the organization, and
    /// the user and the project or group when there are ones; the presented-string cache forgets it was unknown.
    pub(crate) fn mint_routable(
        &self,
        prefix: &str,
        organization_id: i64,
        user_id: Option<i64>,
        resource: Option<MemberSource>,
    ) -> Result<(String, String)> {
        let random = crate::random_bytes::<{ tokens::RANDOM_BYTES }>()?;
        let id = |id: i64| u64::try_from(id).ok();
        let payload = RoutingPayload {
            cell: Some(self.cell_id),
            organization: id(organization_id),
            user: user_id.and_then(id),
            project: match resource {
                Some(MemberSource::Project(project)) => id(project),
                _ => None,
            },
            group: match resource {
                Some(MemberSource::Group(group)) => id(group),
                _ => None,
            },
            ..RoutingPayload::default()
        };
        let plaintext = tokens::mint(prefix, &random, &payload)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("token payload too large")))?;
        let digest = self.digester.digest(&plaintext);
        self.cache.issued(&plaintext);
        Ok((plaintext, digest))
    }

    /// Mints and stores a token, with the audit entry `audit` makes of its id in the same transaction.
    async fn issue(
        &self,
        owner: &User,
        organization_id: i64,
        new: Unissued<'_>,
        audit: &crate::AuditOf<'_>,
    ) -> Result<IssuedToken> {
        let (plaintext, digest) = self.mint(organization_id, Some(owner.id), None)?;
        let new = NewToken {
            user_id: owner.id,
            name: new.name.to_owned(),
            description: new.description.to_owned(),
            digest,
            scopes: new.scopes,
            impersonation: new.impersonation,
            expires_at: new.expires_at,
            previous_token_id: None,
            organization_id,
            grants: new.grants,
            route_rules: new.route_rules,
            resource: None,
            now: self.now(),
        };
        let token = self.store.insert_token(&new, audit).await?;
        Ok(IssuedToken { token, plaintext })
    }

    /// The first administrator's token, minted once the administrator's id is known: the only token made without
    /// a request. Returns the plaintext and the record to store.
    pub(crate) fn bootstrap_token(
        &self,
        random: &[u8; tokens::RANDOM_BYTES],
        user_id: i64,
        now: domain::Timestamp,
    ) -> Option<(String, NewToken)> {
        let payload = RoutingPayload {
            cell: Some(self.cell_id),
            organization: u64::try_from(domain::DEFAULT_ORGANIZATION_ID).ok(),
            user: u64::try_from(user_id).ok(),
            ..RoutingPayload::default()
        };
        let plaintext = tokens::mint(&self.pat_prefix.mint, random, &payload)?;
        let scopes = Scopes::parse(&["api", "admin_mode", "sudo"]).ok()?;
        let new = NewToken {
            user_id,
            name: "bootstrap administrator token".to_owned(),
            description: "Printed once when Tessera first started".to_owned(),
            digest: self.digester.digest(&plaintext),
            scopes,
            impersonation: false,
            expires_at: Some(now.date().add_days(Settings::DEFAULT_MAX_LIFETIME_DAYS)),
            previous_token_id: None,
            organization_id: domain::DEFAULT_ORGANIZATION_ID,
            grants: Vec::new(),
            route_rules: Vec::new(),
            resource: None,
            now,
        };
        Some((plaintext, new))
    }

    /// A token's row as it is now, with the uses recorded so far (never cached: the fact cache keeps a token's
    /// decision facts, not its row).
    pub async fn token(&self, id: i64) -> Result<Option<Token>> {
        self.usage.flush().await?;
        Ok(self.store.token(id).await?)
    }

    pub async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> Result<(Vec<Token>, i64)> {
        self.usage.flush().await?;
        Ok(self.store.list_tokens(filter, page).await?)
    }

    /// Revokes a token. The row is kept; revoking twice is a 400 as in GitLab... except for the same caller
    /// racing, where exactly one call wins.
    pub async fn revoke_token(&self, ctx: &AuditContext, token: &Token) -> Result<()> {
        let event = self.audit_record(
            ctx,
            &format!("{}_revoked", token.kind()),
            token.kind().spec().audit_entity,
            token.id,
            &format!("Revoked access token {}", token.id),
            &[("token_name", token.name.clone()), ("target_user_id", token.user_id.to_string())],
        );
        // A project's or group's token takes its bot's membership with it.
        let revoked = match token.resource {
            Some(_) => self.store.revoke_bot_token(token, self.now(), &event).await?,
            None => self.store.revoke_token(token.id, self.now(), Some(&event)).await?,
        };
        if !revoked {
            return Err(Error::BadRequest("Token already revoked".to_owned()));
        }
        Ok(())
    }

    /// Revokes a token from a credential inventory (`inventory` names it: "the instance", "group top"): recorded in
    /// the audit log against the token and against its owner, and the owner is told in their notifications.
    pub async fn revoke_from_inventory(&self, ctx: &AuditContext, token: &Token, inventory: &str) -> Result<()> {
        self.revoke_token(ctx, token).await?;
        let by = ctx.author_name.as_deref().unwrap_or("an administrator");
        let what = token.kind().name().replace('_', " ");
        let message = format!(
            "Your {what} \"{}\" (id {}) was revoked by {by} from the credential inventory of {inventory}.",
            token.name, token.id
        );
        let extra = [("token_id", token.id.to_string())];
        self.audit(ctx, "credential_revoked_from_inventory", "User", token.user_id, &message, &extra).await?;
        let notification = domain::Notification {
            id: 0,
            user_id: token.user_id,
            kind: format!("{}_revoked", token.kind()),
            message,
            created_at: self.now(),
        };
        Ok(self.store.insert_notification(&notification).await?)
    }

    /// The (assignable permission, boundary) pairs a token exercised, last used at or after `since`.
    pub async fn token_usage(
        &self,
        token_id: i64,
        since: Option<domain::Timestamp>,
    ) -> Result<Vec<domain::TokenUsage>> {
        self.usage.flush().await?;
        Ok(self.store.token_usage(token_id, since).await?)
    }

    /// A user's notifications, newest first.
    pub async fn notifications(&self, user_id: i64, page: Page) -> Result<(Vec<domain::Notification>, i64)> {
        Ok(self.store.list_notifications(user_id, page).await?)
    }

    /// Rotates a token: in one transaction the old one is revoked and a new one with the same name, description,
    /// scopes and organization is linked to it. The new expiry is the requested date, or one week.
    pub async fn rotate_token(&self, ctx: &AuditContext, token: &Token, request: &RotateToken) -> Result<IssuedToken> {
        let now = self.now();
        if !token.kind().spec().lifecycle.rotatable {
            return Err(Error::BadRequest(format!("{} cannot be rotated", token.kind())));
        }
        if !token.is_active(now) {
            return Err(Error::BadRequest("Token already revoked".to_owned()));
        }
        let owner = self.facts.user(token.user_id).await?.ok_or(Error::NotFound("User"))?;
        let settings = self.facts.settings().await?;
        let mut expires_at = match request.expires_at.as_deref() {
            Some(requested) => expiry(Some(requested), now.date(), &settings, None)?,
            None => Some(now.date().add_days(7).min(now.date().add_days(settings.max_lifetime_days()))),
        };
        // Rotation renews the secret, never the life: the new token expires no later than the one it replaces, nor
        // than the token asking when that is its user's own, and stays in an organization the asking token reaches.
        let creator = request.creator.as_deref();
        if creator.is_some_and(|c| c.organization_id != token.organization_id) {
            return Err(Error::refused("a token can only rotate tokens of its own organization"));
        }
        let own_creator = creator.filter(|c| c.user_id == token.user_id).and_then(|c| c.expires_at);
        let why = ": a rotated token expires no later than the one it replaces";
        for cap in [token.expires_at, own_creator].into_iter().flatten() {
            expires_at = cut_to(expires_at, cap, request.expires_at.is_some(), why)?;
        }
        let (plaintext, digest) = self.mint(token.organization_id, Some(owner.id), token.resource)?;
        let new = NewToken {
            user_id: token.user_id,
            name: token.name.clone(),
            description: token.description.clone(),
            digest,
            scopes: token.scopes,
            impersonation: token.impersonation,
            expires_at,
            previous_token_id: Some(token.id),
            organization_id: token.organization_id,
            grants: token.grants.clone(),
            route_rules: token.route_rules.clone(),
            resource: token.resource,
            now,
        };
        let audit = |id: i64| {
            let message = format!("Rotated access token {} into {id}", token.id);
            let extra = [("new_token_id", id.to_string()), ("target_user_id", token.user_id.to_string())];
            let entity = token.kind().spec().audit_entity;
            Some(self.audit_record(ctx, "personal_access_token_rotated", entity, token.id, &message, &extra))
        };
        let Some(rotated) = self.store.rotate_token(token.id, &new, &audit).await? else {
            return Err(Error::BadRequest("Token already revoked".to_owned()));
        };
        Ok(IssuedToken { token: rotated, plaintext })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::parse("2026-11-22").unwrap()
    }

    #[test]
    fn no_expiry_given_means_the_maximum_lifetime() {
        let got = expiry(None, today(), &Settings::default(), None).unwrap();
        assert_eq!(got, Some(today().add_days(365)));
    }

    #[test]
    fn no_expiry_is_kept_when_expiry_is_not_required() {
        let settings = Settings { require_personal_access_token_expiry: false, ..Settings::default() };
        assert_eq!(expiry(None, today(), &settings, None).unwrap(), None);
    }

    #[test]
    fn a_date_in_the_past_or_today_is_refused() {
        assert!(expiry(Some("2026-11-22"), today(), &Settings::default(), None).is_err());
        assert!(expiry(Some("2020-01-01"), today(), &Settings::default(), None).is_err());
        assert!(expiry(Some("2026-11-23"), today(), &Settings::default(), None).is_ok());
    }

    #[test]
    fn a_date_beyond_the_maximum_lifetime_is_refused() {
        let settings = Settings { max_personal_access_token_lifetime: Some(30), ..Settings::default() };
        assert!(expiry(Some("2026-12-22"), today(), &settings, None).is_ok());
        assert!(expiry(Some("2026-12-23"), today(), &settings, None).is_err());
    }

    #[test]
    fn a_malformed_date_is_a_bad_request() {
        assert!(matches!(expiry(Some("tomorrow"), today(), &Settings::default(), None), Err(Error::BadRequest(_))));
    }
}
