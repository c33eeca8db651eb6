//! Upstream registries over HTTP: [`OciUpstream`] implements
//! [`distr_core::upstream::Upstream`] for any OCI Distribution registry, and
//! [`OciConnector`] builds one per pull-through artifact.
//!
//! TLS is bundled (rustls with ring and webpki roots, see
//! [`default_tls_config`]); Amazon ECR credentials are exchanged for
//! registry passwords by [`EcrTokenSource`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod challenge;
mod client;
mod connector;
mod ecr;
mod egress;
mod link;
mod realm;
mod retry;
mod tls;
mod token;

pub use challenge::{parse_challenges, Challenge};
pub use client::{OciUpstream, OciUpstreamBuilder, MAX_MANIFEST_BYTES};
pub use connector::OciConnector;
pub use ecr::{
    EcrTokenSource, EcrTokenSourceBuilder, DEFAULT_ECR_REFRESH_MARGIN, DEFAULT_ECR_REGION,
    DEFAULT_ECR_TOKEN_LIFETIME,
};
pub use egress::{EgressConnector, EgressResolver};
pub use retry::RetryPolicy;
pub use tls::{default_tls_config, HttpsConnector};
