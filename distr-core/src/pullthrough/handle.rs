//! [`PullThrough`]: the handle, its configuration and shared state.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::connect::UpstreamConnector;
use super::fill::{BlobFiller, DEFAULT_FILL_WINDOW};
use super::flight::Flights;
use super::resolve::Resolver;
use super::stats::Counters;
use super::sync::SyncReport;
use crate::access::{ArtifactId, DynAccessStore};
use crate::gc::PullTouches;
use crate::name::RepoName;
use crate::reference::Reference;
use crate::registry::Registry;
use crate::store::ManifestRecord;

/// Default number of tags (and index children) of one artifact synced at once.
pub const DEFAULT_SYNC_CONCURRENCY: usize = 4;

/// Default time a repository → artifact lookup is reused.
pub const DEFAULT_LOOKUP_TTL: Duration = Duration::from_secs(1);

/// The pull-through cache in front of a [`Registry`]: serves manifests and
/// blobs of artifacts that mirror an upstream repository, fetching what is
/// not cached yet, and syncs their tags.
///
/// Cheap to clone; clones share caches, in-flight fetches and running syncs.
/// `Debug` never prints upstream secrets.
#[derive(Clone)]
pub struct PullThrough {
    pub(super) inner: Arc<Inner>,
}

/// Tunables, set with the `with_*` builders.
#[derive(Clone, Copy, Debug)]
pub(super) struct Config {
    pub(super) fill_window: u64,
    pub(super) sync_concurrency: usize,
    pub(super) lookup_ttl: Duration,
}

pub(super) struct Inner {
    pub(super) registry: Arc<Registry>,
    pub(super) access: Arc<DynAccessStore>,
    pub(super) connector: Arc<dyn UpstreamConnector>,
    pub(super) config: Config,
    pub(super) resolver: Resolver,
    pub(super) filler: BlobFiller,
    /// On-demand manifest fetches, one per repository and reference.
    pub(super) manifest_flights: Flights<(RepoName, Reference), ManifestRecord>,
    /// Running syncs, one per artifact.
    pub(super) sync_flights: Flights<ArtifactId, SyncReport>,
    /// Hits, misses and syncs, for [`PullThrough::stats`].
    pub(super) stats: Counters,
    /// Last-pull times of blobs (for the cache's eviction order).
    pub(super) touches: PullTouches,
}

impl PullThrough {
    /// A pull-through cache over `registry`, finding artifacts in `access`
    /// and connecting to their upstreams with `connector`.
    pub fn new(
        registry: Arc<Registry>,
        access: Arc<DynAccessStore>,
        connector: Arc<dyn UpstreamConnector>,
    ) -> Self {
        let config = Config {
            fill_window: DEFAULT_FILL_WINDOW,
            sync_concurrency: DEFAULT_SYNC_CONCURRENCY,
            lookup_ttl: DEFAULT_LOOKUP_TTL,
        };
        Self::assemble(registry, access, connector, config)
    }

    /// Keeps at most `bytes` of each in-flight blob fill in memory (see
    /// [`BlobFiller`]). Call while building: it starts with fresh caches.
    pub fn with_fill_window(self, bytes: u64) -> Self {
        self.reconfigure(|c| c.fill_window = bytes)
    }

    /// Syncs at most `n` tags of one artifact (one upstream) at once
    /// (default [`DEFAULT_SYNC_CONCURRENCY`]; at least 1). Call while
    /// building: it starts with fresh caches.
    pub fn with_sync_concurrency(self, n: usize) -> Self {
        self.reconfigure(|c| c.sync_concurrency = n.max(1))
    }

    /// Reuses a repository → artifact lookup for `ttl` (default
    /// [`DEFAULT_LOOKUP_TTL`]; zero disables the cache). Call while
    /// building: it starts with fresh caches.
    pub fn with_lookup_ttl(self, ttl: Duration) -> Self {
        self.reconfigure(|c| c.lookup_ttl = ttl)
    }

    /// The registry the cache fills.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// The blob filler (in-flight upstream blob fetches).
    pub fn filler(&self) -> &BlobFiller {
        &self.inner.filler
    }

    /// The connector that builds upstream clients (also used to check an
    /// upstream's credentials before it is saved).
    pub fn connector(&self) -> &Arc<dyn UpstreamConnector> {
        &self.inner.connector
    }

    fn reconfigure(self, f: impl FnOnce(&mut Config)) -> Self {
        let mut config = self.inner.config;
        f(&mut config);
        Self::assemble(
            Arc::clone(&self.inner.registry),
            Arc::clone(&self.inner.access),
            Arc::clone(&self.inner.connector),
            config,
        )
    }

    fn assemble(
        registry: Arc<Registry>,
        access: Arc<DynAccessStore>,
        connector: Arc<dyn UpstreamConnector>,
        config: Config,
    ) -> Self {
        let filler = BlobFiller::with_window(registry.blobs().clone(), config.fill_window);
        let registry_store = &Arc::clone(registry.store());
        let resolver = Resolver::new(
            Arc::clone(&access),
            Arc::clone(&connector),
            config.lookup_ttl,
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                access,
                connector,
                config,
                resolver,
                filler,
                manifest_flights: Flights::new(),
                sync_flights: Flights::new(),
                stats: Counters::default(),
                touches: PullTouches::new(Arc::clone(registry_store)),
            }),
        }
    }
}

impl fmt::Debug for PullThrough {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("PullThrough")
            .field("registry", &inner.registry)
            .field("access", &inner.access)
            .field("connector", &inner.connector)
            .field("config", &inner.config)
            .field("resolver", &inner.resolver)
            .field("filler", &inner.filler)
            .field("manifest_fetches", &inner.manifest_flights.len())
            .field("syncs", &inner.sync_flights.len())
            .finish()
    }
}
