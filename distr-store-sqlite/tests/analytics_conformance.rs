//! Runs the `distr-core` [`AnalyticsStore`] conformance suite and
//! SQLite-specific checks (persistence, corrupt rows, atomic batches)
//! against [`SqliteStore`]; measures the storage an event takes.

use std::sync::Arc;
use std::time::Instant;

use distr_core::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use distr_core::analytics::{
    AnalyticsStore, BytesServed, DynAnalyticsStore, PullEvent, PullFilter, PullId, Recorder,
    RecorderConfig,
};
use distr_core::testkit::analytics::run_all;
use distr_core::{Digest, StoreError};
use distr_store_sqlite::{BackgroundPriority, SqliteStore};

fn event(org: OrgId, artifact: ArtifactId, customer: Option<CustomerId>, at_ms: i64) -> PullEvent {
    PullEvent {
        id: PullId::new(),
        at_ms,
        org,
        artifact,
        tag: Some("1.2.3".parse().unwrap()),
        digest: Digest::sha256(b"manifest"),
        index: false,
        customer,
        user: Some(UserId::new()),
        token: Some(TokenId::new()),
        ip: Some("203.0.113.9".parse().unwrap()),
        user_agent: Some("docker/27.3.1 go/1.22".into()),
    }
}

/// Every pull event of `org` in `store`, newest first.
async fn all_pulls(store: &SqliteStore, org: OrgId) -> Vec<PullEvent> {
    let (events, _) = store
        .list_pulls(&PullFilter::org(org), None, 1_000)
        .await
        .unwrap();
    events
}

#[tokio::test]
async fn in_memory_store_conforms() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    run_all(&store).await;
    // The cases share nothing: a second run on the same store passes too.
    run_all(&store).await;
}

#[tokio::test]
async fn file_store_conforms_and_keeps_events_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let e = event(org, artifact, Some(CustomerId::new()), 5);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        run_all(&store).await;
        store
            .record(
                std::slice::from_ref(&e),
                &[BytesServed {
                    org,
                    artifact,
                    customer: None,
                    bytes: 42,
                    at_ms: 5,
                }],
            )
            .await
            .unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(all_pulls(&store, org).await, vec![e]);
    assert_eq!(store.bytes_served(org, None).await.unwrap()[0].bytes, 42);
}

#[tokio::test]
async fn corrupt_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let org = OrgId::new();
    let store = SqliteStore::open(&path).await.unwrap();
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for (column, value) in [
        ("id", "not-a-uuid"),
        ("digest", "md5:abc"),
        ("tag", "-bad"),
        ("ip", "300.1.1.1"),
        ("customer_id", "x"),
    ] {
        let mut e = event(org, ArtifactId::new(), None, 1);
        e.id = PullId::new();
        sqlx::query(
            "INSERT INTO pull_events (id, org_id, artifact_id, at_ms, tag, digest, is_index) \
             VALUES (?1, ?2, ?3, 1, '1.0', ?4, 0)",
        )
        .bind(e.id.to_string())
        .bind(org.to_string())
        .bind(e.artifact.to_string())
        .bind(e.digest.to_string())
        .execute(&pool)
        .await
        .unwrap();
        let update = format!("UPDATE pull_events SET {column} = ?1 WHERE id = ?2");
        sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(value)
            .bind(e.id.to_string())
            .execute(&pool)
            .await
            .unwrap();
        let store = SqliteStore::open(&path).await.unwrap();
        let listed = store.list_pulls(&PullFilter::org(org), None, 10).await;
        assert!(
            matches!(listed, Err(StoreError::Corrupt(_))),
            "{column}: {listed:?}"
        );
        store.close().await;
        sqlx::query("DELETE FROM pull_events")
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query(
        "INSERT INTO bytes_served (org_id, artifact_id, customer_id, bytes, last_at_ms) \
         VALUES (?1, 'nope', '', 1, 1)",
    )
    .bind(org.to_string())
    .execute(&pool)
    .await
    .unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    assert!(matches!(
        store.bytes_served(org, None).await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn a_failed_batch_records_nothing() {
    failed_batch_records_nothing(false).await;
}

#[tokio::test]
async fn a_failed_batch_through_the_background_writer_records_nothing() {
    failed_batch_records_nothing(true).await;
}

/// A batch failing half-way leaves nothing, and the next one is written
/// (through a fresh connection, with the background writer).
async fn failed_batch_records_nothing(background: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut store = SqliteStore::open(&path).await.unwrap();
    if background {
        store = store.with_background_analytics(BackgroundPriority::Nice(5));
    }
    // A trigger fails the insert of one event in the middle of a batch.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER fail_boom BEFORE INSERT ON pull_events WHEN NEW.user_agent = 'boom' \
         BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let good = event(org, artifact, None, 1);
    let mut bad = event(org, artifact, None, 2);
    bad.user_agent = Some("boom".into());
    let bytes = BytesServed {
        org,
        artifact,
        customer: None,
        bytes: 7,
        at_ms: 1,
    };
    assert!(store
        .record(&[good.clone(), bad], std::slice::from_ref(&bytes))
        .await
        .is_err());
    assert_eq!(all_pulls(&store, org).await, vec![]);
    assert_eq!(store.bytes_served(org, None).await.unwrap(), vec![]);
    // The same batch without the failing event goes through whole.
    store
        .record(std::slice::from_ref(&good), &[bytes])
        .await
        .unwrap();
    assert_eq!(all_pulls(&store, org).await, vec![good]);
    assert_eq!(store.bytes_served(org, None).await.unwrap()[0].bytes, 7);
}

/// The nice values of this process's background writer threads.
#[cfg(target_os = "linux")]
fn background_thread_nice_values() -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if !comm.starts_with("analytics-db-") {
            continue;
        }
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // Fields after the parenthesised name: state is field 3, nice 19.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        nice.push(after.split(' ').nth(16).unwrap().parse().unwrap());
    }
    nice
}

#[tokio::test]
async fn background_writer_store_conforms_at_its_nice_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("analytics.db"))
        .await
        .unwrap()
        .with_background_analytics(BackgroundPriority::Nice(7));
    run_all(&store).await;
    // Its batches ran on a thread of its own, at nice 7 (other tests of
    // this binary use other values).
    #[cfg(target_os = "linux")]
    {
        let nice = background_thread_nice_values();
        assert!(nice.contains(&7), "{nice:?}");
    }
    store.close().await;
}

