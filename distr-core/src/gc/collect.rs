//! Mark and sweep of unreferenced blobs, and removal of abandoned uploads.

use std::collections::{HashMap, HashSet};

use super::{ms, GarbageCollector, GcReport, BATCH};
use crate::blob::StoredBlob;
use crate::digest::Digest;
use crate::error::Result;

impl GarbageCollector {
    /// One collection at `now_ms`: mark, sweep, then abandoned uploads.
    /// See the [module docs](super) for what is deleted when.
    pub async fn run(&self, now_ms: i64) -> Result<GcReport> {
        let mut report = GcReport::default();
        let grace = ms(self.config.grace);
        let listed = self.blobs.list_blobs().await?;
        report.blobs_seen = listed.len();
        let sizes: HashMap<Digest, u64> =
            listed.iter().map(|b| (b.digest.clone(), b.size)).collect();
        self.mark(&listed, now_ms.saturating_sub(grace), now_ms, &mut report)
            .await?;
        self.sweep(&sizes, now_ms.saturating_sub(grace), &mut report)
            .await?;
        self.remove_stale_uploads(now_ms, &mut report).await?;
        tracing::info!(?report, "garbage collection done");
        Ok(report)
    }

    /// The digests among `digests` that some manifest references.
    async fn referenced(&self, digests: &[Digest]) -> Result<HashSet<Digest>> {
        let mut referenced = HashSet::new();
        for batch in digests.chunks(BATCH) {
            let holders = self.store.blob_holders(batch).await?;
            referenced.extend(
                holders
                    .into_iter()
                    .filter(|h| h.referenced)
                    .map(|h| h.digest),
            );
        }
        Ok(referenced)
    }

    /// Marks unreferenced objects written before `old_before_ms`; clears
    /// candidates found referenced.
    async fn mark(
        &self,
        listed: &[StoredBlob],
        old_before_ms: i64,
        now_ms: i64,
        report: &mut GcReport,
    ) -> Result<()> {
        let all: Vec<Digest> = listed.iter().map(|b| b.digest.clone()).collect();
        let referenced = self.referenced(&all).await?;
        let mut unreferenced = Vec::new();
        for b in listed.iter().filter(|b| !referenced.contains(&b.digest)) {
            if b.last_modified_ms > old_before_ms {
                report.young_skipped += 1;
            } else {
                unreferenced.push(b.digest.clone());
            }
        }
        for batch in unreferenced.chunks(BATCH) {
            self.store.mark_gc_candidates(batch, now_ms).await?;
        }
        report.marked = unreferenced.len();
        let revived: Vec<Digest> = self
            .store
            .gc_candidates(i64::MAX)
            .await?
            .into_iter()
            .filter(|d| referenced.contains(d))
            .collect();
        for batch in revived.chunks(BATCH) {
            self.store.clear_gc_candidates(batch).await?;
        }
        report.revived += revived.len();
        Ok(())
    }

    /// Deletes candidates marked at or before `marked_before_ms` that are
    /// still unreferenced.
    async fn sweep(
        &self,
        sizes: &HashMap<Digest, u64>,
        marked_before_ms: i64,
        report: &mut GcReport,
    ) -> Result<()> {
        let due = self.store.gc_candidates(marked_before_ms).await?;
        for batch in due.chunks(BATCH) {
            let holders = self.store.blob_holders(batch).await?;
            let referenced: HashSet<&Digest> = holders
                .iter()
                .filter(|h| h.referenced)
                .map(|h| &h.digest)
                .collect();
            let (revived, garbage): (Vec<Digest>, Vec<Digest>) =
                batch.iter().cloned().partition(|d| referenced.contains(d));
            self.store.clear_gc_candidates(&revived).await?;
            report.revived += revived.len();
            for h in holders
                .iter()
                .filter(|h| h.linked && !referenced.contains(&h.digest))
            {
                self.store.unlink_blob(&h.repo, &h.digest).await?;
            }
            for d in &garbage {
                self.blobs.delete(d).await?;
                // A candidate whose bytes were already gone is only forgotten.
                if let Some(size) = sizes.get(d) {
                    report.deleted += 1;
                    report.bytes_freed += size;
                }
            }
            self.store.forget_blobs(&garbage).await?;
            self.check_after_delete(&garbage, report).await?;
        }
        Ok(())
    }

    /// Reports deleted digests that became referenced meanwhile.
    async fn check_after_delete(&self, deleted: &[Digest], report: &mut GcReport) -> Result<()> {
        let mut late: Vec<Digest> = self.referenced(deleted).await?.into_iter().collect();
        late.sort();
        for d in &late {
            tracing::error!(digest = %d, "a blob was referenced again while garbage collection deleted it; push its image again");
        }
        report.referenced_after_delete.extend(late);
        Ok(())
    }

    /// Removes upload sessions created more than the upload TTL ago with
    /// their chunks, then chunks older than the TTL whose session is gone.
    ///
    /// A session is created before any of its chunks is written, so a chunk
    /// older than the TTL belongs to a session that is stale too.
    /// Staging files of local writes a crash interrupted (see
    /// [`crate::blob::BlobStore::remove_stale_staging`]) go by the same cutoff.
    async fn remove_stale_uploads(&self, now_ms: i64, report: &mut GcReport) -> Result<()> {
        let before = now_ms.saturating_sub(ms(self.config.upload_ttl));
        for upload in self.store.list_stale_uploads(before).await? {
            if self.store.delete_upload(&upload.repo, &upload.id).await? {
                report.uploads_removed += 1;
            }
            for part in &upload.parts {
                self.blobs.delete_part(&upload.id, &part.key).await?;
                report.parts_removed += 1;
            }
        }
        report.staging_removed += self.blobs.remove_stale_staging(before).await?;
        for part in self.blobs.list_upload_parts().await? {
            if part.last_modified_ms < before {
                self.blobs.delete_part(&part.upload_id, &part.key).await?;
                report.parts_removed += 1;
            }
        }
        Ok(())
    }
}
