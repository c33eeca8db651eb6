//! The records of a vendor's tenants: customers and their users, tokens, entitlements, and deleting a customer with what it owns.

use crate::access::*;
use crate::error::StoreError;

use super::fixtures::{artifact, customer, entitlement, only, org, token, user};

/// Customers and users are listed per vendor (and per customer).
pub async fn customers_and_users_belong_to_a_vendor(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    let (c1, c2, c3) = (
        customer(&a, "one", 10),
        customer(&a, "two", 11),
        customer(&b, "three", 12),
    );
    for c in [&c1, &c2, &c3] {
        store.create_customer(c).await.unwrap();
    }
    assert_eq!(
        store.list_customers(a.id).await.unwrap(),
        vec![c1.clone(), c2.clone()]
    );
    let mut renamed = c1.clone();
    renamed.name = "One GmbH".into();
    assert!(store.update_customer(&renamed).await.unwrap());
    assert_eq!(store.get_customer(c1.id).await.unwrap(), Some(renamed));
    assert!(!store
        .update_customer(&customer(&a, "ghost", 1))
        .await
        .unwrap());

    let admin = user(&a, None, "admin@acme.test", Role::VendorAdmin, 20);
    let u1 = user(&a, Some(&c1), "ops@one.test", Role::CustomerAdmin, 21);
    let u2 = user(&a, Some(&c2), "dev@two.test", Role::CustomerMember, 22);
    let same_email_elsewhere = user(&b, Some(&c3), "ops@one.test", Role::CustomerMember, 23);
    for u in [&admin, &u1, &u2, &same_email_elsewhere] {
        store.create_user(u).await.unwrap();
    }
    // Emails are unique per customer, and among the vendor's own users.
    for dup in [
        user(&a, Some(&c1), "ops@one.test", Role::CustomerMember, 24),
        user(&a, None, "admin@acme.test", Role::VendorAdmin, 24),
    ] {
        assert!(matches!(
            store.create_user(&dup).await,
            Err(StoreError::Conflict(_))
        ));
    }
    // Another customer of the same vendor may use the address, and so may
    // the vendor's own users.
    let same_in_c2 = user(&a, Some(&c2), "ops@one.test", Role::CustomerMember, 25);
    let same_at_vendor = user(&a, None, "ops@one.test", Role::VendorAdmin, 26);
    store.create_user(&same_in_c2).await.unwrap();
    store.create_user(&same_at_vendor).await.unwrap();
    assert_eq!(store.get_user(u1.id).await.unwrap(), Some(u1.clone()));
    assert_eq!(
        store.list_users(a.id, None).await.unwrap(),
        vec![
            admin.clone(),
            u1.clone(),
            u2.clone(),
            same_in_c2.clone(),
            same_at_vendor.clone()
        ]
    );
    assert_eq!(
        store.list_users(a.id, Some(c2.id)).await.unwrap(),
        vec![u2.clone(), same_in_c2.clone()]
    );
    assert!(store.delete_user(u2.id).await.unwrap());
    assert!(!store.delete_user(u2.id).await.unwrap());
    assert_eq!(
        store.list_users(a.id, Some(c2.id)).await.unwrap(),
        vec![same_in_c2]
    );
}

/// Tokens are found by hash with their owner; revocation keeps its first time.
pub async fn tokens_are_found_by_hash_revoked_and_touched(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let c = customer(&a, "one", 2);
    store.create_customer(&c).await.unwrap();
    let u = user(&a, Some(&c), "dev@one.test", Role::CustomerMember, 3);
    store.create_user(&u).await.unwrap();
    let (t1, t2) = (token(&u, "secret-1", 10), token(&u, "secret-2", 11));
    store.create_token(&t1).await.unwrap();
    store.create_token(&t2).await.unwrap();
    assert!(matches!(
        store.create_token(&token(&u, "secret-1", 12)).await,
        Err(StoreError::Conflict(_))
    ));
    let (found, owner) = store
        .find_token(&PlainToken::from_secret("secret-1").hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, owner), (t1.clone(), u.clone()));
    assert_eq!(
        store
            .find_token(&PlainToken::from_secret("wrong").hash())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_tokens(u.id).await.unwrap(),
        vec![t1.clone(), t2.clone()]
    );
    store.touch_token(t1.id, 500).await.unwrap();
    store.touch_token(t1.id, 400).await.unwrap();
    assert_eq!(
        store
            .get_token(t1.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at_ms,
        Some(500)
    );
    assert!(store.revoke_token(t1.id, 600).await.unwrap());
    assert!(store.revoke_token(t1.id, 700).await.unwrap());
    let revoked = store.get_token(t1.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at_ms, Some(600));
    assert!(!revoked.is_active(601));
    assert!(!store.revoke_token(TokenId::new(), 1).await.unwrap());
    // A token for a user that does not exist is refused.
    let ghost = user(&a, Some(&c), "ghost@one.test", Role::CustomerMember, 3);
    assert!(store
        .create_token(&token(&ghost, "ghost", 1))
        .await
        .is_err());
}

