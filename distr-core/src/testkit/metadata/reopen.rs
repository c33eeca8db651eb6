//! Persistence: what a store wrote is all there after it is closed and
//! opened again. Opening and closing are the backend's (a file for SQLite, a
//! reconnection for Postgres), so its test calls [`Sample::write`] on the
//! first store and [`Sample::check`] on the reopened one.

use crate::digest::Digest;
use crate::name::RepoName;
use crate::store::{BlobRecord, ManifestRecord, MetadataStore, Page, UploadPart, UploadRecord};
use crate::testkit::{manifest, repo, tag};

/// A blob link, a tagged manifest, a tagged referrer of it and an upload
/// session in one repository.
#[derive(Debug, Clone)]
pub struct Sample {
    repo: RepoName,
    subject: ManifestRecord,
    referrer: ManifestRecord,
    blob: BlobRecord,
    upload: UploadRecord,
}

impl Default for Sample {
    fn default() -> Self {
        let repo = repo("org/app");
        let subject = manifest("subject", None);
        let referrer = manifest("sig", Some(&subject.digest));
        let upload = UploadRecord {
            id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000002".into(),
            repo: repo.clone(),
            parts: vec![UploadPart {
                key: "p1".into(),
                size: 7,
            }],
            created_at_ms: 42,
        };
        Self {
            repo,
            subject,
            referrer,
            blob: BlobRecord {
                digest: Digest::sha256(b"layer"),
                size: 5,
            },
            upload,
        }
    }
}

impl Sample {
    /// The sample's repository.
    pub fn repo(&self) -> &RepoName {
        &self.repo
    }

    /// The sample's blob link.
    pub fn blob(&self) -> &BlobRecord {
        &self.blob
    }

    /// Writes the sample to `store`.
    pub async fn write(&self, store: &dyn MetadataStore) {
        let r = &self.repo;
        store.link_blob(r, &self.blob).await.unwrap();
        store
            .put_manifest(r, &self.subject, Some(&tag("v1")))
            .await
            .unwrap();
        store
            .put_manifest(r, &self.referrer, Some(&tag("sig")))
            .await
            .unwrap();
        store.create_upload(&self.upload).await.unwrap();
    }

    /// Asserts that `store` holds the sample, and nothing else.
    pub async fn check(&self, store: &dyn MetadataStore) {
        let r = &self.repo;
        let (subject, referrer) = (&self.subject, &self.referrer);
        assert_eq!(
            store
                .get_manifest(r, &referrer.digest)
                .await
                .unwrap()
                .as_ref(),
            Some(referrer)
        );
        assert_eq!(
            store
                .get_manifest(r, &subject.digest)
                .await
                .unwrap()
                .as_ref(),
            Some(subject)
        );
        assert_eq!(
            store.resolve_tag(r, &tag("v1")).await.unwrap(),
            Some(subject.digest.clone())
        );
        assert_eq!(
            store.list_tags(r, &Page::default()).await.unwrap(),
            vec![tag("sig"), tag("v1")]
        );
        assert_eq!(
            store.list_referrers(r, &subject.digest).await.unwrap(),
            vec![referrer.clone()]
        );
        assert_eq!(
            store.get_blob(r, &self.blob.digest).await.unwrap().as_ref(),
            Some(&self.blob)
        );
        assert_eq!(
            store.get_upload(r, &self.upload.id).await.unwrap().as_ref(),
            Some(&self.upload)
        );
        assert_eq!(
            store.list_repositories(&Page::default()).await.unwrap(),
            vec![r.clone()]
        );
    }
}
