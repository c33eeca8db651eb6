//! Runs the `distr-core` conformance suite and Postgres-specific checks
//! (persistence across reconnecting, concurrent writers and replicas) against
//! [`PostgresStore`] as a [`MetadataStore`]. See [`common`] for the test
//! server and the schema each store gets.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{admin_pool, TestDb};
use distr_core::store::{BlobRecord, Page};
use distr_core::testkit::{manifest, run_all, run_concurrent, Sample};
use distr_core::{Digest, MetadataStore, RepoName, StoreError, TagName};
use distr_store_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn tag(s: &str) -> TagName {
    s.parse().unwrap()
}

#[tokio::test]
async fn store_conforms() {
    let db = TestDb::new().await;
    let case = AtomicUsize::new(0);
    run_all(|| async {
        case.fetch_add(1, Ordering::Relaxed);
        Arc::new(db.store().await) as Arc<dyn MetadataStore>
    })
    .await;
    assert_eq!(case.load(Ordering::Relaxed), 11);
    db.cleanup().await;
}

#[tokio::test]
async fn store_from_url_conforms() {
    let db = TestDb::new().await;
    run_all(|| async {
        let url = db.url_for(&db.schema().await);
        Arc::new(PostgresStore::connect(&url).await.unwrap()) as Arc<dyn MetadataStore>
    })
    .await;
    db.cleanup().await;
}

#[tokio::test]
async fn schemas_are_separate() {
    let db = TestDb::new().await;
    let (a, b) = (db.store().await, db.store().await);
    let r = repo("org/app");
    a.put_manifest(&r, &manifest("m", None), Some(&tag("v1")))
        .await
        .unwrap();
    assert!(a.repository_exists(&r).await.unwrap());
    assert!(!b.repository_exists(&r).await.unwrap());
    assert!(b
        .list_repositories(&Page::default())
        .await
        .unwrap()
        .is_empty());
    db.cleanup().await;
}

#[tokio::test]
async fn data_survives_reconnect() {
    let db = TestDb::new().await;
    let url = db.url_for(&db.schema().await);
    let sample = Sample::default();
    {
        let store = PostgresStore::connect(&url).await.unwrap();
        sample.write(&store).await;
        store.close().await;
        assert!(store
            .get_blob(sample.repo(), &sample.blob().digest)
            .await
            .is_err());
    }
    // Migrations already applied are skipped on reconnecting.
    let store = PostgresStore::connect(&url).await.unwrap();
    sample.check(&store).await;
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_migrate_concurrently() {
    let db = TestDb::new().await;
    let url = db.url_for(&db.schema().await);
    let replicas: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for r in replicas {
        stores.push(r.await.unwrap().unwrap());
    }
    let r = repo("org/app");
    stores[0]
        .put_manifest(&r, &manifest("m", None), Some(&tag("v1")))
        .await
        .unwrap();
    for s in &stores {
        assert!(s.repository_exists(&r).await.unwrap());
        s.close().await;
    }
    db.cleanup().await;
}

/// Two stores on one schema, like two replicas, with full-size pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_conform_under_concurrency() {
    let db = TestDb::new().await;
    let replicas = std::sync::Mutex::new(Vec::new());
    run_concurrent(|| async {
        let url = db.url_for(&db.schema().await);
        let views: Vec<Arc<PostgresStore>> = vec![
            Arc::new(PostgresStore::connect(&url).await.unwrap()),
            Arc::new(PostgresStore::connect(&url).await.unwrap()),
        ];
        replicas.lock().unwrap().extend(views.iter().cloned());
        views
            .into_iter()
            .map(|s| s as Arc<dyn MetadataStore>)
            .collect()
    })
    .await;
    let replicas = std::mem::take(&mut *replicas.lock().unwrap());
    for s in replicas {
        s.close().await;
    }
    db.cleanup().await;
}

#[tokio::test]
async fn odd_manifest_fields_roundtrip() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let r = repo("org/app");
    let mut m = manifest("odd", None);
    // JSONB could not hold `\u0000`; annotations are kept as JSON text.
    m.annotations = BTreeMap::from([
        ("nul".to_owned(), "a\u{0}b".to_owned()),
        ("unicode".to_owned(), "ü → 🦀".to_owned()),
        ("".to_owned(), "\"quoted\"\n".to_owned()),
    ]);
    m.content = Bytes::from_static(b"\xff\x00not utf-8\x00");
    m.digest = Digest::sha256(&m.content);
    m.created_at_ms = i64::MIN;
    store.put_manifest(&r, &m, None).await.unwrap();
    assert_eq!(store.get_manifest(&r, &m.digest).await.unwrap(), Some(m));
    let big = BlobRecord {
        digest: Digest::sha256(b"big"),
        size: i64::MAX as u64,
    };
    store.link_blob(&r, &big).await.unwrap();
    assert_eq!(store.get_blob(&r, &big.digest).await.unwrap(), Some(big));
    let too_big = BlobRecord {
        digest: Digest::sha256(b"too big"),
        size: u64::MAX,
    };
    assert!(matches!(
        store.link_blob(&r, &too_big).await,
        Err(StoreError::Backend(_))
    ));
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn names_use_the_c_collation() {
    // Byte-wise listings must not depend on the database's default collation.
    let db = TestDb::new().await;
    let schema = db.schema().await;
    PostgresStore::connect(&db.url_for(&schema))
        .await
        .unwrap()
        .close()
        .await;
    let not_c: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = $1 AND column_name IN ('name', 'digest', 'subject') \
         AND collation_name IS DISTINCT FROM 'C'",
    )
    .bind(&schema)
    .fetch_all(&db.admin)
    .await
    .unwrap();
    assert_eq!(not_c, vec![]);
    db.cleanup().await;
}

