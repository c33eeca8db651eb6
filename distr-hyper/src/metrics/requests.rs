//! The series of served requests, recorded by [`Metered`](super::Metered).

use std::time::Duration;

use http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{
    AuthFailure, AuthFailureLabels, MethodLabel, RequestLabels, RouteKind, RouteLabels,
    RouteMethodLabels,
};

/// Upper bounds (seconds) of the latency histograms: 1 ms to 1 min.
pub(crate) const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// What [`Metered`](super::Metered) records.
#[derive(Debug)]
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteMethodLabels, Histogram, fn() -> Histogram>,
    bytes: Family<RouteLabels, Counter>,
    auth_failures: Family<AuthFailureLabels, Counter>,
}

impl HttpMetrics {
    /// The families, registered with `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            bytes: Family::default(),
            auth_failures: Family::default(),
        };
        registry.register(
            "distr_http_requests",
            "Requests answered, by route kind, method and status code",
            this.requests.clone(),
        );
        registry.register_with_unit(
            "distr_http_request_duration",
            "Time from receiving a request to sending its response head, by route kind and method",
            Unit::Seconds,
            this.duration.clone(),
        );
        registry.register_with_unit(
            "distr_http_response_body",
            "Response body bytes sent, by route kind (counted as the body streams)",
            Unit::Bytes,
            this.bytes.clone(),
        );
        registry.register(
            "distr_http_auth_failures",
            "Requests refused for authentication: 401 (missing or invalid credentials) \
             and 429 (too many failed authentications), by route kind",
            this.auth_failures.clone(),
        );
        this
    }

    /// Records one answered request (all but its body bytes).
    pub(crate) fn observe(
        &self,
        route: RouteKind,
        method: MethodLabel,
        status: StatusCode,
        had_credentials: bool,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status: status.as_u16(),
            })
            .inc();
        self.duration
            .get_or_create(&RouteMethodLabels { route, method })
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = AuthFailure::of(status, had_credentials) {
            self.auth_failures
                .get_or_create(&AuthFailureLabels { route, reason })
                .inc();
        }
    }

    /// The counter of body bytes of `route`, for a
    /// [`MeteredBody`](super::body::MeteredBody).
    pub(crate) fn bytes_counter(&self, route: RouteKind) -> Counter {
        self.bytes.get_or_create_owned(&RouteLabels { route })
    }
}
