use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::blob::once;
use crate::name::RepoName;
use crate::registry::{Registry, RegistryConfig};
use crate::store::{BlobRecord, ManifestRecord, MemoryStore, UploadPart, UploadRecord};

const HOUR: i64 = 60 * 60 * 1000;

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn now() -> i64 {
    crate::registry::now_ms()
}

struct Fixture {
    store: Arc<dyn MetadataStore>,
    blobs: BlobStore,
    gc: GarbageCollector,
}

fn fixture(grace: Duration) -> Fixture {
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let blobs = BlobStore::in_memory();
    let config = GcConfig::default()
        .with_grace(grace)
        .with_upload_ttl(Duration::from_secs(3600));
    let gc = GarbageCollector::new(store.clone(), blobs.clone(), config);
    Fixture { store, blobs, gc }
}

impl Fixture {
    /// Stores `content` as a blob linked to `repo`.
    async fn blob(&self, repo: &RepoName, content: &[u8]) -> Digest {
        let digest = Digest::sha256(content);
        let bytes = Bytes::copy_from_slice(content);
        self.blobs
            .write_verified(&digest, None, vec![once(bytes)])
            .await
            .unwrap();
        let record = BlobRecord {
            digest: digest.clone(),
            size: content.len() as u64,
        };
        self.store.link_blob(repo, &record).await.unwrap();
        digest
    }

    /// Stores a manifest listing `blobs` in `repo`.
    async fn manifest(&self, repo: &RepoName, seed: &str, blobs: &[&Digest]) -> ManifestRecord {
        let mut m = crate::testkit::manifest(seed, None);
        m.children.clear();
        m.blobs = blobs.iter().map(|d| (*d).clone()).collect();
        self.store.put_manifest(repo, &m, None).await.unwrap();
        m
    }

    async fn exists(&self, d: &Digest) -> bool {
        self.blobs.exists(d).await.unwrap()
    }
}

#[tokio::test]
async fn deleted_manifests_blobs_go_only_after_the_grace_period() {
    let f = fixture(Duration::from_secs(3600));
    let r = repo("org/app");
    let (layer, kept) = (f.blob(&r, b"layer").await, f.blob(&r, b"kept").await);
    let m = f.manifest(&r, "m", &[&layer]).await;
    f.manifest(&r, "other", &[&kept]).await;
    f.store.delete_manifest(&r, &m.digest).await.unwrap();
    let t = now();

    let young = f.gc.run(t).await.unwrap();
    assert_eq!(
        (young.young_skipped, young.marked, young.deleted),
        (1, 0, 0)
    );
    let marked = f.gc.run(t + 2 * HOUR).await.unwrap();
    assert_eq!((marked.marked, marked.deleted), (1, 0));
    let early = f.gc.run(t + 2 * HOUR + HOUR / 2).await.unwrap();
    assert_eq!(early.deleted, 0);
    assert!(f.exists(&layer).await);

    let swept = f.gc.run(t + 3 * HOUR).await.unwrap();
    assert_eq!((swept.deleted, swept.bytes_freed), (1, 5));
    assert!(swept.referenced_after_delete.is_empty());
    assert!(!f.exists(&layer).await);
    assert_eq!(f.store.get_blob(&r, &layer).await.unwrap(), None);
    assert!(f.store.gc_candidates(i64::MAX).await.unwrap().is_empty());
    assert!(f.exists(&kept).await);
    assert!(f.store.get_blob(&r, &kept).await.unwrap().is_some());
}

#[tokio::test]
async fn a_blob_referenced_between_mark_and_sweep_survives() {
    let f = fixture(Duration::from_secs(3600));
    let r = repo("org/app");
    let layer = f.blob(&r, b"layer").await;
    let t = now() + 2 * HOUR;
    assert_eq!(f.gc.run(t).await.unwrap().marked, 1);
    // The push's manifest arrives after the mark.
    f.manifest(&r, "late", &[&layer]).await;
    let report = f.gc.run(t + 2 * HOUR).await.unwrap();
    assert_eq!((report.deleted, report.revived), (0, 1));
    assert!(f.exists(&layer).await);
    assert!(f.store.gc_candidates(i64::MAX).await.unwrap().is_empty());
}

#[tokio::test]
async fn young_objects_are_never_touched() {
    let f = fixture(Duration::from_secs(3600));
    let r = repo("org/app");
    let fresh = f.blob(&r, b"fresh, manifest not pushed yet").await;
    for _ in 0..3 {
        let report = f.gc.run(now()).await.unwrap();
        assert_eq!((report.young_skipped, report.marked), (1, 0));
    }
    assert!(f.exists(&fresh).await);
    assert!(f.store.gc_candidates(i64::MAX).await.unwrap().is_empty());
}

