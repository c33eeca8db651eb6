//! Blob bytes on an [`object_store::ObjectStore`].
//!
//! Layout: committed blobs at `blobs/<algorithm>/<hex[..2]>/<hex>`, upload
//! chunks at `uploads/<session-id>/<part-key>`. A blob becomes visible only
//! through an atomic multipart completion after its digest was verified, so a
//! crash or a bad digest never leaves a readable partial blob.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};

use crate::digest::Digest;
use crate::error::{Error, Result};

mod staging;
mod stream_digest;

use stream_digest::StreamDigest;

/// A stream of body bytes, as produced by a transport or read from storage.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Default part size of multipart writes: large enough for S3's 5 MiB minimum.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Multipart parts in flight per write.
const PART_CONCURRENCY: usize = 2;

/// Blob storage: verified writes and ranged reads of content-addressed blobs.
#[derive(Clone)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    part_size: usize,
    /// The directory of a local file store, whose interrupted multipart
    /// writes leave `<name>#<digits>` staging files that no listing returns.
    local_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({})", self.inner)
    }
}

/// What a verified write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Bytes hashed.
    pub size: u64,
    /// True when the content was already stored and nothing new was written.
    pub existed: bool,
}

/// The key [`BlobStore::check`] looks up: never written, outside `blobs/`
/// and `uploads/`.
const READINESS_PROBE: &str = "readiness-probe";

