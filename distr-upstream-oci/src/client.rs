//! [`OciUpstream`]: the OCI Distribution API of an upstream registry over
//! hyper-util's pooled HTTP/1.1 client.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use distr_core::upstream::{
    ManifestHead, Missing, TagPage, Upstream, UpstreamAuth, UpstreamBlob, UpstreamError,
    UpstreamManifest, UpstreamRef, UpstreamResult,
};
use distr_core::{ByteStream, Digest, Reference, TagName};
use futures::StreamExt;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LINK, LOCATION, RANGE,
    RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::challenge::{parse_challenges, Challenge};
use super::ecr::{EcrToken, EcrTokenSource, DEFAULT_ECR_REFRESH_MARGIN, DEFAULT_ECR_REGION};
use super::link::{next_last, percent_encode};
use super::retry::{classify_status, jitter, Failure, RetryPolicy};
use super::tls::{default_tls_config, https_connector, HttpsConnector};
use super::token::{parse_token_response, CachedToken};
use crate::body::into_stream;

/// Largest manifest read from an upstream.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest token or error response read.
const MAX_SMALL_BODY: u64 = 64 * 1024;
/// Longest wait for the next chunk of an error response body.
const ERROR_BODY_IDLE: Duration = Duration::from_secs(10);
/// Most redirects followed (blob downloads usually redirect once to a CDN).
const MAX_REDIRECTS: usize = 5;
/// Manifest media types asked for. Without `Accept`, Distribution answers 404
/// for OCI manifests.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

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

    /// An upstream over the bundled connector: TCP plus rustls for
    /// `https://` (see [`HttpsConnector`](super::HttpsConnector)). Plain
    /// `http://` is used only with [`with_insecure(true)`](Self::with_insecure).
    pub fn build(mut self) -> UpstreamResult<OciUpstream> {
        let tls = match self.tls.take() {
            Some(tls) => tls,
            None => default_tls_config()?,
        };
        let connector = https_connector(&tls, self.connect_timeout);
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
            token: tokio::sync::Mutex::new(None),
        })
    }
}

/// An upstream registry repository spoken to over the OCI Distribution API.
///
/// Authentication: anonymous, HTTP Basic (sent up front), and the Bearer
/// token flow: on `401` with `WWW-Authenticate: Bearer realm=…`, a token is
/// fetched from the realm (with the Basic credentials when configured),
/// cached until shortly before it expires, and the request retried once.
///
/// With [`UpstreamAuth::Ecr`] the Basic credentials are `AWS:<password>`
/// from an [`EcrTokenSource`]. When the registry (or its token realm)
/// answers `401`/`403` to an ECR token, the token is invalidated, a new one
/// fetched and the request retried once.
pub struct OciUpstream<C = HttpsConnector> {
    target: UpstreamRef,
    /// `<scheme>://<registry>/v2/<repository>`.
    base: String,
    insecure: bool,
    response_timeout: Duration,
    body_idle_timeout: Duration,
    retry: RetryPolicy,
    user_agent: HeaderValue,
    creds: Creds,
    client: Client<C, Empty<Bytes>>,
    /// The current bearer token; locked across a fetch so concurrent
    /// requests fetch it once.
    token: tokio::sync::Mutex<Option<CachedToken>>,
}

impl OciUpstream {
    /// A builder for `target`.
    pub fn builder(target: UpstreamRef) -> OciUpstreamBuilder {
        OciUpstreamBuilder::new(target)
    }
}

impl<C> std::fmt::Debug for OciUpstream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciUpstream")
            .field("target", &self.target)
            .field("insecure", &self.insecure)
            .field("auth", &self.creds)
            .finish_non_exhaustive()
    }
}

/// Where the Basic credentials come from.
enum Creds {
    Anonymous,
    /// `Basic …`, marked sensitive.
    Basic(HeaderValue),
    Ecr(Arc<EcrTokenSource>),
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Creds::Anonymous => f.write_str("Anonymous"),
            Creds::Basic(_) => f.write_str("Basic(<redacted>)"),
            Creds::Ecr(source) => f.debug_tuple("Ecr").field(source).finish(),
        }
    }
}

/// The Basic credentials of one request.
struct BasicAuth {
    header: HeaderValue,
    /// The ECR token behind `header`, to invalidate when it is rejected.
    ecr: Option<Arc<EcrToken>>,
}

