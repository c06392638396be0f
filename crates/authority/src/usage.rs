//! Write-behind buffers for what requests record about their credentials: a token's last use, the (permission,
//! boundary) pairs it exercised, and the projects job tokens reached. Requests tally in memory; a writer (or the
//! next read that shows them) writes the tallies.
//!
//! **Invariant:** memory stays bounded (past [`MAX_PENDING_EXERCISES`] new pairs are dropped with a warning),
//! and a read of token rows or usage flushes first, so that a client sees the use it just made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use domain::{JobPolicies, JobTokenAccess, Timestamp, TokenUsage, UsageBoundary};

use crate::reads::Facts;
use crate::store::{Store, StoreResult};

/// The most exercised pairs kept in memory between writes; past it (the writer is far behind) new pairs are
/// dropped with a warning, so that memory stays bounded.
const MAX_PENDING_EXERCISES: usize = 100_000;

/// A token's use of an assignable permission at a boundary, as gathered before it is written. The permission is
/// the address of the catalog's one shared copy of its name: the key is plain integers, cheap to hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ExerciseKey {
    token_id: i64,
    permission: usize,
    boundary: UsageBoundary,
}

#[derive(Debug, Clone)]
struct ExerciseTally {
    /// The name `permission` points at, kept with the first use of the pair.
    name: Arc<str>,
    first: Timestamp,
    last: Timestamp,
    uses: i64,
}

/// Exercised pairs waiting to be written.
type PendingExercises = HashMap<ExerciseKey, ExerciseTally, domain::Words>;

/// The uses requests record, waiting to be written.
pub struct UsageBuffer {
    store: Arc<dyn Store>,
    facts: Arc<Facts>,
    /// Token uses not yet written: token id → last use and the client addresses seen since, newest first.
    pending_use: Mutex<HashMap<i64, (Timestamp, Vec<String>)>>,
    /// Exercised (assignable permission, boundary) pairs not yet written, tallied per token.
    pending_exercise: Mutex<PendingExercises>,
    /// Cross-project uses of job tokens not yet written, by (source project, target project).
    pending_access: Mutex<HashMap<(i64, i64), JobTokenAccess, domain::Words>>,
    /// Wakes the writer of [`UsageBuffer::flush`], once one is attached.
    writer: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Held from taking a batch until it is written, so that a flush returns only once every use recorded
    /// before it is in the store, including a batch another flush took and is still writing.
    flushing: tokio::sync::Mutex<()>,
}

impl UsageBuffer {
    pub(crate) fn new(store: Arc<dyn Store>, facts: Arc<Facts>) -> UsageBuffer {
        UsageBuffer {
            store,
            facts,
            pending_use: Mutex::default(),
            pending_exercise: Mutex::default(),
            pending_access: Mutex::default(),
            writer: OnceLock::new(),
            flushing: tokio::sync::Mutex::const_new(()),
        }
    }

    /// From now on, [`UsageBuffer::record_use`] leaves the write to a writer that `wake` wakes and that calls
    /// [`UsageBuffer::flush`]. Usage is bookkeeping, not a decision fact: a request need not wait for it.
    pub fn write_in_background(&self, wake: impl Fn() + Send + Sync + 'static) {
        if self.writer.set(Box::new(wake)).is_err() {
            tracing::warn!("a usage writer was already attached; keeping the first");
        }
    }

    /// Records a token's use (`last_used_at`, the client address `ip`): the cached facts change now, the row now
    /// or, with a background writer attached, moments later.
    pub async fn record_use(&self, id: i64, last_used_at: Timestamp, ip: Option<&str>) -> StoreResult<()> {
        self.facts.note_use(id, last_used_at, ip);
        let Some(wake) = self.writer.get() else {
            let addresses: Vec<String> = ip.map(str::to_owned).into_iter().collect();
            return self.write_use(id, last_used_at, &addresses).await;
        };
        if let Ok(mut pending) = self.pending_use.lock() {
            let (at, addresses) = pending.entry(id).or_insert_with(|| (last_used_at, Vec::new()));
            *at = last_used_at.max(*at);
            *addresses = crate::auth::merged_ips(addresses, ip);
        }
        wake();
        Ok(())
    }

