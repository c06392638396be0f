//! A decision's facts in one statement (see `authority::DecisionStore`). On PostgreSQL every read is a round
//! trip to the server, and the reads a decision makes on a miss depend on each other in a chain of three (the
//! token or the CI job, then its user and the memberships; the project, then its top-level group); this asks for
//! all of them at once. Each record keeps its own columns and mapping: the statement is the union of one branch
//! per record, each row a `part` naming the record and the record as a JSON object, read by column name as a row
//! is. On SQLite a read is this thread's own work, and the records are read one by one.
//!
//! **Invariant:** the statement answers what the single reads answer for the same keys (the contract tests run
//! both on both backends); values are bound as parameters, never spliced into the text.

use std::sync::OnceLock;

use async_trait::async_trait;
use authority::{Asked, DecisionStore, Found, ResourceKey, StoreResult, TokenKey, one_by_one};
use domain::{Group, Job, Member, MemberSource, Project, Token, User};
use sqlx::any::AnyRow;

use crate::jobs::JOB_COLUMNS;
use crate::members::MEMBER_COLUMNS;
use crate::namespaces::{GROUP_COLUMNS, PROJECT_COLUMNS, PROJECT_FROM};
use crate::rows::{FromRow, JsonRecord, SettingRow, bad, get};
use crate::settings::settings_of;
use crate::sql::Sql;
use crate::tokens::TOKEN_COLUMNS;
use crate::users::USER_COLUMNS;
use crate::{Backend, SqlStore};

#[async_trait]
impl DecisionStore for SqlStore {
    async fn decision_facts(&self, asked: &Asked<'_>) -> StoreResult<Found> {
        match self.backend {
            Backend::Sqlite => one_by_one(self, asked).await,
            Backend::Postgres => {
                let rows = self.fetch_all(&statement(asked)).await?;
                found_in(&rows)
            }
        }
    }
}

/// The one statement: the records asked about first (`d`, the day; `t`, the token; `j`, the job; `pr`, the
/// project; `gr`, the group; `tr`, the traversal ids of whichever was found), then the branches, whose text is
/// always the same.
fn statement(asked: &Asked<'_>) -> Sql {
    let mut sql = Sql::new("with d as (select cast(");
    sql.int(asked.today.days()).push(" as bigint) as today), t as (select ");
    sql.push(TOKEN_COLUMNS).push(" from personal_access_token where ");
    match asked.token {
        Some(TokenKey::Digests(digests)) => sql.push("token_digest in ").text_list(digests),
        Some(TokenKey::Id(id)) => sql.push("token_id = ").int(id),
        Some(TokenKey::Job(_)) | None => sql.push("1 = 0"),
    };
    // At most one, as the single read takes the first: the user and memberships are asked of its user id (or of
    // the job's, `j`).
    sql.push(" limit 1), j as (select ").push(JOB_COLUMNS).push(" from ci_job where ");
    match asked.token {
        Some(TokenKey::Job(id)) => sql.push("job_id = ").int(id),
        _ => sql.push("1 = 0"),
    };
    sql.push("), pr as (select ").push(PROJECT_COLUMNS).push(" ").push(PROJECT_FROM).push(" where ");
    match asked.resource {
        Some(ResourceKey::ProjectId(id)) => sql.push("p.project_id = ").int(id),
        Some(ResourceKey::ProjectPath(path)) => sql.push("p.full_path_lower = ").text_arg(&path.to_lowercase()),
        _ => sql.push("1 = 0"),
    };
    sql.push("), gr as (select ").push(GROUP_COLUMNS).push(" from namespace where kind = 'group' and ");
    match asked.resource {
        Some(ResourceKey::GroupId(id)) => sql.push("namespace_id = ").int(id),
        Some(ResourceKey::GroupPath(path)) => sql.push("full_path_lower = ").text_arg(&path.to_lowercase()),
        _ => sql.push("1 = 0"),
    };
    sql.push(
        "), tr as (select namespace_traversal_ids as ids from pr where namespace_kind = 'group' \
         union all select traversal_ids from gr) ",
    );
    static BRANCHES: OnceLock<String> = OnceLock::new();
    sql.push(BRANCHES.get_or_init(branches));
    sql
}

/// The statement's branches, one per part: each row is a part's name and its record as a JSON object. The user is
/// the token's or the job's (at most one of them is asked).
fn branches() -> String {
    let user = "coalesce((select user_id from t), (select user_id from j))";
    format!(
        "select 't' as part, cast(row_to_json(t) as text) as record from t \
         union all select 'j', cast(row_to_json(j) as text) from j \
         union all select 'q', cast(row_to_json(q) as text) from (select {PROJECT_COLUMNS} {PROJECT_FROM} \
             where p.project_id = (select project_id from j)) q \
         union all select 'u', cast(row_to_json(u) as text) from (select {USER_COLUMNS} from app_user \
             where user_id = {user}) u \
         union all select 'p', cast(row_to_json(pr) as text) from pr \
         union all select 'g', cast(row_to_json(gr) as text) from gr \
         union all select 'r', cast(row_to_json(r) as text) from (select {GROUP_COLUMNS} from namespace \
             where kind = 'group' \
             and namespace_id = cast(nullif(split_part((select ids from tr), '/', 2), '') as bigint) \
             and namespace_id <> coalesce((select namespace_id from gr), 0)) r \
         union all select 'm', cast(row_to_json(m) as text) from (select {MEMBER_COLUMNS} from member \
             where user_id = {user} \
             and (expires_on is null or expires_on > (select today from d)) \
             and ((source_kind = 'project' and source_id = (select project_id from pr)) \
             or (source_kind = 'group' and source_id = any(cast(string_to_array(trim(both '/' from \
                 (select ids from tr)), '/') as bigint[]))))) m \
         union all select 's', cast(row_to_json(s) as text) from (select name, value from setting) s"
    )
}

/// The facts the statement's rows hold.
fn found_in(rows: &[AnyRow]) -> StoreResult<Found> {
    let mut found = Found::default();
    let mut members = Vec::new();
    let mut settings = Vec::new();
    for row in rows {
        let part: String = get(row, "part")?;
        let record: String = get(row, "record")?;
        let record = serde_json::from_str(&record).map(JsonRecord).map_err(|_| bad("record", &part))?;
        match part.as_str() {
            "t" => found.token = Some(Token::from_row(&record)?),
            "j" => found.job = Some(Job::from_row(&record)?),
            "q" => found.job_project = Some(Project::from_row(&record)?),
            "u" => found.user = Some(User::from_row(&record)?),
            "p" => found.project = Some(Project::from_row(&record)?),
            "g" => found.group = Some(Group::from_row(&record)?),
            "r" => found.root = Some(Group::from_row(&record)?),
            "m" => members.push(Member::from_row(&record)?),
            "s" => settings.push(SettingRow::from_row(&record)?),
            other => return Err(bad("part of a decision's facts", other)),
        }
    }
    // Only the resource's own sources (the statement names the groups by the traversal ids' text).
    // Memberships are the user's: none without a user found.
    let sources: Vec<MemberSource> = match &found.user {
        Some(_) => found.member_sources().collect(),
        None => Vec::new(),
    };
    found.levels =
        members.into_iter().filter(|m| sources.contains(&m.source)).map(|m| (m.source, m.access_level)).collect();
    found.settings = settings_of(&settings);
    Ok(found)
}