#[tokio::test]
async fn debug_shows_nothing_secret() {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert_eq!(format!("{store:?}"), "PostgresStore");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
#[should_panic(expected = "pg_ctlcluster --skip-systemctl-redirect")]
async fn unreachable_server_fails_loudly() {
    // Port 1 on localhost is never a Postgres server.
    admin_pool("postgres://postgres@127.0.0.1:1/test").await;
}

#[tokio::test]
async fn connect_errors_are_backend_errors_without_the_password() {
    let db = TestDb::new().await;
    // Same server, a database that does not exist: fails at once.
    let sep = if db.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{sep}password=hunter2&dbname=distr_no_such_database",
        db.url
    );
    let err = PostgresStore::connect(&url).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
    db.cleanup().await;
}

#[tokio::test]
async fn reference_lookups_are_backfilled_and_deduplicated() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", &schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    // A database migrated before `manifest_refs` existed, holding an index
    // and an image that lists one blob twice.
    let mut before = sqlx::migrate!("./migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 3)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.unwrap();
    let r = repo("org/app");
    let (config, layer) = (Digest::sha256(b"config"), Digest::sha256(b"layer"));
    let mut image = manifest("old-image", None);
    image.children.clear();
    image.blobs = vec![config.clone(), layer.clone(), layer.clone()];
    let mut index = manifest("old-index", None);
    index.blobs.clear();
    index.children = vec![image.digest.clone()];
    let repo_id: i64 =
        sqlx::query_scalar("INSERT INTO repositories (name) VALUES ($1) RETURNING id")
            .bind(r.as_str())
            .fetch_one(&pool)
            .await
            .unwrap();
    for m in [&image, &index] {
        let digests = |ds: &[Digest]| ds.iter().map(Digest::to_string).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO manifests (repo_id, digest, media_type, content, blobs, children, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(repo_id)
        .bind(m.digest.to_string())
        .bind(&m.media_type)
        .bind(&m.content[..])
        .bind(digests(&m.blobs))
        .bind(digests(&m.children))
        .bind(m.created_at_ms)
        .execute(&pool)
        .await
        .unwrap();
    }

    let store = PostgresStore::from_pool(pool).await.unwrap();
    assert_eq!(
        store.manifest_parents(&r, &image.digest).await.unwrap(),
        vec![index.digest.clone()]
    );
    assert_eq!(
        store.manifests_with_blob(&r, &layer).await.unwrap(),
        vec![image.digest.clone()]
    );

    // New pushes are recorded once per manifest too, and only by their first
    // record.
    let mut image2 = manifest("new-image", None);
    image2.children.clear();
    image2.blobs = vec![layer.clone(), layer.clone()];
    store.put_manifest(&r, &image2, None).await.unwrap();
    let mut rewritten = image2.clone();
    rewritten.blobs = vec![config.clone()];
    store.put_manifest(&r, &rewritten, None).await.unwrap();
    let mut users = vec![image.digest.clone(), image2.digest.clone()];
    users.sort();
    assert_eq!(store.manifests_with_blob(&r, &layer).await.unwrap(), users);
    assert_eq!(
        store.manifests_with_blob(&r, &config).await.unwrap(),
        vec![image.digest.clone()]
    );

    // Deleting a manifest drops its references.
    store.delete_manifest(&r, &image.digest).await.unwrap();
    assert_eq!(
        store.manifests_with_blob(&r, &layer).await.unwrap(),
        vec![image2.digest.clone()]
    );
    let left: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.manifest_refs"
    )))
    .fetch_one(&db.admin)
    .await
    .unwrap();
    assert_eq!(left, 2, "index -> image, image2 -> layer");
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn reference_lookups_use_the_index() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    PostgresStore::connect(&db.url_for(&schema))
        .await
        .unwrap()
        .close()
        .await;
    let mut tx = db.admin.begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path = {schema}"
    )))
    .execute(&mut *tx)
    .await
    .unwrap();
    // On an empty table a sequential scan is cheapest; rule it out to see
    // whether the index can serve the lookup (in `manifests::referencing`).
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN SELECT digest FROM manifest_refs \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = 'org/app') \
         AND kind = 'child' AND target = 'sha256:00' ORDER BY digest",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Only Scan using manifest_refs_pkey on manifest_refs"),
        "{plan}"
    );
    assert!(!plan.contains("Sort"), "{plan}");
    tx.rollback().await.unwrap();
    db.cleanup().await;
}
