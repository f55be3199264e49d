-- A reported leaked secret is found by its hash (POST /api-services/v1/auth/leaked).
create index clients_by_secret_hash on clients (secret_hash);
