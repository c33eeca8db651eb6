//! How upstream failures surface to clients of the cache.

use crate::error::Error;
use crate::upstream::UpstreamError;

/// Maps an upstream error to the kind a client sees: the one conversion,
/// `Error::from` (see its mapping in [`crate::upstream`]), named for the
/// `map_err` calls of the cache.
pub(super) fn from_upstream(e: UpstreamError) -> Error {
    Error::from(e)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Missing;
    use crate::Digest;

    /// The cache and every other path convert upstream errors alike (they
    /// once disagreed on a repository missing upstream).
    #[test]
    fn the_cache_converts_like_everyone_else() {
        let d = Digest::sha256(b"x");
        let every_kind = || {
            vec![
                UpstreamError::InvalidReference("x".into()),
                UpstreamError::Unauthorized("x".into()),
                UpstreamError::Denied("x".into()),
                UpstreamError::NotFound(Missing::Repository),
                UpstreamError::NotFound(Missing::Manifest("1".into())),
                UpstreamError::NotFound(Missing::Blob(d.clone())),
                UpstreamError::RateLimited {
                    retry_after_secs: Some(3),
                },
                UpstreamError::RangeNotSatisfiable { size: Some(4) },
                UpstreamError::RangeNotSatisfiable { size: None },
                UpstreamError::Unavailable("x".into()),
                UpstreamError::Protocol("x".into()),
                UpstreamError::DigestMismatch {
                    expected: d.clone(),
                    actual: Digest::sha256(b"y"),
                },
                UpstreamError::Unsupported("x".into()),
            ]
        };
        for (a, b) in every_kind().into_iter().zip(every_kind()) {
            let (cache, other) = (from_upstream(a), Error::from(b));
            assert_eq!(format!("{cache:?}"), format!("{other:?}"));
        }
        assert!(matches!(
            from_upstream(UpstreamError::NotFound(Missing::Repository)),
            Error::Upstream(_)
        ));
    }
}
