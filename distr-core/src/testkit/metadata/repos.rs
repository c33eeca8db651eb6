//! Repositories: the catalog, isolation between repositories, per-repository blob links and deleting a whole repository.

use crate::digest::Digest;
use crate::store::{BlobRecord, MetadataStore, Page, UploadRecord};
use crate::testkit::{manifest, repo, tag};

/// Blobs are linked per repository; unlinking touches one repository only.
pub async fn blobs_are_per_repository(store: &dyn MetadataStore) {
    let (a, b) = (repo("org/a"), repo("org/b"));
    let blob = BlobRecord {
        digest: Digest::sha256(b"blob"),
        size: 4,
    };
    assert_eq!(store.get_blob(&a, &blob.digest).await.unwrap(), None);
    store.link_blob(&a, &blob).await.unwrap();
    store.link_blob(&a, &blob).await.unwrap();
    assert_eq!(
        store.get_blob(&a, &blob.digest).await.unwrap(),
        Some(blob.clone())
    );
    assert_eq!(store.get_blob(&b, &blob.digest).await.unwrap(), None);
    assert!(store.repository_exists(&a).await.unwrap());
    assert!(!store.repository_exists(&b).await.unwrap());
    store.link_blob(&b, &blob).await.unwrap();
    assert!(store.unlink_blob(&a, &blob.digest).await.unwrap());
    assert!(!store.unlink_blob(&a, &blob.digest).await.unwrap());
    assert_eq!(store.get_blob(&a, &blob.digest).await.unwrap(), None);
    assert_eq!(store.get_blob(&b, &blob.digest).await.unwrap(), Some(blob));
    let empty = BlobRecord {
        digest: Digest::sha256(b""),
        size: 0,
    };
    store.link_blob(&a, &empty).await.unwrap();
    assert_eq!(
        store.get_blob(&a, &empty.digest).await.unwrap(),
        Some(empty)
    );
}

/// The catalog lists repositories with content, lexically, paged.
pub async fn catalog_lists_repositories_lexically(store: &dyn MetadataStore) {
    let names = ["org/b", "org/a/x", "org/a", "acme/z", "org/a-b"];
    for (i, n) in names.iter().enumerate() {
        store
            .link_blob(
                &repo(n),
                &BlobRecord {
                    digest: Digest::sha256(&[i as u8]),
                    size: 1,
                },
            )
            .await
            .unwrap();
    }
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let all: Vec<String> = store
        .list_repositories(&Page::default())
        .await
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(all, expected);
    let first2 = store
        .list_repositories(&Page {
            last: None,
            limit: Some(2),
        })
        .await
        .unwrap();
    assert_eq!(first2.len(), 2);
    let rest = store
        .list_repositories(&Page {
            last: Some(first2[1].to_string()),
            limit: None,
        })
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    assert_eq!(rest[0].to_string(), expected[2]);
}

/// Nothing stored in one repository is visible through another.
pub async fn repositories_are_isolated(store: &dyn MetadataStore) {
    let (a, b) = (repo("vendor-a/app"), repo("vendor-b/app"));
    let m = manifest("shared", None);
    store.put_manifest(&a, &m, Some(&tag("1.0"))).await.unwrap();
    assert_eq!(store.get_manifest(&b, &m.digest).await.unwrap(), None);
    assert_eq!(store.resolve_tag(&b, &tag("1.0")).await.unwrap(), None);
    assert!(!store.delete_manifest(&b, &m.digest).await.unwrap());
    assert!(!store.delete_tag(&b, &tag("1.0")).await.unwrap());
    assert_eq!(
        store.resolve_tag(&a, &tag("1.0")).await.unwrap(),
        Some(m.digest)
    );
}

/// Deleting a repository removes its blobs, manifests, tags, referrers and
/// uploads, and nothing of any other repository.
pub async fn deleting_a_repository_removes_everything_in_it(store: &dyn MetadataStore) {
    let (r, other) = (repo("org/app"), repo("org/app/sub"));
    let blob = BlobRecord {
        digest: Digest::sha256(b"layer"),
        size: 5,
    };
    let subject = manifest("subject", None);
    let sig = manifest("sig", Some(&subject.digest));
    for x in [&r, &other] {
        store.link_blob(x, &blob).await.unwrap();
        store
            .put_manifest(x, &subject, Some(&tag("1.0")))
            .await
            .unwrap();
        store.put_manifest(x, &sig, None).await.unwrap();
    }
    let up = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-0000000000aa".into(),
        repo: r.clone(),
        parts: vec![],
        created_at_ms: 1,
    };
    store.create_upload(&up).await.unwrap();
    assert!(store.delete_repository(&r).await.unwrap());
    assert!(!store.repository_exists(&r).await.unwrap());
    assert_eq!(store.get_blob(&r, &blob.digest).await.unwrap(), None);
    assert_eq!(store.get_manifest(&r, &subject.digest).await.unwrap(), None);
    assert_eq!(store.resolve_tag(&r, &tag("1.0")).await.unwrap(), None);
    assert!(store
        .list_referrers(&r, &subject.digest)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .manifests_with_blob(&r, &subject.blobs[0])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.get_upload(&r, &up.id).await.unwrap(), None);
    let catalog: Vec<String> = store
        .list_repositories(&Page::default())
        .await
        .unwrap()
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert_eq!(catalog, vec!["org/app/sub".to_string()]);
    // The other repository is untouched.
    assert_eq!(
        store.resolve_tag(&other, &tag("1.0")).await.unwrap(),
        Some(subject.digest.clone())
    );
    assert_eq!(
        store
            .list_referrers(&other, &subject.digest)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!store.delete_repository(&r).await.unwrap());
    // The name can be used again.
    store
        .put_manifest(&r, &subject, Some(&tag("2.0")))
        .await
        .unwrap();
    assert_eq!(
        store.list_tags(&r, &Page::default()).await.unwrap(),
        vec![tag("2.0")]
    );
}
