//! Store conformance suites: [`MetadataStore`] here, [`crate::access::AccessStore`]
//! in [`access`].
//!
//! Written once, run against every backend: a backend's tests call
//! [`run_all`] (or each case) with a fresh store. Enabled for other crates by
//! the `testkit` feature.

pub mod access;
pub mod analytics;
pub mod claims;
pub mod gc;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::name::RepoName;
use crate::reference::TagName;
use crate::store::{BlobRecord, ManifestRecord, MetadataStore, Page, UploadPart, UploadRecord};

fn repo(s: &str) -> RepoName {
    s.parse().expect("test repository name")
}

fn tag(s: &str) -> TagName {
    s.parse().expect("test tag")
}

/// A manifest record with distinct content derived from `seed`.
pub fn manifest(seed: &str, subject: Option<&Digest>) -> ManifestRecord {
    let content = Bytes::from(format!("{{\"schemaVersion\":2,\"seed\":\"{seed}\"}}"));
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.seed".to_owned(), seed.to_owned());
    ManifestRecord {
        digest: Digest::sha256(&content),
        media_type: crate::manifest::OCI_MANIFEST.to_owned(),
        content,
        subject: subject.cloned(),
        artifact_type: Some("application/vnd.example.sig".to_owned()),
        annotations,
        blobs: vec![Digest::sha256(seed.as_bytes())],
        children: vec![Digest::sha256(format!("child-{seed}").as_bytes())],
        created_at_ms: 1_700_000_000_000,
    }
}

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn MetadataStore>>,
{
    blobs_are_per_repository(&*make().await).await;
    manifests_roundtrip_byte_for_byte(&*make().await).await;
    tags_move_list_and_delete(&*make().await).await;
    tag_pagination_is_lexical(&*make().await).await;
    deleting_a_manifest_removes_its_tags(&*make().await).await;
    referrers_are_per_subject(&*make().await).await;
    catalog_lists_repositories_lexically(&*make().await).await;
    upload_sessions_compare_and_set(&*make().await).await;
    repositories_are_isolated(&*make().await).await;
    reverse_lookups_find_tags_parents_and_blob_users(&*make().await).await;
    deleting_a_repository_removes_everything_in_it(&*make().await).await;
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

/// Tag targets, index parents and blob users are found per repository.
pub async fn reverse_lookups_find_tags_parents_and_blob_users(store: &dyn MetadataStore) {
    let (r, other) = (repo("org/app"), repo("org/other"));
    let mut child = manifest("child", None);
    child.children.clear();
    child.blobs = vec![Digest::sha256(b"config"), Digest::sha256(b"layer")];
    let mut sibling = manifest("sibling", None);
    sibling.children.clear();
    sibling.blobs = vec![Digest::sha256(b"config")];
    let mut index_a = manifest("index-a", None);
    index_a.blobs.clear();
    index_a.children = vec![child.digest.clone(), sibling.digest.clone()];
    let mut index_b = manifest("index-b", None);
    index_b.blobs.clear();
    index_b.children = vec![child.digest.clone()];
    for m in [&child, &sibling] {
        store.put_manifest(&r, m, None).await.unwrap();
    }
    store
        .put_manifest(&r, &index_a, Some(&tag("2.0")))
        .await
        .unwrap();
    store
        .put_manifest(&r, &index_b, Some(&tag("1.0")))
        .await
        .unwrap();
    store
        .put_manifest(&r, &index_b, Some(&tag("latest")))
        .await
        .unwrap();
    store
        .put_manifest(&other, &sibling, Some(&tag("9.9")))
        .await
        .unwrap();

    let targets = store.list_tag_targets(&r).await.unwrap();
    assert_eq!(
        targets,
        vec![
            (tag("1.0"), index_b.digest.clone()),
            (tag("2.0"), index_a.digest.clone()),
            (tag("latest"), index_b.digest.clone())
        ]
    );
    assert!(store
        .list_tag_targets(&repo("org/none"))
        .await
        .unwrap()
        .is_empty());

    let mut parents = vec![index_a.digest.clone(), index_b.digest.clone()];
    parents.sort();
    assert_eq!(
        store.manifest_parents(&r, &child.digest).await.unwrap(),
        parents
    );
    assert_eq!(
        store.manifest_parents(&r, &sibling.digest).await.unwrap(),
        vec![index_a.digest.clone()]
    );
    assert!(store
        .manifest_parents(&r, &index_a.digest)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .manifest_parents(&other, &child.digest)
        .await
        .unwrap()
        .is_empty());

    let mut users = vec![child.digest.clone(), sibling.digest.clone()];
    users.sort();
    assert_eq!(
        store
            .manifests_with_blob(&r, &Digest::sha256(b"config"))
            .await
            .unwrap(),
        users
    );
    assert_eq!(
        store
            .manifests_with_blob(&r, &Digest::sha256(b"layer"))
            .await
            .unwrap(),
        vec![child.digest.clone()]
    );
    assert!(store
        .manifests_with_blob(&other, &Digest::sha256(b"layer"))
        .await
        .unwrap()
        .is_empty());

    store.delete_manifest(&r, &index_a.digest).await.unwrap();
    assert_eq!(
        store.manifest_parents(&r, &child.digest).await.unwrap(),
        vec![index_b.digest.clone()]
    );
}

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

/// A manifest comes back exactly as stored, with every parsed field.
pub async fn manifests_roundtrip_byte_for_byte(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let subject = Digest::sha256(b"subject");
    let mut m = manifest("one", Some(&subject));
    m.content = Bytes::from_static(b"{ \"schemaVersion\": 2,\n  \"odd\" :\t\"spacing\" }");
    m.digest = Digest::sha256(&m.content);
    store.put_manifest(&r, &m, None).await.unwrap();
    assert_eq!(
        store.get_manifest(&r, &m.digest).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store
            .get_manifest(&repo("org/other"), &m.digest)
            .await
            .unwrap(),
        None
    );
    // Re-putting is idempotent.
    store.put_manifest(&r, &m, None).await.unwrap();
    assert_eq!(
        store.get_manifest(&r, &m.digest).await.unwrap(),
        Some(m.clone())
    );
    let mut plain = manifest("two", None);
    plain.artifact_type = None;
    plain.annotations.clear();
    plain.blobs.clear();
    plain.children.clear();
    store.put_manifest(&r, &plain, None).await.unwrap();
    assert_eq!(
        store.get_manifest(&r, &plain.digest).await.unwrap(),
        Some(plain)
    );
    assert!(store.repository_exists(&r).await.unwrap());
}

/// Tags point at manifests, move when re-pushed, and can be deleted alone.
pub async fn tags_move_list_and_delete(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let (m1, m2) = (manifest("1", None), manifest("2", None));
    store
        .put_manifest(&r, &m1, Some(&tag("latest")))
        .await
        .unwrap();
    assert_eq!(
        store.resolve_tag(&r, &tag("latest")).await.unwrap(),
        Some(m1.digest.clone())
    );
    store
        .put_manifest(&r, &m2, Some(&tag("latest")))
        .await
        .unwrap();
    assert_eq!(
        store.resolve_tag(&r, &tag("latest")).await.unwrap(),
        Some(m2.digest.clone())
    );
    store.put_manifest(&r, &m1, Some(&tag("v1"))).await.unwrap();
    let all = store.list_tags(&r, &Page::default()).await.unwrap();
    assert_eq!(all, vec![tag("latest"), tag("v1")]);
    assert!(store.delete_tag(&r, &tag("latest")).await.unwrap());
    assert!(!store.delete_tag(&r, &tag("latest")).await.unwrap());
    assert_eq!(store.resolve_tag(&r, &tag("latest")).await.unwrap(), None);
    // The manifest stays after its tag is deleted.
    assert!(store.get_manifest(&r, &m2.digest).await.unwrap().is_some());
    assert_eq!(
        store
            .resolve_tag(&repo("org/other"), &tag("v1"))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .list_tags(&repo("org/none"), &Page::default())
        .await
        .unwrap()
        .is_empty());
}

/// Tag listing is byte-wise lexical, paged by `last` and `limit`.
pub async fn tag_pagination_is_lexical(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let m = manifest("x", None);
    let names = [
        "v10", "V2", "a", "_x", "1.0", "1.10", "1.9", "B", "b-1", "b.1", "b_1",
    ];
    for n in names {
        store.put_manifest(&r, &m, Some(&tag(n))).await.unwrap();
    }
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let all: Vec<String> = store
        .list_tags(&r, &Page::default())
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(all, expected);
    let mut paged = Vec::new();
    let mut last = None;
    loop {
        let page = store
            .list_tags(
                &r,
                &Page {
                    last: last.clone(),
                    limit: Some(3),
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        last = Some(page.last().unwrap().to_string());
        paged.extend(page.iter().map(|t| t.to_string()));
    }
    assert_eq!(paged, expected);
    let after_b = store
        .list_tags(
            &r,
            &Page {
                last: Some("b".into()),
                limit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        after_b.first().map(|t| t.to_string()),
        Some("b-1".to_string())
    );
    assert!(store
        .list_tags(
            &r,
            &Page {
                last: None,
                limit: Some(0)
            }
        )
        .await
        .unwrap()
        .is_empty());
}

/// Deleting a manifest by digest removes every tag pointing at it.
pub async fn deleting_a_manifest_removes_its_tags(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let (m1, m2) = (manifest("1", None), manifest("2", None));
    store.put_manifest(&r, &m1, Some(&tag("a"))).await.unwrap();
    store.put_manifest(&r, &m1, Some(&tag("b"))).await.unwrap();
    store.put_manifest(&r, &m2, Some(&tag("c"))).await.unwrap();
    assert!(store.delete_manifest(&r, &m1.digest).await.unwrap());
    assert!(!store.delete_manifest(&r, &m1.digest).await.unwrap());
    assert_eq!(store.get_manifest(&r, &m1.digest).await.unwrap(), None);
    assert_eq!(
        store.list_tags(&r, &Page::default()).await.unwrap(),
        vec![tag("c")]
    );
}

/// Referrers are found by subject, within one repository, ordered by digest.
pub async fn referrers_are_per_subject(store: &dyn MetadataStore) {
    let (r, other) = (repo("org/app"), repo("org/other"));
    let subject = manifest("subject", None);
    store
        .put_manifest(&r, &subject, Some(&tag("v1")))
        .await
        .unwrap();
    let mut refs: Vec<ManifestRecord> = (0..4)
        .map(|i| manifest(&format!("sig{i}"), Some(&subject.digest)))
        .collect();
    for m in &refs {
        store.put_manifest(&r, m, None).await.unwrap();
    }
    store
        .put_manifest(&other, &manifest("elsewhere", Some(&subject.digest)), None)
        .await
        .unwrap();
    store
        .put_manifest(
            &r,
            &manifest("unrelated", Some(&Digest::sha256(b"nope"))),
            None,
        )
        .await
        .unwrap();
    refs.sort_by(|a, b| a.digest.cmp(&b.digest));
    assert_eq!(
        store.list_referrers(&r, &subject.digest).await.unwrap(),
        refs
    );
    assert!(store
        .list_referrers(&r, &refs[0].digest)
        .await
        .unwrap()
        .is_empty());
    store.delete_manifest(&r, &refs[0].digest).await.unwrap();
    assert_eq!(
        store
            .list_referrers(&r, &subject.digest)
            .await
            .unwrap()
            .len(),
        3
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

/// Upload sessions are per repository and updated by compare-and-set.
pub async fn upload_sessions_compare_and_set(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let mut up = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000001".into(),
        repo: r.clone(),
        parts: vec![],
        created_at_ms: 1,
    };
    store.create_upload(&up).await.unwrap();
    assert!(matches!(
        store.create_upload(&up).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_upload(&r, &up.id).await.unwrap(),
        Some(up.clone())
    );
    assert_eq!(
        store.get_upload(&repo("org/other"), &up.id).await.unwrap(),
        None
    );
    up.parts.push(UploadPart {
        key: "p1".into(),
        size: 10,
    });
    store.update_upload(&up, 0).await.unwrap();
    up.parts.push(UploadPart {
        key: "p2".into(),
        size: 5,
    });
    // A stale writer that still thinks the upload is empty loses.
    assert!(matches!(
        store.update_upload(&up, 0).await,
        Err(StoreError::Conflict(_))
    ));
    store.update_upload(&up, 10).await.unwrap();
    let got = store.get_upload(&r, &up.id).await.unwrap().unwrap();
    assert_eq!((got.size(), got.parts.len()), (15, 2));
    assert!(!store
        .delete_upload(&repo("org/other"), &up.id)
        .await
        .unwrap());
    assert!(store.delete_upload(&r, &up.id).await.unwrap());
    assert_eq!(store.get_upload(&r, &up.id).await.unwrap(), None);
    assert!(matches!(
        store.update_upload(&up, 15).await,
        Err(StoreError::Conflict(_))
    ));
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_conforms() {
        super::run_all(|| async { std::sync::Arc::new(crate::store::MemoryStore::new()) as _ })
            .await;
    }
}
