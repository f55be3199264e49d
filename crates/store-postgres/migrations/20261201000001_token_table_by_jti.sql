-- Only the purge read this index, and every token paid for it in the write and the WAL. The
-- purge runs every five minutes in the background, where a sequential scan costs nobody a wait
-- (the SQLite migration of the same name rebuilds its token table for the same reason).
drop index access_tokens_by_expiry;
