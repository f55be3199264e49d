-- A value shown once in the portal, sealed under the master key, on its way from the POST that
-- made it to the page after the redirect; taken (deleted) when that page is read.
create table portal_handoffs (
    -- SHA-256 of the random id in the page's URL
    id_hash      blob primary key,
    -- the session it is for: it goes when the session does
    session_hash blob not null references sessions (token_hash) on delete cascade,
    sealed       blob not null,
    -- unix seconds
    expires_at   integer not null
);
