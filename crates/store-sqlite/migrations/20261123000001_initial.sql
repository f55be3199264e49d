-- Gatehouse schema, version 1. Timestamps are RFC 3339 text in UTC (sqlx's encoding of
-- time::OffsetDateTime); lists are JSON arrays.

create table accounts (
    account_id        text primary key,
    name              text not null,
    -- a child account's parent; null for a root account
    parent_account_id text references accounts (account_id),
    -- the one owner (a user of this account, or the parent's owner for a child account)
    owner_user_id     text not null,
    date_created      text not null
);

create index accounts_by_parent on accounts (parent_account_id);

create table users (
    -- creation order, for stable listings
    seq           integer primary key autoincrement,
    user_id       text not null unique,
    account_id    text not null references accounts (account_id) on delete cascade,
    -- lower-cased, so ownership comparisons are exact; unique, so login is unambiguous
    email         text not null unique,
    role          text not null check (role in ('owner', 'admin', 'developer')),
    -- Argon2id PHC string
    password_hash text not null,
    date_created  text not null
);

create index users_by_account on users (account_id, date_created);

create table sessions (
    -- SHA-256 of the session token; the token itself is never stored
    token_hash   blob primary key,
    user_id      text not null references users (user_id) on delete cascade,
    -- unix seconds
    created_at   integer not null,
    expires_at   integer not null
);

create index sessions_by_user on sessions (user_id);

create table products (
    account_id    text not null references accounts (account_id) on delete cascade,
    name          text not null,
    description   text not null default '',
    -- JSON array of path prefixes the gateway check maps to this product
    path_prefixes text not null default '[]',
    primary key (account_id, name)
);

create table clients (
    -- creation order: listings are oldest first and stable under equal timestamps
    seq                  integer primary key autoincrement,
    client_id            text not null unique,
    account_id           text not null references accounts (account_id),
    name                 text not null,
    description          text not null default '',
    client_owner         text not null,
    client_type          text not null check (client_type in ('admin', 'standard')),
    -- null: never locked (file 001)
    locked               integer,
    enabled              integer not null,
    global_resources     text not null default '[]',
    products             text not null default '[]',
    token_expiry_seconds integer not null,
    allowed_ips          text not null default '[]',
    -- JSON {"requests_per_second","burst"} or null for no limit
    rate_limit           text,
    -- HMAC-SHA-256 of the secret under a key that is not in this database
    secret_hash          blob not null,
    -- bumped by each key renewal; tokens of an earlier generation are refused
    secret_generation    integer not null,
    -- bumped by every change; the ETag
    version              integer not null,
    date_created         text not null,
    date_updated         text not null
);

-- listings page through an account's clients in creation order, with or without a type filter
create index clients_by_account on clients (account_id, seq);
create index clients_by_account_type on clients (account_id, client_type, seq);

create table access_profiles (
    seq               integer primary key autoincrement,
    profile_id        text not null unique,
    client_id         text not null references clients (client_id) on delete cascade,
    name              text not null,
    -- JSON array: a subset of the client's products
    products          text not null default '[]',
    auth_method       text not null check (auth_method in ('client_secret', 'api_key')),
    -- HMAC-SHA-256 of the profile's secret or API key; unique so an API key finds its profile
    credential_hash   blob not null unique,
    allowed_ips       text not null default '[]',
    rate_limit        text,
    active            integer not null,
    secret_generation integer not null,
    version           integer not null,
    date_created      text not null,
    date_updated      text not null
);

create index access_profiles_by_client on access_profiles (client_id, seq);

create table access_tokens (
    jti               text primary key,
    client_id         text not null references clients (client_id) on delete cascade,
    -- set when minted with an access profile's credential
    profile_id        text references access_profiles (profile_id) on delete cascade,
    -- the client's secret generation when the token was minted
    secret_generation integer not null,
    -- unix seconds, compared numerically by the cleanup and the live-token count
    issued_at         integer not null,
    expires_at        integer not null,
    revoked           integer not null default 0
);

-- the live-token cap counts a credential's live tokens: revoked ones stay out of the index, so
-- the count touches at most the cap's ten rows however many tokens were ever evicted
create index access_tokens_live on access_tokens (client_id, profile_id, expires_at) where revoked = 0;
create index access_tokens_by_expiry on access_tokens (expires_at);

create table signing_keys (
    -- RFC 7638 thumbprint of the public key
    kid                text primary key,
    -- PKCS#8, sealed with AES-256-GCM under the master key
    sealed_private_key blob not null,
    -- raw 32-byte Ed25519 public key
    public_key         blob not null,
    created_at         text not null,
    -- when the key starts signing; it is published (JWKS) from the moment it is stored
    activates_at       text not null
);

create table audit_events (
    seq          integer primary key autoincrement,
    event_id     text not null unique,
    account_id   text not null,
    -- 'user', 'client' or 'anonymous'
    actor_type   text not null,
    -- a user id or client id; for anonymous attempts, what was claimed (an email)
    actor_id     text not null,
    actor_email  text,
    -- e.g. 'client.create', 'client.renew_key', 'user.login'
    action       text not null,
    target_type  text not null,
    target_id    text not null,
    -- 'success' or 'denied' or 'failed'
    outcome      text not null,
    -- why a refused attempt was refused; never a secret
    reason       text,
    source_ip    text,
    occurred_at  text not null,
    -- JSON object of non-secret details (e.g. the names of changed fields)
    details      text not null default '{}'
);

create index audit_events_by_account on audit_events (account_id, seq);
