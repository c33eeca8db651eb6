//! [`OciUpstream`]: the OCI Distribution API of an upstream registry over
//! hyper-util's pooled HTTP/1.1 client, one file per job:
//!
//! - `builder`: [`OciUpstreamBuilder`], configuration validated in `build`;
//! - `transport`: one request with redirects, timeouts and the
//!   [`RetryPolicy`](crate::RetryPolicy);
//! - `auth`: Basic credentials, the Bearer challenge with its token cache,
//!   and replacing a rejected ECR token;
//! - `response`: statuses to [`UpstreamError`]s, headers and small bodies;
//! - `stream`: body streams (idle timeout, range slices);
//! - `upstream`: the [`distr_core::upstream::Upstream`] implementation.

mod auth;
mod builder;
mod response;
mod stream;
mod transport;
mod upstream;

pub use builder::OciUpstreamBuilder;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use distr_core::upstream::{EgressPolicy, UpstreamRef};
use http::HeaderValue;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;

use crate::ecr::{EcrToken, EcrTokenSource};
use crate::retry::RetryPolicy;
use crate::tls::HttpsConnector;
use crate::token::CachedToken;

/// Largest manifest read from an upstream.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token or error response read.
pub(super) const MAX_SMALL_BODY: u64 = 64 * 1024;
/// Longest wait for the next chunk of an error response body.
pub(super) const ERROR_BODY_IDLE: Duration = Duration::from_secs(10);
/// Most redirects followed (blob downloads usually redirect once to a CDN).
pub(super) const MAX_REDIRECTS: usize = 5;
/// Manifest media types asked for. Without `Accept`, Distribution answers 404
/// for OCI manifests.
pub(super) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

pub(super) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// An upstream registry repository spoken to over the OCI Distribution API.
///
/// Authentication: anonymous, HTTP Basic (sent up front), and the Bearer
/// token flow: on `401` with `WWW-Authenticate: Bearer realm=…`, a token is
/// fetched from the realm (with the Basic credentials when configured),
/// cached until shortly before it expires, and the request retried once.
///
/// With [`UpstreamAuth::Ecr`] the Basic credentials are `AWS:<password>`
/// from an [`EcrTokenSource`]. When the registry (or its token realm)
/// answers `401`/`403` to an ECR token, the token is invalidated, a new one
/// fetched and the request retried once.
pub struct OciUpstream<C = HttpsConnector> {
    target: UpstreamRef,
    /// `<scheme>://<registry>/v2/<repository>`.
    base: String,
    insecure: bool,
    response_timeout: Duration,
    body_idle_timeout: Duration,
    retry: RetryPolicy,
    user_agent: HeaderValue,
    creds: Creds,
    client: Client<C, Empty<Bytes>>,
    /// The operator's egress rules, for token realms.
    egress: Arc<EgressPolicy>,
    /// The current bearer token; locked across a fetch so concurrent
    /// requests fetch it once.
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl OciUpstream {
    /// A builder for `target`.
    pub fn builder(target: UpstreamRef) -> OciUpstreamBuilder {
        OciUpstreamBuilder::new(target)
    }
}

impl<C> std::fmt::Debug for OciUpstream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciUpstream")
            .field("target", &self.target)
            .field("insecure", &self.insecure)
            .field("auth", &self.creds)
            .finish_non_exhaustive()
    }
}

/// Where the Basic credentials come from.
enum Creds {
    Anonymous,
    /// `Basic …`, marked sensitive.
    Basic(HeaderValue),
    Ecr(Arc<EcrTokenSource>),
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Creds::Anonymous => f.write_str("Anonymous"),
            Creds::Basic(_) => f.write_str("Basic(<redacted>)"),
            Creds::Ecr(source) => f.debug_tuple("Ecr").field(source).finish(),
        }
    }
}

/// The Basic credentials of one request.
struct BasicAuth {
    header: HeaderValue,
    /// The ECR token behind `header`, to invalidate when it is rejected.
    ecr: Option<Arc<EcrToken>>,
}
