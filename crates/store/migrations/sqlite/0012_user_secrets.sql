-- Users' feed tokens ('feed_token') and incoming-email tokens ('incoming_email_token'): one of each per user,
-- replaced by a reset (the old row goes). Only the keyed digest of a token is stored.
-- Ids are never reused (`autoincrement`): a deleted row's id must not name a new token that a cache still
-- remembers a presented string by.
create table user_secret (
    user_secret_id integer primary key autoincrement,
    user_id bigint not null references app_user (user_id),
    kind text not null check (kind in ('feed_token', 'incoming_email_token')),
    token_digest text not null unique,
    expires_on bigint,
    created_at bigint not null,
    last_used_at bigint,
    unique (user_id, kind)
);
