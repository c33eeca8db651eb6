//! [`ArtifactIndex`]: which vendor organisation and artifact a repository
//! name stands for, cached until the access store's version moves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use distr_core::access::{AccessStore, ArtifactId, OrgId};
use distr_core::{RepoName, StoreResult};

/// Entries kept before the cache is cleared (bounds memory under a spray of
/// repository names).
const CAPACITY: usize = 100_000;

/// The (org, artifact) of a repository; `None` when the tenancy model has
/// no such artifact.
pub(crate) type Resolved = Option<(OrgId, ArtifactId)>;

#[derive(Default)]
struct Cache {
    version: Option<i64>,
    entries: HashMap<RepoName, Resolved>,
}

/// Maps repository names (`<org-slug>/<artifact>`) to ids.
///
/// Costs one [`AccessStore::access_version`] call per lookup (cheap behind
/// a [`VersionCachedAccessStore`](distr_core::access::VersionCachedAccessStore),
/// as the policy already calls it on every request) and two store reads per
/// repository after each change of the tenancy model. Any write to the
/// tenancy model (an artifact created, deleted or renamed) moves the version,
/// so answers, negative ones included, are never stale.
pub(crate) struct ArtifactIndex {
    access: Arc<dyn AccessStore>,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for ArtifactIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactIndex").finish_non_exhaustive()
    }
}

impl ArtifactIndex {
    /// An index over `access`.
    pub(crate) fn new(access: Arc<dyn AccessStore>) -> Self {
        Self {
            access,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The org and artifact `repo` names, if the artifact exists.
    pub(crate) async fn resolve(&self, repo: &RepoName) -> StoreResult<Resolved> {
        let version = self.access.access_version().await?;
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.version != Some(version) {
                cache.version = Some(version);
                cache.entries.clear();
            }
            if let Some(hit) = cache.entries.get(repo) {
                return Ok(*hit);
            }
        }
        let resolved = match self.access.get_org_by_slug(repo.org()).await? {
            Some(org) => self
                .access
                .get_artifact_by_name(org.id, repo.artifact())
                .await?
                .map(|a| (org.id, a.id)),
            None => None,
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.version == Some(version) {
            if cache.entries.len() >= CAPACITY {
                cache.entries.clear();
            }
            cache.entries.insert(repo.clone(), resolved);
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distr_core::access::{Artifact, MemoryAccessStore, Org};

    #[tokio::test]
    async fn resolves_and_sees_new_artifacts() {
        let store = Arc::new(MemoryAccessStore::new());
        let org = Org {
            id: OrgId::new(),
            slug: "acme".into(),
            name: "Acme".into(),
            created_at_ms: 1,
        };
        store.create_org(&org).await.unwrap();
        let index = ArtifactIndex::new(store.clone());
        let repo: RepoName = "acme/app".parse().unwrap();
        assert_eq!(index.resolve(&repo).await.unwrap(), None);
        let a = Artifact {
            id: ArtifactId::new(),
            org_id: org.id,
            name: "app".into(),
            upstream: None,
            created_at_ms: 2,
        };
        store.create_artifact(&a).await.unwrap();
        assert_eq!(index.resolve(&repo).await.unwrap(), Some((org.id, a.id)));
        let other: RepoName = "globex/app".parse().unwrap();
        assert_eq!(index.resolve(&other).await.unwrap(), None);
    }
}
