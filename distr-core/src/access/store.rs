//! The [`AccessStore`] trait: persistence of the tenancy model.

use std::fmt::Debug;

use async_trait::async_trait;

use super::mode::{AccessMode, AccessModeRecord};
use super::model::*;
use crate::error::StoreResult;

/// A shared, type-erased access store.
pub type DynAccessStore = dyn AccessStore;

/// Persistence of organisations, customers, users, tokens, artifacts and
/// entitlements.
///
/// Uniqueness violations (an org slug, a user's email within its customer, or
/// among the vendor's own users, an
/// artifact name within an org, an entitlement name within a customer) and
/// references to records that do not exist (a customer's org, a user's
/// customer, a token's user, an entitlement's customer) fail with
/// [`crate::StoreError::Conflict`] and change nothing. Deletes cascade: a
/// customer takes its users, their tokens and its entitlements with it; a
/// user takes its tokens. Deleting an artifact leaves entitlement items that
/// name it (callers refuse such deletes first). Listings are ordered by
/// creation time, then id.
#[async_trait]
pub trait AccessStore: Debug + Send + Sync + 'static {
    /// Creates a vendor organisation.
    async fn create_org(&self, org: &Org) -> StoreResult<()>;
    /// An organisation by id.
    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Org>>;
    /// An organisation by slug.
    async fn get_org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>>;
    /// All organisations.
    async fn list_orgs(&self) -> StoreResult<Vec<Org>>;

    /// Creates a customer organisation.
    async fn create_customer(&self, customer: &Customer) -> StoreResult<()>;
    /// A customer by id.
    async fn get_customer(&self, id: CustomerId) -> StoreResult<Option<Customer>>;
    /// The customers of a vendor.
    async fn list_customers(&self, org: OrgId) -> StoreResult<Vec<Customer>>;
    /// Renames a customer. Returns whether it existed.
    async fn update_customer(&self, customer: &Customer) -> StoreResult<bool>;
    /// Deletes a customer with its users, their tokens, and its entitlements.
    async fn delete_customer(&self, id: CustomerId) -> StoreResult<bool>;

    /// Creates a user.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// A user by id.
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;
    /// The users of a vendor, or of one of its customers.
    async fn list_users(&self, org: OrgId, customer: Option<CustomerId>) -> StoreResult<Vec<User>>;
    /// Deletes a user and its tokens.
    async fn delete_user(&self, id: UserId) -> StoreResult<bool>;

    /// Stores a new token.
    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()>;
    /// A token by the hash of its secret, with its owner.
    async fn find_token(&self, hash: &str) -> StoreResult<Option<(TokenRecord, User)>>;
    /// A token by id.
    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>>;
    /// A user's tokens (revoked ones included).
    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<TokenRecord>>;
    /// Marks a token revoked at `at_ms` (keeps the first revocation time).
    /// Returns whether the token exists.
    async fn revoke_token(&self, id: TokenId, at_ms: i64) -> StoreResult<bool>;
    /// Records a successful use at `at_ms`.
    async fn touch_token(&self, id: TokenId, at_ms: i64) -> StoreResult<()>;

    /// Creates an artifact.
    async fn create_artifact(&self, artifact: &Artifact) -> StoreResult<()>;
    /// An artifact by id.
    async fn get_artifact(&self, id: ArtifactId) -> StoreResult<Option<Artifact>>;
    /// An artifact by its name within a vendor.
    async fn get_artifact_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<Artifact>>;
    /// The artifacts of a vendor.
    async fn list_artifacts(&self, org: OrgId) -> StoreResult<Vec<Artifact>>;
    /// Deletes an artifact (with its sync status). Returns whether it existed.
    async fn delete_artifact(&self, id: ArtifactId) -> StoreResult<bool>;
    /// Sets or clears an artifact's upstream. Returns whether it existed.
    async fn update_artifact_upstream(
        &self,
        id: ArtifactId,
        upstream: Option<&ArtifactUpstream>,
    ) -> StoreResult<bool>;
    /// Every artifact with an upstream, of every vendor (for the sync job).
    async fn list_upstream_artifacts(&self) -> StoreResult<Vec<Artifact>>;
    /// An artifact's sync status (the default when it never synced or does
    /// not exist).
    async fn get_sync_status(&self, id: ArtifactId) -> StoreResult<SyncStatus>;
    /// Records an artifact's sync status. Does not change the
    /// [`access_version`](Self::access_version). Returns whether the
    /// artifact exists (nothing is stored for a missing one).
    async fn put_sync_status(&self, id: ArtifactId, status: &SyncStatus) -> StoreResult<bool>;

    /// Creates an entitlement and, in the same change, switches its vendor to
    /// [`AccessMode::Entitled`] (recorded as
    /// [`AccessModeRecord::after_entitlement`]) unless it already is.
    async fn create_entitlement(&self, e: &Entitlement) -> StoreResult<()>;
    /// Replaces an entitlement's name, expiry and items; its customer and org
    /// stay as stored. Returns whether it existed.
    async fn update_entitlement(&self, e: &Entitlement) -> StoreResult<bool>;
    /// An entitlement by id.
    async fn get_entitlement(&self, id: EntitlementId) -> StoreResult<Option<Entitlement>>;
    /// A customer's entitlements (expired ones included).
    async fn list_entitlements(&self, customer: CustomerId) -> StoreResult<Vec<Entitlement>>;
    /// A vendor's access mode with the record of its last change:
    /// [`AccessModeRecord::initial`] (open) until its first entitlement, and
    /// [`AccessMode::Entitled`] for an organisation that does not exist (so
    /// a lookup race never opens anything). Deleting entitlements never
    /// changes it.
    async fn access_mode(&self, org: OrgId) -> StoreResult<AccessModeRecord>;
    /// Sets a vendor's access mode, recording `changed_by` and `at_ms` (see
    /// [`AccessModeRecord`]). Changes the
    /// [`access_version`](Self::access_version). Returns whether the
    /// organisation exists.
    async fn set_access_mode(
        &self,
        org: OrgId,
        mode: AccessMode,
        changed_by: &str,
        at_ms: i64,
    ) -> StoreResult<bool>;
    /// Entitlements that name an artifact.
    async fn entitlements_for_artifact(
        &self,
        artifact: ArtifactId,
    ) -> StoreResult<Vec<Entitlement>>;
    /// Deletes an entitlement. Returns whether it existed.
    async fn delete_entitlement(&self, id: EntitlementId) -> StoreResult<bool>;

    /// A number that changes whenever an organisation, customer, artifact or
    /// entitlement is created, changed or deleted, so callers can cache what
    /// they derived from those records and revalidate with one cheap read.
    async fn access_version(&self) -> StoreResult<i64>;
}
