//! Expiry notices: the scan of credentials about to expire across their tables, and the claims.
//!
//! **Invariant:** a claim is an `insert … on conflict do nothing`: of any number of nodes, one inserts, and its
//! notifications commit in the same transaction.

use async_trait::async_trait;
use authority::{NewExpiryNotice, NoticeStore, StoreResult};
use domain::{
    CredentialKind, Date, EmailState, ExpiringCredential, ExpiryNotice, NoticeOwner, NoticeWindow, Notification,
    Timestamp,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::rows::{bad, get, source_of, time};
use crate::sql::Sql;
use crate::{SqlStore, db_error};

const COLUMNS: &str = "expiry_notice_id, credential_kind, credential_id, notice_window, recipients, subject, body, \
    email_state, attempts, claimed_at";

fn notice_from_row(row: &AnyRow) -> StoreResult<ExpiryNotice> {
    let kind: String = get(row, "credential_kind")?;
    let window: String = get(row, "notice_window")?;
    let recipients: String = get(row, "recipients")?;
    let state: String = get(row, "email_state")?;
    Ok(ExpiryNotice {
        id: get(row, "expiry_notice_id")?,
        kind: CredentialKind::parse(&kind).ok_or_else(|| bad("credential kind", &kind))?,
        credential_id: get(row, "credential_id")?,
        window: NoticeWindow::parse(&window).ok_or_else(|| bad("notice window", &window))?,
        recipients: recipients
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().map_err(|_| bad("recipients", &recipients)))
            .collect::<StoreResult<_>>()?,
        subject: get(row, "subject")?,
        body: get(row, "body")?,
        email_state: EmailState::parse(&state).ok_or_else(|| bad("e-mail state", &state))?,
        attempts: get(row, "attempts")?,
        claimed_at: time(row, "claimed_at")?,
    })
}

#[async_trait]
impl NoticeStore for SqlStore {
    async fn expiring_credentials(&self, today: Date, until: Date, limit: i64) -> StoreResult<Vec<ExpiringCredential>> {
        let window = |sql: &mut Sql| {
            sql.push(" and expires_on > ").int(today.days()).push(" and expires_on <= ").int(until.days());
            sql.push(" order by expires_on, 1 limit ").int(limit);
        };
        let mut found = Vec::new();
        let mut tokens = Sql::new(
            "select token_id, user_id, name, expires_on, resource_kind, resource_id from personal_access_token \
             where revoked = 0 and impersonation = 0",
        );
        window(&mut tokens);
        for row in self.fetch_all(&tokens).await? {
            let source = source_of(get(&row, "resource_kind")?, get(&row, "resource_id")?)?;
            found.push(ExpiringCredential {
                kind: CredentialKind::of_user_token(false, source),
                id: get(&row, "token_id")?,
                name: get(&row, "name")?,
                expires_at: Date::from_days(get(&row, "expires_on")?),
                owner: match source {
                    Some(source) => NoticeOwner::Resource(source),
                    None => NoticeOwner::User(get(&row, "user_id")?),
                },
            });
        }
        let mut deploy = Sql::new(
            "select deploy_token_id, name, expires_on, resource_kind, resource_id from deploy_token where revoked = 0",
        );
        window(&mut deploy);
        for row in self.fetch_all(&deploy).await? {
            let source = source_of(get(&row, "resource_kind")?, get(&row, "resource_id")?)?
                .ok_or_else(|| bad("deploy token resource", "NULL"))?;
            found.push(ExpiringCredential {
                kind: CredentialKind::DeployToken,
                id: get(&row, "deploy_token_id")?,
                name: get(&row, "name")?,
                expires_at: Date::from_days(get(&row, "expires_on")?),
                owner: NoticeOwner::Resource(source),
            });
        }
        let mut triggers =
            Sql::new("select trigger_id, owner_id, description, expires_on from pipeline_trigger where 1 = 1");
        window(&mut triggers);
        for row in self.fetch_all(&triggers).await? {
            found.push(ExpiringCredential {
                kind: CredentialKind::PipelineTriggerToken,
                id: get(&row, "trigger_id")?,
                name: get(&row, "description")?,
                expires_at: Date::from_days(get(&row, "expires_on")?),
                owner: NoticeOwner::User(get(&row, "owner_id")?),
            });
        }
        let mut secrets = Sql::new("select user_secret_id, user_id, kind, expires_on from user_secret where 1 = 1");
        window(&mut secrets);
        for row in self.fetch_all(&secrets).await? {
            let kind: String = get(&row, "kind")?;
            let kind = CredentialKind::parse(&kind).ok_or_else(|| bad("user secret kind", &kind))?;
            found.push(ExpiringCredential {
                kind,
                id: get(&row, "user_secret_id")?,
                name: kind.name().replace('_', " "),
                expires_at: Date::from_days(get(&row, "expires_on")?),
                owner: NoticeOwner::User(get(&row, "user_id")?),
            });
        }
        found.sort_by_key(|c| (c.expires_at, c.id));
        found.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(found)
    }

