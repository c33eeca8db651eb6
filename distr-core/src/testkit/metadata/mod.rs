//! The [`MetadataStore`] conformance suite, one module per part of the
//! contract: [`run_all`] runs the cases that need one fresh store each,
//! [`run_concurrent`] the ones that race tasks over the views of one store,
//! and [`Sample`] checks persistence across reopening.

mod concurrent;
mod manifests;
mod reopen;
mod repos;
mod tags;
mod uploads;

use std::sync::Arc;

use crate::store::MetadataStore;

pub use concurrent::{
    concurrent_chunks_exactly_one_wins, concurrent_writers_all_succeed,
    pushes_racing_deletes_never_fail, run_concurrent, Views,
};
pub use manifests::{
    deleting_a_manifest_removes_its_tags, manifests_roundtrip_byte_for_byte,
    referrers_are_per_subject, reverse_lookups_find_tags_parents_and_blob_users,
};
pub use reopen::Sample;
pub use repos::{
    blobs_are_per_repository, catalog_lists_repositories_lexically,
    deleting_a_repository_removes_everything_in_it, repositories_are_isolated,
};
pub use tags::{tag_pagination_is_lexical, tags_move_list_and_delete};
pub use uploads::upload_sessions_compare_and_set;

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn MetadataStore>>,
{
    blobs_are_per_repository(&*make().await).await;
    manifests_roundtrip_byte_for_byte(&*make().await).await;
    tags_move_list_and_delete(&*make().await).await;
    tag_pagination_is_lexical(&*make().await).await;
    deleting_a_manifest_removes_its_tags(&*make().await).await;
    referrers_are_per_subject(&*make().await).await;
    catalog_lists_repositories_lexically(&*make().await).await;
    upload_sessions_compare_and_set(&*make().await).await;
    repositories_are_isolated(&*make().await).await;
    reverse_lookups_find_tags_parents_and_blob_users(&*make().await).await;
    deleting_a_repository_removes_everything_in_it(&*make().await).await;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::store::{MemoryStore, MetadataStore};

    #[tokio::test]
    async fn memory_store_conforms() {
        super::run_all(|| async { Arc::new(MemoryStore::new()) as _ }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_conforms_under_concurrency() {
        super::run_concurrent(|| async {
            let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
            vec![store.clone(), store]
        })
        .await;
    }

    #[tokio::test]
    async fn memory_store_holds_the_sample() {
        let (store, sample) = (MemoryStore::new(), super::Sample::default());
        sample.write(&store).await;
        sample.check(&store).await;
    }
}
