//! Errors of the management API: `{"error":{"code","message"}}` with stable
//! codes.
//!
//! | code                    | status |
//! |-------------------------|--------|
//! | `bad_request`           | 400    |
//! | `artifact_entitled`     | 400    |
//! | `invalid_filter`        | 400    |
//! | `invalid_cursor`        | 400    |
//! | `unauthorized`          | 401    |
//! | `forbidden`             | 403    |
//! | `not_found`             | 404    |
//! | `analytics_disabled`    | 404    |
//! | `method_not_allowed`    | 405    |
//! | `conflict`              | 409    |
//! | `payload_too_large`     | 413    |
//! | `range_not_satisfiable` | 416    |
//! | `too_many_requests`     | 429    |
//! | `rate_limited`          | 429    |
//! | `internal`              | 500    |
//! | `upstream_failed`       | 502    |
//! | `upstream_unavailable`  | 503    |
//!
//! Core error kinds map to codes in one table ([`classify`]): what a client
//! causes is a 4xx, an upstream's fault a 502/503, and only the server's own
//! failures (metadata store, blob storage) are 500 `internal`. Internal
//! errors are logged with their cause and shown only as "internal server
//! error"; upstream errors are logged and shown without the upstream's words.

use std::fmt;

use distr_core::{Error, StoreError};
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::body::{full, ResponseBody};

