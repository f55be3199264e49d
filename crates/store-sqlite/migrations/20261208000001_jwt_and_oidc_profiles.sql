-- Access profiles that trust a consumer's own keys (auth_method 'jwt') or an outside identity
-- provider (auth_method 'oidc'), issue 21. Their trust is JSON: {"jwks": {...}} or the oidc
-- object; an oidc profile's issuer and audience are columns too, unique across all profiles,
-- so that a token maps to exactly one profile.
--
-- SQLite cannot change a CHECK constraint in place, and the table must be rebuilt. Migrations
-- run in a transaction with foreign keys on, where dropping access_profiles would delete every
-- profile token with it (ON DELETE CASCADE) and renaming it would repoint the tokens' reference.
-- So the tokens' table is rebuilt too, referencing the new profiles' table, and the old tables
-- are dropped child first: nothing refers to the old profiles' table when it goes.
create table access_profiles_new (
    seq               integer primary key autoincrement,
    profile_id        text not null unique,
    client_id         text not null references clients (client_id) on delete cascade,
    name              text not null,
    -- JSON array: a subset of the client's products
    products          text not null default '[]',
    auth_method       text not null check (auth_method in ('client_secret', 'api_key', 'jwt', 'oidc')),
    -- HMAC-SHA-256 of the profile's secret or API key (of a secret nobody holds, for jwt and
    -- oidc profiles); unique so an API key finds its profile
    credential_hash   blob not null unique,
    allowed_ips       text not null default '[]',
    rate_limit        text,
    active            integer not null,
    secret_generation integer not null,
    version           integer not null,
    date_created      text not null,
    date_updated      text not null,
    last_used_at      text,
    last_used_ip      text,
    policy_id         text references policies (policy_id),
    -- JSON: {"jwks": {"keys": [...]}} for jwt, the provider's description for oidc
    trust             text,
    oidc_issuer       text,
    oidc_audience     text
);

insert into access_profiles_new (seq, profile_id, client_id, name, products, auth_method, credential_hash,
        allowed_ips, rate_limit, active, secret_generation, version, date_created, date_updated, last_used_at,
        last_used_ip, policy_id)
    select seq, profile_id, client_id, name, products, auth_method, credential_hash, allowed_ips, rate_limit,
        active, secret_generation, version, date_created, date_updated, last_used_at, last_used_ip, policy_id
    from access_profiles;

create table access_tokens_new (
    jti               text primary key,
    client_id         text not null references clients (client_id) on delete cascade,
    -- set when minted with an access profile's credential
    profile_id        text references access_profiles_new (profile_id) on delete cascade,
    -- the client's secret generation when the token was minted
    secret_generation integer not null,
    -- unix seconds, compared numerically by the cleanup and the live-token count
    issued_at         integer not null,
    expires_at        integer not null,
    revoked           integer not null default 0,
    -- the order tokens of the same credential were recorded in
    seq               integer not null default 0,
    -- the secret a client's token was minted with, so that ending a secret can end its tokens
    secret_id         text
) without rowid;

insert into access_tokens_new (jti, client_id, profile_id, secret_generation, issued_at, expires_at, revoked, seq,
        secret_id)
    select jti, client_id, profile_id, secret_generation, issued_at, expires_at, revoked, seq, secret_id
    from access_tokens;

drop table access_tokens;
drop table access_profiles;
-- Renaming repoints the new tokens' reference to the new name.
alter table access_profiles_new rename to access_profiles;
alter table access_tokens_new rename to access_tokens;

create index access_profiles_by_client on access_profiles (client_id, seq);
create index access_profiles_by_policy on access_profiles (policy_id) where policy_id is not null;
create unique index access_profiles_by_oidc on access_profiles (oidc_issuer, oidc_audience)
    where oidc_issuer is not null;
create index access_tokens_live on access_tokens (client_id, profile_id, expires_at, secret_generation, seq)
    where revoked = 0;

-- The jti of every single-use JWT accepted (a consumer's, or a provider's when the profile asks),
-- by who issued it, until it expires: a second presentation is refused on every instance.
create table used_jtis (
    issuer     text not null,
    jti        text not null,
    expires_at text not null,
    primary key (issuer, jti)
);

create index used_jtis_by_expiry on used_jtis (expires_at);
