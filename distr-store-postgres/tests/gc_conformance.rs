//! Runs the `distr-core` garbage-collection conformance cases against
//! [`PostgresStore`]. See [`common`] for the test server.

mod common;

use std::sync::Arc;

use common::TestDb;
use distr_core::testkit::gc::run_all;
use distr_core::MetadataStore;

#[tokio::test]
async fn store_gc_conforms() {
    let db = TestDb::new().await;
    run_all(|| async { Arc::new(db.store().await) as Arc<dyn MetadataStore> }).await;
    db.cleanup().await;
}
