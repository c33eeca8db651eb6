//! [`OciConnector`]: the pull-through cache's
//! [`UpstreamConnector`] over [`OciUpstream`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_ecr::config::SharedHttpClient;
use distr_core::access::ArtifactUpstream;
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{DynUpstream, EgressPolicy, UpstreamAuth, UpstreamResult};

mod host_cap;

use self::host_cap::HostCaps;
use super::client::OciUpstreamBuilder;
use super::ecr::{default_sdk_http_client, EcrTokenSource, DEFAULT_ECR_REFRESH_MARGIN};
use super::retry::RetryPolicy;
use super::tls::{default_tls_config, https_connector, HttpsConnector};

/// Builds an [`OciUpstream`](super::OciUpstream) for each pull-through
/// artifact from its [`ArtifactUpstream`] (reference, credentials, insecure).
///
/// One TLS configuration and connector is shared by all upstreams; each
/// artifact gets its own client (connection pool and Bearer token cache).
/// ECR credentials are exchanged by one [`EcrTokenSource`] per access key,
/// secret and region, shared by the artifacts using them while any of them
/// is alive, over one AWS SDK HTTPS client.
///
/// ```no_run
/// # fn demo() -> distr_core::upstream::UpstreamResult<()> {
/// use std::time::Duration;
/// let connector = distr_upstream_oci::OciConnector::new()?
///     .with_response_timeout(Duration::from_secs(20))
///     .with_user_agent("my-product/1.0");
/// # let _ = connector;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct OciConnector {
    tls: Arc<rustls::ClientConfig>,
    egress: Arc<EgressPolicy>,
    https: HttpsConnector,
    sdk_http: SharedHttpClient,
    connect_timeout: Duration,
    response_timeout: Duration,
    body_idle_timeout: Duration,
    retry: RetryPolicy,
    user_agent: Option<String>,
    ecr_endpoint: Option<String>,
    ecr_region: Option<String>,
    ecr_refresh_margin: Duration,
    ecr_sources: Arc<Mutex<HashMap<EcrKey, Weak<EcrTokenSource>>>>,
    host_caps: Option<Arc<HostCaps>>,
}

/// Which token source serves an ECR upstream. Holds the secret: never
/// printed.
#[derive(Clone, PartialEq, Eq, Hash)]
struct EcrKey {
    access_key_id: String,
    secret_access_key: String,
    region: String,
}

impl std::fmt::Debug for OciConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciConnector")
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("body_idle_timeout", &self.body_idle_timeout)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("ecr_endpoint", &self.ecr_endpoint)
            .field("ecr_region", &self.ecr_region)
            .field("ecr_refresh_margin", &self.ecr_refresh_margin)
            .field("host_caps", &self.host_caps)
            .finish_non_exhaustive()
    }
}

impl OciConnector {
    /// The default of [`with_max_requests_per_host`](Self::with_max_requests_per_host).
    pub const DEFAULT_MAX_REQUESTS_PER_HOST: usize = 32;

    /// A connector with the bundled TLS configuration
    /// ([`default_tls_config`](super::default_tls_config)) and the
    /// [`OciUpstreamBuilder`] defaults: 10 s connect, 30 s response-header and
    /// 60 s body-idle timeouts; at most [`Self::DEFAULT_MAX_REQUESTS_PER_HOST`]
    /// requests in flight per upstream host.
    pub fn new() -> UpstreamResult<Self> {
        let tls = default_tls_config()?;
        let connect_timeout = Duration::from_secs(10);
        let egress = Arc::new(EgressPolicy::public_only());
        Ok(Self {
            https: https_connector(&tls, connect_timeout, &egress),
            tls,
            egress,
            sdk_http: default_sdk_http_client(),
            connect_timeout,
            response_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            user_agent: None,
            ecr_endpoint: None,
            ecr_region: None,
            ecr_refresh_margin: DEFAULT_ECR_REFRESH_MARGIN,
            ecr_sources: Arc::default(),
            host_caps: Some(Arc::new(HostCaps::new(Self::DEFAULT_MAX_REQUESTS_PER_HOST))),
        })
    }

    /// At most `max` requests in flight to one upstream host (`host[:port]`)
    /// at once, over every artifact mirroring it (0: no limit; default
    /// [`Self::DEFAULT_MAX_REQUESTS_PER_HOST`]). A blob request keeps its place
    /// while its body streams, so this also bounds the connections in use
    /// per host. Further requests queue, each for at most the response
    /// timeout ([`with_response_timeout`](Self::with_response_timeout));
    /// one that gets no place by then fails as the upstream being
    /// unavailable (503).
    pub fn with_max_requests_per_host(mut self, max: usize) -> Self {
        self.host_caps = (max > 0).then(|| Arc::new(HostCaps::new(max)));
        self
    }

    /// The client TLS configuration of every upstream (e.g. with private CA
    /// roots added). Its ALPN list is ignored: upstreams speak HTTP/1.1.
    pub fn with_tls_config(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = tls;
        self.https = https_connector(&self.tls, self.connect_timeout, &self.egress);
        self
    }

    /// Where upstreams may be connected to (default
    /// [`EgressPolicy::public_only`]): the operator's allow-list
    /// (`DISTR_UPSTREAM_ALLOW`) for registries on loopback or private
    /// networks and for plain HTTP. Applies to every connection of every
    /// upstream: first requests, redirects and token realms.
    pub fn with_egress_policy(mut self, egress: Arc<EgressPolicy>) -> Self {
        self.egress = egress;
        self.https = https_connector(&self.tls, self.connect_timeout, &self.egress);
        self
    }

