//! Upstream calls: [`MeteredConnector`] hands out [`MeteredUpstream`]s,
//! which count requests, errors by kind and latency per operation,
//! labelled by the id of the artifact whose upstream they call (never the
//! vendor's upstream host, which scrapers need not learn).

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use distr_core::access::{ArtifactId, ArtifactUpstream};
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{
    DynUpstream, ManifestHead, TagPage, Upstream, UpstreamBlob, UpstreamError, UpstreamManifest,
    UpstreamRef, UpstreamResult,
};
use distr_core::{Digest, Reference};
use futures::StreamExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::requests::latency_histogram;

/// An upstream operation: the `operation` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Operation {
    Connect,
    ListTags,
    HeadManifest,
    GetManifest,
    GetBlob,
    CheckAccess,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Connect => "connect",
            Operation::ListTags => "list_tags",
            Operation::HeadManifest => "head_manifest",
            Operation::GetManifest => "get_manifest",
            Operation::GetBlob => "get_blob",
            Operation::CheckAccess => "check_access",
        }
    }
}

/// The `kind` label of an upstream error; `stream` for a blob body that
/// failed after its head (cut off, or not matching its digest).
pub(crate) fn error_kind(e: &UpstreamError) -> &'static str {
    match e {
        UpstreamError::InvalidReference(_) => "invalid_reference",
        UpstreamError::Unauthorized(_) => "unauthorized",
        UpstreamError::Denied(_) => "denied",
        UpstreamError::NotFound(_) => "not_found",
        UpstreamError::RateLimited { .. } => "rate_limited",
        UpstreamError::RangeNotSatisfiable { .. } => "range_not_satisfiable",
        UpstreamError::Unavailable(_) => "unavailable",
        UpstreamError::Protocol(_) => "protocol",
        UpstreamError::DigestMismatch { .. } => "digest_mismatch",
        UpstreamError::Unsupported(_) => "unsupported",
        _ => "other",
    }
}

const STREAM_ERROR: &str = "stream";

impl prometheus_client::encoding::EncodeLabelValue for Operation {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder,
    ) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

/// The `artifact` label of calls checking an upstream configuration that is
/// not saved yet (an artifact being created).
pub(crate) const UNSAVED: &str = "unsaved";

/// `artifact`, `operation`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OpLabels {
    artifact: Arc<str>,
    operation: Operation,
}

/// `artifact`, `operation`, `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    artifact: Arc<str>,
    operation: Operation,
    kind: &'static str,
}

/// `artifact`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ArtifactLabels {
    artifact: Arc<str>,
}

/// The upstream series.
#[derive(Debug)]
pub(crate) struct UpstreamMetrics {
    requests: Family<OpLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Family<OpLabels, Histogram, fn() -> Histogram>,
    bytes: Family<ArtifactLabels, Counter>,
}

impl UpstreamMetrics {
    /// The families, registered with `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            requests: Family::default(),
            errors: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            bytes: Family::default(),
        };
        registry.register(
            "distr_upstream_requests",
            "Calls to upstream registries, by artifact id and operation",
            this.requests.clone(),
        );
        registry.register(
            "distr_upstream_errors",
            "Failed calls to upstream registries, by artifact id, operation and error kind \
             (kind=\"stream\": a blob body failed after its head)",
            this.errors.clone(),
        );
        registry.register_with_unit(
            "distr_upstream_request_duration",
            "Latency of upstream calls (for blobs: to the response head), \
             by artifact id and operation",
            Unit::Seconds,
            this.duration.clone(),
        );
        registry.register_with_unit(
            "distr_upstream_received",
            "Blob bytes received from upstream registries, by artifact id",
            Unit::Bytes,
            this.bytes.clone(),
        );
        this
    }

    fn observe(
        &self,
        artifact: &Arc<str>,
        operation: Operation,
        elapsed: Duration,
        error: Option<&UpstreamError>,
    ) {
        let labels = OpLabels {
            artifact: Arc::clone(artifact),
            operation,
        };
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if let Some(e) = error {
            self.error(artifact, operation, error_kind(e));
        }
    }

    fn error(&self, artifact: &Arc<str>, operation: Operation, kind: &'static str) {
        self.errors
            .get_or_create(&ErrorLabels {
                artifact: Arc::clone(artifact),
                operation,
                kind,
            })
            .inc();
    }
}

