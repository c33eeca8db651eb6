//! [`DistrService`]: the tower service.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use distr_core::pullthrough::PullThrough;
use distr_core::Registry;
use http::{HeaderValue, Request, Response};
use http_body::Body;

use crate::access::AccessControl;
use crate::analytics::PullAnalytics;
use crate::api::ManagementApi;
use crate::body::{BoxError, ResponseBody};
use crate::headers::API_VERSION;

/// The OCI Distribution API of a [`Registry`] as a tower service.
///
/// Never fails at the service level: every error becomes an OCI error
/// response. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DistrService {
    registry: Arc<Registry>,
    access: Option<AccessControl>,
    api: Option<Arc<ManagementApi>>,
    pull_through: Option<PullThrough>,
    analytics: Option<Arc<PullAnalytics>>,
}

impl DistrService {
    /// Serves `registry`.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self {
            registry,
            access: None,
            api: None,
            pull_through: None,
            analytics: None,
        }
    }

    /// Records download analytics (see [`PullAnalytics`]): every manifest
    /// GET and the bytes of every blob GET. Without it nothing is recorded.
    /// It also lets `tags/list` answer an empty list, rather than
    /// NAME_UNKNOWN, for an artifact that exists but has no tags yet.
    pub fn with_analytics(mut self, analytics: PullAnalytics) -> Self {
        self.analytics = Some(Arc::new(analytics));
        self
    }

    /// Serves artifacts that have an upstream as a pull-through cache: tags,
    /// manifests and blobs missing locally are fetched from the upstream
    /// (and cached), and pushes to such artifacts are refused.
    pub fn with_pull_through(mut self, pull_through: PullThrough) -> Self {
        self.pull_through = Some(pull_through);
        self
    }

    /// Requires a personal access token on every request and enforces
    /// entitlements. Without this the registry is open to anyone who can
    /// reach it.
    pub fn with_access_control(mut self, access: AccessControl) -> Self {
        self.access = Some(access);
        self
    }

    /// Serves the management REST API under `/api/v1` (see
    /// [`ManagementApi`]). Without it, those paths are 404 like any other
    /// path that is no registry endpoint.
    pub fn with_management_api(mut self, api: ManagementApi) -> Self {
        self.api = Some(Arc::new(api));
        self
    }

    /// The registry served.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }
}

impl<B> tower_service::Service<Request<B>> for DistrService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let registry = self.registry.clone();
        let access = self.access.clone();
        let api = self.api.clone();
        let pull_through = self.pull_through.clone();
        let analytics = self.analytics.clone();
        Box::pin(async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            let mut resp = match api.as_deref().filter(|_| ManagementApi::handles(&path)) {
                Some(api) => api.handle(req).await,
                None => {
                    let backend = crate::handlers::Backend {
                        registry: &registry,
                        pull_through: pull_through.as_ref(),
                        analytics: analytics.as_deref(),
                        artifacts: analytics
                            .as_ref()
                            .map(|a| a.artifacts().as_ref())
                            .or_else(|| api.as_deref().map(ManagementApi::artifacts)),
                    };
                    crate::handlers::dispatch(backend, access.as_ref(), req).await
                }
            };
            resp.headers_mut()
                .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
            Ok(resp)
        })
    }
}
