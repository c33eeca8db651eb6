//! [`MirroredRepos`]: which repositories are pull-through caches.

use std::collections::{HashMap, HashSet};

use crate::access::DynAccessStore;
use crate::error::StoreResult;
use crate::name::RepoName;

/// The repositories of artifacts with an upstream (pull-through caches):
/// blobs they alone hold can be fetched again, so they may be evicted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirroredRepos {
    repos: HashSet<RepoName>,
}

impl MirroredRepos {
    /// Exactly `repos`.
    pub fn new(repos: impl IntoIterator<Item = RepoName>) -> Self {
        Self {
            repos: repos.into_iter().collect(),
        }
    }

    /// The repositories (`<org-slug>/<artifact-name>`) of every artifact
    /// with an upstream in `access`.
    pub async fn from_access(access: &DynAccessStore) -> StoreResult<Self> {
        let mut slugs = HashMap::new();
        let mut repos = HashSet::new();
        for artifact in access.list_upstream_artifacts().await? {
            let slug = match slugs.get(&artifact.org_id) {
                Some(slug) => slug,
                None => {
                    let Some(org) = access.get_org(artifact.org_id).await? else {
                        continue;
                    };
                    slugs.entry(artifact.org_id).or_insert(org.slug)
                }
            };
            match format!("{slug}/{}", artifact.name).parse::<RepoName>() {
                Ok(repo) => {
                    repos.insert(repo);
                }
                Err(e) => {
                    tracing::warn!(artifact = %artifact.name, error = %e, "skipping a mirrored artifact without a valid repository name");
                }
            }
        }
        Ok(Self { repos })
    }

    /// True when `repo` mirrors an upstream.
    pub fn contains(&self, repo: &RepoName) -> bool {
        self.repos.contains(repo)
    }

    /// Number of mirrored repositories.
    pub fn len(&self) -> usize {
        self.repos.len()
    }

    /// True when no repository mirrors an upstream.
    pub fn is_empty(&self) -> bool {
        self.repos.is_empty()
    }
}
