//! The product's deletion rules: what a customer is entitled to cannot be
//! deleted out from under it.
//!
//! A delete — of a tag, a manifest by digest, a blob — is refused
//! ([`Error::DeleteRefused`]) when it would remove
//! - a tag an active entitlement selects by name or pattern (whatever other
//!   tags point at the same manifest: the customer is entitled to the tag);
//! - a manifest or blob reachable from a tag an active entitlement grants
//!   (by name, pattern or "all tags"): the tagged manifest, its index
//!   children, their configs and layers, and the referrers chain (signatures
//!   and SBOMs whose subject is such a manifest).
//!
//! And an artifact's last tag never goes ([`Error::DeleteConflict`]): delete
//! the artifact instead. Expired entitlements protect nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::{Policy, RepoAccess, View};
use crate::access::grants::Grants;
use crate::access::model::{Artifact, Entitlement, TagSelection};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::RepoName;
use crate::reference::{Reference, TagName};

/// The artifact of a repository and its active entitlements.
struct Entitled {
    artifact: Artifact,
    entitlements: Vec<Entitlement>,
}

impl Policy {
    /// The deletion rules for removing the `removed` tags from `repo`
    /// (directly, or by deleting the manifest they point at), at `now_ms`.
    pub async fn check_tag_removal(
        &self,
        repo: &RepoName,
        removed: &[TagName],
        now_ms: i64,
    ) -> Result<()> {
        if removed.is_empty() {
            return Ok(());
        }
        let targets = self.meta.list_tag_targets(repo).await?;
        let entitled = self.entitled(repo, now_ms).await?;
        check_tags(repo, &targets, removed, entitled.as_ref())
    }

    /// The deletion rules for an OCI manifest delete: a tag removes itself;
    /// a digest removes every tag pointing at it and the manifest, which may
    /// not be reachable from the entitled tags that remain.
    pub async fn check_reference_removal(
        &self,
        repo: &RepoName,
        reference: &Reference,
        now_ms: i64,
    ) -> Result<()> {
        let targets = self.meta.list_tag_targets(repo).await?;
        let removed: Vec<TagName> = match reference {
            Reference::Tag(t) => vec![t.clone()],
            Reference::Digest(d) => targets
                .iter()
                .filter(|(_, x)| x == d)
                .map(|(t, _)| t.clone())
                .collect(),
        };
        let entitled = self.entitled(repo, now_ms).await?;
        check_tags(repo, &targets, &removed, entitled.as_ref())?;
        if let (Reference::Digest(d), Some(e)) = (reference, &entitled) {
            let protected = self.protected_content(repo, e, &targets, &removed);
            if protected.allows_manifest(d).await? {
                return Err(Error::DeleteRefused(format!(
                    "manifest {d} is part of what an entitlement grants to a customer \
                     (a tagged manifest, an index child or a referrer of one)"
                )));
            }
        }
        Ok(())
    }

    /// The deletion rules for a blob delete: refused while the blob is part
    /// of what an active entitlement grants (a config or layer of an
    /// entitled manifest).
    pub async fn check_blob_removal(
        &self,
        repo: &RepoName,
        digest: &Digest,
        now_ms: i64,
    ) -> Result<()> {
        let Some(entitled) = self.entitled(repo, now_ms).await? else {
            return Ok(());
        };
        let targets = self.meta.list_tag_targets(repo).await?;
        if self
            .protected_content(repo, &entitled, &targets, &[])
            .allows_blob(digest)
            .await?
        {
            return Err(Error::DeleteRefused(format!(
                "blob {digest} is part of what an entitlement grants to a customer"
            )));
        }
        Ok(())
    }

    /// The artifact of `repo` with its entitlements active at `now_ms`;
    /// `None` without an artifact or an active entitlement naming it.
    async fn entitled(&self, repo: &RepoName, now_ms: i64) -> Result<Option<Entitled>> {
        let Some(org) = self.access.get_org_by_slug(repo.org()).await? else {
            return Ok(None);
        };
        let Some(artifact) = self
            .access
            .get_artifact_by_name(org.id, repo.artifact())
            .await?
        else {
            return Ok(None);
        };
        let entitlements: Vec<Entitlement> = self
            .access
            .entitlements_for_artifact(artifact.id)
            .await?
            .into_iter()
            // Only the artifact's own vendor can entitle a customer to it.
            .filter(|e| e.org_id == artifact.org_id && e.is_active(now_ms))
            .collect();
        Ok((!entitlements.is_empty()).then_some(Entitled {
            artifact,
            entitlements,
        }))
    }

    /// What every entitled customer together may pull from `repo` (whose
    /// tags are `targets`), once the `excluded` tags are gone.
    fn protected_content(
        &self,
        repo: &RepoName,
        entitled: &Entitled,
        targets: &[(TagName, Digest)],
        excluded: &[TagName],
    ) -> RepoAccess {
        let id = entitled.artifact.id;
        let selections: Vec<TagSelection> = entitled
            .entitlements
            .iter()
            .flat_map(|e| &e.items)
            .filter(|i| i.artifact_id == id)
            .map(|i| i.tags.clone())
            .collect();
        let grants = Grants::Restricted(HashMap::from([(id, selections)]));
        // The tags are already read: the granted targets are known.
        let granted: HashSet<Digest> = targets
            .iter()
            .filter(|(t, _)| !excluded.contains(t) && grants.allows_tag(id, t.as_str()))
            .map(|(_, d)| d.clone())
            .collect();
        RepoAccess {
            meta: self.meta.clone(),
            repo: repo.clone(),
            view: Arc::new(View::Entitled {
                artifact: id,
                grants,
            }),
            allowed_targets: OnceCell::new_with(Some(granted)),
        }
    }
}

/// The tag rules, given every tag of `repo` with its digest: no tag an
/// active entitlement selects by name or pattern, never the last tag.
fn check_tags(
    repo: &RepoName,
    targets: &[(TagName, Digest)],
    removed: &[TagName],
    entitled: Option<&Entitled>,
) -> Result<()> {
    let removing: Vec<&TagName> = targets
        .iter()
        .map(|(t, _)| t)
        .filter(|t| removed.contains(t))
        .collect();
    if removing.is_empty() {
        return Ok(());
    }
    if let Some(e) = entitled {
        for tag in &removing {
            let selecting = e.entitlements.iter().find(|ent| {
                ent.items.iter().any(|i| {
                    i.artifact_id == e.artifact.id
                        && matches!(&i.tags, TagSelection::Only(ps) if ps.iter().any(|p| p.matches(tag.as_str())))
                })
            });
            if let Some(ent) = selecting {
                return Err(Error::DeleteRefused(format!(
                    "tag {tag} is granted to a customer by entitlement {:?}",
                    ent.name
                )));
            }
        }
    }
    if removing.len() == targets.len() {
        return Err(Error::DeleteConflict(format!(
            "{repo} would have no tag left; delete the artifact instead"
        )));
    }
    Ok(())
}
