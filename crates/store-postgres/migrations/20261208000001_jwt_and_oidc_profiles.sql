-- Access profiles that trust a consumer's own keys (auth_method 'jwt') or an outside identity
-- provider (auth_method 'oidc'), issue 21. Their trust is JSON: {"jwks": {...}} or the oidc
-- object; an oidc profile's issuer and audience are columns too, unique across all profiles,
-- so that a token maps to exactly one profile.
alter table access_profiles drop constraint access_profiles_auth_method_check;
alter table access_profiles add constraint access_profiles_auth_method_check
    check (auth_method in ('client_secret', 'api_key', 'jwt', 'oidc'));

-- JSON: {"jwks": {"keys": [...]}} for jwt, the provider's description for oidc
alter table access_profiles add column trust text;
alter table access_profiles add column oidc_issuer text;
alter table access_profiles add column oidc_audience text;

create unique index access_profiles_by_oidc on access_profiles (oidc_issuer, oidc_audience)
    where oidc_issuer is not null;

-- The jti of every single-use JWT accepted (a consumer's, or a provider's when the profile asks),
-- by who issued it, until it expires: a second presentation is refused on every instance.
create table used_jtis (
    issuer     text not null,
    jti        text not null,
    expires_at timestamptz not null,
    primary key (issuer, jti)
);

create index used_jtis_by_expiry on used_jtis (expires_at);
