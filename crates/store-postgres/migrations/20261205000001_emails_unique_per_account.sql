-- Emails are unique within an account, no longer across accounts: an account's admins must not
-- learn from a refused user creation which emails exist in other accounts. Two users may now
-- share an email, so a client's owner is kept by user id; the email beside it is what the API
-- shows (users' emails never change). The same change as the SQLite migration of this name.

alter table users drop constraint users_email_key;
alter table users add constraint users_account_id_email_key unique (account_id, email);

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
alter table clients alter column client_owner_id set not null;
-- a removed user's clients are found by owner
create index clients_by_owner on clients (client_owner_id);