/// Entitlements keep their items exactly; names are unique per customer.
pub async fn entitlements_roundtrip_and_names_are_unique_per_customer(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    let (c1, c2) = (customer(&a, "one", 2), customer(&a, "two", 3));
    store.create_customer(&c1).await.unwrap();
    store.create_customer(&c2).await.unwrap();
    let (app, chart) = (artifact(&a, "app", 4), artifact(&a, "chart", 5));
    store.create_artifact(&app).await.unwrap();
    store.create_artifact(&chart).await.unwrap();
    assert_eq!(
        store.access_mode(a.id).await.unwrap().mode,
        AccessMode::Open
    );
    let mut e1 = entitlement(
        &c1,
        "gold",
        vec![
            EntitlementItem {
                artifact_id: app.id,
                tags: only(&["1.2.*", "latest"]),
            },
            EntitlementItem {
                artifact_id: chart.id,
                tags: TagSelection::All,
            },
        ],
        10,
    );
    e1.expires_at_ms = Some(99_000);
    store.create_entitlement(&e1).await.unwrap();
    let e2 = entitlement(
        &c2,
        "gold",
        vec![EntitlementItem {
            artifact_id: app.id,
            tags: only(&["1.1.*"]),
        }],
        11,
    );
    store.create_entitlement(&e2).await.unwrap();
    assert!(matches!(
        store
            .create_entitlement(&entitlement(&c1, "gold", vec![], 12))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_entitlement(e1.id).await.unwrap(),
        Some(e1.clone())
    );
    assert_eq!(
        store.list_entitlements(c1.id).await.unwrap(),
        vec![e1.clone()]
    );
    assert_eq!(
        store.access_mode(a.id).await.unwrap().mode,
        AccessMode::Entitled
    );
    assert_eq!(
        store.access_mode(b.id).await.unwrap().mode,
        AccessMode::Open
    );
    assert_eq!(
        store.entitlements_for_artifact(app.id).await.unwrap(),
        vec![e1.clone(), e2.clone()]
    );
    assert_eq!(
        store.entitlements_for_artifact(chart.id).await.unwrap(),
        vec![e1.clone()]
    );

    let mut changed = e1.clone();
    changed.name = "platinum".into();
    changed.expires_at_ms = None;
    changed.items = vec![EntitlementItem {
        artifact_id: app.id,
        tags: TagSelection::All,
    }];
    assert!(store.update_entitlement(&changed).await.unwrap());
    assert_eq!(
        store.get_entitlement(e1.id).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store.entitlements_for_artifact(chart.id).await.unwrap(),
        vec![]
    );
    let other = entitlement(&c1, "silver", vec![], 13);
    store.create_entitlement(&other).await.unwrap();
    let mut rename_clash = other.clone();
    rename_clash.name = "platinum".into();
    assert!(matches!(
        store.update_entitlement(&rename_clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(!store
        .update_entitlement(&entitlement(&c1, "ghost", vec![], 1))
        .await
        .unwrap());
    assert!(store.delete_entitlement(e2.id).await.unwrap());
    assert!(!store.delete_entitlement(e2.id).await.unwrap());
    assert_eq!(store.list_entitlements(c2.id).await.unwrap(), vec![]);
}

/// Deleting a customer removes its users, their tokens and its entitlements.
pub async fn deleting_a_customer_cascades(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let (c1, c2) = (customer(&a, "one", 2), customer(&a, "two", 3));
    store.create_customer(&c1).await.unwrap();
    store.create_customer(&c2).await.unwrap();
    let (u1, u2) = (
        user(&a, Some(&c1), "a@one.test", Role::CustomerAdmin, 4),
        user(&a, Some(&c2), "b@two.test", Role::CustomerAdmin, 5),
    );
    store.create_user(&u1).await.unwrap();
    store.create_user(&u2).await.unwrap();
    let (t1, t2) = (token(&u1, "one", 6), token(&u2, "two", 7));
    store.create_token(&t1).await.unwrap();
    store.create_token(&t2).await.unwrap();
    let app = artifact(&a, "app", 8);
    store.create_artifact(&app).await.unwrap();
    let item = || {
        vec![EntitlementItem {
            artifact_id: app.id,
            tags: TagSelection::All,
        }]
    };
    let (e1, e2) = (
        entitlement(&c1, "e", item(), 9),
        entitlement(&c2, "e", item(), 10),
    );
    store.create_entitlement(&e1).await.unwrap();
    store.create_entitlement(&e2).await.unwrap();
    assert!(store.delete_customer(c1.id).await.unwrap());
    assert!(!store.delete_customer(c1.id).await.unwrap());
    assert_eq!(store.get_customer(c1.id).await.unwrap(), None);
    assert_eq!(store.get_user(u1.id).await.unwrap(), None);
    assert_eq!(store.get_token(t1.id).await.unwrap(), None);
    assert_eq!(store.find_token(&t1.hash).await.unwrap(), None);
    assert_eq!(store.get_entitlement(e1.id).await.unwrap(), None);
    // The other customer is untouched.
    assert_eq!(store.get_user(u2.id).await.unwrap(), Some(u2));
    assert_eq!(store.get_token(t2.id).await.unwrap(), Some(t2));
    assert_eq!(store.get_entitlement(e2.id).await.unwrap(), Some(e2));
}
