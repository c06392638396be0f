-- Deploy tokens of a project ('project') or a group ('group'): no user, Git reads and the registries only.
-- Only the keyed digest of a token is stored.
create table deploy_token (
    deploy_token_id integer primary key,
    resource_kind text not null check (resource_kind in ('project', 'group')),
    resource_id bigint not null,
    name text not null,
    username text not null,
    token_digest text not null unique,
    scopes text not null,
    expires_on bigint,
    revoked bigint not null default 0,
    revoked_at bigint,
    created_at bigint not null,
    creator_id bigint,
    organization_id bigint not null references organization (organization_id),
    last_used_at bigint
);

create index deploy_token_resource on deploy_token (resource_kind, resource_id);
