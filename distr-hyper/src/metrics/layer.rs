//! [`MetricsLayer`]: wraps services in [`Metered`].

use std::sync::Arc;

use super::requests::HttpMetrics;
use super::service::Metered;

/// A tower [`Layer`](tower_layer::Layer) that wraps a service in
/// [`Metered`], recording into the [`Metrics`](super::Metrics) it came
/// from ([`Metrics::layer`](super::Metrics::layer)).
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Arc<HttpMetrics>,
}

impl MetricsLayer {
    pub(crate) fn new(metrics: Arc<HttpMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered::new(inner, Arc::clone(&self.metrics))
    }
}