    async fn claim_expiry_notice(
        &self,
        notice: &NewExpiryNotice,
        notifications: &[Notification],
    ) -> StoreResult<Option<ExpiryNotice>> {
        let mut tx = self.begin().await?;
        let recipients: Vec<String> = notice.recipients.iter().map(i64::to_string).collect();
        let mut sql = Sql::new(
            "insert into expiry_notice (credential_kind, credential_id, notice_window, recipients, subject, body, email_state, claimed_at) values (",
        );
        sql.text_arg(notice.kind.name()).push(", ").int(notice.credential_id).push(", ");
        sql.text_arg(notice.window.as_str()).push(", ").text_arg(&recipients.join(",")).push(", ");
        sql.text_arg(&notice.subject)
            .push(", ")
            .text_arg(&notice.body)
            .push(", ")
            .text_arg(notice.email_state.as_str());
        sql.push(", ").int(notice.now.millis());
        sql.push(") on conflict (credential_kind, credential_id, notice_window) do nothing returning expiry_notice_id");
        let Some(row) = sql.query().fetch_optional(&mut *tx).await.map_err(db_error)? else { return Ok(None) };
        let id: i64 = row.try_get(0).map_err(db_error)?;
        for n in notifications {
            let mut insert = Sql::new("insert into notification (user_id, kind, message, created_at) values (");
            insert.int(n.user_id).push(", ").text_arg(&n.kind).push(", ").text_arg(&n.message).push(", ");
            insert.int(n.created_at.millis()).push(")");
            insert.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        tx.commit(&[]).await?;
        let mut read = Sql::new(&format!("select {COLUMNS} from expiry_notice where expiry_notice_id = "));
        read.int(id);
        self.fetch_optional(&read).await?.as_ref().map(notice_from_row).transpose()
    }

    async fn pending_expiry_emails(&self, claimed_before: Timestamp, limit: i64) -> StoreResult<Vec<ExpiryNotice>> {
        let mut sql =
            Sql::new(&format!("select {COLUMNS} from expiry_notice where email_state = 'pending' and claimed_at < "));
        sql.int(claimed_before.millis()).push(" order by claimed_at, expiry_notice_id limit ").int(limit);
        let rows = self.fetch_all(&sql).await?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn lease_expiry_email(&self, id: i64, seen: Timestamp, now: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::new("update expiry_notice set claimed_at = ");
        sql.int(now.millis()).push(" where email_state = 'pending' and expiry_notice_id = ").int(id);
        sql.push(" and claimed_at = ").int(seen.millis());
        Ok(self.execute(&sql, &[]).await?.rows_affected() == 1)
    }

    async fn finish_expiry_email(&self, id: i64, sent: bool, max_attempts: i64) -> StoreResult<()> {
        let mut sql = Sql::new("update expiry_notice set ");
        if sent {
            sql.push("email_state = 'sent', attempts = attempts + 1");
        } else {
            sql.push("attempts = attempts + 1, email_state = case when attempts + 1 >= ").int(max_attempts);
            sql.push(" then 'abandoned' else 'pending' end");
        }
        sql.push(" where expiry_notice_id = ").int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }
}
