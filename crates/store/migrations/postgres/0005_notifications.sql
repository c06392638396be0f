-- Messages to a user about their credentials (`domain::Notification`), read with GET /user/notifications:
-- for now, a token revoked by someone else from the credential inventory.
create table notification (
    notification_id bigserial primary key,
    user_id bigint not null references app_user (user_id),
    kind text not null,
    message text not null,
    created_at bigint not null
);

create index notification_user on notification (user_id, notification_id);
