-- Projects (seed file 002): a client may belong to one, and then only the project's members
-- among the account's developers see it. Owners and admins see every client.
create table projects (
    project_id   text primary key,
    account_id   text not null references accounts (account_id) on delete cascade,
    name         text not null,
    description  text not null,
    date_created timestamptz not null,
    date_updated timestamptz not null,
    -- names are unique in an account, so a project is chosen by name without ambiguity
    unique (account_id, name)
);

create table project_members (
    project_id text not null references projects (project_id) on delete cascade,
    -- a removed user leaves every project with it
    user_id    text not null references users (user_id) on delete cascade,
    primary key (project_id, user_id)
);

-- "Which projects is this developer in", asked by every listing they make.
create index project_members_by_user on project_members (user_id, project_id);

-- A project with clients cannot be deleted (the domain answers 409 first; this is the backstop
-- against a client added between the check and the delete).
alter table clients add column project_id text references projects (project_id);

create index clients_by_project on clients (project_id) where project_id is not null;
