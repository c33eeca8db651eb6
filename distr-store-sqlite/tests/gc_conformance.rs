//! Runs the `distr-core` garbage-collection conformance cases against
//! [`SqliteStore`], on files and in memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use distr_core::testkit::gc::run_all;
use distr_core::MetadataStore;
use distr_store_sqlite::SqliteStore;

#[tokio::test]
async fn file_store_gc_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let case = AtomicUsize::new(0);
    run_all(|| {
        let path = dir
            .path()
            .join(format!("case-{}.db", case.fetch_add(1, Ordering::Relaxed)));
        async move { Arc::new(SqliteStore::open(path).await.unwrap()) as Arc<dyn MetadataStore> }
    })
    .await;
    assert_eq!(case.load(Ordering::Relaxed), 4);
}

#[tokio::test]
async fn in_memory_store_gc_conforms() {
    run_all(|| async {
        Arc::new(SqliteStore::open_in_memory().await.unwrap()) as Arc<dyn MetadataStore>
    })
    .await;
}
