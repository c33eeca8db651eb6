//! Integrity of the tenancy model: unique names, references that must exist, and the access version that moves with every change.

use crate::access::*;
use crate::error::StoreError;

use super::fixtures::{artifact, customer, entitlement, only, org, user};

/// Org slugs are unique; lookups by id and slug agree.
pub async fn orgs_have_unique_slugs(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    assert!(matches!(
        store.create_org(&org("acme", 3)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_org(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.get_org_by_slug("globex").await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(store.get_org_by_slug("nope").await.unwrap(), None);
    assert_eq!(store.list_orgs().await.unwrap(), vec![a, b]);
}

/// Artifact names are unique within a vendor, free across vendors.
pub async fn artifacts_are_unique_per_vendor(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    let (x, y) = (artifact(&a, "app", 10), artifact(&a, "charts/app", 11));
    store.create_artifact(&x).await.unwrap();
    store.create_artifact(&y).await.unwrap();
    store
        .create_artifact(&artifact(&b, "app", 12))
        .await
        .unwrap();
    assert!(matches!(
        store.create_artifact(&artifact(&a, "app", 13)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_artifact_by_name(a.id, "charts/app")
            .await
            .unwrap(),
        Some(y.clone())
    );
    assert_eq!(store.get_artifact(x.id).await.unwrap(), Some(x.clone()));
    assert_eq!(
        store.list_artifacts(a.id).await.unwrap(),
        vec![x.clone(), y.clone()]
    );
    assert!(store.delete_artifact(x.id).await.unwrap());
    assert!(!store.delete_artifact(x.id).await.unwrap());
    assert_eq!(store.list_artifacts(a.id).await.unwrap(), vec![y]);
}

/// Records that name a missing customer (or org, or user) are refused, and
/// an entitlement update cannot move it to another customer.
pub async fn dangling_references_are_conflicts(store: &dyn AccessStore) {
    let a = org("acme", 1);
    let ghost_org = org("ghost", 1);
    assert!(matches!(
        store.create_customer(&customer(&ghost_org, "x", 1)).await,
        Err(StoreError::Conflict(_))
    ));
    store.create_org(&a).await.unwrap();
    let ghost_customer = customer(&a, "ghost", 1);
    let c = customer(&a, "real", 2);
    store.create_customer(&c).await.unwrap();
    let u = user(
        &a,
        Some(&ghost_customer),
        "x@ghost.test",
        Role::CustomerMember,
        3,
    );
    assert!(matches!(
        store.create_user(&u).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.list_users(a.id, None).await.unwrap(), vec![]);
    let e = entitlement(&ghost_customer, "e", vec![], 4);
    assert!(matches!(
        store.create_entitlement(&e).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.access_mode(a.id).await.unwrap().mode,
        AccessMode::Open
    );
    // An update keeps the stored customer, whatever the argument says.
    let (e1, e2) = (
        entitlement(&c, "one", vec![], 5),
        entitlement(&c, "two", vec![], 6),
    );
    store.create_entitlement(&e1).await.unwrap();
    store.create_entitlement(&e2).await.unwrap();
    let other = customer(&a, "other", 7);
    store.create_customer(&other).await.unwrap();
    let mut moved = e2.clone();
    moved.customer_id = other.id;
    moved.name = "one".into();
    assert!(matches!(
        store.update_entitlement(&moved).await,
        Err(StoreError::Conflict(_))
    ));
    moved.name = "renamed".into();
    assert!(store.update_entitlement(&moved).await.unwrap());
    let stored = store.get_entitlement(e2.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.customer_id, stored.name.as_str()),
        (c.id, "renamed")
    );
    assert_eq!(store.list_entitlements(other.id).await.unwrap(), vec![]);
}

/// Every change that can affect access moves the version; reads do not.
pub async fn the_access_version_moves_with_every_change(store: &dyn AccessStore) {
    let mut last = store.access_version().await.unwrap();
    let mut moved = |v: i64, what: &str| {
        assert_ne!(v, last, "the version did not move after {what}");
        last = v;
    };
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    moved(store.access_version().await.unwrap(), "create_org");
    let c = customer(&a, "one", 2);
    store.create_customer(&c).await.unwrap();
    moved(store.access_version().await.unwrap(), "create_customer");
    let app = artifact(&a, "app", 3);
    store.create_artifact(&app).await.unwrap();
    moved(store.access_version().await.unwrap(), "create_artifact");
    let mut e = entitlement(
        &c,
        "e",
        vec![EntitlementItem {
            artifact_id: app.id,
            tags: only(&["1.*"]),
        }],
        4,
    );
    store.create_entitlement(&e).await.unwrap();
    moved(store.access_version().await.unwrap(), "create_entitlement");
    e.items[0].tags = TagSelection::All;
    store.update_entitlement(&e).await.unwrap();
    moved(store.access_version().await.unwrap(), "update_entitlement");
    let before_reads = store.access_version().await.unwrap();
    store.list_entitlements(c.id).await.unwrap();
    store.get_artifact(app.id).await.unwrap();
    assert_eq!(
        store.access_version().await.unwrap(),
        before_reads,
        "reads must not move the version"
    );
    store.delete_entitlement(e.id).await.unwrap();
    moved(store.access_version().await.unwrap(), "delete_entitlement");
    store.delete_artifact(app.id).await.unwrap();
    moved(store.access_version().await.unwrap(), "delete_artifact");
    store.delete_customer(c.id).await.unwrap();
    moved(store.access_version().await.unwrap(), "delete_customer");
}
