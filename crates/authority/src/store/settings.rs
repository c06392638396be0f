//! The instance's settings.
//!
//! **Invariant:** a settings write replaces them whole.

use async_trait::async_trait;
use domain::Settings;

use super::StoreResult;

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self) -> StoreResult<Settings>;
    async fn save_settings(&self, settings: &Settings) -> StoreResult<()>;
}
