-- SQLite's live index now covers the cap's read (see its migration of the same name). Here
-- nothing changes: PostgreSQL would still visit the heap for the rows a batch has just written
-- (their pages are not all-visible), and those are the rows the cap reads.
select 1;
