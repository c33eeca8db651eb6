//! Prometheus metrics: [`Metrics`] owns the registry and hands out the
//! pieces that record into it, each a wrapper of the thing it measures.
//!
//! - [`MetricsLayer`] / [`Metered`]: requests by route kind, method and
//!   status, latency, response bytes and authentication failures.
//! - [`MeteredConnector`] / [`MeteredUpstream`]: upstream calls by upstream
//!   host and operation, errors by kind, latency, bytes received.
//! - [`Metrics::observe_pull_through`] / [`Metrics::observe_recorder`]:
//!   cache hits and misses, fills in flight, syncs, and the analytics
//!   queue, read from their own counters at scrape time.
//! - [`MetricsEndpoint`]: `GET /metrics` in the OpenMetrics text format.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use distr_hyper::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! let registry = Arc::new(distr_core::Registry::in_memory());
//! let service = metrics.wrap(distr_hyper::DistrService::new(registry));
//! // One listener for both:
//! let _app = metrics.endpoint().with_fallback(service);
//! # Ok(()) }
//! ```
//!
//! No label holds anything a client chooses or anything secret: routes are
//! kinds, upstreams are registry hosts, never paths, repositories or
//! credentials.

mod body;
mod collector;
mod endpoint;
mod labels;
mod layer;
mod requests;
mod service;
mod upstream;

use std::fmt;
use std::sync::Arc;

use distr_core::analytics::Recorder;
use distr_core::pullthrough::{PullThrough, UpstreamConnector};
use prometheus_client::registry::Registry;

pub use endpoint::{MetricsEndpoint, WithMetricsEndpoint, METRICS_PATH, OPENMETRICS_CONTENT_TYPE};
pub use labels::RouteKind;
pub use layer::MetricsLayer;
pub use service::Metered;
pub use upstream::{MeteredConnector, MeteredUpstream};

use collector::{Sources, SourcesCollector};
use requests::HttpMetrics;
use upstream::UpstreamMetrics;

/// The metrics of one server: a Prometheus registry and the series
/// recorded into it. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    http: Arc<HttpMetrics>,
    upstream: Arc<UpstreamMetrics>,
    sources: Arc<Sources>,
}

impl Metrics {
    /// A registry with every distr series registered (the request and
    /// upstream series appear once something is recorded).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http = Arc::new(HttpMetrics::register(&mut registry));
        let upstream = Arc::new(UpstreamMetrics::register(&mut registry));
        let sources = Arc::new(Sources::default());
        registry.register_collector(Box::new(SourcesCollector(Arc::clone(&sources))));
        Self {
            inner: Arc::new(Inner {
                registry,
                http,
                upstream,
                sources,
            }),
        }
    }

    /// A layer recording the requests of the services it wraps.
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer::new(Arc::clone(&self.inner.http))
    }

    /// `service`, recording its requests (the same as applying
    /// [`layer`](Self::layer)).
    pub fn wrap<S>(&self, service: S) -> Metered<S> {
        Metered::new(service, Arc::clone(&self.inner.http))
    }

    /// `connector`, handing out upstream clients that record their calls.
    pub fn connector(&self, connector: Arc<dyn UpstreamConnector>) -> MeteredConnector {
        MeteredConnector::new(connector, Arc::clone(&self.inner.upstream))
    }

    /// Reports `pull_through`'s counters ([`PullThrough::stats`]) on every
    /// scrape: cache hits and misses, fills in flight, syncs. Replaces a
    /// cache observed before.
    pub fn observe_pull_through(&self, pull_through: &PullThrough) {
        self.inner.sources.set_pull_through(pull_through.clone());
    }

    /// Reports `recorder`'s counters ([`Recorder::stats`]) on every scrape:
    /// queue depth, dropped, written and lost items. Keeps a handle on the
    /// recorder, so its writer stops on [`Recorder::shutdown`] rather than
    /// when the other handles are dropped.
    pub fn observe_recorder(&self, recorder: &Recorder) {
        self.inner.sources.set_recorder(recorder.clone());
    }

    /// The service answering `GET /metrics`.
    pub fn endpoint(&self) -> MetricsEndpoint {
        MetricsEndpoint::new(self.clone())
    }

    /// Every series now, in the OpenMetrics text format (ending in
    /// `# EOF`; media type [`OPENMETRICS_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            // Only a collector can fail; serve what was encoded.
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
