-- What each token exercised (`domain::TokenUsage`): one row per (assignable permission, boundary) pair, with its
-- first and last use and how many uses; written in batches off the request path.
create table token_usage (
    token_id bigint not null references personal_access_token (token_id) on delete cascade,
    permission text not null,
    boundary text not null,
    first_used_at bigint not null,
    last_used_at bigint not null,
    uses bigint not null,
    primary key (token_id, permission, boundary)
);
