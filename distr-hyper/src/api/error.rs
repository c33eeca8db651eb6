//! Errors of the management API: `{"error":{"code","message"}}` with stable
//! codes.
//!
//! | code                 | status |
//! |----------------------|--------|
//! | `bad_request`        | 400    |
//! | `artifact_entitled`  | 400    |
//! | `invalid_filter`     | 400    |
//! | `invalid_cursor`     | 400    |
//! | `unauthorized`       | 401    |
//! | `forbidden`          | 403    |
//! | `not_found`          | 404    |
//! | `analytics_disabled` | 404    |
//! | `method_not_allowed` | 405    |
//! | `conflict`           | 409    |
//! | `payload_too_large`  | 413    |
//! | `too_many_requests`  | 429    |
//! | `internal`           | 500    |
//!
//! Internal errors are logged with their cause and shown only as
//! "internal server error".

use std::fmt;

use distr_core::StoreError;
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
    pub(crate) fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("too many failed authentications; retry in {retry_after_secs} s"),
        );
        e.headers
            .push((header::RETRY_AFTER, retry_after_secs.to_string()));
        e
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

    /// True for 401.
    pub(crate) fn is_unauthorized(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
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

impl From<StoreError> for ApiError {
    /// A uniqueness or reference conflict is the client's 409; anything else
    /// is internal.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::conflict(m),
            e => ApiError::internal(e),
        }
    }
}

impl From<distr_core::Error> for ApiError {
    fn from(e: distr_core::Error) -> Self {
        match e {
            distr_core::Error::Unauthorized => ApiError::unauthorized(),
            distr_core::Error::Store(e) => e.into(),
            e => ApiError::internal(e),
        }
    }
}
