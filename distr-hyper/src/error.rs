//! The one place where error kinds become OCI error responses.

use distr_core::Error;
use http::{header, HeaderValue, Response, StatusCode};
use serde_json::json;

use crate::body::{full, ResponseBody};

/// Status, OCI code and optional detail for an error kind.
fn classify(e: &Error) -> (StatusCode, &'static str, serde_json::Value) {
    use Error::*;
    match e {
        NameInvalid(_) => (StatusCode::BAD_REQUEST, "NAME_INVALID", json!(null)),
        NameUnknown => (StatusCode::NOT_FOUND, "NAME_UNKNOWN", json!(null)),
        ManifestUnknown(r) => (
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            json!({ "reference": r }),
        ),
        ManifestInvalid(_) => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID", json!(null)),
        ManifestTooLarge { limit, .. } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "MANIFEST_INVALID",
            json!({ "limit": limit }),
        ),
        ManifestBlobUnknown(d) => (
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            json!({ "digest": d }),
        ),
        BlobUnknown(d) => (
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            json!({ "digest": d }),
        ),
        BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN", json!(null)),
        BlobUploadInvalid(_) | BodyRead(_) => {
            (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID", json!(null))
        }
        ChunkOutOfOrder { current_size } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "RANGE_INVALID",
            json!({ "size": current_size }),
        ),
        DigestInvalid(_) => (StatusCode::BAD_REQUEST, "DIGEST_INVALID", json!(null)),
        SizeInvalid(_) => (StatusCode::BAD_REQUEST, "SIZE_INVALID", json!(null)),
        BlobTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "SIZE_INVALID",
            json!({ "limit": limit }),
        ),
        TagInvalid(_) => (StatusCode::BAD_REQUEST, "TAG_INVALID", json!(null)),
        RangeNotSatisfiable { size } => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            "RANGE_INVALID",
            json!({ "size": size }),
        ),
        PaginationInvalid(_) => (
            StatusCode::BAD_REQUEST,
            "PAGINATION_NUMBER_INVALID",
            json!(null),
        ),
        Unsupported(_) => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", json!(null)),
        Denied(_) => (StatusCode::FORBIDDEN, "DENIED", json!(null)),
        // The product's deletion rules (entitled content, an artifact's last
        // tag): 400 is what the distribution-spec allows a manifest DELETE
        // to answer besides 202, 404 and 405, so registry clients see them as
        // the refusal they are. The management API keeps its own codes.
        DeleteRefused(_) | DeleteConflict(_) => (StatusCode::BAD_REQUEST, "DENIED", json!(null)),
        Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", json!(null)),
        TooManyRequests { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "TOOMANYREQUESTS",
            json!(null),
        ),
        Upstream(e) if e.is_transient() => {
            (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", json!(null))
        }
        Upstream(_) => (StatusCode::BAD_GATEWAY, "UNAVAILABLE", json!(null)),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN", json!(null)),
    }
}

/// Renders an error as `{"errors":[{"code","message","detail"}]}`. Internal
/// errors are logged with their cause and shown to the client only as
/// "internal server error".
pub(crate) fn error_response(e: &Error) -> Response<ResponseBody> {
    let (status, code, detail) = classify(e);
    let message = if let Error::Upstream(cause) = e {
        // The upstream's fault, not ours: a warning, and a message that says
        // so without naming the upstream (customers never see it).
        tracing::warn!(error = %cause, "upstream registry failed");
        if cause.is_transient() {
            "the upstream registry is unavailable; try again later".to_owned()
        } else {
            "the upstream registry failed to serve this content".to_owned()
        }
    } else if e.is_internal() || status.is_server_error() {
        tracing::error!(error = %e, source = ?std::error::Error::source(e), "internal error");
        "internal server error".to_owned()
    } else {
        e.to_string()
    };
    let body = json!({ "errors": [{ "code": code, "message": message, "detail": detail }] });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match e {
        Error::RangeNotSatisfiable { size } => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        Error::Unauthorized => {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"distr\", charset=\"UTF-8\""),
            );
        }
        Error::TooManyRequests { retry_after_secs } => {
            h.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        Error::ChunkOutOfOrder { current_size } => {
            let end = current_size.saturating_sub(1);
            if let Ok(v) = HeaderValue::from_str(&format!("0-{end}")) {
                h.insert(header::RANGE, v);
            }
        }
        _ => {}
    }
    resp
}

/// [`error_response`] with `message` in place of the kind's own, for
/// refusals that know more than their kind says (the request limits).
pub(crate) fn error_response_saying(e: &Error, message: &str) -> Response<ResponseBody> {
    let (_, code, detail) = classify(e);
    let mut resp = error_response(e);
    let body = json!({ "errors": [{ "code": code, "message": message, "detail": detail }] });
    *resp.body_mut() = full(body.to_string());
    resp
}

/// A 404 for a path that is no registry endpoint (code `UNSUPPORTED`).
pub(crate) fn unknown_endpoint(path: &str) -> Response<ResponseBody> {
    let body = json!({ "errors": [{ "code": "UNSUPPORTED", "message": format!("no registry endpoint at {path}"), "detail": null }] });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
