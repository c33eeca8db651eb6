//! The [`AccessStore`] conformance suite: call [`run_all`] with a factory of
//! fresh stores.

use std::sync::Arc;

use crate::access::*;
use crate::error::StoreError;
use crate::upstream::UpstreamAuth;

fn org(slug: &str, t: i64) -> Org {
    Org {
        id: OrgId::new(),
        slug: slug.into(),
        name: format!("{slug} Inc."),
        created_at_ms: t,
    }
}

fn customer(org: &Org, name: &str, t: i64) -> Customer {
    Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: name.into(),
        created_at_ms: t,
    }
}

fn user(org: &Org, customer: Option<&Customer>, email: &str, role: Role, t: i64) -> User {
    User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: customer.map(|c| c.id),
        email: email.into(),
        role,
        created_at_ms: t,
    }
}

fn token(user: &User, secret: &str, t: i64) -> TokenRecord {
    TokenRecord {
        id: TokenId::new(),
        user_id: user.id,
        name: format!("token {secret}"),
        hash: PlainToken::from_secret(secret).hash(),
        expires_at_ms: Some(t + 1_000_000),
        last_used_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: t,
    }
}

fn artifact(org: &Org, name: &str, t: i64) -> Artifact {
    Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: name.into(),
        upstream: None,
        created_at_ms: t,
    }
}

fn upstream(reference: &str, auth: UpstreamAuth, insecure: bool) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: reference.parse().expect("test upstream reference"),
        auth,
        insecure,
    }
}

fn basic() -> UpstreamAuth {
    UpstreamAuth::basic("robot", "s3cr3t:with/odd chars")
}

fn ecr() -> UpstreamAuth {
    UpstreamAuth::Ecr {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCY".into(),
    }
}

fn mirror(org: &Org, name: &str, up: ArtifactUpstream, t: i64) -> Artifact {
    Artifact {
        upstream: Some(up),
        ..artifact(org, name, t)
    }
}

/// `artifacts` ordered as every listing orders them: creation time, then id.
fn by_creation(mut artifacts: Vec<Artifact>) -> Vec<Artifact> {
    artifacts.sort_by_key(|a| (a.created_at_ms, a.id.to_string()));
    artifacts
}

fn entitlement(c: &Customer, name: &str, items: Vec<EntitlementItem>, t: i64) -> Entitlement {
    Entitlement {
        id: EntitlementId::new(),
        org_id: c.org_id,
        customer_id: c.id,
        name: name.into(),
        expires_at_ms: None,
        items,
        created_at_ms: t,
    }
}

fn only(patterns: &[&str]) -> TagSelection {
    TagSelection::Only(
        patterns
            .iter()
            .map(|p| p.parse().expect("test pattern"))
            .collect(),
    )
}

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<dyn AccessStore>>,
{
    orgs_have_unique_slugs(&*make().await).await;
    customers_and_users_belong_to_a_vendor(&*make().await).await;
    tokens_are_found_by_hash_revoked_and_touched(&*make().await).await;
    artifacts_are_unique_per_vendor(&*make().await).await;
    entitlements_roundtrip_and_names_are_unique_per_customer(&*make().await).await;
    deleting_a_customer_cascades(&*make().await).await;
    dangling_references_are_conflicts(&*make().await).await;
    the_access_version_moves_with_every_change(&*make().await).await;
    artifact_upstreams_roundtrip(&*make().await).await;
    artifact_upstreams_are_set_changed_and_cleared(&*make().await).await;
    upstream_artifacts_are_listed_across_vendors(&*make().await).await;
    sync_status_roundtrips_without_moving_the_access_version(&*make().await).await;
}

