//! A user's feed token and incoming-email token: one of each, made or replaced by a reset (the old one is refused
//! at once), shown once, removed on request; and the lookup of an incoming e-mail address to its user.
//!
//! **Invariant:** a plaintext exists only in the answer that made it; a token never outlives the instance's
//! maximum lifetime nor the token that asked for it, and a bot has neither kind.

use std::sync::Arc;

use domain::{CredentialKind, Token, User, UserSecret, UserType};

use crate::{AuditContext, Authority, Error, NewUserSecret, Result};

/// Alphabets of the two kinds' bodies, as GitLab's.
const FEED_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const MAIL_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// A token just made: its record and its plaintext, shown once.
#[derive(Debug)]
pub struct IssuedUserSecret {
    pub secret: UserSecret,
    pub plaintext: String,
}

impl Authority {
    /// Makes `user`'s token of `kind` anew (replacing the one they had), asked for with the token `creator`.
    pub async fn reset_user_secret(
        &self,
        ctx: &AuditContext,
        user: &User,
        kind: CredentialKind,
        creator: Option<&Token>,
    ) -> Result<IssuedUserSecret> {
        let (len, _) = UserSecret::body_of(kind).ok_or(Error::NotFound("Token"))?;
        if user.user_type == UserType::ProjectBot {
            return Err(Error::refused("a project or group bot has only the access token it was made with"));
        }
        if creator.is_some_and(|c| c.resource.is_some()) {
            return Err(Error::refused("a project or group access token cannot create tokens"));
        }
        let settings = self.facts.settings().await?;
        let now = self.now();
        let mut expires_at = crate::tokens::expiry(None, now.date(), &settings, None)?;
        if let Some(parent) = creator {
            expires_at = crate::tokens::expiry_within(parent, expires_at, None)?;
        }
        let alphabet = if kind == CredentialKind::FeedToken { FEED_ALPHABET } else { MAIL_ALPHABET };
        // 32 random bytes give each character without bias: 256 is a multiple of 64, and rejection keeps 36.
        let mut body = String::with_capacity(len);
        while body.len() < len {
            for byte in crate::random_bytes::<32>()? {
                let limit = 256 - 256 % alphabet.len();
                if usize::from(byte) < limit && body.len() < len {
                    body.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
                }
            }
        }
        let plaintext = format!("{}{body}", kind.spec().prefix);
        self.cache.issued(&plaintext);
        let new = NewUserSecret { user_id: user.id, kind, digest: self.digester.digest(&plaintext), expires_at, now };
        let audit = |id: i64| {
            let message = format!("Reset the {} of user {}", kind.name().replace('_', " "), user.username);
            let extra = [("token_id", id.to_string())];
            Some(self.audit_record(ctx, &format!("{kind}_reset"), kind.spec().audit_entity, user.id, &message, &extra))
        };
        let secret = self.store.reset_user_secret(&new, &audit).await?;
        Ok(IssuedUserSecret { secret, plaintext })
    }

    /// The user's token of `kind`, if they have one.
    pub async fn user_secret_of(&self, user: &User, kind: CredentialKind) -> Result<Option<UserSecret>> {
        Ok(self.store.user_secret_of(user.id, kind).await?)
    }

    /// Removes a feed or incoming-email token: it is refused from the next request on, on every node.
    pub async fn delete_user_secret(&self, ctx: &AuditContext, secret: &UserSecret) -> Result<()> {
        let kind = secret.kind;
        let message = format!("Removed the {} of user {}", kind.name().replace('_', " "), secret.user_id);
        let extra = [("token_id", secret.id.to_string())];
        let event = self.audit_record(
            ctx,
            &format!("{kind}_revoked"),
            kind.spec().audit_entity,
            secret.user_id,
            &message,
            &extra,
        );
        if !self.store.delete_user_secret(secret.id, &event).await? {
            return Err(Error::NotFound("Token"));
        }
        Ok(())
    }

    /// The user an incoming e-mail address names by its incoming-email token; `None` when it names none (the same
    /// answer for an address without a token, an unknown token, an expired one or a blocked user).
    pub async fn incoming_email_user(&self, address: &str) -> Result<Option<Arc<User>>> {
        let Some(token) = domain::incoming_email_token(address) else { return Ok(None) };
        let found = self.authenticate_user_secret(token, CredentialKind::IncomingEmailToken, None, None).await?;
        Ok(found.ok().map(|(_, user)| user))
    }
}
