//! Authentication with personal access tokens: a presented secret becomes a
//! [`Principal`].
//!
//! Results are cached for at most [`CACHE_TTL`], so a revoked or expired
//! token is refused within a second without a database hit on every request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::model::{Role, TokenId};
use super::policy::Principal;
use super::session::SessionClaims;
use super::store::AccessStore;
use super::token::PlainToken;
use crate::error::{Error, Result};

/// Longest time a token check is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(1);
/// `last_used_at` is written at most this often per token.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// Cache entries kept before the cache is cleared.
const CACHE_CAPACITY: usize = 100_000;

#[derive(Clone)]
struct Cached {
    principal: Option<Principal>,
    token: Option<TokenId>,
    checked: Instant,
}

/// Turns token secrets into principals.
pub struct TokenAuthenticator {
    store: Arc<dyn AccessStore>,
    cache: Mutex<HashMap<String, Cached>>,
    sessions: Mutex<HashMap<TokenId, (bool, Instant)>>,
    touched: Mutex<HashMap<TokenId, Instant>>,
}

impl std::fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenAuthenticator")
    }
}

impl TokenAuthenticator {
    /// An authenticator over `store`.
    pub fn new(store: Arc<dyn AccessStore>) -> Self {
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The principal `secret` authenticates at `now_ms`, or
    /// [`Error::Unauthorized`] for an unknown, revoked or expired token.
    pub async fn authenticate(&self, secret: &str, now_ms: i64) -> Result<Principal> {
        let hash = PlainToken::from_secret(secret).hash();
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned();
        let entry = match cached {
            Some(c) if c.checked.elapsed() < CACHE_TTL => c,
            _ => {
                let fresh = self.lookup(&hash, now_ms).await?;
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(hash, fresh.clone());
                fresh
            }
        };
        if let Some(id) = entry.token {
            self.touch(id, now_ms).await;
        }
        entry.principal.ok_or(Error::Unauthorized)
    }

    /// The principal of a verified session, provided the access token it was
    /// issued for is still active (checked at most once per [`CACHE_TTL`]).
    pub async fn authenticate_session(
        &self,
        claims: &SessionClaims,
        now_ms: i64,
    ) -> Result<Principal> {
        let cached = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&claims.token_id)
            .copied();
        let active = match cached {
            Some((active, at)) if at.elapsed() < CACHE_TTL => active,
            _ => {
                let active = self
                    .store
                    .get_token(claims.token_id)
                    .await?
                    .is_some_and(|t| t.is_active(now_ms));
                let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                if sessions.len() >= CACHE_CAPACITY {
                    sessions.clear();
                }
                sessions.insert(claims.token_id, (active, Instant::now()));
                active
            }
        };
        if active {
            Ok(claims.principal.clone())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Forgets every cached check of the access token `id` (and of the
    /// sessions issued for it), so the next request presenting it is
    /// checked against the store: call it when the token is revoked or
    /// rotated, and the revocation is final on this replica at once (other
    /// replicas refuse it within [`CACHE_TTL`]).
    pub fn invalidate(&self, id: TokenId) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, c| c.token != Some(id));
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// True when the access token `id` is active at `now_ms` according to
    /// the store itself, never the cache: what writes (token creation,
    /// entitlement and user changes) check the presenting token with.
    pub async fn is_active_in_store(&self, id: TokenId, now_ms: i64) -> Result<bool> {
        Ok(self
            .store
            .get_token(id)
            .await?
            .is_some_and(|t| t.is_active(now_ms)))
    }

    /// The id of the access token `secret` names, once [`Self::authenticate`]
    /// accepted it.
    pub fn token_id(&self, secret: &str) -> Option<TokenId> {
        let hash = PlainToken::from_secret(secret).hash();
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .and_then(|c| c.token)
    }

    async fn lookup(&self, hash: &str, now_ms: i64) -> Result<Cached> {
        let found = self.store.find_token(hash).await?;
        let (principal, token) = match found {
            Some((token, user)) if token.is_active(now_ms) => {
                let principal = match (user.role, user.customer_id) {
                    (Role::VendorAdmin, _) => Some(Principal::VendorAdmin {
                        org: user.org_id,
                        user: user.id,
                    }),
                    (Role::CustomerAdmin | Role::CustomerMember, Some(customer)) => {
                        Some(Principal::Customer {
                            org: user.org_id,
                            customer,
                            user: user.id,
                        })
                    }
                    // A customer role without a customer grants nothing.
                    _ => None,
                };
                (principal, Some(token.id))
            }
            _ => (None, None),
        };
        Ok(Cached {
            principal,
            token,
            checked: Instant::now(),
        })
    }

    /// Records use, at most once per [`TOUCH_INTERVAL`] per token; a failure
    /// to record never fails the request.
    async fn touch(&self, id: TokenId, now_ms: i64) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            if touched
                .get(&id)
                .is_some_and(|t| t.elapsed() < TOUCH_INTERVAL)
            {
                return;
            }
            if touched.len() >= CACHE_CAPACITY {
                touched.clear();
            }
            touched.insert(id, Instant::now());
        }
        if let Err(e) = self.store.touch_token(id, now_ms).await {
            tracing::warn!(error = %e, token = %id, "could not record token use");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::*;

    #[tokio::test]
    async fn invalidating_a_token_makes_its_revocation_final_at_once() {
        let store = Arc::new(MemoryAccessStore::new());
        use crate::testkit::access::fixtures;
        let org = fixtures::org("acme", 0);
        let admin = fixtures::user(&org, None, "a@acme.test", Role::VendorAdmin, 0);
        let secret = PlainToken::generate().unwrap().expose().to_owned();
        let record = fixtures::token(&admin, &secret, 0);
        let id = record.id;
        store.create_org(&org).await.unwrap();
        store.create_user(&admin).await.unwrap();
        store.create_token(&record).await.unwrap();
        let authn = TokenAuthenticator::new(store.clone());
        assert!(authn.authenticate(&secret, 0).await.is_ok());
        store.revoke_token(id, 1).await.unwrap();
        // Cached: still accepted within the TTL...
        assert!(authn.authenticate(&secret, 1).await.is_ok());
        assert!(!authn.is_active_in_store(id, 1).await.unwrap());
        // ...until invalidated.
        authn.invalidate(id);
        assert!(authn.authenticate(&secret, 1).await.is_err());
    }

    #[tokio::test]
    async fn tokens_map_to_principals_and_revocation_applies_within_the_ttl() {
        let store = Arc::new(MemoryAccessStore::new());
        let org = Org {
            id: OrgId::new(),
            slug: "acme".into(),
            name: "Acme".into(),
            created_at_ms: 0,
        };
        store.create_org(&org).await.unwrap();
        let customer = Customer {
            id: CustomerId::new(),
            org_id: org.id,
            name: "one".into(),
            created_at_ms: 0,
        };
        store.create_customer(&customer).await.unwrap();
        let admin = User {
            id: UserId::new(),
            org_id: org.id,
            customer_id: None,
            email: "a@acme.test".into(),
            role: Role::VendorAdmin,
            created_at_ms: 0,
        };
        let member = User {
            id: UserId::new(),
            org_id: org.id,
            customer_id: Some(customer.id),
            email: "m@one.test".into(),
            role: Role::CustomerMember,
            created_at_ms: 0,
        };
        store.create_user(&admin).await.unwrap();
        store.create_user(&member).await.unwrap();
        let mk = |user: &User, expires: Option<i64>| {
            let secret = PlainToken::generate().unwrap();
            let record = TokenRecord {
                id: TokenId::new(),
                user_id: user.id,
                name: "t".into(),
                hash: secret.hash(),
                expires_at_ms: expires,
                last_used_at_ms: None,
                revoked_at_ms: None,
                created_at_ms: 0,
            };
            (secret, record)
        };
        let (admin_secret, admin_token) = mk(&admin, None);
        let (member_secret, member_token) = mk(&member, Some(1_000));
        store.create_token(&admin_token).await.unwrap();
        store.create_token(&member_token).await.unwrap();
        let auth = TokenAuthenticator::new(store.clone());

        assert_eq!(
            auth.authenticate(admin_secret.expose(), 10).await.unwrap(),
            Principal::VendorAdmin {
                org: org.id,
                user: admin.id
            }
        );
        assert_eq!(
            auth.authenticate(member_secret.expose(), 10).await.unwrap(),
            Principal::Customer {
                org: org.id,
                customer: customer.id,
                user: member.id
            }
        );
        assert_eq!(
            store
                .get_token(member_token.id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at_ms,
            Some(10)
        );
        assert!(matches!(
            auth.authenticate("distr_nope", 10).await,
            Err(Error::Unauthorized)
        ));

        // Revocation is seen once the cached check is older than the TTL.
        store.revoke_token(member_token.id, 20).await.unwrap();
        tokio::time::sleep(CACHE_TTL + Duration::from_millis(50)).await;
        assert!(matches!(
            auth.authenticate(member_secret.expose(), 30).await,
            Err(Error::Unauthorized)
        ));
        // Expiry likewise.
        let (late_secret, late_token) = mk(&admin, Some(100));
        store.create_token(&late_token).await.unwrap();
        assert!(matches!(
            auth.authenticate(late_secret.expose(), 100).await,
            Err(Error::Unauthorized)
        ));
    }
}
