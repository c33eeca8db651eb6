//! Moving the analytics tables from one database file to another, for a
//! server that used to keep them with the registry metadata and now keeps
//! them in a file of their own.

use distr_core::{StoreError, StoreResult};
use sqlx::Connection;

use super::codec::backend;
use crate::SqliteStore;

impl SqliteStore {
    /// Moves the pull events and byte counters kept in `from` into this
    /// store, and returns how many events `from` held (0: nothing to do).
    /// Both must be database files.
    ///
    /// Two transactions, so that no step loses data: the first copies (the
    /// events skipping ids already here; the counters only when this store
    /// has none, so a copy that was interrupted before the second step is
    /// not counted twice when repeated), the second empties `from`. Run it
    /// before recording starts.
    pub async fn move_analytics_from(&self, from: &SqliteStore) -> StoreResult<u64> {
        let (Some(from_path), Some(_)) = (from.path(), self.path()) else {
            return Err(StoreError::backend(std::io::Error::other(
                "moving analytics needs two database files",
            )));
        };
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        // The connection has another database attached: never reuse it.
        conn.close_on_drop();
        sqlx::query("ATTACH DATABASE ?1 AS old")
            .bind(from_path.to_string_lossy().into_owned())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
        let (events, counters): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM old.pull_events), \
                    (SELECT COUNT(*) FROM old.bytes_served)",
        )
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
        if events == 0 && counters == 0 {
            return Ok(0);
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        sqlx::query("INSERT OR IGNORE INTO main.pull_events SELECT * FROM old.pull_events")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO main.bytes_served SELECT * FROM old.bytes_served \
             WHERE NOT EXISTS (SELECT 1 FROM main.bytes_served)",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(backend)?;
        sqlx::query("DELETE FROM old.pull_events")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM old.bytes_served")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        tracing::info!(
            events,
            from = %from_path.display(),
            "moved download analytics to their own database"
        );
        Ok(u64::try_from(events).unwrap_or(0))
    }
}
