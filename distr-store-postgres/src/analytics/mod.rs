//! The [`AnalyticsStore`] implementation: pull events and byte counters in
//! the same database as the registry metadata (migration 0006), one module
//! per job.
//!
//! A batch is one `READ COMMITTED` transaction of two statements: the events
//! as one `INSERT … SELECT FROM UNNEST(…)` (ids already stored are skipped),
//! the byte counters as one upsert, in key order (so that replicas writing
//! the same counters never deadlock).

mod bytes;
mod codec;
mod events;
mod pulls;

use async_trait::async_trait;
use distr_core::access::{ArtifactId, CustomerId, OrgId};
use distr_core::analytics::{
    AnalyticsStore, BytesServed, BytesTotal, CustomerPulls, PullCursor, PullEvent, PullFilter,
    ReferencePulls, TagPulls,
};
use distr_core::{StoreError, StoreResult};

use crate::PostgresStore;

#[async_trait]
impl AnalyticsStore for PostgresStore {
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()> {
        if pulls.is_empty() && bytes.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        events::insert(&mut tx, pulls).await?;
        bytes::add(&mut tx, bytes).await?;
        tx.commit().await.map_err(StoreError::backend)
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
