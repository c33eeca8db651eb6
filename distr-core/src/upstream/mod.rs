//! Upstream registries for the pull-through cache: the transport-agnostic
//! [`Upstream`] trait, upstream references, credentials and error kinds.
//!
//! Transports implement [`Upstream`] (see `distr_hyper::upstream::OciUpstream`);
//! the cache holds them as [`DynUpstream`] behind an `Arc`.

mod auth;
pub mod egress;
mod error;
mod target;
mod verify;

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use auth::UpstreamAuth;
pub use egress::{normalize_host, split_host_port, EgressDenied, EgressPolicy};
pub use error::{Missing, UpstreamError, UpstreamFailure, UpstreamResult};
pub use target::{UpstreamRef, DOCKER_HUB_REGISTRY};
pub use verify::{upstream_error, verified_stream};

use crate::blob::ByteStream;
use crate::digest::Digest;
use crate::reference::{Reference, TagName};

/// One page of an upstream's tag list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagPage {
    /// The tags of this page, in the upstream's order.
    pub tags: Vec<TagName>,
    /// The `last` parameter of the next page, when the upstream announced one
    /// (`Link: <…?last=…>; rel="next"`).
    pub next: Option<String>,
}

/// What a manifest `HEAD` tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestHead {
    /// The manifest digest.
    pub digest: Digest,
    /// The manifest media type.
    pub media_type: String,
    /// The manifest size in bytes.
    pub size: u64,
}

/// A fetched, digest-verified manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamManifest {
    /// The digest of `content`.
    pub digest: Digest,
    /// The manifest media type.
    pub media_type: String,
    /// The exact bytes served by the upstream.
    pub content: Bytes,
}

/// A blob (or a range of one) being streamed from an upstream.
pub struct UpstreamBlob {
    /// Length of `body` in bytes, when announced.
    pub size: Option<u64>,
    /// Size of the whole blob, when known (equals `size` for whole blobs).
    pub total_size: Option<u64>,
    /// The bytes as the upstream sent them, **not** verified: whoever
    /// consumes them checks the digest (the pull-through fill stores them with
    /// [`crate::blob::BlobStore::write_verified`], which commits only on a
    /// match; other callers can wrap the body in [`verified_stream`]). This
    /// way a blob is hashed once, where it is stored.
    pub body: ByteStream,
}

impl Debug for UpstreamBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBlob")
            .field("size", &self.size)
            .field("total_size", &self.total_size)
            .finish_non_exhaustive()
    }
}

/// Read access to one repository on an upstream registry.
#[async_trait]
pub trait Upstream: Debug + Send + Sync + 'static {
    /// The upstream repository.
    fn target(&self) -> &UpstreamRef;

    /// One page of tags: at most `n` tags after `last` (both optional; the
    /// upstream may ignore `n`).
    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage>;

    /// Digest, media type and size of a manifest; `None` when it does not exist.
    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>>;

    /// A manifest, verified against the requested digest or, when fetched by
    /// tag, against the upstream's `Docker-Content-Digest` if present.
    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest>;

    /// A blob or a byte range of it (`range` is end-exclusive). The body is
    /// not digest-verified (see [`UpstreamBlob::body`]).
    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob>;

    /// Checks that the credentials work and the repository exists.
    async fn check_access(&self) -> UpstreamResult<()>;
}

/// An upstream as a trait object.
pub type DynUpstream = dyn Upstream;

#[async_trait]
impl<T: Upstream + ?Sized> Upstream for Arc<T> {
    fn target(&self) -> &UpstreamRef {
        (**self).target()
    }
    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage> {
        (**self).list_tags(last, n).await
    }
    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        (**self).head_manifest(reference).await
    }
    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        (**self).get_manifest(reference).await
    }
    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        (**self).get_blob(digest, range).await
    }
    async fn check_access(&self) -> UpstreamResult<()> {
        (**self).check_access().await
    }
}

/// Most pages [`UpstreamExt::all_tags`] follows before giving up.
pub const MAX_TAG_PAGES: usize = 10_000;

/// Conveniences over [`Upstream`], implemented once for every upstream.
#[async_trait]
pub trait UpstreamExt: Upstream {
    /// Every tag, following the upstream's pagination with pages of `page_size`.
    async fn all_tags(&self, page_size: Option<u32>) -> UpstreamResult<Vec<TagName>> {
        let mut tags = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..MAX_TAG_PAGES {
            let page = self.list_tags(last.as_deref(), page_size).await?;
            tags.extend(page.tags);
            match page.next {
                Some(next) if last.as_deref() != Some(next.as_str()) => last = Some(next),
                Some(_) => {
                    return Err(UpstreamError::Protocol(
                        "tag pagination does not advance".into(),
                    ));
                }
                None => return Ok(tags),
            }
        }
        Err(UpstreamError::Protocol(format!(
            "more than {MAX_TAG_PAGES} pages of tags"
        )))
    }
}

impl<T: Upstream + ?Sized> UpstreamExt for T {}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_upstream<T: Upstream>() {}

    #[test]
    fn arc_dyn_is_an_upstream() {
        assert_upstream::<Arc<DynUpstream>>();
    }
}
