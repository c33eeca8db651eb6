//! Amazon ECR credentials: [`EcrTokenSource`] turns AWS access keys into the
//! registry password of `GetAuthorizationToken`, cached, refreshed before it
//! expires and fetched once for any number of concurrent requests.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::timeout::TimeoutConfig;
use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region, SharedHttpClient};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::operation::get_authorization_token::GetAuthorizationTokenError;
use base64::Engine;
use distr_core::upstream::{UpstreamError, UpstreamResult};
use http::HeaderValue;

/// Region used for ECR when neither the registry host
/// (`<account>.dkr.ecr.<region>.amazonaws.com`) nor the configuration names one.
pub const DEFAULT_ECR_REGION: &str = "us-east-1";
/// Default safety margin: a token is replaced this long before it expires.
pub const DEFAULT_ECR_REFRESH_MARGIN: Duration = Duration::from_secs(60 * 60);
/// Lifetime assumed when `GetAuthorizationToken` gives no usable `expiresAt`
/// (absent, or already past — clock skew, or test doubles such as moto that
/// answer a fixed date): the 12 hours AWS documents.
pub const DEFAULT_ECR_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The HTTPS client of the AWS SDK: rustls with the ring provider and the
/// operating system's roots (the SDK's default trust store).
pub(crate) fn default_sdk_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A registry password from `GetAuthorizationToken`.
pub(crate) struct EcrToken {
    /// `Basic base64(AWS:<password>)`, marked sensitive.
    pub(crate) basic: HeaderValue,
    /// When to stop using it (expiry minus the refresh margin).
    refresh_at: Instant,
    /// Distinguishes tokens for [`EcrTokenSource::invalidate`].
    generation: u64,
}

impl fmt::Debug for EcrToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcrToken")
            .field("basic", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .field("generation", &self.generation)
            .finish()
    }
}

/// Configuration of an [`EcrTokenSource`]; validated in [`build`](Self::build).
#[derive(Clone)]
pub struct EcrTokenSourceBuilder {
    access_key_id: String,
    secret_access_key: String,
    region: String,
    endpoint: Option<String>,
    refresh_margin: Duration,
    connect_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
    http_client: Option<SharedHttpClient>,
}

impl fmt::Debug for EcrTokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcrTokenSourceBuilder")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl EcrTokenSourceBuilder {
    /// The ECR API endpoint, e.g. `http://127.0.0.1:5000` for `moto_server`
    /// (default: the region's public endpoint).
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How long before its expiry a token is replaced (default
    /// [`DEFAULT_ECR_REFRESH_MARGIN`], one hour). A margin at least as long
    /// as the token lifetime fetches a new token for every request.
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Connect timeout of ECR API calls (default 10 s).
    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Overall timeout of one `GetAuthorizationToken` call, retries
    /// included (default 30 s).
    pub fn with_operation_timeout(mut self, t: Duration) -> Self {
        self.operation_timeout = t;
        self
    }

    /// Attempts per `GetAuthorizationToken` call, first one included
    /// (default 3, the SDK's standard retry policy).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The HTTPS client of the AWS SDK (shared by [`OciConnector`](super::OciConnector)
    /// across token sources; default: rustls + ring with the OS roots).
    pub fn with_http_client(mut self, client: SharedHttpClient) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The token source. Fails on an empty key or region.
    pub fn build(self) -> UpstreamResult<EcrTokenSource> {
        if self.access_key_id.is_empty() || self.secret_access_key.is_empty() {
            return Err(UpstreamError::InvalidReference(
                "ECR credentials need an access key id and a secret access key".into(),
            ));
        }
        if self.region.is_empty() {
            return Err(UpstreamError::InvalidReference(
                "ECR needs an AWS region".into(),
            ));
        }
        let credentials = Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key,
            None,
            None,
            "distr-upstream",
        );
        let mut config = aws_sdk_ecr::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .http_client(self.http_client.unwrap_or_else(default_sdk_http_client))
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            );
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint.clone());
        }
        Ok(EcrTokenSource {
            client: aws_sdk_ecr::Client::from_conf(config.build()),
            access_key_id: self.access_key_id,
            region: self.region,
            endpoint: self.endpoint,
            refresh_margin: self.refresh_margin,
            current: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        })
    }
}

