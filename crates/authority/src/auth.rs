//! Authentication of a presented personal access token.
//!
//! Every failure looks the same to the caller (`AuthFailure` is rendered as one 401); the precise reason
//! goes to the audit log (known tokens) or the process log (strings that are not tokens at all).
//!
//! **Invariant:** every failure is the same `AuthFailure` to the caller, whatever the reason; a token is read by
//! digest only after its format and checksum pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::{
    Channel, CredentialKind, DeployToken, PipelineTrigger, SecretHome, Timestamp, TokenFacts, TokenState, User,
    UserSecret, secret_home,
};

use crate::audit::Write;
use crate::principal::{AuthFailure, Authenticated};
use crate::{AuditContext, Authority, Result};

/// `last_used_at` is written at most this often, as in GitLab.
const LAST_USED_INTERVAL_MS: i64 = 10 * 60 * 1000;
/// A new client address is recorded at most this often.
const LAST_USED_IPS_INTERVAL_MS: i64 = 60 * 1000;
const LAST_USED_IPS_KEPT: usize = 5;
/// Unknown-token attempts written to the audit log per second at most; the rest are counted in the process log.
const UNKNOWN_AUDITS_PER_SECOND: u64 = 10;

/// A per-second budget of audit rows for unknown tokens.
#[derive(Default)]
pub(crate) struct AuditBudget {
    /// The current second (high 32 bits) and the attempts seen in it (low 32 bits).
    window: AtomicU64,
}

/// The second `now` falls in, as [`AuditBudget`]'s window keeps it (its high 32 bits).
fn window_second(now: Timestamp) -> u64 {
    u64::try_from(now.millis() / 1000).unwrap_or(0) & 0xffff_ffff
}

