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
    /// The upstream answered the TLS handshake in plain HTTP: its
    /// configuration wants `insecure`.
    #[error("the upstream speaks plain HTTP, not HTTPS")]
    PlainHttp,
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

/// What a vendor is told about an upstream failure: a category with a fixed
/// sentence, never what the peer sent and never OS error text (which would
/// tell a hostile vendor what listens where). The details go to the
/// server's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The upstream could not be reached or did not answer in time (also a
    /// target the egress policy refuses: indistinguishable on purpose).
    Unreachable,
    /// The upstream refused the configured credentials.
    AuthFailed,
    /// The upstream does not have the repository, manifest or blob.
    NotFound,
    /// The upstream answered something that is not a valid registry answer.
    InvalidResponse,
    /// The upstream configuration itself is invalid or unsupported.
    InvalidConfig,
    /// The upstream speaks plain HTTP where HTTPS was configured.
    PlainHttp,
}

impl UpstreamFailure {
    /// The stable code of the management API (`upstream_unreachable`, …).
    pub const fn code(self) -> &'static str {
        match self {
            UpstreamFailure::Unreachable => "upstream_unreachable",
            UpstreamFailure::AuthFailed => "upstream_auth_failed",
            UpstreamFailure::NotFound => "upstream_not_found",
            UpstreamFailure::InvalidResponse => "upstream_invalid_response",
            UpstreamFailure::InvalidConfig => "invalid_upstream",
            UpstreamFailure::PlainHttp => "upstream_plain_http",
        }
    }

    /// A plain sentence for a person.
    pub fn message(self) -> &'static str {
        match self {
            UpstreamFailure::Unreachable => "the upstream registry could not be reached",
            UpstreamFailure::AuthFailed => {
                "the upstream registry refused the configured credentials"
            }
            UpstreamFailure::NotFound => "the upstream registry does not have this content",
            UpstreamFailure::InvalidResponse => "the upstream registry sent an invalid response",
            UpstreamFailure::InvalidConfig => "the upstream configuration is invalid",
            UpstreamFailure::PlainHttp => {
                "the upstream speaks plain HTTP: set upstream.insecure (allowed for hosts \
                 the operator lists in DISTR_UPSTREAM_ALLOW)"
            }
        }
    }
}

impl UpstreamError {
    /// The category a vendor is shown (see [`UpstreamFailure`]).
    pub fn failure(&self) -> UpstreamFailure {
        match self {
            UpstreamError::Unauthorized(_) | UpstreamError::Denied(_) => {
                UpstreamFailure::AuthFailed
            }
            UpstreamError::NotFound(_) => UpstreamFailure::NotFound,
            UpstreamError::Protocol(_)
            | UpstreamError::DigestMismatch { .. }
            | UpstreamError::RangeNotSatisfiable { .. } => UpstreamFailure::InvalidResponse,
            UpstreamError::InvalidReference(_) | UpstreamError::Unsupported(_) => {
                UpstreamFailure::InvalidConfig
            }
            UpstreamError::PlainHttp => UpstreamFailure::PlainHttp,
            UpstreamError::Unavailable(_) | UpstreamError::RateLimited { .. } => {
                UpstreamFailure::Unreachable
            }
        }
    }
}

impl Error {
    /// This error as a vendor may read it (sync status, sync reports): an
    /// upstream fault as its [`UpstreamFailure`] sentence, anything else as
    /// displayed.
    pub fn vendor_message(&self) -> String {
        match self {
            Error::Upstream(u) => u.failure().message().to_owned(),
            other => other.to_string(),
        }
    }
}

/// The one conversion of upstream errors into core kinds, for every path
/// that serves or syncs upstream content (the pull-through cache uses it
/// too). What the upstream authoritatively does not have keeps its own kind
/// (a 404 for the manifest or blob the client asked for); a rate limit stays
/// a 429 and an unsatisfiable range a 416. Everything else is an
/// [`Error::Upstream`] fault, a 502/503 whose cause goes to logs, never the
/// client's mistake: a missing upstream *repository* (a misconfigured
/// mirror: the client asked for a local name that exists), a malformed or
/// unsupported upstream configuration, our credentials rejected, protocol
/// errors, digest mismatches.
impl From<UpstreamError> for Error {
    fn from(e: UpstreamError) -> Self {
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
            Error::from(UpstreamError::RateLimited {
                retry_after_secs: None
            }),
            Error::TooManyRequests {
                retry_after_secs: 60
            }
        ));
        assert!(matches!(
            Error::from(UpstreamError::RangeNotSatisfiable { size: Some(9) }),
            Error::RangeNotSatisfiable { size: 9 }
        ));
        assert!(UpstreamError::RateLimited {
            retry_after_secs: None
        }
        .is_transient());
    }

    #[test]
    fn vendors_see_categories_not_peer_bytes() {
        let peer = "connect 10.0.0.7:6379: Connection refused (os error 111) +PONG";
        for (e, code) in [
            (
                UpstreamError::Unavailable(peer.into()),
                "upstream_unreachable",
            ),
            (
                UpstreamError::Unauthorized(peer.into()),
                "upstream_auth_failed",
            ),
            (UpstreamError::Denied(peer.into()), "upstream_auth_failed"),
            (
                UpstreamError::NotFound(Missing::Repository),
                "upstream_not_found",
            ),
            (
                UpstreamError::Protocol(peer.into()),
                "upstream_invalid_response",
            ),
        ] {
            assert_eq!(e.failure().code(), code);
            let shown = Error::Upstream(e).vendor_message();
            assert!(
                !shown.contains("10.0.0.7") && !shown.contains("PONG"),
                "{shown}"
            );
        }
        assert_eq!(
            Error::ManifestUnknown("x".into()).vendor_message(),
            Error::ManifestUnknown("x".into()).to_string()
        );
    }

    #[test]
    fn upstream_faults_are_never_the_clients() {
        for e in [
            UpstreamError::NotFound(Missing::Repository),
            UpstreamError::InvalidReference("x".into()),
            UpstreamError::Unsupported("x".into()),
            UpstreamError::Unauthorized("bad creds".into()),
            UpstreamError::Denied("no".into()),
            UpstreamError::Unavailable("down".into()),
            UpstreamError::Protocol("junk".into()),
            UpstreamError::RangeNotSatisfiable { size: None },
        ] {
            let label = format!("{e:?}");
            let e = Error::from(e);
            assert!(matches!(e, Error::Upstream(_)), "{label}: {e:?}");
            assert!(e.is_internal(), "{label}");
        }
    }
}
