//! [`Metered`]: a service wrapper recording every request it answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::AUTHORIZATION;
use http::{Request, Response};
use http_body_util::BodyExt;

use super::body::MeteredBody;
use super::labels::{MethodLabel, RouteKind};
use super::requests::HttpMetrics;
use crate::body::ResponseBody;

/// Records the requests `S` answers: a count by route kind, method and
/// status; the latency to the response head; the response body bytes as
/// they stream; and authentication failures (401, 429).
///
/// Labels are bounded: the route *kind* (never the path, which holds
/// repository names), the method (non-standard ones as `OTHER`) and the
/// status code. Credentials are never read, only whether an
/// `Authorization` header was sent.
///
/// Made by [`MetricsLayer`](super::MetricsLayer) or
/// [`Metrics::wrap`](super::Metrics::wrap).
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
    metrics: Arc<HttpMetrics>,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, metrics: Arc<HttpMetrics>) -> Self {
        Self { inner, metrics }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> tower_service::Service<Request<B>> for Metered<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResponseBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let route = RouteKind::of(req.uri().path());
        let method = MethodLabel::of(req.method());
        let had_credentials = req.headers().contains_key(AUTHORIZATION);
        let metrics = Arc::clone(&self.metrics);
        let start = Instant::now();
        let response = self.inner.call(req);
        Box::pin(async move {
            let resp = response.await?;
            metrics.observe(
                route,
                method,
                resp.status(),
                had_credentials,
                start.elapsed(),
            );
            let bytes = metrics.bytes_counter(route);
            Ok(resp.map(|body| MeteredBody::new(body, bytes).boxed_unsync()))
        })
    }
}