impl BlobStore {
    /// Wraps an object store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            part_size: DEFAULT_PART_SIZE,
            local_root: None,
        }
    }

    /// Declares that `inner` is a local file store rooted at `root`, so that
    /// [`BlobStore::remove_stale_staging`] can find the staging files of
    /// writes a crash interrupted.
    pub fn with_local_root(mut self, root: impl Into<std::path::PathBuf>) -> Self {
        self.local_root = Some(root.into());
        self
    }

    /// Deletes the staging files (`<name>#<digits>`) under `blobs/` and
    /// `uploads/` of a local store last written before `before_ms`: what a
    /// write interrupted by a crash leaves, invisible to every listing.
    /// Returns how many were deleted; `0` for other stores.
    pub async fn remove_stale_staging(&self, before_ms: i64) -> Result<usize> {
        let Some(root) = self.local_root.clone() else {
            return Ok(0);
        };
        tokio::task::spawn_blocking(move || {
            ["blobs", "uploads"]
                .iter()
                .map(|top| staging::sweep(&root.join(top), before_ms))
                .sum()
        })
        .await
        .map_err(|e| {
            Error::Storage(object_store::Error::Generic {
                store: "local staging sweep",
                source: Box::new(e),
            })
        })
    }

    /// Writes blobs in parts of `bytes` (default [`DEFAULT_PART_SIZE`]).
    /// Each write buffers up to about three parts, so smaller parts bound
    /// the memory of concurrent writes; S3 needs at least 5 MiB, local
    /// files accept any size.
    pub fn with_part_size(mut self, bytes: usize) -> Self {
        self.part_size = bytes.max(64 * 1024);
        self
    }

    /// A blob store in memory (tests, ephemeral registries).
    pub fn in_memory() -> Self {
        Self::new(Arc::new(object_store::memory::InMemory::new()))
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn blob_path(digest: &Digest) -> Path {
        let hex = digest.hex();
        Path::from(format!(
            "blobs/{}/{}/{}",
            digest.algorithm().as_str(),
            &hex[..2],
            hex
        ))
    }

    fn part_path(upload_id: &str, key: &str) -> Path {
        Path::from(format!("uploads/{upload_id}/{key}"))
    }

    /// Succeeds when the store answers (readiness probes): a local store's
    /// root is a directory, and looking up an object that does not exist
    /// answers "not found" rather than an error (credentials, network).
    pub async fn check(&self) -> Result<()> {
        if let Some(root) = &self.local_root {
            let is_dir = tokio::fs::metadata(root)
                .await
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir {
                return Err(Error::Storage(object_store::Error::NotFound {
                    path: root.display().to_string(),
                    source: "the blob directory is missing".into(),
                }));
            }
        }
        match self.inner.head(&Path::from(READINESS_PROBE)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Storage(e)),
        }
    }

    /// True when the blob's bytes are stored.
    pub async fn exists(&self, digest: &Digest) -> Result<bool> {
        match self.inner.head(&Self::blob_path(digest)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::Storage(e)),
        }
    }

    /// Reads `range` (or all) of a blob as a stream.
    pub async fn read(&self, digest: &Digest, range: Option<Range<u64>>) -> Result<ByteStream> {
        let opts = GetOptions::new().with_range(range.map(GetRange::Bounded));
        let got = match self.inner.get_opts(&Self::blob_path(digest), opts).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::BlobUnknown(digest.clone()));
            }
            Err(e) => return Err(Error::Storage(e)),
        };
        Ok(into_byte_stream(got))
    }

    /// Stores one upload chunk; returns its size.
    pub async fn write_part(&self, upload_id: &str, key: &str, body: ByteStream) -> Result<u64> {
        let path = Self::part_path(upload_id, key);
        let upload = self
            .inner
            .put_multipart(&path)
            .await
            .map_err(Error::Storage)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut size = 0u64;
        let mut body = body;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(Error::BodyRead(e));
                }
            };
            size += chunk.len() as u64;
            if let Err(e) = writer.wait_for_capacity(PART_CONCURRENCY).await {
                return Err(Error::Storage(e));
            }
            writer.put(chunk);
        }
        writer.finish().await.map_err(Error::Storage)?;
        Ok(size)
    }

    /// Reads a stored upload chunk as a stream.
    pub async fn read_part(&self, upload_id: &str, key: &str) -> Result<ByteStream> {
        let got = self
            .inner
            .get(&Self::part_path(upload_id, key))
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => Error::BlobUploadUnknown,
                e => Error::Storage(e),
            })?;
        Ok(into_byte_stream(got))
    }

    /// Deletes an upload chunk (missing chunks are fine).
    pub async fn delete_part(&self, upload_id: &str, key: &str) -> Result<()> {
        match self.inner.delete(&Self::part_path(upload_id, key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Storage(e)),
        }
    }

    /// Streams `sources` in order through a hash of `expected`'s algorithm and,
    /// unless the blob is already stored, into the blob's location. The blob
    /// is committed only when the hash equals `expected` (and, if given, the
    /// size equals `expected_size`); otherwise nothing becomes visible and
    /// [`Error::DigestInvalid`] (or [`Error::SizeInvalid`]) is returned.
    pub async fn write_verified(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
        sources: Vec<ByteStream>,
    ) -> Result<Written> {
        let existed = self.exists(expected).await?;
        let mut digester = StreamDigest::new(expected.algorithm(), expected_size);
        let mut size = 0u64;
        let mut writer = if existed {
            None
        } else {
            let upload = self
                .inner
                .put_multipart(&Self::blob_path(expected))
                .await
                .map_err(Error::Storage)?;
            Some(WriteMultipart::new_with_chunk_size(upload, self.part_size))
        };
        let outcome: Result<()> = async {
            for mut source in sources {
                while let Some(chunk) = source.next().await {
                    let chunk = chunk.map_err(Error::BodyRead)?;
                    digester.update(&chunk).await;
                    size += chunk.len() as u64;
                    if let Some(w) = writer.as_mut() {
                        w.wait_for_capacity(PART_CONCURRENCY)
                            .await
                            .map_err(Error::Storage)?;
                        w.put(chunk);
                    }
                }
            }
            let actual = digester.finish().await.ok_or_else(|| {
                Error::Storage(object_store::Error::Generic {
                    store: "blob hashing",
                    source: "the hashing thread stopped".into(),
                })
            })?;
            if &actual != expected {
                return Err(Error::DigestInvalid(format!(
                    "content has digest {actual}, not the declared {expected}"
                )));
            }
            if let Some(want) = expected_size {
                if want != size {
                    return Err(Error::SizeInvalid(format!(
                        "content has {size} bytes, not the declared {want}"
                    )));
                }
            }
            Ok(())
        }
        .await;
        match (outcome, writer) {
            (Ok(()), Some(w)) => {
                w.finish().await.map_err(Error::Storage)?;
                Ok(Written { size, existed })
            }
            (Ok(()), None) => Ok(Written { size, existed }),
            (Err(e), Some(w)) => {
                if let Err(abort) = w.abort().await {
                    tracing::warn!(error = %abort, digest = %expected, "aborting a rejected blob write failed");
                }
                Err(e)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Deletes a blob's bytes (missing blobs are fine).
    pub async fn delete(&self, digest: &Digest) -> Result<()> {
        match self.inner.delete(&Self::blob_path(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::Storage(e)),
        }
    }
}

/// A committed blob found by [`BlobStore::list_blobs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its digest (from its location).
    pub digest: Digest,
    /// Bytes stored.
    pub size: u64,
    /// When the object was last written, in ms since the Unix epoch.
    pub last_modified_ms: i64,
}

/// An upload chunk found by [`BlobStore::list_upload_parts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPart {
    /// The upload session it belongs to.
    pub upload_id: String,
    /// Its key within the session.
    pub key: String,
    /// When the object was last written, in ms since the Unix epoch.
    pub last_modified_ms: i64,
}

