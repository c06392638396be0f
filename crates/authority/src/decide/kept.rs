//! Each thread's allowed decisions of user tokens, kept so that the same request asked again (a gateway asks
//! about the same token and path all day) is answered without deciding it again while nothing it read has
//! changed.
//!
//! **Invariant:** a kept decision is served only
//! - at the fact cache's generation read before its first fact was (every change of a fact, every fill that
//!   replaces one, and every stop or start of the cache moves it: see [`crate::facts`]), with the cache enabled;
//! - on the UTC day it was made (every time a user token's decision reads is a day: expiry at 00:00 UTC, the
//!   lifetime rules, membership expiry);
//! - for the same token string (by its keyed hash), channel, client address and served flag, the very reading of
//!   the target it was made for, and no `Sudo`;
//! - when the token's use is not due to be written (then the whole decision runs and writes it).
//!
//! What it read is then what reading again would give, so it is the decision made again. What a served request
//! does besides deciding (noting the permissions it exercised) is done for each one. Only allowed decisions of a
//! user token alone are kept: a refusal is decided, and audited, every time.

use std::sync::Arc;

use domain::{Channel, Date};
use policy::{Layer, Reason};
use quick_cache::Equivalent;

use super::Request;
use super::outcome::{Accepted, OnRoute, Outcome, Resolved};
use super::reading::Reading;
use crate::near::{Near, NearKey, fold};
use crate::{Authenticated, Authority};

/// An allowed decision of a user token, as it was made.
#[derive(Clone)]
pub(crate) struct Decided {
    /// The token and its user, as they were authenticated (the time is each request's own).
    pub(crate) principal: Authenticated,
    pub(crate) resource: Resolved,
    pub(crate) admin: bool,
    pub(crate) layer: Layer,
    pub(crate) reason: Reason,
    /// The UTC day it was made on.
    pub(crate) day: Date,
}

/// What a kept decision was asked with.
pub(crate) struct Asked {
    presented: u128,
    channel: Channel,
    served: bool,
    ip: Option<Box<str>>,
    /// The reading of the target, held so that no other reading takes its place in memory while the decision is
    /// kept: the same allocation is the same reading (see [`Asking`]).
    reading: Arc<Reading>,
}

/// A request as a kept decision is looked up by, borrowed.
#[derive(Clone, Copy)]
pub(crate) struct Asking<'r> {
    /// The keyed hash of the token string (never the string).
    pub(crate) presented: u128,
    pub(crate) channel: Channel,
    pub(crate) served: bool,
    pub(crate) ip: Option<&'r str>,
    /// The kept reading of the request's method and target. A reading is kept by the exact bytes of both
    /// (`super::reading`), and a kept decision holds its reading: while it does, that reading's allocation is
    /// that reading's alone, so the same allocation is the same method and target.
    pub(crate) reading: &'r Arc<Reading>,
}

impl Equivalent<Asked> for Asking<'_> {
    fn equivalent(&self, key: &Asked) -> bool {
        Arc::ptr_eq(self.reading, &key.reading)
            && self.presented == key.presented
            && self.channel == key.channel
            && self.served == key.served
            && self.ip == key.ip.as_deref()
    }
}

impl NearKey for Asking<'_> {
    fn mixed(&self) -> u64 {
        fold(self.presented as u64, Arc::as_ptr(self.reading).addr() as u64)
    }
}

/// Each thread's kept decisions, each read in place (no reference count taken and dropped per request).
pub(crate) struct KeptDecisions {
    kept: Near<Asked, Decided>,
}

impl KeptDecisions {
    pub(crate) fn new() -> KeptDecisions {
        KeptDecisions { kept: Near::new() }
    }

    /// What `read` makes of this thread's decision of the request `asking`, kept at `generation`.
    pub(crate) fn with<R>(&self, asking: &Asking<'_>, generation: u64, read: impl FnOnce(&Decided) -> R) -> Option<R> {
        self.kept.with(asking, generation, read)
    }

