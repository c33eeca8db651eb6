//! Enforcement: what a [`Principal`] may see of a repository.
//!
//! Checked before any content is served (and, later, before any upstream is
//! contacted). A customer sees only artifacts of its own vendor, and of those
//! only what its active entitlements grant:
//! - a tag, when a selection of an entitlement item for the artifact matches it;
//! - a manifest by digest, when an entitled tag points at it, or at an index
//!   that lists it as a child, or when it is a referrer (signature, SBOM) of a
//!   manifest allowed that way;
//! - a blob, when an allowed manifest references it (or it is an allowed
//!   manifest read through the blob endpoint).
//!
//! While a vendor has no entitlement at all, its customers see all of its
//! artifacts in full.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

mod deletion;

use super::grants::Grants;
use super::mode::AccessMode;
use super::model::{Artifact, ArtifactId, CustomerId, OrgId, UserId};
use super::store::AccessStore;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::RepoName;
use crate::reference::TagName;
use crate::store::{MetadataStore, Page};

/// How deep a chain of referrers (a signature of an SBOM of an image) is followed.
const MAX_SUBJECT_DEPTH: usize = 4;

/// Who makes a request, once authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// Everything of every organisation (authentication disabled, or the server itself).
    System,
    /// A vendor admin: everything of one organisation.
    VendorAdmin {
        /// The vendor.
        org: OrgId,
        /// The user.
        user: UserId,
    },
    /// A customer user: what the customer is entitled to, read-only.
    Customer {
        /// The vendor.
        org: OrgId,
        /// The customer organisation.
        customer: CustomerId,
        /// The user.
        user: UserId,
    },
}

/// Evaluates access against the stores.
#[derive(Clone, Debug)]
pub struct Policy {
    access: Arc<dyn AccessStore>,
    meta: Arc<dyn MetadataStore>,
    cache: Arc<Mutex<ViewCache>>,
}

/// Views cached before the cache is cleared.
const VIEW_CACHE_CAPACITY: usize = 100_000;

/// Evaluated views, valid for one access version.
#[derive(Debug, Default)]
struct ViewCache {
    version: i64,
    views: HashMap<(Principal, RepoName), CachedView>,
}

#[derive(Debug)]
struct CachedView {
    view: Option<Arc<View>>,
    valid_until_ms: i64,
}

/// How much of a repository a principal sees.
#[derive(Clone, Debug, PartialEq, Eq)]
enum View {
    Full,
    Entitled {
        artifact: ArtifactId,
        grants: Grants,
    },
}

/// One principal's access to one repository, for the length of a request.
/// Lookups are cached, so ask as many questions as needed.
#[derive(Debug)]
pub struct RepoAccess {
    meta: Arc<dyn MetadataStore>,
    repo: RepoName,
    view: Arc<View>,
    allowed_targets: OnceCell<HashSet<Digest>>,
}

impl Policy {
    /// A policy over the tenancy model and the registry metadata.
    pub fn new(access: Arc<dyn AccessStore>, meta: Arc<dyn MetadataStore>) -> Self {
        Self {
            access,
            meta,
            cache: Arc::new(Mutex::new(ViewCache {
                version: i64::MIN,
                views: HashMap::new(),
            })),
        }
    }

