//! Manifests: byte-for-byte storage, deletion with their tags, the referrers index and the reverse lookups.

use crate::digest::Digest;
use crate::store::{ManifestRecord, MetadataStore, Page};
use crate::testkit::{manifest, repo, tag};
use bytes::Bytes;

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
