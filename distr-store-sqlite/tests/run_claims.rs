//! Runs the `distr-core` [`RunClaims`] conformance suite against [`SqliteStore`],
//! including two stores on one database file (two processes' view).

use std::sync::Arc;

use distr_core::store::RunClaims;
use distr_core::testkit::claims::run_all;
use distr_store_sqlite::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_run_claims_conform() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("meta.db")).await.unwrap();
    run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn two_stores_on_one_file_share_claims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    assert!(a.claim_run("sync", 7, "a").await.unwrap());
    assert!(!b.claim_run("sync", 7, "b").await.unwrap());
    assert!(b.claim_run("sync", 8, "b").await.unwrap());
}
