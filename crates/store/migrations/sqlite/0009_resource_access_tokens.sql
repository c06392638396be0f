-- Project and group access tokens: the token of a bot user that is a member of one project ('project') or one
-- group ('group'). Both columns are NULL for every other token. Set at insertion and never changed, so that a
-- token reaches nothing outside its resource even if its bot were ever made a member elsewhere.
alter table personal_access_token add column resource_kind text check (resource_kind in ('project', 'group'));
alter table personal_access_token add column resource_id bigint;

create index personal_access_token_resource on personal_access_token (resource_kind, resource_id);
