//! The instance's settings, stored as name/value rows.
//!
//! **Invariant:** unknown stored names are ignored, never read as a wider setting.

use async_trait::async_trait;
use authority::{Change, SettingsStore, StoreResult};
use domain::{Date, Settings};

use crate::rows::*;
use crate::sql::Sql;
use crate::{SqlStore, db_error};

#[async_trait]
impl SettingsStore for SqlStore {
    async fn settings(&self) -> StoreResult<Settings> {
        let rows: Vec<SettingRow> = self.points(&Sql::new("select name, value from setting")).await?;
        Ok(settings_of(&rows))
    }

    async fn save_settings(&self, settings: &Settings) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for (name, value) in settings_pairs(settings) {
            let mut sql = Sql::new("insert into setting (name, value) values (");
            sql.text_arg(name)
                .push(", ")
                .text_arg(&value)
                .push(") on conflict (name) do update set value = excluded.value");
            sql.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit(&[Change::Settings]).await?;
        Ok(())
    }
}

/// The settings the stored rows give (a name not stored keeps its default).
pub(crate) fn settings_of(rows: &[SettingRow]) -> Settings {
    let mut settings = Settings::default();
    for row in rows {
        apply_setting(&mut settings, &row.name, &row.value);
    }
    settings
}

fn apply_setting(settings: &mut Settings, name: &str, value: &str) {
    match name {
        "max_personal_access_token_lifetime" => settings.max_personal_access_token_lifetime = value.parse().ok(),
        "require_personal_access_token_expiry" => settings.require_personal_access_token_expiry = value == "true",
        "impersonation_enabled" => settings.impersonation_enabled = value == "true",
        "admin_mode" => settings.admin_mode = value == "true",
        "fine_grained_tokens_only" => settings.fine_grained_tokens_only = value == "true",
        "fine_grained_tokens_only_after" => settings.fine_grained_tokens_only_after = Date::parse(value),
        "disable_legacy_token_creation" => settings.disable_legacy_token_creation = value == "true",
        _ => {}
    }
}

fn settings_pairs(settings: &Settings) -> Vec<(&'static str, String)> {
    vec![
        (
            "max_personal_access_token_lifetime",
            settings.max_personal_access_token_lifetime.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("require_personal_access_token_expiry", settings.require_personal_access_token_expiry.to_string()),
        ("impersonation_enabled", settings.impersonation_enabled.to_string()),
        ("admin_mode", settings.admin_mode.to_string()),
        ("fine_grained_tokens_only", settings.fine_grained_tokens_only.to_string()),
        (
            "fine_grained_tokens_only_after",
            settings.fine_grained_tokens_only_after.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("disable_legacy_token_creation", settings.disable_legacy_token_creation.to_string()),
    ]
}
