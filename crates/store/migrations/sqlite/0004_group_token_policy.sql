-- What a top-level group's owners require of tokens used on its hierarchy (`domain::GroupTokenPolicy`): legacy
-- tokens refused (those created after an optional date, in days since 1970-01-01, only) and a maximum token
-- lifetime in days. Only top-level groups carry them.
alter table namespace add column fine_grained_tokens_only bigint not null default 0;
alter table namespace add column fine_grained_tokens_only_after bigint;
alter table namespace add column max_personal_access_token_lifetime bigint;
