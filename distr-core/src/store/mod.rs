//! The metadata store: repositories, blob links, manifests, tags and upload
//! sessions. Blob *bytes* live in [`crate::BlobStore`], never here.
//!
//! Every backend (in-memory here, SQLite and Postgres in their own crates)
//! implements [`MetadataStore`] and runs the conformance suite in
//! [`crate::testkit`].

mod claims;
pub mod codec;
mod memory;
mod records;

use std::fmt::Debug;

use async_trait::async_trait;

pub use claims::{DynRunClaims, MemoryRunClaims, RunClaims};
pub use memory::MemoryStore;
pub use records::{BlobHolder, BlobRecord, ManifestRecord, Page, UploadPart, UploadRecord};

use crate::digest::Digest;
use crate::error::StoreResult;
use crate::name::RepoName;
use crate::reference::TagName;

/// A shared, type-erased metadata store.
pub type DynMetadataStore = dyn MetadataStore;

/// Persistent registry metadata.
///
/// Implementations must be safe for concurrent use; every method is a single
/// atomic step (a transaction in SQL backends). Listings are in byte-wise
/// lexical order.
#[async_trait]
pub trait MetadataStore: Debug + Send + Sync + 'static {
    /// Lists repositories after `page.last`, at most `page.limit` of them.
    async fn list_repositories(&self, page: &Page) -> StoreResult<Vec<RepoName>>;

    /// Succeeds when the store answers a query (readiness probes): by
    /// default a listing of at most one repository.
    async fn ping(&self) -> StoreResult<()> {
        let first = Page {
            last: None,
            limit: Some(1),
        };
        self.list_repositories(&first).await.map(drop)
    }

    /// True when the repository has any blob, manifest or upload.
    async fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool>;

    /// Removes a repository with its blob links, manifests, tags and upload
    /// sessions. Returns whether it had anything. Blob bytes stay for garbage
    /// collection, since other repositories may share them.
    async fn delete_repository(&self, repo: &RepoName) -> StoreResult<bool>;

    /// Records that `repo` holds `blob` (creating the repository if needed).
    /// Idempotent; re-linking a digest records the latest size.
    async fn link_blob(&self, repo: &RepoName, blob: &BlobRecord) -> StoreResult<()>;

    /// The blob if `repo` holds it.
    async fn get_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobRecord>>;

    /// Removes `repo`'s link to a blob. Returns whether a link existed.
    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;

    /// Stores a manifest in `repo` (creating the repository if needed) and, if
    /// `tag` is given, points the tag at it. When the digest is already
    /// stored, the first record wins (the bytes are identical by definition).
    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tag: Option<&TagName>,
    ) -> StoreResult<()>;

    /// The manifest with `digest` in `repo`.
    async fn get_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>>;

    /// The digest `tag` points at in `repo`.
    async fn resolve_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<Option<Digest>>;

    /// Lists `repo`'s tags after `page.last`, at most `page.limit`.
    async fn list_tags(&self, repo: &RepoName, page: &Page) -> StoreResult<Vec<TagName>>;

    /// Removes a tag (the manifest stays). Returns whether it existed.
    async fn delete_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<bool>;

    /// Removes a manifest and every tag pointing at it. Returns whether it existed.
    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool>;

    /// Every tag of `repo` with the digest it points at, ordered by tag.
    async fn list_tag_targets(&self, repo: &RepoName) -> StoreResult<Vec<(TagName, Digest)>>;

    /// Digests of the manifests (indexes) in `repo` that list `child` among
    /// their child manifests, ordered by digest.
    async fn manifest_parents(&self, repo: &RepoName, child: &Digest) -> StoreResult<Vec<Digest>>;

    /// Digests of the manifests in `repo` that reference `blob` (as config or
    /// layer), ordered by digest.
    async fn manifests_with_blob(&self, repo: &RepoName, blob: &Digest)
        -> StoreResult<Vec<Digest>>;

    /// Manifests in `repo` whose subject is `subject`, ordered by digest.
    async fn list_referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>>;

    /// Creates an upload session.
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()>;

    /// The upload session `id` in `repo`.
    async fn get_upload(&self, repo: &RepoName, id: &str) -> StoreResult<Option<UploadRecord>>;

    /// Replaces an upload session's parts if it still holds `expected_size`
    /// bytes; otherwise fails with [`crate::StoreError::Conflict`] (another
    /// chunk won the race, or the session is gone).
    async fn update_upload(&self, upload: &UploadRecord, expected_size: u64) -> StoreResult<()>;

    /// Removes an upload session. Returns whether it existed.
    async fn delete_upload(&self, repo: &RepoName, id: &str) -> StoreResult<bool>;

    // Garbage collection and cache eviction (see `crate::gc`).

    /// Who holds each of `digests`: one [`BlobHolder`] per repository that
    /// links the blob, stores a manifest listing it (as config or layer),
    /// or stores a manifest with that digest. Ordered by digest then
    /// repository; digests nobody holds are absent.
    async fn blob_holders(&self, digests: &[Digest]) -> StoreResult<Vec<BlobHolder>>;

    /// Records `digests` as garbage-collection candidates marked at
    /// `at_ms`. A digest already marked keeps its earlier mark.
    async fn mark_gc_candidates(&self, digests: &[Digest], at_ms: i64) -> StoreResult<()>;

    /// The candidates marked at or before `marked_before_ms`, ordered by digest.
    async fn gc_candidates(&self, marked_before_ms: i64) -> StoreResult<Vec<Digest>>;

    /// Removes the candidate marks of `digests` (they are referenced again).
    async fn clear_gc_candidates(&self, digests: &[Digest]) -> StoreResult<()>;

    /// Forgets everything kept about `digests` for collection and eviction
    /// (candidate marks and pull times): their bytes were deleted.
    async fn forget_blobs(&self, digests: &[Digest]) -> StoreResult<()>;

    /// Upload sessions (of any repository) created before `created_before_ms`,
    /// ordered by id.
    async fn list_stale_uploads(&self, created_before_ms: i64) -> StoreResult<Vec<UploadRecord>>;

    /// Records that the blob was pulled at `at_ms` (a later time than the
    /// one recorded wins; an earlier one changes nothing).
    async fn touch_blob(&self, digest: &Digest, at_ms: i64) -> StoreResult<()>;

    /// The last recorded pull time of each of `digests` that has one,
    /// ordered by digest.
    async fn blob_pulls(&self, digests: &[Digest]) -> StoreResult<Vec<(Digest, i64)>>;
}
