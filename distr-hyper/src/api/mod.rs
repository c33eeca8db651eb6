//! The management REST API under `/api/v1`: artifacts, customers, customer
//! users, access tokens, entitlements, Kubernetes pull secrets and download
//! analytics, as JSON (and CSV for the pull log export).
//!
//! Conventions, also stated in the OpenAPI document (`GET /api/v1/openapi.json`):
//! - authentication: `Authorization: AccessToken <token>` (or `Bearer <token>`)
//!   with a personal access token; everything but the OpenAPI document needs one;
//! - ids are UUID strings; timestamps in responses are integers, milliseconds
//!   since the Unix epoch (`created_at`, `expires_at`, …), `null` when absent;
//!   in requests (bodies and the analytics `from`/`to`) either that integer or
//!   an RFC 3339 string (see [`instant`]);
//! - errors are `{"error":{"code":"<stable code>","message":"…"}}`, see
//!   [`error`]; objects of another vendor (or, for customer users, of another
//!   customer) are reported as not found, never as forbidden.

mod access_mode;
mod analytics;
mod artifacts;
mod auth;
mod customers;
mod entitlements;
mod error;
mod instant;
mod json;
mod openapi;
mod openapi_analytics;
mod orgs;
mod pull_secret;
mod router;
mod tokens;
mod upstream;
mod users;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use distr_core::access::ArtifactId;
use distr_core::access::{AccessStore, PlainToken, TokenAuthenticator};
use distr_core::analytics::DynAnalyticsStore;
use distr_core::now_ms;
use distr_core::pullthrough::{PullThrough, SyncStarted, UpstreamConnector};
use distr_core::MetadataStore;
use http::{Request, Response};
use http_body::Body;

pub(crate) use self::error::ApiError;
use self::router::{Endpoint, Match, Params};
use crate::analytics::ArtifactIndex;
use crate::authn::{Authenticator, Boundary};
use crate::body::{BoxError, ResponseBody};
use crate::query::Query;
use crate::ratelimit::FailedAuthLimiter;

/// The management API: what it needs from the tenancy model, the registry
/// metadata and token authentication.
///
/// Mount it with [`crate::DistrService::with_management_api`]. Share the
/// [`TokenAuthenticator`] with the service's [`crate::AccessControl`] so
/// both agree on tokens (a revoked token is refused by both within the
/// authenticator's one-second cache).
#[derive(Clone, Debug)]
pub struct ManagementApi {
    access: Arc<dyn AccessStore>,
    meta: Arc<dyn MetadataStore>,
    authenticator: Authenticator,
    pull_through: Option<PullThrough>,
    artifacts: Arc<ArtifactIndex>,
    analytics: Option<Arc<DynAnalyticsStore>>,
}

impl ManagementApi {
    /// The API over the tenancy model `access`, the registry metadata `meta`
    /// (for tag listings) and the token authenticator `authn`. Failed
    /// authentications are limited to 20 per client address per minute
    /// (when the server supplies [`crate::ClientAddr`]).
    pub fn new(
        access: Arc<dyn AccessStore>,
        meta: Arc<dyn MetadataStore>,
        authn: Arc<TokenAuthenticator>,
    ) -> Self {
        Self {
            artifacts: Arc::new(ArtifactIndex::new(access.clone())),
            access,
            meta,
            authenticator: Authenticator::new(
                Boundary::Api,
                authn,
                None,
                Arc::new(FailedAuthLimiter::default()),
            ),
            pull_through: None,
            analytics: None,
        }
    }

    /// Serves download analytics from `store` (`/api/v1/analytics/...`,
    /// `/artifacts/{id}/analytics`, `/customers/{id}/analytics`, and the
    /// `pull_count` of tag listings). Without it those endpoints answer 404
    /// `analytics_disabled` and every `pull_count` is 0.
    pub fn with_analytics(mut self, store: Arc<DynAnalyticsStore>) -> Self {
        self.analytics = Some(store);
        self
    }

    /// Accepts `token` as the operator's: it (and only it) lists and creates
    /// organisations (`/api/v1/orgs`), each with its first vendor admin and
    /// their token; it is refused everywhere else. Without it those
    /// endpoints answer 403.
    pub fn with_operator_token(mut self, token: &PlainToken) -> Self {
        self.authenticator.set_operator(token);
        self
    }

