//! `distr-hyper`: the distr registry as a tower [`Service`](tower_service::Service)
//! over `http` requests, for hyper servers and axum apps alike.
//!
//! ```no_run
//! # async fn demo() {
//! let registry = std::sync::Arc::new(distr_core::Registry::in_memory());
//! let service = distr_hyper::DistrService::new(registry);
//! // hyper: serve `hyper_util::service::TowerToHyperService::new(service)` per connection;
//! // axum:  `axum::Router::new().fallback_service(service)`.
//! # let _ = service;
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod analytics;
mod api;
mod authn;
mod body;
mod client_ip;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handlers;
mod headers;
pub mod health;
mod limits;
pub mod metrics;
mod public_url;
mod query;
mod ratelimit;
mod route;
mod service;

pub use access::AccessControl;
pub use analytics::PullAnalytics;
pub use api::ManagementApi;
pub use body::{BoxError, ResponseBody};
pub use client_ip::{ForwardedHeader, InvalidProxy, TrustedProxies, UnknownForwardedHeader};
pub use limits::{Rate, RequestLimits};
pub use metrics::{Metered, MeteredConnector, Metrics, MetricsEndpoint, MetricsLayer};
pub use public_url::{InvalidPublicUrl, PublicUrl};
pub use ratelimit::ClientAddr;
pub use route::Route;
pub use service::DistrService;
