//! Garbage collection of blob bytes and size-bounded eviction of the
//! pull-through cache, safe while every replica keeps serving.
//!
//! # What is garbage
//!
//! Blob bytes live in the [`BlobStore`](crate::BlobStore) once per digest,
//! shared by every repository. A blob is *referenced* while a manifest
//! stored in some repository lists it (as config or layer) or has its
//! digest. A repository's blob *link* alone does not keep it: a push
//! uploads (and links) its blobs before its manifest, and a deleted
//! manifest leaves its blobs linked. As in the reference registry's
//! collector, a blob that no manifest references for a whole grace period
//! is garbage; when it is deleted its links go too, so that no repository
//! claims bytes that are gone. Upload sessions older than
//! [`GcConfig::upload_ttl`] are abandoned and go with their chunks.
//!
//! # Mark and sweep ([`GarbageCollector::run`])
//!
//! 1. *List* every blob object with its last-modified time.
//! 2. *Mark*: objects unreferenced now and older than the grace period are
//!    recorded as candidates ([`MetadataStore::mark_gc_candidates`]) with
//!    the run's time; a candidate keeps its first mark. Younger objects are
//!    never marked (a push writes bytes before its manifest). Candidates
//!    found referenced are cleared.
//! 3. *Sweep*: candidates marked at least the grace period ago are
//!    re-checked one batch at a time; still unreferenced ones are unlinked
//!    from every repository and their bytes deleted, referenced ones are
//!    cleared. A blob is therefore deleted only after being seen
//!    unreferenced twice, at least a grace period (default 24 h) apart,
//!    and never younger than the grace period.
//!
//! The candidates live in the metadata store, so any replica can run the
//! next phase (the server claims each scheduled run through
//! [`RunClaims`](crate::store::RunClaims), job `gc`).
//!
//! ## The remaining race
//!
//! Between the sweep's final check of a digest and the deletion of its
//! bytes (milliseconds), a concurrent push can start referencing it again:
//!
//! - *A manifest push* whose blobs were uploaded earlier: the registry
//!   checks each blob is linked before storing the manifest. If that check
//!   runs before the sweep unlinks and the manifest is stored after the
//!   sweep's check, the manifest references deleted bytes. The window is
//!   the few milliseconds between the two store calls on each side.
//! - *A blob upload or mount* of the digest: `write_verified` skips the
//!   write when the bytes exist, then links. Linking alone does not
//!   protect (see above), so such a blob is unlinked again by the sweep
//!   and the following manifest push fails with `MANIFEST_BLOB_UNKNOWN`:
//!   the client sees an error and pushes again, nothing is silently lost.
//!
//! A digest can only be in this race if it was unreferenced for a whole
//! grace period and is pushed again within milliseconds of its sweep. The
//! sweep re-checks each deleted digest afterwards and reports (and logs as
//! an error) any that became referenced, in
//! [`GcReport::referenced_after_delete`]; re-pushing the image restores
//! it. Closing the race entirely needs a handshake with the write path:
//! the sweep records "deleting D" before its final check, and the
//! registry re-checks that record (or the bytes) after linking or storing
//! a manifest, failing the request when it finds it.
//!
//! # Eviction of the pull-through cache ([`GarbageCollector::evict`])
//!
//! Blobs held only by repositories that mirror an upstream
//! ([`MirroredRepos`]) can be fetched again, so they are a cache: when
//! their total size exceeds [`EvictionConfig::high_bytes`], the least
//! recently pulled are unlinked from their repositories and deleted until
//! the total is at most [`EvictionConfig::low_bytes`]. Pull times come
//! from [`PullTouches`] on the read path (written at most once a minute
//! per digest and replica); a blob never pulled counts from when its bytes
//! were written. A blob held by any other repository is never evicted.
//!
//! A blob being served is never evicted: not while a fill of it is in
//! flight ([`GarbageCollector::with_in_flight`]), nor within
//! [`EvictionConfig::protect_recent`] (default 10 minutes) of its last
//! pull. After an eviction the repository's manifests still list the
//! blob, so the next pull fetches it from the upstream again; a read that
//! races the deletion finds the bytes gone and is refilled the same way
//! (a mirrored repository treats missing bytes like a missing blob).
//!
//! [`MetadataStore::mark_gc_candidates`]: crate::MetadataStore::mark_gc_candidates

mod collect;
mod evict;
mod mirrored;
mod touch;

use std::sync::Arc;
use std::time::Duration;

