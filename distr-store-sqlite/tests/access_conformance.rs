//! Runs the `distr-core` [`AccessStore`] conformance suite and SQLite-specific
//! checks (persistence across reopening, sharing the database with the
//! registry metadata) against [`SqliteStore`].

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use distr_core::access::*;
use distr_core::store::BlobRecord;
use distr_core::testkit::access::fixtures::upstream;
use distr_core::testkit::access::run_all;
use distr_core::testkit::manifest;
use distr_core::upstream::UpstreamAuth;
use distr_core::{Digest, MetadataStore, RepoName, StoreError};
use distr_store_sqlite::SqliteStore;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

#[tokio::test]
async fn file_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let case = AtomicUsize::new(0);
    run_all(|| {
        // A fresh database per case, in a directory `open` has to create.
        let path = dir
            .path()
            .join(format!("case-{}", case.fetch_add(1, Ordering::Relaxed)))
            .join("meta.db");
        async move { Arc::new(SqliteStore::open(path).await.unwrap()) as Arc<dyn AccessStore> }
    })
    .await;
    assert_eq!(case.load(Ordering::Relaxed), 14);
}

#[tokio::test]
async fn in_memory_store_conforms() {
    run_all(|| async {
        Arc::new(SqliteStore::open_in_memory().await.unwrap()) as Arc<dyn AccessStore>
    })
    .await;
}

/// An organisation, a customer with a user and a token, an artifact and an
/// entitlement, all created at `t`.
struct Tenancy {
    org: Org,
    customer: Customer,
    user: User,
    token: TokenRecord,
    artifact: Artifact,
    entitlement: Entitlement,
}

impl Tenancy {
    fn new(slug: &str, t: i64) -> Self {
        let org = Org {
            id: OrgId::new(),
            slug: slug.into(),
            name: format!("{slug} Inc."),
            created_at_ms: t,
        };
        let customer = Customer {
            id: CustomerId::new(),
            org_id: org.id,
            name: "one".into(),
            created_at_ms: t,
        };
        let user = User {
            id: UserId::new(),
            org_id: org.id,
            customer_id: Some(customer.id),
            email: "ops@one.test".into(),
            role: Role::CustomerAdmin,
            created_at_ms: t,
        };
        let token = TokenRecord {
            id: TokenId::new(),
            user_id: user.id,
            name: "ci".into(),
            hash: PlainToken::from_secret(format!("{slug}-secret")).hash(),
            expires_at_ms: Some(t + 1_000),
            last_used_at_ms: Some(t + 1),
            revoked_at_ms: None,
            created_at_ms: t,
        };
        let artifact = Artifact {
            id: ArtifactId::new(),
            org_id: org.id,
            name: "charts/app".into(),
            upstream: None,
            created_at_ms: t,
        };
        let entitlement = Entitlement {
            id: EntitlementId::new(),
            org_id: org.id,
            customer_id: customer.id,
            name: "gold".into(),
            expires_at_ms: Some(t + 2_000),
            items: vec![
                EntitlementItem {
                    artifact_id: artifact.id,
                    tags: TagSelection::Only(vec![
                        "1.2.*".parse().unwrap(),
                        "latest".parse().unwrap(),
                    ]),
                },
                EntitlementItem {
                    artifact_id: ArtifactId::new(),
                    tags: TagSelection::All,
                },
                EntitlementItem {
                    artifact_id: artifact.id,
                    tags: TagSelection::Only(vec![]),
                },
            ],
            created_at_ms: t,
        };
        Tenancy {
            org,
            customer,
            user,
            token,
            artifact,
            entitlement,
        }
    }

    async fn create(&self, store: &dyn AccessStore) {
        store.create_org(&self.org).await.unwrap();
        store.create_customer(&self.customer).await.unwrap();
        store.create_user(&self.user).await.unwrap();
        store.create_token(&self.token).await.unwrap();
        store.create_artifact(&self.artifact).await.unwrap();
        store.create_entitlement(&self.entitlement).await.unwrap();
    }

