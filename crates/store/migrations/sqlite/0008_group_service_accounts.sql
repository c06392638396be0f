-- Service accounts provisioned by a top-level group (`POST /groups/:id/service_accounts`): its owners manage them
-- and their tokens. NULL for every other user, and for instance-wide service accounts.
alter table app_user add column provisioned_by_group_id bigint references namespace (namespace_id) on delete set null;
