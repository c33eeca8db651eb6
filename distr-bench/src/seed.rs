//! `distr-bench seed-access`: loads a vendor with many customers and
//! entitlements straight into a distr SQLite database, to measure
//! authorization at realistic scale.

use std::path::Path;

use anyhow::Context as _;
use distr_core::access::{
    AccessStore, Artifact, ArtifactId, Customer, CustomerId, Entitlement, EntitlementId,
    EntitlementItem, PlainToken, Role, TagSelection, TokenId, TokenRecord, User, UserId,
};
use distr_store_sqlite::SqliteStore;

/// What `seed` created for the measured customer.
pub struct Seeded {
    /// The token of a user of the first customer, entitled to `tag`.
    pub token: String,
    /// Customers created.
    pub customers: usize,
    /// Entitlements created.
    pub entitlements: usize,
}

/// Creates `customers` customers of org `org_slug`, each with
/// `per_customer` entitlements on `artifact` whose patterns do not match
/// `tag`, except that the first customer's first entitlement grants `tag`.
/// Returns a token of a member of that first customer.
pub async fn seed(
    db: &Path,
    org_slug: &str,
    artifact_name: &str,
    tag: &str,
    customers: usize,
    per_customer: usize,
) -> anyhow::Result<Seeded> {
    let store = SqliteStore::open(db)
        .await
        .with_context(|| format!("opening {}", db.display()))?;
    let org = store
        .get_org_by_slug(org_slug)
        .await?
        .with_context(|| format!("organisation {org_slug:?} does not exist (start distr-server with DISTR_BOOTSTRAP_ORG)"))?;
    let artifact = match store.get_artifact_by_name(org.id, artifact_name).await? {
        Some(a) => a,
        None => {
            let a = Artifact {
                id: ArtifactId::new(),
                org_id: org.id,
                name: artifact_name.into(),
                upstream: None,
                created_at_ms: 0,
            };
            store.create_artifact(&a).await?;
            a
        }
    };
    let mut first = None;
    let mut entitlements = 0;
    for i in 0..customers {
        let customer = Customer {
            id: CustomerId::new(),
            org_id: org.id,
            name: format!("bench-customer-{i}"),
            created_at_ms: i as i64,
        };
        store.create_customer(&customer).await?;
        for j in 0..per_customer {
            let pattern = if i == 0 && j == 0 {
                tag.to_owned()
            } else {
                format!("r{i}-{j}.*")
            };
            let e = Entitlement {
                id: EntitlementId::new(),
                org_id: org.id,
                customer_id: customer.id,
                name: format!("e{j}"),
                expires_at_ms: None,
                items: vec![EntitlementItem {
                    artifact_id: artifact.id,
                    tags: TagSelection::Only(vec![pattern.parse()?]),
                }],
                created_at_ms: j as i64,
            };
            store.create_entitlement(&e).await?;
            entitlements += 1;
        }
        if i == 0 {
            first = Some(customer);
        }
    }
    let customer = first.context("at least one customer is needed")?;
    let user = User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: Some(customer.id),
        email: format!("bench@{}", customer.id),
        role: Role::CustomerMember,
        created_at_ms: 0,
    };
    store.create_user(&user).await?;
    let secret =
        PlainToken::generate().map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let token = TokenRecord {
        id: TokenId::new(),
        user_id: user.id,
        name: "bench".into(),
        hash: secret.hash(),
        expires_at_ms: None,
        last_used_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: 0,
    };
    store.create_token(&token).await?;
    store.close().await;
    Ok(Seeded {
        token: secret.expose().to_owned(),
        customers,
        entitlements,
    })
}
