//! Tessera's use cases: authenticate a token, issue, list, rotate and revoke tokens, manage the directory,
//! read and write the audit log. It loads facts through the `Store` trait, asks `policy`, mints with `tokens`.
//!
//! **Architecture Invariant:** `authority` knows no SQL and no HTTP. It speaks domain types and its `Store` trait.
//! **API Boundary:** `api` and `server` call only what this crate exports.

mod audit;
mod auth;
mod ci;
mod credentials;
mod decide;
mod deploy_tokens;
mod directory;
mod error;
mod facts;
mod grants;
mod hashing;
mod inventory;
mod listings;
mod near;
mod notices;
mod pasted;
mod principal;
mod reads;
mod resource_tokens;
mod ssh_keys;
mod store;
mod tokens;
mod triggers;
mod usage;
mod user_secrets;

use std::sync::Arc;

use domain::Timestamp;

pub use audit::AuditContext;
pub use ci::{CiActor, CiConfig, JOB_TOKEN_PREFIX, StartJob, StartedJob, SuggestedEntry};
pub use credentials::{Identified, LeakReport};
pub use decide::{
    Accepted, Batch, Outcome, Presented, Request, Resolved, Who, group_refusal, token_refusal, token_rules,
};
pub use deploy_tokens::{CreateDeployToken, IssuedDeployToken};
pub use directory::{
    Actor, CreateGroup, CreateOrganization, CreateProject, CreateUser, MemberChange, NamespaceRef, hash_password,
    verify_password,
};
pub use error::{Error, Result};
pub use facts::FactCache;
pub use grants::{RequestedGrant, read_grants, requested_grants};
pub use inventory::InventoryItem;
pub use notices::{Delivery, NoticeRun, NoticeSender};
pub use principal::{AuthFailure, Authenticated, JobPrincipal, VerifiedJobToken};
pub use resource_tokens::{MAX_ACCESS_TOKENS_PER_RESOURCE, TokenResource, token_level};
pub use ssh_keys::{AddSshKey, GitAction};
pub use store::*;
pub use tokens::{CreateToken, IssuedToken, RotateToken};
pub use triggers::IssuedTrigger;
pub use usage::UsageBuffer;
pub use user_secrets::IssuedUserSecret;

/// The clock, passed in so that tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        // The realtime clock's seconds and nanoseconds as the kernel's vDSO gives them: `SystemTime`'s way to
        // them (`duration_since` the epoch) is twice this function's instructions, on every decision.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        Timestamp::from_millis(now.tv_sec.saturating_mul(1000).saturating_add(now.tv_nsec / 1_000_000))
    }
}

/// Plain settings the binary reads from configuration and hands in.
pub struct AuthorityConfig {
    pub digester: ::tokens::Digester,
    pub pat_prefix: ::tokens::Prefix,
    pub cell_id: u64,
    pub catalog: catalog::Catalog,
    /// Entries of each kind the fact cache holds at most.
    pub cache_capacity: usize,
    pub ci: CiConfig,
}

/// The token authority: one per process, shared by every way in.
pub struct Authority {
    /// The store itself, private to the use cases: it announces its own changes to `cache`.
    store: Arc<dyn Store>,
    /// The decision facts, read through `cache`.
    facts: Arc<reads::Facts>,
    /// What requests record about their credentials, written behind.
    usage: Arc<UsageBuffer>,
    digester: ::tokens::Digester,
    pat_prefix: ::tokens::Prefix,
    cell_id: u64,
    catalog: catalog::Catalog,
    /// Each thread's readings of the request targets it decided last (`decide::Readings`).
    readings: decide::Readings,
    /// Each thread's allowed decisions of user tokens, served again while nothing they read has changed.
    kept: decide::KeptDecisions,
    /// The store's reads wait on a database server: a decision makes its independent reads at once.
    overlap_reads: bool,
    clock: Arc<dyn Clock>,
    cache: Arc<FactCache>,
    unknown_audit: auth::AuditBudget,
    ci: CiConfig,
    keys: ci::SharedKeyRing,
}

impl Authority {
    /// The authority over `store`, reading through a fact cache that starts disabled: call
    /// `cache().enable()` once changes made by other processes will reach `cache().forget` (always, for a store
    /// only this process uses). The store announces its own commits to the cache from now on.
    pub fn new(store: Arc<dyn Store>, config: AuthorityConfig, clock: Arc<dyn Clock>) -> Authority {
        let cache = Arc::new(FactCache::new(config.cache_capacity));
        store.announce_to(cache.clone());
        let facts = Arc::new(reads::Facts::new(store.clone(), cache.clone()));
        let overlap_reads = store.reads_wait_on_a_server();
        Authority {
            usage: Arc::new(UsageBuffer::new(store.clone(), facts.clone())),
            facts,
            store,
            cache,
            unknown_audit: auth::AuditBudget::default(),
            digester: config.digester,
            pat_prefix: config.pat_prefix,
            cell_id: config.cell_id,
            catalog: config.catalog,
            readings: decide::Readings::new(),
            kept: decide::KeptDecisions::new(),
            overlap_reads,
            clock,
            ci: config.ci,
            keys: std::sync::RwLock::new(None),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn cache(&self) -> &Arc<FactCache> {
        &self.cache
    }

    pub fn catalog(&self) -> &catalog::Catalog {
        &self.catalog
    }

    /// What requests record about their credentials, for the writer that writes it behind.
    pub fn usage(&self) -> &Arc<UsageBuffer> {
        &self.usage
    }

    /// `id` when that organization exists, else 404 `Organization Not Found`.
    async fn existing_organization(&self, id: i64) -> Result<i64> {
        Ok(self.store.organization(id).await?.ok_or(Error::NotFound("Organization"))?.id)
    }

    pub async fn settings(&self) -> Result<domain::Settings> {
        Ok(domain::Settings::clone(&*self.facts.settings().await?))
    }

    /// Saves instance settings and records the change.
    pub async fn update_settings(&self, ctx: &AuditContext, settings: &domain::Settings) -> Result<domain::Settings> {
        self.store.save_settings(settings).await?;
        let saved = self.store.settings().await?;
        let detail = format!("{saved:?}");
        self.audit(
            ctx,
            "application_settings_updated",
            "Instance",
            0,
            "Changed application settings",
            &[("settings", detail)],
        )
        .await?;
        Ok(saved)
    }
}

/// Fills a buffer from the operating system's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(anyhow::anyhow!("random source failed: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_the_milliseconds_since_the_epoch_that_std_reads() {
        let since_epoch = || {
            let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            elapsed.map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        let before = since_epoch();
        let now = SystemClock.now().millis();
        let after = since_epoch();
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }
}
