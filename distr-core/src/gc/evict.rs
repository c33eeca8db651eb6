//! Size-bounded eviction of the pull-through cache, least recently pulled
//! first.

use std::collections::HashMap;

use super::{ms, EvictionConfig, GarbageCollector, MirroredRepos, BATCH};
use crate::digest::Digest;
use crate::error::Result;
use crate::store::BlobHolder;

/// What one [`GarbageCollector::evict`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictionReport {
    /// Bytes of blobs held only by mirrored repositories, before eviction.
    pub cached_bytes: u64,
    /// Blobs evicted.
    pub evicted: usize,
    /// Bytes of the evicted blobs.
    pub bytes_freed: u64,
    /// Blobs passed over because they are being served (a fill in flight,
    /// or pulled within the protection window).
    pub protected: usize,
}

/// A blob held only by mirrored repositories.
struct Cached {
    digest: Digest,
    size: u64,
    /// Last pull, else when its bytes were written.
    last_used_ms: i64,
}

impl GarbageCollector {
    /// Evicts blobs held only by `mirrored` repositories, least recently
    /// pulled first, when they exceed `policy.high_bytes`, until they take
    /// at most `policy.low_bytes`. See the [module docs](super).
    pub async fn evict(
        &self,
        mirrored: &MirroredRepos,
        policy: &EvictionConfig,
        now_ms: i64,
    ) -> Result<EvictionReport> {
        let mut report = EvictionReport::default();
        let mut cached = self.cached(mirrored).await?;
        report.cached_bytes = cached.iter().map(|c| c.size).sum();
        if report.cached_bytes <= policy.high_bytes {
            return Ok(report);
        }
        cached.sort_by(|a, b| (a.last_used_ms, &a.digest).cmp(&(b.last_used_ms, &b.digest)));
        let recent_after = now_ms.saturating_sub(ms(policy.protect_recent));
        let mut total = report.cached_bytes;
        for c in cached {
            if total <= policy.low_bytes {
                break;
            }
            if c.last_used_ms > recent_after
                || self.in_flight.as_ref().is_some_and(|f| f(&c.digest))
            {
                report.protected += 1;
                continue;
            }
            if !self.evict_one(&c.digest, mirrored, recent_after).await? {
                report.protected += 1;
                continue;
            }
            total = total.saturating_sub(c.size);
            report.evicted += 1;
            report.bytes_freed += c.size;
        }
        tracing::info!(?report, "pull-through cache eviction done");
        Ok(report)
    }

    /// Blobs held by mirrored repositories only, with their last use.
    async fn cached(&self, mirrored: &MirroredRepos) -> Result<Vec<Cached>> {
        let listed = self.blobs.list_blobs().await?;
        let mut out = Vec::new();
        for batch in listed.chunks(BATCH) {
            let digests: Vec<Digest> = batch.iter().map(|b| b.digest.clone()).collect();
            let holders = group(self.store.blob_holders(&digests).await?);
            let pulls: HashMap<Digest, i64> =
                self.store.blob_pulls(&digests).await?.into_iter().collect();
            for b in batch {
                let Some(repos) = holders.get(&b.digest) else {
                    continue;
                };
                if repos.iter().all(|h| mirrored.contains(&h.repo)) {
                    let pulled = pulls.get(&b.digest).copied().unwrap_or(i64::MIN);
                    out.push(Cached {
                        digest: b.digest.clone(),
                        size: b.size,
                        last_used_ms: pulled.max(b.last_modified_ms),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Re-checks one blob against the store and evicts it: unlinks it from
    /// its (mirrored) repositories, then deletes its bytes. False when it
    /// no longer qualifies (another holder, or a recent pull).
    async fn evict_one(
        &self,
        digest: &Digest,
        mirrored: &MirroredRepos,
        recent_after: i64,
    ) -> Result<bool> {
        let one = std::slice::from_ref(digest);
        let holders = self.store.blob_holders(one).await?;
        if holders.is_empty() || !holders.iter().all(|h| mirrored.contains(&h.repo)) {
            return Ok(false);
        }
        let pulled = self.store.blob_pulls(one).await?;
        if pulled.iter().any(|(_, at)| *at > recent_after) {
            return Ok(false);
        }
        for h in holders.iter().filter(|h| h.linked) {
            self.store.unlink_blob(&h.repo, digest).await?;
        }
        self.blobs.delete(digest).await?;
        self.store.forget_blobs(one).await?;
        Ok(true)
    }
}

/// Holders by digest.
fn group(holders: Vec<BlobHolder>) -> HashMap<Digest, Vec<BlobHolder>> {
    let mut by: HashMap<Digest, Vec<BlobHolder>> = HashMap::new();
    for h in holders {
        by.entry(h.digest.clone()).or_default().push(h);
    }
    by
}
