//! Manifests on demand: served from the registry, else fetched from the
//! upstream and stored byte-for-byte (an index with its children).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use super::errors::{bad_upstream_content, from_upstream, protocol};
use super::fill::replicate;
use super::handle::PullThrough;
use crate::error::{Error, Result};
use crate::manifest::parse_manifest;
use crate::name::RepoName;
use crate::reference::{Reference, TagName};
use crate::store::ManifestRecord;
use crate::upstream::{DynUpstream, Missing, UpstreamError, UpstreamManifest};

/// Deepest nesting of indexes followed (an index of indexes of images is 2).
pub const MAX_INDEX_DEPTH: usize = 4;

impl PullThrough {
    /// The manifest `reference` names in `repo`: the stored one, else, when
    /// `repo` mirrors an upstream, fetched from the upstream and stored
    /// (under the tag, when by tag; an index's children first).
    ///
    /// By digest the upstream is asked only when `allow_digest` is true
    /// (callers who may see the whole repository). Concurrent misses of the
    /// same reference share one upstream fetch, which a caller going away
    /// does not cancel.
    ///
    /// Errors: [`Error::ManifestUnknown`] when neither has it;
    /// [`Error::Upstream`] when the upstream is unreachable or failing
    /// (never a 404 then).
    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        allow_digest: bool,
    ) -> Result<ManifestRecord> {
        let miss = match self.inner.registry.get_manifest(repo, reference).await {
            Ok(m) => {
                self.inner.stats.manifest(true);
                return Ok(m);
            }
            Err(e @ (Error::ManifestUnknown(_) | Error::NameUnknown)) => e,
            Err(e) => return Err(e),
        };
        if matches!(reference, Reference::Digest(_)) && !allow_digest {
            return Err(miss);
        }
        let Some(mirror) = self.upstream_for(repo).await? else {
            return Err(miss);
        };
        self.inner.stats.manifest(false);
        let this = self.clone();
        let (key_repo, key_ref) = (repo.clone(), reference.clone());
        let (_, outcome) =
            self.inner
                .manifest_flights
                .run((repo.clone(), reference.clone()), move || {
                    async move {
                        this.pull_manifest(&key_repo, &key_ref, mirror.upstream)
                            .await
                    }
                    .boxed()
                });
        outcome.await.map_err(|e| replicate(&e))
    }

    async fn pull_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        upstream: Arc<DynUpstream>,
    ) -> Result<ManifestRecord> {
        let manifest = match upstream.get_manifest(reference).await {
            Ok(m) => m,
            Err(UpstreamError::NotFound(Missing::Manifest(_))) => {
                return Err(Error::ManifestUnknown(format!("{repo}:{reference}")))
            }
            Err(e) => return Err(from_upstream(e)),
        };
        if let Reference::Digest(want) = reference {
            if &manifest.digest != want {
                return Err(protocol(format!(
                    "upstream served manifest {} for {want}",
                    manifest.digest
                )));
            }
        }
        let tag = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => None,
        };
        let fetched = AtomicUsize::new(0);
        self.store_tree(repo, upstream.as_ref(), manifest, tag, 0, &fetched)
            .await
    }

    /// Stores a fetched manifest in `repo` (pointing `tag` at it), after
    /// fetching and storing those of its children `repo` lacks. Children
    /// the upstream does not have are skipped. Counts the manifests stored
    /// (this one included) in `fetched`.
    pub(super) fn store_tree<'a>(
        &'a self,
        repo: &'a RepoName,
        upstream: &'a DynUpstream,
        manifest: UpstreamManifest,
        tag: Option<&'a TagName>,
        depth: usize,
        fetched: &'a AtomicUsize,
    ) -> BoxFuture<'a, Result<ManifestRecord>> {
        async move {
            let parsed = parse_manifest(&manifest.content, Some(&manifest.media_type))
                .map_err(bad_upstream_content)?;
            if !parsed.manifests.is_empty() && depth >= MAX_INDEX_DEPTH {
                return Err(protocol(format!(
                    "indexes nested deeper than {MAX_INDEX_DEPTH} levels at {}",
                    manifest.digest
                )));
            }
            let store = self.inner.registry.store();
            for child in &parsed.manifests {
                if store.get_manifest(repo, &child.digest).await?.is_some() {
                    continue;
                }
                let reference = Reference::Digest(child.digest.clone());
                let child_manifest = match upstream.get_manifest(&reference).await {
                    Ok(m) => m,
                    Err(UpstreamError::NotFound(Missing::Manifest(_))) => {
                        tracing::warn!(
                            %repo, index = %manifest.digest, child = %child.digest,
                            "upstream index lists a manifest the upstream does not have"
                        );
                        continue;
                    }
                    Err(e) => return Err(from_upstream(e)),
                };
                if child_manifest.digest != child.digest {
                    return Err(protocol(format!(
                        "upstream served manifest {} for {}",
                        child_manifest.digest, child.digest
                    )));
                }
                self.store_tree(repo, upstream, child_manifest, None, depth + 1, fetched)
                    .await?;
            }
            let record = self
                .inner
                .registry
                .put_mirrored_manifest(
                    repo,
                    tag,
                    &manifest.digest,
                    &manifest.media_type,
                    manifest.content,
                )
                .await
                .map_err(bad_upstream_content)?;
            fetched.fetch_add(1, Ordering::Relaxed);
            Ok(record)
        }
        .boxed()
    }
}
