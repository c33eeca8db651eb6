//! Bounded retries of idempotent upstream requests: [`RetryPolicy`].
//!
//! A request is retried only before any byte of its response body was
//! handed to a caller: on a transport error (connect refused or reset, a
//! pooled connection closed under us), a response-header timeout, `408`,
//! `429` or a transient `5xx`. The response of the last attempt (or its
//! error) is what the caller gets, so its status maps to an
//! [`UpstreamError`](distr_core::upstream::UpstreamError) kind as usual.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};

/// How often and how patiently idempotent upstream requests are retried.
///
/// Defaults: at most 3 attempts; backoff 100 ms then 400 ms (×4 per retry,
/// each ±25 % jitter, at most 2 s); a `429`'s `Retry-After` is honoured
/// when it is at most 5 s (a longer one ends the retries at once and is
/// passed on); at most 5 s slept in all. A request therefore fails within
/// `max_attempts × response timeout + max_total_delay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retries).
    pub max_attempts: u32,
    /// Backoff before the first retry.
    pub base_delay: Duration,
    /// Factor the backoff grows by per retry.
    pub multiplier: u32,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Longest `Retry-After` waited for; a longer one stops the retries.
    pub max_retry_after: Duration,
    /// Most time slept between attempts of one request, in all.
    pub max_total_delay: Duration,
    /// Retry after a response-header timeout (each attempt may then take
    /// the whole response timeout).
    pub retry_timeouts: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            multiplier: 4,
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(5),
            max_total_delay: Duration::from_secs(5),
            retry_timeouts: true,
        }
    }
}

