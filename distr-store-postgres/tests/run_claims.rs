//! Runs the `distr-core` [`RunClaims`] conformance suite against
//! [`PostgresStore`], including two stores (two replicas) on one schema.

mod common;

use std::sync::Arc;

use common::TestDb;
use distr_core::store::RunClaims;
use distr_core::testkit::claims::run_all;
use distr_store_postgres::PostgresStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_run_claims_conform() {
    let db = TestDb::new().await;
    run_all(Arc::new(db.store().await)).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_claims() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    let url = db.url_for(&schema);
    let a = PostgresStore::connect(&url).await.unwrap();
    let b = PostgresStore::connect(&url).await.unwrap();
    assert!(a.claim_run("sync", 7, "a").await.unwrap());
    assert!(!b.claim_run("sync", 7, "b").await.unwrap());
    assert!(b.claim_run("sync", 8, "b").await.unwrap());
    db.cleanup().await;
}
