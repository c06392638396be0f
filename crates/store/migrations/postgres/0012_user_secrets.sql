-- Users' feed tokens ('feed_token') and incoming-email tokens ('incoming_email_token'): one of each per user,
-- replaced by a reset (the old row goes). Only the keyed digest of a token is stored.
create table user_secret (
    user_secret_id bigserial primary key,
    user_id bigint not null references app_user (user_id),
    kind text not null check (kind in ('feed_token', 'incoming_email_token')),
    token_digest text not null unique,
    expires_on bigint,
    created_at bigint not null,
    last_used_at bigint,
    unique (user_id, kind)
);

-- A user's secret is a decision fact that nodes cache: its creation and removal are announced.
create trigger user_secret_changed after insert or delete on user_secret
    for each row execute function tessera_announce_row('us', 'user_secret_id');
create trigger user_secret_updated after update of user_id, kind, token_digest, expires_on on user_secret
    for each row execute function tessera_announce_row('us', 'user_secret_id');
