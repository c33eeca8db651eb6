//! Upstream registries over HTTP: [`OciUpstream`] implements
//! [`distr_core::upstream::Upstream`] for any OCI Distribution registry.
//!
//! Limitation: no TLS stack is bundled yet. [`OciUpstreamBuilder::build`]
//! only does plain http (`with_insecure(true)`); for https pass a TLS
//! connector to [`OciUpstreamBuilder::build_with_connector`].

mod challenge;
mod client;
mod link;
mod token;

pub use challenge::{parse_challenges, Challenge};
pub use client::{OciUpstream, OciUpstreamBuilder, MAX_MANIFEST_BYTES};
