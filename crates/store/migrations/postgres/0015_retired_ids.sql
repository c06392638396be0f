-- The highest id a deleted row of a table had. SQLite gives a new row the highest id in use plus one, so without
-- this a new project could take a deleted project's id and, with it, what fine-grained grants and route rules
-- still name by that id. PostgreSQL's sequences never reuse an id; the table is kept on both for one schema.
create table retired_id (
    name text primary key,
    floor bigint not null
);