/// Registry passwords for one set of AWS credentials in one region, from
/// ECR's `GetAuthorizationToken`.
///
/// The token (`base64("AWS:<password>")`, valid about 12 hours) is cached and
/// replaced [`refresh margin`](EcrTokenSourceBuilder::with_refresh_margin)
/// before its `expiresAt`. Concurrent requests that need a token wait for a
/// single `GetAuthorizationToken` call. A token the registry rejects is
/// invalidated once, however many requests saw it
/// rejected. Share one source (`Arc`) between upstreams with the same
/// credentials and region.
///
/// `Debug` shows the access key id, never the secret or a token.
pub struct EcrTokenSource {
    client: aws_sdk_ecr::Client,
    access_key_id: String,
    region: String,
    endpoint: Option<String>,
    refresh_margin: Duration,
    /// The current token; locked across a fetch (singleflight).
    current: tokio::sync::Mutex<Option<Arc<EcrToken>>>,
    generation: AtomicU64,
    fetches: AtomicU64,
}

impl fmt::Debug for EcrTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcrTokenSource")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("refresh_margin", &self.refresh_margin)
            .finish_non_exhaustive()
    }
}

impl EcrTokenSource {
    /// A builder for credentials `access_key_id`/`secret_access_key` in `region`.
    pub fn builder(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        region: impl Into<String>,
    ) -> EcrTokenSourceBuilder {
        EcrTokenSourceBuilder {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            region: region.into(),
            endpoint: None,
            refresh_margin: DEFAULT_ECR_REFRESH_MARGIN,
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(30),
            max_attempts: 3,
            http_client: None,
        }
    }

