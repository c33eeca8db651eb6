//! The bundled TLS stack of upstream clients.
//!
//! rustls with the *ring* provider, selected explicitly per config (never the
//! process-wide default provider, so another crate enabling aws-lc cannot make
//! it ambiguous). ring builds from crates.io with a C compiler alone (no
//! cmake, no system OpenSSL).
//!
//! Roots: Mozilla's bundle compiled in ([`webpki_roots`]). An embeddable
//! registry runs in containers that often have no CA store at all
//! (`scratch`, distroless); compiled-in roots verify GHCR, Docker Hub and ECR
//! identically everywhere, with no file system access. Private CAs (a
//! corporate mirror, a TLS-intercepting proxy) are supported by passing a
//! custom [`rustls::ClientConfig`] to
//! [`OciConnector::with_tls_config`](super::OciConnector::with_tls_config).

use std::sync::Arc;
use std::time::Duration;

use distr_core::upstream::{EgressPolicy, UpstreamError, UpstreamResult};
use hyper_util::client::legacy::connect::HttpConnector;

use crate::egress::{EgressConnector, EgressResolver};

/// The connector of upstreams built by
/// [`OciUpstreamBuilder::build`](super::OciUpstreamBuilder::build): the
/// egress policy ([`EgressConnector`], [`EgressResolver`]) judging every
/// connection, TCP, then rustls for `https://` URIs (plain `http://` is
/// passed through and refused by the client unless the upstream is
/// insecure, and by the policy unless the operator listed the host).
pub type HttpsConnector =
    EgressConnector<hyper_rustls::HttpsConnector<HttpConnector<EgressResolver>>>;

/// The default client TLS configuration: ring, TLS 1.2 and 1.3, webpki roots.
pub fn default_tls_config() -> UpstreamResult<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| UpstreamError::Unsupported(format!("TLS configuration: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An HTTP/1.1 connector doing TLS with `tls` for `https://` URIs (its ALPN
/// list is ignored: upstreams are spoken to over HTTP/1.1), connecting only
/// where `egress` allows.
pub(crate) fn https_connector(
    tls: &rustls::ClientConfig,
    connect_timeout: Duration,
    egress: &Arc<EgressPolicy>,
) -> HttpsConnector {
    let mut tls = tls.clone();
    tls.alpn_protocols.clear();
    let mut http = HttpConnector::new_with_resolver(EgressResolver::new(egress.clone()));
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    EgressConnector::new(egress.clone(), https)
}
