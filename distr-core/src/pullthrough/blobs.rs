//! Blobs on demand: served from the registry, else (for blobs a stored
//! manifest of the repository references) filled from the upstream.

use std::ops::Range;
use std::sync::Arc;

use super::body::{link_on_end, slice};
use super::errors::{from_upstream, protocol};
use super::handle::PullThrough;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::parse_manifest;
use crate::name::RepoName;
use crate::range::ByteRange;
use crate::registry::BlobRead;
use crate::store::BlobRecord;
use crate::upstream::DynUpstream;

impl PullThrough {
    /// The blob's size: from the registry, else, when `repo` mirrors an
    /// upstream and a manifest stored in `repo` references the blob, from
    /// that manifest's descriptor (no upstream call, so it works while the
    /// upstream is down). Else [`Error::BlobUnknown`].
    pub async fn stat_blob(&self, repo: &RepoName, digest: &Digest) -> Result<BlobRecord> {
        match self.inner.registry.stat_blob(repo, digest).await {
            Err(Error::BlobUnknown(_)) => {}
            other => return other,
        }
        if !self.mirrors(repo).await? {
            return Err(Error::BlobUnknown(digest.clone()));
        }
        match self.referenced_size(repo, digest).await? {
            Some(size) => Ok(BlobRecord {
                digest: digest.clone(),
                size,
            }),
            None => Err(Error::BlobUnknown(digest.clone())),
        }
    }

    /// Reads a blob (or `range` of it): from the registry, else, when `repo`
    /// mirrors an upstream and a manifest stored in `repo` references the
    /// blob, through the cache. Only such blobs are ever fetched.
    ///
    /// A whole blob is served from its fill (one upstream fetch per digest
    /// however many callers; the body ends cleanly only once the blob is
    /// verified and cached, and is then linked to `repo`). A range of an
    /// uncached blob is served from the fill in flight, else forwarded to
    /// the upstream while a whole-blob fill starts in the background; a
    /// forwarded range is never cached.
    ///
    /// Errors: [`Error::BlobUnknown`] for blobs `repo` does not reference;
    /// [`Error::Upstream`] when the upstream is unreachable or failing.
    pub async fn read_blob(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobRead> {
        let read = self.read_blob_inner(repo, digest, range).await;
        if read.is_ok() {
            // Eviction orders cached blobs by their last pull.
            self.inner
                .touches
                .touch_later(digest, crate::registry::now_ms());
        }
        read
    }

    async fn read_blob_inner(
        &self,
        repo: &RepoName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobRead> {
        match self.inner.registry.read_blob(repo, digest, range).await {
            Err(Error::BlobUnknown(_)) => {}
            other => {
                if other.is_ok() {
                    self.inner.stats.blob(true);
                }
                return other;
            }
        }
        let Some(mirror) = self.upstream_for(repo).await? else {
            return Err(Error::BlobUnknown(digest.clone()));
        };
        let Some(size) = self.referenced_size(repo, digest).await? else {
            return Err(Error::BlobUnknown(digest.clone()));
        };
        match range {
            None => self.read_whole(repo, digest, size, mirror.upstream).await,
            Some(r) => {
                let r = r.resolve(size)?;
                self.read_range(repo, digest, size, r, mirror.upstream)
                    .await
            }
        }
    }

    /// The size a manifest stored in `repo` gives the blob, if any does.
    async fn referenced_size(&self, repo: &RepoName, digest: &Digest) -> Result<Option<u64>> {
        let store = self.inner.registry.store();
        for m in store.manifests_with_blob(repo, digest).await? {
            let Some(record) = store.get_manifest(repo, &m).await? else {
                continue;
            };
            let Ok(parsed) = parse_manifest(&record.content, Some(&record.media_type)) else {
                continue;
            };
            if let Some(d) = parsed
                .config
                .iter()
                .chain(&parsed.layers)
                .find(|d| &d.digest == digest)
            {
                return Ok(Some(d.size));
            }
        }
        Ok(None)
    }

    async fn link(&self, repo: &RepoName, digest: &Digest, size: u64) -> Result<()> {
        let blob = BlobRecord {
            digest: digest.clone(),
            size,
        };
        Ok(self.inner.registry.store().link_blob(repo, &blob).await?)
    }

    async fn read_whole(
        &self,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
        upstream: Arc<DynUpstream>,
    ) -> Result<BlobRead> {
        let read = self.inner.filler.read_or_fill(upstream, digest).await?;
        self.inner.stats.blob(read.from_cache);
        if read.from_cache {
            self.link(repo, digest, size).await?;
            return Ok(BlobRead {
                size,
                range: None,
                body: read.body,
            });
        }
        if let Some(announced) = read.size {
            if announced != size {
                return Err(protocol(format!(
                    "upstream announces {announced} bytes for blob {digest}, its manifest {size}"
                )));
            }
        }
        let blob = BlobRecord {
            digest: digest.clone(),
            size,
        };
        let store = Arc::clone(self.inner.registry.store());
        Ok(BlobRead {
            size,
            range: None,
            body: link_on_end(read.body, store, repo.clone(), blob),
        })
    }

    async fn read_range(
        &self,
        repo: &RepoName,
        digest: &Digest,
        size: u64,
        range: Range<u64>,
        upstream: Arc<DynUpstream>,
    ) -> Result<BlobRead> {
        let filler = &self.inner.filler;
        if let Some(read) = filler.join(digest).await {
            let read = read?;
            self.inner.stats.blob(false);
            return Ok(BlobRead {
                size,
                range: Some(range.clone()),
                body: slice(read.body, range),
            });
        }
        if filler.store().exists(digest).await? {
            self.link(repo, digest, size).await?;
            let body = filler.store().read(digest, Some(range.clone())).await?;
            self.inner.stats.blob(true);
            return Ok(BlobRead {
                size,
                range: Some(range),
                body,
            });
        }
        self.fill_in_background(repo, digest, Arc::clone(&upstream));
        let len = range.end - range.start;
        let blob = upstream
            .get_blob(digest, Some(range.clone()))
            .await
            .map_err(from_upstream)?;
        self.inner.stats.blob(false);
        let body = match blob.size {
            None => slice(blob.body, 0..len),
            Some(n) if n == len => slice(blob.body, 0..len),
            // The upstream ignored the range and sent the whole blob.
            Some(n) if n == size => slice(blob.body, range.clone()),
            Some(n) => {
                return Err(protocol(format!(
                    "upstream sent {n} bytes for {len} bytes of blob {digest}"
                )))
            }
        };
        Ok(BlobRead {
            size,
            range: Some(range),
            body,
        })
    }

    /// Starts (or joins) a whole-blob fill that nobody reads, linking the
    /// blob to `repo` once it is cached.
    fn fill_in_background(&self, repo: &RepoName, digest: &Digest, upstream: Arc<DynUpstream>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        let (repo, digest) = (repo.clone(), digest.clone());
        runtime.spawn(async move {
            match this.inner.filler.fill(upstream, &digest).await {
                Ok(size) => {
                    if let Err(e) = this.link(&repo, &digest, size).await {
                        tracing::warn!(%repo, %digest, error = %e, "linking a filled blob failed");
                    }
                }
                Err(e) => {
                    tracing::debug!(%repo, %digest, error = %e, "background blob fill failed");
                }
            }
        });
    }
}
