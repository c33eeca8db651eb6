//! Records kept by a [`super::MetadataStore`].

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::digest::Digest;

/// A blob known to a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRecord {
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A stored manifest: its exact bytes plus what was parsed from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRecord {
    /// Digest of `content`.
    pub digest: Digest,
    /// Media type (served as `Content-Type`).
    pub media_type: String,
    /// The manifest exactly as pushed.
    pub content: Bytes,
    /// Subject digest, for the referrers API.
    pub subject: Option<Digest>,
    /// Artifact type, for the referrers API.
    pub artifact_type: Option<String>,
    /// Top-level annotations, for the referrers API.
    pub annotations: BTreeMap<String, String>,
    /// Blobs the manifest references (config and layers).
    pub blobs: Vec<Digest>,
    /// Child manifests (for an index).
    pub children: Vec<Digest>,
    /// When it was first stored, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl ManifestRecord {
    /// Size of the content in bytes.
    pub fn size(&self) -> u64 {
        self.content.len() as u64
    }
}

/// One stored chunk of an upload session.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UploadPart {
    /// Object key of the chunk under the upload's folder.
    pub key: String,
    /// Bytes in the chunk.
    pub size: u64,
}

/// A chunked upload session in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadRecord {
    /// Session id (a UUID).
    pub id: String,
    /// Repository being uploaded to.
    pub repo: crate::RepoName,
    /// Chunks received so far, in order.
    pub parts: Vec<UploadPart>,
    /// When the session started, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl UploadRecord {
    /// Total bytes received.
    pub fn size(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |acc, p| acc.saturating_add(p.size))
    }
}

/// A repository holding a blob, as found by
/// [`MetadataStore::blob_holders`](super::MetadataStore::blob_holders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobHolder {
    /// The blob.
    pub digest: Digest,
    /// The repository.
    pub repo: crate::RepoName,
    /// The repository links the blob.
    pub linked: bool,
    /// A manifest stored in the repository lists the blob (as config or
    /// layer) or has its digest.
    pub referenced: bool,
}

/// A page request: items strictly after `last`, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Exclusive lower bound.
    pub last: Option<String>,
    /// Maximum number of items; `None` means all.
    pub limit: Option<usize>,
}
