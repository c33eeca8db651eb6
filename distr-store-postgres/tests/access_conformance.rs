//! Runs the `distr-core` [`AccessStore`] conformance suite and Postgres-specific
//! checks (agreement with the in-memory store, concurrent writers, atomic
//! replacement, cascades racing inserts) against [`PostgresStore`]. See
//! [`common`] for the test server and the schema each store gets.

mod common;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::TestDb;
use distr_core::access::{
    AccessStore, Artifact, Customer, Entitlement, EntitlementItem, MemoryAccessStore, Org, Role,
    SyncStatus, TagSelection, TokenId, TokenRecord, User,
};
use distr_core::store::Page;
use distr_core::testkit::access::fixtures::{
    self, artifact, customer, entitlement, only, org, token, upstream,
};
use distr_core::testkit::access::run_all;
use distr_core::testkit::manifest;
use distr_core::upstream::UpstreamAuth;
use distr_core::{MetadataStore, RepoName, StoreError};
use distr_store_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// A customer member, or a vendor admin without `customer`.
fn user(org: &Org, customer: Option<&Customer>, email: &str, t: i64) -> User {
    let role = if customer.is_some() {
        Role::CustomerMember
    } else {
        Role::VendorAdmin
    };
    fixtures::user(org, customer, email, role, t)
}