    /// The artifact index over the API's access store.
    pub(crate) fn artifacts(&self) -> &ArtifactIndex {
        &self.artifacts
    }

    /// Lets artifacts have an upstream (the pull-through cache): upstream
    /// credentials are checked with its connector before they are saved,
    /// and `POST /artifacts/{id}/sync` starts its syncs. Without it,
    /// creating an artifact with an upstream is refused with 400
    /// `upstreams_disabled`.
    pub fn with_pull_through(mut self, pull_through: PullThrough) -> Self {
        self.pull_through = Some(pull_through);
        self
    }

    /// The connector that checks upstream credentials, when upstreams are on.
    fn connector(&self) -> Option<&dyn UpstreamConnector> {
        self.pull_through.as_ref().map(|pt| pt.connector().as_ref())
    }

    /// True while a sync of the artifact runs on this server.
    fn is_syncing(&self, artifact: ArtifactId) -> bool {
        self.pull_through
            .as_ref()
            .is_some_and(|pt| pt.is_syncing(artifact))
    }

    /// Starts (or joins) a background sync of the artifact: `started` or `joined`.
    fn trigger_sync(&self, artifact: ArtifactId) -> Result<&'static str, ApiError> {
        let Some(pt) = &self.pull_through else {
            return Err(upstream::disabled());
        };
        let (started, _outcome) = pt.trigger_sync(artifact);
        Ok(match started {
            SyncStarted::Started => "started",
            SyncStarted::Joined => "joined",
        })
    }

    /// Allows `max_failures` failed authentications per client address per
    /// `window`; more get 429 `too_many_requests` until the window ends.
    /// Mounted next to an [`crate::AccessControl`], the registry's limit
    /// applies instead: the registry and the API share one limiter.
    pub fn with_failed_auth_limit(mut self, max_failures: u32, window: Duration) -> Self {
        self.authenticator
            .set_limiter(Arc::new(FailedAuthLimiter::new(max_failures, window)));
        self
    }

    /// Authenticates API requests.
    pub(crate) fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }

    /// Counts failed authentications with `limiter` (the registry's).
    pub(crate) fn share_failed_auth_limiter(&mut self, limiter: Arc<FailedAuthLimiter>) {
        self.authenticator.set_limiter(limiter);
    }

    /// Every route served, as (HTTP method, path template) pairs such as
    /// `("GET", "/api/v1/customers/{customer_id}")`: the same templates the
    /// OpenAPI document lists.
    pub fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
        router::ROUTES.iter().map(|r| (r.method, r.path))
    }

    /// The OpenAPI 3.1 document of the API, as served at `/api/v1/openapi.json`.
    pub fn openapi() -> serde_json::Value {
        openapi::document()
    }

    /// True when `path` belongs to this API (`/api/v1` and below).
    pub(crate) fn handles(path: &str) -> bool {
        router::is_api_path(path)
    }

    /// Serves one request; every failure becomes a JSON error response.
    pub(crate) async fn handle<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (head, body) = req.into_parts();
        let (endpoint, params) = match router::find(head.method.as_str(), head.uri.path()) {
            Match::Found(endpoint, params) => (endpoint, params),
            Match::NotFound => return ApiError::no_endpoint(head.uri.path()).into_response(),
            Match::MethodNotAllowed(allowed) => {
                return ApiError::method_not_allowed(&allowed).into_response()
            }
        };
        if endpoint == Endpoint::OpenApi {
            return openapi::response().unwrap_or_else(ApiError::into_response);
        }
        let now = now_ms();
        if endpoint.is_operator() {
            return self
                .serve_operator(endpoint, head, body, now)
                .await
                .unwrap_or_else(ApiError::into_response);
        }
        let result = async {
            let caller = auth::caller(self, &head, now).await?;
            let body = if endpoint.has_body() {
                json::read_body(body).await?
            } else {
                Bytes::new()
            };
            let ctx = Ctx {
                api: self,
                caller,
                params,
                query: Query::parse(head.uri.query()),
                raw_query: head.uri.query().unwrap_or("").to_owned(),
                body,
                now,
            };
            serve(endpoint, &ctx).await
        }
        .await;
        result.unwrap_or_else(ApiError::into_response)
    }
}

