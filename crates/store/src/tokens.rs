//! Personal and impersonation tokens: inserts, conditional revocation and rotation, families, filters, last use.
//!
//! **Invariant:** revocation is `where revoked = 0`: a second revocation changes nothing and reports it.

use async_trait::async_trait;
use authority::{AuditOf, Change, NewToken, Page, StoreError, StoreResult, TokenFilter, TokenSort, TokenStore};
use domain::{CredentialKind, Date, Grant, MemberSource, NewAuditEvent, Timestamp, Token};
use sqlx::Row;

use crate::rows::*;
use crate::sql::{Arg, Sql, like_pattern};
use crate::write::Write;
use crate::{SqlStore, b, db_error};

pub(crate) const TOKEN_COLUMNS: &str = "token_id, user_id, name, description, scopes, impersonation, revoked, revoked_at, \
    expires_on, created_at, updated_at, last_used_at, last_used_ips, previous_token_id, organization_id, grants, route_rules, resource_kind, resource_id";

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_token(&self, token: &NewToken, audit: &AuditOf<'_>) -> StoreResult<Token> {
        let mut tx = self.begin().await?;
        let id = insert_token_tx(&mut tx, token).await?;
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[]).await?;
        self.token(id).await?.ok_or_else(|| StoreError::Other(anyhow::anyhow!("token vanished after insert")))
    }

    async fn token(&self, id: i64) -> StoreResult<Option<Token>> {
        let mut sql = Sql::new(&format!("select {TOKEN_COLUMNS} from personal_access_token where token_id = "));
        sql.int(id);
        self.point(&sql).await
    }

    async fn token_by_digest(&self, digests: &[String]) -> StoreResult<Option<Token>> {
        let mut sql = Sql::new(&format!("select {TOKEN_COLUMNS} from personal_access_token where token_digest in "));
        sql.text_list(digests);
        self.point(&sql).await
    }

    async fn list_tokens(&self, filter: &TokenFilter, page: Page) -> StoreResult<(Vec<Token>, i64)> {
        let mut sql = Sql::new("from personal_access_token where 1 = 1");
        if let Some(id) = filter.id {
            sql.push(" and token_id = ").int(id);
        }
        if let Some(user) = filter.user_id {
            sql.push(" and user_id = ").int(user);
        }
        if let Some(organization) = filter.organization_id {
            sql.push(" and organization_id = ").int(organization);
        }
        if let Some(source) = filter.resource {
            let (kind, id) = source_args(source);
            sql.push(" and resource_kind = ").text_arg(kind).push(" and resource_id = ").int(id);
        }
        if let Some(kind) = filter.kind {
            sql.push(match kind {
                CredentialKind::PersonalAccessToken => " and impersonation = 0 and resource_kind is null",
                CredentialKind::ImpersonationToken => " and impersonation = 1",
                CredentialKind::ProjectAccessToken => " and resource_kind = 'project'",
                CredentialKind::GroupAccessToken => " and resource_kind = 'group'",
                // Every other kind is stored elsewhere: no user token is of it.
                _ => " and 1 = 0",
            });
        }
        if let Some(v) = filter.impersonation {
            sql.push(" and impersonation = ").int(b(v));
        }
        if let Some(v) = filter.revoked {
            sql.push(" and revoked = ").int(b(v));
        }
        if let (Some(active), Some(today)) = (filter.active, filter.today) {
            if active {
                sql.push(" and revoked = 0 and (expires_on is null or expires_on > ").int(today.days()).push(")");
            } else {
                sql.push(" and (revoked = 1 or expires_on <= ").int(today.days()).push(")");
            }
        }
        if let Some(t) = filter.created_before {
            sql.push(" and created_at < ").int(t.millis());
        }
        if let Some(t) = filter.created_after {
            sql.push(" and created_at > ").int(t.millis());
        }
        if let Some(t) = filter.last_used_before {
            sql.push(" and last_used_at < ").int(t.millis());
        }
        if let Some(t) = filter.last_used_after {
            sql.push(" and last_used_at > ").int(t.millis());
        }
        if let Some(d) = filter.expires_before {
            sql.push(" and expires_on < ").int(d.days());
        }
        if let Some(d) = filter.expires_after {
            sql.push(" and expires_on > ").int(d.days());
        }
        if let Some(search) = &filter.search {
            sql.push(" and lower(name) like ").text_arg(&like_pattern(search)).push(" escape '\\'");
        }
        if let Some(granular) = filter.granular {
            sql.push(if granular { " and scopes = 'granular'" } else { " and scopes <> 'granular'" });
        }
        if let Some(root) = filter.reaching_group {
            push_reaching_group(&mut sql, root);
        }
        let order = match filter.sort {
            TokenSort::IdDesc => "token_id desc",
            TokenSort::IdAsc => "token_id asc",
            TokenSort::CreatedAsc => "created_at asc, token_id asc",
            TokenSort::CreatedDesc => "created_at desc, token_id desc",
            TokenSort::LastUsedAsc => "last_used_at asc, token_id asc",
            TokenSort::LastUsedDesc => "last_used_at desc, token_id desc",
            TokenSort::ExpiresAsc => "expires_on asc, token_id asc",
            TokenSort::ExpiresDesc => "expires_on desc, token_id desc",
            TokenSort::NameAsc => "name asc, token_id asc",
            TokenSort::NameDesc => "name desc, token_id desc",
        };
        self.page_of(&sql, TOKEN_COLUMNS, order, page, token_from_row).await
    }

    async fn revoke_token(&self, id: i64, now: Timestamp, audit: Option<&NewAuditEvent>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
        sql.int(now.millis())
            .push(", updated_at = ")
            .int(now.millis())
            .push(" where revoked = 0 and token_id = ")
            .int(id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(event) = audit {
            crate::audit::insert_audit_event_tx(&mut tx, event).await?;
        }
        tx.commit(&[Change::Token(id)]).await?;
        Ok(true)
    }

    async fn rotate_token(&self, old_id: i64, new: &NewToken, audit: &AuditOf<'_>) -> StoreResult<Option<Token>> {
        let mut tx = self.begin().await?;
        let mut revoke = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
        revoke.int(new.now.millis()).push(", updated_at = ").int(new.now.millis());
        revoke.push(" where revoked = 0 and token_id = ").int(old_id);
        let done = revoke.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let id = insert_token_tx(&mut tx, new).await?;
        if let Some(event) = audit(id) {
            crate::audit::insert_audit_event_tx(&mut tx, &event).await?;
        }
        tx.commit(&[Change::Token(old_id)]).await?;
        self.token(id).await
    }

    async fn revoke_family(&self, id: i64, now: Timestamp) -> StoreResult<Vec<i64>> {
        let mut tx = self.begin().await?;
        let mut find = Sql::new("with recursive family (token_id) as (select ");
        find.int(id).push(" union all select t.token_id from personal_access_token t join family f on t.previous_token_id = f.token_id) ");
        find.push("select t.token_id from personal_access_token t join family f on f.token_id = t.token_id where t.revoked = 0 order by t.token_id");
        let rows = find.query().fetch_all(&mut *tx).await.map_err(db_error)?;
        let ids = rows.iter().map(|row| row.try_get::<i64, _>(0).map_err(db_error)).collect::<StoreResult<Vec<_>>>()?;
        if !ids.is_empty() {
            let mut revoke = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
            revoke
                .int(now.millis())
                .push(", updated_at = ")
                .int(now.millis())
                .push(" where revoked = 0 and token_id in ");
            revoke.int_list(&ids);
            revoke.query().execute(&mut *tx).await.map_err(db_error)?;
        }
        let changes: Vec<Change> = std::iter::once(id).chain(ids.iter().copied()).map(Change::Token).collect();
        tx.commit(&changes).await?;
        Ok(ids)
    }

    async fn revoke_bot_token(&self, token: &Token, now: Timestamp, audit: &NewAuditEvent) -> StoreResult<bool> {
        let Some(source) = token.resource else {
            return Err(StoreError::Other(anyhow::anyhow!("not a project or group access token")));
        };
        let mut tx = self.begin().await?;
        let mut sql = Sql::new("update personal_access_token set revoked = 1, revoked_at = ");
        sql.int(now.millis()).push(", updated_at = ").int(now.millis());
        sql.push(" where revoked = 0 and token_id = ").int(token.id);
        let done = sql.query().execute(&mut *tx).await.map_err(db_error)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        remove_bot_membership(&mut tx, source, token.user_id).await?;
        crate::audit::insert_audit_event_tx(&mut tx, audit).await?;
        tx.commit(&[Change::Token(token.id), Change::Directory]).await?;
        Ok(true)
    }

    async fn touch_token(&self, id: i64, last_used_at: Timestamp, ips: &[String]) -> StoreResult<()> {
        let mut sql = Sql::new("update personal_access_token set last_used_at = ");
        sql.int(last_used_at.millis())
            .push(", last_used_ips = ")
            .text_arg(&ips.join(","))
            .push(" where token_id = ")
            .int(id);
        self.execute(&sql, &[]).await?;
        Ok(())
    }
}

