//! [`MemoryAccessStore`]: the tenancy model held in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::mode::{AccessMode, AccessModeRecord};
use super::model::*;
use super::store::AccessStore;
use crate::error::{StoreError, StoreResult};

#[derive(Default)]
struct State {
    orgs: HashMap<OrgId, Org>,
    customers: HashMap<CustomerId, Customer>,
    users: HashMap<UserId, User>,
    tokens: HashMap<TokenId, TokenRecord>,
    artifacts: HashMap<ArtifactId, Artifact>,
    entitlements: HashMap<EntitlementId, Entitlement>,
    sync: HashMap<ArtifactId, SyncStatus>,
    /// Access modes of organisations that ever changed theirs.
    modes: HashMap<OrgId, AccessModeRecord>,
    version: i64,
}

/// An [`AccessStore`] in memory; everything is lost on drop.
#[derive(Default)]
pub struct MemoryAccessStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryAccessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryAccessStore")
    }
}

impl MemoryAccessStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    /// Like `with`, for changes that can affect access: bumps the version.
    fn with_change<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        self.with(|s| {
            let out = f(s);
            s.version += 1;
            out
        })
    }
}

fn conflict(what: &str) -> StoreError {
    StoreError::Conflict(what.to_owned())
}

/// Values ordered by creation time, then id.
fn sorted<K, V: Clone>(
    map: &HashMap<K, V>,
    keep: impl Fn(&V) -> bool,
    key: impl Fn(&V) -> (i64, String),
) -> Vec<V> {
    let mut v: Vec<V> = map.values().filter(|x| keep(x)).cloned().collect();
    v.sort_by_key(|x| key(x));
    v
}

