//! Upstream responses: non-success statuses as [`UpstreamError`]s (the one
//! place they are mapped), headers, and the small bodies read whole.

use bytes::{Bytes, BytesMut};
use distr_core::upstream::{Missing, UpstreamError, UpstreamResult};
use distr_core::{ByteStream, Digest};
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Response, StatusCode};
use hyper::body::Incoming;

use super::stream::idle_timeout_stream;
use super::{DOCKER_CONTENT_DIGEST, ERROR_BODY_IDLE, MAX_SMALL_BODY};
use crate::body::into_stream;

pub(super) fn unavailable(what: &str, e: &dyn std::error::Error) -> UpstreamError {
    if answered_tls_in_plain_http(e) {
        tracing::info!(error = %e, "{what}: the upstream answered TLS in plain HTTP");
        return UpstreamError::PlainHttp;
    }
    let mut msg = format!("{what}: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    UpstreamError::Unavailable(msg)
}

/// True when a TLS handshake failed because the peer answered in plain
/// text (its first byte is no TLS record type: an HTTP server).
fn answered_tls_in_plain_http(e: &dyn std::error::Error) -> bool {
    let plain = |err: &(dyn std::error::Error + 'static)| {
        matches!(
            err.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidMessage(
                rustls::InvalidMessage::InvalidContentType
            ))
        )
    };
    let mut current: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(err) = current {
        // `io::Error` hides the error it wraps from `source()`.
        let wrapped = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        // A boxed error hides its type from `downcast_ref`: rustls's own
        // text for the error (the test against a plain-HTTP registry pins it).
        let text = err
            .to_string()
            .contains("corrupt message of type InvalidContentType");
        if plain(err) || wrapped.is_some_and(plain) || text {
            return true;
        }
        current = err.source();
    }
    false
}

pub(super) fn header_str(
    headers: &HeaderMap,
    name: impl http::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of a `Content-Type` value (parameters dropped).
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let ct = header_str(headers, CONTENT_TYPE)?;
    let mt = ct.split(';').next().unwrap_or("").trim();
    (!mt.is_empty()).then(|| mt.to_owned())
}

pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, CONTENT_LENGTH)?.trim().parse().ok()
}

/// Reads at most `limit` bytes of a body; `None` when it is longer.
pub(super) async fn read_body(mut stream: ByteStream, limit: u64) -> UpstreamResult<Option<Bytes>> {
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
pub(super) fn error_code(body: &[u8]) -> Option<(String, String)> {
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
pub(super) async fn status_error(resp: Response<Incoming>, missing: Missing) -> UpstreamError {
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

pub(super) fn announced_digest(headers: &HeaderMap) -> UpstreamResult<Option<Digest>> {
    header_str(headers, DOCKER_CONTENT_DIGEST)
        .map(|d| {
            d.trim().parse::<Digest>().map_err(|_| {
                UpstreamError::Protocol(format!("invalid Docker-Content-Digest {d:?}"))
            })
        })
        .transpose()
}

/// `Content-Range: bytes <first>-<last>/<total|*>`.
pub(super) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 1-2/5"), Some((1, 2, Some(5))));
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, 9, None)));
        assert_eq!(parse_content_range("bytes */5"), None);
    }
}
