//! Records of the access suite's cases, built from a name and a creation
//! time.

use crate::access::*;
use crate::upstream::UpstreamAuth;

pub(super) fn org(slug: &str, t: i64) -> Org {
    Org {
        id: OrgId::new(),
        slug: slug.into(),
        name: format!("{slug} Inc."),
        created_at_ms: t,
    }
}

pub(super) fn customer(org: &Org, name: &str, t: i64) -> Customer {
    Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: name.into(),
        created_at_ms: t,
    }
}

pub(super) fn user(
    org: &Org,
    customer: Option<&Customer>,
    email: &str,
    role: Role,
    t: i64,
) -> User {
    User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: customer.map(|c| c.id),
        email: email.into(),
        role,
        created_at_ms: t,
    }
}

pub(super) fn token(user: &User, secret: &str, t: i64) -> TokenRecord {
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

pub(super) fn artifact(org: &Org, name: &str, t: i64) -> Artifact {
    Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: name.into(),
        upstream: None,
        created_at_ms: t,
    }
}

pub(super) fn upstream(reference: &str, auth: UpstreamAuth, insecure: bool) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: reference.parse().expect("test upstream reference"),
        auth,
        insecure,
    }
}

pub(super) fn basic() -> UpstreamAuth {
    UpstreamAuth::basic("robot", "s3cr3t:with/odd chars")
}

pub(super) fn ecr() -> UpstreamAuth {
    UpstreamAuth::Ecr {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCY".into(),
    }
}

pub(super) fn mirror(org: &Org, name: &str, up: ArtifactUpstream, t: i64) -> Artifact {
    Artifact {
        upstream: Some(up),
        ..artifact(org, name, t)
    }
}

/// `artifacts` ordered as every listing orders them: creation time, then id.
pub(super) fn by_creation(mut artifacts: Vec<Artifact>) -> Vec<Artifact> {
    artifacts.sort_by_key(|a| (a.created_at_ms, a.id.to_string()));
    artifacts
}

pub(super) fn entitlement(
    c: &Customer,
    name: &str,
    items: Vec<EntitlementItem>,
    t: i64,
) -> Entitlement {
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

pub(super) fn only(patterns: &[&str]) -> TagSelection {
    TagSelection::Only(
        patterns
            .iter()
            .map(|p| p.parse().expect("test pattern"))
            .collect(),
    )
}
