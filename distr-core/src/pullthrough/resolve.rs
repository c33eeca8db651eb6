//! Which artifact a repository belongs to, and the upstream client of an
//! artifact: [`Mirror`], with a short-lived lookup cache and a client cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::connect::UpstreamConnector;
use super::handle::PullThrough;
use crate::access::{Artifact, ArtifactId, ArtifactUpstream, DynAccessStore};
use crate::error::{Error, Result};
use crate::name::RepoName;
use crate::upstream::DynUpstream;

/// Most repository lookups kept; beyond, expired ones are dropped first.
const MAX_LOOKUPS: usize = 4096;

/// An artifact that mirrors an upstream repository, with its client.
///
/// `Debug` never prints upstream secrets.
#[derive(Clone)]
pub struct Mirror {
    /// The artifact.
    pub artifact: Artifact,
    /// The client of its upstream repository (cached per artifact, so its
    /// tokens survive between requests).
    pub upstream: Arc<DynUpstream>,
}

impl fmt::Debug for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mirror")
            .field("artifact", &self.artifact)
            .field("upstream", self.upstream.target())
            .finish()
    }
}

/// Finds artifacts by repository and keeps one upstream client per artifact.
pub(super) struct Resolver {
    access: Arc<DynAccessStore>,
    connector: Arc<dyn UpstreamConnector>,
    ttl: Duration,
    lookups: Mutex<HashMap<RepoName, (Instant, Option<Artifact>)>>,
    clients: Mutex<HashMap<ArtifactId, (ArtifactUpstream, Arc<DynUpstream>)>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("lookup_ttl", &self.ttl)
            .field("cached_lookups", &lock(&self.lookups).len())
            .field("clients", &lock(&self.clients).len())
            .finish_non_exhaustive()
    }
}

impl Resolver {
    pub(super) fn new(
        access: Arc<DynAccessStore>,
        connector: Arc<dyn UpstreamConnector>,
        ttl: Duration,
    ) -> Self {
        Self {
            access,
            connector,
            ttl,
            lookups: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The artifact `repo` (`<org-slug>/<artifact-name>`) belongs to.
    pub(super) async fn artifact(&self, repo: &RepoName) -> Result<Option<Artifact>> {
        if !self.ttl.is_zero() {
            if let Some((at, artifact)) = lock(&self.lookups).get(repo) {
                if at.elapsed() < self.ttl {
                    return Ok(artifact.clone());
                }
            }
        }
        let artifact = match self.access.get_org_by_slug(repo.org()).await? {
            Some(org) => {
                self.access
                    .get_artifact_by_name(org.id, repo.artifact())
                    .await?
            }
            None => None,
        };
        if !self.ttl.is_zero() {
            let mut lookups = lock(&self.lookups);
            if lookups.len() >= MAX_LOOKUPS {
                let ttl = self.ttl;
                lookups.retain(|_, (at, _)| at.elapsed() < ttl);
                if lookups.len() >= MAX_LOOKUPS {
                    lookups.clear();
                }
            }
            lookups.insert(repo.clone(), (Instant::now(), artifact.clone()));
        }
        Ok(artifact)
    }

    /// The client of `artifact`'s upstream (`None` without one): the cached
    /// client while the upstream configuration is unchanged, else a new one.
    pub(super) fn client(&self, artifact: &Artifact) -> Result<Option<Arc<DynUpstream>>> {
        let Some(config) = &artifact.upstream else {
            lock(&self.clients).remove(&artifact.id);
            return Ok(None);
        };
        if let Some((cached, client)) = lock(&self.clients).get(&artifact.id) {
            if cached == config {
                return Ok(Some(Arc::clone(client)));
            }
        }
        // Connecting is cheap and synchronous; two racing callers may both
        // connect, and the last one's client is kept.
        let client = self
            .connector
            .connect_artifact(artifact.id, config)
            .map_err(Error::Upstream)?;
        lock(&self.clients).insert(artifact.id, (config.clone(), Arc::clone(&client)));
        Ok(Some(client))
    }
}

impl PullThrough {
    /// The artifact `repo` (`<org-slug>/<artifact-name>`) belongs to with
    /// its upstream client, when that artifact mirrors an upstream; `None`
    /// for repositories of no artifact and for artifacts pushed to distr.
    ///
    /// Lookups are cached briefly (see
    /// [`with_lookup_ttl`](Self::with_lookup_ttl)); clients are cached per
    /// artifact and re-created when its upstream configuration changes.
    pub async fn upstream_for(&self, repo: &RepoName) -> Result<Option<Mirror>> {
        let resolver = &self.inner.resolver;
        let Some(artifact) = resolver.artifact(repo).await? else {
            return Ok(None);
        };
        Ok(resolver
            .client(&artifact)?
            .map(|upstream| Mirror { artifact, upstream }))
    }

    /// True when `repo` belongs to an artifact with an upstream (without
    /// connecting to it).
    pub(super) async fn mirrors(&self, repo: &RepoName) -> Result<bool> {
        let artifact = self.inner.resolver.artifact(repo).await?;
        Ok(artifact.is_some_and(|a| a.upstream.is_some()))
    }

    /// Refuses writes (pushes, deletes) to a repository that mirrors an
    /// upstream with [`Error::Denied`]; `Ok` for every other repository.
    pub async fn check_writable(&self, repo: &RepoName) -> Result<()> {
        if self.mirrors(repo).await? {
            return Err(Error::Denied(format!(
                "{repo} mirrors an upstream repository; push to the upstream instead"
            )));
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
