-- A client's logo (seed file 002), a PNG or JPEG of at most 256 KiB, checked by its bytes.
create table client_logos (
    client_id    text primary key references clients (client_id) on delete cascade,
    content_type text not null check (content_type in ('image/png', 'image/jpeg')),
    bytes        bytea not null,
    date_updated timestamptz not null
);
