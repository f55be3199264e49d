-- Policies (seed file 002, issue 21): limits an account applies to access profiles. A profile
-- under a policy is held to the stricter of its own limits and the policy's.
create table policies (
    policy_id    text primary key,
    account_id   text not null references accounts (account_id) on delete cascade,
    name         text not null,
    description  text not null,
    -- JSON {"requests_per_second","burst"}, or null for none
    rate_limit   text,
    -- JSON {"requests","period"}, or null for none
    quota        text,
    -- JSON array of IPs and CIDR blocks; empty allows any
    allowed_ips  text not null,
    -- bumped by every change: concurrent edits are applied one after the other, never lost
    version      integer not null default 1,
    date_created text not null,
    date_updated text not null,
    unique (account_id, name)
);

-- A policy in use is not deleted (the domain answers 409 first; this is the backstop).
alter table access_profiles add column policy_id text references policies (policy_id);

create index access_profiles_by_policy on access_profiles (policy_id) where policy_id is not null;

-- Uses counted against quotas, one row per profile and calendar period; rows of periods that
-- have ended are purged with expired tokens.
create table quota_counts (
    counter      text not null,
    period_start text not null,
    period_end   text not null,
    uses         bigint not null,
    primary key (counter, period_start)
);

create index quota_counts_by_end on quota_counts (period_end);
