//! Concurrency: many writers at once, racing chunk appends and pushes racing
//! deletes. Each case takes the *views* of one store: one handle for a
//! single-process backend, several for a shared database (replicas with
//! pools of their own); the tasks are spread over them. Call from a
//! multi-threaded runtime so that the tasks really run in parallel.

use std::sync::Arc;

use crate::digest::Digest;
use crate::error::StoreError;
use crate::store::{BlobRecord, MetadataStore, Page, UploadPart, UploadRecord};
use crate::testkit::{manifest, repo, tag};

/// The views of one fresh store.
pub type Views = Vec<Arc<dyn MetadataStore>>;

/// Runs every concurrency case, each on the views of a fresh store from
/// `make` (which must return at least one view).
pub async fn run_concurrent<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Views>,
{
    concurrent_writers_all_succeed(&make().await).await;
    concurrent_chunks_exactly_one_wins(&make().await).await;
    pushes_racing_deletes_never_fail(&make().await).await;
}

/// The repository of writer `i`: half the writers share one, half have
/// their own.
fn writer_repo(i: usize) -> crate::name::RepoName {
    if i.is_multiple_of(2) {
        repo("org/shared")
    } else {
        repo(&format!("org/app-{i}"))
    }
}

/// Fifty writers linking a blob, pushing a manifest with a tag of their own
/// and moving a shared tag all succeed, and everything they wrote is there.
pub async fn concurrent_writers_all_succeed(views: &[Arc<dyn MetadataStore>]) {
    let writers: Vec<_> = (0..50usize)
        .map(|i| {
            let store = views[i % views.len()].clone();
            tokio::spawn(async move {
                let r = writer_repo(i);
                let blob = BlobRecord {
                    digest: Digest::sha256(format!("blob-{i}").as_bytes()),
                    size: i as u64,
                };
                store.link_blob(&r, &blob).await?;
                store
                    .put_manifest(
                        &r,
                        &manifest(&format!("m-{i}"), None),
                        Some(&tag(&format!("t{i}"))),
                    )
                    .await?;
                store
                    .put_manifest(&r, &manifest("common", None), Some(&tag("latest")))
                    .await?;
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let store = &views[0];
    let all = Page::default();
    let shared = repo("org/shared");
    assert_eq!(store.list_tags(&shared, &all).await.unwrap().len(), 25 + 1);
    assert_eq!(store.list_repositories(&all).await.unwrap().len(), 25 + 1);
    for i in 0..50usize {
        let r = writer_repo(i);
        let digest = Digest::sha256(format!("blob-{i}").as_bytes());
        assert_eq!(
            store.get_blob(&r, &digest).await.unwrap(),
            Some(BlobRecord {
                digest,
                size: i as u64
            })
        );
        let m = manifest(&format!("m-{i}"), None);
        assert_eq!(
            store.resolve_tag(&r, &tag(&format!("t{i}"))).await.unwrap(),
            Some(m.digest)
        );
    }
}

/// Twenty appends of a chunk to the same upload session, all expecting it
/// empty: exactly one wins, the others are conflicts.
pub async fn concurrent_chunks_exactly_one_wins(views: &[Arc<dyn MetadataStore>]) {
    let r = repo("org/app");
    let up = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000003".into(),
        repo: r.clone(),
        parts: vec![],
        created_at_ms: 1,
    };
    views[0].create_upload(&up).await.unwrap();
    let racers: Vec<_> = (0..20usize)
        .map(|i| {
            let (store, mut up) = (views[i % views.len()].clone(), up.clone());
            tokio::spawn(async move {
                up.parts.push(UploadPart {
                    key: format!("chunk-{i}"),
                    size: 10,
                });
                store.update_upload(&up, 0).await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        views[0]
            .get_upload(&r, &up.id)
            .await
            .unwrap()
            .unwrap()
            .size(),
        10
    );
}

/// Pushes of one manifest under new tags racing its deletion never fail,
/// and whatever the interleaving, no tag outlives its manifest.
pub async fn pushes_racing_deletes_never_fail(views: &[Arc<dyn MetadataStore>]) {
    let r = repo("org/app");
    let m = manifest("contended", None);
    let tasks: Vec<_> = (0..8usize)
        .map(|i| {
            let (store, r, m) = (views[i % views.len()].clone(), r.clone(), m.clone());
            tokio::spawn(async move {
                for n in 0..25 {
                    if i.is_multiple_of(2) {
                        store
                            .put_manifest(&r, &m, Some(&tag(&format!("t{i}-{n}"))))
                            .await?;
                    } else {
                        store.delete_manifest(&r, &m.digest).await?;
                    }
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let store = &views[0];
    let tags = store.list_tags(&r, &Page::default()).await.unwrap();
    if store.get_manifest(&r, &m.digest).await.unwrap().is_none() {
        assert!(tags.is_empty(), "dangling tags {tags:?}");
    }
    for t in tags {
        assert_eq!(
            store.resolve_tag(&r, &t).await.unwrap(),
            Some(m.digest.clone())
        );
    }
}
