//! Runs the `distr-core` conformance suite and SQLite-specific checks
//! (persistence across reopening, concurrent writers) against [`SqliteStore`].

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use distr_core::testkit::{manifest, run_all, run_concurrent, Sample};
use distr_core::{Digest, MetadataStore, RepoName, TagName};
use distr_store_sqlite::SqliteStore;

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
    let sample = Sample::default();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        sample.write(&store).await;
        // WAL journaling is on while the store is open.
        assert!(dir.path().join("meta.db-wal").exists());
        store.close().await;
    }
    sample.check(&SqliteStore::open(&path).await.unwrap()).await;
}

/// Writers on one database file share its single write connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_store_conforms_under_concurrency() {
    let dirs = std::sync::Mutex::new(Vec::new());
    run_concurrent(|| async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("meta.db")).await.unwrap();
        dirs.lock().unwrap().push(dir);
        vec![Arc::new(store) as Arc<dyn MetadataStore>]
    })
    .await;
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
    let path = {
        // A database as written before `manifest_refs` existed.
        let (path, pool) = common::database_before(dir.path(), "0003").await;
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
        path
    };

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
