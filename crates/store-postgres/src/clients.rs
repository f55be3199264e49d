//! [`ClientStore`]: the clients and their secrets.

use async_trait::async_trait;
use gatehouse_domain::client::{Client, ClientType};
use gatehouse_domain::ids::{AccountId, ClientId, ProjectId, SecretId, TokenId};
use gatehouse_domain::logo::{ImageType, Logo};
use gatehouse_domain::project::ProjectScope;
use gatehouse_domain::secret::{SecretHash, StoredSecret};
use gatehouse_domain::store::{
    Change, ClientFilter, ClientStore, CredentialUse, PageRequest, Rotated, StoreError, UsedCredential, Written,
    check_deletable,
};
use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::PostgresStore;
use crate::changes::commit;
use crate::rows::{ClientRow, SECRET_COLUMNS, SecretRow, json, map_error, map_reference_error};

/// Column list shared by every query that reads a whole client.
const CLIENT_COLUMNS: &str = "client_id, account_id, name, description, client_owner, client_owner_id, client_type, locked, enabled, \
     global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, secret_generation, version, \
     date_created, date_updated, \
     (select s.expires_at from client_secrets s where s.client_id = clients.client_id order by s.seq desc limit 1) \
       as secret_expires_at, \
     exists (select 1 from client_logos l where l.client_id = clients.client_id) as has_logo, project_id";

impl PostgresStore {
    async fn client_from(&self, sql: &str, client_id: &ClientId) -> Result<Option<ClientRow>, StoreError> {
        sqlx::query_as::<_, ClientRow>(sql).bind(client_id.as_str()).fetch_optional(&self.pool).await.map_err(map_error)
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn insert_client(&self, client: &Client, secret: &StoredSecret) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        insert_client_in(&mut tx, client, secret).await?;
        // A check may have asked after the id before it existed, and remembered that it did not.
        commit(tx, (), vec![Change::Client(client.client_id.clone())]).await
    }

    async fn client(&self, client_id: &ClientId) -> Result<Option<Client>, StoreError> {
        let sql = format!("select {CLIENT_COLUMNS} from clients where client_id = $1");
        self.client_from(&sql, client_id).await?.map(ClientRow::into_client).transpose()
    }

    async fn client_by_secret_hash(&self, hash: &SecretHash) -> Result<Option<(ClientId, SecretId)>, StoreError> {
        let found: Option<(String, String)> =
            sqlx::query_as("select client_id, secret_id from client_secrets where secret_hash = $1")
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
        Ok(found.map(|(client_id, secret_id)| (ClientId::from_string(client_id), SecretId::from_string(secret_id))))
    }