#[tokio::test]
async fn analytics_move_to_their_own_database_once() {
    let dir = tempfile::tempdir().unwrap();
    let main = SqliteStore::open(dir.path().join("distr.db"))
        .await
        .unwrap();
    let (org, artifact, customer) = (OrgId::new(), ArtifactId::new(), CustomerId::new());
    let old: Vec<PullEvent> = (0..300)
        .map(|i| event(org, artifact, Some(customer), i))
        .collect();
    let bytes = BytesServed {
        org,
        artifact,
        customer: Some(customer),
        bytes: 1_000,
        at_ms: 9,
    };
    main.record(&old, std::slice::from_ref(&bytes))
        .await
        .unwrap();
    let own = SqliteStore::open(dir.path().join("analytics.db"))
        .await
        .unwrap()
        .with_background_analytics(BackgroundPriority::Idle);
    assert_eq!(own.move_analytics_from(&main).await.unwrap(), 300);
    let mut moved = all_pulls(&own, org).await;
    moved.reverse();
    assert_eq!(moved, old);
    assert_eq!(all_pulls(&main, org).await, vec![]);
    assert_eq!(main.bytes_served(org, None).await.unwrap(), vec![]);
    assert_eq!(own.bytes_served(org, None).await.unwrap()[0].bytes, 1_000);
    // Recording goes on in the new database; a second move finds nothing.
    let new = event(org, artifact, None, 1_000);
    own.record(std::slice::from_ref(&new), &[bytes])
        .await
        .unwrap();
    assert_eq!(own.move_analytics_from(&main).await.unwrap(), 0);
    assert_eq!(all_pulls(&own, org).await.len(), 301);
    assert_eq!(own.bytes_served(org, None).await.unwrap()[0].bytes, 2_000);
    // A move interrupted after its copy (the old rows still there) is
    // repeated without counting bytes twice or duplicating events.
    main.record(&old, &[]).await.unwrap();
    sqlx::query("INSERT INTO bytes_served VALUES (?1, ?2, ?3, 1000, 9)")
        .bind(org.to_string())
        .bind(artifact.to_string())
        .bind(customer.to_string())
        .execute(
            &sqlx::SqlitePool::connect(&format!(
                "sqlite://{}",
                dir.path().join("distr.db").display()
            ))
            .await
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(own.move_analytics_from(&main).await.unwrap(), 300);
    assert_eq!(all_pulls(&own, org).await.len(), 301);
    assert_eq!(own.bytes_served(org, None).await.unwrap()[0].bytes, 2_000);
    assert_eq!(all_pulls(&main, org).await, vec![]);
}

/// Storage per event: events through a [`Recorder`] into a fresh file
/// database, checking the file's growth per event stays under 2 KiB (about
/// 840 bytes measured with 100 000 events). 5 000 events by default; for the
/// full measurement run
/// `DISTR_STORAGE_EVENTS=100000 cargo test -p distr-store-sqlite --release
/// --test analytics_conformance -- --nocapture storage_per_event`.
#[tokio::test(flavor = "multi_thread")]
async fn storage_per_event() {
    let events: usize = std::env::var("DISTR_STORAGE_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    // Closing the last connection checkpoints the WAL into the file.
    let empty = SqliteStore::open(&path).await.unwrap();
    empty.close().await;
    let before = std::fs::metadata(&path).unwrap().len();
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let org = OrgId::new();
    let artifacts: Vec<ArtifactId> = (0..10).map(|_| ArtifactId::new()).collect();
    let customers: Vec<CustomerId> = (0..100).map(|_| CustomerId::new()).collect();
    let started = Instant::now();
    let recorder = Recorder::start(
        store.clone() as Arc<DynAnalyticsStore>,
        RecorderConfig::default().with_capacity(events),
    );
    for i in 0..events {
        let e = event(
            org,
            artifacts[i % artifacts.len()],
            Some(customers[i % customers.len()]),
            1_700_000_000_000 + i as i64,
        );
        assert!(recorder.record_pull(e));
    }
    let probe = recorder.clone();
    recorder.shutdown().await;
    let elapsed = started.elapsed();
    assert_eq!(probe.written(), events as u64);
    store.close().await;
    let after = std::fs::metadata(&path).unwrap().len();
    let per_event = (after - before) as f64 / events as f64;
    println!(
        "{events} events: {before} -> {after} bytes, {per_event:.0} bytes per event; written in {elapsed:?}"
    );
    assert!(
        per_event > 0.0 && per_event < 2048.0,
        "{per_event:.0} bytes per event"
    );
}
