//! The [`AccessStore`] conformance suite: call [`run_all`] with a factory of
//! fresh stores, or each case (re-exported here from its module) on its own.

mod failures;
pub mod fixtures;
mod integrity;
mod modes;
mod tenants;
mod upstreams;

use std::sync::Arc;

use crate::access::AccessStore;

pub use failures::failed_writes_change_nothing;
pub use integrity::{
    artifacts_are_unique_per_vendor, dangling_references_are_conflicts, orgs_have_unique_slugs,
    the_access_version_moves_with_every_change,
};
pub use modes::access_modes_switch_once_and_only_on_request;
pub use tenants::{
    customers_and_users_belong_to_a_vendor, deleting_a_customer_cascades,
    entitlements_roundtrip_and_names_are_unique_per_customer,
    tokens_are_found_by_hash_revoked_and_touched,
};
pub use upstreams::{
    artifact_upstreams_are_set_changed_and_cleared, artifact_upstreams_roundtrip,
    sync_status_roundtrips_without_moving_the_access_version,
    upstream_artifacts_are_listed_across_vendors,
};

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn AccessStore>>,
{
    orgs_have_unique_slugs(&*make().await).await;
    customers_and_users_belong_to_a_vendor(&*make().await).await;
    tokens_are_found_by_hash_revoked_and_touched(&*make().await).await;
    artifacts_are_unique_per_vendor(&*make().await).await;
    entitlements_roundtrip_and_names_are_unique_per_customer(&*make().await).await;
    deleting_a_customer_cascades(&*make().await).await;
    dangling_references_are_conflicts(&*make().await).await;
    failed_writes_change_nothing(&*make().await).await;
    the_access_version_moves_with_every_change(&*make().await).await;
    artifact_upstreams_roundtrip(&*make().await).await;
    artifact_upstreams_are_set_changed_and_cleared(&*make().await).await;
    upstream_artifacts_are_listed_across_vendors(&*make().await).await;
    sync_status_roundtrips_without_moving_the_access_version(&*make().await).await;
    access_modes_switch_once_and_only_on_request(&*make().await).await;
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_access_store_conforms() {
        super::run_all(|| async {
            std::sync::Arc::new(crate::access::MemoryAccessStore::new()) as _
        })
        .await;
    }
}
