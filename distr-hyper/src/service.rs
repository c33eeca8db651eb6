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
use crate::limits::{limited, IdleTimeout, Limiter, Refusal, RequestLimits};
use crate::ratelimit::ClientAddr;
use distr_core::now_ms;

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
    limits: Option<Arc<Limiter>>,
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
            limits: None,
        }
    }

    /// Enforces `limits` (see [`RequestLimits`]): request rates per token
    /// and per client address, concurrent uploads per token, and the idle
    /// timeout of request bodies. Without it nothing is limited (but the
    /// manifest and blob size limits of the registry and the failed
    /// authentication limit of [`AccessControl`]).
    pub fn with_limits(mut self, limits: RequestLimits) -> Self {
        self.limits = Some(Arc::new(Limiter::new(limits)));
        self
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
        self.share_failed_auth_limiter();
        self
    }

    /// Serves the management REST API under `/api/v1` (see
    /// [`ManagementApi`]). Without it, those paths are 404 like any other
    /// path that is no registry endpoint.
    ///
    /// With an [`AccessControl`] too, the API counts failed authentications
    /// with the registry's limiter: guesses against either count for both.
    pub fn with_management_api(mut self, api: ManagementApi) -> Self {
        self.api = Some(Arc::new(api));
        self.share_failed_auth_limiter();
        self
    }

    /// Makes the management API use the registry's failed-authentication
    /// limiter, when both are mounted.
    fn share_failed_auth_limiter(&mut self) {
        if let (Some(access), Some(api)) = (&self.access, &mut self.api) {
            let limiter = access.authenticator().limiter().clone();
            Arc::make_mut(api).share_failed_auth_limiter(limiter);
        }
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
        let limits = self.limits.clone();
        Box::pin(async move {
            let method = req.method().clone();
            let path = req.uri().path().to_owned();
            // Probes need no token and count against no limit.
            if let Some(resp) = crate::health::answer(&method, &path, &registry).await {
                return Ok(with_api_version(resp));
            }
            let is_api = api.is_some() && ManagementApi::handles(&path);
            let refused = |refusal: Refusal| {
                tracing::debug!(%method, %path, ?refusal, "request refused by a limit");
                with_api_version(limited(refusal, is_api))
            };
            let peer = req.extensions().get::<ClientAddr>().map(|a| a.0.ip());
            // The client address's rate first: it protects authentication too.
            let client = match limits
                .as_deref()
                .map(|l| l.admit_address(req.headers(), peer))
            {
                Some(Err(refusal)) => return Ok(refused(refusal)),
                Some(Ok(client)) => client,
                None => None,
            };
            let mut req = req;
            let authenticator = match (&api, &access) {
                (Some(api), _) if is_api => Some(api.authenticator()),
                (_, Some(access)) if !is_api => Some(access.authenticator()),
                _ => None,
            };
            let token = match authenticator {
                Some(a) => {
                    // Failures count per client: behind trusted proxies the
                    // forwarded address, never the proxy's.
                    let outcome = a
                        .authenticate(req.headers(), client.or(peer), now_ms())
                        .await;
                    let token = outcome.token_id();
                    req.extensions_mut().insert(outcome);
                    token
                }
                None => None,
            };
            let _admission = match limits
                .as_deref()
                .map(|l| l.admit(&method, &path, token, client))
            {
                Some(Err(refusal)) => return Ok(refused(refusal)),
                Some(Ok(admission)) => Some(admission),
                None => None,
            };
            let idle = limits.as_ref().and_then(|l| l.body_idle_timeout());
            let req = req.map(|body| IdleTimeout::new(body, idle));
            let resp = match api.as_deref().filter(|_| is_api) {
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
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
            Ok(with_api_version(resp))
        })
    }
}

/// Adds `Docker-Distribution-API-Version: registry/2.0`, on every response.
fn with_api_version(mut resp: Response<ResponseBody>) -> Response<ResponseBody> {
    resp.headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}
