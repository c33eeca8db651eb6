//! [`MemoryStore`]: an in-process [`MetadataStore`] for tests and embedding.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{BlobHolder, BlobRecord, ManifestRecord, MetadataStore, Page, UploadRecord};
use crate::digest::Digest;
use crate::error::{StoreError, StoreResult};
use crate::name::RepoName;
use crate::reference::TagName;

#[derive(Default)]
struct Repo {
    blobs: BTreeMap<Digest, u64>,
    manifests: BTreeMap<Digest, ManifestRecord>,
    tags: BTreeMap<String, Digest>,
}

#[derive(Default)]
struct State {
    repos: BTreeMap<String, Repo>,
    uploads: HashMap<String, UploadRecord>,
    /// Garbage-collection candidates and when they were marked.
    gc_candidates: BTreeMap<Digest, i64>,
    /// Last pull time of blobs.
    pulls: BTreeMap<Digest, i64>,
}

/// A [`MetadataStore`] held in memory; everything is lost on drop.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The manifests of `repo` matching `keep`, ordered by digest.
    fn manifests_where(
        &self,
        repo: &RepoName,
        keep: impl Fn(&ManifestRecord) -> bool,
    ) -> Vec<ManifestRecord> {
        self.with(|s| {
            s.repos
                .get(repo.as_str())
                .map(|r| r.manifests.values().filter(|m| keep(m)).cloned().collect())
                .unwrap_or_default()
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock only means another task panicked mid-update; the
        // maps themselves are always left consistent by single-step updates.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

fn page_of<V>(
    map: &BTreeMap<String, V>,
    page: &Page,
    keep: impl Fn(&String) -> bool,
) -> Vec<String> {
    let lower = match &page.last {
        Some(l) => Bound::Excluded(l.clone()),
        None => Bound::Unbounded,
    };
    map.range((lower, Bound::Unbounded))
        .map(|(k, _)| k)
        .filter(|k| keep(k))
        .take(page.limit.unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

#[async_trait]
impl MetadataStore for MemoryStore {
    async fn list_repositories(&self, page: &Page) -> StoreResult<Vec<RepoName>> {
        self.with(|s| {
            let with_uploads: BTreeSet<&str> =
                s.uploads.values().map(|u| u.repo.as_str()).collect();
            let names = page_of(&s.repos, page, |k| {
                let r = &s.repos[k];
                !r.blobs.is_empty() || !r.manifests.is_empty() || with_uploads.contains(k.as_str())
            });
            names
                .into_iter()
                .map(|n| n.parse().map_err(|e| StoreError::Corrupt(format!("{e}"))))
                .collect()
        })
    }

    async fn repository_exists(&self, repo: &RepoName) -> StoreResult<bool> {
        self.with(|s| {
            let r = s.repos.get(repo.as_str());
            Ok(
                r.is_some_and(|r| !r.blobs.is_empty() || !r.manifests.is_empty())
                    || s.uploads.values().any(|u| &u.repo == repo),
            )
        })
    }

    async fn delete_repository(&self, repo: &RepoName) -> StoreResult<bool> {
        self.with(|s| {
            let had_content = s
                .repos
                .remove(repo.as_str())
                .is_some_and(|r| !r.blobs.is_empty() || !r.manifests.is_empty());
            let uploads = s.uploads.len();
            s.uploads.retain(|_, u| &u.repo != repo);
            Ok(had_content || s.uploads.len() != uploads)
        })
    }

    async fn link_blob(&self, repo: &RepoName, blob: &BlobRecord) -> StoreResult<()> {
        self.with(|s| {
            s.repos
                .entry(repo.to_string())
                .or_default()
                .blobs
                .insert(blob.digest.clone(), blob.size);
            Ok(())
        })
    }

    async fn get_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<Option<BlobRecord>> {
        self.with(|s| {
            Ok(s.repos
                .get(repo.as_str())
                .and_then(|r| r.blobs.get(digest))
                .map(|&size| BlobRecord {
                    digest: digest.clone(),
                    size,
                }))
        })
    }

    async fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        self.with(|s| {
            Ok(s.repos
                .get_mut(repo.as_str())
                .is_some_and(|r| r.blobs.remove(digest).is_some()))
        })
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        manifest: &ManifestRecord,
        tag: Option<&TagName>,
    ) -> StoreResult<()> {
        self.with(|s| {
            let r = s.repos.entry(repo.to_string()).or_default();
            r.manifests
                .entry(manifest.digest.clone())
                .or_insert_with(|| manifest.clone());
            if let Some(tag) = tag {
                r.tags.insert(tag.to_string(), manifest.digest.clone());
            }
            Ok(())
        })
    }

    async fn get_manifest(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> StoreResult<Option<ManifestRecord>> {
        self.with(|s| {
            Ok(s.repos
                .get(repo.as_str())
                .and_then(|r| r.manifests.get(digest))
                .cloned())
        })
    }

    async fn resolve_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<Option<Digest>> {
        self.with(|s| {
            Ok(s.repos
                .get(repo.as_str())
                .and_then(|r| r.tags.get(tag.as_str()))
                .cloned())
        })
    }

    async fn list_tags(&self, repo: &RepoName, page: &Page) -> StoreResult<Vec<TagName>> {
        self.with(|s| {
            let Some(r) = s.repos.get(repo.as_str()) else {
                return Ok(Vec::new());
            };
            page_of(&r.tags, page, |_| true)
                .into_iter()
                .map(|t| t.parse().map_err(|e| StoreError::Corrupt(format!("{e}"))))
                .collect()
        })
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &TagName) -> StoreResult<bool> {
        self.with(|s| {
            Ok(s.repos
                .get_mut(repo.as_str())
                .is_some_and(|r| r.tags.remove(tag.as_str()).is_some()))
        })
    }

    async fn delete_manifest(&self, repo: &RepoName, digest: &Digest) -> StoreResult<bool> {
        self.with(|s| {
            let Some(r) = s.repos.get_mut(repo.as_str()) else {
                return Ok(false);
            };
            let existed = r.manifests.remove(digest).is_some();
            r.tags.retain(|_, d| d != digest);
            Ok(existed)
        })
    }

    async fn list_tag_targets(&self, repo: &RepoName) -> StoreResult<Vec<(TagName, Digest)>> {
        self.with(|s| {
            let Some(r) = s.repos.get(repo.as_str()) else {
                return Ok(Vec::new());
            };
            r.tags
                .iter()
                .map(|(t, d)| {
                    Ok((
                        t.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                        d.clone(),
                    ))
                })
                .collect()
        })
    }

    async fn manifest_parents(&self, repo: &RepoName, child: &Digest) -> StoreResult<Vec<Digest>> {
        Ok(self
            .manifests_where(repo, |m| m.children.contains(child))
            .into_iter()
            .map(|m| m.digest)
            .collect())
    }

    async fn manifests_with_blob(
        &self,
        repo: &RepoName,
        blob: &Digest,
    ) -> StoreResult<Vec<Digest>> {
        Ok(self
            .manifests_where(repo, |m| m.blobs.contains(blob))
            .into_iter()
            .map(|m| m.digest)
            .collect())
    }

    async fn list_referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
    ) -> StoreResult<Vec<ManifestRecord>> {
        Ok(self.manifests_where(repo, |m| m.subject.as_ref() == Some(subject)))
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<()> {
        self.with(|s| {
            if s.uploads.contains_key(&upload.id) {
                return Err(StoreError::Conflict(format!("upload {} exists", upload.id)));
            }
            s.uploads.insert(upload.id.clone(), upload.clone());
            Ok(())
        })
    }

    async fn get_upload(&self, repo: &RepoName, id: &str) -> StoreResult<Option<UploadRecord>> {
        self.with(|s| Ok(s.uploads.get(id).filter(|u| &u.repo == repo).cloned()))
    }

    async fn update_upload(&self, upload: &UploadRecord, expected_size: u64) -> StoreResult<()> {
        self.with(|s| match s.uploads.get_mut(&upload.id) {
            Some(u) if u.repo == upload.repo && u.size() == expected_size => {
                u.parts = upload.parts.clone();
                Ok(())
            }
            _ => Err(StoreError::Conflict(format!(
                "upload {} changed or is gone",
                upload.id
            ))),
        })
    }

    async fn delete_upload(&self, repo: &RepoName, id: &str) -> StoreResult<bool> {
        self.with(|s| {
            if s.uploads.get(id).is_some_and(|u| &u.repo == repo) {
                s.uploads.remove(id);
                Ok(true)
            } else {
                Ok(false)
            }
        })
    }

    async fn blob_holders(&self, digests: &[Digest]) -> StoreResult<Vec<BlobHolder>> {
        let wanted: BTreeSet<&Digest> = digests.iter().collect();
        self.with(|s| {
            let mut held: BTreeMap<(Digest, String), (bool, bool)> = BTreeMap::new();
            for (name, r) in &s.repos {
                let mut hold = |d: &Digest, linked: bool| {
                    if wanted.contains(d) {
                        let e = held.entry((d.clone(), name.clone())).or_default();
                        if linked {
                            e.0 = true;
                        } else {
                            e.1 = true;
                        }
                    }
                };
                r.blobs.keys().for_each(|d| hold(d, true));
                for (digest, m) in &r.manifests {
                    hold(digest, false);
                    m.blobs.iter().for_each(|d| hold(d, false));
                }
            }
            held.into_iter()
                .map(|((digest, name), (linked, referenced))| {
                    let repo = name
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{e}")))?;
                    Ok(BlobHolder {
                        digest,
                        repo,
                        linked,
                        referenced,
                    })
                })
                .collect()
        })
    }

    async fn mark_gc_candidates(&self, digests: &[Digest], at_ms: i64) -> StoreResult<()> {
        self.with(|s| {
            for d in digests {
                s.gc_candidates.entry(d.clone()).or_insert(at_ms);
            }
            Ok(())
        })
    }

    async fn gc_candidates(&self, marked_before_ms: i64) -> StoreResult<Vec<Digest>> {
        self.with(|s| {
            Ok(s.gc_candidates
                .iter()
                .filter(|(_, &at)| at <= marked_before_ms)
                .map(|(d, _)| d.clone())
                .collect())
        })
    }

    async fn clear_gc_candidates(&self, digests: &[Digest]) -> StoreResult<()> {
        self.with(|s| {
            for d in digests {
                s.gc_candidates.remove(d);
            }
            Ok(())
        })
    }

    async fn forget_blobs(&self, digests: &[Digest]) -> StoreResult<()> {
        self.with(|s| {
            for d in digests {
                s.gc_candidates.remove(d);
                s.pulls.remove(d);
            }
            Ok(())
        })
    }

    async fn list_stale_uploads(&self, created_before_ms: i64) -> StoreResult<Vec<UploadRecord>> {
        self.with(|s| {
            let mut stale: Vec<UploadRecord> = s
                .uploads
                .values()
                .filter(|u| u.created_at_ms < created_before_ms)
                .cloned()
                .collect();
            stale.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(stale)
        })
    }

    async fn touch_blob(&self, digest: &Digest, at_ms: i64) -> StoreResult<()> {
        self.with(|s| {
            let at = s.pulls.entry(digest.clone()).or_insert(at_ms);
            *at = (*at).max(at_ms);
            Ok(())
        })
    }

    async fn blob_pulls(&self, digests: &[Digest]) -> StoreResult<Vec<(Digest, i64)>> {
        let wanted: BTreeSet<&Digest> = digests.iter().collect();
        self.with(|s| {
            Ok(wanted
                .into_iter()
                .filter_map(|d| s.pulls.get(d).map(|&at| (d.clone(), at)))
                .collect())
        })
    }
}