    async fn assert_stored(&self, store: &dyn AccessStore) {
        assert_eq!(
            store.get_org_by_slug(&self.org.slug).await.unwrap(),
            Some(self.org.clone())
        );
        assert_eq!(
            store.list_customers(self.org.id).await.unwrap(),
            vec![self.customer.clone()]
        );
        assert_eq!(
            store.find_token(&self.token.hash).await.unwrap(),
            Some((self.token.clone(), self.user.clone()))
        );
        assert_eq!(
            store
                .get_artifact_by_name(self.org.id, &self.artifact.name)
                .await
                .unwrap(),
            Some(self.artifact.clone())
        );
        assert_eq!(
            store.list_entitlements(self.customer.id).await.unwrap(),
            vec![self.entitlement.clone()]
        );
    }
}

#[tokio::test]
async fn access_records_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let acme = Tenancy::new("acme", 10);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        acme.create(&store).await;
        store.revoke_token(acme.token.id, 50).await.unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let mut revoked = acme.token.clone();
    revoked.revoked_at_ms = Some(50);
    let acme = Tenancy {
        token: revoked,
        ..acme
    };
    acme.assert_stored(&store).await;
    assert_eq!(
        store
            .entitlements_for_artifact(acme.artifact.id)
            .await
            .unwrap(),
        vec![acme.entitlement.clone()]
    );
    // Uniqueness still holds after reopening.
    assert!(matches!(
        store.create_org(&Tenancy::new("acme", 11).org).await,
        Err(StoreError::Conflict(_))
    ));
}

#[tokio::test]
async fn access_and_registry_metadata_share_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let acme = Tenancy::new("acme", 10);
    let repo: RepoName = "acme/charts/app".parse().unwrap();
    let m = manifest("app", None);
    {
        let store = SqliteStore::open(&path).await.unwrap();
        acme.create(&store).await;
        store.put_manifest(&repo, &m, None).await.unwrap();
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    acme.assert_stored(&store).await;
    assert_eq!(store.get_manifest(&repo, &m.digest).await.unwrap(), Some(m));
}

#[tokio::test]
async fn a_metadata_only_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let blob = BlobRecord {
        digest: Digest::sha256(b"layer"),
        size: 5,
    };
    let path = {
        // A database as written before the access tables existed.
        let (path, pool) = common::database_before(dir.path(), "0002").await;
        sqlx::query("INSERT INTO repositories (id, name) VALUES (1, 'acme/app')")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO blob_links (repo_id, digest, size) VALUES (1, ?1, 5)")
            .bind(blob.digest.to_string())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        path
    };
    let store = SqliteStore::open(&path).await.unwrap();
    let repo: RepoName = "acme/app".parse().unwrap();
    assert_eq!(
        store.get_blob(&repo, &blob.digest).await.unwrap(),
        Some(blob)
    );
    let acme = Tenancy::new("acme", 10);
    acme.create(&store).await;
    acme.assert_stored(&store).await;
}