/// Why an attempt failed in a way worth another try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No response: connect error, connection closed or reset.
    Transport,
    /// No response headers within the response timeout.
    Timeout,
    /// A `408` or transient `5xx`.
    Status(StatusCode),
    /// A `429`, with its `Retry-After` when given in seconds.
    RateLimited(Option<Duration>),
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Only `GET` and `HEAD` are retried (the client sends nothing else).
    pub(crate) fn retries_method(&self, method: &Method) -> bool {
        *method == Method::GET || *method == Method::HEAD
    }

    /// The nominal backoff before retry number `retry` (1-based), before jitter.
    pub(crate) fn nominal_backoff(&self, retry: u32) -> Duration {
        let factor = self
            .multiplier
            .max(1)
            .checked_pow(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// How long to wait before retry number `retry` (1-based) after
    /// `failure`, having slept `slept` already; `None` to give up. `jitter`
    /// is uniform in `[0, 1)`.
    pub(crate) fn delay(
        &self,
        retry: u32,
        failure: Failure,
        slept: Duration,
        jitter: f64,
    ) -> Option<Duration> {
        if retry >= self.max_attempts {
            return None;
        }
        if failure == Failure::Timeout && !self.retry_timeouts {
            return None;
        }
        let delay = match failure {
            Failure::RateLimited(Some(after)) if after > self.max_retry_after => return None,
            Failure::RateLimited(Some(after)) if !after.is_zero() => after,
            _ => {
                let nominal = self.nominal_backoff(retry);
                nominal.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
            }
        };
        (slept + delay <= self.max_total_delay).then_some(delay)
    }
}

/// What makes a response worth retrying, if anything.
pub(crate) fn classify_status(status: StatusCode, headers: &HeaderMap) -> Option<Failure> {
    match status.as_u16() {
        429 => Some(Failure::RateLimited(retry_after(headers))),
        408 | 500 | 502 | 503 | 504 => Some(Failure::Status(status)),
        // Other 5xx but 501 (Not Implemented) and 505 (HTTP Version Not
        // Supported), which will not change on a retry.
        s if (506..600).contains(&s) => Some(Failure::Status(status)),
        _ => None,
    }
}

/// A `Retry-After` in seconds (an HTTP date counts as absent).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A uniform random number in `[0, 1)` for jitter (no RNG dependency:
/// `RandomState` is randomly keyed per instance).
pub(crate) fn jitter() -> f64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.nominal_backoff(1), Duration::from_millis(100));
        assert_eq!(p.nominal_backoff(2), Duration::from_millis(400));
        assert_eq!(p.nominal_backoff(3), Duration::from_millis(1600));
        assert_eq!(p.nominal_backoff(4), Duration::from_secs(2));
        assert_eq!(p.nominal_backoff(60), Duration::from_secs(2));
        let t = Failure::Transport;
        let z = Duration::ZERO;
        assert_eq!(p.delay(1, t, z, 0.0), Some(Duration::from_millis(75)));
        assert_eq!(p.delay(1, t, z, 0.5), Some(Duration::from_millis(100)));
        let d = p.delay(2, t, z, 0.999_999).unwrap();
        assert!(
            d > Duration::from_millis(499) && d < Duration::from_millis(500),
            "{d:?}"
        );
        assert_eq!(p.delay(3, t, z, 0.5), None, "3 attempts at most");
        assert_eq!(RetryPolicy::none().delay(1, t, z, 0.5), None);
    }

    #[test]
    fn jitter_is_in_range_and_varies() {
        let xs: Vec<f64> = (0..64).map(|_| jitter()).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)), "{xs:?}");
        assert!(xs.windows(2).any(|w| w[0] != w[1]), "{xs:?}");
    }

    #[test]
    fn retry_after_and_budget() {
        let p = RetryPolicy::default();
        let z = Duration::ZERO;
        let ra = |s| Failure::RateLimited(Some(Duration::from_secs(s)));
        assert_eq!(p.delay(1, ra(2), z, 0.5), Some(Duration::from_secs(2)));
        assert_eq!(p.delay(1, ra(6), z, 0.5), None, "over the cap: give up");
        assert_eq!(
            p.delay(2, ra(4), Duration::from_secs(2), 0.5),
            None,
            "over the total budget"
        );
        assert_eq!(
            p.delay(1, ra(0), z, 0.5),
            Some(Duration::from_millis(100)),
            "Retry-After: 0 backs off normally"
        );
        assert_eq!(
            p.delay(1, Failure::RateLimited(None), z, 0.5),
            Some(Duration::from_millis(100))
        );
        let no_timeouts = RetryPolicy {
            retry_timeouts: false,
            ..RetryPolicy::default()
        };
        assert_eq!(no_timeouts.delay(1, Failure::Timeout, z, 0.5), None);
        assert!(p.delay(1, Failure::Timeout, z, 0.5).is_some());
    }

    #[test]
    fn statuses() {
        let mut h = HeaderMap::new();
        for s in [408, 500, 502, 503, 504, 507, 599] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(classify_status(s, &h), Some(Failure::Status(s)));
        }
        for s in [200, 206, 301, 400, 401, 403, 404, 416, 501, 505] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(classify_status(s, &h), None, "{s}");
        }
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &h),
            Some(Failure::RateLimited(None))
        );
        h.insert(http::header::RETRY_AFTER, " 7 ".parse().unwrap());
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, &h),
            Some(Failure::RateLimited(Some(Duration::from_secs(7))))
        );
        h.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
        assert!(RetryPolicy::default().retries_method(&Method::HEAD));
        assert!(!RetryPolicy::default().retries_method(&Method::POST));
    }
}

