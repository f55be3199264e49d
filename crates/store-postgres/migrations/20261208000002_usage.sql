-- Usage of access profiles (issue 21): the gateway check's decisions per profile, UTC day,
-- product and outcome ('allowed', or why it was denied). Each instance adds its batches. No
-- reference to the profile: a batch that lands after its profile was deleted must not fail (and
-- with it the other profiles' counts); deleting a profile deletes its counts, and the purge the
-- rest.
create table usage_counts (
    profile_id text not null,
    day        date not null,
    product    text not null,
    outcome    text not null,
    count      bigint not null,
    primary key (profile_id, day, product, outcome)
);

create index usage_counts_by_day on usage_counts (day);