fn unavailable(what: &str, e: &dyn std::error::Error) -> UpstreamError {
    let mut msg = format!("{what}: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    UpstreamError::Unavailable(msg)
}

fn header_str(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of a `Content-Type` value (parameters dropped).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let ct = header_str(headers, CONTENT_TYPE)?;
    let mt = ct.split(';').next().unwrap_or("").trim();
    (!mt.is_empty()).then(|| mt.to_owned())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, CONTENT_LENGTH)?.trim().parse().ok()
}

/// Reads at most `limit` bytes of a body; `None` when it is longer.
async fn read_body(mut stream: ByteStream, limit: u64) -> UpstreamResult<Option<Bytes>> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unavailable("reading the response body", &e))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// The first OCI error code and message of an error body.
fn error_code(body: &[u8]) -> Option<(String, String)> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: String,
        #[serde(default)]
        message: String,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    e.errors.into_iter().next().map(|e| (e.code, e.message))
}

/// Maps a non-success response to its error kind: the one place where
/// upstream statuses become [`UpstreamError`]s.
async fn status_error(resp: Response<Incoming>, missing: Missing) -> UpstreamError {
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = read_body(
        idle_timeout_stream(into_stream(resp.into_body()), ERROR_BODY_IDLE),
        MAX_SMALL_BODY,
    )
    .await
    .ok()
    .flatten()
    .unwrap_or_default();
    let code = error_code(&body);
    let detail = code
        .as_ref()
        .map(|(c, m)| format!("{status}: {c}: {m}"))
        .unwrap_or_else(|| status.to_string());
    match status {
        StatusCode::UNAUTHORIZED => UpstreamError::Unauthorized(detail),
        StatusCode::FORBIDDEN => UpstreamError::Denied(detail),
        StatusCode::NOT_FOUND => {
            if code.is_some_and(|(c, _)| c == "NAME_UNKNOWN") {
                UpstreamError::NotFound(Missing::Repository)
            } else {
                UpstreamError::NotFound(missing)
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => UpstreamError::RangeNotSatisfiable {
            size: header_str(&headers, CONTENT_RANGE)
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|n| n.trim().parse().ok()),
        },
        StatusCode::TOO_MANY_REQUESTS => UpstreamError::RateLimited {
            retry_after_secs: header_str(&headers, RETRY_AFTER).and_then(|v| v.trim().parse().ok()),
        },
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
            UpstreamError::Unavailable(detail)
        }
        _ => UpstreamError::Protocol(format!("unexpected status {detail}")),
    }
}

/// Resolves a `Location` against the URI it came from.
fn resolve_location(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if location.starts_with('/') {
        let scheme = base.scheme_str()?;
        let authority = base.authority()?;
        return format!("{scheme}://{authority}{location}").parse().ok();
    }
    None
}

/// `Content-Range: bytes <first>-<last>/<total|*>`.
fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((first.parse().ok()?, last.parse().ok()?, total))
}