/// An [`UpstreamConnector`] that wraps every client of another connector
/// in a [`MeteredUpstream`]. Made by
/// [`Metrics::connector`](super::Metrics::connector); give it to the
/// `PullThrough` in place of the connector it wraps.
pub struct MeteredConnector {
    inner: Arc<dyn UpstreamConnector>,
    metrics: Arc<UpstreamMetrics>,
}

impl MeteredConnector {
    pub(crate) fn new(inner: Arc<dyn UpstreamConnector>, metrics: Arc<UpstreamMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl fmt::Debug for MeteredConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredConnector")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl MeteredConnector {
    /// A metered client of `upstream`, its series labelled `label`.
    fn connect_labelled(
        &self,
        label: Arc<str>,
        connect: impl FnOnce() -> UpstreamResult<Arc<DynUpstream>>,
    ) -> UpstreamResult<Arc<DynUpstream>> {
        match connect() {
            Ok(client) => Ok(Arc::new(MeteredUpstream::new(
                client,
                label,
                Arc::clone(&self.metrics),
            ))),
            Err(e) => {
                self.metrics
                    .error(&label, Operation::Connect, error_kind(&e));
                Err(e)
            }
        }
    }
}

impl UpstreamConnector for MeteredConnector {
    /// A client for an upstream configuration not saved yet: labelled
    /// `artifact="unsaved"`.
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>> {
        self.connect_labelled(UNSAVED.into(), || self.inner.connect(upstream))
    }

    fn connect_artifact(
        &self,
        artifact: ArtifactId,
        upstream: &ArtifactUpstream,
    ) -> UpstreamResult<Arc<DynUpstream>> {
        self.connect_labelled(artifact.to_string().into(), || {
            self.inner.connect_artifact(artifact, upstream)
        })
    }
}

/// An [`Upstream`] that delegates to another one, recording each call:
/// `distr_upstream_requests_total`, `distr_upstream_errors_total` (by
/// [`UpstreamError`] kind) and `distr_upstream_request_duration_seconds`
/// per operation, and the blob bytes received. The `artifact` label is the
/// id of the artifact whose upstream is called (`unsaved` while checking a
/// new artifact's configuration), never its host or repository.
pub struct MeteredUpstream {
    inner: Arc<DynUpstream>,
    artifact: Arc<str>,
    metrics: Arc<UpstreamMetrics>,
}

impl MeteredUpstream {
    pub(crate) fn new(
        inner: Arc<DynUpstream>,
        artifact: Arc<str>,
        metrics: Arc<UpstreamMetrics>,
    ) -> Self {
        Self {
            inner,
            artifact,
            metrics,
        }
    }

    async fn timed<T>(
        &self,
        operation: Operation,
        call: impl Future<Output = UpstreamResult<T>>,
    ) -> UpstreamResult<T> {
        let start = Instant::now();
        let outcome = call.await;
        self.metrics.observe(
            &self.artifact,
            operation,
            start.elapsed(),
            outcome.as_ref().err(),
        );
        outcome
    }
}

impl fmt::Debug for MeteredUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredUpstream")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Upstream for MeteredUpstream {
    fn target(&self) -> &UpstreamRef {
        self.inner.target()
    }

    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage> {
        self.timed(Operation::ListTags, self.inner.list_tags(last, n))
            .await
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        self.timed(Operation::HeadManifest, self.inner.head_manifest(reference))
            .await
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        self.timed(Operation::GetManifest, self.inner.get_manifest(reference))
            .await
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        let mut blob = self
            .timed(Operation::GetBlob, self.inner.get_blob(digest, range))
            .await?;
        let bytes = self.metrics.bytes.get_or_create_owned(&ArtifactLabels {
            artifact: Arc::clone(&self.artifact),
        });
        let (metrics, artifact) = (Arc::clone(&self.metrics), Arc::clone(&self.artifact));
        blob.body = blob
            .body
            .inspect(move |chunk| match chunk {
                Ok(data) => {
                    bytes.inc_by(data.len() as u64);
                }
                Err(_) => metrics.error(&artifact, Operation::GetBlob, STREAM_ERROR),
            })
            .boxed();
        Ok(blob)
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        self.timed(Operation::CheckAccess, self.inner.check_access())
            .await
    }
}

#[cfg(test)]
mod tests;