/// An artifact's upstream, credentials and `insecure` flag included, comes
/// back exactly from every read.
pub async fn artifact_upstreams_roundtrip(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let artifacts = [
        artifact(&a, "pushed", 10),
        mirror(
            &a,
            "basic",
            upstream("ghcr.io/acme/app", basic(), false),
            11,
        ),
        mirror(
            &a,
            "ecr",
            upstream(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
                ecr(),
                false,
            ),
            12,
        ),
        mirror(
            &a,
            "anonymous",
            upstream("docker.io/redis", UpstreamAuth::None, true),
            13,
        ),
        mirror(
            &a,
            "local",
            upstream("127.0.0.1:5001/team/app", basic(), true),
            14,
        ),
    ];
    for x in &artifacts {
        store.create_artifact(x).await.unwrap();
    }
    for x in &artifacts {
        assert_eq!(store.get_artifact(x.id).await.unwrap().as_ref(), Some(x));
        assert_eq!(
            store
                .get_artifact_by_name(a.id, &x.name)
                .await
                .unwrap()
                .as_ref(),
            Some(x)
        );
    }
    assert_eq!(
        store.list_artifacts(a.id).await.unwrap(),
        artifacts.to_vec()
    );
}

/// `update_artifact_upstream` sets, replaces and clears an upstream, moves
/// the access version, and reports a missing artifact.
pub async fn artifact_upstreams_are_set_changed_and_cleared(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let mut x = artifact(&a, "app", 10);
    store.create_artifact(&x).await.unwrap();
    let mut version = store.access_version().await.unwrap();
    for up in [
        Some(upstream("ghcr.io/acme/app", basic(), false)),
        Some(upstream("ghcr.io/acme/app", UpstreamAuth::None, true)),
        Some(upstream(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
            ecr(),
            false,
        )),
        None,
        Some(upstream("quay.io/acme/app", basic(), true)),
    ] {
        assert!(store
            .update_artifact_upstream(x.id, up.as_ref())
            .await
            .unwrap());
        let moved = store.access_version().await.unwrap();
        assert_ne!(
            moved, version,
            "update_artifact_upstream must move the version"
        );
        version = moved;
        x.upstream = up;
        assert_eq!(store.get_artifact(x.id).await.unwrap(), Some(x.clone()));
        assert_eq!(
            store.get_artifact_by_name(a.id, "app").await.unwrap(),
            Some(x.clone())
        );
        assert_eq!(store.list_artifacts(a.id).await.unwrap(), vec![x.clone()]);
    }
    let ghost = ArtifactId::new();
    let up = upstream("ghcr.io/acme/ghost", basic(), false);
    assert!(!store
        .update_artifact_upstream(ghost, Some(&up))
        .await
        .unwrap());
    assert!(!store.update_artifact_upstream(ghost, None).await.unwrap());
    assert_eq!(store.get_artifact(ghost).await.unwrap(), None);
    assert_eq!(store.list_artifacts(a.id).await.unwrap(), vec![x]);
}

/// `list_upstream_artifacts` lists the artifacts with an upstream of every
/// vendor, by creation time then id, and follows upstream changes.
pub async fn upstream_artifacts_are_listed_across_vendors(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    assert_eq!(store.list_upstream_artifacts().await.unwrap(), vec![]);
    let up = |repo: &str| upstream(&format!("ghcr.io/{repo}"), basic(), false);
    let a_late = mirror(&a, "late", up("acme/late"), 30);
    let b_pushed = artifact(&b, "pushed", 5);
    let b_early = mirror(&b, "early", up("globex/early"), 10);
    // Two artifacts created at the same time: the id decides.
    let a_tie = mirror(&a, "tie", up("acme/tie"), 20);
    let b_tie = mirror(&b, "tie", up("globex/tie"), 20);
    let a_pushed = artifact(&a, "pushed", 25);
    for x in [&a_late, &b_pushed, &b_early, &a_tie, &b_tie, &a_pushed] {
        store.create_artifact(x).await.unwrap();
    }
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        by_creation(vec![
            a_late.clone(),
            b_early.clone(),
            a_tie.clone(),
            b_tie.clone()
        ])
    );
    // Clearing an upstream drops the artifact from the list, setting one
    // adds it.
    assert!(store
        .update_artifact_upstream(b_early.id, None)
        .await
        .unwrap());
    let a_now_mirrored = mirror(&a, "pushed", up("acme/pushed"), 25);
    let a_now_mirrored = Artifact {
        id: a_pushed.id,
        ..a_now_mirrored
    };
    assert!(store
        .update_artifact_upstream(a_pushed.id, a_now_mirrored.upstream.as_ref())
        .await
        .unwrap());
    assert!(store.delete_artifact(a_late.id).await.unwrap());
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        by_creation(vec![a_tie, b_tie, a_now_mirrored])
    );
}