impl BlobStore {
    /// Every committed blob, in no particular order. Objects under `blobs/`
    /// whose location is not a digest are skipped (and logged).
    pub async fn list_blobs(&self) -> Result<Vec<StoredBlob>> {
        let mut listed = self.inner.list(Some(&Path::from("blobs")));
        let mut found = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(Error::Storage)?;
            let parts: Vec<&str> = meta.location.as_ref().split('/').collect();
            let digest = match parts.as_slice() {
                ["blobs", alg, _, hex] => format!("{alg}:{hex}").parse::<Digest>().ok(),
                _ => None,
            };
            match digest {
                Some(digest) => found.push(StoredBlob {
                    digest,
                    size: meta.size,
                    last_modified_ms: meta.last_modified.timestamp_millis(),
                }),
                None => {
                    tracing::warn!(location = %meta.location, "skipping a stray object in blob storage")
                }
            }
        }
        Ok(found)
    }

    /// Every stored upload chunk, in no particular order.
    pub async fn list_upload_parts(&self) -> Result<Vec<StoredPart>> {
        let mut listed = self.inner.list(Some(&Path::from("uploads")));
        let mut found = Vec::new();
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(Error::Storage)?;
            let location = meta.location.as_ref();
            let Some((upload_id, key)) = location
                .strip_prefix("uploads/")
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            found.push(StoredPart {
                upload_id: upload_id.to_owned(),
                key: key.to_owned(),
                last_modified_ms: meta.last_modified.timestamp_millis(),
            });
        }
        Ok(found)
    }
}

/// Read size for blobs served from local files.
const FILE_READ_SIZE: usize = 1024 * 1024;

/// The bytes of a get result. Local files are read in [`FILE_READ_SIZE`]
/// pieces: `object_store`'s own file stream reads 8 KiB per blocking-pool hop,
/// which caps a download at a fraction of the disk's speed.
fn into_byte_stream(got: object_store::GetResult) -> ByteStream {
    match got.payload {
        GetResultPayload::File(file, _) => file_stream(file, got.range),
        GetResultPayload::Stream(_) => got.into_stream().map_err(std::io::Error::other).boxed(),
    }
}

/// Pieces of a local file read ahead of the one being sent: reading the
/// next overlaps with sending the current one.
const FILE_READ_AHEAD: usize = 2;

/// Streams `range` of `file` in [`FILE_READ_SIZE`] pieces, each read on the
/// blocking pool straight into the buffer that is sent (`tokio::fs::File`
/// would read into its own buffer and copy, a third pass over every byte).
fn file_stream(file: std::fs::File, range: Range<u64>) -> ByteStream {
    let file = Arc::new(file);
    let end = range.end;
    futures::stream::iter((range.start..end).step_by(FILE_READ_SIZE))
        .map(move |pos| {
            let file = Arc::clone(&file);
            let len = (end - pos).min(FILE_READ_SIZE as u64) as usize;
            async move {
                tokio::task::spawn_blocking(move || read_piece(&file, pos, len))
                    .await
                    .map_err(std::io::Error::other)?
            }
        })
        .buffered(FILE_READ_AHEAD)
        .boxed()
}

/// `len` bytes of `file` at `pos` (a positional read: pieces are read
/// concurrently); a file shorter than that is an error.
fn read_piece(file: &std::fs::File, pos: u64, len: usize) -> std::io::Result<Bytes> {
    // Zeroed by the allocator (fresh pages come zeroed from the kernel).
    let mut buf = vec![0u8; len];
    read_exact_at(file, &mut buf, pos)?;
    Ok(Bytes::from(buf))
}

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
}

