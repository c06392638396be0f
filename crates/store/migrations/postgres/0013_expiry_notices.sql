-- Expiry notices: one row per credential and window (GitLab's sixty_days, thirty_days, seven_days), claimed by
-- the node that inserts it (the unique key makes every other node's insert a no-op), with what its e-mail says
-- and how far the e-mail has gone, so that a failed delivery is tried again by any node.
create table expiry_notice (
    expiry_notice_id bigserial primary key,
    credential_kind text not null,
    credential_id bigint not null,
    notice_window text not null,
    recipients text not null,
    subject text not null,
    body text not null,
    email_state text not null default 'pending',
    attempts bigint not null default 0,
    claimed_at bigint not null,
    unique (credential_kind, credential_id, notice_window)
);

create index expiry_notice_pending on expiry_notice (email_state, claimed_at);
