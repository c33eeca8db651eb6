//! Manifest push, pull and deletion.

use bytes::Bytes;

use super::{now_ms, Registry};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, Result};
use crate::manifest::{parse_manifest, ParsedManifest};
use crate::name::RepoName;
use crate::reference::{Reference, TagName};
use crate::store::ManifestRecord;

/// The stored record of a parsed manifest: what pushes and pull-through
/// mirroring both store.
pub(super) fn manifest_record(
    digest: Digest,
    content: Bytes,
    parsed: ParsedManifest,
) -> ManifestRecord {
    ManifestRecord {
        digest,
        media_type: parsed.media_type,
        content,
        subject: parsed.subject,
        artifact_type: parsed.artifact_type,
        annotations: parsed.annotations,
        blobs: parsed
            .config
            .iter()
            .chain(&parsed.layers)
            .map(|d| d.digest.clone())
            .collect(),
        children: parsed.manifests.iter().map(|d| d.digest.clone()).collect(),
        created_at_ms: now_ms(),
    }
}

/// The outcome of a manifest push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedManifest {
    /// Digest of the stored bytes.
    pub digest: Digest,
    /// The subject, when the manifest has one (sent back as `OCI-Subject`).
    pub subject: Option<Digest>,
    /// The tags set from the push's tag parameters, in request order without
    /// repeats (sent back as one `OCI-Tag` header each).
    pub tags: Vec<TagName>,
}

impl Registry {
    /// Stores `content` in `repo` under `reference` (a tag, or the digest the
    /// content must hash to). Every blob and child manifest it references
    /// must already be in `repo`.
    pub async fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
    ) -> Result<PushedManifest> {
        self.put_manifest_tagged(repo, reference, content_type, content, &[])
            .await
    }

    /// [`Registry::put_manifest`] with the distribution-spec's tag
    /// parameters (`PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`): the
    /// manifest is stored by digest and each of `tags` is pointed at it.
    ///
    /// Tags are only accepted with a digest reference (TAG_INVALID otherwise),
    /// and every check runs before anything is stored. The manifest and its
    /// first tag are one store write; each further tag is one more, so a
    /// store failure part-way leaves the manifest with the tags already set
    /// (each of which is a complete, valid state).
    pub async fn put_manifest_tagged(
        &self,
        repo: &RepoName,
        reference: &Reference,
        content_type: Option<&str>,
        content: Bytes,
        tags: &[TagName],
    ) -> Result<PushedManifest> {
        self.check_manifest_size(&content)?;
        let digest = match reference {
            Reference::Digest(want) => {
                let actual = Digest::of(want.algorithm(), &content);
                if &actual != want {
                    return Err(Error::DigestInvalid(format!(
                        "manifest content has digest {actual}, not {want}"
                    )));
                }
                actual
            }
            Reference::Tag(t) if !tags.is_empty() => {
                return Err(Error::TagInvalid(format!(
                    "tag parameters need a push by digest, not by tag {t}"
                )));
            }
            Reference::Tag(_) => Digest::of(Algorithm::Sha256, &content),
        };
        let parsed = parse_manifest(&content, content_type)?;
        self.check_references(repo, &parsed).await?;
        let subject = parsed.subject.clone();
        let record = manifest_record(digest.clone(), content, parsed);
        let mut applied: Vec<TagName> = Vec::with_capacity(tags.len());
        for t in tags {
            if !applied.contains(t) {
                applied.push(t.clone());
            }
        }
        let first = match reference {
            Reference::Tag(t) => Some(t),
            Reference::Digest(_) => applied.first(),
        };
        self.store.put_manifest(repo, &record, first).await?;
        for t in applied.iter().skip(1) {
            self.store.put_manifest(repo, &record, Some(t)).await?;
        }
        Ok(PushedManifest {
            digest,
            subject,
            tags: applied,
        })
    }

    /// MANIFEST_INVALID (too large) when `content` exceeds the size limit.
    pub(super) fn check_manifest_size(&self, content: &Bytes) -> Result<()> {
        let limit = self.config.max_manifest_size;
        if content.len() as u64 > limit {
            return Err(Error::ManifestTooLarge {
                size: content.len() as u64,
                limit,
            });
        }
        Ok(())
    }

    async fn check_references(&self, repo: &RepoName, parsed: &ParsedManifest) -> Result<()> {
        for d in parsed
            .config
            .iter()
            .chain(&parsed.layers)
            .filter(|d| !d.non_distributable)
        {
            if self.store.get_blob(repo, &d.digest).await?.is_none() {
                return Err(Error::ManifestBlobUnknown(d.digest.clone()));
            }
        }
        for d in &parsed.manifests {
            if self.store.get_manifest(repo, &d.digest).await?.is_none() {
                return Err(Error::ManifestBlobUnknown(d.digest.clone()));
            }
        }
        Ok(())
    }

    /// The manifest `reference` names in `repo`.
    pub async fn get_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<ManifestRecord> {
        let digest = match reference {
            Reference::Digest(d) => d.clone(),
            Reference::Tag(t) => match self.store.resolve_tag(repo, t).await? {
                Some(d) => d,
                None => return Err(self.manifest_unknown(repo, reference).await),
            },
        };
        match self.store.get_manifest(repo, &digest).await? {
            Some(m) => Ok(m),
            None => Err(self.manifest_unknown(repo, reference).await),
        }
    }

    /// Deletes a tag (the manifest stays) or a manifest by digest (with every
    /// tag pointing at it).
    pub async fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let existed = match reference {
            Reference::Tag(t) => self.store.delete_tag(repo, t).await?,
            Reference::Digest(d) => self.store.delete_manifest(repo, d).await?,
        };
        if existed {
            Ok(())
        } else {
            Err(self.manifest_unknown(repo, reference).await)
        }
    }

    /// NAME_UNKNOWN when the repository does not exist, else MANIFEST_UNKNOWN.
    async fn manifest_unknown(&self, repo: &RepoName, reference: &Reference) -> Error {
        match self.store.repository_exists(repo).await {
            Ok(false) => Error::NameUnknown,
            Ok(true) => Error::ManifestUnknown(format!("{repo}:{reference}")),
            Err(e) => e.into(),
        }
    }
}
