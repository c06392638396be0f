-- On PostgreSQL this migration makes every write announce itself to the other nodes. A SQLite database has one
-- Tessera process (`ExclusiveUse`), which forgets what its own writes change: there is no one to tell.
select 1;
