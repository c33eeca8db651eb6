//! The [`AnalyticsStore`] trait: persistence of pull events and byte
//! counters, and the queries over them.

use std::collections::BTreeMap;
use std::fmt::Debug;

use async_trait::async_trait;

use super::event::{BytesServed, PullEvent};
use super::query::{BytesTotal, CustomerPulls, PullCursor, PullFilter, ReferencePulls, TagPulls};
use crate::access::{ArtifactId, CustomerId, OrgId};
use crate::error::StoreResult;
use crate::reference::TagName;

/// A shared, type-erased analytics store.
pub type DynAnalyticsStore = dyn AnalyticsStore;

/// Persistence of download analytics: the log of manifest GETs
/// ([`PullEvent`]) and per-(artifact, customer) counters of blob bytes served
/// ([`BytesServed`]).
///
/// Every query is scoped to one vendor organisation. The aggregates count
/// *pulls*: every GET by tag, every GET of an index, and every other GET by
/// digest except follow-ups of a multi-platform pull (see the
/// [module docs](super) for the exact rule); [`list_pulls`](Self::list_pulls)
/// returns every recorded GET. Times are ms since the Unix epoch. Stored data
/// that cannot be decoded fails with [`crate::StoreError::Corrupt`].
#[async_trait]
pub trait AnalyticsStore: Debug + Send + Sync + 'static {
    /// Stores `pulls` and adds `bytes` to their counters, all or nothing.
    /// An event whose id is already stored is skipped (so a batch retried
    /// after an unacknowledged commit stores its events once; its bytes may
    /// then be counted twice).
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()>;

    /// The events matching `filter`, newest first (by time, then id, both
    /// descending), at most `limit` of them, starting after `cursor`. The
    /// cursor returned is `Some` when more events may follow: pass it to get
    /// the next page. Pages are stable under concurrent inserts of newer
    /// events.
    async fn list_pulls(
        &self,
        filter: &PullFilter,
        cursor: Option<&PullCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)>;

    /// Pulls of each tag of an artifact, with the distinct customers that
    /// pulled it, ordered by tag (byte-wise).
    async fn pulls_per_tag(&self, org: OrgId, artifact: ArtifactId) -> StoreResult<Vec<TagPulls>>;

    /// The customers that pulled an artifact (or, for `None`, any artifact of
    /// the vendor), with their pull counts and first and latest pulls,
    /// ordered by pulls (most first), then customer id. Pulls without a
    /// customer are left out.
    async fn artifact_customers(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<CustomerPulls>>;

    /// What a customer pulled: per artifact and reference (the tag of pulls
    /// by tag, the digest of the others), the pulls and first and latest
    /// pulls, ordered by artifact id, then reference text (byte-wise).
    async fn customer_pulls(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> StoreResult<Vec<ReferencePulls>>;

    /// Bytes of blobs served per (artifact, customer), of one artifact or of
    /// every artifact of the vendor, ordered by artifact id, then customer
    /// (`None` first, then by id).
    async fn bytes_served(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<BytesTotal>>;
}

/// Conveniences over any [`AnalyticsStore`], built from its required
/// methods (so backends cannot get them wrong).
#[async_trait]
pub trait AnalyticsStoreExt: AnalyticsStore {
    /// Pulls per tag of an artifact, for a tag listing's `pull_count`
    /// (tags never pulled are absent: count them as 0).
    async fn pull_counts_by_tag(
        &self,
        org: OrgId,
        artifact: ArtifactId,
    ) -> StoreResult<BTreeMap<TagName, u64>> {
        Ok(self
            .pulls_per_tag(org, artifact)
            .await?
            .into_iter()
            .map(|t| (t.tag, t.pulls))
            .collect())
    }
}

impl<T: AnalyticsStore + ?Sized> AnalyticsStoreExt for T {}

#[async_trait]
impl<T: AnalyticsStore + ?Sized> AnalyticsStore for std::sync::Arc<T> {
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()> {
        (**self).record(pulls, bytes).await
    }

    async fn list_pulls(
        &self,
        filter: &PullFilter,
        cursor: Option<&PullCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
        (**self).list_pulls(filter, cursor, limit).await
    }

    async fn pulls_per_tag(&self, org: OrgId, artifact: ArtifactId) -> StoreResult<Vec<TagPulls>> {
        (**self).pulls_per_tag(org, artifact).await
    }

    async fn artifact_customers(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<CustomerPulls>> {
        (**self).artifact_customers(org, artifact).await
    }

    async fn customer_pulls(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> StoreResult<Vec<ReferencePulls>> {
        (**self).customer_pulls(org, customer).await
    }

    async fn bytes_served(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<BytesTotal>> {
        (**self).bytes_served(org, artifact).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::analytics::MemoryAnalyticsStore;

    fn takes_a_store<S: AnalyticsStore>(_: &S) {}

    #[test]
    fn shared_stores_are_stores() {
        let shared: Arc<DynAnalyticsStore> = Arc::new(MemoryAnalyticsStore::new());
        takes_a_store(&shared);
        takes_a_store(&Arc::new(MemoryAnalyticsStore::new()));
    }
}
