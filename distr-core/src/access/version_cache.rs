//! [`VersionCachedAccessStore`]: an [`AccessStore`] decorator that makes
//! [`AccessStore::access_version`] cheap enough to call on every request.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::mode::{AccessMode, AccessModeRecord};
use super::model::*;
use super::store::AccessStore;
use crate::error::StoreResult;

/// Wraps an [`AccessStore`]: every write made through the wrapper changes the
/// access version at once, and the inner store's version (which also moves
/// with writes by other processes or replicas) is read at most once per
/// `ttl`. Give the policy and every in-process writer (the management API)
/// the same wrapper; writes made elsewhere (the admin command line, another
/// replica) then apply within `ttl`.
pub struct VersionCachedAccessStore {
    inner: Arc<dyn AccessStore>,
    ttl: Duration,
    local_writes: AtomicI64,
    stored: Mutex<Option<(i64, Instant)>>,
}

impl std::fmt::Debug for VersionCachedAccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionCachedAccessStore")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl VersionCachedAccessStore {
    /// Wraps `inner`, re-reading its version at most once per `ttl`.
    pub fn new(inner: Arc<dyn AccessStore>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            local_writes: AtomicI64::new(0),
            stored: Mutex::new(None),
        }
    }
}

#[async_trait]
impl AccessStore for VersionCachedAccessStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        let result = self.inner.create_org(org).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        self.inner.get_org(id).await
    }

    async fn get_org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>> {
        self.inner.get_org_by_slug(slug).await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        self.inner.list_orgs().await
    }

    async fn create_customer(&self, customer: &Customer) -> StoreResult<()> {
        let result = self.inner.create_customer(customer).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn get_customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        self.inner.get_customer(id).await
    }

    async fn list_customers(&self, org: OrgId) -> StoreResult<Vec<Customer>> {
        self.inner.list_customers(org).await
    }

    async fn update_customer(&self, customer: &Customer) -> StoreResult<bool> {
        let result = self.inner.update_customer(customer).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn delete_customer(&self, id: CustomerId) -> StoreResult<bool> {
        let result = self.inner.delete_customer(id).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let result = self.inner.create_user(user).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner.get_user(id).await
    }

    async fn list_users(&self, org: OrgId, customer: Option<CustomerId>) -> StoreResult<Vec<User>> {
        self.inner.list_users(org, customer).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let result = self.inner.delete_user(id).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        let result = self.inner.create_token(token).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn find_token(&self, hash: &str) -> StoreResult<Option<(TokenRecord, User)>> {
        self.inner.find_token(hash).await
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>> {
        self.inner.get_token(id).await
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(user).await
    }

    async fn revoke_token(&self, id: TokenId, at_ms: i64) -> StoreResult<bool> {
        let result = self.inner.revoke_token(id, at_ms).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn touch_token(&self, id: TokenId, at_ms: i64) -> StoreResult<()> {
        self.inner.touch_token(id, at_ms).await
    }

    async fn create_artifact(&self, artifact: &Artifact) -> StoreResult<()> {
        let result = self.inner.create_artifact(artifact).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn get_artifact(&self, id: ArtifactId) -> StoreResult<Option<Artifact>> {
        self.inner.get_artifact(id).await
    }

    async fn get_artifact_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<Artifact>> {
        self.inner.get_artifact_by_name(org, name).await
    }

    async fn list_artifacts(&self, org: OrgId) -> StoreResult<Vec<Artifact>> {
        self.inner.list_artifacts(org).await
    }

    async fn delete_artifact(&self, id: ArtifactId) -> StoreResult<bool> {
        let result = self.inner.delete_artifact(id).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn update_artifact_upstream(
        &self,
        id: ArtifactId,
        upstream: Option<&ArtifactUpstream>,
    ) -> StoreResult<bool> {
        let result = self.inner.update_artifact_upstream(id, upstream).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn list_upstream_artifacts(&self) -> StoreResult<Vec<Artifact>> {
        self.inner.list_upstream_artifacts().await
    }

    async fn get_sync_status(&self, id: ArtifactId) -> StoreResult<SyncStatus> {
        self.inner.get_sync_status(id).await
    }

    async fn put_sync_status(&self, id: ArtifactId, status: &SyncStatus) -> StoreResult<bool> {
        self.inner.put_sync_status(id, status).await
    }

    async fn create_entitlement(&self, e: &Entitlement) -> StoreResult<()> {
        let result = self.inner.create_entitlement(e).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn update_entitlement(&self, e: &Entitlement) -> StoreResult<bool> {
        let result = self.inner.update_entitlement(e).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn get_entitlement(&self, id: EntitlementId) -> StoreResult<Option<Entitlement>> {
        self.inner.get_entitlement(id).await
    }

    async fn list_entitlements(&self, customer: CustomerId) -> StoreResult<Vec<Entitlement>> {
        self.inner.list_entitlements(customer).await
    }

    async fn access_mode(&self, org: OrgId) -> StoreResult<AccessModeRecord> {
        self.inner.access_mode(org).await
    }

    async fn set_access_mode(
        &self,
        org: OrgId,
        mode: AccessMode,
        changed_by: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        let result = self
            .inner
            .set_access_mode(org, mode, changed_by, at_ms)
            .await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn delete_entitlement(&self, id: EntitlementId) -> StoreResult<bool> {
        let result = self.inner.delete_entitlement(id).await;
        self.local_writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    async fn entitlements_for_artifact(
        &self,
        artifact: ArtifactId,
    ) -> StoreResult<Vec<Entitlement>> {
        self.inner.entitlements_for_artifact(artifact).await
    }

    /// The inner version (at most `ttl` old) plus the writes made through
    /// this wrapper: both only grow, so any change observed changes the sum.
    async fn access_version(&self) -> StoreResult<i64> {
        let fresh = *self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match fresh {
            Some((v, at)) if at.elapsed() < self.ttl => v,
            _ => {
                let v = self.inner.access_version().await?;
                *self.stored.lock().unwrap_or_else(|e| e.into_inner()) = Some((v, Instant::now()));
                v
            }
        };
        Ok(stored.wrapping_add(self.local_writes.load(Ordering::SeqCst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::MemoryAccessStore;

    #[tokio::test]
    async fn conforms_and_sees_own_writes_at_once_and_others_within_the_ttl() {
        crate::testkit::access::run_all(|| async {
            Arc::new(VersionCachedAccessStore::new(
                Arc::new(MemoryAccessStore::new()),
                Duration::from_secs(3600),
            )) as _
        })
        .await;

        let inner: Arc<dyn AccessStore> = Arc::new(MemoryAccessStore::new());
        let cached = VersionCachedAccessStore::new(inner.clone(), Duration::from_millis(100));
        let v0 = cached.access_version().await.unwrap();
        let org = Org {
            id: OrgId::new(),
            slug: "acme".into(),
            name: "Acme".into(),
            created_at_ms: 0,
        };
        cached.create_org(&org).await.unwrap();
        let v1 = cached.access_version().await.unwrap();
        assert_ne!(v0, v1, "a write through the wrapper shows at once");
        // A write behind the wrapper's back (another process) shows within the TTL.
        inner
            .create_customer(&Customer {
                id: CustomerId::new(),
                org_id: org.id,
                name: "c".into(),
                created_at_ms: 0,
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_ne!(cached.access_version().await.unwrap(), v1);
    }
}
