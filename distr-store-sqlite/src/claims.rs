//! The `run_claims` table: [`RunClaims`] for replicas sharing the database.

use async_trait::async_trait;
use distr_core::store::RunClaims;
use distr_core::{now_ms, StoreError, StoreResult};

use crate::SqliteStore;

/// Claims older than this are deleted when a new run is claimed.
const KEEP_MS: i64 = 7 * 24 * 60 * 60 * 1000;

#[async_trait]
impl RunClaims for SqliteStore {
    async fn claim_run(&self, job: &str, scheduled_at_ms: i64, holder: &str) -> StoreResult<bool> {
        let inserted = sqlx::query(
            "INSERT INTO run_claims (job, scheduled_at_ms, holder, claimed_at_ms) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT (job, scheduled_at_ms) DO NOTHING",
        )
        .bind(job)
        .bind(scheduled_at_ms)
        .bind(holder)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(StoreError::backend)?
        .rows_affected()
            == 1;
        if inserted {
            sqlx::query("DELETE FROM run_claims WHERE job = ?1 AND scheduled_at_ms < ?2")
                .bind(job)
                .bind(scheduled_at_ms - KEEP_MS)
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        }
        Ok(inserted)
    }
}