    /// Writes a token's last use: `addresses` (newest first) go before the ones its row holds, at most five kept.
    /// The row's addresses are read here, not kept in memory: the cached facts hold no text.
    async fn write_use(&self, id: i64, at: Timestamp, addresses: &[String]) -> StoreResult<()> {
        let mut ips = self.store.token(id).await?.map(|row| row.last_used_ips).unwrap_or_default();
        for address in addresses.iter().rev() {
            ips = crate::auth::merged_ips(&ips, Some(address));
        }
        self.store.touch_token(id, at, &ips).await
    }

    /// Records that a token's allowed request exercised `permissions` at `boundary`: tallied in memory (no
    /// text copied, no storage touched) and written with the next batch of uses. A pair not yet pending wakes
    /// the writer.
    pub(crate) fn record_exercise(
        &self,
        token_id: i64,
        permissions: &[Arc<str>],
        boundary: UsageBoundary,
        now: Timestamp,
    ) {
        let mut fresh = false;
        if let Ok(mut pending) = self.pending_exercise.lock() {
            for permission in permissions {
                let key = ExerciseKey { token_id, permission: Arc::as_ptr(permission).addr(), boundary };
                if let Some(tally) = pending.get_mut(&key) {
                    tally.last = now;
                    tally.uses += 1;
                } else if pending.len() < MAX_PENDING_EXERCISES {
                    pending.insert(key, ExerciseTally { name: permission.clone(), first: now, last: now, uses: 1 });
                    fresh = true;
                } else {
                    tracing::warn!(token_id, "too many token uses wait to be written: one was not recorded");
                }
            }
        }
        if fresh && let Some(wake) = self.writer.get() {
            wake();
        }
    }

    /// Notes that a job token of `source` used `policies` on the project `target`, for allowlist suggestions:
    /// tallied in memory and written with the next batch of uses.
    pub(crate) fn record_job_token_access(&self, source: i64, target: i64, policies: JobPolicies, now: Timestamp) {
        let mut fresh = false;
        if let Ok(mut pending) = self.pending_access.lock() {
            if let Some(tally) = pending.get_mut(&(source, target)) {
                tally.policies = tally.policies.union(policies);
                tally.last_used_at = now;
                tally.uses += 1;
            } else if pending.len() < MAX_PENDING_EXERCISES {
                pending.insert(
                    (source, target),
                    JobTokenAccess {
                        source_project_id: source,
                        target_project_id: target,
                        policies,
                        first_used_at: now,
                        last_used_at: now,
                        uses: 1,
                    },
                );
                fresh = true;
            }
        }
        if fresh && let Some(wake) = self.writer.get() {
            wake();
        }
    }

    /// Writes every pending use. Reads of token rows and usage call it first, so that what a client is shown
    /// includes the use it just made.
    pub async fn flush(&self) -> StoreResult<()> {
        let _writing = self.flushing.lock().await;
        let exercises = match self.pending_exercise.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => PendingExercises::default(),
        };
        let mut first_error = None;
        if !exercises.is_empty() {
            let usage: Vec<TokenUsage> = exercises
                .into_iter()
                .map(|(key, tally)| TokenUsage {
                    token_id: key.token_id,
                    permission: tally.name.to_string(),
                    boundary: key.boundary,
                    first_used_at: tally.first,
                    last_used_at: tally.last,
                    uses: tally.uses,
                })
                .collect();
            if let Err(e) = self.store.add_token_usage(&usage).await {
                tracing::warn!(error = ?e, pairs = usage.len(), "tokens' exercised permissions could not be recorded");
                first_error = Some(e);
            }
        }
        let access: Vec<JobTokenAccess> = match self.pending_access.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending).into_values().collect(),
            Err(_) => Vec::new(),
        };
        if !access.is_empty()
            && let Err(e) = self.store.add_job_token_access(&access).await
        {
            tracing::warn!(error = ?e, pairs = access.len(), "job tokens' cross-project uses could not be recorded");
            first_error.get_or_insert(e);
        }
        let batch = match self.pending_use.lock() {
            Ok(mut pending) if !pending.is_empty() => std::mem::take(&mut *pending),
            _ => return first_error.map_or(Ok(()), Err),
        };
        for (id, (at, addresses)) in batch {
            if let Err(e) = self.write_use(id, at, &addresses).await {
                tracing::warn!(token_id = id, error = ?e, "a token's last use could not be recorded");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