    /// The AWS region asked for tokens.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The AWS access key id (not secret).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// How many `GetAuthorizationToken` calls this source made (a metric).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A fresh token: the cached one, else a new one (one call for all
    /// concurrent callers).
    pub(crate) async fn token(&self) -> UpstreamResult<Arc<EcrToken>> {
        let mut guard = self.current.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.clone());
        }
        let fresh = Arc::new(self.fetch().await?);
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets `stale` (a token the registry rejected), unless it has been
    /// replaced already.
    pub(crate) async fn invalidate(&self, stale: &EcrToken) {
        let mut guard = self.current.lock().await;
        if guard
            .as_ref()
            .is_some_and(|t| t.generation == stale.generation)
        {
            tracing::debug!(region = %self.region, "ECR token rejected by the registry; invalidated");
            *guard = None;
        }
    }

    async fn fetch(&self) -> UpstreamResult<EcrToken> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| self.sdk_error(e))?;
        let data = out.authorization_data().first().ok_or_else(|| {
            UpstreamError::Protocol(
                "ECR GetAuthorizationToken returned no authorization data".into(),
            )
        })?;
        let encoded = data.authorization_token().ok_or_else(|| {
            UpstreamError::Protocol("ECR GetAuthorizationToken returned no token".into())
        })?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .filter(|s| {
                s.split_once(':')
                    .is_some_and(|(u, p)| !u.is_empty() && !p.is_empty())
            })
            .ok_or_else(|| {
                UpstreamError::Protocol(
                    "ECR authorization token is not base64 of <user>:<password>".into(),
                )
            })?;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(decoded)
        );
        let mut basic = HeaderValue::from_str(&basic).map_err(|_| {
            UpstreamError::Protocol("ECR authorization token is not a header".into())
        })?;
        basic.set_sensitive(true);
        let now_wall = SystemTime::now();
        let lifetime = data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok())
            .and_then(|t| t.duration_since(now_wall).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_ECR_TOKEN_LIFETIME);
        let refresh_at = Instant::now() + lifetime.saturating_sub(self.refresh_margin);
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(region = %self.region, ?lifetime, generation, "fetched an ECR authorization token");
        Ok(EcrToken {
            basic,
            refresh_at,
            generation,
        })
    }

    /// Maps an SDK failure to its kind: rejected credentials are
    /// `Unauthorized`/`Denied`, network trouble and 5xx are `Unavailable`.
    /// Messages name the access key id and region, never the secret.
    fn sdk_error(&self, e: SdkError<GetAuthorizationTokenError>) -> UpstreamError {
        let who = format!(
            "ECR GetAuthorizationToken (access key id {}, region {})",
            self.access_key_id, self.region
        );
        match &e {
            SdkError::ServiceError(ctx) => {
                let status = ctx.raw().status().as_u16();
                let err = ctx.err();
                let code = err.code().unwrap_or("");
                let message = err.message().unwrap_or("");
                let detail = if code.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {code}: {message}")
                };
                let auth_code = matches!(
                    code,
                    "UnrecognizedClientException"
                        | "InvalidClientTokenId"
                        | "InvalidSignatureException"
                        | "SignatureDoesNotMatch"
                        | "IncompleteSignature"
                        | "MissingAuthenticationToken"
                        | "ExpiredTokenException"
                        | "InvalidAccessKeyId"
                );
                if code == "AccessDeniedException" {
                    UpstreamError::Denied(format!(
                        "{who}: the AWS credentials lack ecr:GetAuthorizationToken: {detail}"
                    ))
                } else if auth_code || status == 401 || status == 403 {
                    UpstreamError::Unauthorized(format!(
                        "{who}: AWS rejected the credentials \
                         (check the access key id and secret access key): {detail}"
                    ))
                } else if code == "ThrottlingException" || status == 429 {
                    UpstreamError::RateLimited {
                        retry_after_secs: None,
                    }
                } else if status >= 500 || code == "ServerException" {
                    UpstreamError::Unavailable(format!("{who}: {detail}"))
                } else {
                    UpstreamError::Protocol(format!("{who}: {detail}"))
                }
            }
            SdkError::ConstructionFailure(_) => {
                UpstreamError::InvalidReference(format!("{who}: {}", error_chain(&e)))
            }
            SdkError::ResponseError(ctx) if ctx.raw().status().is_client_error() => {
                let status = ctx.raw().status().as_u16();
                if status == 401 || status == 403 {
                    UpstreamError::Unauthorized(format!(
                        "{who}: AWS rejected the credentials \
                         (check the access key id and secret access key): HTTP {status}"
                    ))
                } else {
                    UpstreamError::Protocol(format!("{who}: HTTP {status}"))
                }
            }
            // Dispatch failures (connect, DNS, TLS), timeouts, unreadable responses.
            _ => UpstreamError::Unavailable(format!("{who}: {}", error_chain(&e))),
        }
    }
}

/// `e: source: source…`, each message once.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.ends_with(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let b = EcrTokenSource::builder("AKIAEXAMPLE", "wJalrXUtnFEMI-secret", "eu-west-1");
        let s = format!("{b:?}");
        assert!(
            s.contains("AKIAEXAMPLE") && !s.contains("wJalrXUtnFEMI"),
            "{s}"
        );
        let src = b.build().unwrap();
        let s = format!("{src:?}");
        assert!(
            s.contains("eu-west-1") && !s.contains("wJalrXUtnFEMI"),
            "{s}"
        );
        assert_eq!(src.fetch_count(), 0);
    }

    #[test]
    fn rejects_empty_credentials() {
        assert!(EcrTokenSource::builder("", "x", "us-east-1")
            .build()
            .is_err());
        assert!(EcrTokenSource::builder("a", "x", "").build().is_err());
    }
}
