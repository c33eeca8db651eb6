//! [`SealingAccessStore`]: an [`AccessStore`] decorator that keeps upstream
//! credentials encrypted in the store it wraps.

use std::sync::Arc;

use async_trait::async_trait;

use super::key::{KeyRing, SealError};
use crate::access::mode::{AccessMode, AccessModeRecord};
use crate::access::model::*;
use crate::access::store::AccessStore;
use crate::error::{StoreError, StoreResult};
use crate::upstream::UpstreamAuth;

/// Wraps an [`AccessStore`] so that the secret of every artifact upstream
/// (a Basic password, an AWS secret access key) is sealed with the
/// [`KeyRing`]'s current key on the way in and unsealed on the way out.
/// The wrapped store, and so the database and its dumps, only ever hold
/// sealed values; callers of the wrapper see plaintext.
///
/// Sealed values are bound to their artifact id. Values stored before
/// encryption was configured are read as they are, and
/// [`reseal_all`](Self::reseal_all) seals them (and re-seals values of
/// previous keys after a rotation).
#[derive(Debug)]
pub struct SealingAccessStore {
    inner: Arc<dyn AccessStore>,
    keys: KeyRing,
}

impl SealingAccessStore {
    /// Wraps `inner`, sealing with `keys`.
    pub fn new(inner: Arc<dyn AccessStore>, keys: KeyRing) -> Self {
        Self { inner, keys }
    }