    /// The principal's view of `repo` at `now_ms`, or [`Error::NameUnknown`]
    /// when it may not even learn that the repository exists.
    ///
    /// Evaluated views are cached until the store's access version moves or
    /// an entitlement they relied on expires, so a change applies on the very
    /// next request while a steady state costs one small read per request.
    pub async fn repo_access(
        &self,
        principal: &Principal,
        repo: &RepoName,
        now_ms: i64,
    ) -> Result<RepoAccess> {
        let version = self.access.access_version().await?;
        let key = (principal.clone(), repo.clone());
        let cached = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if cache.version != version {
                cache.version = version;
                cache.views.clear();
            }
            cache
                .views
                .get(&key)
                .filter(|c| now_ms < c.valid_until_ms)
                .map(|c| c.view.clone())
        };
        let view = match cached {
            Some(v) => v,
            None => {
                let (view, valid_until_ms) = self.evaluate_view(principal, repo, now_ms).await?;
                // Shared, so a cache hit does not copy the customer's grants.
                let view = view.map(Arc::new);
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.version == version {
                    if cache.views.len() >= VIEW_CACHE_CAPACITY {
                        cache.views.clear();
                    }
                    cache.views.insert(
                        key,
                        CachedView {
                            view: view.clone(),
                            valid_until_ms,
                        },
                    );
                }
                view
            }
        };
        let view = view.ok_or(Error::NameUnknown)?;
        Ok(RepoAccess {
            meta: self.meta.clone(),
            repo: repo.clone(),
            view,
            allowed_targets: OnceCell::new(),
        })
    }

    /// The view (`None`: invisible) and until when it holds.
    async fn evaluate_view(
        &self,
        principal: &Principal,
        repo: &RepoName,
        now_ms: i64,
    ) -> Result<(Option<View>, i64)> {
        let forever = i64::MAX;
        let invisible = |e: Error| match e {
            Error::NameUnknown => Ok((None, forever)),
            e => Err(e),
        };
        match principal {
            Principal::System => Ok((Some(View::Full), forever)),
            Principal::VendorAdmin { org, .. } => match self.own_org(*org, repo).await {
                Ok(()) => Ok((Some(View::Full), forever)),
                Err(e) => invisible(e),
            },
            Principal::Customer { org, customer, .. } => {
                if let Err(e) = self.own_org(*org, repo).await {
                    return invisible(e);
                }
                let Some(artifact) = self
                    .access
                    .get_artifact_by_name(*org, repo.artifact())
                    .await?
                else {
                    return Ok((None, forever));
                };
                let (grants, valid_until) = self.grants_until(*org, *customer, now_ms).await?;
                let view = match grants {
                    Grants::Unrestricted => Some(View::Full),
                    grants if grants.allows_artifact(artifact.id) => Some(View::Entitled {
                        artifact: artifact.id,
                        grants,
                    }),
                    _ => None,
                };
                Ok((view, valid_until))
            }
        }
    }

    /// Succeeds when the principal may push to or delete from `repo`.
    pub async fn check_write(&self, principal: &Principal, repo: &RepoName) -> Result<()> {
        match principal {
            Principal::System => Ok(()),
            Principal::VendorAdmin { org, .. } => match self.own_org(*org, repo).await {
                Ok(()) => Ok(()),
                Err(Error::NameUnknown) => Err(Error::Denied(format!("no write access to {repo}"))),
                Err(e) => Err(e),
            },
            Principal::Customer { .. } => {
                Err(Error::Denied("customers cannot push or delete".into()))
            }
        }
    }

    /// The repositories the principal may see, in lexical order, from
    /// `repositories` (the registry's catalog).
    pub async fn visible_repositories(
        &self,
        principal: &Principal,
        now_ms: i64,
    ) -> Result<Vec<RepoName>> {
        let all = self.meta.list_repositories(&Page::default()).await?;
        let (org, customer) = match principal {
            Principal::System => return Ok(all),
            Principal::VendorAdmin { org, .. } => (*org, None),
            Principal::Customer { org, customer, .. } => (*org, Some(*customer)),
        };
        let Some(slug) = self.access.get_org(org).await?.map(|o| o.slug) else {
            return Ok(Vec::new());
        };
        let in_org = all.into_iter().filter(|r| r.org() == slug);
        let Some(customer) = customer else {
            return Ok(in_org.collect());
        };
        let grants = self.grants(org, customer, now_ms).await?;
        let artifacts = self.access.list_artifacts(org).await?;
        Ok(in_org
            .filter(|r| {
                artifacts
                    .iter()
                    .any(|a| a.name == r.artifact() && grants.allows_artifact(a.id))
            })
            .collect())
    }

    /// Creates the artifact record for `repo` after a push, when the
    /// repository's organisation exists and the artifact does not yet.
    pub async fn ensure_artifact(&self, repo: &RepoName, now_ms: i64) -> Result<()> {
        let Some(org) = self.access.get_org_by_slug(repo.org()).await? else {
            return Ok(());
        };
        if self
            .access
            .get_artifact_by_name(org.id, repo.artifact())
            .await?
            .is_some()
        {
            return Ok(());
        }
        let artifact = Artifact {
            id: ArtifactId::new(),
            org_id: org.id,
            name: repo.artifact().to_owned(),
            upstream: None,
            created_at_ms: now_ms,
        };
        match self.access.create_artifact(&artifact).await {
            // Another push created it first.
            Ok(()) | Err(crate::StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn own_org(&self, org: OrgId, repo: &RepoName) -> Result<()> {
        match self.access.get_org_by_slug(repo.org()).await? {
            Some(o) if o.id == org => Ok(()),
            _ => Err(Error::NameUnknown),
        }
    }

    async fn grants(&self, org: OrgId, customer: CustomerId, now_ms: i64) -> Result<Grants> {
        Ok(self.grants_until(org, customer, now_ms).await?.0)
    }

    /// The customer's grants, and the time the next of its entitlements expires.
    async fn grants_until(
        &self,
        org: OrgId,
        customer: CustomerId,
        now_ms: i64,
    ) -> Result<(Grants, i64)> {
        let mode = self.access.access_mode(org).await?.mode;
        let entitlements = match mode {
            AccessMode::Entitled => self.access.list_entitlements(customer).await?,
            AccessMode::Open => Vec::new(),
        };
        let next_expiry = entitlements
            .iter()
            .filter_map(|e| e.expires_at_ms)
            .filter(|&t| t > now_ms)
            .min()
            .unwrap_or(i64::MAX);
        Ok((Grants::evaluate(mode, &entitlements, now_ms), next_expiry))
    }
}

impl RepoAccess {
    /// True when the principal sees all of the repository.
    pub fn is_full(&self) -> bool {
        *self.view == View::Full
    }

    /// True when the principal may pull `tag`.
    pub fn allows_tag(&self, tag: &TagName) -> bool {
        match &*self.view {
            View::Full => true,
            View::Entitled { artifact, grants } => grants.allows_tag(*artifact, tag.as_str()),
        }
    }

    /// The tags the principal may see, in lexical order.
    pub async fn visible_tags(&self) -> Result<Vec<TagName>> {
        let targets = self.meta.list_tag_targets(&self.repo).await?;
        Ok(targets
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| self.allows_tag(t))
            .collect())
    }

    /// Digests entitled tags point at.
    async fn allowed_targets(&self) -> Result<&HashSet<Digest>> {
        self.allowed_targets
            .get_or_try_init(|| async {
                let targets = self.meta.list_tag_targets(&self.repo).await?;
                Ok::<_, Error>(
                    targets
                        .into_iter()
                        .filter(|(t, _)| self.allows_tag(t))
                        .map(|(_, d)| d)
                        .collect(),
                )
            })
            .await
    }

    /// True when the principal may pull the manifest `digest`.
    pub async fn allows_manifest(&self, digest: &Digest) -> Result<bool> {
        if self.is_full() {
            return Ok(true);
        }
        let mut current = digest.clone();
        for _ in 0..MAX_SUBJECT_DEPTH {
            if self.tagged_or_child_of_tagged(&current).await? {
                return Ok(true);
            }
            match self
                .meta
                .get_manifest(&self.repo, &current)
                .await?
                .and_then(|m| m.subject)
            {
                Some(subject) => current = subject,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    async fn tagged_or_child_of_tagged(&self, digest: &Digest) -> Result<bool> {
        let targets = self.allowed_targets().await?;
        if targets.contains(digest) {
            return Ok(true);
        }
        let parents = self.meta.manifest_parents(&self.repo, digest).await?;
        Ok(parents.iter().any(|p| targets.contains(p)))
    }

    /// True when the principal may pull the blob `digest`.
    pub async fn allows_blob(&self, digest: &Digest) -> Result<bool> {
        if self.is_full() {
            return Ok(true);
        }
        for manifest in self.meta.manifests_with_blob(&self.repo, digest).await? {
            if self.allows_manifest(&manifest).await? {
                return Ok(true);
            }
        }
        // A manifest read through the blob endpoint.
        self.allows_manifest(digest).await
    }
}
