//! The [`AccessStore`] implementation (the tenancy model), delegating to one
//! module per table. It shares the pool, and the database, with the
//! [`distr_core::MetadataStore`] implementation.

mod artifacts;
mod customers;
mod entitlements;
mod errors;
mod items;
mod orgs;
mod tokens;
mod users;

use async_trait::async_trait;
use distr_core::access::{
    AccessMode, AccessModeRecord, AccessStore, Artifact, ArtifactId, ArtifactUpstream, Customer,
    CustomerId, Entitlement, EntitlementId, Org, OrgId, SyncStatus, TokenId, TokenRecord, User,
    UserId,
};
use distr_core::{StoreError, StoreResult};

use crate::SqliteStore;

#[async_trait]
impl AccessStore for SqliteStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        orgs::create(self, org).await
    }

    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        orgs::get(self, id).await
    }

    async fn get_org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>> {
        orgs::get_by_slug(self, slug).await
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        orgs::list(self).await
    }

    async fn create_customer(&self, customer: &Customer) -> StoreResult<()> {
        customers::create(self, customer).await
    }

    async fn get_customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        customers::get(self, id).await
    }

    async fn list_customers(&self, org: OrgId) -> StoreResult<Vec<Customer>> {
        customers::list(self, org).await
    }

    async fn update_customer(&self, customer: &Customer) -> StoreResult<bool> {
        customers::update(self, customer).await
    }

    async fn delete_customer(&self, id: CustomerId) -> StoreResult<bool> {
        customers::delete(self, id).await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        users::create(self, user).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        users::get(self, id).await
    }

    async fn list_users(&self, org: OrgId, customer: Option<CustomerId>) -> StoreResult<Vec<User>> {
        users::list(self, org, customer).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        users::delete(self, id).await
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        tokens::create(self, token).await
    }

    async fn find_token(&self, hash: &str) -> StoreResult<Option<(TokenRecord, User)>> {
        tokens::find(self, hash).await
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>> {
        tokens::get(self, id).await
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<TokenRecord>> {
        tokens::list(self, user).await
    }

    async fn revoke_token(&self, id: TokenId, at_ms: i64) -> StoreResult<bool> {
        tokens::revoke(self, id, at_ms).await
    }

    async fn touch_token(&self, id: TokenId, at_ms: i64) -> StoreResult<()> {
        tokens::touch(self, id, at_ms).await
    }

    async fn create_artifact(&self, artifact: &Artifact) -> StoreResult<()> {
        artifacts::create(self, artifact).await
    }

    async fn get_artifact(&self, id: ArtifactId) -> StoreResult<Option<Artifact>> {
        artifacts::get(self, id).await
    }

    async fn get_artifact_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<Artifact>> {
        artifacts::get_by_name(self, org, name).await
    }

    async fn list_artifacts(&self, org: OrgId) -> StoreResult<Vec<Artifact>> {
        artifacts::list(self, org).await
    }

    async fn delete_artifact(&self, id: ArtifactId) -> StoreResult<bool> {
        artifacts::delete(self, id).await
    }

    async fn update_artifact_upstream(
        &self,
        id: ArtifactId,
        upstream: Option<&ArtifactUpstream>,
    ) -> StoreResult<bool> {
        artifacts::update_upstream(self, id, upstream).await
    }

    async fn list_upstream_artifacts(&self) -> StoreResult<Vec<Artifact>> {
        artifacts::list_upstream(self).await
    }

    async fn get_sync_status(&self, id: ArtifactId) -> StoreResult<SyncStatus> {
        artifacts::get_sync_status(self, id).await
    }

    async fn put_sync_status(&self, id: ArtifactId, status: &SyncStatus) -> StoreResult<bool> {
        artifacts::put_sync_status(self, id, status).await
    }

    async fn create_entitlement(&self, e: &Entitlement) -> StoreResult<()> {
        entitlements::create(self, e).await
    }

    async fn update_entitlement(&self, e: &Entitlement) -> StoreResult<bool> {
        entitlements::update(self, e).await
    }

    async fn get_entitlement(&self, id: EntitlementId) -> StoreResult<Option<Entitlement>> {
        entitlements::get(self, id).await
    }

    async fn list_entitlements(&self, customer: CustomerId) -> StoreResult<Vec<Entitlement>> {
        entitlements::list(self, customer).await
    }

    async fn access_mode(&self, org: OrgId) -> StoreResult<AccessModeRecord> {
        orgs::access_mode(self, org).await
    }

    async fn set_access_mode(
        &self,
        org: OrgId,
        mode: AccessMode,
        changed_by: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        orgs::set_access_mode(self, org, mode, changed_by, at_ms).await
    }

    async fn entitlements_for_artifact(
        &self,
        artifact: ArtifactId,
    ) -> StoreResult<Vec<Entitlement>> {
        entitlements::for_artifact(self, artifact).await
    }

    async fn delete_entitlement(&self, id: EntitlementId) -> StoreResult<bool> {
        entitlements::delete(self, id).await
    }

    async fn access_version(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT version FROM access_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)
    }
}
