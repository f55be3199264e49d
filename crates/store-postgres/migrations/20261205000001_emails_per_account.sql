-- Emails are unique within an account, no longer across all accounts: a refused user creation
-- must not tell an account's admins that an email exists in another account.

alter table users drop constraint users_email_key;
alter table users add constraint users_account_email_key unique (account_id, email);
-- login looks a person up by email alone
create index users_by_email on users (email);
