-- Emails are unique within an account, no longer across all accounts: a refused user creation
-- must not tell an account's admins that an email exists in another account. SQLite cannot
-- drop a column's UNIQUE, so the table is rebuilt. Dropping the old table deletes the sessions
-- that reference it (on delete cascade), so they are kept aside and put back.

create table users_new (
    -- creation order, for stable listings
    seq           integer primary key autoincrement,
    user_id       text not null unique,
    account_id    text not null references accounts (account_id) on delete cascade,
    -- lower-cased, so ownership comparisons are exact; unique within the account
    email         text not null,
    role          text not null check (role in ('owner', 'admin', 'developer')),
    -- Argon2id PHC string
    password_hash text not null,
    date_created  text not null,
    unique (account_id, email)
);

insert into users_new (seq, user_id, account_id, email, role, password_hash, date_created)
    select seq, user_id, account_id, email, role, password_hash, date_created from users;

create temporary table sessions_kept as select * from sessions;
drop table users;
alter table users_new rename to users;
insert into sessions select * from sessions_kept;
drop table sessions_kept;

create index users_by_account on users (account_id, date_created);
-- login looks a person up by email alone
create index users_by_email on users (email);