impl ManagementApi {
    /// Serves an operator endpoint: the operator token or nothing.
    async fn serve_operator<B>(
        &self,
        endpoint: Endpoint,
        head: http::request::Parts,
        body: B,
        now: i64,
    ) -> Result<Response<ResponseBody>, ApiError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        auth::operator(self, &head, now).await?;
        match endpoint {
            Endpoint::ListOrgs => orgs::list(self).await,
            _ => {
                let body = json::read_body(body).await?;
                orgs::create(self, &body, now).await
            }
        }
    }
}

/// The API as a tower service of its own, for servers that mount it without
/// a [`crate::DistrService`] (which dispatches `/api/v1` to it). Never fails
/// at the service level; requests are authenticated here, failures limited
/// per client address ([`crate::ClientAddr`]) as
/// [`ManagementApi::with_failed_auth_limit`] says.
impl<B> tower_service::Service<Request<B>> for ManagementApi
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let api = self.clone();
        Box::pin(async move { Ok(api.handle(req).await) })
    }
}

/// What a handler gets: the API, the authenticated caller and the request.
struct Ctx<'a> {
    api: &'a ManagementApi,
    caller: auth::Caller,
    params: Params,
    query: Query,
    /// The raw query string (empty when absent).
    raw_query: String,
    /// The request body (empty for endpoints without one).
    body: Bytes,
    /// The request time, ms since the Unix epoch.
    now: i64,
}

async fn serve(endpoint: Endpoint, ctx: &Ctx<'_>) -> Result<Response<ResponseBody>, ApiError> {
    use Endpoint as E;
    match endpoint {
        E::OpenApi => openapi::response(),
        // Served by `serve_operator`, never with a user's token.
        E::ListOrgs | E::CreateOrg => Err(ApiError::forbidden("this needs the operator token")),
        E::Me => users::me(ctx).await,
        E::GetAccessMode => access_mode::get(ctx).await,
        E::SetAccessMode => access_mode::set(ctx).await,
        E::ListArtifacts => artifacts::list(ctx).await,
        E::CreateArtifact => artifacts::create(ctx).await,
        E::GetArtifact => artifacts::get(ctx).await,
        E::DeleteArtifact => artifacts::delete(ctx).await,
        E::ArtifactTags => artifacts::tags(ctx).await,
        E::SetArtifactUpstream => artifacts::set_upstream(ctx).await,
        E::SyncArtifact => artifacts::sync(ctx).await,
        E::ListCustomers => customers::list(ctx).await,
        E::CreateCustomer => customers::create(ctx).await,
        E::GetCustomer => customers::get(ctx).await,
        E::UpdateCustomer => customers::update(ctx).await,
        E::DeleteCustomer => customers::delete(ctx).await,
        E::ListCustomerUsers => users::list(ctx).await,
        E::CreateCustomerUser => users::create(ctx).await,
        E::DeleteCustomerUser => users::delete(ctx).await,
        E::ListTokens => tokens::list(ctx).await,
        E::CreateToken => tokens::create(ctx).await,
        E::RevokeToken => tokens::revoke(ctx).await,
        E::RotateToken => tokens::rotate(ctx).await,
        E::ListUserTokens => tokens::list_for_user(ctx).await,
        E::CreateUserToken => tokens::create_for_user(ctx).await,
        E::ListEntitlements => entitlements::list(ctx).await,
        E::CreateEntitlement => entitlements::create(ctx).await,
        E::GetEntitlement => entitlements::get(ctx).await,
        E::ReplaceEntitlement => entitlements::replace(ctx).await,
        E::DeleteEntitlement => entitlements::delete(ctx).await,
        E::PullSecret => pull_secret::create(ctx).await,
        E::ListPulls => analytics::list(ctx).await,
        E::ExportPulls => analytics::export_csv(ctx).await,
        E::ArtifactAnalytics => analytics::artifact(ctx).await,
        E::CustomerAnalytics => analytics::customer(ctx).await,
        E::UnpulledCustomers => analytics::unpulled(ctx).await,
    }
}
