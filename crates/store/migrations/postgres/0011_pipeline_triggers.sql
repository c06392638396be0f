-- Pipeline triggers of projects: a glptt- token runs pipelines of its project as its owner. Only the keyed digest
-- of a token is stored; deleting a trigger deletes its row, as in GitLab.
create table pipeline_trigger (
    trigger_id bigserial primary key,
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

-- A trigger is a decision fact that nodes cache: every change but its last use is announced.
create trigger pipeline_trigger_changed after insert or delete on pipeline_trigger
    for each row execute function tessera_announce_row('tr', 'trigger_id');
create trigger pipeline_trigger_updated
    after update of project_id, owner_id, description, token_digest, expires_on, organization_id
    on pipeline_trigger
    for each row execute function tessera_announce_row('tr', 'trigger_id');