#[cfg(windows)]
fn read_exact_at(file: &std::fs::File, mut buf: &mut [u8], mut pos: u64) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, pos)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

/// A [`ByteStream`] of one in-memory buffer.
pub fn once(bytes: Bytes) -> ByteStream {
    futures::stream::once(async move { Ok(bytes) }).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let owned: Vec<std::io::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(owned).boxed()
    }

    async fn read_all(s: ByteStream) -> Vec<u8> {
        let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
        chunks.concat()
    }

    #[tokio::test]
    async fn the_check_fails_once_a_local_root_is_gone() {
        assert!(BlobStore::in_memory().check().await.is_ok());
        let dir = std::env::temp_dir().join(format!("distr-check-{}", uuid::Uuid::new_v4()));
        let (root, moved) = (dir.join("data"), dir.join("moved"));
        std::fs::create_dir_all(&root).unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&root).unwrap();
        let store = BlobStore::new(Arc::new(fs)).with_local_root(&root);
        store.check().await.unwrap();
        std::fs::rename(&root, &moved).unwrap();
        let e = store.check().await.unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        std::fs::rename(&moved, &root).unwrap();
        store.check().await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn verified_write_commits_only_matching_content() {
        let store = BlobStore::in_memory();
        let d = Digest::sha256(b"hello world");
        let bad = store
            .write_verified(&d, None, vec![chunks(&[b"hello", b" moon"])])
            .await;
        assert!(matches!(bad, Err(Error::DigestInvalid(_))));
        assert!(!store.exists(&d).await.unwrap());
        let ok = store
            .write_verified(
                &d,
                Some(11),
                vec![chunks(&[b"hello"]), chunks(&[b" world"])],
            )
            .await
            .unwrap();
        assert_eq!(
            ok,
            Written {
                size: 11,
                existed: false
            }
        );
        assert_eq!(
            read_all(store.read(&d, None).await.unwrap()).await,
            b"hello world"
        );
        assert_eq!(
            read_all(store.read(&d, Some(6..11)).await.unwrap()).await,
            b"world"
        );
        let again = store
            .write_verified(&d, None, vec![chunks(&[b"hello world"])])
            .await
            .unwrap();
        assert!(again.existed);
    }

    #[tokio::test]
    async fn size_mismatch_and_broken_body_leave_nothing() {
        let store = BlobStore::in_memory();
        let d = Digest::sha256(b"abc");
        assert!(matches!(
            store
                .write_verified(&d, Some(4), vec![chunks(&[b"abc"])])
                .await,
            Err(Error::SizeInvalid(_))
        ));
        let broken: ByteStream = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "gone",
            )),
        ])
        .boxed();
        assert!(matches!(
            store.write_verified(&d, None, vec![broken]).await,
            Err(Error::BodyRead(_))
        ));
        assert!(!store.exists(&d).await.unwrap());
        assert!(matches!(
            store.read(&d, None).await,
            Err(Error::BlobUnknown(_))
        ));
    }

    #[tokio::test]
    async fn local_files_are_read_whole_and_by_range() {
        let dir = std::env::temp_dir().join(format!("distr-blob-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir).unwrap();
        let store = BlobStore::new(Arc::new(fs));
        let data: Vec<u8> = (0..3 * FILE_READ_SIZE + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        let d = Digest::sha256(&data);
        let body: ByteStream = futures::stream::iter(
            data.chunks(100_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        )
        .boxed();
        store
            .write_verified(&d, Some(data.len() as u64), vec![body])
            .await
            .unwrap();
        assert_eq!(read_all(store.read(&d, None).await.unwrap()).await, data);
        let r = FILE_READ_SIZE as u64 - 5..2 * FILE_READ_SIZE as u64 + 7;
        assert_eq!(
            read_all(store.read(&d, Some(r.clone())).await.unwrap()).await,
            &data[r.start as usize..r.end as usize]
        );
        let tail = data.len() as u64 - 3..data.len() as u64;
        assert_eq!(
            read_all(store.read(&d, Some(tail)).await.unwrap()).await,
            &data[data.len() - 3..]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn empty_blob() {
        let store = BlobStore::in_memory();
        let d = Digest::sha256(b"");
        store
            .write_verified(&d, Some(0), vec![chunks(&[])])
            .await
            .unwrap();
        assert!(read_all(store.read(&d, None).await.unwrap())
            .await
            .is_empty());
    }
}
