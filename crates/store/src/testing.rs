//! Fresh databases for tests: a temporary SQLite file, or, when `TEST_DATABASE_URL` names a PostgreSQL server,
//! a new database on it that `TestDatabase::drop_database` removes.
//!
//! **Invariant:** every test gets its own database, dropped afterwards.

use authority::{NewToken, NewUser};
use domain::{Date, Scope, Scopes, Timestamp, UserType};
use sqlx::Connection;

pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    dir: Option<std::path::PathBuf>,
}

impl TestDatabase {
    pub async fn create() -> anyhow::Result<TestDatabase> {
        TestDatabase::create_on(std::env::var("TEST_DATABASE_URL").ok().as_deref()).await
    }

    /// A new database on the PostgreSQL server `admin_url` names (connected to as its administrator), or a
    /// temporary SQLite file when it names none.
    pub async fn create_on(admin_url: Option<&str>) -> anyhow::Result<TestDatabase> {
        sqlx::any::install_default_drivers();
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| anyhow::anyhow!("random source failed: {e}"))?;
        let name = format!("tessera_test_{}", random.iter().map(|b| format!("{b:02x}")).collect::<String>());
        match admin_url {
            Some(admin_url) if admin_url.starts_with("postgres") => {
                let admin_url = admin_url.to_owned();
                let mut conn = sqlx::AnyConnection::connect(&admin_url).await?;
                sqlx::query(&format!("create database {name}")).execute(&mut conn).await?;
                conn.close().await?;
                let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin_url);
                Ok(TestDatabase { url: format!("{base}/{name}"), admin_url: Some(admin_url), name, dir: None })
            }
            _ => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir)?;
                let url = format!("sqlite://{}?mode=rwc", dir.join("tessera.db").display());
                Ok(TestDatabase { url, admin_url: None, name, dir: Some(dir) })
            }
        }
    }

    /// Removes the database; call it after every pool on it is closed.
    pub async fn drop_database(self) -> anyhow::Result<()> {
        if let Some(admin_url) = &self.admin_url {
            let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
            sqlx::query(&format!("drop database if exists {} with (force)", self.name)).execute(&mut conn).await?;
            conn.close().await?;
        }
        if let Some(dir) = &self.dir {
            std::fs::remove_dir_all(dir)?;
        }
        Ok(())
    }
}

/// A plain user to insert, named `username`, in the default organization.
pub fn new_user(username: &str, now: Timestamp) -> NewUser {
    NewUser {
        username: username.to_owned(),
        email: format!("{username}@example.com"),
        name: username.to_uppercase(),
        password_hash: None,
        is_admin: false,
        user_type: UserType::Human,
        bio: String::new(),
        public_email: None,
        can_create_group: true,
        external: false,
        organization_id: 1,
        provisioned_by_group_id: None,
        now,
    }
}

/// An `api` token of `user_id` to insert under `digest`, expiring on 2027-01-01, rotated from `previous`.
pub fn new_token(user_id: i64, digest: &str, previous: Option<i64>, now: Timestamp) -> NewToken {
    NewToken {
        user_id,
        name: "t".to_owned(),
        description: String::new(),
        digest: digest.to_owned(),
        scopes: [Scope::Api].into_iter().collect::<Scopes>(),
        impersonation: false,
        expires_at: Date::parse("2027-01-01"),
        previous_token_id: previous,
        organization_id: 1,
        grants: Vec::new(),
        route_rules: Vec::new(),
        resource: None,
        now,
    }
}
