//! The credential inventory: every stored credential of every kind (user tokens, deploy tokens, pipeline
//! triggers, feed and incoming-email tokens) as one list, filtered and ordered in SQL, answered as kinds and ids.
//!
//! **Invariant:** a filter a kind cannot meet (a fine-grained filter on a deploy token) leaves that kind out; it
//! never widens the list.

use async_trait::async_trait;
use authority::{InventoryStore, Page, StoreError, StoreResult, TokenFilter, TokenSort};
use domain::CredentialKind;
use sqlx::Row;

use crate::sql::{Sql, like_pattern};
use crate::{SqlStore, db_error};

/// Every kind's rows with the columns the inventory filters and orders on.
const UNION: &str = "select case when t.resource_kind = 'project' then 'project_access_token' \
    when t.resource_kind = 'group' then 'group_access_token' when t.impersonation = 1 then 'impersonation_token' \
    else 'personal_access_token' end as kind, t.token_id as id, t.user_id as owner_id, t.organization_id, t.name, \
    t.revoked, t.created_at, t.expires_on, t.last_used_at, t.resource_kind, t.resource_id \
    from personal_access_token t \
    union all select 'deploy_token', d.deploy_token_id, d.creator_id, d.organization_id, d.name, d.revoked, \
    d.created_at, d.expires_on, d.last_used_at, d.resource_kind, d.resource_id from deploy_token d \
    union all select 'pipeline_trigger_token', p.trigger_id, p.owner_id, p.organization_id, p.description, 0, \
    p.created_at, p.expires_on, p.last_used_at, 'project', p.project_id from pipeline_trigger p \
    union all select s.kind, s.user_secret_id, s.user_id, u.organization_id, s.kind, 0, s.created_at, s.expires_on, \
    s.last_used_at, null, null from user_secret s join app_user u on u.user_id = s.user_id";

/// The kinds stored as user tokens, by the inventory's names.
const USER_TOKEN_KINDS: &str =
    "('personal_access_token', 'impersonation_token', 'project_access_token', 'group_access_token')";

#[async_trait]
impl InventoryStore for SqlStore {
    async fn list_credentials(
        &self,
        filter: &TokenFilter,
        page: Page,
    ) -> StoreResult<(Vec<(CredentialKind, i64)>, i64)> {
        let mut sql = Sql::new("from (");
        sql.push(UNION).push(") c where 1 = 1");
        if let Some(kind) = filter.kind {
            sql.push(" and c.kind = ").text_arg(kind.name());
        }
        if let Some(id) = filter.id {
            sql.push(" and c.id = ").int(id);
        }
        if let Some(user) = filter.user_id {
            sql.push(" and c.owner_id = ").int(user);
        }
        if let Some(organization) = filter.organization_id {
            sql.push(" and c.organization_id = ").int(organization);
        }
        if let Some(v) = filter.revoked {
            sql.push(" and c.revoked = ").int(crate::b(v));
        }
        if let (Some(active), Some(today)) = (filter.active, filter.today) {
            if active {
                sql.push(" and c.revoked = 0 and (c.expires_on is null or c.expires_on > ").int(today.days()).push(")");
            } else {
                sql.push(" and (c.revoked = 1 or c.expires_on <= ").int(today.days()).push(")");
            }
        }
        if let Some(t) = filter.created_before {
            sql.push(" and c.created_at < ").int(t.millis());
        }
        if let Some(t) = filter.created_after {
            sql.push(" and c.created_at > ").int(t.millis());
        }
        if let Some(t) = filter.last_used_before {
            sql.push(" and c.last_used_at < ").int(t.millis());
        }
        if let Some(t) = filter.last_used_after {
            sql.push(" and c.last_used_at > ").int(t.millis());
        }
        if let Some(d) = filter.expires_before {
            sql.push(" and c.expires_on < ").int(d.days());
        }
        if let Some(d) = filter.expires_after {
            sql.push(" and c.expires_on > ").int(d.days());
        }
        if let Some(search) = &filter.search {
            sql.push(" and lower(c.name) like ").text_arg(&like_pattern(search)).push(" escape '\\'");
        }
        if let Some(granular) = filter.granular {
            // Only user tokens are fine-grained or legacy.
            sql.push(" and c.kind in ").push(USER_TOKEN_KINDS);
            sql.push(" and c.id in (select token_id from personal_access_token where ");
            sql.push(if granular { "scopes = 'granular')" } else { "scopes <> 'granular')" });
        }
        if let Some(root) = filter.reaching_group {
            let under = format!("/{root}/%");
            // User tokens that reach the hierarchy; deploy tokens and triggers of its groups and projects; feed
            // and incoming-email tokens of its members.
            sql.push(" and ((c.kind in ").push(USER_TOKEN_KINDS);
            sql.push(" and c.id in (select token_id from personal_access_token where 1 = 1");
            crate::tokens::push_reaching_group(&mut sql, root);
            sql.push(")) or (c.kind in ('deploy_token', 'pipeline_trigger_token') and ((c.resource_kind = 'group' ");
            sql.push(
                "and c.resource_id in (select namespace_id from namespace where kind = 'group' and traversal_ids like ",
            );
            sql.text_arg(&under).push(")) or (c.resource_kind = 'project' and c.resource_id in (select p.project_id ");
            sql.push("from project p join namespace n on n.namespace_id = p.namespace_id where n.traversal_ids like ");
            sql.text_arg(&under).push(")))) or (c.kind in ('feed_token', 'incoming_email_token') and c.owner_id in ");
            sql.push("(select m.user_id from member m where (m.source_kind = 'group' and m.source_id in (select ");
            sql.push("namespace_id from namespace where kind = 'group' and traversal_ids like ").text_arg(&under);
            sql.push(")) or (m.source_kind = 'project' and m.source_id in (select p.project_id from project p join ");
            sql.push("namespace n on n.namespace_id = p.namespace_id where n.traversal_ids like ").text_arg(&under);
            sql.push(")))))");
        }
        let order = match filter.sort {
            TokenSort::IdDesc => "c.created_at desc, c.kind, c.id desc",
            TokenSort::IdAsc => "c.created_at asc, c.kind, c.id asc",
            TokenSort::CreatedAsc => "c.created_at asc, c.kind, c.id asc",
            TokenSort::CreatedDesc => "c.created_at desc, c.kind, c.id desc",
            TokenSort::LastUsedAsc => "c.last_used_at asc, c.kind, c.id asc",
            TokenSort::LastUsedDesc => "c.last_used_at desc, c.kind, c.id desc",
            TokenSort::ExpiresAsc => "c.expires_on asc, c.kind, c.id asc",
            TokenSort::ExpiresDesc => "c.expires_on desc, c.kind, c.id desc",
            TokenSort::NameAsc => "c.name asc, c.kind, c.id asc",
            TokenSort::NameDesc => "c.name desc, c.kind, c.id desc",
        };
        self.page_of(&sql, "c.kind, c.id", order, page, |row| {
            let kind: String = row.try_get("kind").map_err(db_error)?;
            let kind = CredentialKind::parse(&kind)
                .ok_or_else(|| StoreError::Other(anyhow::anyhow!("stored credential kind is not valid: {kind:?}")))?;
            Ok((kind, row.try_get::<i64, _>("id").map_err(db_error)?))
        })
        .await
    }
}