impl AuditBudget {
    /// Counts an attempt at `now` that is not to be audited, when this second's budget is spent already (a
    /// flood): `true` then. Otherwise changes nothing and answers `false`, so that [`AuditBudget::allow`]
    /// counts the attempt and starts a new second when one has begun.
    pub(crate) fn take_unaudited(&self, now: Timestamp) -> bool {
        let second = window_second(now);
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (seen_second, count) = (current >> 32, current & 0xffff_ffff);
            if seen_second != second || count < UNKNOWN_AUDITS_PER_SECOND {
                return false;
            }
            let next = (second << 32) | (count + 1).min(0xffff_ffff);
            match self.window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    pub(crate) fn allow(&self, now: Timestamp) -> bool {
        let second = window_second(now);
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (seen_second, count) = (current >> 32, current & 0xffff_ffff);
            let next =
                if seen_second == second { (second << 32) | (count + 1).min(0xffff_ffff) } else { second << 32 | 1 };
            match self.window.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    if seen_second != second && count > UNKNOWN_AUDITS_PER_SECOND {
                        tracing::warn!(
                            attempts = count,
                            audited = UNKNOWN_AUDITS_PER_SECOND,
                            "unknown tokens presented in one second; only the first ones were audited"
                        );
                    }
                    return (next & 0xffff_ffff) <= UNKNOWN_AUDITS_PER_SECOND;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl Authority {
    /// Counts an attempt with a string of no token of `entity`'s kind, presented from `ip` at `now`, and answers
    /// the audit entry to write when it is one of this second's few audited ones: the checksum is public, so
    /// unknown tokens are cheap to make. Most of a flood is only counted, and has nothing to wait for.
    ///
    /// The write is boxed, as every audit's is (see [`Write`]): a flood's refusals allocate nothing.
    pub(crate) fn audit_unknown(&self, entity: &str, ip: Option<&str>, now: Timestamp) -> Option<Write<'_>> {
        if !self.unknown_audit.allow(now) {
            return None;
        }
        let ctx = AuditContext { ip_address: ip.map(str::to_owned), ..AuditContext::default() };
        Some(self.audit(&ctx, "authentication_failed", entity, 0, "unknown token", &[]))
    }

    /// The channel a string is presented through when none is named (the decision API's default): the usual
    /// one of the kind its prefix names, or `PRIVATE-TOKEN` for a string no kind claims.
    pub fn usual_channel(&self, presented: &str) -> Channel {
        let kind = match secret_home(presented, &self.pat_prefix.accepted) {
            Some(SecretHome::TokenDigest) | None => CredentialKind::PersonalAccessToken,
            Some(_) => domain::kind_by_prefix(presented).unwrap_or(CredentialKind::PersonalAccessToken),
        };
        kind.spec().usual_channel()
    }

    /// Authenticates a deploy token presented through `channel` (with the Basic `username`, which must be the
    /// token's own). Every failure is the same `AuthFailure` to the caller.
    pub async fn authenticate_deploy(
        &self,
        presented: &str,
        channel: Channel,
        username: Option<&str>,
        ip: Option<&str>,
    ) -> Result<std::result::Result<Arc<DeployToken>, AuthFailure>> {
        let kind = CredentialKind::DeployToken.spec();
        let malformed = |e: ::tokens::FormatError| {
            tracing::info!(reason = %e, ip = ip.unwrap_or("-"), "authentication failed: not a deploy token");
            Ok(Err(AuthFailure::Malformed))
        };
        // Bounded before it is hashed.
        if presented.len() > ::tokens::MAX_TOKEN_LEN {
            return malformed(::tokens::FormatError::TooLong);
        }
        let key = self.cache.presented_key(presented);
        // As for a user token: a string the cache knows passed its format check when it was remembered.
        let token = match self.cache.presented(key) {
            Some(Some(id)) => self.facts.deploy_token(id).await?,
            Some(None) => None,
            None => {
                if let Err(e) = ::tokens::check(presented, &::tokens::Prefix::new(kind.prefix, None, kind.prefix)) {
                    return malformed(e);
                }
                let generation = self.cache.generation();
                let token = self.facts.deploy_token_by_digest(&self.digester.candidates(presented)).await?;
                self.cache.remember_presented(generation, key, token.as_ref().map(|t| t.id));
                token
            }
        };
        let now = self.now();
        let Some(token) = token else {
            if let Some(audit) = self.audit_unknown(kind.audit_entity, ip, now) {
                audit.await?;
            }
            return Ok(Err(AuthFailure::Unknown));
        };
        // GitLab's rule for Git and registry clients: a Basic username must be the deploy token's own.
        let failure = match token.state(now) {
            _ if !kind.admits(channel) => Some(AuthFailure::WrongChannel),
            _ if channel == Channel::Basic && username != Some(token.username.as_str()) => {
                Some(AuthFailure::WrongUsername)
            }
            TokenState::Expired => Some(AuthFailure::Expired),
            TokenState::Revoked => Some(AuthFailure::Revoked),
            TokenState::Active => None,
        };
        if let Some(failure) = failure {
            let ctx = AuditContext { ip_address: ip.map(str::to_owned), ..AuditContext::default() };
            self.audit(&ctx, "authentication_failed", kind.audit_entity, token.id, failure.reason(), &[]).await?;
            return Ok(Err(failure));
        }
        // Its last use and addresses, as a user token's.
        if let Some(ips) = next_use(token.last_used_at, &token.last_used_ips, ip, now) {
            self.store.touch_deploy_token(token.id, now, &ips).await?;
            self.facts.note_deploy_use(token.id, now, ips);
        }
        Ok(Ok(token))
    }

    /// Authenticates a pipeline trigger token presented through `channel`: the trigger and its owner, who must be
    /// active (the decision then asks the owner's current role). Every failure is the same `AuthFailure`.
    pub async fn authenticate_trigger(
        &self,
        presented: &str,
        channel: Channel,
        ip: Option<&str>,
    ) -> Result<std::result::Result<(Arc<PipelineTrigger>, Arc<domain::User>), AuthFailure>> {
        let kind = CredentialKind::PipelineTriggerToken.spec();
        if !PipelineTrigger::is_token_shape(presented) {
            tracing::info!(ip = ip.unwrap_or("-"), "authentication failed: not a trigger token");
            return Ok(Err(AuthFailure::Malformed));
        }
        let key = self.cache.presented_key(presented);
        let trigger = match self.cache.presented(key) {
            Some(Some(id)) => self.facts.trigger(id).await?,
            Some(None) => None,
            None => {
                let generation = self.cache.generation();
                let trigger = self.facts.trigger_by_digest(&self.digester.candidates(presented)).await?;
                self.cache.remember_presented(generation, key, trigger.as_ref().map(|t| t.id));
                trigger
            }
        };
        let now = self.now();
        // Made only for a failure: a cached success allocates nothing here.
        let ctx = || AuditContext { ip_address: ip.map(str::to_owned), ..AuditContext::default() };
        let Some(trigger) = trigger else {
            if let Some(audit) = self.audit_unknown(kind.audit_entity, ip, now) {
                audit.await?;
            }
            return Ok(Err(AuthFailure::Unknown));
        };
        let owner = self.facts.user(trigger.owner_id).await?;
        let failure = match &owner {
            _ if !kind.admits(channel) => Some(AuthFailure::WrongChannel),
            _ if trigger.is_expired(now) => Some(AuthFailure::Expired),
            Some(owner) if !owner.is_active() => Some(AuthFailure::BlockedUser),
            Some(_) => None,
            None => Some(AuthFailure::Unknown),
        };
        match (failure, owner) {
            (None, Some(owner)) => Ok(Ok((trigger, owner))),
            (failure, _) => {
                let reason = failure.unwrap_or(AuthFailure::Unknown).reason();
                self.audit(&ctx(), "authentication_failed", kind.audit_entity, trigger.id, reason, &[]).await?;
                Ok(Err(failure.unwrap_or(AuthFailure::Unknown)))
            }
        }
    }

    /// Authenticates a user's feed or incoming-email token of `kind` presented through `channel` (`None`: inside an
    /// incoming e-mail address): the token and its user, who must be active. Every failure is the same
    /// `AuthFailure`.
    pub async fn authenticate_user_secret(
        &self,
        presented: &str,
        kind: CredentialKind,
        channel: Option<Channel>,
        ip: Option<&str>,
    ) -> Result<std::result::Result<(Arc<UserSecret>, Arc<domain::User>), AuthFailure>> {
        let spec = kind.spec();
        if !UserSecret::is_shape(kind, presented) {
            tracing::info!(ip = ip.unwrap_or("-"), "authentication failed: not a {kind}");
            return Ok(Err(AuthFailure::Malformed));
        }
        let key = self.cache.presented_key(presented);
        let secret = match self.cache.presented(key) {
            Some(Some(id)) => self.facts.user_secret(id).await?,
            Some(None) => None,
            None => {
                let generation = self.cache.generation();
                let secret = self.facts.user_secret_by_digest(&self.digester.candidates(presented)).await?;
                self.cache.remember_presented(generation, key, secret.as_ref().map(|s| s.id));
                secret
            }
        };
        let now = self.now();
        // Made only for a failure: a cached success allocates nothing here.
        let ctx = || AuditContext { ip_address: ip.map(str::to_owned), ..AuditContext::default() };
        let Some(secret) = secret.filter(|s| s.kind == kind) else {
            if let Some(audit) = self.audit_unknown(spec.audit_entity, ip, now) {
                audit.await?;
            }
            return Ok(Err(AuthFailure::Unknown));
        };
        let user = self.facts.user(secret.user_id).await?;
        let failure = match &user {
            _ if channel.is_some_and(|c| !spec.admits(c)) => Some(AuthFailure::WrongChannel),
            _ if secret.is_expired(now) => Some(AuthFailure::Expired),
            Some(user) if !user.is_active() => Some(AuthFailure::BlockedUser),
            Some(_) => None,
            None => Some(AuthFailure::Unknown),
        };
        match (failure, user) {
            (None, Some(user)) => {
                if let Some(ips) = next_use(secret.last_used_at, &secret.last_used_ips, ip, now) {
                    self.store.touch_user_secret(secret.id, now, &ips).await?;
                    self.facts.note_secret_use(secret.id, now, ips);
                }
                Ok(Ok((secret, user)))
            }
            (failure, _) => {
                let failure = failure.unwrap_or(AuthFailure::Unknown);
                let ctx = AuditContext { author_id: Some(secret.user_id), ..ctx() };
                self.audit(&ctx, "authentication_failed", spec.audit_entity, secret.user_id, failure.reason(), &[])
                    .await?;
                Ok(Err(failure))
            }
        }
    }

    /// Authenticates a token presented through `channel`. `rotate_path` is true when the request is a rotation
    /// (`…/personal_access_tokens/(\d+|self)/rotate`): a revoked token there revokes its whole family.
    pub async fn authenticate(
        &self,
        presented: &str,
        channel: Channel,
        ip: Option<&str>,
        rotate_path: bool,
    ) -> Result<std::result::Result<Authenticated, AuthFailure>> {
        self.authenticate_keyed(presented, None, channel, ip, rotate_path).await
    }

    /// As [`Authority::authenticate`], with the string's keyed hash when the caller made it already (`key`).
    pub(crate) async fn authenticate_keyed(
        &self,
        presented: &str,
        key: Option<u128>,
        channel: Channel,
        ip: Option<&str>,
        rotate_path: bool,
    ) -> Result<std::result::Result<Authenticated, AuthFailure>> {
        let malformed = |e: ::tokens::FormatError| {
            tracing::info!(reason = %e, ip = ip.unwrap_or("-"), "authentication failed: not a token");
            Ok(Err(AuthFailure::Malformed))
        };
        // Bounded before it is hashed.
        if presented.len() > ::tokens::MAX_TOKEN_LEN {
            return malformed(::tokens::FormatError::TooLong);
        }
        let now = self.now();
        let key = key.unwrap_or_else(|| self.cache.presented_key(presented));
        // A string is remembered only once its prefix and checksum passed (below), and the key is a keyed hash of
        // the whole string: a string the cache knows needs no second look at its format.
        let token = match self.cache.presented(key) {
            Some(Some(id)) => self.facts.token(&self.catalog, id).await?,
            Some(None) => None,
            None => {
                if let Err(e) = ::tokens::check(presented, &self.pat_prefix) {
                    return malformed(e);
                }
                let generation = self.cache.generation();
                let digests = self.digester.candidates(presented);
                let token = self.facts.token_by_digest(&self.catalog, &digests).await?;
                self.cache.remember_presented(generation, key, token.as_ref().map(|t| t.id));
                token
            }
        };
        let Some(mut token) = token else {
            if let Some(audit) = self.audit_unknown(CredentialKind::PersonalAccessToken.spec().audit_entity, ip, now) {
                audit.await?;
            }
            return Ok(Err(AuthFailure::Unknown));
        };
        let failure = match token.state(now) {
            _ if !token.kind().spec().admits(channel) => Some(AuthFailure::WrongChannel),
            TokenState::Expired => Some(AuthFailure::Expired),
            TokenState::Revoked => Some(AuthFailure::Revoked),
            TokenState::Active => None,
        };
        let failure = match failure {
            Some(f) => Some(f),
            None if token.impersonation && !self.facts.settings().await?.impersonation_enabled => {
                Some(AuthFailure::ImpersonationDisabled)
            }
            None => None,
        };
        let user = self.facts.user(token.user_id).await?;
        let failure = match (failure, &user) {
            (Some(f), _) => Some(f),
            (None, Some(user)) if !user.is_active() => Some(AuthFailure::BlockedUser),
            (None, None) => Some(AuthFailure::Unknown),
            (None, Some(_)) => None,
        };
        if let Some(failure) = failure {
            self.token_refused(&token, user.as_deref(), failure, ip, rotate_path, now).await?;
            return Ok(Err(failure));
        }
        let Some(user) = user else { return Ok(Err(AuthFailure::Unknown)) };
        // Its last use and address, at most every 10 minutes (a new address: every minute).
        if token_use_due(&token, ip, now) {
            self.record_use(token.id, ip, now).await?;
            token = token.used(now, ip);
        }
        Ok(Ok(Authenticated { user, token, at: now }))
    }

    /// What a known token's refused authentication writes: its audit entry and, for a revoked token reused on a
    /// rotation path, its family's revocation. Boxed (see [`Write`]): made only for a failure, so that a cached
    /// success allocates nothing and its future holds none of it.
    fn token_refused<'a>(
        &'a self,
        token: &'a TokenFacts,
        user: Option<&User>,
        failure: AuthFailure,
        ip: Option<&str>,
        rotate_path: bool,
        now: Timestamp,
    ) -> Write<'a> {
        let ctx = AuditContext {
            author_id: Some(token.user_id),
            author_name: user.map(|u| u.username.clone()),
            ip_address: ip.map(str::to_owned),
        };
        let entity = token.kind().spec().audit_entity;
        let audit = self.audit(&ctx, "authentication_failed", entity, token.id, failure.reason(), &[]);
        let reused = failure == AuthFailure::Revoked && rotate_path && token.kind().spec().lifecycle.family_revocation;
        Box::pin(async move {
            audit.await?;
            if reused {
                let revoked = self.store.revoke_family(token.id, now).await?;
                let ids = revoked.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                let message = "revoked token reused on a rotation path: its family was revoked";
                let event = "personal_access_token_family_revoked";
                self.audit(&ctx, event, entity, token.id, message, &[("revoked_token_ids", ids)]).await?;
            }
            Ok(())
        })
    }

