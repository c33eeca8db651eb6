//! Failed writes: a write refused as a conflict changes nothing, not even
//! part of a multi-table record (an entitlement and its items).

use crate::access::*;
use crate::error::StoreError;

use super::fixtures::{artifact, customer, entitlement, only, org, token, user};

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

fn item(artifact: &Artifact, tags: TagSelection) -> EntitlementItem {
    EntitlementItem {
        artifact_id: artifact.id,
        tags,
    }
}

/// Conflicting creates and replacements of entitlements leave the stored
/// ones (name, expiry and items) as they were; replacing keeps the vendor,
/// customer and creation time; tokens and users referring to missing
/// records, and tokens with a taken hash, are refused and not stored.
pub async fn failed_writes_change_nothing(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let c = customer(&a, "one", 2);
    store.create_customer(&c).await.unwrap();
    let (app, chart) = (artifact(&a, "app", 3), artifact(&a, "chart", 4));
    store.create_artifact(&app).await.unwrap();
    store.create_artifact(&chart).await.unwrap();
    let gold = entitlement(&c, "gold", vec![item(&app, TagSelection::All)], 5);
    let silver = entitlement(&c, "silver", vec![item(&chart, only(&["1.*"]))], 6);
    store.create_entitlement(&gold).await.unwrap();
    store.create_entitlement(&silver).await.unwrap();

    // An entitlement whose name is taken leaves no items behind.
    let dup = entitlement(&c, "gold", vec![item(&chart, TagSelection::All)], 7);
    assert!(is_conflict(&store.create_entitlement(&dup).await));
    assert_eq!(store.get_entitlement(dup.id).await.unwrap(), None);
    assert_eq!(
        store.entitlements_for_artifact(chart.id).await.unwrap(),
        vec![silver.clone()]
    );

    // A rename onto a taken name keeps the old name, expiry and items.
    let mut clash = silver.clone();
    clash.name = "gold".into();
    clash.expires_at_ms = Some(1);
    clash.items = vec![item(&app, only(&["2.*"]))];
    assert!(is_conflict(&store.update_entitlement(&clash).await));
    assert_eq!(
        store.get_entitlement(silver.id).await.unwrap(),
        Some(silver.clone())
    );
    assert_eq!(
        store.entitlements_for_artifact(app.id).await.unwrap(),
        vec![gold.clone()]
    );

    // A second entitlement with a taken id adds no items either.
    let mut same_id = entitlement(&c, "bronze", vec![item(&chart, TagSelection::All)], 8);
    same_id.id = gold.id;
    assert!(is_conflict(&store.create_entitlement(&same_id).await));
    assert_eq!(store.get_entitlement(gold.id).await.unwrap(), Some(gold));

    // Replacing keeps the vendor, customer and creation time.
    let mut changed = silver.clone();
    changed.created_at_ms = 99;
    changed.items = vec![item(&chart, TagSelection::All), item(&app, only(&["3"]))];
    assert!(store.update_entitlement(&changed).await.unwrap());
    changed.created_at_ms = silver.created_at_ms;
    assert_eq!(
        store.get_entitlement(silver.id).await.unwrap(),
        Some(changed)
    );

    // Records that refer to a missing customer or user are refused.
    let ghost_customer = customer(&a, "ghost", 9);
    let orphan = user(
        &a,
        Some(&ghost_customer),
        "x@ghost.test",
        Role::CustomerMember,
        9,
    );
    assert!(is_conflict(&store.create_user(&orphan).await));
    assert_eq!(store.get_user(orphan.id).await.unwrap(), None);
    let ghost_user = user(&a, Some(&c), "ghost@one.test", Role::CustomerMember, 10);
    let ghost_token = token(&ghost_user, "ghost", 10);
    assert!(is_conflict(&store.create_token(&ghost_token).await));
    assert_eq!(store.get_token(ghost_token.id).await.unwrap(), None);

    // A token whose hash is taken is refused.
    let u = user(&a, Some(&c), "dev@one.test", Role::CustomerMember, 11);
    store.create_user(&u).await.unwrap();
    let t = token(&u, "secret", 12);
    store.create_token(&t).await.unwrap();
    let mut same_hash = token(&u, "secret", 13);
    same_hash.name = "copy".into();
    assert!(is_conflict(&store.create_token(&same_hash).await));
    assert_eq!(store.list_tokens(u.id).await.unwrap(), vec![t]);
}
