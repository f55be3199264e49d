-- Emails are unique within an account, no longer across accounts: an account's admins must not
-- learn from a refused user creation which emails exist in other accounts. Two users may now
-- share an email, so a client's owner is kept by user id; the email beside it is what the API
-- shows (users' emails never change).

-- SQLite cannot drop a column's unique constraint, so the users table is rebuilt. Dropping the
-- old table deletes its sessions (their foreign key cascades): they are kept aside and put back.
create temporary table sessions_kept as select * from sessions;

create table users_rebuilt (
    -- creation order, for stable listings
    seq           integer primary key autoincrement,
    user_id       text not null unique,
    account_id    text not null references accounts (account_id) on delete cascade,
    -- lower-cased, so comparisons are exact; one user per email within an account
    email         text not null,
    role          text not null check (role in ('owner', 'admin', 'developer')),
    -- Argon2id PHC string
    password_hash text not null,
    date_created  text not null,
    unique (account_id, email)
);

insert into users_rebuilt (seq, user_id, account_id, email, role, password_hash, date_created)
    select seq, user_id, account_id, email, role, password_hash, date_created from users;

-- drops the old table's indexes with it
drop table users;
alter table users_rebuilt rename to users;
create index users_by_account on users (account_id, date_created);

insert into sessions select * from sessions_kept;
drop table sessions_kept;

-- SQLite adds a column only as nullable; the application always writes it.
alter table clients add column client_owner_id text references users (user_id);
-- An account whose owner was removed (possible until now for an owner who had handed their own
-- account on while owning child accounts) passes to the root account's owner. From now on the
-- store refuses to remove anyone who owns an account.
update accounts set owner_user_id = (
    select r.owner_user_id from accounts r where r.parent_account_id is null
    order by r.date_created, r.account_id limit 1)
  where owner_user_id not in (select user_id from users);
-- a user's removal asks whether they own an account
create index accounts_by_owner on accounts (owner_user_id);

-- Emails were unique until now, so each owner email names one user. A client whose owner is
-- gone (never expected) passes to its account's owner, as a removed user's clients do.
update clients set client_owner_id = coalesce(
    (select u.user_id from users u where u.email = clients.client_owner),
    (select u.user_id from accounts a join users u on u.user_id = a.owner_user_id
       where a.account_id = clients.account_id));
update clients set client_owner = (select u.email from users u where u.user_id = clients.client_owner_id);
-- a removed user's clients are found by owner
create index clients_by_owner on clients (client_owner_id);
