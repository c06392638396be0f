//! Benchmarks of Tessera's decision and of its peers, kept in their own crate so that the product's crates never
//! depend on what only a benchmark needs (Cedar, casbin). Run with `cargo bench -p bench` or `scripts/bench.sh`.
//!
//! - [`scenario`]: the one world every engine is given (1,000 entities: users, projects, their role groups and
//!   tokens) and the rule they all express: role ≥ Reporter on the project, a scope that reads the API, and a
//!   token neither revoked nor expired.
//! - [`tessera`]: that world in a real Tessera ([`authority::Authority`] over SQLite), and the facts its pure
//!   decision takes.
//! - [`cedar`], [`casbin`] and [`floor`]: the same rule in the `cedar-policy` crate, in the `casbin` crate, and
//!   written by hand as plainly as possible.
//! - [`timing`]: every call timed, percentiles printed, and one machine-readable line per figure for
//!   `scripts/bench.sh`.
//!
//! The unit tests check that every engine answers every question of the scenario as the rule says, so that the
//! figures compare engines doing the same work.
//!
//! **Invariant:** nothing in the product depends on this crate.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

pub mod casbin;
pub mod cedar;
pub mod floor;
pub mod scenario;
pub mod tessera;
pub mod timing;
