//! Records of the access suite's cases, built from a name and a creation
//! time; public so that backend-specific tests build theirs the same way.

use crate::access::*;
use crate::upstream::UpstreamAuth;

/// A vendor with slug `slug`, created at `t`.
pub fn org(slug: &str, t: i64) -> Org {
    Org {
        id: OrgId::new(),
        slug: slug.into(),
        name: format!("{slug} Inc."),
        created_at_ms: t,
    }
}

/// A customer of `org` named `name`, created at `t`.
pub fn customer(org: &Org, name: &str, t: i64) -> Customer {
    Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: name.into(),
        created_at_ms: t,
    }
}

/// A user of `org` (of `customer`, if given) with `role`, created at `t`.
pub fn user(org: &Org, customer: Option<&Customer>, email: &str, role: Role, t: i64) -> User {
    User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: customer.map(|c| c.id),
        email: email.into(),
        role,
        created_at_ms: t,
    }
}

/// A token of `user` whose plain secret is `secret`, created at `t`.
pub fn token(user: &User, secret: &str, t: i64) -> TokenRecord {
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

/// An artifact of `org` named `name`, without upstream, created at `t`.
pub fn artifact(org: &Org, name: &str, t: i64) -> Artifact {
    Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: name.into(),
        upstream: None,
        created_at_ms: t,
    }
}

/// An artifact upstream of `reference`.
pub fn upstream(reference: &str, auth: UpstreamAuth, insecure: bool) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: reference.parse().expect("test upstream reference"),
        auth,
        insecure,
    }
}

/// Basic upstream credentials.
pub fn basic() -> UpstreamAuth {
    UpstreamAuth::basic("robot", "s3cr3t:with/odd chars")
}

/// Amazon ECR upstream credentials.
pub fn ecr() -> UpstreamAuth {
    UpstreamAuth::Ecr {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCY".into(),
    }
}

/// An artifact of `org` mirrored from `up`, created at `t`.
pub fn mirror(org: &Org, name: &str, up: ArtifactUpstream, t: i64) -> Artifact {
    Artifact {
        upstream: Some(up),
        ..artifact(org, name, t)
    }
}

/// `artifacts` ordered as every listing orders them: creation time, then id.
pub fn by_creation(mut artifacts: Vec<Artifact>) -> Vec<Artifact> {
    artifacts.sort_by_key(|a| (a.created_at_ms, a.id.to_string()));
    artifacts
}

/// An entitlement of customer `c` named `name` granting `items`, created at `t`.
pub fn entitlement(c: &Customer, name: &str, items: Vec<EntitlementItem>, t: i64) -> Entitlement {
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

/// A selection of the tags matching `patterns`.
pub fn only(patterns: &[&str]) -> TagSelection {
    TagSelection::Only(
        patterns
            .iter()
            .map(|p| p.parse().expect("test pattern"))
            .collect(),
    )
}
