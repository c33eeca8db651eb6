//! Customers entitled to an artifact who never pulled it: a question for the
//! access store and the analytics store together.

use std::collections::HashSet;

use super::store::DynAnalyticsStore;
use crate::access::{ArtifactId, Customer, CustomerId, DynAccessStore, Entitlement, OrgId};
use crate::error::StoreResult;

/// The customers of vendor `org` with an entitlement active at `now_ms` —
/// to `artifact`, or to anything for `None` — who have no pull of it (of any
/// of the vendor's artifacts, for `None`), ordered as
/// [`AccessStore::list_customers`](crate::access::AccessStore::list_customers)
/// orders them.
///
/// With an artifact this is three queries; without, one more per customer of
/// the vendor (their entitlements are listed one customer at a time).
pub async fn entitled_customers_without_pulls(
    access: &DynAccessStore,
    analytics: &DynAnalyticsStore,
    org: OrgId,
    artifact: Option<ArtifactId>,
    now_ms: i64,
) -> StoreResult<Vec<Customer>> {
    let customers = access.list_customers(org).await?;
    let active = |e: &Entitlement| e.org_id == org && e.is_active(now_ms);
    let entitled: HashSet<CustomerId> = match artifact {
        Some(a) => access
            .entitlements_for_artifact(a)
            .await?
            .iter()
            .filter(|e| active(e))
            .map(|e| e.customer_id)
            .collect(),
        None => {
            let mut entitled = HashSet::new();
            for c in &customers {
                if access.list_entitlements(c.id).await?.iter().any(active) {
                    entitled.insert(c.id);
                }
            }
            entitled
        }
    };
    let pulled: HashSet<CustomerId> = analytics
        .artifact_customers(org, artifact)
        .await?
        .into_iter()
        .map(|c| c.customer)
        .collect();
    Ok(customers
        .into_iter()
        .filter(|c| entitled.contains(&c.id) && !pulled.contains(&c.id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{
        AccessStore, Artifact, EntitlementId, EntitlementItem, MemoryAccessStore, Org, TagSelection,
    };
    use crate::analytics::{AnalyticsStore, MemoryAnalyticsStore, PullEvent, PullId};

    #[tokio::test]
    async fn entitled_customers_who_never_pulled_are_found() {
        let access = MemoryAccessStore::new();
        let analytics = MemoryAnalyticsStore::new();
        let org = Org {
            id: OrgId::new(),
            slug: "acme".into(),
            name: "Acme".into(),
            created_at_ms: 1,
        };
        access.create_org(&org).await.unwrap();
        let artifact = |name: &str| Artifact {
            id: ArtifactId::new(),
            org_id: org.id,
            name: name.into(),
            upstream: None,
            created_at_ms: 2,
        };
        let (app, chart) = (artifact("app"), artifact("chart"));
        access.create_artifact(&app).await.unwrap();
        access.create_artifact(&chart).await.unwrap();
        let mut customers = Vec::new();
        for (i, name) in ["pulled", "idle", "expired", "none", "chart-only"]
            .iter()
            .enumerate()
        {
            let c = Customer {
                id: CustomerId::new(),
                org_id: org.id,
                name: (*name).into(),
                created_at_ms: 10 + i as i64,
            };
            access.create_customer(&c).await.unwrap();
            customers.push(c);
        }
        let grant = |c: &Customer, a: &Artifact, expires_at_ms| Entitlement {
            id: EntitlementId::new(),
            org_id: org.id,
            customer_id: c.id,
            name: "e".into(),
            expires_at_ms,
            items: vec![EntitlementItem {
                artifact_id: a.id,
                tags: TagSelection::All,
            }],
            created_at_ms: 20,
        };
        let [pulled, idle, expired, _none, chart_only] = &customers[..] else {
            unreachable!()
        };
        for e in [
            grant(pulled, &app, None),
            grant(idle, &app, Some(1_000)),
            grant(expired, &app, Some(50)),
            grant(chart_only, &chart, None),
        ] {
            access.create_entitlement(&e).await.unwrap();
        }
        let pull = PullEvent {
            id: PullId::new(),
            at_ms: 30,
            org: org.id,
            artifact: app.id,
            tag: Some("1.0".parse().unwrap()),
            digest: crate::Digest::sha256(b"m"),
            index: false,
            customer: Some(pulled.id),
            user: None,
            token: None,
            ip: None,
            user_agent: None,
        };
        analytics.record(&[pull], &[]).await.unwrap();
        let names = |cs: Vec<Customer>| cs.into_iter().map(|c| c.name).collect::<Vec<_>>();
        let found =
            entitled_customers_without_pulls(&access, &analytics, org.id, Some(app.id), 100)
                .await
                .unwrap();
        assert_eq!(names(found), ["idle"]);
        let found = entitled_customers_without_pulls(&access, &analytics, org.id, None, 100)
            .await
            .unwrap();
        assert_eq!(names(found), ["idle", "chart-only"]);
        let found = entitled_customers_without_pulls(&access, &analytics, org.id, None, 40)
            .await
            .unwrap();
        assert_eq!(names(found), ["idle", "expired", "chart-only"]);
    }
}
