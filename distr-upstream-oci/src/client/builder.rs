//! [`OciUpstreamBuilder`]: the configuration of an [`OciUpstream`].

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use distr_core::upstream::{
    EgressPolicy, UpstreamAuth, UpstreamError, UpstreamRef, UpstreamResult,
};
use http::HeaderValue;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::{Creds, OciUpstream};
use crate::ecr::{EcrTokenSource, DEFAULT_ECR_REFRESH_MARGIN, DEFAULT_ECR_REGION};
use crate::retry::RetryPolicy;
use crate::tls::{default_tls_config, https_connector};

/// Configuration of an [`OciUpstream`]: `Clone`, `with_*`-style chaining,
/// validated in [`build`](Self::build).
#[derive(Clone, Debug)]
pub struct OciUpstreamBuilder {
    target: UpstreamRef,
    auth: UpstreamAuth,
    insecure: bool,
    connect_timeout: Duration,
    response_timeout: Duration,
    body_idle_timeout: Duration,
    user_agent: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    egress: Arc<EgressPolicy>,
    ecr_endpoint: Option<String>,
    ecr_region: Option<String>,
    ecr_refresh_margin: Duration,
    ecr_source: Option<Arc<EcrTokenSource>>,
    retry: RetryPolicy,
}

impl OciUpstreamBuilder {
    /// Anonymous HTTPS access to `target`, 10 s connect and 30 s response-header timeouts.
    pub fn new(target: UpstreamRef) -> Self {
        Self {
            target,
            auth: UpstreamAuth::None,
            insecure: false,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            user_agent: concat!("distr/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: None,
            egress: Arc::new(EgressPolicy::public_only()),
            ecr_endpoint: None,
            ecr_region: None,
            ecr_refresh_margin: DEFAULT_ECR_REFRESH_MARGIN,
            ecr_source: None,
            retry: RetryPolicy::default(),
        }
    }

    /// How idempotent requests (all of them: `GET`/`HEAD`, token fetches
    /// included) are retried on transport errors, response-header timeouts,
    /// `408`, `429` and transient `5xx`, before any body byte is read
    /// (default [`RetryPolicy::default`]: 3 attempts, 100 ms then 400 ms).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The credentials.
    pub fn with_auth(mut self, auth: UpstreamAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Plain `http://` instead of `https://` (tests, registries on loopback).
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Timeout of TCP connects (only for the built-in connector of [`build`](Self::build)).
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Timeout from sending a request to receiving its response headers.
    pub fn with_response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// Longest wait for the next chunk of a response body (a stalled
    /// upstream then fails the stream with `TimedOut`).
    pub fn with_body_idle_timeout(mut self, t: Duration) -> Self {
        self.body_idle_timeout = t;
        self
    }

    /// The `User-Agent` sent.
    pub fn with_user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// The client TLS configuration of [`build`](Self::build) (default:
    /// [`default_tls_config`](super::default_tls_config), webpki roots).
    pub fn with_tls_config(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Where the built-in connector of [`build`](Self::build) may connect
    /// (default [`EgressPolicy::public_only`]: public addresses over HTTPS;
    /// a registry on loopback or a private network, or plain HTTP, needs
    /// the host listed). Judged on every connection: the first request,
    /// each redirect and each token-realm hop.
    pub fn with_egress_policy(mut self, egress: Arc<EgressPolicy>) -> Self {
        self.egress = egress;
        self
    }

    /// The ECR API endpoint for [`UpstreamAuth::Ecr`], e.g. a `moto_server`
    /// URL in tests (default: the region's public endpoint).
    pub fn with_ecr_endpoint(mut self, url: impl Into<String>) -> Self {
        self.ecr_endpoint = Some(url.into());
        self
    }

    /// The AWS region asked for ECR tokens.
    ///
    /// Default: the region in the registry host
    /// (`<account>.dkr.ecr.<region>.amazonaws.com`, see
    /// [`UpstreamRef::ecr_region`]), else [`DEFAULT_ECR_REGION`] (`us-east-1`)
    /// for hosts that do not name one (test doubles, proxies). An explicit
    /// region wins over the host's.
    pub fn with_ecr_region(mut self, region: impl Into<String>) -> Self {
        self.ecr_region = Some(region.into());
        self
    }

    /// How long before its expiry an ECR token is replaced (default one hour;
    /// see [`EcrTokenSourceBuilder::with_refresh_margin`](super::EcrTokenSourceBuilder::with_refresh_margin)).
    pub fn with_ecr_refresh_margin(mut self, margin: Duration) -> Self {
        self.ecr_refresh_margin = margin;
        self
    }

    /// Authenticate with tokens from `source`, shared with other upstreams of
    /// the same AWS account and region. Overrides [`with_auth`](Self::with_auth)
    /// and the other `with_ecr_*` settings.
    pub fn with_ecr_token_source(mut self, source: Arc<EcrTokenSource>) -> Self {
        self.ecr_source = Some(source);
        self
    }

    /// The region ECR tokens are asked for (see [`with_ecr_region`](Self::with_ecr_region)).
    pub fn ecr_region(&self) -> &str {
        self.ecr_region
            .as_deref()
            .or_else(|| self.target.ecr_region())
            .unwrap_or(DEFAULT_ECR_REGION)
    }

    /// An upstream over the bundled connector: the egress policy, TCP plus
    /// rustls for `https://` (see [`HttpsConnector`](super::HttpsConnector)). Plain
    /// `http://` is used only with [`with_insecure(true)`](Self::with_insecure).
    pub fn build(mut self) -> UpstreamResult<OciUpstream> {
        let tls = match self.tls.take() {
            Some(tls) => tls,
            None => default_tls_config()?,
        };
        let connector = https_connector(&tls, self.connect_timeout, &self.egress);
        self.build_with_connector(connector)
    }

    /// An upstream over `connector`, which must handle `https://` URIs unless
    /// the upstream is insecure.
    pub fn build_with_connector<C>(self, connector: C) -> UpstreamResult<OciUpstream<C>>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| UpstreamError::InvalidReference("invalid user agent".into()))?;
        let creds = match (&self.ecr_source, &self.auth) {
            (Some(source), _) => Creds::Ecr(source.clone()),
            (None, UpstreamAuth::None) => Creds::Anonymous,
            (None, UpstreamAuth::Basic { username, password }) => {
                let raw = format!("{username}:{password}");
                let v = format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                );
                let mut v = HeaderValue::from_str(&v)
                    .map_err(|_| UpstreamError::InvalidReference("invalid credentials".into()))?;
                v.set_sensitive(true);
                Creds::Basic(v)
            }
            (
                None,
                UpstreamAuth::Ecr {
                    access_key_id,
                    secret_access_key,
                },
            ) => {
                let mut source = EcrTokenSource::builder(
                    access_key_id.clone(),
                    secret_access_key.clone(),
                    self.ecr_region(),
                )
                .with_refresh_margin(self.ecr_refresh_margin)
                .with_connect_timeout(self.connect_timeout);
                if let Some(endpoint) = &self.ecr_endpoint {
                    source = source.with_endpoint(endpoint.clone());
                }
                Creds::Ecr(Arc::new(source.build()?))
            }
            (None, other) => {
                return Err(UpstreamError::Unsupported(format!(
                    "upstream authentication {other:?}"
                )));
            }
        };
        let scheme = if self.insecure { "http" } else { "https" };
        let base = format!(
            "{scheme}://{}/v2/{}",
            self.target.registry(),
            self.target.repository()
        );
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(OciUpstream {
            base,
            target: self.target,
            insecure: self.insecure,
            response_timeout: self.response_timeout,
            body_idle_timeout: self.body_idle_timeout,
            retry: self.retry,
            user_agent,
            creds,
            client,
            egress: self.egress,
            token: tokio::sync::Mutex::new(None),
        })
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, Method, Uri};

