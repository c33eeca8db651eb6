//! Syncing an artifact's tags with its upstream: [`SyncReport`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::{FutureExt, StreamExt};

use super::errors::{from_upstream, protocol};
use super::handle::PullThrough;
use crate::access::Artifact;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::RepoName;
use crate::reference::{Reference, TagName};
use crate::upstream::{DynUpstream, Missing, UpstreamError, UpstreamExt};

/// Tags asked for per page of the upstream's tag list.
const TAG_PAGE_SIZE: u32 = 1000;

/// What one sync of an artifact did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Tags new to distr, sorted.
    pub added: Vec<TagName>,
    /// Tags moved to another manifest, sorted.
    pub updated: Vec<TagName>,
    /// Tags removed because the upstream no longer has them, sorted.
    pub removed: Vec<TagName>,
    /// Tags already pointing at the upstream's manifest.
    pub unchanged: usize,
    /// Manifests fetched from the upstream and stored (index children
    /// included).
    pub manifests_fetched: usize,
    /// Tags that could not be synced, with the reason, sorted by tag. Their
    /// local state is unchanged.
    pub failed: Vec<(TagName, String)>,
}

impl SyncReport {
    /// True when every tag was synced.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// State the tags of one sync share.
#[derive(Default)]
struct SyncShared {
    /// Manifests fetched and stored (index children included).
    fetched: AtomicUsize,
    /// One lock per manifest digest being stored, so tags sharing a
    /// manifest fetch it (and its children) once.
    locks: Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>,
}

impl SyncShared {
    /// The lock of `digest` (created on first use; kept for the sync).
    fn lock(&self, digest: &Digest) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(locks.entry(digest.clone()).or_default())
    }
}

/// What syncing one tag did.
enum TagChange {
    Added,
    Updated,
    Unchanged,
    /// Listed, but gone by the time it was asked for.
    Vanished,
}

impl PullThrough {
    /// Syncs `artifact` with its upstream now, without recording a
    /// [`SyncStatus`](crate::access::SyncStatus) (see
    /// [`trigger_sync`](Self::trigger_sync) for that).
    ///
    /// Lists every upstream tag; fetches each tag distr does not know yet
    /// by tag (one `GET`, no `HEAD`), asks for the digest of each tag it
    /// knows (`HEAD`) and fetches a manifest only when the tag moved to one
    /// distr does not have (once per digest, however many tags moved to
    /// it); stores manifests byte-for-byte (an index with its children,
    /// fetched once per sync), moves changed tags and removes the tags the
    /// upstream no longer lists. So a first sync of `T` tags makes `T`
    /// manifest requests plus the index children, and a re-sync with
    /// nothing changed only `T` `HEAD`s, besides the tag-list pages. At most
    /// [`with_sync_concurrency`](Self::with_sync_concurrency) tags are
    /// synced at once. A tag that fails is reported in
    /// [`SyncReport::failed`] and left as it was; failing to list the tags
    /// fails the sync (and removes nothing).
    pub async fn sync_artifact(&self, artifact: &Artifact) -> Result<SyncReport> {
        let Some(upstream) = self.inner.resolver.client(artifact)? else {
            return Err(Error::Unsupported(format!(
                "artifact {} has no upstream",
                artifact.name
            )));
        };
        let repo = self.repo_of(artifact).await?;
        let remote = upstream
            .all_tags(Some(TAG_PAGE_SIZE))
            .await
            .map_err(from_upstream)?;
        let store = self.inner.registry.store();
        let local: HashMap<TagName, Digest> =
            store.list_tag_targets(&repo).await?.into_iter().collect();
        let remote_set: HashSet<&TagName> = remote.iter().collect();
        let shared = SyncShared::default();

        let (repo_ref, local_ref, shared_ref) = (&repo, &local, &shared);
        let upstream_ref: &DynUpstream = upstream.as_ref();
        let unique: Vec<TagName> = remote_set.iter().map(|t| (*t).clone()).collect();
        let outcomes: Vec<(TagName, Result<TagChange>)> = futures::stream::iter(unique)
            .map(|tag: TagName| {
                let local = local_ref.get(&tag).cloned();
                async move {
                    let outcome = self
                        .sync_tag(repo_ref, upstream_ref, &tag, local.as_ref(), shared_ref)
                        .await;
                    (tag, outcome)
                }
                .boxed()
            })
            .buffer_unordered(self.inner.config.sync_concurrency)
            .collect()
            .await;

        let mut report = SyncReport::default();
        let mut gone: Vec<TagName> = local
            .keys()
            .filter(|t| !remote_set.contains(t))
            .cloned()
            .collect();
        for (tag, outcome) in outcomes {
            match outcome {
                Ok(TagChange::Added) => report.added.push(tag),
                Ok(TagChange::Updated) => report.updated.push(tag),
                Ok(TagChange::Unchanged) => report.unchanged += 1,
                Ok(TagChange::Vanished) => {
                    if local.contains_key(&tag) {
                        gone.push(tag);
                    }
                }
                Err(e) => {
                    tracing::warn!(repo = %repo, tag = %tag, error = %e, "tag sync failed");
                    report.failed.push((tag, e.vendor_message()));
                }
            }
        }
        for tag in gone {
            match store.delete_tag(&repo, &tag).await {
                Ok(_) => report.removed.push(tag),
                Err(e) => report.failed.push((tag, Error::from(e).vendor_message())),
            }
        }
        report.added.sort();
        report.updated.sort();
        report.removed.sort();
        report.failed.sort();
        report.manifests_fetched = shared.fetched.load(Ordering::Relaxed);
        Ok(report)
    }

