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
use distr_core::store::{BlobRecord, Page, UploadPart, UploadRecord};
use distr_core::testkit::{manifest, run_all};
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
        let store = PostgresStore::connect(&url).await.unwrap();
        store.link_blob(&r, &blob).await.unwrap();
        store
            .put_manifest(&r, &subject, Some(&tag("v1")))
            .await
            .unwrap();
        store.put_manifest(&r, &m, Some(&tag("sig"))).await.unwrap();
        store.create_upload(&upload).await.unwrap();
        store.close().await;
        assert!(store.get_blob(&r, &blob.digest).await.is_err());
    }
    // Migrations already applied are skipped on reconnecting.
    let store = PostgresStore::connect(&url).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed() {
    let db = TestDb::new().await;
    // Two stores on one schema, like two replicas, with full-size pools.
    let url = db.url_for(&db.schema().await);
    let replicas = [
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
    ];
    let writers: Vec<_> = (0..50)
        .map(|i| {
            let store = replicas[i % 2].clone();
            tokio::spawn(async move {
                // Half the writers share a repository, half have their own.
                let r = if i % 2 == 0 {
                    repo("org/shared")
                } else {
                    repo(&format!("org/app-{i}"))
                };
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
    let store = &replicas[0];
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
    for s in &replicas {
        s.close().await;
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_chunks_exactly_one_wins() {
    let db = TestDb::new().await;
    let store = Arc::new(db.store().await);
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
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pushes_racing_deletes_never_fail() {
    let db = TestDb::new().await;
    let store = Arc::new(db.store().await);
    let r = repo("org/app");
    let m = manifest("contended", None);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (store, r, m) = (store.clone(), r.clone(), m.clone());
            tokio::spawn(async move {
                for n in 0..25 {
                    if i % 2 == 0 {
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
    // Whatever interleaving happened, no tag outlives its manifest.
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
    store.close().await;
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
