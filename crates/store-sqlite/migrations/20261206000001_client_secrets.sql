-- A client holds up to two secrets: the current one and, during a planned rotation's grace
-- period, the previous one. Each has a public id and prefix, an optional expiry, and its last
-- use, written in batches.
create table client_secrets (
    seq          integer primary key autoincrement,
    secret_id    text not null unique,
    client_id    text not null references clients (client_id) on delete cascade,
    -- HMAC-SHA-256 of the secret under a key that is not in this database
    secret_hash  blob not null,
    -- the first characters of the value; null for secrets made before prefixes were kept
    prefix       text,
    date_created text not null,
    -- refused from then on; null: never
    expires_at   text,
    last_used_at text,
    last_used_ip text
);

-- a client's secrets in the order they were made: the last is the current one
create index client_secrets_by_client on client_secrets (client_id, seq);
-- a reported leaked secret is found by its hash (POST /api-services/v1/auth/leaked)
create index client_secrets_by_hash on client_secrets (secret_hash);

insert into client_secrets (secret_id, client_id, secret_hash, date_created)
    select 'sid_' || lower(hex(randomblob(16))), client_id, secret_hash, date_updated from clients order by seq;

drop index clients_by_secret_hash;
alter table clients drop column secret_hash;

-- the secret a client's token was minted with, so that ending a secret can end its tokens
alter table access_tokens add column secret_id text;
update access_tokens set secret_id = (select s.secret_id from client_secrets s where s.client_id = access_tokens.client_id)
    where profile_id is null;

alter table access_profiles add column last_used_at text;
alter table access_profiles add column last_used_ip text;