    async fn client_with_secrets(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<(Client, Vec<StoredSecret>)>, StoreError> {
        // One snapshot for both reads: a rotation between them must not pair a client with
        // secrets it never held together.
        let mut tx = self.pool.begin().await.map_err(map_error)?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let sql = format!("select {CLIENT_COLUMNS} from clients where client_id = $1");
        let row: Option<ClientRow> =
            sqlx::query_as(&sql).bind(client_id.as_str()).fetch_optional(&mut *tx).await.map_err(map_error)?;
        // The secrets are read, and the transaction ended, whether the client exists or not: an
        // unknown id must cost what a wrong secret costs, or timing tells which ids exist.
        let secrets = secrets_in(&mut tx, client_id).await?;
        tx.commit().await.map_err(map_error)?;
        row.map(|row| Ok((row.into_client()?, secrets))).transpose()
    }

    async fn list_clients(
        &self,
        account_id: &AccountId,
        filter: &ClientFilter,
        scope: &ProjectScope,
        page: PageRequest,
    ) -> Result<(Vec<Client>, u64), StoreError> {
        let client_type = filter.client_type.map(ClientType::as_str);
        let needle = filter.name_contains.as_deref().map(str::to_lowercase);
        // Only the filters given are in the statement, so each shape uses its own index (a
        // `$2 is null or ...` clause defeats the planner); the page is found in the index
        // first, then its rows are read.
        let mut conditions = String::new();
        conditions.push_str(if client_type.is_some() { " and client_type = $2" } else { " and $2::text is null" });
        conditions.push_str(if filter.enabled.is_some() { " and enabled = $3" } else { " and $3::bool is null" });
        conditions.push_str(if needle.is_some() {
            " and strpos(lower(name), $4) > 0"
        } else {
            " and $4::text is null"
        });
        let project = filter.project_id.as_ref().map(ProjectId::as_str);
        conditions.push_str(if project.is_some() { " and project_id = $5" } else { " and $5::text is null" });
        // A developer sees clients outside any project, and those of their own projects.
        let member = match scope {
            ProjectScope::Every => None,
            ProjectScope::MemberOf(user_id) => Some(user_id.as_str()),
        };
        conditions.push_str(if member.is_some() {
            " and (project_id is null or project_id in (select project_id from project_members where user_id = $6))"
        } else {
            " and $6::text is null"
        });
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from clients where account_id = $1{conditions}"))
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(filter.enabled)
            .bind(needle.as_deref())
            .bind(project)
            .bind(member)
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        let sql = format!(
            "select {CLIENT_COLUMNS} from clients where seq in ( \
               select seq from clients where account_id = $1{conditions} order by seq limit $7 offset $8) \
             order by seq"
        );
        let rows: Vec<ClientRow> = sqlx::query_as(&sql)
            .bind(account_id.as_str())
            .bind(client_type)
            .bind(filter.enabled)
            .bind(needle.as_deref())
            .bind(project)
            .bind(member)
            .bind(i64::from(page.size))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        let clients = rows.into_iter().map(ClientRow::into_client).collect::<Result<Vec<_>, _>>()?;
        Ok((clients, u64::try_from(total).unwrap_or_default()))
    }

    async fn update_client(&self, client: &Client, expected_version: i64) -> Result<Written<Client>, StoreError> {
        let mut tx = self.begin().await?;
        // A concurrent update of the same version waits for this one's row lock, then finds
        // the version moved on and matches nothing.
        let row: Option<ClientRow> = sqlx::query_as(&format!(
            "update clients set name = $1, description = $2, client_owner = $3, client_owner_id = $4, \
             client_type = $5, locked = $6, enabled = $7, global_resources = $8, products = $9, \
             token_expiry_seconds = $10, allowed_ips = $11, rate_limit = $12, date_updated = $13, \
             project_id = $16, version = version + 1 \
             where client_id = $14 and version = $15 \
             returning {CLIENT_COLUMNS}"
        ))
        .bind(client.name.as_str())
        .bind(client.description.as_str())
        .bind(client.client_owner.as_str())
        .bind(client.client_owner_id.as_str())
        .bind(client.client_type.as_str())
        .bind(client.locked)
        .bind(client.enabled)
        .bind(json(&client.scopes.global_resources)?)
        .bind(json(&client.scopes.products)?)
        .bind(i64::from(client.token_expiry.seconds()))
        .bind(json(&client.allowed_ips)?)
        .bind(client.rate_limit.map(|limit| json(&limit)).transpose()?)
        .bind(client.date_updated)
        .bind(client.client_id.as_str())
        .bind(expected_version)
        .bind(client.project_id.as_ref().map(ProjectId::as_str))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_reference_error)?;
        let Some(row) = row else {
            let exists: bool = sqlx::query_scalar("select exists (select 1 from clients where client_id = $1)")
                .bind(client.client_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(map_error)?;
            return Err(if exists { StoreError::VersionMismatch } else { StoreError::NotFound });
        };
        let updated = row.into_client()?;
        commit(tx, updated, vec![Change::Client(client.client_id.clone())]).await
    }

    async fn renew_client_secret(
        &self,
        client_id: &ClientId,
        secret: &StoredSecret,
        replacing: Option<&SecretHash>,
        now: OffsetDateTime,
    ) -> Result<Written<Client>, StoreError> {
        let mut tx = self.begin().await?;
        // The client's row first: every write of its secrets takes its lock before them.
        let result = sqlx::query(
            "update clients set secret_generation = secret_generation + 1, version = version + 1, date_updated = $1 \
             where client_id = $2 and ($3::bytea is null \
               or exists (select 1 from client_secrets where client_id = $2 and secret_hash = $3))",
        )
        .bind(now)
        .bind(client_id.as_str())
        .bind(replacing.map(SecretHash::as_bytes))
        .execute(&mut *tx)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("delete from client_secrets where client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        insert_secret_in(&mut tx, client_id, secret).await?;
        // The generation bump already refuses them; deleting keeps the table small.
        sqlx::query("delete from access_tokens where client_id = $1 and profile_id is null")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let updated = fetch_client_in(&mut tx, client_id).await?;
        commit(tx, updated, vec![Change::Client(client_id.clone())]).await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &ClientId,
        secret: &StoredSecret,
        previous_until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Written<Rotated>, StoreError> {
        let mut tx = self.begin().await?;
        touch_client_in(&mut tx, client_id, now).await?;
        let current = secrets_in(&mut tx, client_id).await?.pop();
        let previous = current.and_then(|current| current.in_grace_until(previous_until, now));
        // Only the current secret may stay beside the new one, as the previous: a rotation
        // during a grace period ends the older secret at once.
        sqlx::query("delete from client_secrets where client_id = $1 and secret_id is distinct from $2")
            .bind(client_id.as_str())
            .bind(previous.as_ref().map(|previous| previous.secret_id.as_str()))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if let Some(previous) = &previous {
            sqlx::query("update client_secrets set expires_at = $1 where secret_id = $2")
                .bind(previous.expires_at)
                .bind(previous.secret_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        }
        insert_secret_in(&mut tx, client_id, secret).await?;
        let client = fetch_client_in(&mut tx, client_id).await?;
        commit(tx, Rotated { client, previous }, vec![Change::Client(client_id.clone())]).await
    }

    async fn delete_client_secret(
        &self,
        client_id: &ClientId,
        secret_id: &SecretId,
        revoke_tokens: bool,
        now: OffsetDateTime,
    ) -> Result<Written<Client>, StoreError> {
        let mut tx = self.begin().await?;
        touch_client_in(&mut tx, client_id, now).await?;
        let secrets = secrets_in(&mut tx, client_id).await?;
        check_deletable(&secrets, secret_id)?;
        sqlx::query("delete from client_secrets where secret_id = $1")
            .bind(secret_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        let mut changes = vec![Change::Client(client_id.clone())];
        if revoke_tokens {
            let ended: Vec<String> =
                sqlx::query_scalar("delete from access_tokens where client_id = $1 and secret_id = $2 returning jti")
                    .bind(client_id.as_str())
                    .bind(secret_id.as_str())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_error)?;
            if !ended.is_empty() {
                changes.push(Change::TokensRevoked(ended.into_iter().map(TokenId::from_string).collect()));
            }
        }
        let client = fetch_client_in(&mut tx, client_id).await?;
        commit(tx, client, changes).await
    }

    async fn delete_client(&self, client_id: &ClientId) -> Result<Written<()>, StoreError> {
        let mut tx = self.begin().await?;
        let result = sqlx::query("delete from clients where client_id = $1")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        commit(tx, (), vec![Change::Client(client_id.clone())]).await
    }

    async fn set_client_logo(&self, client_id: &ClientId, logo: &Logo, now: OffsetDateTime) -> Result<(), StoreError> {
        let result = sqlx::query(
            "insert into client_logos (client_id, content_type, bytes, date_updated) \
             select $1, $2, $3, $4 where exists (select 1 from clients where client_id = $1) \
             on conflict (client_id) do update set content_type = $2, bytes = $3, date_updated = $4",
        )
        .bind(client_id.as_str())
        .bind(logo.image_type().content_type())
        .bind(logo.bytes())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_client_logo(&self, client_id: &ClientId) -> Result<(), StoreError> {
        sqlx::query("delete from client_logos where client_id = $1")
            .bind(client_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        let exists: Option<i32> = sqlx::query_scalar("select 1 from clients where client_id = $1")
            .bind(client_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        exists.map(drop).ok_or(StoreError::NotFound)
    }

    async fn client_logo(&self, client_id: &ClientId) -> Result<Option<Logo>, StoreError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("select content_type, bytes from client_logos where client_id = $1")
                .bind(client_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?;
        // Stored logos are read as strictly as uploads: a row that no longer sniffs is reported.
        row.map(|(content_type, bytes)| match Logo::sniff(bytes) {
            Ok(logo) if Some(logo.image_type()) == ImageType::parse(&content_type) => Ok(logo),
            _ => Err(StoreError::Internal("a stored logo is not the image its row says".to_owned())),
        })
        .transpose()
    }

    async fn record_credential_uses(&self, uses: &[CredentialUse]) -> Result<(), StoreError> {
        let mut secrets = Batch::default();
        let mut profiles = Batch::default();
        for CredentialUse { credential, last_use } in uses {
            let (batch, id) = match credential {
                UsedCredential::ClientSecret(secret_id) => (&mut secrets, secret_id.as_str()),
                UsedCredential::Profile(profile_id) => (&mut profiles, profile_id.as_str()),
            };
            batch.ids.push(id);
            batch.at.push(last_use.at);
            batch.ips.push(last_use.ip.to_string());
        }
        let mut tx = self.begin().await?;
        for (table, key, batch) in
            [("client_secrets", "secret_id", secrets), ("access_profiles", "profile_id", profiles)]
        {
            if batch.ids.is_empty() {
                continue;
            }
            // The rows are locked in id order first, as the token recorder locks profiles, so
            // that concurrent batches (of several instances) and token batches never deadlock.
            let lock = format!("select 1 from {table} where {key} = any($1) order by {key} for no key update");
            sqlx::query(&lock).bind(&batch.ids).execute(&mut *tx).await.map_err(map_error)?;
            let sql = format!(
                "update {table} t set last_used_at = u.at, last_used_ip = u.ip \
                 from unnest($1::text[], $2::timestamptz[], $3::text[]) as u (id, at, ip) \
                 where t.{key} = u.id and (t.last_used_at is null or t.last_used_at < u.at)"
            );
            sqlx::query(&sql)
                .bind(&batch.ids)
                .bind(&batch.at)
                .bind(&batch.ips)
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }
}

/// One table's part of a batch of credential uses, as arrays to `unnest`.
#[derive(Default)]
struct Batch<'a> {
    ids: Vec<&'a str>,
    at: Vec<OffsetDateTime>,
    ips: Vec<String>,
}

pub(crate) async fn insert_client_in(
    conn: &mut PgConnection,
    client: &Client,
    secret: &StoredSecret,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into clients (client_id, account_id, name, description, client_owner, client_owner_id, client_type, \
         locked, enabled, global_resources, products, token_expiry_seconds, allowed_ips, rate_limit, \
         secret_generation, version, date_created, date_updated, project_id) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(client.client_id.as_str())
    .bind(client.account_id.as_str())
    .bind(client.name.as_str())
    .bind(client.description.as_str())
    .bind(client.client_owner.as_str())
    .bind(client.client_owner_id.as_str())
    .bind(client.client_type.as_str())
    .bind(client.locked)
    .bind(client.enabled)
    .bind(json(&client.scopes.global_resources)?)
    .bind(json(&client.scopes.products)?)
    .bind(i64::from(client.token_expiry.seconds()))
    .bind(json(&client.allowed_ips)?)
    .bind(client.rate_limit.map(|limit| json(&limit)).transpose()?)
    .bind(client.secret_generation)
    .bind(client.version)
    .bind(client.date_created)
    .bind(client.date_updated)
    .bind(client.project_id.as_ref().map(ProjectId::as_str))
    .execute(&mut *conn)
    .await
    .map_err(map_reference_error)?;
    insert_secret_in(conn, &client.client_id, secret).await
}

async fn insert_secret_in(
    conn: &mut PgConnection,
    client_id: &ClientId,
    secret: &StoredSecret,
) -> Result<(), StoreError> {
    sqlx::query(
        "insert into client_secrets (secret_id, client_id, secret_hash, prefix, date_created, expires_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(secret.secret_id.as_str())
    .bind(client_id.as_str())
    .bind(secret.hash.as_bytes())
    .bind(secret.prefix.as_deref())
    .bind(secret.date_created)
    .bind(secret.expires_at)
    .execute(conn)
    .await
    .map_err(map_error)?;
    Ok(())
}

/// A client's secrets, oldest first.
async fn secrets_in(conn: &mut PgConnection, client_id: &ClientId) -> Result<Vec<StoredSecret>, StoreError> {
    let sql = format!("select {SECRET_COLUMNS} from client_secrets where client_id = $1 order by seq");
    let rows: Vec<SecretRow> =
        sqlx::query_as(&sql).bind(client_id.as_str()).fetch_all(conn).await.map_err(map_error)?;
    rows.into_iter().map(SecretRow::into_secret).collect()
}

/// Bumps the version of a client whose secrets change, as every change of what the token
/// endpoint accepts does: a token minted from the state before is then never recorded. Takes
/// the client's row lock, so writes of one client's secrets run one after the other.
async fn touch_client_in(conn: &mut PgConnection, client_id: &ClientId, now: OffsetDateTime) -> Result<(), StoreError> {
    let result = sqlx::query("update clients set version = version + 1, date_updated = $1 where client_id = $2")
        .bind(now)
        .bind(client_id.as_str())
        .execute(conn)
        .await
        .map_err(map_error)?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn fetch_client_in(conn: &mut PgConnection, client_id: &ClientId) -> Result<Client, StoreError> {
    let sql = format!("select {CLIENT_COLUMNS} from clients where client_id = $1");
    let row: ClientRow = sqlx::query_as(&sql)
        .bind(client_id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(map_error)?
        .ok_or(StoreError::NotFound)?;
    row.into_client()
}
