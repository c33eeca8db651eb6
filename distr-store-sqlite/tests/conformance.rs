//! Runs the `distr-core` conformance suite and SQLite-specific checks
//! (persistence across reopening, concurrent writers) against [`SqliteStore`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use distr_core::store::{BlobRecord, Page, UploadPart, UploadRecord};
use distr_core::testkit::{manifest, run_all};
use distr_core::{Digest, MetadataStore, RepoName, StoreError, TagName};
use distr_store_sqlite::SqliteStore;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn tag(s: &str) -> TagName {
    s.parse().unwrap()
}

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let case = AtomicUsize::new(0);
    run_all(|| {
        // A fresh database per case, in a directory `open` has to create.
        let path = dir
            .path()
            .join(format!("case-{}", case.fetch_add(1, Ordering::Relaxed)))
            .join("meta.db");
        async move { Arc::new(SqliteStore::open(path).await.unwrap()) as Arc<dyn MetadataStore> }
    })
    .await;
    assert_eq!(case.load(Ordering::Relaxed), 11);
}

#[tokio::test]
async fn in_memory_store_conforms() {
    run_all(|| async {
        Arc::new(SqliteStore::open_in_memory().await.unwrap()) as Arc<dyn MetadataStore>
    })
    .await;
}

#[tokio::test]
async fn in_memory_stores_are_separate() {
    let (a, b) = (
        SqliteStore::open_in_memory().await.unwrap(),
        SqliteStore::open_in_memory().await.unwrap(),
    );
    let r = repo("org/app");
    a.put_manifest(&r, &manifest("m", None), Some(&tag("v1")))
        .await
        .unwrap();
    assert!(a.repository_exists(&r).await.unwrap());
    assert!(!b.repository_exists(&r).await.unwrap());
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let r = repo("org/app");
    let subject = manifest("subject", None);
    let m = manifest("sig", Some(&subject.digest));
    let blob = BlobRecord {
        digest: Digest::sha256(b"layer"),
        size: 5,
    };
    let upload = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000002".into(),
        repo: r.clone(),
        parts: vec![UploadPart {
            key: "p1".into(),
            size: 7,
        }],
        created_at_ms: 42,
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        store.link_blob(&r, &blob).await.unwrap();
        store
            .put_manifest(&r, &subject, Some(&tag("v1")))
            .await
            .unwrap();
        store.put_manifest(&r, &m, Some(&tag("sig"))).await.unwrap();
        store.create_upload(&upload).await.unwrap();
        // WAL journaling is on while the store is open.
        assert!(dir.path().join("meta.db-wal").exists());
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.get_manifest(&r, &m.digest).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store.get_manifest(&r, &subject.digest).await.unwrap(),
        Some(subject.clone())
    );
    assert_eq!(
        store.resolve_tag(&r, &tag("v1")).await.unwrap(),
        Some(subject.digest.clone())
    );
    assert_eq!(
        store.list_tags(&r, &Page::default()).await.unwrap(),
        vec![tag("sig"), tag("v1")]
    );
    assert_eq!(
        store.list_referrers(&r, &subject.digest).await.unwrap(),
        vec![m]
    );
    assert_eq!(store.get_blob(&r, &blob.digest).await.unwrap(), Some(blob));
    assert_eq!(
        store.get_upload(&r, &upload.id).await.unwrap(),
        Some(upload)
    );
    assert_eq!(
        store.list_repositories(&Page::default()).await.unwrap(),
        vec![r]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("meta.db")).await.unwrap());
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                // Half the writers share a repository, half have their own.
                let r = if i % 2 == 0 {
                    repo("org/shared")
                } else {
                    repo(&format!("org/app-{i}"))
                };
                let blob = BlobRecord {
                    digest: Digest::sha256(format!("blob-{i}").as_bytes()),
                    size: i,
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
    let shared = repo("org/shared");
    assert_eq!(
        store
            .list_tags(&shared, &Page::default())
            .await
            .unwrap()
            .len(),
        25 + 1
    );
    assert_eq!(
        store
            .list_repositories(&Page::default())
            .await
            .unwrap()
            .len(),
        25 + 1
    );
    for i in 0..50u64 {
        let r = if i % 2 == 0 {
            shared.clone()
        } else {
            repo(&format!("org/app-{i}"))
        };
        let digest = Digest::sha256(format!("blob-{i}").as_bytes());
        assert_eq!(
            store.get_blob(&r, &digest).await.unwrap(),
            Some(BlobRecord { digest, size: i })
        );
        let m = manifest(&format!("m-{i}"), None);
        assert_eq!(
            store.resolve_tag(&r, &tag(&format!("t{i}"))).await.unwrap(),
            Some(m.digest)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chunks_exactly_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("meta.db")).await.unwrap());
    let r = repo("org/app");
    let up = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000003".into(),
        repo: r.clone(),
        parts: vec![],
        created_at_ms: 1,
    };
    store.create_upload(&up).await.unwrap();
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let (store, mut up) = (store.clone(), up.clone());
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
        store.get_upload(&r, &up.id).await.unwrap().unwrap().size(),
        10
    );
}

