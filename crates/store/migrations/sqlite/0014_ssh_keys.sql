-- SSH keys: users' own (user_id set) and deploy keys (user_id NULL), one row per key. A fingerprint names one
-- key, so that what an SSH server proved maps to one principal. Ids are never reused.
create table ssh_key (
    ssh_key_id integer primary key autoincrement,
    user_id bigint references app_user (user_id),
    title text not null,
    key_text text not null,
    fingerprint text not null unique,
    bits bigint not null,
    expires_on bigint,
    created_at bigint not null,
    last_used_at bigint
);

create index ssh_key_user on ssh_key (user_id);

-- The projects a deploy key is enabled on, read-only or with push.
create table deploy_key_project (
    ssh_key_id bigint not null references ssh_key (ssh_key_id) on delete cascade,
    project_id bigint not null,
    can_push bigint not null default 0,
    created_at bigint not null,
    primary key (ssh_key_id, project_id)
);

create index deploy_key_project_project on deploy_key_project (project_id);
