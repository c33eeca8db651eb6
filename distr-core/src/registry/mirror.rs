//! Storing manifests mirrored from an upstream registry (pull-through cache).

use bytes::Bytes;

use super::manifests::manifest_record;
use super::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::parse_manifest;
use crate::name::RepoName;
use crate::reference::TagName;
use crate::store::ManifestRecord;

impl Registry {
    /// Stores a manifest fetched from an upstream in `repo`, byte-for-byte,
    /// and points `tag` at it when given.
    ///
    /// Unlike [`put_manifest`](Self::put_manifest) the blobs and child
    /// manifests it references need not be present: a pull-through cache
    /// fetches them on demand. Everything else is checked the same way: the
    /// size limit, that `content` hashes to `digest` (with `digest`'s
    /// algorithm), and that it is a valid manifest of `media_type`. The
    /// record is built exactly as for a push (media type, subject, artifact
    /// type, annotations, config and layer blobs, children).
    ///
    /// When the digest is already stored the first record wins; the returned
    /// record is then the one built here (same bytes, possibly a later
    /// `created_at_ms`).
    pub async fn put_mirrored_manifest(
        &self,
        repo: &RepoName,
        tag: Option<&TagName>,
        digest: &Digest,
        media_type: &str,
        content: Bytes,
    ) -> Result<ManifestRecord> {
        self.check_manifest_size(&content)?;
        let actual = Digest::of(digest.algorithm(), &content);
        if &actual != digest {
            return Err(Error::DigestInvalid(format!(
                "manifest content has digest {actual}, not {digest}"
            )));
        }
        let parsed = parse_manifest(&content, Some(media_type))?;
        let record = manifest_record(actual, content, parsed);
        self.store.put_manifest(repo, &record, tag).await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::OCI_MANIFEST;
    use crate::reference::Reference;
    use crate::RegistryConfig;

    fn image() -> Bytes {
        Bytes::from(format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":3}}],"annotations":{{"a":"b"}}}}"#,
            Digest::sha256(b"{}"),
            Digest::sha256(b"abc")
        ))
    }

    #[tokio::test]
    async fn stores_without_blobs_with_the_push_record() {
        let reg = Registry::in_memory();
        let repo: RepoName = "acme/app".parse().unwrap();
        let tag: TagName = "v1".parse().unwrap();
        let content = image();
        let digest = Digest::sha256(&content);
        let rec = reg
            .put_mirrored_manifest(&repo, Some(&tag), &digest, OCI_MANIFEST, content.clone())
            .await
            .unwrap();
        assert_eq!(rec.digest, digest);
        assert_eq!(
            rec.blobs,
            vec![Digest::sha256(b"{}"), Digest::sha256(b"abc")]
        );
        assert_eq!(rec.annotations.get("a").map(String::as_str), Some("b"));
        let stored = reg.get_manifest(&repo, &Reference::Tag(tag)).await.unwrap();
        assert_eq!(stored.content, content);
        // A push of the same bytes would be refused: the blobs are missing.
        assert!(matches!(
            reg.put_manifest(&repo, &Reference::Digest(digest), None, content)
                .await,
            Err(Error::ManifestBlobUnknown(_))
        ));
    }

    #[tokio::test]
    async fn checks_digest_size_and_validity() {
        let repo: RepoName = "acme/app".parse().unwrap();
        let content = image();
        let reg = Registry::in_memory();
        let wrong = Digest::sha256(b"other");
        assert!(matches!(
            reg.put_mirrored_manifest(&repo, None, &wrong, OCI_MANIFEST, content.clone())
                .await,
            Err(Error::DigestInvalid(_))
        ));
        let garbage = Bytes::from_static(b"{}");
        assert!(matches!(
            reg.put_mirrored_manifest(
                &repo,
                None,
                &Digest::sha256(&garbage),
                OCI_MANIFEST,
                garbage
            )
            .await,
            Err(Error::ManifestInvalid(_))
        ));
        let small = Registry::new(
            reg.store().clone(),
            reg.blobs().clone(),
            RegistryConfig::default().with_max_manifest_size(10),
        );
        assert!(matches!(
            small
                .put_mirrored_manifest(
                    &repo,
                    None,
                    &Digest::sha256(&content),
                    OCI_MANIFEST,
                    content
                )
                .await,
            Err(Error::ManifestTooLarge { .. })
        ));
    }
}
