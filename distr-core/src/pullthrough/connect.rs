//! [`UpstreamConnector`]: how the pull-through cache obtains upstream
//! clients for artifacts, without knowing the transport.

use std::fmt::Debug;
use std::sync::Arc;

use crate::access::{ArtifactId, ArtifactUpstream};
use crate::upstream::{DynUpstream, UpstreamResult};

/// Builds [`Upstream`](crate::upstream::Upstream) clients from an artifact's
/// upstream configuration. Implemented by transports (distr-hyper's
/// `OciConnector`); unit tests implement it with in-process fakes.
pub trait UpstreamConnector: Debug + Send + Sync + 'static {
    /// A client for `upstream`. Cheap enough to call once per configuration
    /// change: callers cache the client (and with it its tokens).
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>>;

    /// A client for the upstream of the stored artifact `artifact`: what
    /// the pull-through cache calls. Defaults to [`connect`](Self::connect);
    /// wrappers that describe calls per artifact (distr-hyper's metered
    /// connector labels its series by artifact id, never by the vendor's
    /// upstream host) override it.
    fn connect_artifact(
        &self,
        artifact: ArtifactId,
        upstream: &ArtifactUpstream,
    ) -> UpstreamResult<Arc<DynUpstream>> {
        let _ = artifact;
        self.connect(upstream)
    }
}
