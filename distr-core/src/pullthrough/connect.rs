//! [`UpstreamConnector`]: how the pull-through cache obtains upstream
//! clients for artifacts, without knowing the transport.

use std::fmt::Debug;
use std::sync::Arc;

use crate::access::ArtifactUpstream;
use crate::upstream::{DynUpstream, UpstreamResult};

/// Builds [`Upstream`](crate::upstream::Upstream) clients from an artifact's
/// upstream configuration. Implemented by transports (distr-hyper's
/// `OciConnector`); unit tests implement it with in-process fakes.
pub trait UpstreamConnector: Debug + Send + Sync + 'static {
    /// A client for `upstream`. Cheap enough to call once per configuration
    /// change: callers cache the client (and with it its tokens).
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>>;
}
