-- The cap reads each credential's live tokens with their secret generation and the order they
-- were recorded in (`seq`). Neither was in the live index, so every live token read meant a
-- search of the table's key as well: ten per client of a batch, and a batch from many clients
-- holds a dozen of them. With both in the index the read touches only the index.
drop index access_tokens_live;
create index access_tokens_live on access_tokens (client_id, profile_id, expires_at, secret_generation, seq)
    where revoked = 0;