#[tokio::test]
async fn debug_shows_only_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        format!("{store:?}"),
        format!("SqliteStore {{ path: {path:?} }}")
    );
    let memory = SqliteStore::open_in_memory().await.unwrap();
    assert_eq!(format!("{memory:?}"), "SqliteStore { path: :memory: }");
}

#[tokio::test]
async fn manifests_stored_before_the_refs_table_are_backfilled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    // A database as written before `manifest_refs` existed.
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    for name in ["0001_init.sql", "0002_access.sql"] {
        std::fs::copy(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(name),
            old.join(name),
        )
        .unwrap();
    }
    let r = repo("org/app");
    let (config, layer) = (Digest::sha256(b"config"), Digest::sha256(b"layer"));
    let mut child = manifest("child", None);
    child.children.clear();
    // A blob listed twice (config reused as a layer) is one reference.
    child.blobs = vec![config.clone(), layer.clone(), config.clone()];
    let mut index = manifest("index", None);
    index.blobs.clear();
    index.children = vec![child.digest.clone()];
    let mut other = manifest("other", None);
    other.children = vec![child.digest.clone()];
    other.blobs = vec![config.clone()];
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO repositories (id, name) VALUES (1, 'org/app'), (2, 'org/other')")
            .execute(&pool)
            .await
            .unwrap();
        for (repo_id, m) in [(1, &child), (1, &index), (2, &other)] {
            sqlx::query(
                "INSERT INTO manifests (repo_id, digest, media_type, content, blobs, children, \
                 created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(repo_id)
            .bind(m.digest.to_string())
            .bind(&m.media_type)
            .bind(&m.content[..])
            .bind(serde_json::to_string(&m.blobs).unwrap())
            .bind(serde_json::to_string(&m.children).unwrap())
            .bind(m.created_at_ms)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query("INSERT INTO tags (repo_id, name, digest) VALUES (1, 'v1', ?1)")
            .bind(index.digest.to_string())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.manifest_parents(&r, &child.digest).await.unwrap(),
        vec![index.digest.clone()]
    );
    assert_eq!(
        store.manifests_with_blob(&r, &config).await.unwrap(),
        vec![child.digest.clone()]
    );
    assert_eq!(
        store.manifests_with_blob(&r, &layer).await.unwrap(),
        vec![child.digest.clone()]
    );
    assert_eq!(
        store
            .manifests_with_blob(&repo("org/other"), &config)
            .await
            .unwrap(),
        vec![other.digest.clone()]
    );
    assert_eq!(
        store.list_tag_targets(&r).await.unwrap(),
        vec![(tag("v1"), index.digest.clone())]
    );

    // Backfilled references go with their manifest, and re-putting a stored
    // manifest neither fails nor duplicates them.
    store.put_manifest(&r, &child, None).await.unwrap();
    assert_eq!(
        store.manifests_with_blob(&r, &config).await.unwrap(),
        vec![child.digest.clone()]
    );
    assert!(store.delete_manifest(&r, &index.digest).await.unwrap());
    assert!(store
        .manifest_parents(&r, &child.digest)
        .await
        .unwrap()
        .is_empty());
    assert!(store.list_tag_targets(&r).await.unwrap().is_empty());
    store.close().await;

    // The references are persistent too.
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store
            .manifest_parents(&repo("org/other"), &child.digest)
            .await
            .unwrap(),
        vec![other.digest.clone()]
    );
    assert_eq!(
        store.manifests_with_blob(&r, &layer).await.unwrap(),
        vec![child.digest.clone()]
    );
}
