-- Every change to a fact that nodes cache is announced on the channel `tessera_changes` by the transaction that
-- makes it. PostgreSQL delivers a NOTIFY when, and only if, its transaction commits: no write can commit without
-- its announcement, whoever makes it (a Tessera node, a migration, an operator's SQL). The payloads are those of
-- `authority::Change`: `t:<token id>`, `u:<user id>`, `d` (groups, projects, memberships), `s` (settings).

create function tessera_announce_row() returns trigger language plpgsql as $$
declare
    changed jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
begin
    perform pg_notify('tessera_changes', tg_argv[0] || ':' || (changed ->> tg_argv[1]));
    return null;
end
$$;

create function tessera_announce() returns trigger language plpgsql as $$
begin
    perform pg_notify('tessera_changes', tg_argv[0]);
    return null;
end
$$;

-- Usage bookkeeping (`last_used_at`, `last_used_ips`) is no decision fact: updates of those alone stay quiet.
create trigger personal_access_token_changed after insert or delete on personal_access_token
    for each row execute function tessera_announce_row('t', 'token_id');
create trigger personal_access_token_updated
    after update of user_id, name, description, token_digest, scopes, impersonation, revoked, revoked_at, expires_on,
        created_at, updated_at, previous_token_id, organization_id
    on personal_access_token
    for each row execute function tessera_announce_row('t', 'token_id');

create trigger app_user_changed after insert or update or delete on app_user
    for each row execute function tessera_announce_row('u', 'user_id');

create trigger namespace_changed after insert or update or delete or truncate on namespace
    for each statement execute function tessera_announce('d');
create trigger project_changed after insert or update or delete or truncate on project
    for each statement execute function tessera_announce('d');
create trigger member_changed after insert or update or delete or truncate on member
    for each statement execute function tessera_announce('d');

create trigger setting_changed after insert or update or delete or truncate on setting
    for each statement execute function tessera_announce('s');
