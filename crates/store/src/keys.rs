//! The keys that sign job tokens and ID tokens, sealed at rest: the current one per purpose and the retired ones still published.
//!
//! **Invariant:** at most one current key per purpose; a rotation retires it and adds the new one in one
//! transaction.

use async_trait::async_trait;
use authority::{Change, SigningKeyStore, StoreResult};
use domain::{StoredKey, Timestamp};

use crate::rows::*;
use crate::sql::Sql;
use crate::{SqlStore, db_error};

const KEY_COLUMNS: &str = "kid, purpose, algorithm, sealed_key, public_jwk, created_at, retired_at, publish_until";

fn push_key_values(sql: &mut Sql, key: &StoredKey) {
    sql.text_arg(&key.kid).push(", ").text_arg(key.purpose.as_str()).push(", ").text_arg(&key.algorithm);
    sql.push(", ").text_arg(&key.sealed_key).push(", ").text_arg(&key.public_jwk).push(", ");
    sql.int(key.created_at.millis());
}

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let sql = Sql::new(&format!("select {KEY_COLUMNS} from ci_signing_key order by created_at desc, kid"));
        self.fetch_all(&sql).await?.iter().map(key_from_row).collect()
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> StoreResult<bool> {
        let mut sql = Sql::new(
            "insert into ci_signing_key (kid, purpose, algorithm, sealed_key, public_jwk, created_at) select ",
        );
        push_key_values(&mut sql, key);
        sql.push(" where not exists (select 1 from ci_signing_key where retired_at is null and purpose = ");
        sql.text_arg(key.purpose.as_str()).push(")");
        let done = self.execute(&sql, &[Change::Keys]).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn rotate_signing_key(&self, key: &StoredKey, now: Timestamp, publish_until: Timestamp) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut retire = Sql::new("update ci_signing_key set retired_at = ");
        retire.int(now.millis()).push(", publish_until = ").int(publish_until.millis());
        retire.push(" where retired_at is null and purpose = ").text_arg(key.purpose.as_str());
        retire.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut forget = Sql::new("delete from ci_signing_key where publish_until is not null and publish_until < ");
        forget.int(now.millis());
        forget.query().execute(&mut *tx).await.map_err(db_error)?;
        let mut sql = Sql::new(
            "insert into ci_signing_key (kid, purpose, algorithm, sealed_key, public_jwk, created_at) values (",
        );
        push_key_values(&mut sql, key);
        sql.push(")");
        sql.query().execute(&mut *tx).await.map_err(db_error)?;
        tx.commit(&[Change::Keys]).await
    }
}