    /// Records a token's use (`last_used_at`, the client address). Boxed (see [`Write`]): it is due once in
    /// minutes per token and allocates anyway (its pending entry and addresses), and held inline it would make
    /// every authentication's future a few hundred bytes larger.
    fn record_use<'a>(&'a self, id: i64, ip: Option<&'a str>, now: Timestamp) -> Write<'a> {
        Box::pin(async move { Ok(self.usage.record_use(id, now, ip).await?) })
    }
}

/// Whether a use of `token` from `ip` at `now` is to be written (see [`use_due`]).
pub(crate) fn token_use_due(token: &TokenFacts, ip: Option<&str>, now: Timestamp) -> bool {
    let new_address = || ip.is_some_and(|ip| domain::address_digest(ip) != token.last_address);
    use_due(token.last_used_at(), new_address, now)
}

/// Whether a use is to be written: the last one is older than 10 minutes, or it comes from a new address
/// (`new_address`, asked only then) and the last one is older than a minute.
fn use_due(last: Option<Timestamp>, new_address: impl FnOnce() -> bool, now: Timestamp) -> bool {
    let since = last.map(|at| now.millis() - at.millis());
    let stale = since.is_none_or(|ms| ms >= LAST_USED_INTERVAL_MS);
    let address_due = since.is_none_or(|ms| ms >= LAST_USED_IPS_INTERVAL_MS);
    stale || address_due && new_address()
}