#[tokio::test]
async fn touching_keeps_the_latest_use_and_deleting_an_artifact_keeps_grants() {
    let store = SqliteStore::open_in_memory().await.unwrap();
    let acme = Tenancy::new("acme", 10);
    acme.create(&store).await;
    store.touch_token(acme.token.id, 5).await.unwrap();
    store.touch_token(TokenId::new(), 5).await.unwrap();
    assert_eq!(
        store
            .get_token(acme.token.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at_ms,
        acme.token.last_used_at_ms
    );
    // As in the in-memory store, entitlement items outlive their artifact.
    assert!(store.delete_artifact(acme.artifact.id).await.unwrap());
    assert_eq!(
        store.get_entitlement(acme.entitlement.id).await.unwrap(),
        Some(acme.entitlement.clone())
    );
    assert_eq!(
        store.access_mode(acme.org.id).await.unwrap().mode,
        distr_core::access::AccessMode::Entitled
    );
}

/// A pool on the database file at `path`, to reach behind the store's back.
async fn raw_pool(path: &std::path::Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

#[tokio::test]
async fn upstreams_and_sync_statuses_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let acme = Tenancy::new("acme", 10);
    let mirrored = Artifact {
        id: ArtifactId::new(),
        name: "mirror".into(),
        upstream: Some(upstream(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
            UpstreamAuth::Ecr {
                access_key_id: "AKIAEXAMPLE".into(),
                secret_access_key: "secret/key+1".into(),
            },
            true,
        )),
        ..acme.artifact.clone()
    };
    let status = SyncStatus {
        last_synced_at_ms: Some(20),
        last_sync_attempt_at_ms: Some(30),
        last_sync_error: Some("upstream: timeout".into()),
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        acme.create(&store).await;
        store.create_artifact(&mirrored).await.unwrap();
        assert!(store.put_sync_status(mirrored.id, &status).await.unwrap());
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        vec![mirrored.clone()]
    );
    assert_eq!(store.get_sync_status(mirrored.id).await.unwrap(), status);
    assert!(store.delete_artifact(mirrored.id).await.unwrap());
    store.close().await;
    let pool = raw_pool(&path).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM artifact_sync_status")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    pool.close().await;
}

/// Upstream columns that do not make an upstream are corrupt records, for
/// every read that decodes them; they never panic.
#[tokio::test]
async fn undecodable_upstreams_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let acme = Tenancy::new("acme", 10);
    acme.create(&store).await;
    let up = upstream("ghcr.io/acme/app", UpstreamAuth::basic("u", "p"), false);
    assert!(store
        .update_artifact_upstream(acme.artifact.id, Some(&up))
        .await
        .unwrap());
    let pool = raw_pool(&path).await;
    for update in [
        "UPDATE artifacts SET upstream_ref = 'not a reference'",
        "UPDATE artifacts SET upstream_ref = 'ghcr.io/acme/app', upstream_auth_kind = 'kerberos'",
        "UPDATE artifacts SET upstream_auth_kind = 'basic', upstream_secret = NULL",
        "UPDATE artifacts SET upstream_auth_kind = NULL",
        "UPDATE artifacts SET upstream_auth_kind = 'none', upstream_insecure = NULL",
    ] {
        sqlx::query(update).execute(&pool).await.unwrap();
        let corrupt = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Corrupt(_)));
        let (id, org) = (acme.artifact.id, acme.org.id);
        assert!(corrupt(store.get_artifact(id).await.map(drop)), "{update}");
        assert!(corrupt(
            store
                .get_artifact_by_name(org, &acme.artifact.name)
                .await
                .map(drop)
        ));
        assert!(corrupt(store.list_artifacts(org).await.map(drop)));
        assert!(corrupt(store.list_upstream_artifacts().await.map(drop)));
    }
    pool.close().await;
}

/// Artifacts stored before upstreams existed read back without one, and can
/// get one.
#[tokio::test]
async fn artifacts_from_before_upstreams_are_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let acme = Tenancy::new("acme", 10);
    let path = {
        let (path, pool) = common::database_before(dir.path(), "0005").await;
        sqlx::query(
            "INSERT INTO artifacts (id, org_id, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(acme.artifact.id.to_string())
        .bind(acme.org.id.to_string())
        .bind(&acme.artifact.name)
        .bind(acme.artifact.created_at_ms)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        path
    };
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        store.get_artifact(acme.artifact.id).await.unwrap(),
        Some(acme.artifact.clone())
    );
    assert_eq!(store.list_upstream_artifacts().await.unwrap(), vec![]);
    assert_eq!(
        store.get_sync_status(acme.artifact.id).await.unwrap(),
        SyncStatus::default()
    );
    let up = upstream("docker.io/redis", UpstreamAuth::None, false);
    assert!(store
        .update_artifact_upstream(acme.artifact.id, Some(&up))
        .await
        .unwrap());
    let mirrored = Artifact {
        upstream: Some(up),
        ..acme.artifact.clone()
    };
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        vec![mirrored]
    );
}