/// An error response to be.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400 `bad_request`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 with a more specific code.
    pub(crate) fn bad_request_code(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`.
    pub(crate) fn unauthorized() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid access token is required: Authorization: AccessToken <token>",
        );
        e.headers.push((
            header::WWW_AUTHENTICATE,
            "AccessToken realm=\"distr\"".into(),
        ));
        e
    }

    /// 403 `forbidden`.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found` for a record (`what`: "customer", "token", …).
    pub(crate) fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 404 `analytics_disabled`: the server records no download analytics.
    pub(crate) fn analytics_disabled() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "analytics_disabled",
            "download analytics are not enabled on this server",
        )
    }

    /// 404 `not_found` for a path that is no API endpoint.
    pub(crate) fn no_endpoint(path: &str) -> Self {
        let path: String = path.chars().take(200).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no API endpoint at {path}"),
        )
    }

    /// 405 `method_not_allowed` with the `Allow` header.
    pub(crate) fn method_not_allowed(allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this endpoint supports {allow}"),
        );
        e.headers.push((header::ALLOW, allow));
        e
    }

    /// 409 `conflict`.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 429 `too_many_requests` with `Retry-After`.
    fn too_many_requests(message: String, retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
            .with_retry_after(retry_after_secs)
    }

    /// 429 `rate_limited` with `Retry-After`: a request refused by the
    /// service's request limits.
    pub(crate) fn rate_limited(message: String, retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
            .with_retry_after(retry_after_secs)
    }

    fn with_retry_after(mut self, secs: u64) -> Self {
        self.headers.push((header::RETRY_AFTER, secs.to_string()));
        self
    }

    /// 500 `internal`: logs `cause`, shows the client nothing of it.
    pub(crate) fn internal(cause: impl fmt::Display + fmt::Debug) -> Self {
        tracing::error!(error = %cause, detail = ?cause, "management API internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// True for 404.
    pub(crate) fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }

    /// The JSON response.
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut resp = Response::new(full(body.to_string()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// The status and code of each core error kind: the one table.
pub(crate) fn classify(e: &Error) -> (StatusCode, &'static str) {
    use Error as E;
    match e {
        E::NameInvalid(_)
        | E::ManifestInvalid(_)
        | E::ManifestBlobUnknown(_)
        | E::BlobUploadInvalid(_)
        | E::DigestInvalid(_)
        | E::SizeInvalid(_)
        | E::TagInvalid(_)
        | E::PaginationInvalid(_)
        | E::Unsupported(_)
        | E::BodyRead(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        E::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
        E::Denied(_) => (StatusCode::FORBIDDEN, "forbidden"),
        E::NameUnknown | E::ManifestUnknown(_) | E::BlobUnknown(_) | E::BlobUploadUnknown => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        E::DeleteRefused(_)
        | E::DeleteConflict(_)
        | E::ChunkOutOfOrder { .. }
        | E::Store(StoreError::Conflict(_)) => (StatusCode::CONFLICT, "conflict"),
        E::ManifestTooLarge { .. } | E::BlobTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        }
        E::RangeNotSatisfiable { .. } => {
            (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable")
        }
        E::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        E::Upstream(u) if u.is_transient() => {
            (StatusCode::SERVICE_UNAVAILABLE, "upstream_unavailable")
        }
        E::Upstream(_) => (StatusCode::BAD_GATEWAY, "upstream_failed"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl From<StoreError> for ApiError {
    /// A uniqueness or reference conflict is the client's 409; anything else
    /// is internal.
    fn from(e: StoreError) -> Self {
        Error::Store(e).into()
    }
}

impl From<Error> for ApiError {
    /// By [`classify`]; `Retry-After` and `WWW-Authenticate` where they
    /// belong.
    fn from(e: Error) -> Self {
        match (classify(&e), &e) {
            (_, Error::Unauthorized) => ApiError::unauthorized(),
            (_, Error::TooManyRequests { retry_after_secs }) => {
                ApiError::too_many_requests(e.to_string(), *retry_after_secs)
            }
            ((status, code), Error::Upstream(cause)) => {
                tracing::warn!(error = %cause, "upstream registry failed");
                ApiError::new(
                    status,
                    code,
                    "the upstream registry failed; try again later",
                )
            }
            ((status, _), _) if status.is_server_error() => ApiError::internal(e),
            ((status, code), _) => ApiError::new(status, code, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distr_core::upstream::{Missing, UpstreamError};
    use distr_core::Digest;

    /// One error of every kind, with what the API answers for it.
    fn every_kind() -> Vec<(Error, StatusCode, &'static str)> {
        use Error as E;
        use StatusCode as S;
        let d = Digest::sha256(b"x");
        let io = || std::io::Error::other("gone");
        vec![
            (E::NameInvalid("A".into()), S::BAD_REQUEST, "bad_request"),
            (E::NameUnknown, S::NOT_FOUND, "not_found"),
            (E::ManifestUnknown("1".into()), S::NOT_FOUND, "not_found"),
            (
                E::ManifestInvalid("x".into()),
                S::BAD_REQUEST,
                "bad_request",
            ),
            (
                E::ManifestTooLarge { size: 2, limit: 1 },
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
            (
                E::ManifestBlobUnknown(d.clone()),
                S::BAD_REQUEST,
                "bad_request",
            ),
            (E::BlobUnknown(d), S::NOT_FOUND, "not_found"),
            (E::BlobUploadUnknown, S::NOT_FOUND, "not_found"),
            (
                E::BlobUploadInvalid("x".into()),
                S::BAD_REQUEST,
                "bad_request",
            ),
            (
                E::ChunkOutOfOrder { current_size: 3 },
                S::CONFLICT,
                "conflict",
            ),
            (E::DigestInvalid("x".into()), S::BAD_REQUEST, "bad_request"),
            (E::SizeInvalid("x".into()), S::BAD_REQUEST, "bad_request"),
            (
                E::BlobTooLarge { limit: 1 },
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
            (E::TagInvalid("x".into()), S::BAD_REQUEST, "bad_request"),
            (
                E::RangeNotSatisfiable { size: 1 },
                S::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
            ),
            (
                E::PaginationInvalid("x".into()),
                S::BAD_REQUEST,
                "bad_request",
            ),
            (E::Unsupported("x".into()), S::BAD_REQUEST, "bad_request"),
            (E::Denied("x".into()), S::FORBIDDEN, "forbidden"),
            (E::DeleteRefused("x".into()), S::CONFLICT, "conflict"),
            (E::DeleteConflict("x".into()), S::CONFLICT, "conflict"),
            (
                E::TooManyRequests {
                    retry_after_secs: 5,
                },
                S::TOO_MANY_REQUESTS,
                "too_many_requests",
            ),
            (E::Unauthorized, S::UNAUTHORIZED, "unauthorized"),
            (E::BodyRead(io()), S::BAD_REQUEST, "bad_request"),
            (
                E::Upstream(UpstreamError::Unavailable("down".into())),
                S::SERVICE_UNAVAILABLE,
                "upstream_unavailable",
            ),
            (
                E::Upstream(UpstreamError::NotFound(Missing::Repository)),
                S::BAD_GATEWAY,
                "upstream_failed",
            ),
            (
                E::Store(StoreError::Conflict("taken".into())),
                S::CONFLICT,
                "conflict",
            ),
            (
                E::Store(StoreError::Corrupt("x".into())),
                S::INTERNAL_SERVER_ERROR,
                "internal",
            ),
            (
                E::Store(StoreError::backend(io())),
                S::INTERNAL_SERVER_ERROR,
                "internal",
            ),
        ]
    }

    #[test]
    fn every_kind_has_its_status_and_code() {
        for (e, status, code) in every_kind() {
            let label = format!("{e:?}");
            assert_eq!(classify(&e), (status, code), "{label}");
            let api = ApiError::from(e);
            assert_eq!((api.status, api.code), (status, code), "{label}");
        }
    }

    #[test]
    fn only_the_servers_own_failures_are_500() {
        for (e, status, _) in every_kind() {
            let servers_own = matches!(
                e,
                Error::Storage(_) | Error::Store(StoreError::Corrupt(_) | StoreError::Backend(_))
            );
            assert_eq!(
                status == StatusCode::INTERNAL_SERVER_ERROR,
                servers_own,
                "{e:?}"
            );
        }
    }

    #[test]
    fn internal_and_upstream_causes_are_not_shown() {
        let io = std::io::Error::other("disk /var/secret broke");
        let e = ApiError::from(Error::Store(StoreError::backend(io)));
        assert!(!e.message.contains("secret"), "{}", e.message);
        let e = ApiError::from(Error::Upstream(UpstreamError::Unavailable(
            "ghcr.example said no".into(),
        )));
        assert!(!e.message.contains("ghcr"), "{}", e.message);
        let e = ApiError::from(Error::TooManyRequests {
            retry_after_secs: 7,
        });
        assert!(e.headers.contains(&(header::RETRY_AFTER, "7".into())));
        let e = ApiError::from(Error::Unauthorized);
        assert!(e.headers.iter().any(|(h, _)| h == header::WWW_AUTHENTICATE));
    }
}
