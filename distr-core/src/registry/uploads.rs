//! Blob uploads: monolithic, chunked, and cross-repository mounts.

use std::ops::Range;

use futures::{StreamExt, TryStreamExt};

use super::size_limit::{capped, SizeLimit};

use super::{now_ms, Registry};
use crate::blob::ByteStream;
use crate::digest::Digest;
use crate::error::{Error, Result, StoreError};
use crate::name::RepoName;
use crate::store::{BlobRecord, UploadPart, UploadRecord};

impl Registry {
    /// Opens an upload session in `repo`.
    pub async fn start_upload(&self, repo: &RepoName) -> Result<UploadRecord> {
        let upload = UploadRecord {
            id: uuid::Uuid::new_v4().to_string(),
            repo: repo.clone(),
            parts: Vec::new(),
            created_at_ms: now_ms(),
        };
        self.store.create_upload(&upload).await?;
        Ok(upload)
    }

    /// Uploads a whole blob in one request, verified against `digest`.
    pub async fn upload_monolithic(
        &self,
        repo: &RepoName,
        digest: &Digest,
        declared_size: Option<u64>,
        body: ByteStream,
    ) -> Result<BlobRecord> {
        let limit = SizeLimit::new(self.config.max_blob_size, 0);
        limit.check_declared(declared_size)?;
        let (body, wire) = capped(body, limit);
        let written = self
            .blobs
            .write_verified(digest, declared_size, vec![body])
            .await
            .map_err(|e| wire.explain(e))?;
        let blob = BlobRecord {
            digest: digest.clone(),
            size: written.size,
        };
        self.store.link_blob(repo, &blob).await?;
        Ok(blob)
    }