/// A database made by migrations 0001–0009 (before access modes and
/// per-customer addresses) keeps its users and tokens through the rebuild of
/// `users`, a vendor that had entitlements stays entitled, one that had none
/// stays open, and addresses become unique per customer.
#[tokio::test]
async fn databases_from_before_access_modes_keep_users_tokens_and_restrictions() {
    let dir = tempfile::tempdir().unwrap();
    let acme = Tenancy::new("acme", 10);
    let open = Tenancy::new("open", 20);
    let path = {
        let (path, pool) = common::database_before(dir.path(), "0010").await;
        for t in [&acme, &open] {
            let (u, tok) = (&t.user, &t.token);
            sqlx::query("INSERT INTO orgs (id, slug, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)")
                .bind(t.org.id.to_string())
                .bind(&t.org.slug)
                .bind(&t.org.name)
                .bind(t.org.created_at_ms)
                .execute(&pool)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO customers (id, org_id, name, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(t.customer.id.to_string())
            .bind(t.org.id.to_string())
            .bind(&t.customer.name)
            .bind(t.customer.created_at_ms)
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO users (id, org_id, customer_id, email, role, created_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(u.id.to_string())
            .bind(u.org_id.to_string())
            .bind(t.customer.id.to_string())
            .bind(&u.email)
            .bind(u.role.as_str())
            .bind(u.created_at_ms)
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO tokens (id, user_id, name, hash, expires_at_ms, last_used_at_ms, \
                 revoked_at_ms, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .bind(tok.id.to_string())
            .bind(u.id.to_string())
            .bind(&tok.name)
            .bind(&tok.hash)
            .bind(tok.expires_at_ms)
            .bind(tok.last_used_at_ms)
            .bind(tok.revoked_at_ms)
            .bind(tok.created_at_ms)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO entitlements (id, org_id, customer_id, name, expires_at_ms, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(acme.entitlement.id.to_string())
        .bind(acme.org.id.to_string())
        .bind(acme.customer.id.to_string())
        .bind(&acme.entitlement.name)
        .bind(Some(5_i64))
        .bind(7_i64)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        path
    };
    let store = SqliteStore::open(&path).await.unwrap();
    for t in [&acme, &open] {
        assert_eq!(
            store.find_token(&t.token.hash).await.unwrap(),
            Some((t.token.clone(), t.user.clone())),
            "the rebuild of users lost {}'s token",
            t.org.slug
        );
    }
    let entitled = store.access_mode(acme.org.id).await.unwrap();
    assert_eq!(entitled.mode, AccessMode::Entitled);
    assert_eq!(entitled.changed_at_ms, Some(7));
    assert_eq!(entitled.changed_by.as_deref(), Some("migration"));
    assert_eq!(
        store.access_mode(open.org.id).await.unwrap(),
        AccessModeRecord::initial()
    );
    // Cascades still hold after the rebuild: a user takes its tokens along.
    assert!(store.delete_user(open.user.id).await.unwrap());
    assert_eq!(store.find_token(&open.token.hash).await.unwrap(), None);
    // The address is unique per customer now, not per vendor.
    let other = Customer {
        id: CustomerId::new(),
        org_id: acme.org.id,
        name: "two".into(),
        created_at_ms: 30,
    };
    store.create_customer(&other).await.unwrap();
    let same = User {
        id: UserId::new(),
        customer_id: Some(other.id),
        ..acme.user.clone()
    };
    store.create_user(&same).await.unwrap();
    let dup = User {
        id: UserId::new(),
        ..acme.user.clone()
    };
    assert!(matches!(
        store.create_user(&dup).await,
        Err(StoreError::Conflict(_))
    ));
}
