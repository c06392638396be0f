//! A decision's facts read in one round trip when reads wait on a database server: the chain of reads a miss
//! makes (the token or the CI job, then its user and levels; the project, then its top-level group) is one
//! statement of the store's (see [`crate::DecisionStore`]), whose answers are kept in the fact cache as each read
//! would have kept them; the decision then reads them there, as it reads anything cached.
//!
//! **Invariant:** this only fills the cache, through the same generation protocol as every read; what the
//! decision decides is read from the cache afterwards, never from here. A job is asked about only by the claims
//! of a token whose signature was checked.

use catalog::RouteMatch;
use domain::{CredentialKind, SecretHome, secret_home};

use super::Request;
use super::resolve::resource_key;
use crate::{Asked, Authority, Result, TokenKey};

/// What reading at once learnt of the presented credential before it is authenticated.
#[derive(Clone, Copy, Default)]
pub(super) struct Prepared {
    /// A user token's key (the keyed hash of its string), when it was made.
    pub(super) key: Option<u128>,
    /// A job token whose signature or claims were refused (and logged) here: it is refused without being
    /// checked again.
    pub(super) job_refused: bool,
}

impl Authority {
    /// When reads wait on a database server: the facts the decision is about to read, read in one round trip and
    /// kept (see [`crate::DecisionStore`]) when some of them are not cached (the user token or the CI job, or the
    /// group or project the route names), so that the reads that follow find them rather than go to the server in
    /// a chain of three. `key`: a user token's key, when it was made already.
    pub(super) async fn read_at_once(
        &self,
        request: &Request<'_>,
        found: &RouteMatch<'_, '_>,
        key: Option<u128>,
    ) -> Result<Prepared> {
        if let Some(presented) = self.job_token(request) {
            return self.read_job_at_once(presented, request.ip, found).await;
        }
        let Some(presented) = self.user_token(request) else { return Ok(Prepared { key, job_refused: false }) };
        let key = key.unwrap_or_else(|| self.cache.presented_key(presented.secret));
        let prepared = Prepared { key: Some(key), job_refused: false };
        let resource = resource_key(found);
        let digests;
        let token = match self.cache.presented(key) {
            // A string known to be no token: refused without reading anything.
            Some(None) => return Ok(prepared),
            Some(Some(id)) if self.facts.holds(id, resource) => return Ok(prepared),
            Some(Some(id)) => TokenKey::Id(id),
            // Asked by digest only once its format is checked, as authenticating it does.
            None if ::tokens::check(presented.secret, &self.pat_prefix).is_err() => return Ok(prepared),
            None => {
                digests = self.digester.candidates(presented.secret);
                TokenKey::Digests(&digests)
            }
        };
        let asked = Asked { token: Some(token), resource, today: self.now().date() };
        self.facts.read_at_once(&self.catalog, &asked, key).await?;
        Ok(prepared)
    }

    /// A CI job token presented through a channel of its kind, when the fact cache is enabled.
    fn job_token<'r>(&self, request: &Request<'r>) -> Option<&'r str> {
        let presented = request.credential?;
        let checked = request.ssh_key.is_none()
            && self.cache.is_enabled()
            && secret_home(presented.secret, &self.pat_prefix.accepted) == Some(SecretHome::SignedJwt)
            && CredentialKind::CiJobToken.spec().admits(presented.channel);
        checked.then_some(presented.secret)
    }

    /// A job token's facts: its signature and claims checked first (as authenticating it would, and kept), then
    /// its job, the job's project and user, the resource and the user's levels there read in one round trip when
    /// the job or the resource is not cached. A new job's first request is the usual miss.
    async fn read_job_at_once(
        &self,
        presented: &str,
        ip: Option<&str>,
        found: &RouteMatch<'_, '_>,
    ) -> Result<Prepared> {
        let Some(verified) = self.verified_job(presented, ip).await? else {
            return Ok(Prepared { key: None, job_refused: true });
        };
        let resource = resource_key(found);
        let Some(job_id) = verified.claims.job_id() else { return Ok(Prepared::default()) };
        if self.facts.holds_job(job_id) && self.facts.holds_resource(resource) {
            return Ok(Prepared::default());
        }
        let asked = Asked { token: Some(TokenKey::Job(job_id)), resource, today: self.now().date() };
        // `presented` is the key of a user token asked by digest alone: none here.
        self.facts.read_at_once(&self.catalog, &asked, 0).await?;
        Ok(Prepared::default())
    }
}
