//! How upstream failures surface to clients of the cache.

use crate::error::Error;
use crate::upstream::{Missing, UpstreamError};

/// Maps an upstream error to the kind a client sees. What the upstream
/// authoritatively does not have keeps its own kind (404); a rate limit
/// stays a 429; everything else, including a missing upstream repository
/// (a misconfigured mirror), is an [`Error::Upstream`] fault (502/503),
/// never a 404.
pub(super) fn from_upstream(e: UpstreamError) -> Error {
    match e {
        UpstreamError::NotFound(Missing::Manifest(r)) => Error::ManifestUnknown(r),
        UpstreamError::NotFound(Missing::Blob(d)) => Error::BlobUnknown(d),
        UpstreamError::RateLimited { retry_after_secs } => Error::TooManyRequests {
            retry_after_secs: retry_after_secs.unwrap_or(60),
        },
        UpstreamError::RangeNotSatisfiable { size: Some(size) } => {
            Error::RangeNotSatisfiable { size }
        }
        other => Error::Upstream(other),
    }
}

/// Content the upstream served that distr cannot store (an invalid or
/// oversized manifest, a digest mismatch) is the upstream's fault, not the
/// client's: it becomes an [`Error::Upstream`] protocol error.
pub(super) fn bad_upstream_content(e: Error) -> Error {
    match e {
        Error::ManifestInvalid(_)
        | Error::ManifestTooLarge { .. }
        | Error::DigestInvalid(_)
        | Error::SizeInvalid(_) => Error::Upstream(UpstreamError::Protocol(e.to_string())),
        other => other,
    }
}

/// An [`Error::Upstream`] protocol error.
pub(super) fn protocol(message: impl Into<String>) -> Error {
    Error::Upstream(UpstreamError::Protocol(message.into()))
}
