-- Every token write touched four b-trees (the rows, the jti index, the live index and the expiry
-- index), and the commit of a token batch wrote a WAL page for each of them: 1,333 WAL bytes per
-- token. Keyed by jti with no rowid, and without the expiry index, it touches two (670 bytes).
-- The purge, the only reader of the expiry index, walks the key in windows instead (see
-- `purge_expired_tokens`). The cap evicts the oldest live token, in the order they were recorded,
-- which was the rowid's: `seq` keeps it. It counts up per credential: a batch numbers its tokens
-- after the highest `seq` among the credential's live tokens (the only ones the order is asked of),
-- and the rows carried over keep their rowid.
create table access_tokens_by_jti (
    jti               text primary key,
    client_id         text not null references clients (client_id) on delete cascade,
    -- set when minted with an access profile's credential
    profile_id        text references access_profiles (profile_id) on delete cascade,
    -- the client's secret generation when the token was minted
    secret_generation integer not null,
    -- unix seconds, compared numerically by the cleanup and the live-token count
    issued_at         integer not null,
    expires_at        integer not null,
    revoked           integer not null default 0,
    -- the order tokens of the same credential were recorded in; see above
    seq               integer not null default 0
) without rowid;

insert into access_tokens_by_jti (jti, client_id, profile_id, secret_generation, issued_at, expires_at, revoked, seq)
    select jti, client_id, profile_id, secret_generation, issued_at, expires_at, revoked, rowid from access_tokens;

-- drops the old table's indexes with it
drop table access_tokens;
alter table access_tokens_by_jti rename to access_tokens;

-- the live-token cap counts a credential's live tokens: revoked ones stay out of the index, so
-- the count touches at most the cap's ten rows however many tokens were ever evicted
create index access_tokens_live on access_tokens (client_id, profile_id, expires_at) where revoked = 0;
