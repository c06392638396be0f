//! A decision's facts read in one round trip when reads wait on a database server: the chain of reads a miss
//! makes (the token, then its user and levels; the project, then its top-level group) is one statement of the
//! store's (see [`crate::DecisionStore`]), whose answers are kept in the fact cache as each read would have kept
//! them; the decision then reads them there, as it reads anything cached.
//!
//! **Invariant:** this only fills the cache, through the same generation protocol as every read; what the
//! decision decides is read from the cache afterwards, never from here.

use catalog::RouteMatch;

use super::Request;
use super::resolve::resource_key;
use crate::{Asked, Authority, Result, TokenKey};

impl Authority {
    /// When reads wait on a database server and a user token is presented: the facts the decision is about to
    /// read, read in one round trip and kept (see [`crate::DecisionStore`]) when some of them are not cached (the
    /// token, or the group or project the route names), so that the reads that follow find them rather than go
    /// to the server in a chain of three. Answers the presented token's key, made here if it was not before.
    pub(super) async fn read_at_once(
        &self,
        request: &Request<'_>,
        found: &RouteMatch<'_, '_>,
        key: Option<u128>,
    ) -> Result<Option<u128>> {
        let Some(presented) = self.user_token(request) else { return Ok(key) };
        let key = key.unwrap_or_else(|| self.cache.presented_key(presented.secret));
        let resource = resource_key(found);
        let digests;
        let token = match self.cache.presented(key) {
            // A string known to be no token: refused without reading anything.
            Some(None) => return Ok(Some(key)),
            Some(Some(id)) if self.facts.holds(id, resource) => return Ok(Some(key)),
            Some(Some(id)) => TokenKey::Id(id),
            // Asked by digest only once its format is checked, as authenticating it does.
            None if ::tokens::check(presented.secret, &self.pat_prefix).is_err() => return Ok(Some(key)),
            None => {
                digests = self.digester.candidates(presented.secret);
                TokenKey::Digests(&digests)
            }
        };
        let asked = Asked { token: Some(token), resource, today: self.now().date() };
        self.facts.read_at_once(&self.catalog, &asked, key).await?;
        Ok(Some(key))
    }
}
