//! Errors of upstream registry operations, by kind.

use crate::digest::Digest;
use crate::error::Error;

/// Result of upstream operations.
pub type UpstreamResult<T> = std::result::Result<T, UpstreamError>;

/// What an upstream did not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The repository itself.
    Repository,
    /// A manifest, by tag or digest.
    Manifest(String),
    /// A blob.
    Blob(Digest),
}

/// The error of an upstream operation, by kind.
///
/// Self-contained: it does not borrow the core [`Error`] kinds, so a cache
/// can tell "the upstream is down" from "the upstream says no". Convert with
/// `Error::from` at the boundary (see the mapping there).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The upstream reference or configuration is malformed.
    #[error("invalid upstream reference: {0}")]
    InvalidReference(String),
    /// The upstream rejected (or demanded) credentials.
    #[error("upstream authentication failed: {0}")]
    Unauthorized(String),
    /// The upstream authenticated us but refused access.
    #[error("upstream denied access: {0}")]
    Denied(String),
    /// The upstream does not have the repository, manifest or blob.
    #[error("not found upstream: {0:?}")]
    NotFound(Missing),
    /// The upstream rate-limits us.
    #[error("upstream rate limit (retry after {retry_after_secs:?} s)")]
    RateLimited {
        /// Seconds from the upstream's `Retry-After`, when given.
        retry_after_secs: Option<u64>,
    },
    /// The requested range is outside the blob.
    #[error("range not satisfiable upstream (blob size {size:?})")]
    RangeNotSatisfiable {
        /// The blob size from `Content-Range: bytes */<size>`, when given.
        size: Option<u64>,
    },
    /// The upstream cannot be reached or failed: connect errors, timeouts, 5xx.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The upstream answered something that violates the protocol.
    #[error("upstream protocol error: {0}")]
    Protocol(String),
    /// The content does not match its digest.
    #[error("upstream content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for (or announced by the upstream).
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// This kind of upstream or authentication is not supported (yet).
    #[error("unsupported upstream feature: {0}")]
    Unsupported(String),
}

impl UpstreamError {
    /// True when retrying later may succeed (the upstream is down or busy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unavailable(_) | UpstreamError::RateLimited { .. }
        )
    }
}

/// Maps upstream kinds onto core kinds: what the client asked for that does
/// not exist keeps its own kind; upstream faults (unavailable, protocol,
/// digest mismatch, our credentials rejected) become [`Error::Upstream`], a
/// 5xx whose cause goes to logs.
impl From<UpstreamError> for Error {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::InvalidReference(m) => Error::NameInvalid(m),
            UpstreamError::NotFound(Missing::Repository) => Error::NameUnknown,
            UpstreamError::NotFound(Missing::Manifest(r)) => Error::ManifestUnknown(r),
            UpstreamError::NotFound(Missing::Blob(d)) => Error::BlobUnknown(d),
            UpstreamError::RateLimited { retry_after_secs } => Error::TooManyRequests {
                retry_after_secs: retry_after_secs.unwrap_or(60),
            },
            UpstreamError::RangeNotSatisfiable { size: Some(size) } => {
                Error::RangeNotSatisfiable { size }
            }
            UpstreamError::Unsupported(m) => Error::Unsupported(m),
            other => Error::Upstream(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_kinds() {
        let d = Digest::sha256(b"x");
        assert!(matches!(
            Error::from(UpstreamError::NotFound(Missing::Blob(d.clone()))),
            Error::BlobUnknown(x) if x == d
        ));
        assert!(matches!(
            Error::from(UpstreamError::NotFound(Missing::Manifest("latest".into()))),
            Error::ManifestUnknown(r) if r == "latest"
        ));
        assert!(matches!(
            Error::from(UpstreamError::NotFound(Missing::Repository)),
            Error::NameUnknown
        ));
        let e = Error::from(UpstreamError::Unavailable("down".into()));
        assert!(e.is_internal());
        let e = Error::from(UpstreamError::Unauthorized("bad creds".into()));
        assert!(
            e.is_internal(),
            "our upstream credentials are not the client's fault"
        );
        assert!(UpstreamError::RateLimited {
            retry_after_secs: None
        }
        .is_transient());
    }
}
