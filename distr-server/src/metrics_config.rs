//! Where `distr-server` serves Prometheus metrics, and serving them.
//!
//! By default `GET /metrics` is answered on the registry listener. With
//! `metrics.listen` (`--metrics-listen`/`DISTR_METRICS_LISTEN`, e.g.
//! `127.0.0.1:9100`) it is
//! answered only on that listener, and the registry listener answers 404
//! for `/metrics`. The endpoint has no authentication: in production bind
//! the metrics listener to a private interface only the scraper reaches.

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

/// Serves `service` on `listener`, recording its requests in `metrics`, and
/// `/metrics` on `metrics_listener` when given, else on `listener` in front
/// of `service`. Returns when `shutdown` resolved and the registry
/// listener drained (see [`serve_with`]); the metrics listener is served
/// until then. Both listeners hold connections to `limits`.
pub async fn serve_with_metrics<S>(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    service: S,
    metrics: &Metrics,
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
    let Some(metrics_listener) = metrics_listener else {
        serve_with(
            listener,
            metrics.endpoint().with_fallback(service),
            shutdown,
            limits,
        )
        .await;
        return;
    };
    if let Ok(addr) = metrics_listener.local_addr() {
        tracing::info!(%addr, "metrics served on a separate listener");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let endpoint = tokio::spawn(serve_with(
        metrics_listener,
        metrics.endpoint(),
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    serve_with(listener, service, shutdown, limits).await;
    drop(stop);
    if let Err(e) = endpoint.await {
        tracing::warn!(error = %e, "the metrics listener task failed");
    }
}
