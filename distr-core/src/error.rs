//! Error kinds of the registry and of metadata stores.
//!
//! Errors are defined by *kind*, not by cause: each variant of [`Error`]
//! corresponds to one OCI error code, and the transport maps kinds to codes and
//! HTTP statuses in exactly one place. Internal details (store and storage
//! failures) are carried as sources for logs and never shown to clients.

use crate::digest::Digest;

/// Result of registry operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Result of metadata store operations.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// The error of a registry operation, by kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The repository name is malformed.
    #[error("invalid repository name: {0}")]
    NameInvalid(String),
    /// The repository does not exist.
    #[error("repository name not known to registry")]
    NameUnknown,
    /// The manifest (by tag or digest) does not exist.
    #[error("manifest unknown: {0}")]
    ManifestUnknown(String),
    /// The manifest is malformed or unsupported.
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    /// The manifest exceeds the configured size limit.
    #[error("manifest of {size} bytes exceeds the limit of {limit} bytes")]
    ManifestTooLarge {
        /// Size of the rejected manifest (or the bytes read before giving up).
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The manifest references a blob or child manifest the repository lacks.
    #[error("manifest references unknown blob {0}")]
    ManifestBlobUnknown(Digest),
    /// The blob does not exist in the repository.
    #[error("blob unknown to registry: {0}")]
    BlobUnknown(Digest),
    /// The upload session does not exist.
    #[error("blob upload unknown to registry")]
    BlobUploadUnknown,
    /// The upload is malformed (bad chunk, broken body, ...).
    #[error("blob upload invalid: {0}")]
    BlobUploadInvalid(String),
    /// A chunk did not start where the upload currently ends.
    #[error("chunk out of order: upload is at offset {current_size}")]
    ChunkOutOfOrder {
        /// The number of bytes the upload session holds so far.
        current_size: u64,
    },
    /// The digest is malformed, unsupported, or does not match the content.
    #[error("digest invalid: {0}")]
    DigestInvalid(String),
    /// The content length does not match what was declared.
    #[error("size invalid: {0}")]
    SizeInvalid(String),
    /// An upload would make a blob larger than the configured limit
    /// ([`crate::RegistryConfig::max_blob_size`]); nothing was stored.
    #[error("blob exceeds the limit of {limit} bytes")]
    BlobTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The tag is malformed.
    #[error("invalid tag: {0}")]
    TagInvalid(String),
    /// A requested byte range cannot be satisfied.
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// Size of the blob.
        size: u64,
    },
    /// The pagination parameters are invalid.
    #[error("pagination invalid: {0}")]
    PaginationInvalid(String),
    /// The operation is not supported (for example pushing to a read-only repository).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller is authenticated but not allowed to do this.
    #[error("{0}")]
    Denied(String),
    /// A delete would take away what an entitlement grants (refused on `/v2`
    /// with 400 `DENIED`).
    #[error("delete refused: {0}")]
    DeleteRefused(String),
    /// A delete would leave an artifact without any tag (refused on `/v2`
    /// with 400 `DENIED`, a status the distribution-spec allows a DELETE).
    #[error("delete conflicts: {0}")]
    DeleteConflict(String),
    /// Too many requests (or failed authentications) from this client.
    #[error("too many requests; retry in {retry_after_secs} s")]
    TooManyRequests {
        /// Seconds until the client may try again.
        retry_after_secs: u64,
    },
    /// The caller is not authenticated.
    #[error("authentication required")]
    Unauthorized,
    /// The request body could not be read (for example the client went away).
    #[error("request body could not be read: {0}")]
    BodyRead(#[source] std::io::Error),
    /// An upstream registry failed or could not be reached (the server's
    /// fault, never the client's: 502 or 503).
    #[error("upstream: {0}")]
    Upstream(#[source] crate::upstream::UpstreamError),
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Store(#[from] StoreError),
    /// The blob storage failed.
    #[error("blob storage: {0}")]
    Storage(#[source] object_store::Error),
}

impl Error {
    /// True when the error is the server's fault rather than the client's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Store(_) | Error::Storage(_) | Error::Upstream(_)
        )
    }
}

/// The error of a metadata store operation, by kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A precondition (compare-and-set) failed because the record changed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The backend failed.
    #[error("backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Backend(Box::new(e))
    }
}
