//! The binary's integration tests: the CLI against a real `tessera serve`, and the repository's tidy rules.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly on anything unexpected")]

mod cli;
mod crash;
mod serve;
mod tidy;
