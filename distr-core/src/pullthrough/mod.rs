//! The pull-through cache: artifacts whose bytes live in a vendor's upstream
//! registry, served through distr and cached on the way.
//!
//! [`PullThrough`] sits beside the [`Registry`](crate::Registry) and is
//! asked on local misses:
//!
//! - [`upstream_for`](PullThrough::upstream_for) tells whether a repository
//!   belongs to an artifact with an upstream (a [`Mirror`]), and
//!   [`check_writable`](PullThrough::check_writable) refuses pushes to such
//!   repositories.
//! - [`get_manifest`](PullThrough::get_manifest) fetches missing manifests
//!   (by tag; by digest only for callers that see the whole repository) and
//!   stores them byte-for-byte, an index with its children.
//! - [`stat_blob`](PullThrough::stat_blob) and
//!   [`read_blob`](PullThrough::read_blob) serve blobs that a stored
//!   manifest of the repository references, and no others: sizes come from
//!   the manifest, bytes from the [`BlobFiller`].
//! - [`sync_artifact`](PullThrough::sync_artifact),
//!   [`trigger_sync`](PullThrough::trigger_sync) and
//!   [`sync_all`](PullThrough::sync_all) keep tags in step with the upstream.
//!
//! [`BlobFiller`] runs at most one upstream fetch per digest. The fetch (a
//! *fill*) runs in its own task, is hashed as it flows and is committed to
//! the [`BlobStore`](crate::BlobStore) only when the digest matches; every
//! concurrent caller reads the same fill. See [`fill`] for the memory bound.
//!
//! Upstream clients come from an [`UpstreamConnector`] and are cached per
//! artifact until its upstream configuration changes. A failing or
//! unreachable upstream surfaces as [`Error::Upstream`](crate::Error::Upstream)
//! (a 5xx), never as "unknown".

mod blobs;
mod body;
mod connect;
mod errors;
pub mod fill;
mod flight;
mod handle;
mod jobs;
mod manifests;
mod resolve;
mod stats;
mod sync;

pub use connect::UpstreamConnector;
pub use fill::{BlobFiller, FillRead, DEFAULT_FILL_WINDOW};
pub use handle::{PullThrough, DEFAULT_LOOKUP_TTL, DEFAULT_SYNC_CONCURRENCY};
pub use jobs::{SyncAllReport, SyncHandle, SyncOutcome, SyncStarted, SYNC_ALL_CONCURRENCY};
pub use manifests::MAX_INDEX_DEPTH;
pub use resolve::Mirror;
pub use stats::PullThroughStats;
pub use sync::SyncReport;

#[cfg(test)]
mod tests;
