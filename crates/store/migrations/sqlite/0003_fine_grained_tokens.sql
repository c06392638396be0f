-- A fine-grained token's grants (scopes `granular`): one per line, `access target permission,permission…`,
-- as `domain::Grant::to_stored` writes them. Empty for every other token.
alter table personal_access_token add column grants text not null default '';
-- Allowlist rules (`METHODS PATH`), one per line, as `policy::RouteRule` normalises them; empty for none.
alter table personal_access_token add column route_rules text not null default '';