    /// Keeps `decided`, made of facts read after `generation` was: in place of the thread's decision of the same
    /// request (a request decided again allocates nothing), anew otherwise.
    pub(crate) fn put(&self, asking: &Asking<'_>, generation: u64, decided: Decided) {
        let owned = || Asked {
            presented: asking.presented,
            channel: asking.channel,
            served: asking.served,
            ip: asking.ip.map(Box::from),
            reading: Arc::clone(asking.reading),
        };
        self.kept.put(asking, owned, generation, decided);
    }
}

impl Authority {
    /// The decision this thread made of the same request at the generation `generation`, on the same day, made
    /// again from it: its time is now, and a served request notes what it exercised. `None` when there is none,
    /// or when the token's use is due to be written (the whole decision writes it).
    pub(super) fn kept_outcome<'a>(
        &'a self,
        asking: &Asking<'_>,
        generation: u64,
        request: &Request<'_>,
        on: OnRoute<'a>,
    ) -> Option<Outcome<'a>> {
        // Read in place; what the outcome takes of it is copied out.
        let (principal, resource, layer, reason, admin) = self.kept.with(asking, generation, |decided| {
            let now = self.now();
            if now.date() != decided.day || crate::auth::token_use_due(&decided.principal.token, request.ip, now) {
                return None;
            }
            let principal =
                Authenticated { user: Arc::clone(&decided.principal.user), token: decided.principal.token, at: now };
            Some((principal, decided.resource.clone(), decided.layer, decided.reason, decided.admin))
        })??;
        let mut outcome = on.refuse(layer, reason);
        outcome.allowed = true;
        outcome.admin = admin;
        outcome.resource = resource;
        if request.served {
            self.note_use_of(on.route, &outcome.resource, Some(&principal), None);
        }
        outcome.credential = Accepted::Token(principal);
        Some(outcome)
    }

    /// Keeps an allowed decision of a user token alone (no other credential, no `Sudo`), made of facts read after
    /// `generation` was.
    pub(super) fn keep_decision(&self, asking: &Asking<'_>, generation: u64, outcome: &Outcome<'_>) {
        let Accepted::Token(principal) = &outcome.credential else { return };
        if !outcome.allowed || outcome.sudo.is_some() {
            return;
        }
        let decided = Decided {
            principal: principal.clone(),
            resource: outcome.resource.clone(),
            admin: outcome.admin,
            layer: outcome.layer,
            reason: outcome.reason,
            day: principal.at.date(),
        };
        self.kept.put(asking, generation, decided);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::reading::{Read, Readings};

    #[test]
    fn a_kept_decision_is_found_only_for_the_same_string_channel_address_served_flag_and_reading() {
        let catalog = catalog::Catalog::builtin().unwrap_or_else(|e| panic!("the builtin catalog: {e}"));
        let readings = Readings::new();
        let kept_reading = |target: &str| match readings.read(&catalog, "GET", "GET", target) {
            Read::Kept(reading) => reading,
            Read::Made(_) => panic!("a short target's reading is kept"),
        };
        let (user, other) = (kept_reading("/api/v4/user"), kept_reading("/api/v4/projects"));
        let asked = Asking {
            presented: 7,
            channel: Channel::PrivateTokenHeader,
            served: true,
            ip: Some("10.0.0.1"),
            reading: &user,
        };
        let key = Asked {
            presented: 7,
            channel: Channel::PrivateTokenHeader,
            served: true,
            ip: Some("10.0.0.1".into()),
            reading: Arc::clone(&user),
        };
        assert!(asked.equivalent(&key));
        assert!(Asking { reading: &kept_reading("/api/v4/user"), ..asked }.equivalent(&key), "the same kept reading");
        for other in [
            Asking { presented: 8, ..asked },
            Asking { channel: Channel::Bearer, ..asked },
            Asking { served: false, ..asked },
            Asking { ip: Some("10.0.0.2"), ..asked },
            Asking { ip: None, ..asked },
            Asking { reading: &other, ..asked },
        ] {
            assert!(!other.equivalent(&key));
        }
    }
}
