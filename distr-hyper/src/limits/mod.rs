//! Request limits of a [`DistrService`](crate::DistrService): request rates
//! per access token and per client address (token buckets), concurrent
//! uploads per token, and an idle timeout for request bodies.
//!
//! Limits are checked before a request is routed. A refused registry
//! request gets `429` with the OCI error code `TOOMANYREQUESTS`, a refused
//! management API request (`/api/v1`) `429` with the code `rate_limited`;
//! both carry `Retry-After` (seconds).
//!
//! ```no_run
//! # fn demo(registry: std::sync::Arc<distr_core::Registry>) {
//! use std::time::Duration;
//! use distr_hyper::{DistrService, Rate, RequestLimits};
//!
//! let limits = RequestLimits::default()
//!     .with_token_rate(Rate::new(50.0, 200))
//!     .with_ip_rate(Rate::new(20.0, 100))
//!     .with_max_uploads_per_token(16)
//!     .with_body_idle_timeout(Some(Duration::from_secs(60)));
//! let service = DistrService::new(registry).with_limits(limits);
//! # let _ = service;
//! # }
//! ```

mod bucket;
mod idle;
mod inflight;
mod response;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use distr_core::access::TokenId;
use http::{HeaderMap, Method};

use crate::client_ip::TrustedProxies;
use crate::route::Route;

use self::bucket::KeyedBuckets;
use self::inflight::{InFlight, InFlightGuard};

pub(crate) use self::idle::IdleTimeout;
pub(crate) use self::response::limited;

/// Clients tracked by each rate limiter by default.
const DEFAULT_MAX_TRACKED: usize = 100_000;

/// `Retry-After` of a refused upload: an upload of the same client
/// finishes at a time nobody knows.
const UPLOAD_RETRY_AFTER_SECS: u64 = 1;

/// A request rate: `per_second` requests a second on average, and up to
/// `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: u32,
}

impl Rate {
    /// `per_second` requests a second (fractions allowed: `0.5` is one
    /// every two seconds) with bursts of up to `burst`. `None` (no limit)
    /// unless `per_second` is positive and finite and `burst` at least 1.
    pub fn new(per_second: f64, burst: u32) -> Option<Rate> {
        (per_second.is_finite() && per_second > 0.0 && burst >= 1)
            .then_some(Rate { per_second, burst })
    }

    /// Requests per second on average.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// The largest burst.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    fn burst(&self) -> f64 {
        f64::from(self.burst)
    }
}

/// What [`DistrService::with_limits`](crate::DistrService::with_limits)
/// enforces. Everything is off by default.
///
/// - **Per-token rate**: keyed by the access token a request authenticates
///   with (a session token counts for the access token it was issued for).
/// - **Per-address rate**: keyed by the client address, the connection's
///   peer ([`ClientAddr`](crate::ClientAddr)) or, behind [`TrustedProxies`], the address they
///   forward.
/// - **Concurrent uploads per token**: upload requests (`POST`, `PATCH`,
///   `PUT` under `/v2/<name>/blobs/uploads/`) being served at once for one
///   token (for requests without a token, one client address). Requests,
///   not sessions: an open session between chunks takes no place.
/// - **Body idle timeout**: a request body that sends no data for this long
///   is aborted; the request fails (an upload chunk is not stored, its
///   session stays as it was and can be resumed).
///
/// Each rate limiter tracks at most 100 000 clients (see
/// [`with_max_tracked`](Self::with_max_tracked)).
#[derive(Clone, Debug)]
pub struct RequestLimits {
    token_rate: Option<Rate>,
    ip_rate: Option<Rate>,
    uploads_per_token: Option<u32>,
    body_idle_timeout: Option<Duration>,
    proxies: TrustedProxies,
    max_tracked: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            token_rate: None,
            ip_rate: None,
            uploads_per_token: None,
            body_idle_timeout: None,
            proxies: TrustedProxies::none(),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl RequestLimits {
    /// Limits the requests of each access token (`None`: no limit).
    pub fn with_token_rate(mut self, rate: Option<Rate>) -> Self {
        self.token_rate = rate;
        self
    }

    /// Limits the requests of each client address (`None`: no limit).
    pub fn with_ip_rate(mut self, rate: Option<Rate>) -> Self {
        self.ip_rate = rate;
        self
    }

    /// At most `max` upload requests in flight per token (0: no limit).
    pub fn with_max_uploads_per_token(mut self, max: u32) -> Self {
        self.uploads_per_token = (max > 0).then_some(max);
        self
    }

    /// Aborts request bodies that send nothing for `timeout` (`None`:
    /// never).
    pub fn with_body_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.body_idle_timeout = timeout;
        self
    }

    /// Believes `X-Forwarded-For` from these proxies for the client address
    /// (see [`TrustedProxies::client_ip`]).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Tracks at most `n` clients per rate limiter (default 100 000).
    pub fn with_max_tracked(mut self, n: usize) -> Self {
        self.max_tracked = n.max(1);
        self
    }

