//! [`AuditStore`]: the audit log.

use async_trait::async_trait;
use gatehouse_domain::audit::AuditEvent;
use gatehouse_domain::ids::AccountId;
use gatehouse_domain::store::{AuditFilter, AuditStore, PageRequest, StoreError};

use crate::PostgresStore;
use crate::rows::{AuditRow, json, map_error};

#[async_trait]
impl AuditStore for PostgresStore {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(
            "insert into audit_events (event_id, account_id, actor_type, actor_id, actor_email, action, target_type, \
             target_id, outcome, reason, source_ip, occurred_at, details) \
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&event.event_id)
        .bind(event.account_id.as_str())
        .bind(&event.actor_type)
        .bind(&event.actor_id)
        .bind(&event.actor_email)
        .bind(&event.action)
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(event.outcome.as_str())
        .bind(&event.reason)
        .bind(&event.source_ip)
        .bind(event.occurred_at)
        .bind(json(&event.details)?)
        .execute(&self.pool)
        .await
        .map_err(map_error)?;
        Ok(())
    }

    async fn audit_events(
        &self,
        account_id: &AccountId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<(Vec<AuditEvent>, u64), StoreError> {
        const WHERE: &str = "where account_id = $1 and ($2::text is null or target_id = $2) \
             and ($3::text is null or actor_id = $3)";
        let total: i64 = sqlx::query_scalar(&format!("select count(*) from audit_events {WHERE}"))
            .bind(account_id.as_str())
            .bind(&filter.target_id)
            .bind(&filter.actor_id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        let rows: Vec<AuditRow> = sqlx::query_as(&format!(
            "select event_id, account_id, actor_type, actor_id, actor_email, action, target_type, target_id, outcome, \
             reason, source_ip, occurred_at, details from audit_events {WHERE} order by seq desc limit $4 offset $5"
        ))
        .bind(account_id.as_str())
        .bind(&filter.target_id)
        .bind(&filter.actor_id)
        .bind(i64::from(page.size))
        .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_error)?;
        let events = rows.into_iter().map(AuditRow::into_event).collect::<Result<Vec<_>, _>>()?;
        Ok((events, u64::try_from(total).unwrap_or_default()))
    }
}
