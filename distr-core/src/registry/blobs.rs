//! Blob reads, existence checks and deletion.

use std::ops::Range;

use super::Registry;
use crate::blob::{once, ByteStream};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::RepoName;
use crate::range::ByteRange;
use crate::store::BlobRecord;

/// A blob (or a range of it) ready to be sent.
pub struct BlobRead {
    /// Full size of the blob.
    pub size: u64,
    /// The range being sent, when a satisfiable `Range` was requested.
    pub range: Option<Range<u64>>,
    /// The bytes.
    pub body: ByteStream,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// The blob's size if `repo` holds it. Manifests are addressable as blobs too.
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<BlobRecord> {
        if let Some(b) = self.store.get_blob(repo, digest).await? {
            return Ok(b);
        }
        match self.store.get_manifest(repo, digest).await? {
            Some(m) => Ok(BlobRecord {
                digest: digest.clone(),
                size: m.size(),
            }),
            None => Err(Error::BlobUnknown(digest.clone())),
        }
    }

    /// Reads a blob of `repo`, or the satisfiable part of `range` of it.
    pub async fn read_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobRead> {
        if let Some(b) = self.store.get_blob(repo, digest).await? {
            let range = range.map(|r| r.resolve(b.size)).transpose()?;
            let body = self.blobs.read(digest, range.clone()).await?;
            return Ok(BlobRead {
                size: b.size,
                range,
                body,
            });
        }
        let Some(m) = self.store.get_manifest(repo, digest).await? else {
            return Err(Error::BlobUnknown(digest.clone()));
        };
        let size = m.size();
        let range = range.map(|r| r.resolve(size)).transpose()?;
        let content = match &range {
            Some(r) => m.content.slice(r.start as usize..r.end as usize),
            None => m.content,
        };
        Ok(BlobRead {
            size,
            range,
            body: once(content),
        })
    }

    /// Removes a blob from `repo`. Its bytes stay until garbage collection,
    /// since other repositories may share them.
    pub async fn delete_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        if self.store.unlink_blob(repo, digest).await? {
            Ok(())
        } else {
            Err(Error::BlobUnknown(digest.clone()))
        }
    }
}