pub use evict::EvictionReport;
pub use mirrored::MirroredRepos;
pub use touch::{PullTouches, DEFAULT_TOUCH_INTERVAL};

use crate::blob::BlobStore;
use crate::digest::Digest;
use crate::store::MetadataStore;

/// Digests asked of the metadata store at a time.
const BATCH: usize = 500;

/// Default [`GcConfig::grace`]: a day.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default [`GcConfig::upload_ttl`]: a day.
pub const DEFAULT_UPLOAD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default [`EvictionConfig::protect_recent`]: ten minutes.
pub const DEFAULT_PROTECT_RECENT: Duration = Duration::from_secs(10 * 60);

/// Settings of a [`GarbageCollector`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcConfig {
    /// How long a blob must stay unreferenced (and how old its bytes must
    /// be) before it is deleted.
    pub grace: Duration,
    /// Upload sessions older than this are abandoned.
    pub upload_ttl: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            upload_ttl: DEFAULT_UPLOAD_TTL,
        }
    }
}

impl GcConfig {
    /// Sets the grace period.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets the age after which upload sessions are abandoned.
    pub fn with_upload_ttl(mut self, ttl: Duration) -> Self {
        self.upload_ttl = ttl;
        self
    }
}

/// Watermarks of the pull-through cache.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictionConfig {
    /// Eviction starts when cached blobs exceed this many bytes.
    pub high_bytes: u64,
    /// Eviction stops once cached blobs take at most this many bytes.
    pub low_bytes: u64,
    /// Blobs pulled this recently are never evicted.
    pub protect_recent: Duration,
}

impl EvictionConfig {
    /// Watermarks `high_bytes` and `low_bytes` (at most `high_bytes`), with
    /// the [`DEFAULT_PROTECT_RECENT`] window.
    pub fn new(high_bytes: u64, low_bytes: u64) -> Self {
        Self {
            high_bytes,
            low_bytes: low_bytes.min(high_bytes),
            protect_recent: DEFAULT_PROTECT_RECENT,
        }
    }

    /// Sets how recently pulled blobs are protected.
    pub fn with_protect_recent(mut self, window: Duration) -> Self {
        self.protect_recent = window;
        self
    }
}

/// What one [`GarbageCollector::run`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Blob objects listed.
    pub blobs_seen: usize,
    /// Unreferenced objects left alone because they are younger than the
    /// grace period.
    pub young_skipped: usize,
    /// Objects marked unreferenced by this run (including earlier marks).
    pub marked: usize,
    /// Candidates found referenced again and cleared.
    pub revived: usize,
    /// Blobs deleted.
    pub deleted: usize,
    /// Bytes of the deleted blobs.
    pub bytes_freed: u64,
    /// Deleted blobs that were referenced again right after their deletion
    /// (the race of the module docs): their images must be pushed again.
    pub referenced_after_delete: Vec<Digest>,
    /// Abandoned upload sessions removed.
    pub uploads_removed: usize,
    /// Upload chunks deleted (of removed sessions, and orphans).
    pub parts_removed: usize,
    /// Staging files of writes interrupted by a crash, deleted (local
    /// stores only: other stores keep no such files).
    pub staging_removed: usize,
}

/// A check whether a blob is being filled from an upstream right now.
pub type InFlightCheck = Arc<dyn Fn(&Digest) -> bool + Send + Sync>;

/// Deletes unreferenced blobs and abandoned uploads, and evicts the
/// pull-through cache. See the [module docs](self).
#[derive(Clone)]
pub struct GarbageCollector {
    store: Arc<dyn MetadataStore>,
    blobs: BlobStore,
    config: GcConfig,
    in_flight: Option<InFlightCheck>,
}

impl std::fmt::Debug for GarbageCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GarbageCollector")
            .field("store", &self.store)
            .field("blobs", &self.blobs)
            .field("config", &self.config)
            .field("in_flight", &self.in_flight.is_some())
            .finish()
    }
}

impl GarbageCollector {
    /// A collector of `blobs` whose references are in `store`.
    pub fn new(store: Arc<dyn MetadataStore>, blobs: BlobStore, config: GcConfig) -> Self {
        Self {
            store,
            blobs,
            config,
            in_flight: None,
        }
    }

    /// Never evicts a blob for which `check` is true (a fill in flight).
    pub fn with_in_flight(mut self, check: InFlightCheck) -> Self {
        self.in_flight = Some(check);
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &GcConfig {
        &self.config
    }
}

/// `d` in milliseconds, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
