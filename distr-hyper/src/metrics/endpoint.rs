//! [`MetricsEndpoint`]: `GET /metrics`, alone or in front of another service.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use futures::future::Either;
use std::sync::Arc;

use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use super::Metrics;
use crate::body::{empty, full, ResponseBody};

/// The path metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// The media type of [`Metrics::render`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves [`METRICS_PATH`] (`GET`/`HEAD`) in the OpenMetrics text format;
/// other paths are 404, other methods 405. No authentication unless
/// [`with_bearer_token`](Self::with_bearer_token) asks for one: serve it on
/// a listener only the scraper can reach (a private interface), or require
/// a token.
///
/// Made by [`Metrics::endpoint`]; [`with_fallback`](Self::with_fallback)
/// serves it in front of another service on the same listener.
#[derive(Clone)]
pub struct MetricsEndpoint {
    metrics: Metrics,
    /// The bearer token scrapers must present, when one is required.
    token: Option<Arc<str>>,
}

impl std::fmt::Debug for MetricsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsEndpoint")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl MetricsEndpoint {
    pub(crate) fn new(metrics: Metrics) -> Self {
        Self {
            metrics,
            token: None,
        }
    }

    /// Requires `Authorization: Bearer <token>` of every scrape: others get
    /// `401` (for serving metrics on a public listener).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Arc::from(token.into()));
        self
    }

    /// True when the request may read the metrics.
    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        req.headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|presented| {
                constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
            })
    }

    /// The answer to a request for [`METRICS_PATH`].
    fn serve<B>(&self, req: &Request<B>) -> Response<ResponseBody> {
        if self.authorized(req) {
            return self.respond(req.method());
        }
        let mut resp = status(StatusCode::UNAUTHORIZED);
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        resp
    }

    /// Serves [`METRICS_PATH`] and hands every other request to `fallback`.
    pub fn with_fallback<S>(self, fallback: S) -> WithMetricsEndpoint<S> {
        WithMetricsEndpoint {
            endpoint: self,
            fallback,
        }
    }

    /// The response to a request for [`METRICS_PATH`].
    fn respond(&self, method: &Method) -> Response<ResponseBody> {
        match *method {
            Method::GET | Method::HEAD => {
                let body = if method == Method::GET {
                    full(self.metrics.render())
                } else {
                    empty()
                };
                let mut resp = Response::new(body);
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
                );
                resp
            }
            _ => {
                let mut resp = status(StatusCode::METHOD_NOT_ALLOWED);
                resp.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                resp
            }
        }
    }
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn status(code: StatusCode) -> Response<ResponseBody> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = code;
    resp
}

impl<B> tower_service::Service<Request<B>> for MetricsEndpoint {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let resp = if req.uri().path() == METRICS_PATH {
            self.serve(&req)
        } else {
            status(StatusCode::NOT_FOUND)
        };
        ready(Ok(resp))
    }
}

/// [`MetricsEndpoint`] in front of another service: [`METRICS_PATH`] is
/// answered here, every other request by the fallback.
#[derive(Clone, Debug)]
pub struct WithMetricsEndpoint<S> {
    endpoint: MetricsEndpoint,
    fallback: S,
}

impl<S, B> tower_service::Service<Request<B>> for WithMetricsEndpoint<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResponseBody>>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.fallback.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path() == METRICS_PATH {
            Either::Left(ready(Ok(self.endpoint.serve(&req))))
        } else {
            Either::Right(self.fallback.call(req))
        }
    }
}
