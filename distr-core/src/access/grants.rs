//! What a customer may pull, evaluated from its entitlements.

use std::collections::HashMap;

use super::mode::AccessMode;
use super::model::{ArtifactId, Entitlement, TagSelection};

/// The union of a customer's active entitlements.
///
/// Product rule: while a vendor has no entitlement at all, every customer
/// sees every artifact of the vendor; once one exists (even an expired one),
/// customers see only what their active entitlements grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grants {
    /// The vendor runs [`AccessMode::Open`]: everything of the vendor is visible.
    Unrestricted,
    /// Per artifact, the selections that grant its tags.
    Restricted(HashMap<ArtifactId, Vec<TagSelection>>),
}

impl Grants {
    /// Evaluates a customer's entitlements at `now_ms` under its vendor's
    /// access `mode` (entitlements do not matter in open mode).
    pub fn evaluate(mode: AccessMode, entitlements: &[Entitlement], now_ms: i64) -> Grants {
        if mode == AccessMode::Open {
            return Grants::Unrestricted;
        }
        let mut per_artifact: HashMap<ArtifactId, Vec<TagSelection>> = HashMap::new();
        for e in entitlements.iter().filter(|e| e.is_active(now_ms)) {
            for item in &e.items {
                per_artifact
                    .entry(item.artifact_id)
                    .or_default()
                    .push(item.tags.clone());
            }
        }
        Grants::Restricted(per_artifact)
    }

    /// True when any tag of the artifact is granted (the artifact is visible).
    pub fn allows_artifact(&self, artifact: ArtifactId) -> bool {
        match self {
            Grants::Unrestricted => true,
            Grants::Restricted(m) => m.contains_key(&artifact),
        }
    }

    /// True when `tag` of the artifact is granted.
    pub fn allows_tag(&self, artifact: ArtifactId, tag: &str) -> bool {
        match self {
            Grants::Unrestricted => true,
            Grants::Restricted(m) => m
                .get(&artifact)
                .is_some_and(|sels| sels.iter().any(|s| s.matches(tag))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::model::*;

    fn ent(
        customer: CustomerId,
        artifact: ArtifactId,
        tags: TagSelection,
        expires: Option<i64>,
    ) -> Entitlement {
        Entitlement {
            id: EntitlementId::new(),
            org_id: OrgId::new(),
            customer_id: customer,
            name: "e".into(),
            expires_at_ms: expires,
            items: vec![EntitlementItem {
                artifact_id: artifact,
                tags,
            }],
            created_at_ms: 0,
        }
    }

    #[test]
    fn rules() {
        let (c, app, other) = (CustomerId::new(), ArtifactId::new(), ArtifactId::new());
        assert!(Grants::evaluate(AccessMode::Open, &[], 0).allows_tag(app, "anything"));
        let none = Grants::evaluate(AccessMode::Entitled, &[], 0);
        assert!(!none.allows_artifact(app) && !none.allows_tag(app, "1.0"));
        let only = TagSelection::Only(vec!["1.2.*".parse().unwrap(), "latest".parse().unwrap()]);
        let g = Grants::evaluate(AccessMode::Entitled, &[ent(c, app, only, None)], 0);
        assert!(g.allows_artifact(app) && !g.allows_artifact(other));
        assert!(
            g.allows_tag(app, "1.2.7")
                && g.allows_tag(app, "latest")
                && !g.allows_tag(app, "1.3.0")
        );
        let expired = Grants::evaluate(
            AccessMode::Entitled,
            &[ent(c, app, TagSelection::All, Some(100))],
            100,
        );
        assert!(!expired.allows_artifact(app));
        let live = Grants::evaluate(
            AccessMode::Entitled,
            &[ent(c, app, TagSelection::All, Some(100))],
            99,
        );
        assert!(live.allows_tag(app, "9.9"));
    }
}