/// Removes a bot's membership of its resource, unless another active token of the same bot still needs it.
async fn remove_bot_membership(tx: &mut Write<'_>, source: MemberSource, bot_id: i64) -> StoreResult<()> {
    let (kind, id) = source_args(source);
    let mut sql = Sql::new("delete from member where source_kind = ");
    sql.text_arg(kind).push(" and source_id = ").int(id).push(" and user_id = ").int(bot_id);
    sql.push(" and not exists (select 1 from personal_access_token where user_id = ").int(bot_id);
    sql.push(" and revoked = 0)");
    sql.query().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

pub(crate) async fn insert_token_tx(tx: &mut Write<'_>, token: &NewToken) -> StoreResult<i64> {
    let (resource_kind, resource_id) = match token.resource.map(source_args) {
        Some((kind, id)) => (Some(kind.to_owned()), Some(id)),
        None => (None, None),
    };
    let mut sql = Sql::new(
        "insert into personal_access_token (user_id, name, description, token_digest, scopes, impersonation, expires_on, created_at, updated_at, previous_token_id, organization_id, grants, route_rules, resource_kind, resource_id) values (",
    );
    sql.int(token.user_id).push(", ").text_arg(&token.name).push(", ").text_arg(&token.description).push(", ");
    sql.text_arg(&token.digest).push(", ").text_arg(&token.scopes.to_stored()).push(", ").int(b(token.impersonation));
    sql.push(", ").arg(Arg::OptInt(token.expires_at.map(Date::days))).push(", ").int(token.now.millis()).push(", ");
    sql.int(token.now.millis())
        .push(", ")
        .arg(Arg::OptInt(token.previous_token_id))
        .push(", ")
        .int(token.organization_id)
        .push(", ")
        .text_arg(&Grant::to_stored(&token.grants))
        .push(", ")
        .text_arg(&token.route_rules.join("\n"))
        .push(", ")
        .arg(Arg::OptText(resource_kind))
        .push(", ")
        .arg(Arg::OptInt(resource_id));
    sql.push(") returning token_id");
    let row = sql.query().fetch_one(&mut **tx).await.map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

/// Tokens that reach the hierarchy of top-level group `root` (see `TokenFilter::reaching_group`). A grant is
/// stored as lines `access target permissions`, a target as `g<id>` or `p<id>` (`domain::Grant::to_stored`).
pub(crate) fn push_reaching_group(sql: &mut Sql, root: i64) {
    let under = format!("/{root}/%");
    // No access name or bundle other than `all_memberships` contains that word.
    sql.push(" and ((scopes <> 'granular' or grants like '%all_memberships %') and user_id in (select m.user_id ")
        .push("from member m where (m.source_kind = 'group' and m.source_id in ")
        .push("(select namespace_id from namespace where kind = 'group' and traversal_ids like ")
        .text_arg(&under)
        .push(
            ")) or (m.source_kind = 'project' and m.source_id in (select p.project_id from project p join namespace n ",
        )
        .push("on n.namespace_id = p.namespace_id where n.traversal_ids like ")
        .text_arg(&under)
        .push(")))");
    sql.push(" or (scopes = 'granular' and (exists (select 1 from namespace n where n.kind = 'group' ")
        .push("and n.traversal_ids like ")
        .text_arg(&under)
        .push(
            " and grants like ('% g' || n.namespace_id || ' %')) or exists (select 1 from project p join namespace n ",
        )
        .push("on n.namespace_id = p.namespace_id where n.traversal_ids like ")
        .text_arg(&under)
        .push(" and grants like ('% p' || p.project_id || ' %')))))");
}