/// The client addresses to keep after a use from `ip`: newest first, each once, at most five.
pub(crate) fn merged_ips(ips: &[String], ip: Option<&str>) -> Vec<String> {
    let mut out = ips.to_vec();
    if let Some(ip) = ip {
        out.retain(|known| known != ip);
        out.insert(0, ip.to_owned());
        out.truncate(LAST_USED_IPS_KEPT);
    }
    out
}

/// When a use is to be written (see [`use_due`]), the addresses to write, newest first; `None` when nothing is
/// due.
pub(crate) fn next_use(
    last: Option<Timestamp>,
    ips: &[String],
    ip: Option<&str>,
    now: Timestamp,
) -> Option<Vec<String>> {
    let new_address = || ip.is_some_and(|ip| ips.first().map(String::as_str) != Some(ip));
    use_due(last, new_address, now).then(|| merged_ips(ips, ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_token_audits_are_capped_per_second() {
        let budget = AuditBudget::default();
        let second = Timestamp::from_millis(5_000);
        let allowed = (0..50).filter(|_| budget.allow(second)).count();
        assert_eq!(allowed, UNKNOWN_AUDITS_PER_SECOND as usize);
        assert!(budget.allow(Timestamp::from_millis(6_000)), "a new second has a new budget");
    }

    #[test]
    fn an_attempt_is_taken_unaudited_only_once_its_seconds_budget_is_spent_and_counts_as_allow_counts_it() {
        let budget = AuditBudget::default();
        let second = Timestamp::from_millis(5_000);
        for _ in 0..UNKNOWN_AUDITS_PER_SECOND {
            assert!(!budget.take_unaudited(second), "within the budget, an attempt is left to be audited");
            assert!(budget.allow(second));
        }
        assert!(budget.take_unaudited(second));
        assert!(budget.take_unaudited(Timestamp::from_millis(5_999)));
        assert!(!budget.allow(second), "the attempts taken unaudited were counted");
        assert!(!budget.take_unaudited(Timestamp::from_millis(6_000)), "a new second is begun by `allow` alone");
        assert!(budget.allow(Timestamp::from_millis(6_000)));
        assert_eq!(budget.window.load(Ordering::Relaxed) & 0xffff_ffff, 1);
    }
}