    /// Links a blob that `from` holds into `repo`. `None` when `from` does not
    /// hold it (the caller then opens an ordinary upload session).
    pub async fn mount_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        from: &RepoName,
    ) -> Result<Option<BlobRecord>> {
        let Some(blob) = self.store.get_blob(from, digest).await? else {
            return Ok(None);
        };
        if !self.blobs.exists(digest).await? {
            return Ok(None);
        }
        self.store.link_blob(repo, &blob).await?;
        Ok(Some(blob))
    }

    /// The upload session `id` of `repo`.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadRecord> {
        self.store
            .get_upload(repo, id)
            .await?
            .ok_or(Error::BlobUploadUnknown)
    }

    /// Appends a chunk to an upload session. `range` is the chunk's declared
    /// `Content-Range`; it must start where the upload currently ends.
    pub async fn append_chunk(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<Range<u64>>,
        body: ByteStream,
    ) -> Result<UploadRecord> {
        self.append_chunk_sized(repo, id, range, None, body).await
    }

    /// [`append_chunk`](Self::append_chunk) with the chunk's declared length
    /// (`Content-Length`), so a chunk that would take the upload past
    /// [`max_blob_size`](crate::RegistryConfig::max_blob_size) is refused
    /// with [`Error::BlobTooLarge`] before any of it is read. Without a
    /// declared length the limit is enforced while the chunk streams; a
    /// refused chunk leaves the session as it was.
    pub async fn append_chunk_sized(
        &self,
        repo: &RepoName,
        id: &str,
        range: Option<Range<u64>>,
        declared_len: Option<u64>,
        body: ByteStream,
    ) -> Result<UploadRecord> {
        let mut upload = self.upload_status(repo, id).await?;
        let current = upload.size();
        if let Some(r) = &range {
            if r.start != current {
                return Err(Error::ChunkOutOfOrder {
                    current_size: current,
                });
            }
        }
        let limit = SizeLimit::new(self.config.max_blob_size, current);
        limit.check_declared(range.as_ref().map(|r| r.end - r.start))?;
        limit.check_declared(declared_len)?;
        let key = uuid::Uuid::new_v4().simple().to_string();
        let (body, wire) = capped(body, limit);
        let size = self
            .blobs
            .write_part(id, &key, body)
            .await
            .map_err(|e| wire.explain(e))?;
        if let Some(r) = &range {
            if r.end - r.start != size {
                self.blobs.delete_part(id, &key).await?;
                return Err(Error::BlobUploadInvalid(format!(
                    "Content-Range declares {} bytes but the chunk has {size}",
                    r.end - r.start
                )));
            }
        }
        if size == 0 {
            self.blobs.delete_part(id, &key).await?;
            return Ok(upload);
        }
        upload.parts.push(UploadPart {
            key: key.clone(),
            size,
        });
        match self.store.update_upload(&upload, current).await {
            Ok(()) => Ok(upload),
            Err(StoreError::Conflict(_)) => {
                // Another chunk landed first (or the session ended): this one is out of order.
                self.blobs.delete_part(id, &key).await?;
                match self.store.get_upload(repo, id).await? {
                    Some(now) => Err(Error::ChunkOutOfOrder {
                        current_size: now.size(),
                    }),
                    None => Err(Error::BlobUploadUnknown),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Completes an upload: the stored chunks plus an optional final chunk
    /// must hash to `digest`. On success the blob is linked into `repo` and
    /// the session is removed; on a digest mismatch nothing is stored and the
    /// session stays open.
    pub async fn finish_upload(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<Range<u64>>,
        last_chunk: Option<ByteStream>,
    ) -> Result<BlobRecord> {
        self.finish_upload_sized(repo, id, digest, range, None, last_chunk)
            .await
    }

    /// [`finish_upload`](Self::finish_upload) with the last chunk's declared
    /// length (`Content-Length`), checked against
    /// [`max_blob_size`](crate::RegistryConfig::max_blob_size) before any of
    /// it is read (see [`append_chunk_sized`](Self::append_chunk_sized)).
    pub async fn finish_upload_sized(
        &self,
        repo: &RepoName,
        id: &str,
        digest: &Digest,
        range: Option<Range<u64>>,
        declared_len: Option<u64>,
        last_chunk: Option<ByteStream>,
    ) -> Result<BlobRecord> {
        let upload = self.upload_status(repo, id).await?;
        if let Some(r) = &range {
            if r.start != upload.size() {
                return Err(Error::ChunkOutOfOrder {
                    current_size: upload.size(),
                });
            }
        }
        let limit = SizeLimit::new(self.config.max_blob_size, upload.size());
        limit.check_declared(None)?;
        if last_chunk.is_some() {
            limit.check_declared(range.as_ref().map(|r| r.end - r.start))?;
            limit.check_declared(declared_len)?;
        }
        let blobs = self.blobs.clone();
        let upload_id = upload.id.clone();
        let stored: ByteStream = futures::stream::iter(upload.parts.clone())
            .then(move |part| {
                let blobs = blobs.clone();
                let upload_id = upload_id.clone();
                async move {
                    blobs
                        .read_part(&upload_id, &part.key)
                        .await
                        .map_err(std::io::Error::other)
                }
            })
            .try_flatten()
            .boxed();
        let (last_chunk, wire) = match last_chunk {
            Some(chunk) => {
                let (chunk, wire) = capped(chunk, limit);
                (Some(chunk), wire)
            }
            None => (None, Default::default()),
        };
        let mut sources = vec![stored];
        sources.extend(last_chunk);
        let written = self
            .blobs
            .write_verified(digest, None, sources)
            .await
            .map_err(|e| wire.explain(e))?;
        let blob = BlobRecord {
            digest: digest.clone(),
            size: written.size,
        };
        self.store.link_blob(repo, &blob).await?;
        self.discard_upload(&upload).await?;
        Ok(blob)
    }

    /// Cancels an upload session and deletes its chunks.
    pub async fn cancel_upload(&self, repo: &RepoName, id: &str) -> Result<()> {
        let upload = self.upload_status(repo, id).await?;
        self.discard_upload(&upload).await
    }

    async fn discard_upload(&self, upload: &UploadRecord) -> Result<()> {
        self.store.delete_upload(&upload.repo, &upload.id).await?;
        for part in &upload.parts {
            if let Err(e) = self.blobs.delete_part(&upload.id, &part.key).await {
                tracing::warn!(error = %e, upload = %upload.id, "could not delete an upload chunk; garbage collection will");
            }
        }
        Ok(())
    }
}
