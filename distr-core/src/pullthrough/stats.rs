//! Counters of the pull-through cache, for metrics: [`PullThroughStats`].
//!
//! Plain atomics, bumped on the request path and read at scrape time; no
//! metrics library is involved here (adapters such as distr-hyper's
//! `Metrics` turn a [`PullThroughStats`] into series).

use std::sync::atomic::{AtomicU64, Ordering};

use super::handle::PullThrough;

/// A point-in-time copy of a [`PullThrough`]'s counters.
///
/// Every counter only grows (for the life of the `PullThrough`, across its
/// clones); `fills_in_flight` is a current value.
///
/// A *hit* is a request the cache answered from distr's storage, a *miss*
/// one it answered from the upstream (fetching, joining a fetch in flight or
/// forwarding a range). Requests for repositories of artifacts pushed to
/// distr are answered from storage too and count as hits: the cache cannot
/// tell them apart without an extra lookup on every request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PullThroughStats {
    /// Blob reads answered from storage.
    pub blob_hits: u64,
    /// Blob reads answered from the upstream.
    pub blob_misses: u64,
    /// Manifest reads answered from storage.
    pub manifest_hits: u64,
    /// Manifest reads that went to the upstream (whatever it answered).
    pub manifest_misses: u64,
    /// Blob fills (upstream fetches into the cache) running now.
    pub fills_in_flight: u64,
    /// Artifact syncs started through
    /// [`trigger_sync`](PullThrough::trigger_sync) (and so `sync_all`);
    /// joined syncs are not counted twice.
    pub syncs_started: u64,
    /// Syncs that ended with every tag synced.
    pub syncs_succeeded: u64,
    /// Syncs that failed, or ended with tags that could not be synced.
    pub syncs_failed: u64,
}

/// The live counters behind [`PullThroughStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    blob_hits: AtomicU64,
    blob_misses: AtomicU64,
    manifest_hits: AtomicU64,
    manifest_misses: AtomicU64,
    syncs_started: AtomicU64,
    syncs_succeeded: AtomicU64,
    syncs_failed: AtomicU64,
}

impl Counters {
    /// Counts a blob read answered from storage (`true`) or the upstream.
    pub(super) fn blob(&self, hit: bool) {
        bump(if hit {
            &self.blob_hits
        } else {
            &self.blob_misses
        });
    }

    /// Counts a manifest read answered from storage (`true`) or the upstream.
    pub(super) fn manifest(&self, hit: bool) {
        bump(if hit {
            &self.manifest_hits
        } else {
            &self.manifest_misses
        });
    }

    /// Counts a sync starting.
    pub(super) fn sync_started(&self) {
        bump(&self.syncs_started);
    }

    /// Counts a sync ending, successfully (`true`) or not.
    pub(super) fn sync_ended(&self, succeeded: bool) {
        bump(if succeeded {
            &self.syncs_succeeded
        } else {
            &self.syncs_failed
        });
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl PullThrough {
    /// The cache's counters now (hits, misses, fills in flight, syncs).
    /// Cheap: a few atomic loads and one lock of the fill table.
    pub fn stats(&self) -> PullThroughStats {
        let c = &self.inner.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PullThroughStats {
            blob_hits: load(&c.blob_hits),
            blob_misses: load(&c.blob_misses),
            manifest_hits: load(&c.manifest_hits),
            manifest_misses: load(&c.manifest_misses),
            fills_in_flight: self.inner.filler.in_flight() as u64,
            syncs_started: load(&c.syncs_started),
            syncs_succeeded: load(&c.syncs_succeeded),
            syncs_failed: load(&c.syncs_failed),
        }
    }
}
