-- A fine-grained token's grants (scopes `granular`): one per line, `access target permission,permission…`,
-- as `domain::Grant::to_stored` writes them. Empty for every other token.
alter table personal_access_token add column grants text not null default '';
-- Allowlist rules (`METHODS PATH`), one per line, as `policy::RouteRule` normalises them; empty for none.
alter table personal_access_token add column route_rules text not null default '';

-- A change of grants is a decision fact: announce it like the other columns.
drop trigger personal_access_token_updated on personal_access_token;
create trigger personal_access_token_updated
    after update of user_id, name, description, token_digest, scopes, impersonation, revoked, revoked_at, expires_on,
        created_at, updated_at, previous_token_id, organization_id, grants, route_rules
    on personal_access_token
    for each row execute function tessera_announce_row('t', 'token_id');