    /// Syncs one tag: a tag distr does not know yet is fetched by tag at
    /// once (one request); a known tag is asked for its digest (`HEAD`) and
    /// fetched by digest only when it moved to a manifest distr lacks.
    async fn sync_tag(
        &self,
        repo: &RepoName,
        upstream: &DynUpstream,
        tag: &TagName,
        local: Option<&Digest>,
        shared: &SyncShared,
    ) -> Result<TagChange> {
        let Some(local) = local else {
            return self.add_tag(repo, upstream, tag, shared).await;
        };
        let Some(head) = upstream
            .head_manifest(&Reference::Tag(tag.clone()))
            .await
            .map_err(from_upstream)?
        else {
            return Ok(TagChange::Vanished);
        };
        let store = self.inner.registry.store();
        if local == &head.digest && store.get_manifest(repo, &head.digest).await?.is_some() {
            return Ok(TagChange::Unchanged);
        }
        // One fetch per digest: tags moving to the same manifest wait for
        // the first and then only move.
        let lock = shared.lock(&head.digest);
        let _held = lock.lock().await;
        if let Some(record) = store.get_manifest(repo, &head.digest).await? {
            // The manifest is here already (another tag, or an index child):
            // only the tag moves.
            store.put_manifest(repo, &record, Some(tag)).await?;
            return Ok(TagChange::Updated);
        }
        // By digest, so a tag moving between HEAD and GET cannot mix up
        // what is stored under it.
        let manifest = match upstream
            .get_manifest(&Reference::Digest(head.digest.clone()))
            .await
        {
            Ok(m) => m,
            Err(UpstreamError::NotFound(Missing::Manifest(_))) => return Ok(TagChange::Vanished),
            Err(e) => return Err(from_upstream(e)),
        };
        if manifest.digest != head.digest {
            return Err(protocol(format!(
                "upstream served manifest {} for {}",
                manifest.digest, head.digest
            )));
        }
        self.store_tree(repo, upstream, manifest, Some(tag), 0, &shared.fetched)
            .await?;
        Ok(TagChange::Updated)
    }

    /// Adds a tag distr does not know: `GET` by tag (no `HEAD` first, as
    /// there is nothing local to compare with) and stores what came. Tags
    /// sharing a manifest store it one after the other, so an index's
    /// children are fetched once, not once per tag.
    async fn add_tag(
        &self,
        repo: &RepoName,
        upstream: &DynUpstream,
        tag: &TagName,
        shared: &SyncShared,
    ) -> Result<TagChange> {
        let manifest = match upstream.get_manifest(&Reference::Tag(tag.clone())).await {
            Ok(m) => m,
            Err(UpstreamError::NotFound(Missing::Manifest(_))) => return Ok(TagChange::Vanished),
            Err(e) => return Err(from_upstream(e)),
        };
        let lock = shared.lock(&manifest.digest);
        let _held = lock.lock().await;
        self.store_tree(repo, upstream, manifest, Some(tag), 0, &shared.fetched)
            .await?;
        Ok(TagChange::Added)
    }

    /// The repository of `artifact`: `<org-slug>/<artifact-name>`.
    pub(super) async fn repo_of(&self, artifact: &Artifact) -> Result<RepoName> {
        let Some(org) = self.inner.access.get_org(artifact.org_id).await? else {
            return Err(Error::NameUnknown);
        };
        format!("{}/{}", org.slug, artifact.name).parse()
    }
}