fn item(artifact: &Artifact, tags: TagSelection) -> EntitlementItem {
    EntitlementItem {
        artifact_id: artifact.id,
        tags,
    }
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

#[tokio::test]
async fn access_store_conforms() {
    let db = TestDb::new().await;
    let case = AtomicUsize::new(0);
    run_all(|| async {
        case.fetch_add(1, Ordering::Relaxed);
        Arc::new(db.store().await) as Arc<dyn AccessStore>
    })
    .await;
    assert_eq!(case.load(Ordering::Relaxed), 14);
    db.cleanup().await;
}

#[tokio::test]
async fn access_store_from_url_conforms() {
    let db = TestDb::new().await;
    run_all(|| async {
        let url = db.url_for(&db.schema().await);
        Arc::new(PostgresStore::connect(&url).await.unwrap()) as Arc<dyn AccessStore>
    })
    .await;
    db.cleanup().await;
}

/// The same writes on the in-memory store and on Postgres give the same
/// reads, including the order of records created at the same time (by id,
/// byte-wise) and tag selections with no pattern.
#[tokio::test]
async fn reads_agree_with_the_memory_store() {
    let db = TestDb::new().await;
    let pg = db.store().await;
    let memory = MemoryAccessStore::new();
    let stores: [&dyn AccessStore; 2] = [&memory, &pg];

    // Everything is created at the same millisecond, so ids decide the order.
    let t = 7;
    let orgs: Vec<Org> = (0..6).map(|i| org(&format!("org{i}"), t)).collect();
    let a = &orgs[0];
    let customers: Vec<Customer> = (0..6).map(|i| customer(a, &format!("c{i}"), t)).collect();
    let mut users: Vec<User> = (0..6)
        .map(|i| user(a, Some(&customers[i % 2]), &format!("u{i}@x.test"), t))
        .collect();
    users.push(user(a, None, "admin@x.test", t));
    let tokens: Vec<TokenRecord> = (0..6)
        .map(|i| token(&users[0], &format!("s{i}"), t))
        .collect();
    let mut artifacts: Vec<Artifact> = (0..4).map(|i| artifact(a, &format!("app{i}"), t)).collect();
    // Half of them mirror an upstream; one more in another vendor.
    for (i, x) in artifacts.iter_mut().enumerate().filter(|(i, _)| i % 2 == 0) {
        let reference = format!("ghcr.io/acme/app{i}");
        x.upstream = Some(upstream(&reference, UpstreamAuth::basic("u", "p"), false));
    }
    let mut elsewhere = artifact(&orgs[1], "app0", t);
    elsewhere.upstream = Some(upstream("docker.io/redis", UpstreamAuth::None, true));
    artifacts.push(elsewhere);
    let entitlements: Vec<Entitlement> = (0..6)
        .map(|i| {
            let items = vec![
                item(&artifacts[i % 4], only(&["1.*", "latest", "v?"])),
                item(&artifacts[(i + 1) % 4], TagSelection::All),
                item(&artifacts[(i + 2) % 4], TagSelection::Only(vec![])),
            ];
            let mut e = entitlement(&customers[i % 2], &format!("e{i}"), items, t);
            e.expires_at_ms = (i % 2 == 0).then_some(i64::MAX);
            e
        })
        .collect();
    for s in stores {
        for o in &orgs {
            s.create_org(o).await.unwrap();
        }
        for c in &customers {
            s.create_customer(c).await.unwrap();
        }
        for u in &users {
            s.create_user(u).await.unwrap();
        }
        for tk in &tokens {
            s.create_token(tk).await.unwrap();
        }
        for x in &artifacts {
            s.create_artifact(x).await.unwrap();
        }
        for e in &entitlements {
            s.create_entitlement(e).await.unwrap();
        }
        s.touch_token(tokens[0].id, 5).await.unwrap();
        s.touch_token(tokens[0].id, 3).await.unwrap();
        s.touch_token(TokenId::new(), 3).await.unwrap();
        assert!(s.revoke_token(tokens[1].id, 9).await.unwrap());
        assert!(s.revoke_token(tokens[1].id, 8).await.unwrap());
        assert!(s.delete_artifact(artifacts[3].id).await.unwrap());
    }

    assert_eq!(
        pg.list_orgs().await.unwrap(),
        memory.list_orgs().await.unwrap()
    );
    assert_eq!(
        pg.list_customers(a.id).await.unwrap(),
        memory.list_customers(a.id).await.unwrap()
    );
    assert_eq!(
        pg.list_users(a.id, None).await.unwrap(),
        memory.list_users(a.id, None).await.unwrap()
    );
    for c in &customers {
        assert_eq!(
            pg.list_users(a.id, Some(c.id)).await.unwrap(),
            memory.list_users(a.id, Some(c.id)).await.unwrap()
        );
        assert_eq!(
            pg.list_entitlements(c.id).await.unwrap(),
            memory.list_entitlements(c.id).await.unwrap()
        );
    }
    assert_eq!(
        pg.list_tokens(users[0].id).await.unwrap(),
        memory.list_tokens(users[0].id).await.unwrap()
    );
    assert_eq!(
        pg.list_artifacts(a.id).await.unwrap(),
        memory.list_artifacts(a.id).await.unwrap()
    );
    assert_eq!(
        pg.list_upstream_artifacts().await.unwrap(),
        memory.list_upstream_artifacts().await.unwrap()
    );
    assert_eq!(pg.list_upstream_artifacts().await.unwrap().len(), 3);
    // Deleting an artifact leaves the entitlements that name it alone.
    for x in &artifacts {
        let listed = pg.entitlements_for_artifact(x.id).await.unwrap();
        if x.id == artifacts[3].id {
            assert_eq!(listed.len(), 4);
        }
        assert_eq!(
            listed,
            memory.entitlements_for_artifact(x.id).await.unwrap()
        );
    }
    for e in &entitlements {
        assert_eq!(pg.get_entitlement(e.id).await.unwrap(), Some(e.clone()));
    }
    let used = pg.get_token(tokens[0].id).await.unwrap().unwrap();
    assert_eq!(used.last_used_at_ms, Some(5));
    let revoked = pg.get_token(tokens[1].id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(9));
    assert_eq!(
        pg.find_token(&tokens[2].hash).await.unwrap(),
        memory.find_token(&tokens[2].hash).await.unwrap()
    );
    pg.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_entitlements_with_one_name_exactly_one_wins() {
    let db = TestDb::new().await;
    // Two stores on one schema, like two replicas, with full-size pools.
    let url = db.url_for(&db.schema().await);
    let replicas = [
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
    ];
    let a = org("acme", 1);
    let c = customer(&a, "one", 2);
    let app = artifact(&a, "app", 3);
    replicas[0].create_org(&a).await.unwrap();
    replicas[0].create_customer(&c).await.unwrap();
    replicas[0].create_artifact(&app).await.unwrap();
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let store = replicas[i % 2].clone();
            // Each racer has its own id and items, so the winner is visible.
            let e = entitlement(
                &c,
                "gold",
                vec![item(&app, only(&[&format!("{i}.*")]))],
                10 + i as i64,
            );
            tokio::spawn(async move {
                let result = store.create_entitlement(&e).await;
                (e, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        match racer.await.unwrap() {
            (e, Ok(())) => winners.push(e),
            (_, Err(StoreError::Conflict(_))) => {}
            (_, Err(e)) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    // The losers left no trace, not even items.
    assert_eq!(replicas[1].list_entitlements(c.id).await.unwrap(), winners);
    assert_eq!(
        replicas[1].entitlements_for_artifact(app.id).await.unwrap(),
        winners
    );
    for s in &replicas {
        s.close().await;
    }
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_customer_racing_new_users_leaves_no_orphans() {
    let db = TestDb::new().await;
    let url = db.url_for(&db.schema().await);
    let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let a = org("acme", 1);
    let c = customer(&a, "one", 2);
    let app = artifact(&a, "app", 3);
    store.create_org(&a).await.unwrap();
    store.create_customer(&c).await.unwrap();
    store.create_artifact(&app).await.unwrap();
    let writers: Vec<_> = (0..12)
        .map(|i| {
            let (store, a, c, app) = (store.clone(), a.clone(), c.clone(), app.clone());
            tokio::spawn(async move {
                let u = user(&a, Some(&c), &format!("u{i}@one.test"), 10);
                let t = token(&u, &format!("secret-{i}"), 11);
                let e = entitlement(
                    &c,
                    &format!("e{i}"),
                    vec![item(&app, TagSelection::All)],
                    12,
                );
                for result in [
                    store.create_user(&u).await,
                    store.create_token(&t).await,
                    store.create_entitlement(&e).await,
                ] {
                    assert!(result.is_ok() || is_conflict(&result), "{result:?}");
                }
                (u, t, e)
            })
        })
        .collect();
    let deleter = {
        let (store, id) = (store.clone(), c.id);
        tokio::spawn(async move { store.delete_customer(id).await })
    };
    assert!(deleter.await.unwrap().unwrap());
    for writer in writers {
        let (u, t, e) = writer.await.unwrap();
        assert_eq!(store.get_user(u.id).await.unwrap(), None);
        assert_eq!(store.find_token(&t.hash).await.unwrap(), None);
        assert_eq!(store.get_entitlement(e.id).await.unwrap(), None);
    }
    assert_eq!(store.list_users(a.id, None).await.unwrap(), vec![]);
    assert_eq!(store.list_entitlements(c.id).await.unwrap(), vec![]);
    assert_eq!(
        store.entitlements_for_artifact(app.id).await.unwrap(),
        vec![]
    );
    store.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_touches_keep_the_latest_use() {
    let db = TestDb::new().await;
    let store = Arc::new(db.store().await);
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let u = user(&a, None, "admin@acme.test", 2);
    store.create_user(&u).await.unwrap();
    let t = token(&u, "secret", 3);
    store.create_token(&t).await.unwrap();
    let touches: Vec<_> = (1..=20)
        .map(|at| {
            let store = store.clone();
            tokio::spawn(async move { store.touch_token(t.id, at).await })
        })
        .collect();
    for touch in touches {
        touch.await.unwrap().unwrap();
    }
    let touched = store.get_token(t.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at_ms, Some(20));
    store.close().await;
    db.cleanup().await;
}

/// Registry metadata and the tenancy model share one database, and both
/// survive reconnecting.
#[tokio::test]
async fn one_database_holds_metadata_and_tenancy() {
    let db = TestDb::new().await;
    let url = db.url_for(&db.schema().await);
    let r: RepoName = "acme/app".parse().unwrap();
    let m = manifest("m", None);
    let a = org("acme", 1);
    let app = artifact(&a, "app", 2);
    {
        let store = PostgresStore::connect(&url).await.unwrap();
        store.put_manifest(&r, &m, None).await.unwrap();
        store.create_org(&a).await.unwrap();
        store.create_artifact(&app).await.unwrap();
        store.close().await;
    }
    let store = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(
        store.list_repositories(&Page::default()).await.unwrap(),
        vec![r.clone()]
    );
    assert_eq!(store.get_manifest(&r, &m.digest).await.unwrap(), Some(m));
    assert_eq!(
        store.get_org_by_slug("acme").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.get_artifact_by_name(a.id, "app").await.unwrap(),
        Some(app)
    );
    store.close().await;
    db.cleanup().await;
}

/// A store in a fresh schema, and a pool on that schema to reach behind its
/// back.
async fn store_and_pool(db: &TestDb) -> (PostgresStore, PgPool) {
    let schema = db.schema().await;
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", &schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    (PostgresStore::from_pool(pool.clone()).await.unwrap(), pool)
}

/// Upstream columns that do not make an upstream are corrupt records, for
/// every read that decodes them; they never panic.
#[tokio::test]
async fn undecodable_upstreams_are_corrupt() {
    let db = TestDb::new().await;
    let (store, pool) = store_and_pool(&db).await;
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let mut app = artifact(&a, "app", 2);
    app.upstream = Some(upstream(
        "ghcr.io/acme/app",
        UpstreamAuth::basic("u", "p"),
        false,
    ));
    store.create_artifact(&app).await.unwrap();
    for update in [
        "UPDATE artifacts SET upstream_ref = 'not a reference'",
        "UPDATE artifacts SET upstream_ref = 'ghcr.io/Acme/App'",
        "UPDATE artifacts SET upstream_ref = 'ghcr.io/acme/app', upstream_secret = NULL",
        "UPDATE artifacts SET upstream_auth_kind = 'ecr', upstream_username = NULL, \
         upstream_secret = 'key'",
    ] {
        sqlx::query(update).execute(&pool).await.unwrap();
        let corrupt = |r: Result<_, StoreError>| matches!(r, Err(StoreError::Corrupt(_)));
        assert!(
            corrupt(store.get_artifact(app.id).await.map(drop)),
            "{update}"
        );
        assert!(corrupt(
            store.get_artifact_by_name(a.id, "app").await.map(drop)
        ));
        assert!(corrupt(store.list_artifacts(a.id).await.map(drop)));
        assert!(corrupt(store.list_upstream_artifacts().await.map(drop)));
    }
    // The schema itself refuses an unknown kind of credentials.
    let unknown = sqlx::query("UPDATE artifacts SET upstream_auth_kind = 'kerberos'")
        .execute(&pool)
        .await;
    assert!(unknown.is_err());
    store.close().await;
    db.cleanup().await;
}

/// Artifacts stored before upstreams existed read back without one, and can
/// get one.
#[tokio::test]
async fn artifacts_from_before_upstreams_are_upgraded() {
    let db = TestDb::new().await;
    let schema = db.schema().await;
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .options([("search_path", &schema)]);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap();
    let mut before = sqlx::migrate!("./migrations");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 5)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&pool).await.unwrap();
    let a = org("acme", 1);
    let app = artifact(&a, "app", 2);
    sqlx::query("INSERT INTO orgs (id, slug, name, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(a.id.0)
        .bind(&a.slug)
        .bind(&a.name)
        .bind(a.created_at_ms)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO artifacts (id, org_id, name, created_at_ms) VALUES ($1, $2, $3, $4)")
        .bind(app.id.0)
        .bind(a.id.0)
        .bind(&app.name)
        .bind(app.created_at_ms)
        .execute(&pool)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool).await.unwrap();
    assert_eq!(store.get_artifact(app.id).await.unwrap(), Some(app.clone()));
    assert_eq!(store.list_upstream_artifacts().await.unwrap(), vec![]);
    assert_eq!(
        store.get_sync_status(app.id).await.unwrap(),
        SyncStatus::default()
    );
    let up = upstream("ghcr.io/acme/app", UpstreamAuth::None, false);
    assert!(store
        .update_artifact_upstream(app.id, Some(&up))
        .await
        .unwrap());
    let mirrored = Artifact {
        upstream: Some(up),
        ..app
    };
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        vec![mirrored]
    );
    store.close().await;
    db.cleanup().await;
}

/// Sync statuses recorded while their artifact is deleted either land before
/// the delete (and go with it) or report a missing artifact; none fails and
/// none outlives the artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_statuses_racing_a_delete_leave_no_orphans() {
    let db = TestDb::new().await;
    let (store, pool) = store_and_pool(&db).await;
    let store = Arc::new(store);
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    for round in 0..5 {
        let app = artifact(&a, &format!("app{round}"), 2);
        store.create_artifact(&app).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let status = SyncStatus {
                        last_sync_attempt_at_ms: Some(i),
                        ..SyncStatus::default()
                    };
                    store.put_sync_status(app.id, &status).await
                })
            })
            .collect();
        assert!(store.delete_artifact(app.id).await.unwrap());
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        assert_eq!(
            store.get_sync_status(app.id).await.unwrap(),
            SyncStatus::default()
        );
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM artifact_sync_status")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    store.close().await;
    db.cleanup().await;
}
