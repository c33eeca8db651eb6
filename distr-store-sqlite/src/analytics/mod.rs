//! The [`AnalyticsStore`] implementation: pull events and byte counters in
//! the same database as the registry metadata (migration 0006), one module
//! per job.
//!
//! # Storage
//!
//! A pull event takes about **930 bytes** of database file, indexes
//! included (six ids as 36-character text, a digest, a tag, an IPv4
//! address, a 120-character user agent; the primary key and the
//! `pull_events_by_time`, `_by_customer` and `_by_tag` indexes), measured
//! by `distr-bench analytics-writer` (file growth over events), and about
//! 800 bytes with a 21-character user agent by the `storage_per_event` test
//! in `tests/analytics_conformance.rs` (`DISTR_STORAGE_EVENTS=100000 cargo
//! test -p distr-store-sqlite --release --test analytics_conformance --
//! --nocapture storage_per_event`). So a million pulls take about 1 GB. A
//! byte counter is one row per (artifact, customer), whatever the number of
//! downloads.
//!
//! # Writing
//!
//! A batch is one `BEGIN IMMEDIATE` transaction: the events as multi-row
//! `INSERT OR IGNORE` statements of up to 256 rows (see `events::insert`),
//! then one upsert per byte counter. It goes through the pool, or, after
//! [`SqliteStore::with_background_analytics`], through a connection of its
//! own at a lower CPU priority with a larger page cache and less frequent
//! WAL checkpoints (`crate::background`). Each index page a batch touches
//! is written once per batch, so the cost per event falls as batches grow;
//! the indexes are chosen to have few places where inserts land (the id and
//! time indexes are appended to, the tag index has one place per tag, the
//! customer index one per customer).

mod bytes;
mod codec;
mod events;
mod moving;
mod pulls;

use async_trait::async_trait;
use distr_core::access::{ArtifactId, CustomerId, OrgId};
use distr_core::analytics::{
    AnalyticsStore, BytesServed, BytesTotal, CustomerPulls, PullCursor, PullEvent, PullFilter,
    ReferencePulls, TagPulls,
};
use distr_core::{StoreError, StoreResult};
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

use crate::SqliteStore;

/// Writes a batch through `conn` in one `BEGIN IMMEDIATE` transaction.
async fn write_batch(
    conn: &mut SqliteConnection,
    pulls: &[PullEvent],
    bytes: &[BytesServed],
) -> StoreResult<()> {
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(StoreError::backend)?;
    events::insert(&mut tx, pulls).await?;
    bytes::add(&mut tx, bytes).await?;
    tx.commit().await.map_err(StoreError::backend)
}

#[async_trait]
impl AnalyticsStore for SqliteStore {
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()> {
        if pulls.is_empty() && bytes.is_empty() {
            return Ok(());
        }
        match &self.analytics_writer {
            Some(writer) => {
                let mut conn = writer.lock().await?;
                let written = write_batch(conn.conn(), pulls, bytes).await;
                if written.is_err() {
                    // A fresh connection for the retry, whatever went wrong.
                    conn.discard();
                }
                written
            }
            None => {
                let mut conn = self.pool.acquire().await.map_err(StoreError::backend)?;
                write_batch(&mut conn, pulls, bytes).await
            }
        }
    }

    async fn list_pulls(
        &self,
        filter: &PullFilter,
        cursor: Option<&PullCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
        events::list(self, filter, cursor, limit).await
    }

    async fn pulls_per_tag(&self, org: OrgId, artifact: ArtifactId) -> StoreResult<Vec<TagPulls>> {
        pulls::per_tag(self, org, artifact).await
    }

    async fn artifact_customers(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<CustomerPulls>> {
        pulls::per_customer(self, org, artifact).await
    }

    async fn customer_pulls(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> StoreResult<Vec<ReferencePulls>> {
        pulls::of_customer(self, org, customer).await
    }

    async fn bytes_served(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<BytesTotal>> {
        bytes::list(self, org, artifact).await
    }
}