    /// The body idle timeout.
    pub fn body_idle_timeout(&self) -> Option<Duration> {
        self.body_idle_timeout
    }
}

/// Whose uploads are counted together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Uploader {
    Token(TokenId),
    Address(IpAddr),
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A rate limit: retry after this many seconds.
    Rate(u64),
    /// Too many concurrent uploads.
    Uploads(u64),
}

impl Refusal {
    /// Seconds for `Retry-After`.
    pub(crate) fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::Rate(s) | Refusal::Uploads(s) => s,
        }
    }
}

/// A request let through; holds its upload place while it is served.
#[derive(Debug)]
pub(crate) struct Admission {
    _upload: Option<InFlightGuard<Uploader>>,
}

/// The limiters of one service (shared by its clones).
#[derive(Debug)]
pub(crate) struct Limiter {
    config: RequestLimits,
    tokens: Option<KeyedBuckets<TokenId>>,
    addresses: Option<KeyedBuckets<IpAddr>>,
    uploads: Option<InFlight<Uploader>>,
}

impl Limiter {
    /// The limiters `config` asks for.
    pub(crate) fn new(config: RequestLimits) -> Self {
        Self {
            tokens: config
                .token_rate
                .map(|r| KeyedBuckets::new(r, config.max_tracked)),
            addresses: config
                .ip_rate
                .map(|r| KeyedBuckets::new(r, config.max_tracked)),
            uploads: config.uploads_per_token.map(InFlight::new),
            config,
        }
    }

    /// The body idle timeout.
    pub(crate) fn body_idle_timeout(&self) -> Option<Duration> {
        self.config.body_idle_timeout
    }

    /// Checks the rate of a request's client address (the connection's
    /// `peer`, or behind trusted proxies the address they forward): the
    /// first limit, before the request is authenticated. The client
    /// address, when known.
    pub(crate) fn admit_address(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<IpAddr>, Refusal> {
        let client = peer.map(|p| self.config.proxies.client_ip(p, headers));
        if let (Some(buckets), Some(ip)) = (&self.addresses, client) {
            buckets
                .try_take(&ip, Instant::now())
                .map_err(Refusal::Rate)?;
        }
        Ok(client)
    }

    /// Checks an authenticated request (its method, path, the access
    /// `token` it authenticated with and its `client` address) against the
    /// rate of its token, then its token's (or without one its address's)
    /// concurrent uploads.
    pub(crate) fn admit(
        &self,
        method: &Method,
        path: &str,
        token: Option<TokenId>,
        client: Option<IpAddr>,
    ) -> Result<Admission, Refusal> {
        if let (Some(buckets), Some(id)) = (&self.tokens, token) {
            buckets
                .try_take(&id, Instant::now())
                .map_err(Refusal::Rate)?;
        }
        let uploader = token.map(Uploader::Token).or(client.map(Uploader::Address));
        let upload = match (&self.uploads, uploader) {
            (Some(uploads), Some(who)) if is_upload(method, path) => Some(
                uploads
                    .try_enter(who)
                    .ok_or(Refusal::Uploads(UPLOAD_RETRY_AFTER_SECS))?,
            ),
            _ => None,
        };
        Ok(Admission { _upload: upload })
    }
}

/// True for requests that carry (or start) a blob upload.
fn is_upload(method: &Method, path: &str) -> bool {
    matches!(*method, Method::POST | Method::PATCH | Method::PUT)
        && matches!(
            Route::parse(path),
            Ok(Some(Route::UploadStart(_) | Route::Upload(..)))
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_must_be_positive() {
        assert!(Rate::new(0.0, 10).is_none());
        assert!(Rate::new(-1.0, 10).is_none());
        assert!(Rate::new(f64::NAN, 10).is_none());
        assert!(Rate::new(f64::INFINITY, 10).is_none());
        assert!(Rate::new(1.0, 0).is_none());
        let r = Rate::new(0.5, 3).unwrap();
        assert_eq!((r.per_second(), r.burst_size()), (0.5, 3));
    }

    #[test]
    fn uploads_are_the_upload_routes_that_send_data() {
        assert!(is_upload(&Method::POST, "/v2/acme/app/blobs/uploads/"));
        assert!(is_upload(&Method::PATCH, "/v2/acme/app/blobs/uploads/abc"));
        assert!(is_upload(&Method::PUT, "/v2/acme/app/blobs/uploads/abc"));
        assert!(!is_upload(&Method::GET, "/v2/acme/app/blobs/uploads/abc"));
        assert!(!is_upload(
            &Method::DELETE,
            "/v2/acme/app/blobs/uploads/abc"
        ));
        assert!(!is_upload(&Method::PUT, "/v2/acme/app/manifests/1"));
        assert!(!is_upload(&Method::POST, "/api/v1/artifacts"));
    }
}
