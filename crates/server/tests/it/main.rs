//! The one integration-test binary: each test spawns the real server on port 0 with a fresh database
//! (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set) and talks to it over HTTP.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly on anything unexpected")]

mod helpers;

mod access_tokens;
mod auth;
mod bad_input;
mod channels;
mod ci;
mod decisions;
mod deploy_tokens;
mod directory;
mod expiry_notices;
mod fine_grained;
mod forward_auth;
mod inventory;
mod kinds_reach;
mod lifecycle;
mod live_changes;
mod minting;
mod organizations;
mod paths;
mod service_accounts;
mod ssh_keys;
mod startup;
mod store_writes;
mod token_information;
mod tokens;
mod triggers;
mod usage;
mod usage_writer;
mod user_secrets;
