//! The [`MetadataStore`] implementation, delegating to one module per table.

use async_trait::async_trait;
use distr_core::store::{BlobHolder, BlobRecord, ManifestRecord, Page, UploadRecord};
use distr_core::{Digest, MetadataStore, RepoName, StoreResult, TagName};

use crate::{blobs, gc, manifests, refs, repos, tags, uploads, PostgresStore};

#[async_trait]
impl MetadataStore for PostgresStore {
    async fn list_repositories(&self, page: &Page) -> StoreResult<Vec<RepoName>> {
        repos::list(&self.pool, page).await
    }

    async fn delete_repository(&self, repo: &RepoName) -> StoreResult<bool> {
        repos::delete(&self.pool, repo).await
    }

    async fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool> {
        repos::exists(&self.pool, repo).await
    }

    async fn link_blob(&self, repo: &RepoName, blob: &BlobRecord) -> StoreResult<()> {
        blobs::link(self, repo, blob).await
    }

    async fn get_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobRecord>> {
        blobs::get(self, repo, digest).await
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        blobs::unlink(self, repo, digest).await
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tag: Option<&TagName>,
    ) -> StoreResult<()> {
        manifests::put(self, repo, manifest, tag).await
    }

    async fn get_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>> {
        manifests::get(self, repo, digest).await
    }

    async fn resolve_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<Option<Digest>> {
        tags::resolve(self, repo, tag).await
    }

    async fn list_tags(&self, repo: &RepoName, page: &Page) -> StoreResult<Vec<TagName>> {
        tags::list(self, repo, page).await
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<bool> {
        tags::delete(self, repo, tag).await
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        manifests::delete(self, repo, digest).await
    }

    async fn list_tag_targets(&self, repo: &RepoName) -> StoreResult<Vec<(TagName, Digest)>> {
        tags::targets(self, repo).await
    }

    async fn manifest_parents(&self, repo: &RepoName, child: &Digest) -> StoreResult<Vec<Digest>> {
        refs::parents(self, repo, child).await
    }

    async fn manifests_with_blob(
        &self,
        repo: &RepoName,
        blob: &Digest,
    ) -> StoreResult<Vec<Digest>> {
        refs::blob_users(self, repo, blob).await
    }

    async fn list_referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>> {
        manifests::referrers(self, repo, subject).await
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        uploads::create(self, upload).await
    }

    async fn get_upload(&self, repo: &RepoName, id: &str) -> StoreResult<Option<UploadRecord>> {
        uploads::get(self, repo, id).await
    }

    async fn update_upload(&self, upload: &UploadRecord, expected_size: u64) -> StoreResult<()> {
        uploads::update(self, upload, expected_size).await
    }

    async fn delete_upload(&self, repo: &RepoName, id: &str) -> StoreResult<bool> {
        uploads::delete(self, repo, id).await
    }

    async fn blob_holders(&self, digests: &[Digest]) -> StoreResult<Vec<BlobHolder>> {
        gc::holders(self, digests).await
    }

    async fn mark_gc_candidates(&self, digests: &[Digest], at_ms: i64) -> StoreResult<()> {
        gc::mark(self, digests, at_ms).await
    }

    async fn gc_candidates(&self, marked_before_ms: i64) -> StoreResult<Vec<Digest>> {
        gc::candidates(self, marked_before_ms).await
    }

    async fn clear_gc_candidates(&self, digests: &[Digest]) -> StoreResult<()> {
        gc::clear(self, digests).await
    }

    async fn forget_blobs(&self, digests: &[Digest]) -> StoreResult<()> {
        gc::forget(self, digests).await
    }

    async fn list_stale_uploads(&self, created_before_ms: i64) -> StoreResult<Vec<UploadRecord>> {
        gc::stale_uploads(self, created_before_ms).await
    }

    async fn touch_blob(&self, digest: &Digest, at_ms: i64) -> StoreResult<()> {
        gc::touch(self, digest, at_ms).await
    }

    async fn blob_pulls(&self, digests: &[Digest]) -> StoreResult<Vec<(Digest, i64)>> {
        gc::pulls(self, digests).await
    }
}