impl<C> OciUpstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// Sends one request, following redirects, retrying it per the
    /// [`RetryPolicy`] while no response body has been read: the last
    /// attempt's response (whatever its status) or error is returned.
    async fn execute(
        &self,
        method: &Method,
        uri: Uri,
        headers: &HeaderMap,
        auth: Option<&HeaderValue>,
    ) -> UpstreamResult<Response<Incoming>> {
        let retries = self.retry.retries_method(method);
        let mut slept = Duration::ZERO;
        let mut attempt = 1;
        loop {
            let (result, failure) =
                match self.execute_once(method, uri.clone(), headers, auth).await {
                    Ok(resp) => {
                        let failure = classify_status(resp.status(), resp.headers());
                        (Ok(resp), failure)
                    }
                    Err((failure, e)) => (Err(e), failure),
                };
            let Some(failure) = failure.filter(|_| retries) else {
                return result;
            };
            let Some(delay) = self.retry.delay(attempt, failure, slept, jitter()) else {
                if attempt > 1 {
                    tracing::warn!(
                        upstream = %self.target, %method, %uri, attempts = attempt, ?failure,
                        "upstream request failed; giving up"
                    );
                }
                return result;
            };
            tracing::debug!(
                upstream = %self.target, %method, %uri, attempt, ?failure, ?delay,
                "upstream request failed; retrying"
            );
            // A failed response's body is dropped unread (its connection
            // is not reused).
            drop(result);
            tokio::time::sleep(delay).await;
            slept += delay;
            attempt += 1;
        }
    }

    /// Sends one request, following redirects (without `Authorization` once
    /// the host changes, and never from https to http). An error comes with
    /// the retryable failure it is, if any.
    async fn execute_once(
        &self,
        method: &Method,
        uri: Uri,
        headers: &HeaderMap,
        auth: Option<&HeaderValue>,
    ) -> Result<Response<Incoming>, (Option<Failure>, UpstreamError)> {
        let origin = uri.authority().cloned();
        let mut uri = uri;
        for _ in 0..=MAX_REDIRECTS {
            if !self.insecure && uri.scheme_str() != Some("https") {
                return Err((
                    None,
                    UpstreamError::Protocol(format!(
                        "refusing plain-http URL {uri} for a secure upstream"
                    )),
                ));
            }
            let mut req = Request::builder()
                .method(method.clone())
                .uri(uri.clone())
                .body(Empty::new())
                .map_err(|e| {
                    (
                        None,
                        UpstreamError::Protocol(format!("bad request URI {uri}: {e}")),
                    )
                })?;
            *req.headers_mut() = headers.clone();
            req.headers_mut()
                .insert(USER_AGENT, self.user_agent.clone());
            if let Some(auth) = auth.filter(|_| uri.authority() == origin.as_ref()) {
                req.headers_mut().insert(AUTHORIZATION, auth.clone());
            }
            let resp = tokio::time::timeout(self.response_timeout, self.client.request(req))
                .await
                .map_err(|_| {
                    (
                        Some(Failure::Timeout),
                        UpstreamError::Unavailable(format!(
                            "no response from {} within {:?}",
                            self.target.registry(),
                            self.response_timeout
                        )),
                    )
                })?
                // Every client error comes before a response: nothing of
                // it was read, so it is safe to retry.
                .map_err(|e| {
                    (
                        Some(Failure::Transport),
                        unavailable(&format!("{method} {uri}"), &e),
                    )
                })?;
            let redirect = matches!(resp.status().as_u16(), 301 | 302 | 303 | 307 | 308);
            if !redirect {
                return Ok(resp);
            }
            let location = header_str(resp.headers(), LOCATION)
                .and_then(|l| resolve_location(&uri, l))
                .ok_or_else(|| {
                    (
                        None,
                        UpstreamError::Protocol("redirect without a usable Location".into()),
                    )
                })?;
            uri = location;
        }
        Err((
            None,
            UpstreamError::Protocol(format!("more than {MAX_REDIRECTS} redirects")),
        ))
    }

    /// The Basic credentials for the next request (an ECR token is fetched
    /// when there is no fresh one).
    async fn basic(&self) -> UpstreamResult<Option<BasicAuth>> {
        Ok(match &self.creds {
            Creds::Anonymous => None,
            Creds::Basic(h) => Some(BasicAuth {
                header: h.clone(),
                ecr: None,
            }),
            Creds::Ecr(source) => {
                let token = source.token().await?;
                Some(BasicAuth {
                    header: token.basic.clone(),
                    ecr: Some(token),
                })
            }
        })
    }

    /// The `Authorization` to send before any challenge: a fresh cached
    /// token, else Basic credentials.
    async fn current_auth(&self, basic: Option<&HeaderValue>) -> Option<HeaderValue> {
        let guard = self.token.lock().await;
        match guard.as_ref() {
            Some(t) if t.is_fresh(Instant::now()) => bearer(&t.token),
            _ => basic.cloned(),
        }
    }

    /// Sends a request to `<base><suffix>` with auth, answering one Bearer
    /// challenge; an ECR token the registry rejects is replaced and the
    /// request retried once.
    async fn send(
        &self,
        method: Method,
        suffix: &str,
        headers: HeaderMap,
    ) -> UpstreamResult<Response<Incoming>> {
        let uri: Uri = format!("{}{suffix}", self.base)
            .parse()
            .map_err(|e| UpstreamError::InvalidReference(format!("{}: {e}", self.base)))?;
        let basic = self.basic().await?;
        let result = self
            .send_once(&method, &uri, &headers, basic.as_ref())
            .await;
        let (Creds::Ecr(source), Some(stale)) =
            (&self.creds, basic.as_ref().and_then(|b| b.ecr.as_ref()))
        else {
            return result;
        };
        let rejected = match &result {
            Ok(resp) => matches!(
                resp.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
            // The token realm refused the ECR password.
            Err(UpstreamError::Unauthorized(_)) => true,
            Err(_) => false,
        };
        if !rejected {
            return result;
        }
        drop(result);
        tracing::debug!(upstream = %self.target, "ECR token rejected; fetching a new one");
        source.invalidate(stale).await;
        // Bearer tokens may have been issued for the rejected password.
        *self.token.lock().await = None;
        let basic = self.basic().await?;
        self.send_once(&method, &uri, &headers, basic.as_ref())
            .await
    }

    /// [`send`](Self::send) with the given Basic credentials, answering one
    /// Bearer challenge.
    async fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        basic: Option<&BasicAuth>,
    ) -> UpstreamResult<Response<Incoming>> {
        let basic = basic.map(|b| &b.header);
        let sent = self.current_auth(basic).await;
        let resp = self
            .execute(method, uri.clone(), headers, sent.as_ref())
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenges = header_str(resp.headers(), WWW_AUTHENTICATE)
            .map(parse_challenges)
            .unwrap_or_default();
        let Some(challenge) = challenges.into_iter().find(|c| c.scheme == "bearer") else {
            return Ok(resp);
        };
        let token = self.refresh_token(&challenge, sent.as_ref(), basic).await?;
        self.execute(method, uri.clone(), headers, token.as_ref())
            .await
    }

    /// A token for `challenge`: the cached one when another request already
    /// refreshed it since `sent` was used, else a new one from the realm.
    async fn refresh_token(
        &self,
        challenge: &Challenge,
        sent: Option<&HeaderValue>,
        basic: Option<&HeaderValue>,
    ) -> UpstreamResult<Option<HeaderValue>> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.is_fresh(Instant::now())) {
            let current = bearer(&t.token);
            if current.as_ref() != sent {
                return Ok(current);
            }
        }
        let fresh = self.fetch_token(challenge, basic).await?;
        let header = bearer(&fresh.token);
        *guard = Some(fresh);
        Ok(header)
    }

    async fn fetch_token(
        &self,
        challenge: &Challenge,
        basic: Option<&HeaderValue>,
    ) -> UpstreamResult<CachedToken> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| UpstreamError::Protocol("Bearer challenge without realm".into()))?;
        let default_scope = format!("repository:{}:pull", self.target.repository());
        let scope = challenge.param("scope").unwrap_or(&default_scope);
        let mut url = realm.to_owned();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(service) = challenge.param("service") {
            url.push_str(&format!("{sep}service={}", percent_encode(service)));
            sep = '&';
        }
        url.push_str(&format!("{sep}scope={}", percent_encode(scope)));
        let uri: Uri = url
            .parse()
            .map_err(|e| UpstreamError::Protocol(format!("bad token realm {realm:?}: {e}")))?;
        let resp = self
            .execute(&Method::GET, uri, &HeaderMap::new(), basic)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status_error(resp, Missing::Repository).await {
                UpstreamError::Unauthorized(m) | UpstreamError::Denied(m) => {
                    UpstreamError::Unauthorized(format!("token realm: {m}"))
                }
                UpstreamError::NotFound(_) => {
                    UpstreamError::Protocol(format!("token realm {realm} not found"))
                }
                other => other,
            });
        }
        let body = read_body(self.body(resp), MAX_SMALL_BODY)
            .await?
            .ok_or_else(|| UpstreamError::Protocol("token response too large".into()))?;
        parse_token_response(&body, Instant::now())
    }

    /// A response body as a stream with the idle timeout.
    fn body(&self, resp: Response<Incoming>) -> ByteStream {
        idle_timeout_stream(into_stream(resp.into_body()), self.body_idle_timeout)
    }

    fn manifest_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        h
    }
}

