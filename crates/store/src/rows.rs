//! Rows to domain values, one function per record, shared by the sqlx path and the in-thread point reads.
//!
//! **Invariant:** stored text that does not parse is an error, never a default that widens access.

use authority::{StoreError, StoreResult};
use domain::{
    AccessLevel, AuditEvent, Date, DeployToken, Grant, Group, GroupTokenPolicy, Member, MemberSource, NewAuditEvent,
    Notification, Organization, Project, Scopes, Timestamp, Token, TokenUsage, UsageBoundary, User, UserSecret,
    UserState, UserType, Visibility,
};
use domain::{
    AllowlistEntry, AllowlistSource, Job, JobPolicies, JobStatus, JobTokenAccess, JobTokenMode, JobTokenSettings,
    KeyPurpose, Pipeline, PipelineTrigger, Runner, RunnerType, StoredKey,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::db_error;

/// A value both drivers read from a column: integers, text and their optional forms.
pub trait Column: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql {}

impl<T> Column for T where T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql {}

/// A row of either driver, read by column name, so that one mapping serves both.
pub trait Columns {
    fn column<T: Column>(&self, name: &str) -> StoreResult<T>;
}

impl Columns for AnyRow {
    fn column<T: Column>(&self, name: &str) -> StoreResult<T> {
        self.try_get::<T, _>(name).map_err(db_error)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn column<T: Column>(&self, name: &str) -> StoreResult<T> {
        rusqlite::Row::get::<_, T>(self, name).map_err(|e| StoreError::Other(anyhow::Error::new(e)))
    }
}

/// A record read as a JSON object (PostgreSQL's `row_to_json`), by column name as a row is: numbers are integers,
/// strings text, `null` nothing, which is what every stored column is.
pub(crate) struct JsonRecord(pub(crate) serde_json::Map<String, serde_json::Value>);

impl Columns for JsonRecord {
    fn column<T: Column>(&self, name: &str) -> StoreResult<T> {
        use rusqlite::types::ValueRef;
        let value = match self.0.get(name) {
            None => return Err(bad("record's column", name)),
            Some(serde_json::Value::Null) => ValueRef::Null,
            Some(serde_json::Value::Number(n)) => {
                ValueRef::Integer(n.as_i64().ok_or_else(|| bad(name, &n.to_string()))?)
            }
            Some(serde_json::Value::String(s)) => ValueRef::Text(s.as_bytes()),
            Some(other) => return Err(bad(name, &other.to_string())),
        };
        T::column_result(value).map_err(|e| StoreError::Other(anyhow::anyhow!("column {name}: {e}")))
    }
}

pub(crate) fn get<T: Column>(row: &impl Columns, column: &str) -> StoreResult<T> {
    row.column(column)
}

pub(crate) fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!("stored {what} is not valid: {value:?}"))
}

pub(crate) fn time(row: &impl Columns, column: &str) -> StoreResult<Timestamp> {
    get::<i64>(row, column).map(Timestamp::from_millis)
}

pub(crate) fn opt_time(row: &impl Columns, column: &str) -> StoreResult<Option<Timestamp>> {
    get::<Option<i64>>(row, column).map(|v| v.map(Timestamp::from_millis))
}

pub(crate) fn opt_date(row: &impl Columns, column: &str) -> StoreResult<Option<Date>> {
    get::<Option<i64>>(row, column).map(|v| v.map(Date::from_days))
}

pub(crate) fn flag(row: &impl Columns, column: &str) -> StoreResult<bool> {
    get::<i64>(row, column).map(|v| v != 0)
}

fn visibility(row: &impl Columns, column: &str) -> StoreResult<Visibility> {
    let text: String = get(row, column)?;
    Visibility::parse(&text).ok_or_else(|| bad("visibility", &text))
}

pub fn encode_ids(ids: &[i64]) -> String {
    let mut out = String::from("/");
    for id in ids {
        out.push_str(&id.to_string());
        out.push('/');
    }
    out
}

fn decode_ids(text: &str) -> StoreResult<Vec<i64>> {
    text.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().map_err(|_| bad("traversal ids", text)))
        .collect()
}

