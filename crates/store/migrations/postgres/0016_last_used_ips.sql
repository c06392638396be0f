-- The last client addresses (up to five, newest first, comma-separated) of deploy tokens, triggers and users'
-- feed and incoming-email tokens, as personal access tokens keep theirs.
alter table deploy_token add column last_used_ips text not null default '';
alter table pipeline_trigger add column last_used_ips text not null default '';
alter table user_secret add column last_used_ips text not null default '';
