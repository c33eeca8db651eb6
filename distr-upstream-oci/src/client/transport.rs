//! One request to the upstream: redirects (never from https to http, no
//! `Authorization` to another host), the response timeout and retries per
//! the [`RetryPolicy`].

use std::time::Duration;

use distr_core::upstream::{UpstreamError, UpstreamResult};
use distr_core::ByteStream;
use http::header::{ACCEPT, AUTHORIZATION, LOCATION, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::Connect;

use super::response::{header_str, unavailable};
use super::stream::idle_timeout_stream;
use super::{OciUpstream, MANIFEST_ACCEPT, MAX_REDIRECTS};
use crate::body::into_stream;
use crate::retry::{classify_status, jitter, Failure};

impl<C> OciUpstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// Sends one request, following redirects, retrying it per the
    /// [`RetryPolicy`] while no response body has been read: the last
    /// attempt's response (whatever its status) or error is returned.
    pub(super) async fn execute(
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
    pub(super) async fn execute_once(
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

    /// A response body as a stream with the idle timeout.
    pub(super) fn body(&self, resp: Response<Incoming>) -> ByteStream {
        idle_timeout_stream(into_stream(resp.into_body()), self.body_idle_timeout)
    }

    pub(super) fn manifest_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        h
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
