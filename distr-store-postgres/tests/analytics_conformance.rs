//! Runs the `distr-core` [`AnalyticsStore`] conformance suite and
//! Postgres-specific checks (persistence, corrupt rows, atomic batches,
//! concurrent replicas, text Postgres cannot hold) against
//! [`PostgresStore`]. See [`common`] for the test server and the schema each
//! store gets.

mod common;

use std::str::FromStr;
use std::sync::Arc;

use common::TestDb;
use distr_core::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use distr_core::analytics::{AnalyticsStore, BytesServed, PullEvent, PullFilter, PullId};
use distr_core::testkit::analytics::run_all;
use distr_core::{Digest, StoreError};
use distr_store_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::AssertSqlSafe;

fn event(org: OrgId, artifact: ArtifactId, at_ms: i64) -> PullEvent {
    PullEvent {
        id: PullId::new(),
        at_ms,
        org,
        artifact,
        tag: Some("1.2.3".parse().unwrap()),
        digest: Digest::sha256(b"manifest"),
        index: false,
        customer: Some(CustomerId::new()),
        user: Some(UserId::new()),
        token: Some(TokenId::new()),
        ip: Some("2001:db8::7".parse().unwrap()),
        user_agent: Some("containerd/2.0".into()),
    }
}

/// A store on `schema` (several make replicas sharing a database).
async fn replica(db: &TestDb, schema: &str) -> PostgresStore {
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    PostgresStore::from_pool(pool).await.unwrap()
}

#[tokio::test]
async fn store_conforms() {
    let db = TestDb::new().await;
    let store = db.store().await;
    run_all(&store).await;
    // The cases share nothing: a second run on the same store passes too.
    run_all(&store).await;
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn events_survive_reconnecting_and_replicas_share_counters() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    let a = Arc::new(replica(&db, &schema).await);
    let b = Arc::new(replica(&db, &schema).await);
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let customers: Vec<CustomerId> = (0..4).map(|_| CustomerId::new()).collect();
    // Two replicas add to the same counters at once, in batches of
    // different orders: totals add up and nobody deadlocks.
    let mut tasks = Vec::new();
    for (n, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        let mut customers = customers.clone();
        if n % 2 == 1 {
            customers.reverse();
        }
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let bytes: Vec<BytesServed> = customers
                    .iter()
                    .map(|&c| BytesServed {
                        org,
                        artifact,
                        customer: Some(c),
                        bytes: 10,
                        at_ms: i,
                    })
                    .collect();
                store
                    .record(&[event(org, artifact, i)], &bytes)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.close().await;
    b.close().await;
    let again = replica(&db, &schema).await;
    let totals = again.bytes_served(org, Some(artifact)).await.unwrap();
    assert_eq!(totals.len(), 4);
    assert!(totals
        .iter()
        .all(|t| t.bytes == 4 * 25 * 10 && t.last_ms == 24));
    let (events, _) = again
        .list_pulls(&PullFilter::org(org), None, 1_000)
        .await
        .unwrap();
    assert_eq!(events.len(), 100);
    again.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn corrupt_rows_are_errors_and_failed_batches_record_nothing() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    let store = replica(&db, &schema).await;
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    for (column, value) in [("digest", "md5:abc"), ("tag", "-bad"), ("ip", "300.1.1.1")] {
        let e = event(org, artifact, 1);
        store.record(std::slice::from_ref(&e), &[]).await.unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE {schema}.pull_events SET {column} = $1 WHERE id = $2"
        )))
        .bind(value)
        .bind(e.id.0)
        .execute(&db.admin)
        .await
        .unwrap();
        let listed = store.list_pulls(&PullFilter::org(org), None, 10).await;
        assert!(
            matches!(listed, Err(StoreError::Corrupt(_))),
            "{column}: {listed:?}"
        );
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {schema}.pull_events")))
            .execute(&db.admin)
            .await
            .unwrap();
    }
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {schema}.bytes_served VALUES ($1, $2, $3, -1, 1)"
    )))
    .bind(org.0)
    .bind(artifact.0)
    .bind(CustomerId::new().0)
    .execute(&db.admin)
    .await
    .expect_err("the CHECK constraint refuses negative totals");

    // A trigger fails one event in the middle of a batch: nothing of the
    // batch is stored.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE FUNCTION {schema}.boom() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF NEW.user_agent = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$"
    )))
    .execute(&db.admin)
    .await
    .unwrap();
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TRIGGER boom BEFORE INSERT ON {schema}.pull_events \
         FOR EACH ROW EXECUTE FUNCTION {schema}.boom()"
    )))
    .execute(&db.admin)
    .await
    .unwrap();
    let good = event(org, artifact, 1);
    let mut bad = event(org, artifact, 2);
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
    let (events, _) = store
        .list_pulls(&PullFilter::org(org), None, 10)
        .await
        .unwrap();
    assert_eq!(events, vec![]);
    assert_eq!(store.bytes_served(org, None).await.unwrap(), vec![]);
    store
        .record(std::slice::from_ref(&good), &[bytes])
        .await
        .unwrap();
    let (events, _) = store
        .list_pulls(&PullFilter::org(org), None, 10)
        .await
        .unwrap();
    assert_eq!(events, vec![good]);
    let totals = store.bytes_served(org, None).await.unwrap();
    assert_eq!((totals[0].customer, totals[0].bytes), (None, 7));
    store.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn nul_characters_in_user_agents_do_not_fail_the_batch() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let mut e = event(org, artifact, 1);
    e.user_agent = Some("evil\0agent".into());
    store.record(std::slice::from_ref(&e), &[]).await.unwrap();
    let (events, _) = store
        .list_pulls(&PullFilter::org(org), None, 10)
        .await
        .unwrap();
    e.user_agent = Some("evilagent".into());
    assert_eq!(events, vec![e]);
    store.close().await;
    db.cleanup().await;
}