    use super::*;

    #[tokio::test]
    async fn https_is_bundled() {
        let target: UpstreamRef = "ghcr.io/org/repo".parse().unwrap();
        let up = OciUpstreamBuilder::new(target.clone()).build().unwrap();
        assert_eq!(up.base, "https://ghcr.io/v2/org/repo");
        let uri: Uri = format!("{}/tags/list", up.base).parse().unwrap();
        assert_eq!(uri.scheme_str(), Some("https"));
        let up = OciUpstreamBuilder::new(target.clone())
            .with_insecure(true)
            .build()
            .unwrap();
        assert_eq!(up.base, "http://ghcr.io/v2/org/repo");
        // A secure upstream never speaks plain http, not even after a redirect.
        let up = OciUpstreamBuilder::new(target).build().unwrap();
        let e = up
            .execute(
                &Method::GET,
                "http://127.0.0.1:9/v2/".parse().unwrap(),
                &HeaderMap::new(),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, UpstreamError::Protocol(_)), "{e:?}");
    }

    #[test]
    fn ecr_region_and_secrets() {
        let ecr = UpstreamAuth::Ecr {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI-secret".into(),
        };
        let host: UpstreamRef = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/app"
            .parse()
            .unwrap();
        let b = OciUpstreamBuilder::new(host).with_auth(ecr.clone());
        assert_eq!(b.ecr_region(), "eu-central-1");
        assert_eq!(
            b.clone().with_ecr_region("us-west-2").ecr_region(),
            "us-west-2"
        );
        let up = b.build().unwrap();
        let s = format!("{up:?}");
        assert!(
            s.contains("AKIAEXAMPLE") && s.contains("eu-central-1"),
            "{s}"
        );
        assert!(!s.contains("wJalrXUtnFEMI"), "{s}");
        let local: UpstreamRef = "127.0.0.1:5000/app".parse().unwrap();
        let b = OciUpstreamBuilder::new(local).with_auth(ecr);
        assert_eq!(b.ecr_region(), DEFAULT_ECR_REGION);
        let up = b.with_insecure(true).build().unwrap();
        assert!(!format!("{up:?}").contains("wJalrXUtnFEMI"));
        let basic = OciUpstreamBuilder::new("ghcr.io/a/b".parse().unwrap())
            .with_auth(UpstreamAuth::basic("robot", "hunter2-secret"))
            .build()
            .unwrap();
        assert!(!format!("{basic:?}").contains("hunter2"));
    }
}
