-- CI/CD: runners, pipelines, jobs, the job-token settings and inbound allowlist of each project, the keys that
-- sign job tokens and ID tokens, and the cross-project accesses job tokens made (for allowlist suggestions).

-- A project's job-token settings (`domain::JobTokenSettings`). Projects that existed before job tokens keep
-- GitLab's earlier behaviour (legacy); new ones get low-privilege tokens.
alter table project add column ci_inbound_enabled bigint not null default 1;
alter table project add column ci_job_token_legacy bigint not null default 0;
alter table project add column ci_push_allowed bigint not null default 0;
update project set ci_job_token_legacy = 1;

-- A runner: it authenticates with a `glrt-` token, of which only the keyed digest is kept.
create table ci_runner (
    runner_id integer primary key,
    token_digest text not null unique,
    description text not null default '',
    runner_type text not null check (runner_type in ('instance_type', 'project_type')),
    project_id bigint references project (project_id) on delete cascade,
    created_by bigint not null references app_user (user_id),
    created_at bigint not null,
    revoked bigint not null default 0
);

create table ci_pipeline (
    pipeline_id integer primary key,
    project_id bigint not null references project (project_id) on delete cascade,
    user_id bigint not null references app_user (user_id),
    ref text not null,
    ref_protected bigint not null,
    created_at bigint not null
);

-- A job (`domain::Job`). `permissions` is the bit set of its job-token policies (`domain::JobPolicies`).
create table ci_job (
    job_id integer primary key,
    pipeline_id bigint not null references ci_pipeline (pipeline_id) on delete cascade,
    project_id bigint not null references project (project_id) on delete cascade,
    user_id bigint not null references app_user (user_id),
    name text not null,
    ref text not null,
    ref_protected bigint not null,
    timeout_s bigint not null,
    status text not null check (status in ('running', 'success', 'failed', 'canceled')),
    permissions bigint not null,
    declared bigint not null,
    legacy bigint not null,
    runner_id bigint references ci_runner (runner_id) on delete set null,
    created_at bigint not null,
    finished_at bigint,
    token_expires_at bigint not null
);

create index ci_job_project on ci_job (project_id, job_id);

-- One entry of a project's inbound job-token allowlist: the project or group whose jobs may come in, and the
-- policies they get (`default_permissions` = not restricted).
create table ci_job_token_allowlist (
    project_id bigint not null references project (project_id) on delete cascade,
    source_kind text not null check (source_kind in ('project', 'group')),
    source_id bigint not null,
    default_permissions bigint not null,
    policies bigint not null,
    added_by bigint not null,
    created_at bigint not null,
    primary key (project_id, source_kind, source_id)
);

create index ci_job_token_allowlist_source on ci_job_token_allowlist (source_kind, source_id);

-- Keys that sign job tokens ('job_token') and ID tokens ('id_token'), never one for both. The private key is
-- sealed (AES-256-GCM under a key derived from the server secret); a retired key signs nothing and its public
-- half stays published until `publish_until`, when every token it signed has expired.
create table ci_signing_key (
    kid text primary key,
    purpose text not null check (purpose in ('job_token', 'id_token')),
    algorithm text not null,
    sealed_key text not null,
    public_jwk text not null,
    created_at bigint not null,
    retired_at bigint,
    publish_until bigint
);

-- Cross-project uses of job tokens: which policies jobs of a project exercised on another project.
create table ci_job_token_access (
    source_project_id bigint not null references project (project_id) on delete cascade,
    target_project_id bigint not null references project (project_id) on delete cascade,
    policies bigint not null,
    first_used_at bigint not null,
    last_used_at bigint not null,
    uses bigint not null,
    primary key (source_project_id, target_project_id)
);