/// Sync statuses: the default until one is stored, stored only for existing
/// artifacts, never moving the access version, and gone with the artifact.
pub async fn sync_status_roundtrips_without_moving_the_access_version(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let x = mirror(&a, "app", upstream("ghcr.io/acme/app", basic(), false), 10);
    let y = mirror(&a, "other", upstream("ghcr.io/acme/other", ecr(), true), 11);
    store.create_artifact(&x).await.unwrap();
    store.create_artifact(&y).await.unwrap();
    let ghost = ArtifactId::new();
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(
        store.get_sync_status(ghost).await.unwrap(),
        SyncStatus::default()
    );

    let version = store.access_version().await.unwrap();
    let failed = SyncStatus {
        last_synced_at_ms: None,
        last_sync_attempt_at_ms: Some(100),
        last_sync_error: Some("upstream: 401 Unauthorized — \"bad\" credentials".into()),
    };
    assert!(store.put_sync_status(x.id, &failed).await.unwrap());
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), failed);
    let synced = SyncStatus {
        last_synced_at_ms: Some(250),
        last_sync_attempt_at_ms: Some(200),
        last_sync_error: None,
    };
    assert!(store.put_sync_status(x.id, &synced).await.unwrap());
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), synced);
    let failed_again = SyncStatus {
        last_sync_attempt_at_ms: Some(300),
        last_sync_error: Some("timeout".into()),
        ..synced.clone()
    };
    assert!(store.put_sync_status(y.id, &failed_again).await.unwrap());
    assert_eq!(store.get_sync_status(y.id).await.unwrap(), failed_again);
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), synced);
    // A missing artifact gets no status.
    assert!(!store.put_sync_status(ghost, &synced).await.unwrap());
    assert_eq!(
        store.get_sync_status(ghost).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(
        store.access_version().await.unwrap(),
        version,
        "put_sync_status must not move the version"
    );
    // Sync statuses do not show in the artifacts.
    assert_eq!(store.get_artifact(x.id).await.unwrap(), Some(x.clone()));

    // Deleting the artifact deletes its status; a new artifact of the same
    // name starts afresh.
    assert!(store.delete_artifact(x.id).await.unwrap());
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    assert!(!store.put_sync_status(x.id, &synced).await.unwrap());
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    let again = mirror(&a, "app", upstream("ghcr.io/acme/app", basic(), false), 20);
    store.create_artifact(&again).await.unwrap();
    assert_eq!(
        store.get_sync_status(again.id).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(store.get_sync_status(y.id).await.unwrap(), failed_again);
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
    assert!(!store.org_has_entitlements(a.id).await.unwrap());
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
    let dup = user(&a, Some(&c2), "ops@one.test", Role::CustomerMember, 24);
    assert!(matches!(
        store.create_user(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_user(u1.id).await.unwrap(), Some(u1.clone()));
    assert_eq!(
        store.list_users(a.id, None).await.unwrap(),
        vec![admin.clone(), u1.clone(), u2.clone()]
    );
    assert_eq!(
        store.list_users(a.id, Some(c2.id)).await.unwrap(),
        vec![u2.clone()]
    );
    assert!(store.delete_user(u2.id).await.unwrap());
    assert!(!store.delete_user(u2.id).await.unwrap());
    assert_eq!(store.list_users(a.id, Some(c2.id)).await.unwrap(), vec![]);
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
    assert!(!store.org_has_entitlements(a.id).await.unwrap());
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
    assert!(store.org_has_entitlements(a.id).await.unwrap());
    assert!(!store.org_has_entitlements(b.id).await.unwrap());
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_access_store_conforms() {
        super::run_all(|| async {
            std::sync::Arc::new(crate::access::MemoryAccessStore::new()) as _
        })
        .await;
    }
}