    /// Re-writes every upstream secret not sealed with the current key
    /// (plaintext from before encryption, or sealed by a previous key).
    /// Returns how many artifacts were re-written. Safe while serving: each
    /// artifact is one update, readers see either value, both unseal.
    pub async fn reseal_all(&self) -> StoreResult<usize> {
        let mut n = 0;
        for raw in self.inner.list_upstream_artifacts().await? {
            let Some(upstream) = &raw.upstream else {
                continue;
            };
            if secret_of(&upstream.auth).is_none_or(|s| self.keys.is_current(s)) {
                continue;
            }
            let plain = self.open(raw.clone())?;
            if let Some(u) = &plain.upstream {
                let sealed = self.seal_upstream(plain.id, u)?;
                if self
                    .inner
                    .update_artifact_upstream(plain.id, Some(&sealed))
                    .await?
                {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    fn seal_upstream(&self, id: ArtifactId, u: &ArtifactUpstream) -> StoreResult<ArtifactUpstream> {
        let context = id.to_string();
        let seal = |s: &str| {
            self.keys
                .seal(s, context.as_bytes())
                .map_err(|e| seal_failed(id, e))
        };
        let auth = match &u.auth {
            UpstreamAuth::Basic { username, password } => UpstreamAuth::Basic {
                username: username.clone(),
                password: seal(password)?,
            },
            UpstreamAuth::Ecr {
                access_key_id,
                secret_access_key,
            } => UpstreamAuth::Ecr {
                access_key_id: access_key_id.clone(),
                secret_access_key: seal(secret_access_key)?,
            },
            other => other.clone(),
        };
        Ok(ArtifactUpstream { auth, ..u.clone() })
    }

    /// The artifact with its upstream secret unsealed.
    fn open(&self, mut a: Artifact) -> StoreResult<Artifact> {
        let context = a.id.to_string();
        let id = a.id;
        let unseal = |s: &mut String| -> StoreResult<()> {
            *s = self
                .keys
                .unseal(s, context.as_bytes())
                .map_err(|e| seal_failed(id, e))?;
            Ok(())
        };
        if let Some(u) = &mut a.upstream {
            match &mut u.auth {
                UpstreamAuth::Basic { password, .. } => unseal(password)?,
                UpstreamAuth::Ecr {
                    secret_access_key, ..
                } => unseal(secret_access_key)?,
                _ => {}
            }
        }
        Ok(a)
    }

    fn open_all(&self, all: Vec<Artifact>) -> StoreResult<Vec<Artifact>> {
        all.into_iter().map(|a| self.open(a)).collect()
    }
}

/// The secret part of upstream credentials.
fn secret_of(auth: &UpstreamAuth) -> Option<&str> {
    match auth {
        UpstreamAuth::Basic { password, .. } => Some(password),
        UpstreamAuth::Ecr {
            secret_access_key, ..
        } => Some(secret_access_key),
        _ => None,
    }
}

fn seal_failed(id: ArtifactId, e: SealError) -> StoreError {
    StoreError::Corrupt(format!("upstream secret of artifact {id}: {e}"))
}

#[async_trait]
impl AccessStore for SealingAccessStore {
    async fn create_artifact(&self, artifact: &Artifact) -> StoreResult<()> {
        let mut sealed = artifact.clone();
        if let Some(u) = &artifact.upstream {
            sealed.upstream = Some(self.seal_upstream(artifact.id, u)?);
        }
        self.inner.create_artifact(&sealed).await
    }

    async fn update_artifact_upstream(
        &self,
        id: ArtifactId,
        upstream: Option<&ArtifactUpstream>,
    ) -> StoreResult<bool> {
        let sealed = upstream.map(|u| self.seal_upstream(id, u)).transpose()?;
        self.inner
            .update_artifact_upstream(id, sealed.as_ref())
            .await
    }

    async fn get_artifact(&self, id: ArtifactId) -> StoreResult<Option<Artifact>> {
        self.inner
            .get_artifact(id)
            .await?
            .map(|a| self.open(a))
            .transpose()
    }

    async fn get_artifact_by_name(&self, org: OrgId, name: &str) -> StoreResult<Option<Artifact>> {
        self.inner
            .get_artifact_by_name(org, name)
            .await?
            .map(|a| self.open(a))
            .transpose()
    }

    async fn list_artifacts(&self, org: OrgId) -> StoreResult<Vec<Artifact>> {
        self.open_all(self.inner.list_artifacts(org).await?)
    }

    async fn list_upstream_artifacts(&self) -> StoreResult<Vec<Artifact>> {
        self.open_all(self.inner.list_upstream_artifacts().await?)
    }

    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        self.inner.create_org(org).await
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
        self.inner.create_customer(customer).await
    }

    async fn get_customer(&self, id: CustomerId) -> StoreResult<Option<Customer>> {
        self.inner.get_customer(id).await
    }

    async fn list_customers(&self, org: OrgId) -> StoreResult<Vec<Customer>> {
        self.inner.list_customers(org).await
    }

    async fn update_customer(&self, customer: &Customer) -> StoreResult<bool> {
        self.inner.update_customer(customer).await
    }

    async fn delete_customer(&self, id: CustomerId) -> StoreResult<bool> {
        self.inner.delete_customer(id).await
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.inner.create_user(user).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner.get_user(id).await
    }

    async fn list_users(&self, org: OrgId, customer: Option<CustomerId>) -> StoreResult<Vec<User>> {
        self.inner.list_users(org, customer).await
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        self.inner.delete_user(id).await
    }

    async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        self.inner.create_token(token).await
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
        self.inner.revoke_token(id, at_ms).await
    }

    async fn touch_token(&self, id: TokenId, at_ms: i64) -> StoreResult<()> {
        self.inner.touch_token(id, at_ms).await
    }

    async fn delete_artifact(&self, id: ArtifactId) -> StoreResult<bool> {
        self.inner.delete_artifact(id).await
    }

    async fn get_sync_status(&self, id: ArtifactId) -> StoreResult<SyncStatus> {
        self.inner.get_sync_status(id).await
    }

    async fn put_sync_status(&self, id: ArtifactId, status: &SyncStatus) -> StoreResult<bool> {
        self.inner.put_sync_status(id, status).await
    }

    async fn create_entitlement(&self, e: &Entitlement) -> StoreResult<()> {
        self.inner.create_entitlement(e).await
    }

    async fn update_entitlement(&self, e: &Entitlement) -> StoreResult<bool> {
        self.inner.update_entitlement(e).await
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
        self.inner
            .set_access_mode(org, mode, changed_by, at_ms)
            .await
    }

    async fn entitlements_for_artifact(
        &self,
        artifact: ArtifactId,
    ) -> StoreResult<Vec<Entitlement>> {
        self.inner.entitlements_for_artifact(artifact).await
    }

    async fn delete_entitlement(&self, id: EntitlementId) -> StoreResult<bool> {
        self.inner.delete_entitlement(id).await
    }

    async fn access_version(&self) -> StoreResult<i64> {
        self.inner.access_version().await
    }
}

#[cfg(all(test, feature = "testkit"))]
mod conformance {
    use super::*;
    use crate::access::secrets::SecretKey;
    use crate::access::MemoryAccessStore;

    #[tokio::test]
    async fn sealing_store_conforms() {
        crate::testkit::access::run_all(|| async {
            let keys = KeyRing::new(SecretKey::from_bytes(&[3; 32]), vec![]);
            Arc::new(SealingAccessStore::new(
                Arc::new(MemoryAccessStore::new()),
                keys,
            )) as Arc<dyn AccessStore>
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::secrets::SecretKey;
    use crate::access::MemoryAccessStore;

    fn artifact(auth: UpstreamAuth) -> Artifact {
        Artifact {
            id: ArtifactId::new(),
            org_id: OrgId::new(),
            name: "app".into(),
            upstream: Some(ArtifactUpstream {
                reference: "ghcr.io/acme/app".parse().unwrap(),
                auth,
                insecure: false,
            }),
            created_at_ms: 1,
        }
    }

    fn ring(b: u8, previous: &[u8]) -> KeyRing {
        KeyRing::new(
            SecretKey::from_bytes(&[b; 32]),
            previous
                .iter()
                .map(|p| SecretKey::from_bytes(&[*p; 32]))
                .collect(),
        )
    }

    /// The secret as the wrapped store holds it.
    async fn raw_secret(inner: &MemoryAccessStore, id: ArtifactId) -> String {
        let a = inner.get_artifact(id).await.unwrap().unwrap();
        match a.upstream.unwrap().auth {
            UpstreamAuth::Basic { password, .. } => password,
            UpstreamAuth::Ecr {
                secret_access_key, ..
            } => secret_access_key,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn inner_store_never_holds_the_secret() {
        let inner = Arc::new(MemoryAccessStore::new());
        let store = SealingAccessStore::new(inner.clone(), ring(1, &[]));
        let basic = artifact(UpstreamAuth::basic("robot", "hunter2-pass"));
        let ecr = artifact(UpstreamAuth::Ecr {
            access_key_id: "AKIA1".into(),
            secret_access_key: "wJalrXUtnFEMI".into(),
        });
        for a in [&basic, &ecr] {
            store.create_artifact(a).await.unwrap();
            assert_eq!(store.get_artifact(a.id).await.unwrap().as_ref(), Some(a));
            let raw = raw_secret(&inner, a.id).await;
            assert!(raw.starts_with("distr-sealed:v1:"), "{raw}");
            assert!(!raw.contains("hunter2") && !raw.contains("wJalr"), "{raw}");
        }
        match inner
            .get_artifact(basic.id)
            .await
            .unwrap()
            .unwrap()
            .upstream
            .unwrap()
            .auth
        {
            UpstreamAuth::Basic { username, .. } => assert_eq!(username, "robot"),
            other => panic!("{other:?}"),
        }
        let listed = store.list_upstream_artifacts().await.unwrap();
        assert!(listed.contains(&basic) && listed.contains(&ecr));
        // Updates are sealed too.
        let u = artifact(UpstreamAuth::basic("robot", "second-pass")).upstream;
        store
            .update_artifact_upstream(basic.id, u.as_ref())
            .await
            .unwrap();
        let raw = raw_secret(&inner, basic.id).await;
        assert!(raw.starts_with("distr-sealed:v1:") && !raw.contains("second-pass"));
        assert_eq!(
            store
                .get_artifact(basic.id)
                .await
                .unwrap()
                .unwrap()
                .upstream,
            u
        );
    }

    #[tokio::test]
    async fn rotation_reseals_plaintext_and_old_keys() {
        let inner: Arc<dyn AccessStore> = Arc::new(MemoryAccessStore::new());
        // Stored before encryption: plaintext.
        let legacy = artifact(UpstreamAuth::basic("u", "legacy-pass"));
        inner.create_artifact(&legacy).await.unwrap();
        // Stored under key 1.
        let old = SealingAccessStore::new(inner.clone(), ring(1, &[]));
        let sealed_old = artifact(UpstreamAuth::basic("u", "old-pass"));
        old.create_artifact(&sealed_old).await.unwrap();

        // Key 2 current, key 1 previous: both read, reseal rewrites both.
        let rotated = SealingAccessStore::new(inner.clone(), ring(2, &[1]));
        assert_eq!(
            rotated.get_artifact(legacy.id).await.unwrap(),
            Some(legacy.clone())
        );
        assert_eq!(rotated.reseal_all().await.unwrap(), 2);
        assert_eq!(rotated.reseal_all().await.unwrap(), 0, "idempotent");
        // Key 1 can be dropped now.
        let new_only = SealingAccessStore::new(inner.clone(), ring(2, &[]));
        assert_eq!(
            new_only.get_artifact(sealed_old.id).await.unwrap(),
            Some(sealed_old)
        );
        assert_eq!(
            new_only.get_artifact(legacy.id).await.unwrap(),
            Some(legacy.clone())
        );
        // A store without the right key reports a clear error.
        let wrong = SealingAccessStore::new(inner, ring(9, &[]));
        let e = wrong.get_artifact(legacy.id).await.unwrap_err().to_string();
        assert!(
            e.contains("not configured") && !e.contains("legacy-pass"),
            "{e}"
        );
    }
}
