//! The storage contract suite against SQLite.

use std::sync::Arc;

use gatehouse_domain::store_contract;
use gatehouse_store_sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_passes_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store_contract::run_all(Arc::new(store)).await;
}
