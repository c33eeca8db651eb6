//! Where `distr-server` serves Prometheus metrics, and serving them.
//!
//! Metrics name vendors' upstream hosts, so they are not public by default:
//! - with `metrics.listen` (`DISTR_METRICS_LISTEN`, e.g. `127.0.0.1:9100`),
//!   `GET /metrics` is answered on that listener (bind it to a private
//!   interface only the scraper reaches);
//! - with `metrics.token` (`DISTR_METRICS_TOKEN`), it is also answered on
//!   the registry listener, to requests with `Authorization: Bearer
//!   <token>` (the separate listener then asks for it too);
//! - with neither, `/metrics` is not served (the registry answers 404).

use std::convert::Infallible;
use std::future::Future;

use anyhow::Context;
use distr_hyper::metrics::Metrics;
use distr_hyper::ResponseBody;
use hyper::body::Incoming;
use tokio::net::TcpListener;

use crate::config::model::MetricsSettings;
use crate::serve::{serve_with, ConnectionLimits};

/// Binds the separate metrics listener of `settings`, if one is set.
pub async fn bind(settings: &MetricsSettings) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = settings.listen.0 else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    Ok(Some(listener))
}

/// Serves `service` on `listener`, recording its requests in `metrics`,
/// and `/metrics` on `metrics_listener` when given, and on `listener` in
/// front of `service` when a scrape `token` is configured. Returns when `shutdown` resolved and the registry
/// listener drained (see [`serve_with`]); the metrics listener is served
/// until then. Both listeners hold connections to `limits`.
pub async fn serve_with_metrics<S>(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    service: S,
    metrics: &Metrics,
    token: Option<&str>,
    shutdown: impl Future<Output = ()>,
    limits: ConnectionLimits,
) where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<ResponseBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let service = metrics.wrap(service);
    let endpoint = match token {
        Some(t) => metrics.endpoint().with_bearer_token(t),
        None => metrics.endpoint(),
    };
    let Some(metrics_listener) = metrics_listener else {
        match token {
            Some(_) => {
                serve_with(listener, endpoint.with_fallback(service), shutdown, limits).await
            }
            None => {
                tracing::info!(
                    "/metrics is not served: set DISTR_METRICS_LISTEN or DISTR_METRICS_TOKEN"
                );
                serve_with(listener, service, shutdown, limits).await
            }
        }
        return;
    };
    if let Ok(addr) = metrics_listener.local_addr() {
        tracing::info!(%addr, "metrics served on a separate listener");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let on_registry = token.is_some().then(|| endpoint.clone());
    let endpoint = tokio::spawn(serve_with(
        metrics_listener,
        endpoint,
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    match on_registry {
        Some(endpoint) => {
            serve_with(listener, endpoint.with_fallback(service), shutdown, limits).await
        }
        None => serve_with(listener, service, shutdown, limits).await,
    }
    drop(stop);
    if let Err(e) = endpoint.await {
        tracing::warn!(error = %e, "the metrics listener task failed");
    }
}
