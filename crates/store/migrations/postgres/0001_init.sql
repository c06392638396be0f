-- Tessera's first schema: organizations, users, namespaces (user and group), projects, members,
-- personal access tokens, instance settings and the audit log.
-- Times are milliseconds since the Unix epoch; dates are days since 1970-01-01; flags are 0 or 1.
-- The PostgreSQL migration of the same name has the same tables and columns.

create table organization (
    organization_id bigserial primary key,
    name text not null,
    path text not null unique,
    created_at bigint not null
);

insert into organization (organization_id, name, path, created_at) values (1, 'Default', 'default', 0);
select setval('organization_organization_id_seq', 1);

-- A namespace is a user's personal namespace (kind 'user') or a group (kind 'group').
create table namespace (
    namespace_id bigserial primary key,
    kind text not null check (kind in ('user', 'group')),
    name text not null,
    path text not null,
    full_path text not null,
    full_path_lower text not null unique,
    full_name text not null,
    description text not null default '',
    visibility text not null default 'private',
    parent_id bigint references namespace (namespace_id),
    -- ancestors root first, then itself, as '/1/5/9/'
    traversal_ids text not null default '',
    organization_id bigint not null references organization (organization_id),
    created_at bigint not null
);

create table app_user (
    user_id bigserial primary key,
    username text not null,
    username_lower text not null unique,
    email text not null,
    email_lower text not null unique,
    name text not null,
    password_hash text,
    state text not null default 'active',
    is_admin bigint not null default 0,
    user_type text not null default 'human',
    bio text not null default '',
    public_email text,
    can_create_group bigint not null default 1,
    external bigint not null default 0,
    namespace_id bigint not null references namespace (namespace_id),
    organization_id bigint not null references organization (organization_id),
    created_at bigint not null,
    updated_at bigint not null
);

create table project (
    project_id bigserial primary key,
    namespace_id bigint not null references namespace (namespace_id),
    name text not null,
    path text not null,
    full_path text not null,
    full_path_lower text not null unique,
    full_name text not null,
    description text not null default '',
    visibility text not null default 'private',
    organization_id bigint not null references organization (organization_id),
    creator_id bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

-- A membership of a user in a group ('group') or a project ('project').
create table member (
    member_id bigserial primary key,
    source_kind text not null check (source_kind in ('group', 'project')),
    source_id bigint not null,
    user_id bigint not null references app_user (user_id),
    access_level bigint not null,
    expires_on bigint,
    created_by bigint,
    created_at bigint not null,
    unique (source_kind, source_id, user_id)
);

create index member_user on member (user_id);

-- Personal and impersonation access tokens. Only the keyed digest of a token is stored.
create table personal_access_token (
    token_id bigserial primary key,
    user_id bigint not null references app_user (user_id),
    name text not null,
    description text not null default '',
    token_digest text not null unique,
    scopes text not null,
    impersonation bigint not null default 0,
    revoked bigint not null default 0,
    revoked_at bigint,
    expires_on bigint,
    created_at bigint not null,
    updated_at bigint not null,
    last_used_at bigint,
    -- up to five most recent distinct client addresses, comma-separated
    last_used_ips text not null default '',
    previous_token_id bigint references personal_access_token (token_id),
    organization_id bigint not null references organization (organization_id)
);

create index personal_access_token_user on personal_access_token (user_id);
create index personal_access_token_previous on personal_access_token (previous_token_id);

-- Instance settings as name → JSON value.
create table setting (
    name text primary key,
    value text not null
);

-- Append-only audit log. Never holds a secret.
create table audit_event (
    audit_event_id bigserial primary key,
    author_id bigint,
    entity_type text not null,
    entity_id bigint not null,
    event_name text not null,
    details text not null,
    ip_address text,
    created_at bigint not null
);

create index audit_event_created on audit_event (created_at);