fn bearer(token: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn announced_digest(headers: &HeaderMap) -> UpstreamResult<Option<Digest>> {
    header_str(headers, DOCKER_CONTENT_DIGEST)
        .map(|d| {
            d.trim().parse::<Digest>().map_err(|_| {
                UpstreamError::Protocol(format!("invalid Docker-Content-Digest {d:?}"))
            })
        })
        .transpose()
}

/// `body`, failing with `TimedOut` when no chunk arrives within `idle`.
fn idle_timeout_stream(body: ByteStream, idle: Duration) -> ByteStream {
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(item) => item.map(|i| (i, Some(body))),
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("upstream sent no data for {idle:?}"),
                )),
                None,
            )),
        }
    })
    .boxed()
}

/// The bytes of `range` (end-exclusive) of `body`; the rest is read and dropped.
fn slice_stream(body: ByteStream, range: Range<u64>) -> ByteStream {
    futures::stream::unfold((body, 0u64), move |(mut body, mut pos)| {
        let range = range.clone();
        async move {
            while pos < range.end {
                let chunk = match body.next().await? {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), (body, range.end))),
                };
                let start = pos;
                pos += chunk.len() as u64;
                let from = range.start.clamp(start, pos) - start;
                let to = range.end.clamp(start, pos) - start;
                if from < to {
                    return Some((Ok(chunk.slice(from as usize..to as usize)), (body, pos)));
                }
            }
            None
        }
    })
    .boxed()
}