pub fn organization_from_row(row: &impl Columns) -> StoreResult<Organization> {
    Ok(Organization {
        id: get(row, "organization_id")?,
        name: get(row, "name")?,
        path: get(row, "path")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn user_from_row(row: &impl Columns) -> StoreResult<User> {
    let state: String = get(row, "state")?;
    let user_type: String = get(row, "user_type")?;
    Ok(User {
        id: get(row, "user_id")?,
        username: get(row, "username")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        state: UserState::parse(&state).ok_or_else(|| bad("user state", &state))?,
        is_admin: flag(row, "is_admin")?,
        user_type: UserType::parse(&user_type).ok_or_else(|| bad("user type", &user_type))?,
        bio: get(row, "bio")?,
        public_email: get(row, "public_email")?,
        can_create_group: flag(row, "can_create_group")?,
        external: flag(row, "external")?,
        namespace_id: get(row, "namespace_id")?,
        organization_id: get(row, "organization_id")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        provisioned_by_group_id: get(row, "provisioned_by_group_id")?,
    })
}

pub fn group_from_row(row: &impl Columns) -> StoreResult<Group> {
    let traversal: String = get(row, "traversal_ids")?;
    Ok(Group {
        id: get(row, "namespace_id")?,
        name: get(row, "name")?,
        path: get(row, "path")?,
        full_path: get(row, "full_path")?,
        full_name: get(row, "full_name")?,
        description: get(row, "description")?,
        visibility: visibility(row, "visibility")?,
        parent_id: get(row, "parent_id")?,
        traversal_ids: decode_ids(&traversal)?,
        organization_id: get(row, "organization_id")?,
        created_at: time(row, "created_at")?,
        token_policy: GroupTokenPolicy {
            fine_grained_tokens_only: flag(row, "fine_grained_tokens_only")?,
            fine_grained_tokens_only_after: opt_date(row, "fine_grained_tokens_only_after")?,
            max_personal_access_token_lifetime: get(row, "max_personal_access_token_lifetime")?,
        },
    })
}

pub fn project_from_row(row: &impl Columns) -> StoreResult<Project> {
    let kind: String = get(row, "namespace_kind")?;
    let traversal: String = get(row, "namespace_traversal_ids")?;
    let namespace_id: i64 = get(row, "namespace_id")?;
    let is_group = kind == "group";
    Ok(Project {
        id: get(row, "project_id")?,
        name: get(row, "name")?,
        path: get(row, "path")?,
        full_path: get(row, "full_path")?,
        full_name: get(row, "full_name")?,
        description: get(row, "description")?,
        visibility: visibility(row, "visibility")?,
        namespace_id,
        group_id: is_group.then_some(namespace_id),
        owner_user_id: if is_group { None } else { get(row, "owner_user_id")? },
        group_traversal_ids: if is_group { decode_ids(&traversal)? } else { Vec::new() },
        organization_id: get(row, "organization_id")?,
        creator_id: get(row, "creator_id")?,
        job_token: JobTokenSettings {
            inbound_enabled: flag(row, "ci_inbound_enabled")?,
            legacy: flag(row, "ci_job_token_legacy")?,
            push_allowed: flag(row, "ci_push_allowed")?,
        },
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

pub fn member_from_row(row: &impl Columns) -> StoreResult<Member> {
    let kind: String = get(row, "source_kind")?;
    let id: i64 = get(row, "source_id")?;
    let level: i64 = get(row, "access_level")?;
    Ok(Member {
        source: match kind.as_str() {
            "group" => MemberSource::Group(id),
            "project" => MemberSource::Project(id),
            other => return Err(bad("member source", other)),
        },
        user_id: get(row, "user_id")?,
        access_level: AccessLevel::try_from(level).map_err(|_| bad("access level", &level.to_string()))?,
        expires_at: opt_date(row, "expires_on")?,
        created_at: time(row, "created_at")?,
        created_by: get(row, "created_by")?,
    })
}

pub fn token_from_row(row: &impl Columns) -> StoreResult<Token> {
    let scopes: String = get(row, "scopes")?;
    let grants: String = get(row, "grants")?;
    let rules: String = get(row, "route_rules")?;
    Ok(Token {
        id: get(row, "token_id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        scopes: Scopes::from_stored(&scopes),
        impersonation: flag(row, "impersonation")?,
        revoked: flag(row, "revoked")?,
        revoked_at: opt_time(row, "revoked_at")?,
        expires_at: opt_date(row, "expires_on")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        last_used_ips: ips(row)?,
        previous_token_id: get(row, "previous_token_id")?,
        organization_id: get(row, "organization_id")?,
        grants: Grant::from_stored(&grants),
        route_rules: rules.lines().filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        resource: source_of(get(row, "resource_kind")?, get(row, "resource_id")?)?,
    })
}

/// A membership source as the `kind`, `id` pair of columns stores it.
pub fn source_args(source: MemberSource) -> (&'static str, i64) {
    (source.kind(), source.id())
}

/// A membership source as stored in a `kind`, `id` pair of columns (both NULL: none).
pub(crate) fn source_of(kind: Option<String>, id: Option<i64>) -> StoreResult<Option<MemberSource>> {
    match (kind.as_deref(), id) {
        (None, None) => Ok(None),
        (Some("project"), Some(id)) => Ok(Some(MemberSource::Project(id))),
        (Some("group"), Some(id)) => Ok(Some(MemberSource::Group(id))),
        (kind, _) => Err(bad("token resource", kind.unwrap_or("NULL"))),
    }
}

pub fn usage_from_row(row: &impl Columns) -> StoreResult<TokenUsage> {
    let boundary: String = get(row, "boundary")?;
    Ok(TokenUsage {
        token_id: get(row, "token_id")?,
        permission: get(row, "permission")?,
        boundary: UsageBoundary::from_stored(&boundary).ok_or_else(|| bad("usage boundary", &boundary))?,
        first_used_at: time(row, "first_used_at")?,
        last_used_at: time(row, "last_used_at")?,
        uses: get(row, "uses")?,
    })
}

pub fn notification_from_row(row: &impl Columns) -> StoreResult<Notification> {
    Ok(Notification {
        id: get(row, "notification_id")?,
        user_id: get(row, "user_id")?,
        kind: get(row, "kind")?,
        message: get(row, "message")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn audit_from_row(row: &impl Columns) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: get(row, "audit_event_id")?,
        event: NewAuditEvent {
            author_id: get(row, "author_id")?,
            entity_type: get(row, "entity_type")?,
            entity_id: get(row, "entity_id")?,
            event_name: get(row, "event_name")?,
            details: get(row, "details")?,
            ip_address: get(row, "ip_address")?,
            created_at: time(row, "created_at")?,
        },
    })
}

/// A value read from one row, by either driver.
pub trait FromRow: Sized {
    fn from_row(row: &impl Columns) -> StoreResult<Self>;
}

impl FromRow for User {
    fn from_row(row: &impl Columns) -> StoreResult<User> {
        user_from_row(row)
    }
}

impl FromRow for Group {
    fn from_row(row: &impl Columns) -> StoreResult<Group> {
        group_from_row(row)
    }
}

impl FromRow for Project {
    fn from_row(row: &impl Columns) -> StoreResult<Project> {
        project_from_row(row)
    }
}

impl FromRow for Member {
    fn from_row(row: &impl Columns) -> StoreResult<Member> {
        member_from_row(row)
    }
}

pub fn deploy_token_from_row(row: &impl Columns) -> StoreResult<DeployToken> {
    let scopes: String = get(row, "scopes")?;
    let kind: String = get(row, "resource_kind")?;
    Ok(DeployToken {
        id: get(row, "deploy_token_id")?,
        resource: source_of(Some(kind), get(row, "resource_id")?)?
            .ok_or_else(|| bad("deploy token resource", "NULL"))?,
        name: get(row, "name")?,
        username: get(row, "username")?,
        scopes: Scopes::from_stored(&scopes),
        expires_at: opt_date(row, "expires_on")?,
        revoked: flag(row, "revoked")?,
        revoked_at: opt_time(row, "revoked_at")?,
        created_at: time(row, "created_at")?,
        creator_id: get(row, "creator_id")?,
        organization_id: get(row, "organization_id")?,
        last_used_at: opt_time(row, "last_used_at")?,
        last_used_ips: ips(row)?,
    })
}

/// A `last_used_ips` column: comma-separated, newest first.
fn ips(row: &impl Columns) -> StoreResult<Vec<String>> {
    let text: String = get(row, "last_used_ips")?;
    Ok(text.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

impl FromRow for DeployToken {
    fn from_row(row: &impl Columns) -> StoreResult<DeployToken> {
        deploy_token_from_row(row)
    }
}

impl FromRow for Token {
    fn from_row(row: &impl Columns) -> StoreResult<Token> {
        token_from_row(row)
    }
}

/// One stored setting: `name`, `value`.
pub struct SettingRow {
    pub name: String,
    pub value: String,
}

impl FromRow for SettingRow {
    fn from_row(row: &impl Columns) -> StoreResult<SettingRow> {
        Ok(SettingRow { name: get(row, "name")?, value: get(row, "value")? })
    }
}

fn policies(row: &impl Columns, column: &str) -> StoreResult<JobPolicies> {
    let bits: i64 = get(row, column)?;
    let bits = u32::try_from(bits).map_err(|_| bad("job token policies", &bits.to_string()))?;
    Ok(JobPolicies::from_bits(bits))
}

pub fn runner_from_row(row: &impl Columns) -> StoreResult<Runner> {
    let kind: String = get(row, "runner_type")?;
    let project: Option<i64> = get(row, "project_id")?;
    let runner_type = match (kind.as_str(), project) {
        ("instance_type", _) => RunnerType::Instance,
        ("project_type", Some(id)) => RunnerType::Project(id),
        _ => return Err(bad("runner type", &kind)),
    };
    Ok(Runner {
        id: get(row, "runner_id")?,
        description: get(row, "description")?,
        runner_type,
        created_by: get(row, "created_by")?,
        created_at: time(row, "created_at")?,
        revoked: flag(row, "revoked")?,
    })
}

pub fn pipeline_from_row(row: &impl Columns) -> StoreResult<Pipeline> {
    Ok(Pipeline {
        id: get(row, "pipeline_id")?,
        project_id: get(row, "project_id")?,
        user_id: get(row, "user_id")?,
        git_ref: get(row, "ref")?,
        ref_protected: flag(row, "ref_protected")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn job_from_row(row: &impl Columns) -> StoreResult<Job> {
    let status: String = get(row, "status")?;
    Ok(Job {
        id: get(row, "job_id")?,
        pipeline_id: get(row, "pipeline_id")?,
        project_id: get(row, "project_id")?,
        user_id: get(row, "user_id")?,
        name: get(row, "name")?,
        git_ref: get(row, "ref")?,
        ref_protected: flag(row, "ref_protected")?,
        timeout_s: get(row, "timeout_s")?,
        status: JobStatus::parse(&status).ok_or_else(|| bad("job status", &status))?,
        permissions: policies(row, "permissions")?,
        declared: flag(row, "declared")?,
        mode: if flag(row, "legacy")? { JobTokenMode::Legacy } else { JobTokenMode::LowPrivilege },
        runner_id: get(row, "runner_id")?,
        created_at: time(row, "created_at")?,
        finished_at: opt_time(row, "finished_at")?,
        token_expires_at: time(row, "token_expires_at")?,
    })
}

pub fn allowlist_from_row(row: &impl Columns) -> StoreResult<AllowlistEntry> {
    let kind: String = get(row, "source_kind")?;
    let id: i64 = get(row, "source_id")?;
    let source = match kind.as_str() {
        "project" => AllowlistSource::Project(id),
        "group" => AllowlistSource::Group(id),
        other => return Err(bad("allowlist source", other)),
    };
    Ok(AllowlistEntry {
        project_id: get(row, "project_id")?,
        source,
        default_permissions: flag(row, "default_permissions")?,
        policies: policies(row, "policies")?,
        added_by: get(row, "added_by")?,
        created_at: time(row, "created_at")?,
    })
}

pub fn key_from_row(row: &impl Columns) -> StoreResult<StoredKey> {
    let purpose: String = get(row, "purpose")?;
    Ok(StoredKey {
        kid: get(row, "kid")?,
        purpose: KeyPurpose::parse(&purpose).ok_or_else(|| bad("key purpose", &purpose))?,
        algorithm: get(row, "algorithm")?,
        sealed_key: get(row, "sealed_key")?,
        public_jwk: get(row, "public_jwk")?,
        created_at: time(row, "created_at")?,
        retired_at: opt_time(row, "retired_at")?,
        publish_until: opt_time(row, "publish_until")?,
    })
}

pub fn access_from_row(row: &impl Columns) -> StoreResult<JobTokenAccess> {
    Ok(JobTokenAccess {
        source_project_id: get(row, "source_project_id")?,
        target_project_id: get(row, "target_project_id")?,
        policies: policies(row, "policies")?,
        first_used_at: time(row, "first_used_at")?,
        last_used_at: time(row, "last_used_at")?,
        uses: get(row, "uses")?,
    })
}

pub fn trigger_from_row(row: &impl Columns) -> StoreResult<PipelineTrigger> {
    Ok(PipelineTrigger {
        id: get(row, "trigger_id")?,
        project_id: get(row, "project_id")?,
        owner_id: get(row, "owner_id")?,
        description: get(row, "description")?,
        expires_at: opt_date(row, "expires_on")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        last_used_ips: ips(row)?,
        organization_id: get(row, "organization_id")?,
    })
}

impl FromRow for PipelineTrigger {
    fn from_row(row: &impl Columns) -> StoreResult<PipelineTrigger> {
        trigger_from_row(row)
    }
}

pub fn user_secret_from_row(row: &impl Columns) -> StoreResult<UserSecret> {
    let kind: String = get(row, "kind")?;
    Ok(UserSecret {
        id: get(row, "user_secret_id")?,
        user_id: get(row, "user_id")?,
        kind: domain::CredentialKind::parse(&kind)
            .filter(|k| UserSecret::body_of(*k).is_some())
            .ok_or_else(|| bad("user secret kind", &kind))?,
        expires_at: opt_date(row, "expires_on")?,
        created_at: time(row, "created_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        last_used_ips: ips(row)?,
    })
}

impl FromRow for UserSecret {
    fn from_row(row: &impl Columns) -> StoreResult<UserSecret> {
        user_secret_from_row(row)
    }
}

impl FromRow for Job {
    fn from_row(row: &impl Columns) -> StoreResult<Job> {
        job_from_row(row)
    }
}

impl FromRow for AllowlistEntry {
    fn from_row(row: &impl Columns) -> StoreResult<AllowlistEntry> {
        allowlist_from_row(row)
    }
}