/// [`OciUpstream`](super::OciUpstream) against a scripted in-process HTTP
/// server: what is retried, how often, and what is not.
#[cfg(test)]
mod client_tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use distr_core::upstream::{Missing, Upstream, UpstreamError};
    use distr_core::{Digest, Reference};
    use futures::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::RetryPolicy;
    use crate::{OciUpstream, OciUpstreamBuilder};

    const MANIFEST: &str =
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;

    /// What the server does with the `n`-th (0-based) request for a path.
    enum Act {
        /// Raw response bytes, then close.
        Raw(String),
        /// Read the request, never answer.
        Hang,
        /// Close without answering.
        Close,
    }

    fn status(code: u16, headers: &[(&str, &str)], body: &str) -> Act {
        let mut s = format!("HTTP/1.1 {code} X\r\nConnection: close\r\n");
        for (k, v) in headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        Act::Raw(s)
    }

    fn manifest_ok() -> Act {
        status(
            200,
            &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
            MANIFEST,
        )
    }

    type Script = dyn Fn(&str, usize) -> Act + Send + Sync;

    struct Fake {
        addr: String,
        counts: Arc<Mutex<HashMap<String, usize>>>,
    }

    impl Fake {
        async fn start(script: impl Fn(&str, usize) -> Act + Send + Sync + 'static) -> Fake {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
            let script: Arc<Script> = Arc::new(script);
            let c = counts.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (c, script) = (c.clone(), script.clone());
                    tokio::spawn(serve(stream, c, script));
                }
            });
            Fake { addr, counts }
        }

        fn count(&self, path: &str) -> usize {
            self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
        }

        fn upstream(&self, timeout: Duration) -> OciUpstream {
            builder(&self.addr, timeout).build().unwrap()
        }
    }

    fn builder(addr: &str, timeout: Duration) -> OciUpstreamBuilder {
        OciUpstreamBuilder::new(format!("{addr}/team/app").parse().unwrap())
            .with_egress_policy(distr_test_support::upstream::loopback_egress())
            .with_insecure(true)
            .with_connect_timeout(Duration::from_secs(2))
            .with_response_timeout(timeout)
    }

    async fn serve(
        mut stream: TcpStream,
        counts: Arc<Mutex<HashMap<String, usize>>>,
        script: Arc<Script>,
    ) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let path = target.split('?').next().unwrap_or("").to_owned();
        let n = {
            let mut c = counts.lock().unwrap();
            let e = c.entry(path.clone()).or_default();
            *e += 1;
            *e - 1
        };
        match script(&path, n) {
            Act::Raw(s) => {
                let _ = stream.write_all(s.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            Act::Hang => {
                // Until the client gives up.
                let _ = stream.read(&mut chunk).await;
            }
            Act::Close => {}
        }
    }

    const M: &str = "/v2/team/app/manifests/v1";

    fn v1() -> Reference {
        "v1".parse().unwrap()
    }

    #[tokio::test]
    async fn transient_statuses_are_retried_then_succeed() {
        let fake = Fake::start(|_, n| {
            if n < 2 {
                status(503, &[], "busy")
            } else {
                manifest_ok()
            }
        })
        .await;
        let up = fake.upstream(Duration::from_secs(5));
        let started = Instant::now();
        let m = up.get_manifest(&v1()).await.unwrap();
        assert_eq!(m.content.as_ref(), MANIFEST.as_bytes());
        assert_eq!(fake.count(M), 3);
        // Backoffs of 100 ms and 400 ms, each at least 75 % of it.
        assert!(
            started.elapsed() >= Duration::from_millis(375),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn persistent_5xx_ends_as_unavailable_after_three_attempts() {
        let fake = Fake::start(|_, _| status(502, &[], "bad gateway")).await;
        let up = fake.upstream(Duration::from_secs(5));
        let started = Instant::now();
        let e = up.get_manifest(&v1()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");
        assert!(e.is_transient());
        assert_eq!(fake.count(M), 3);
        assert!(started.elapsed() < Duration::from_secs(3));

        let no_retry = builder(&fake.addr, Duration::from_secs(5))
            .with_retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        no_retry.get_manifest(&v1()).await.unwrap_err();
        assert_eq!(fake.count(M), 4, "RetryPolicy::none sends once");
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let fake = Fake::start(|path, _| {
            if path.ends_with("/nope") {
                status(404, &[], r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#)
            } else if path.ends_with("/denied") {
                status(403, &[], "")
            } else {
                status(501, &[], "")
            }
        })
        .await;
        let up = fake.upstream(Duration::from_secs(5));
        let e = up.get_manifest(&"nope".parse().unwrap()).await.unwrap_err();
        assert!(
            matches!(e, UpstreamError::NotFound(Missing::Manifest(_))),
            "{e:?}"
        );
        let e = up
            .get_manifest(&"denied".parse().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(e, UpstreamError::Denied(_)), "{e:?}");
        up.get_manifest(&v1()).await.unwrap_err();
        for p in [
            "/v2/team/app/manifests/nope",
            "/v2/team/app/manifests/denied",
            M,
        ] {
            assert_eq!(fake.count(p), 1, "{p}");
        }
    }

    #[tokio::test]
    async fn rate_limits_honour_short_retry_after_and_pass_on_long_ones() {
        let fake = Fake::start(|path, n| {
            if path.ends_with("/long") {
                status(429, &[("Retry-After", "3600")], "")
            } else if n == 0 {
                status(429, &[("Retry-After", "1")], "")
            } else {
                manifest_ok()
            }
        })
        .await;
        let up = fake.upstream(Duration::from_secs(5));
        let started = Instant::now();
        up.get_manifest(&v1()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(fake.count(M), 2);

        let started = Instant::now();
        let e = up.get_manifest(&"long".parse().unwrap()).await.unwrap_err();
        assert!(
            matches!(
                e,
                UpstreamError::RateLimited {
                    retry_after_secs: Some(3600)
                }
            ),
            "{e:?}"
        );
        assert_eq!(fake.count("/v2/team/app/manifests/long"), 1, "no retry");
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn timeouts_and_dropped_connections_are_retried() {
        let fake = Fake::start(|path, n| {
            if path.ends_with("/hang") {
                Act::Hang
            } else if n == 0 {
                Act::Close
            } else {
                manifest_ok()
            }
        })
        .await;
        let up = fake.upstream(Duration::from_millis(300));
        up.get_manifest(&v1()).await.unwrap();
        assert_eq!(fake.count(M), 2, "closed without an answer: retried");

        let started = Instant::now();
        let e = up.get_manifest(&"hang".parse().unwrap()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");
        assert_eq!(fake.count("/v2/team/app/manifests/hang"), 3);
        let took = started.elapsed();
        // 3 × 300 ms + at most 625 ms of backoff.
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_unavailable() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let up = builder(&addr, Duration::from_secs(1)).build().unwrap();
        let started = Instant::now();
        let e = up.get_manifest(&v1()).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");
        // Two backoffs slept: at least 75 + 300 ms.
        assert!(started.elapsed() >= Duration::from_millis(375));
    }

    #[tokio::test]
    async fn bodies_are_never_retried_mid_stream() {
        let fake = Fake::start(|_, _| {
            Act::Raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".into())
        })
        .await;
        let up = fake.upstream(Duration::from_secs(5));
        let d = Digest::sha256(b"whatever");
        let blob = up.get_blob(&d, None).await.unwrap();
        assert_eq!(blob.size, Some(100));
        let mut body = blob.body;
        let mut got = 0;
        let mut failed = false;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => got += c.len(),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed && got <= 10, "got {got} bytes, failed {failed}");
        assert_eq!(fake.count(&format!("/v2/team/app/blobs/{d}")), 1);
    }

    #[tokio::test]
    async fn token_fetches_are_retried() {
        let realm: Arc<Mutex<String>> = Arc::default();
        let r = realm.clone();
        let fake = Fake::start(move |path, n| {
            if path == "/token" {
                if n == 0 {
                    status(503, &[], "")
                } else {
                    status(200, &[], r#"{"token":"t0k"}"#)
                }
            } else if n == 0 {
                let challenge = format!(
                    r#"Bearer realm="http://{}/token",service="x""#,
                    r.lock().unwrap()
                );
                status(401, &[("WWW-Authenticate", &challenge)], "")
            } else {
                manifest_ok()
            }
        })
        .await;
        *realm.lock().unwrap() = fake.addr.clone();
        let up = fake.upstream(Duration::from_secs(5));
        up.get_manifest(&v1()).await.unwrap();
        assert_eq!(fake.count("/token"), 2);
        assert_eq!(fake.count(M), 2);
    }
}
