//! Deleting projects and groups: everything that names them goes in the same transaction (memberships,
//! allowlist entries, deploy-key enablements, triggers), their credentials are revoked, and on SQLite their ids
//! are retired so that no new row takes them.
//!
//! **Invariant:** after a deletion nothing live names the deleted ids: tokens bound to them are revoked, rows
//! that point at them are gone, and a later insert never reuses an id a grant or route rule may still name.

use authority::{Change, StoreResult};
use domain::{MemberSource, Timestamp};
use sqlx::Row;

use crate::rows::source_args;
use crate::sql::Sql;
use crate::write::Write;
use crate::{Backend, db_error};

/// The id column to name in an insert that gives the id itself (SQLite), or nothing (PostgreSQL's sequences).
pub(crate) fn id_column(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Sqlite => format!("{column}, "),
        Backend::Postgres => String::new(),
    }
}

/// The id a new row of `table` takes on SQLite: one past both the highest id in use and the highest retired one
/// (SQLite alone would give a deleted highest id again); nothing on PostgreSQL.
pub(crate) fn next_id(backend: Backend, table: &str, column: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "(select max(coalesce((select max({column}) from {table}), 0), \
             coalesce((select floor from retired_id where name = '{table}'), 0)) + 1), "
        ),
        Backend::Postgres => String::new(),
    }
}

/// Records that `id` of `table` was deleted (SQLite only: PostgreSQL never reuses an id).
async fn retire(tx: &mut Write<'_>, table: &str, id: i64) -> StoreResult<()> {
    if tx.backend() != Backend::Sqlite {
        return Ok(());
    }
    let mut floor = Sql::new("insert into retired_id (name, floor) values (");
    floor.text_arg(table).push(", ").int(id);
    floor.push(") on conflict (name) do update set floor = max(floor, excluded.floor)");
    floor.query().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

async fn ids(tx: &mut Write<'_>, sql: &Sql) -> StoreResult<Vec<i64>> {
    let rows = sql.query().fetch_all(&mut **tx).await.map_err(db_error)?;
    rows.iter().map(|row| row.try_get::<i64, _>(0).map_err(db_error)).collect()
}

/// Revokes every active access token and deploy token bound to a project or group that is being deleted.
async fn revoke_resource_tokens(tx: &mut Write<'_>, source: MemberSource, now: Timestamp) -> StoreResult<Vec<Change>> {
    let mut changes = Vec::new();
    for (table, id_column, change) in [
        ("personal_access_token", "token_id", Change::Token as fn(i64) -> Change),
        ("deploy_token", "deploy_token_id", Change::DeployToken as fn(i64) -> Change),
    ] {
        let (kind, id) = source_args(source);
        let mut find = Sql::new(&format!("select {id_column} from {table} where revoked = 0 and resource_kind = "));
        find.text_arg(kind).push(" and resource_id = ").int(id);
        let found = ids(tx, &find).await?;
        if found.is_empty() {
            continue;
        }
        let mut revoke = Sql::new(&format!("update {table} set revoked = 1, revoked_at = "));
        revoke.int(now.millis()).push(&format!(" where {id_column} in "));
        revoke.int_list(&found);
        revoke.query().execute(&mut **tx).await.map_err(db_error)?;
        changes.extend(found.into_iter().map(change));
    }
    Ok(changes)
}

/// What names a project or group and goes with it: its memberships and the allowlist entries naming it.
async fn unlink(tx: &mut Write<'_>, source: MemberSource) -> StoreResult<()> {
    let (kind, id) = source_args(source);
    let mut members = Sql::new("delete from member where source_kind = ");
    members.text_arg(kind).push(" and source_id = ").int(id);
    members.query().execute(&mut **tx).await.map_err(db_error)?;
    let mut entries = Sql::new("delete from ci_job_token_allowlist where source_kind = ");
    entries.text_arg(kind).push(" and source_id = ").int(id);
    entries.query().execute(&mut **tx).await.map_err(db_error)?;
    Ok(())
}

/// Deletes a project inside `tx`: its access and deploy tokens revoked, its triggers and deploy-key enablements
/// gone, its memberships and allowlist entries gone, its id retired. Returns whether it existed, and the changes
/// to announce.
pub(crate) async fn delete_project_tx(tx: &mut Write<'_>, id: i64, now: Timestamp) -> StoreResult<(bool, Vec<Change>)> {
    let mut changes = revoke_resource_tokens(tx, MemberSource::Project(id), now).await?;
    let mut find = Sql::new("select trigger_id from pipeline_trigger where project_id = ");
    find.int(id);
    changes.extend(ids(tx, &find).await?.into_iter().map(Change::Trigger));
    for table in ["deploy_key_project", "pipeline_trigger"] {
        let mut sql = Sql::new(&format!("delete from {table} where project_id = "));
        sql.int(id);
        sql.query().execute(&mut **tx).await.map_err(db_error)?;
    }
    unlink(tx, MemberSource::Project(id)).await?;
    retire(tx, "project", id).await?;
    let mut sql = Sql::new("delete from project where project_id = ");
    sql.int(id);
    let done = sql.query().execute(&mut **tx).await.map_err(db_error)?;
    changes.push(Change::Directory);
    Ok((done.rows_affected() > 0, changes))
}

/// Deletes a group inside `tx`, with its subgroups and every project under them (each as
/// [`delete_project_tx`]), the tokens bound to them, and their memberships and allowlist entries.
pub(crate) async fn delete_group_tx(tx: &mut Write<'_>, id: i64, now: Timestamp) -> StoreResult<(bool, Vec<Change>)> {
    // The group and its descendants, deepest first (their traversal holds `/id/`).
    let mut find = Sql::new("select namespace_id from namespace where kind = 'group' and traversal_ids like ");
    find.text_arg(&format!("%/{id}/%")).push(" order by length(traversal_ids) desc, namespace_id desc");
    let groups = ids(tx, &find).await?;
    if groups.is_empty() {
        return Ok((false, Vec::new()));
    }
    let mut changes = Vec::new();
    let mut projects = Sql::new("select project_id from project where namespace_id in ");
    projects.int_list(&groups);
    for project in ids(tx, &projects).await? {
        changes.extend(delete_project_tx(tx, project, now).await?.1);
    }
    for group in &groups {
        changes.extend(revoke_resource_tokens(tx, MemberSource::Group(*group), now).await?);
        unlink(tx, MemberSource::Group(*group)).await?;
        retire(tx, "namespace", *group).await?;
        let mut sql = Sql::new("delete from namespace where namespace_id = ");
        sql.int(*group);
        sql.query().execute(&mut **tx).await.map_err(db_error)?;
    }
    changes.push(Change::Directory);
    Ok((true, changes))
}
