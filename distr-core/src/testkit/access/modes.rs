//! Access modes: open until the first entitlement, entitled for good after
//! it, open again only on an explicit call.

use super::fixtures::*;
use crate::access::{AccessMode, AccessStore, EntitlementItem, TagSelection};

/// A vendor starts open; its first entitlement switches it (and only it) to
/// entitled, recorded; deleting every entitlement keeps it entitled; only
/// `set_access_mode` opens it again, recorded and moving the access
/// version; a missing organisation reads as entitled.
pub async fn access_modes_switch_once_and_only_on_request(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    let fresh = store.access_mode(a.id).await.unwrap();
    assert_eq!(fresh.mode, AccessMode::Open);
    assert_eq!((fresh.changed_at_ms, fresh.changed_by), (None, None));

    let c = customer(&a, "one", 3);
    store.create_customer(&c).await.unwrap();
    let app = artifact(&a, "app", 4);
    store.create_artifact(&app).await.unwrap();
    let item = EntitlementItem {
        artifact_id: app.id,
        tags: TagSelection::All,
    };
    let first = entitlement(&c, "first", vec![item.clone()], 10);
    store.create_entitlement(&first).await.unwrap();
    let switched = store.access_mode(a.id).await.unwrap();
    assert_eq!(switched.mode, AccessMode::Entitled);
    assert_eq!(switched.changed_at_ms, Some(10));
    assert_eq!(
        switched.changed_by.as_deref(),
        Some(format!("entitlement:{}", first.id).as_str())
    );
    assert_eq!(
        store.access_mode(b.id).await.unwrap().mode,
        AccessMode::Open,
        "another vendor's entitlement switched this one"
    );
    // A second entitlement keeps the first switch's record.
    let second = entitlement(&c, "second", vec![item], 20);
    store.create_entitlement(&second).await.unwrap();
    assert_eq!(store.access_mode(a.id).await.unwrap(), switched);

    // Deleting every entitlement never widens access.
    assert!(store.delete_entitlement(first.id).await.unwrap());
    assert!(store.delete_entitlement(second.id).await.unwrap());
    assert_eq!(store.access_mode(a.id).await.unwrap(), switched);

    // Only an explicit call opens the vendor again.
    let before = store.access_version().await.unwrap();
    assert!(store
        .set_access_mode(a.id, AccessMode::Open, "user:someone", 30)
        .await
        .unwrap());
    assert_ne!(store.access_version().await.unwrap(), before);
    let opened = store.access_mode(a.id).await.unwrap();
    assert_eq!(opened.mode, AccessMode::Open);
    assert_eq!(opened.changed_at_ms, Some(30));
    assert_eq!(opened.changed_by.as_deref(), Some("user:someone"));

    // A missing organisation: nothing stored, read as entitled.
    let ghost = org("ghost", 5);
    assert!(!store
        .set_access_mode(ghost.id, AccessMode::Open, "cli", 40)
        .await
        .unwrap());
    assert_eq!(
        store.access_mode(ghost.id).await.unwrap().mode,
        AccessMode::Entitled
    );
}
