//! Conformance cases of the garbage-collection and eviction methods of
//! [`MetadataStore`]; every backend runs [`run_all`].

use std::sync::Arc;

use super::{manifest, repo};
use crate::digest::Digest;
use crate::store::{BlobHolder, BlobRecord, MetadataStore, UploadPart, UploadRecord};

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn MetadataStore>>,
{
    holders_cover_links_and_manifests(&*make().await).await;
    candidates_keep_their_first_mark(&*make().await).await;
    stale_uploads_are_found_by_age(&*make().await).await;
    pulls_keep_the_latest_time(&*make().await).await;
}

/// Digests sorted as the store orders them.
fn sorted(mut ds: Vec<Digest>) -> Vec<Digest> {
    ds.sort_by_key(|d| d.to_string());
    ds
}

/// Links, manifests listing a blob and manifests with the digest each make
/// a holder, per repository, flagged by kind.
pub async fn holders_cover_links_and_manifests(store: &dyn MetadataStore) {
    let (a, b, c) = (repo("org/a"), repo("org/b"), repo("org/c"));
    let linked = Digest::sha256(b"linked");
    let nobody = Digest::sha256(b"nobody");
    let mut m = manifest("m", None);
    m.children.clear();
    m.blobs = vec![linked.clone(), Digest::sha256(b"listed")];
    let listed = m.blobs[1].clone();
    store
        .link_blob(
            &a,
            &BlobRecord {
                digest: linked.clone(),
                size: 6,
            },
        )
        .await
        .unwrap();
    store.put_manifest(&b, &m, None).await.unwrap();
    store
        .link_blob(
            &c,
            &BlobRecord {
                digest: listed.clone(),
                size: 6,
            },
        )
        .await
        .unwrap();
    let asked = vec![
        linked.clone(),
        listed.clone(),
        nobody.clone(),
        m.digest.clone(),
        linked.clone(),
    ];
    let got = store.blob_holders(&asked).await.unwrap();
    let holder =
        |digest: &Digest, repo: &crate::RepoName, linked: bool, referenced: bool| BlobHolder {
            digest: digest.clone(),
            repo: repo.clone(),
            linked,
            referenced,
        };
    let mut want = vec![
        holder(&linked, &a, true, false),
        holder(&linked, &b, false, true),
        holder(&listed, &b, false, true),
        holder(&listed, &c, true, false),
        holder(&m.digest, &b, false, true),
    ];
    want.sort_by_key(|h| (h.digest.to_string(), h.repo.to_string()));
    assert_eq!(got, want);
    assert!(store.blob_holders(&[nobody]).await.unwrap().is_empty());
    assert!(store.blob_holders(&[]).await.unwrap().is_empty());
    // Holders go with what held.
    store.delete_manifest(&b, &m.digest).await.unwrap();
    store.unlink_blob(&a, &linked).await.unwrap();
    assert!(store.blob_holders(&[linked]).await.unwrap().is_empty());
    assert_eq!(
        store
            .blob_holders(std::slice::from_ref(&listed))
            .await
            .unwrap(),
        vec![holder(&listed, &c, true, false)]
    );
}

/// Candidates keep the time they were first marked; clearing and
/// forgetting remove them.
pub async fn candidates_keep_their_first_mark(store: &dyn MetadataStore) {
    let [x, y, z] = [b"x", b"y", b"z"].map(|s| Digest::sha256(s));
    store
        .mark_gc_candidates(&[x.clone(), y.clone()], 100)
        .await
        .unwrap();
    store
        .mark_gc_candidates(&[y.clone(), z.clone(), z.clone()], 200)
        .await
        .unwrap();
    store.mark_gc_candidates(&[], 300).await.unwrap();
    assert!(store.gc_candidates(99).await.unwrap().is_empty());
    assert_eq!(
        store.gc_candidates(150).await.unwrap(),
        sorted(vec![x.clone(), y.clone()])
    );
    assert_eq!(
        store.gc_candidates(200).await.unwrap(),
        sorted(vec![x.clone(), y.clone(), z.clone()])
    );
    store
        .clear_gc_candidates(std::slice::from_ref(&y))
        .await
        .unwrap();
    store.clear_gc_candidates(&[]).await.unwrap();
    assert_eq!(
        store.gc_candidates(i64::MAX).await.unwrap(),
        sorted(vec![x.clone(), z.clone()])
    );
    store.forget_blobs(std::slice::from_ref(&x)).await.unwrap();
    assert_eq!(
        store.gc_candidates(i64::MAX).await.unwrap(),
        vec![z.clone()]
    );
    // A cleared digest marked again gets the new time.
    store
        .mark_gc_candidates(std::slice::from_ref(&y), 500)
        .await
        .unwrap();
    assert_eq!(store.gc_candidates(499).await.unwrap(), vec![z]);
}

/// Upload sessions of any repository are found by creation time.
pub async fn stale_uploads_are_found_by_age(store: &dyn MetadataStore) {
    let old = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-0000000000c1".into(),
        repo: repo("org/x"),
        parts: vec![UploadPart {
            key: "p1".into(),
            size: 3,
        }],
        created_at_ms: 100,
    };
    let new = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-0000000000c0".into(),
        repo: repo("org/y"),
        parts: vec![],
        created_at_ms: 300,
    };
    let older = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-0000000000c2".into(),
        repo: repo("org/y/z"),
        parts: vec![],
        created_at_ms: 50,
    };
    for u in [&old, &new, &older] {
        store.create_upload(u).await.unwrap();
    }
    assert!(store.list_stale_uploads(50).await.unwrap().is_empty());
    assert_eq!(
        store.list_stale_uploads(300).await.unwrap(),
        vec![old.clone(), older.clone()]
    );
    store.delete_upload(&old.repo, &old.id).await.unwrap();
    assert_eq!(
        store.list_stale_uploads(i64::MAX).await.unwrap(),
        vec![new, older]
    );
}

/// A blob's pull time only moves forward; forgetting removes it.
pub async fn pulls_keep_the_latest_time(store: &dyn MetadataStore) {
    let (d, e, never) = (
        Digest::sha256(b"d"),
        Digest::sha256(b"e"),
        Digest::sha256(b"never"),
    );
    store.touch_blob(&d, 100).await.unwrap();
    store.touch_blob(&d, 50).await.unwrap();
    store.touch_blob(&e, 7).await.unwrap();
    assert_eq!(
        store.blob_pulls(&[d.clone(), never.clone()]).await.unwrap(),
        vec![(d.clone(), 100)]
    );
    store.touch_blob(&d, 300).await.unwrap();
    let mut want = vec![(d.clone(), 300), (e.clone(), 7)];
    want.sort_by_key(|(x, _)| x.to_string());
    assert_eq!(
        store
            .blob_pulls(&[e.clone(), d.clone(), never.clone()])
            .await
            .unwrap(),
        want
    );
    assert!(store.blob_pulls(&[]).await.unwrap().is_empty());
    store.forget_blobs(std::slice::from_ref(&d)).await.unwrap();
    assert_eq!(
        store.blob_pulls(&[d, e.clone()]).await.unwrap(),
        vec![(e, 7)]
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
