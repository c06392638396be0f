//! Token formats and digests: minting and parsing GitLab's routable v1 tokens, and the keyed digest that is stored.
//!
//! Also the signed JWTs of CI job tokens and ID tokens (`jwt`): keys, signing, strict verification.
//!
//! **Architecture Invariant:** this crate does no I/O and reads no clock or RNG: random bytes and keys are passed in.
//! The one exception is a new signing key, made by AWS-LC's own generator ([`jwt::SigningKey::generate`]).
//! A string that is not a well-formed token of an expected prefix, with a valid checksum, is refused here,
//! before anything looks at storage.

#![deny(missing_docs)]

mod digest;
mod job_scope;
pub mod jwt;
mod routable;
pub mod secrets;
pub mod shell;
pub mod ssh;

pub use digest::{DIGEST_KEY_LEN, Digester, DigesterError};
pub use job_scope::JobScope;
pub use routable::{FormatError, MAX_TOKEN_LEN, Prefix, RANDOM_BYTES, RoutingPayload, check, mint, parse};