    /// The egress policy of every upstream.
    pub fn egress_policy(&self) -> &Arc<EgressPolicy> {
        &self.egress
    }

    /// Timeout of TCP connects, to registries and to the ECR API.
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self.https = https_connector(&self.tls, t, &self.egress);
        self
    }

    /// Timeout from sending a request to receiving its response headers.
    pub fn with_response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// Longest wait for the next chunk of a response body.
    pub fn with_body_idle_timeout(mut self, t: Duration) -> Self {
        self.body_idle_timeout = t;
        self
    }

    /// How upstream requests are retried (see
    /// [`OciUpstreamBuilder::with_retry_policy`]).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The `User-Agent` sent to registries (default `distr/<version>`).
    pub fn with_user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// The ECR API endpoint (e.g. a `moto_server` URL in tests; default:
    /// the region's public endpoint).
    pub fn with_ecr_endpoint(mut self, url: impl Into<String>) -> Self {
        self.ecr_endpoint = Some(url.into());
        self
    }

    /// The AWS region of ECR upstreams whose host does not name one (see
    /// [`OciUpstreamBuilder::with_ecr_region`]; default `us-east-1`).
    pub fn with_ecr_region(mut self, region: impl Into<String>) -> Self {
        self.ecr_region = Some(region.into());
        self
    }

    /// How long before expiry ECR tokens are replaced (default one hour).
    pub fn with_ecr_refresh_margin(mut self, margin: Duration) -> Self {
        self.ecr_refresh_margin = margin;
        self
    }

    /// The token source for these ECR credentials: the live shared one, or
    /// a new one.
    fn ecr_source(
        &self,
        access_key_id: &str,
        secret_access_key: &str,
        region: &str,
    ) -> UpstreamResult<Arc<EcrTokenSource>> {
        let key = EcrKey {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            region: region.to_owned(),
        };
        let mut sources = self
            .ecr_sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(source) = sources.get(&key).and_then(Weak::upgrade) {
            return Ok(source);
        }
        let mut builder = EcrTokenSource::builder(access_key_id, secret_access_key, region)
            .with_refresh_margin(self.ecr_refresh_margin)
            .with_connect_timeout(self.connect_timeout)
            .with_http_client(self.sdk_http.clone());
        if let Some(endpoint) = &self.ecr_endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let source = Arc::new(builder.build()?);
        sources.retain(|_, s| s.strong_count() > 0);
        sources.insert(key, Arc::downgrade(&source));
        Ok(source)
    }
}

impl UpstreamConnector for OciConnector {
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>> {
        let mut builder = OciUpstreamBuilder::new(upstream.reference.clone())
            .with_egress_policy(self.egress.clone())
            .with_insecure(upstream.insecure)
            .with_connect_timeout(self.connect_timeout)
            .with_response_timeout(self.response_timeout)
            .with_body_idle_timeout(self.body_idle_timeout)
            .with_retry_policy(self.retry.clone());
        if let Some(ua) = &self.user_agent {
            builder = builder.with_user_agent(ua.clone());
        }
        // The default region is for hosts that do not name one; an ECR host's
        // own region always wins.
        if let Some(region) = self
            .ecr_region
            .as_ref()
            .filter(|_| upstream.reference.ecr_region().is_none())
        {
            builder = builder.with_ecr_region(region.clone());
        }
        builder = match &upstream.auth {
            UpstreamAuth::Ecr {
                access_key_id,
                secret_access_key,
            } => {
                let region = builder.ecr_region().to_owned();
                let source = self.ecr_source(access_key_id, secret_access_key, &region)?;
                builder.with_ecr_token_source(source)
            }
            auth => builder.with_auth(auth.clone()),
        };
        let upstream: Arc<DynUpstream> =
            Arc::new(builder.build_with_connector(self.https.clone())?);
        Ok(match &self.host_caps {
            Some(caps) => Arc::new(caps.wrap(upstream, self.response_timeout)),
            None => upstream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distr_core::upstream::Upstream;

    fn artifact(reference: &str, auth: UpstreamAuth, insecure: bool) -> ArtifactUpstream {
        ArtifactUpstream {
            reference: reference.parse().unwrap(),
            auth,
            insecure,
        }
    }

    #[tokio::test]
    async fn connects_each_artifact_and_shares_ecr_sources() {
        let c = OciConnector::new()
            .unwrap()
            .with_user_agent("test/1")
            .with_ecr_region("eu-west-1");
        let up = c
            .connect(&artifact("ghcr.io/org/repo", UpstreamAuth::None, false))
            .unwrap();
        assert_eq!(up.target().to_string(), "ghcr.io/org/repo");
        let ecr = UpstreamAuth::Ecr {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI-secret".into(),
        };
        let a = c
            .connect(&artifact("127.0.0.1:5000/a", ecr.clone(), true))
            .unwrap();
        let b = c
            .connect(&artifact("127.0.0.1:5000/b", ecr.clone(), true))
            .unwrap();
        let s = format!("{a:?} {b:?} {c:?}");
        assert!(!s.contains("us-east-1"), "{s}");
        assert!(
            s.contains("eu-west-1") && !s.contains("wJalrXUtnFEMI"),
            "{s}"
        );
        assert_eq!(c.ecr_sources.lock().unwrap().len(), 1, "one shared source");
        drop((a, b));
        let _other = c
            .connect(&artifact(
                "123456789012.dkr.ecr.us-west-2.amazonaws.com/x",
                ecr,
                false,
            ))
            .unwrap();
        assert_eq!(
            c.ecr_sources.lock().unwrap().len(),
            1,
            "dead sources are dropped"
        );
        assert!(
            format!("{_other:?}").contains("us-west-2"),
            "the host's region wins"
        );
    }
}
