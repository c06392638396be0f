//! Memberships and the levels they give, the hot path's one multi-row read.
//!
//! **Invariant:** a membership is unique per source and user; an upsert replaces its level.

use async_trait::async_trait;
use authority::{Change, MemberStore, Page, StoreResult};
use domain::{AccessLevel, Date, Member, MemberSource};

use crate::SqlStore;
use crate::rows::*;
use crate::sql::{Arg, Sql};

pub(crate) const MEMBER_COLUMNS: &str =
    "source_kind, source_id, user_id, access_level, expires_on, created_by, created_at";

#[async_trait]
impl MemberStore for SqlStore {
    async fn upsert_member(&self, member: &Member) -> StoreResult<()> {
        let (kind, id) = source_args(member.source);
        let mut sql = Sql::new(
            "insert into member (source_kind, source_id, user_id, access_level, expires_on, created_by, created_at) values (",
        );
        sql.text_arg(kind)
            .push(", ")
            .int(id)
            .push(", ")
            .int(member.user_id)
            .push(", ")
            .int(member.access_level.value());
        sql.push(", ")
            .arg(Arg::OptInt(member.expires_at.map(Date::days)))
            .push(", ")
            .arg(Arg::OptInt(member.created_by));
        sql.push(", ").int(member.created_at.millis());
        sql.push(") on conflict (source_kind, source_id, user_id) do update set access_level = excluded.access_level, expires_on = excluded.expires_on");
        self.execute(&sql, &[Change::Directory]).await?;
        Ok(())
    }

    async fn member(&self, source: MemberSource, user_id: i64) -> StoreResult<Option<Member>> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new(&format!("select {MEMBER_COLUMNS} from member where source_kind = "));
        sql.text_arg(kind).push(" and source_id = ").int(id).push(" and user_id = ").int(user_id);
        self.fetch_optional(&sql).await?.as_ref().map(member_from_row).transpose()
    }

    async fn list_members(
        &self,
        sources: &[MemberSource],
        highest_per_user: bool,
        page: Page,
    ) -> StoreResult<(Vec<Member>, i64)> {
        let mut sql = Sql::new(if highest_per_user {
            "from (select *, row_number() over (partition by user_id order by access_level desc, source_kind, \
             source_id) as pick from member where (1 = 0"
        } else {
            "from member where (1 = 0"
        });
        for source in sources {
            let (kind, id) = source_args(*source);
            sql.push(" or (source_kind = ").text_arg(kind).push(" and source_id = ").int(id).push(")");
        }
        sql.push(if highest_per_user { ")) ranked where pick = 1" } else { ")" });
        self.page_of(&sql, MEMBER_COLUMNS, "user_id asc, access_level desc", page, member_from_row).await
    }

    async fn delete_member(&self, source: MemberSource, user_id: i64) -> StoreResult<bool> {
        let (kind, id) = source_args(source);
        let mut sql = Sql::new("delete from member where source_kind = ");
        sql.text_arg(kind).push(" and source_id = ").int(id).push(" and user_id = ").int(user_id);
        let done = self.execute(&sql, &[Change::Directory]).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn member_levels(
        &self,
        user_id: i64,
        sources: &[MemberSource],
        today: Date,
    ) -> StoreResult<Vec<(MemberSource, AccessLevel)>> {
        let mut sql = Sql::new(&format!("select {MEMBER_COLUMNS} from member where user_id = "));
        sql.int(user_id).push(" and (expires_on is null or expires_on > ").int(today.days()).push(") and (1 = 0");
        for source in sources {
            let (kind, id) = source_args(*source);
            sql.push(" or (source_kind = ").text_arg(kind).push(" and source_id = ").int(id).push(")");
        }
        sql.push(")");
        let members: Vec<Member> = self.points(&sql).await?;
        Ok(members.into_iter().map(|m| (m.source, m.access_level)).collect())
    }
}