#[tokio::test]
async fn stale_uploads_go_with_their_parts() {
    let f = fixture(Duration::from_secs(3600));
    let registry = Registry::new(f.store.clone(), f.blobs.clone(), RegistryConfig::default());
    let r = repo("org/app");
    let t = now();
    let stale = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-0000000000d1".into(),
        repo: r.clone(),
        parts: vec![UploadPart {
            key: "p1".into(),
            size: 3,
        }],
        created_at_ms: t - 2 * HOUR,
    };
    f.store.create_upload(&stale).await.unwrap();
    f.blobs
        .write_part(&stale.id, "p1", once(Bytes::from_static(b"abc")))
        .await
        .unwrap();
    let live = registry.start_upload(&r).await.unwrap();
    registry
        .append_chunk(&r, &live.id, None, once(Bytes::from_static(b"def")))
        .await
        .unwrap();
    f.blobs
        .write_part("orphan", "k", once(Bytes::from_static(b"x")))
        .await
        .unwrap();

    let report = f.gc.run(t).await.unwrap();
    assert_eq!((report.uploads_removed, report.parts_removed), (1, 1));
    assert_eq!(f.store.get_upload(&r, &stale.id).await.unwrap(), None);
    assert!(f.blobs.read_part(&stale.id, "p1").await.is_err());
    assert_eq!(
        registry.upload_status(&r, &live.id).await.unwrap().size(),
        3
    );
    assert_eq!(f.blobs.list_upload_parts().await.unwrap().len(), 2);

    // A day later the live session is abandoned too, and the orphan chunk goes.
    let later = f.gc.run(t + 2 * HOUR).await.unwrap();
    assert_eq!((later.uploads_removed, later.parts_removed), (1, 2));
    assert!(f.blobs.list_upload_parts().await.unwrap().is_empty());
}

/// Four 100-byte blobs cached in a mirrored repository, pulled an hour
/// apart (oldest first), and one blob of a pushed repository.
async fn cache_fixture() -> (Fixture, Vec<Digest>, Digest, MirroredRepos, i64) {
    let f = fixture(Duration::from_secs(3600));
    let (mirror, pushed) = (repo("vendor/mirror"), repo("vendor/pushed"));
    let t = now();
    let mut cached = Vec::new();
    for i in 0..4u8 {
        let d = f.blob(&mirror, &[i; 100]).await;
        f.store
            .touch_blob(&d, t + HOUR * (i64::from(i) + 1))
            .await
            .unwrap();
        cached.push(d);
    }
    let refs: Vec<&Digest> = cached.iter().collect();
    f.manifest(&mirror, "mirrored", &refs).await;
    let own = f.blob(&pushed, &[9; 100]).await;
    f.manifest(&pushed, "pushed", &[&own]).await;
    (f, cached, own, MirroredRepos::new([mirror]), t + 5 * HOUR)
}

#[tokio::test]
async fn eviction_is_least_recently_pulled_first_between_watermarks() {
    let (f, cached, own, mirrored, t) = cache_fixture().await;
    let policy = EvictionConfig::new(500, 300);
    let idle = f.gc.evict(&mirrored, &policy, t).await.unwrap();
    assert_eq!((idle.cached_bytes, idle.evicted), (400, 0));

    let policy = EvictionConfig::new(350, 200);
    let report = f.gc.evict(&mirrored, &policy, t).await.unwrap();
    assert_eq!((report.evicted, report.bytes_freed), (2, 200));
    let mirror = repo("vendor/mirror");
    for (i, d) in cached.iter().enumerate() {
        assert_eq!(f.exists(d).await, i >= 2, "blob {i}");
        assert_eq!(
            f.store.get_blob(&mirror, d).await.unwrap().is_some(),
            i >= 2
        );
    }
    assert!(f.exists(&own).await);
    // The manifest still lists the evicted blobs: they can be pulled again.
    assert_eq!(
        f.store
            .manifests_with_blob(&mirror, &cached[0])
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn blobs_being_served_are_never_evicted() {
    let (f, cached, _, mirrored, t) = cache_fixture().await;
    let filling = cached[0].clone();
    let gc =
        f.gc.clone()
            .with_in_flight(Arc::new(move |d: &Digest| d == &filling));
    // Blob 1 was pulled a minute ago.
    f.store.touch_blob(&cached[1], t - 60_000).await.unwrap();
    let report = gc
        .evict(&mirrored, &EvictionConfig::new(250, 100), t)
        .await
        .unwrap();
    assert_eq!((report.evicted, report.protected), (2, 2));
    assert!(f.exists(&cached[0]).await && f.exists(&cached[1]).await);
    assert!(!f.exists(&cached[2]).await && !f.exists(&cached[3]).await);
}

#[tokio::test]
async fn blobs_a_pushed_repository_holds_are_never_evicted() {
    let (f, cached, own, mirrored, t) = cache_fixture().await;
    // A pushed repository mounted one cached blob.
    let pushed = repo("vendor/pushed");
    f.store
        .link_blob(
            &pushed,
            &BlobRecord {
                digest: cached[0].clone(),
                size: 100,
            },
        )
        .await
        .unwrap();
    let report =
        f.gc.evict(&mirrored, &EvictionConfig::new(0, 0), t)
            .await
            .unwrap();
    assert_eq!((report.cached_bytes, report.evicted), (300, 3));
    assert!(f.exists(&cached[0]).await);
    assert!(f.exists(&own).await);
}

#[tokio::test]
async fn pull_touches_are_throttled_per_digest() {
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let touches = PullTouches::with_interval(store.clone(), Duration::from_secs(60));
    let d = Digest::sha256(b"d");
    touches.touch(&d, 1_000).await;
    touches.touch(&d, 30_000).await;
    assert_eq!(
        store.blob_pulls(std::slice::from_ref(&d)).await.unwrap(),
        vec![(d.clone(), 1_000)]
    );
    touches.touch(&d, 61_000).await;
    assert_eq!(
        store.blob_pulls(std::slice::from_ref(&d)).await.unwrap(),
        vec![(d, 61_000)]
    );
}