#[async_trait]
impl AccessStore for MemoryAccessStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        self.with_change(|s| {
            if s.orgs
                .values()
                .any(|o| o.slug == org.slug || o.id == org.id)
            {
                return Err(conflict("an organisation with this id or slug exists"));
            }
            s.orgs.insert(org.id, org.clone());
            Ok(())
        })
    }

    async fn get_org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        self.with(|s| Ok(s.orgs.get(&id).cloned()))
    }

    async fn get_org_by_slug(&self, slug: &str) -> StoreResult<Option<Org>> {
        self.with(|s| Ok(s.orgs.values().find(|o| o.slug == slug).cloned()))
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Org>> {
        self.with(|s| {
            Ok(sorted(
                &s.orgs,
                |_| true,
                |o| (o.created_at_ms, o.id.to_string()),
            ))
        })
    }

    async fn create_customer(&self, customer: &Customer) -> StoreResult<()> {
        self.with_change(|s| {
            if s.customers.contains_key(&customer.id) {
                return Err(conflict("customer exists"));
            }
            if !s.orgs.contains_key(&customer.org_id) {
                return Err(conflict("the customer's organisation does not exist"));
            }
            s.customers.insert(customer.id, customer.clone());
            Ok(())
        })
    }

    async fn get_customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        self.with(|s| Ok(s.customers.get(&id).cloned()))
    }

    async fn list_customers(&self, org: OrgId) -> StoreResult<Vec<Customer>> {
        self.with(|s| {
            Ok(sorted(
                &s.customers,
                |c| c.org_id == org,
                |c| (c.created_at_ms, c.id.to_string()),
            ))
        })
    }

    async fn update_customer(&self, customer: &Customer) -> StoreResult<bool> {
        self.with_change(|s| match s.customers.get_mut(&customer.id) {
            Some(c) => {
                c.name = customer.name.clone();
                Ok(true)
            }
            None => Ok(false),
        })
    }

    async fn delete_customer(&self, id: CustomerId) -> StoreResult<bool> {
        self.with_change(|s| {
            if s.customers.remove(&id).is_none() {
                return Ok(false);
            }
            let users: Vec<UserId> = s
                .users
                .values()
                .filter(|u| u.customer_id == Some(id))
                .map(|u| u.id)
                .collect();
            s.users.retain(|_, u| u.customer_id != Some(id));
            s.tokens.retain(|_, t| !users.contains(&t.user_id));
            s.entitlements.retain(|_, e| e.customer_id != id);
            Ok(true)
        })
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.with(|s| {
            if s.users
                .values()
                .any(|u| {
                    u.id == user.id
                        || (u.org_id == user.org_id
                            && u.customer_id == user.customer_id
                            && u.email == user.email)
                })
            {
                return Err(conflict(
                    "a user with this email exists in the same customer (or among the vendor's own users)",
                ));
            }
            if user
                .customer_id
                .is_some_and(|c| !s.customers.contains_key(&c))
            {
                return Err(conflict("the user's customer does not exist"));
            }
            s.users.insert(user.id, user.clone());
            Ok(())
        })
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.with(|s| Ok(s.users.get(&id).cloned()))
    }

    async fn list_users(&self, org: OrgId, customer: Option<CustomerId>) -> StoreResult<Vec<User>> {
        self.with(|s| {
            Ok(sorted(
                &s.users,
                |u| u.org_id == org && (customer.is_none() || u.customer_id == customer),
                |u| (u.created_at_ms, u.id.to_string()),
            ))
        })
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.with(|s| {
            let existed = s.users.remove(&id).is_some();
            s.tokens.retain(|_, t| t.user_id != id);
            Ok(existed)
        })
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        self.with(|s| {
            if !s.users.contains_key(&token.user_id) {
                return Err(conflict("the token's user does not exist"));
            }
            if s.tokens
                .values()
                .any(|t| t.id == token.id || t.hash == token.hash)
            {
                return Err(conflict("token exists"));
            }
            s.tokens.insert(token.id, token.clone());
            Ok(())
        })
    }

    async fn find_token(&self, hash: &str) -> StoreResult<Option<(TokenRecord, User)>> {
        self.with(|s| {
            Ok(s.tokens
                .values()
                .find(|t| t.hash == hash)
                .and_then(|t| s.users.get(&t.user_id).map(|u| (t.clone(), u.clone()))))
        })
    }

    async fn get_token(&self, id: TokenId) -> StoreResult<Option<TokenRecord>> {
        self.with(|s| Ok(s.tokens.get(&id).cloned()))
    }

    async fn list_tokens(&self, user: UserId) -> StoreResult<Vec<TokenRecord>> {
        self.with(|s| {
            Ok(sorted(
                &s.tokens,
                |t| t.user_id == user,
                |t| (t.created_at_ms, t.id.to_string()),
            ))
        })
    }

    async fn revoke_token(&self, id: TokenId, at_ms: i64) -> StoreResult<bool> {
        self.with(|s| match s.tokens.get_mut(&id) {
            Some(t) => {
                t.revoked_at_ms.get_or_insert(at_ms);
                Ok(true)
            }
            None => Ok(false),
        })
    }

    async fn touch_token(&self, id: TokenId, at_ms: i64) -> StoreResult<()> {
        self.with(|s| {
            if let Some(t) = s.tokens.get_mut(&id) {
                t.last_used_at_ms = Some(t.last_used_at_ms.map_or(at_ms, |l| l.max(at_ms)));
            }
            Ok(())
        })
    }

    async fn create_artifact(&self, artifact: &Artifact) -> StoreResult<()> {
        self.with_change(|s| {
            if s.artifacts.values().any(|a| {
                a.id == artifact.id || (a.org_id == artifact.org_id && a.name == artifact.name)
            }) {
                return Err(conflict("an artifact with this name exists"));
            }
            s.artifacts.insert(artifact.id, artifact.clone());
            Ok(())
        })
    }

    async fn get_artifact(&self, id: ArtifactId) -> StoreResult<Option<Artifact>> {
        self.with(|s| Ok(s.artifacts.get(&id).cloned()))
    }

    async fn get_artifact_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<Artifact>> {
        self.with(|s| {
            Ok(s.artifacts
                .values()
                .find(|a| a.org_id == org && a.name == name)
                .cloned())
        })
    }

    async fn list_artifacts(&self, org: OrgId) -> StoreResult<Vec<Artifact>> {
        self.with(|s| {
            Ok(sorted(
                &s.artifacts,
                |a| a.org_id == org,
                |a| (a.created_at_ms, a.id.to_string()),
            ))
        })
    }

    async fn delete_artifact(&self, id: ArtifactId) -> StoreResult<bool> {
        self.with_change(|s| {
            s.sync.remove(&id);
            Ok(s.artifacts.remove(&id).is_some())
        })
    }

    async fn update_artifact_upstream(
        &self,
        id: ArtifactId,
        upstream: Option<&ArtifactUpstream>,
    ) -> StoreResult<bool> {
        self.with_change(|s| match s.artifacts.get_mut(&id) {
            Some(a) => {
                a.upstream = upstream.cloned();
                Ok(true)
            }
            None => Ok(false),
        })
    }

    async fn list_upstream_artifacts(&self) -> StoreResult<Vec<Artifact>> {
        self.with(|s| {
            Ok(sorted(
                &s.artifacts,
                |a| a.upstream.is_some(),
                |a| (a.created_at_ms, a.id.to_string()),
            ))
        })
    }

    async fn get_sync_status(&self, id: ArtifactId) -> StoreResult<SyncStatus> {
        self.with(|s| Ok(s.sync.get(&id).cloned().unwrap_or_default()))
    }

    async fn put_sync_status(&self, id: ArtifactId, status: &SyncStatus) -> StoreResult<bool> {
        self.with(|s| {
            if !s.artifacts.contains_key(&id) {
                return Ok(false);
            }
            s.sync.insert(id, status.clone());
            Ok(true)
        })
    }

    async fn create_entitlement(&self, e: &Entitlement) -> StoreResult<()> {
        self.with_change(|s| {
            if s.entitlements
                .values()
                .any(|x| x.id == e.id || (x.customer_id == e.customer_id && x.name == e.name))
            {
                return Err(conflict(
                    "an entitlement with this name exists for the customer",
                ));
            }
            if !s.customers.contains_key(&e.customer_id) {
                return Err(conflict("the entitlement's customer does not exist"));
            }
            let mode = s
                .modes
                .remove(&e.org_id)
                .unwrap_or_else(AccessModeRecord::initial)
                .after_entitlement(&e.id.to_string(), e.created_at_ms);
            s.modes.insert(e.org_id, mode);
            s.entitlements.insert(e.id, e.clone());
            Ok(())
        })
    }

    async fn update_entitlement(&self, e: &Entitlement) -> StoreResult<bool> {
        self.with_change(|s| {
            let Some(customer) = s.entitlements.get(&e.id).map(|x| x.customer_id) else {
                return Ok(false);
            };
            if s.entitlements
                .values()
                .any(|x| x.id != e.id && x.customer_id == customer && x.name == e.name)
            {
                return Err(conflict(
                    "an entitlement with this name exists for the customer",
                ));
            }
            if let Some(x) = s.entitlements.get_mut(&e.id) {
                x.name = e.name.clone();
                x.expires_at_ms = e.expires_at_ms;
                x.items = e.items.clone();
            }
            Ok(true)
        })
    }

    async fn get_entitlement(&self, id: EntitlementId) -> StoreResult<Option<Entitlement>> {
        self.with(|s| Ok(s.entitlements.get(&id).cloned()))
    }

    async fn list_entitlements(&self, customer: CustomerId) -> StoreResult<Vec<Entitlement>> {
        self.with(|s| {
            Ok(sorted(
                &s.entitlements,
                |e| e.customer_id == customer,
                |e| (e.created_at_ms, e.id.to_string()),
            ))
        })
    }

    async fn access_mode(&self, org: OrgId) -> StoreResult<AccessModeRecord> {
        self.with(|s| {
            if !s.orgs.contains_key(&org) {
                return Ok(AccessModeRecord::unknown_org());
            }
            Ok(s.modes
                .get(&org)
                .cloned()
                .unwrap_or_else(AccessModeRecord::initial))
        })
    }

    async fn set_access_mode(
        &self,
        org: OrgId,
        mode: AccessMode,
        changed_by: &str,
        at_ms: i64,
    ) -> StoreResult<bool> {
        self.with_change(|s| {
            if !s.orgs.contains_key(&org) {
                return Ok(false);
            }
            s.modes.insert(
                org,
                AccessModeRecord {
                    mode,
                    changed_at_ms: Some(at_ms),
                    changed_by: Some(changed_by.to_owned()),
                },
            );
            Ok(true)
        })
    }

    async fn entitlements_for_artifact(
        &self,
        artifact: ArtifactId,
    ) -> StoreResult<Vec<Entitlement>> {
        self.with(|s| {
            Ok(sorted(
                &s.entitlements,
                |e| e.items.iter().any(|i| i.artifact_id == artifact),
                |e| (e.created_at_ms, e.id.to_string()),
            ))
        })
    }

    async fn access_version(&self) -> StoreResult<i64> {
        self.with(|s| Ok(s.version))
    }

    async fn delete_entitlement(&self, id: EntitlementId) -> StoreResult<bool> {
        self.with_change(|s| Ok(s.entitlements.remove(&id).is_some()))
    }
}