#[async_trait]
impl<C> Upstream for OciUpstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn target(&self) -> &UpstreamRef {
        &self.target
    }

    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage> {
        let mut query = Vec::new();
        if let Some(n) = n {
            query.push(format!("n={n}"));
        }
        if let Some(last) = last {
            query.push(format!("last={}", percent_encode(last)));
        }
        let suffix = if query.is_empty() {
            "/tags/list".to_owned()
        } else {
            format!("/tags/list?{}", query.join("&"))
        };
        let resp = self.send(Method::GET, &suffix, HeaderMap::new()).await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Repository).await);
        }
        let next = header_str(resp.headers(), LINK).and_then(next_last);
        let body = read_body(self.body(resp), MAX_MANIFEST_BYTES)
            .await?
            .ok_or_else(|| UpstreamError::Protocol("tag list too large".into()))?;
        #[derive(serde::Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let parsed: Tags = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Protocol(format!("tag list is not JSON: {e}")))?;
        let tags = parsed
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                t.parse::<TagName>()
                    .map_err(|_| UpstreamError::Protocol(format!("invalid tag {t:?} in tag list")))
            })
            .collect::<UpstreamResult<Vec<_>>>()?;
        // A next link without `last` continues after this page's last tag.
        let next = next.map(|n| match (n.is_empty(), tags.last()) {
            (true, Some(t)) => t.as_str().to_owned(),
            _ => n,
        });
        Ok(TagPage { tags, next })
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        let suffix = format!("/manifests/{reference}");
        let resp = self
            .send(Method::HEAD, &suffix, Self::manifest_headers())
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Manifest(reference.to_string())).await);
        }
        let headers = resp.headers();
        let digest = match (announced_digest(headers)?, reference) {
            (Some(d), Reference::Digest(asked)) if d != *asked => {
                return Err(UpstreamError::DigestMismatch {
                    expected: asked.clone(),
                    actual: d,
                });
            }
            (Some(d), _) => Some(d),
            (None, Reference::Digest(asked)) => Some(asked.clone()),
            (None, Reference::Tag(_)) => None,
        };
        let media_type = media_type(headers);
        let size = content_length(headers);
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size)) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            // Not enough headers: fetch and compute.
            _ => match self.get_manifest(reference).await {
                Ok(m) => Ok(Some(ManifestHead {
                    size: m.content.len() as u64,
                    digest: m.digest,
                    media_type: m.media_type,
                })),
                Err(UpstreamError::NotFound(Missing::Manifest(_))) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        let suffix = format!("/manifests/{reference}");
        let resp = self
            .send(Method::GET, &suffix, Self::manifest_headers())
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Manifest(reference.to_string())).await);
        }
        let headers = resp.headers().clone();
        if content_length(&headers).is_some_and(|n| n > MAX_MANIFEST_BYTES) {
            return Err(UpstreamError::Protocol(format!(
                "manifest larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let content = read_body(self.body(resp), MAX_MANIFEST_BYTES)
            .await?
            .ok_or_else(|| {
                UpstreamError::Protocol(format!("manifest larger than {MAX_MANIFEST_BYTES} bytes"))
            })?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => announced_digest(&headers)?,
        };
        let digest = match expected {
            Some(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if actual != expected {
                    return Err(UpstreamError::DigestMismatch { expected, actual });
                }
                actual
            }
            None => Digest::sha256(&content),
        };
        let media_type = match media_type(&headers) {
            Some(mt) => mt,
            None => {
                #[derive(serde::Deserialize)]
                struct Mt {
                    #[serde(rename = "mediaType")]
                    media_type: Option<String>,
                }
                serde_json::from_slice::<Mt>(&content)
                    .ok()
                    .and_then(|m| m.media_type)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("manifest without a media type".into())
                    })?
            }
        };
        Ok(UpstreamManifest {
            digest,
            media_type,
            content,
        })
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        let mut headers = HeaderMap::new();
        if let Some(r) = &range {
            if r.start >= r.end {
                return Err(UpstreamError::RangeNotSatisfiable { size: None });
            }
            let v = HeaderValue::from_str(&format!("bytes={}-{}", r.start, r.end - 1))
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            headers.insert(RANGE, v);
        }
        let resp = self
            .send(Method::GET, &format!("/blobs/{digest}"), headers)
            .await?;
        let status = resp.status();
        match (&range, status) {
            (None, StatusCode::OK) => {
                let size = content_length(resp.headers());
                let body = self.body(resp);
                Ok(UpstreamBlob {
                    size,
                    total_size: size,
                    body,
                })
            }
            (Some(r), StatusCode::PARTIAL_CONTENT) => {
                let (first, last, total) = header_str(resp.headers(), CONTENT_RANGE)
                    .and_then(parse_content_range)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("206 without a valid Content-Range".into())
                    })?;
                let wanted_last = match total {
                    Some(t) => (r.end - 1).min(t.saturating_sub(1)),
                    None => r.end - 1,
                };
                if first != r.start || last != wanted_last {
                    return Err(UpstreamError::Protocol(format!(
                        "asked for bytes {}-{}, got {first}-{last}",
                        r.start,
                        r.end - 1
                    )));
                }
                Ok(UpstreamBlob {
                    size: Some(last - first + 1),
                    total_size: total,
                    body: self.body(resp),
                })
            }
            // The upstream ignored `Range`: cut the range out of the whole blob.
            (Some(r), StatusCode::OK) => {
                let total = content_length(resp.headers());
                if total.is_some_and(|t| r.start >= t) {
                    return Err(UpstreamError::RangeNotSatisfiable { size: total });
                }
                let end = total.map_or(r.end, |t| r.end.min(t));
                Ok(UpstreamBlob {
                    size: total.map(|_| end - r.start),
                    total_size: total,
                    body: slice_stream(self.body(resp), r.start..end),
                })
            }
            _ => Err(status_error(resp, Missing::Blob(digest.clone())).await),
        }
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        self.list_tags(None, Some(1)).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 1-2/5"), Some((1, 2, Some(5))));
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, 9, None)));
        assert_eq!(parse_content_range("bytes */5"), None);
    }

    #[tokio::test]
    async fn slices_streams() {
        let parts = ["abc", "defg", "", "hij"];
        for (range, want) in [
            (0..10, "abcdefghij"),
            (2..5, "cde"),
            (3..7, "defg"),
            (8..20, "ij"),
            (4..5, "e"),
        ] {
            let s = slice_stream(
                futures::stream::iter(parts.map(|p| Ok(Bytes::from_static(p.as_bytes())))).boxed(),
                range.clone(),
            );
            let got: Vec<Bytes> = futures::TryStreamExt::try_collect(s).await.unwrap();
            assert_eq!(got.concat(), want.as_bytes(), "{range:?}");
        }
    }

    #[tokio::test]
    async fn stalled_bodies_time_out() {
        let stalled = futures::stream::once(async { Ok(Bytes::from_static(b"x")) })
            .chain(futures::stream::pending())
            .boxed();
        let mut s = idle_timeout_stream(stalled, Duration::from_millis(50));
        assert_eq!(s.next().await.unwrap().unwrap(), "x");
        let e = s.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(s.next().await.is_none());
    }

    #[test]
    fn locations() {
        let base: Uri = "http://a:1/v2/x/blobs/sha256:1".parse().unwrap();
        assert_eq!(
            resolve_location(&base, "/cdn/y").unwrap().to_string(),
            "http://a:1/cdn/y"
        );
        assert_eq!(
            resolve_location(&base, "https://cdn.example/z")
                .unwrap()
                .authority()
                .unwrap()
                .as_str(),
            "cdn.example"
        );
        assert!(resolve_location(&base, "relative").is_none());
    }

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
