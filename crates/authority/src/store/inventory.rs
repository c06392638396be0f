//! The credential inventory across every stored kind.
//!
//! **Invariant:** one list, one order and one count for every kind, so that pages neither skip nor repeat.

use async_trait::async_trait;
use domain::CredentialKind;

use super::{Page, StoreResult, TokenFilter};

#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// The credentials of every kind that `filter` selects (its token-only filters leave other kinds out), as
    /// kinds and ids in the filter's order, and how many there are.
    async fn list_credentials(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> StoreResult<(Vec<(CredentialKind, i64)>, i64)>;
}
