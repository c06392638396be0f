-- Pipeline triggers of projects: a glptt- token runs pipelines of its project as its owner. Only the keyed digest
-- of a token is stored; deleting a trigger deletes its row, as in GitLab.
-- Ids are never reused (`autoincrement`): a deleted row's id must not name a new token that a cache still
-- remembers a presented string by.
create table pipeline_trigger (
    trigger_id integer primary key autoincrement,
    project_id bigint not null,
    owner_id bigint not null references app_user (user_id),
    description text not null default '',
    token_digest text not null unique,
    expires_on bigint,
    created_at bigint not null,
    updated_at bigint not null,
    last_used_at bigint,
    organization_id bigint not null references organization (organization_id)
);

create index pipeline_trigger_project on pipeline_trigger (project_id);
