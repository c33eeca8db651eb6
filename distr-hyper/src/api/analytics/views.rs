//! What the analytics endpoints return, as JSON.

use std::collections::HashMap;

use distr_core::access::{ArtifactId, Customer, CustomerId};
use distr_core::analytics::PullEvent;
use serde::Serialize;

/// One recorded manifest GET.
#[derive(Serialize)]
pub(super) struct PullView {
    pub id: String,
    /// When, ms since the Unix epoch.
    pub at: i64,
    pub artifact_id: ArtifactId,
    /// The tag of a GET by tag; `null` for a GET by digest.
    pub tag: Option<String>,
    pub digest: String,
    /// True when the manifest served is an index (a multi-platform pull).
    pub index: bool,
    pub customer_id: Option<CustomerId>,
    pub user_id: Option<distr_core::access::UserId>,
    pub token_id: Option<distr_core::access::TokenId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<PullEvent> for PullView {
    fn from(e: PullEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at_ms,
            artifact_id: e.artifact,
            tag: e.tag.map(|t| t.as_str().to_owned()),
            digest: e.digest.to_string(),
            index: e.index,
            customer_id: e.customer,
            user_id: e.user,
            token_id: e.token,
            ip: e.ip.map(|ip| ip.to_string()),
            user_agent: e.user_agent,
        }
    }
}

/// A page of the pull log.
#[derive(Serialize)]
pub(super) struct PullPage {
    pub items: Vec<PullView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Pulls of one tag.
#[derive(Serialize)]
pub(super) struct TagRow {
    pub tag: String,
    pub pulls: u64,
    /// Distinct customers that pulled it.
    pub customers: u64,
}

/// One customer's pulls of an artifact.
#[derive(Serialize)]
pub(super) struct CustomerRow {
    pub customer_id: CustomerId,
    /// The customer's name; `null` when it was deleted since.
    pub customer: Option<String>,
    pub pulls: u64,
    pub first_pull_at: i64,
    pub last_pull_at: i64,
}

/// Blob bytes served from an artifact to one customer.
#[derive(Serialize)]
pub(super) struct BytesRow {
    pub artifact_id: ArtifactId,
    /// `null` for vendor users and anonymous downloads.
    pub customer_id: Option<CustomerId>,
    pub bytes: u64,
    pub last_download_at: i64,
}

/// `GET /artifacts/{artifact_id}/analytics`.
#[derive(Serialize)]
pub(super) struct ArtifactAnalytics {
    pub artifact_id: ArtifactId,
    /// Pulls per tag, ordered by tag.
    pub tags: Vec<TagRow>,
    /// Customers that pulled the artifact, most pulls first.
    pub customers: Vec<CustomerRow>,
    /// Blob bytes served per customer.
    pub bytes_served: Vec<BytesRow>,
}

/// What a customer pulled of one artifact by one reference.
#[derive(Serialize)]
pub(super) struct ReferenceRow {
    pub artifact_id: ArtifactId,
    /// The artifact's name; `null` when it was deleted since.
    pub artifact: Option<String>,
    /// The tag of pulls by tag, the digest of the others.
    pub reference: String,
    pub pulls: u64,
    pub first_pull_at: i64,
    pub last_pull_at: i64,
}

/// `GET /customers/{customer_id}/analytics`.
#[derive(Serialize)]
pub(super) struct CustomerAnalytics {
    pub customer_id: CustomerId,
    /// Per artifact and reference, ordered by artifact id, then reference.
    pub pulls: Vec<ReferenceRow>,
    /// Blob bytes served to the customer per artifact.
    pub bytes_served: Vec<BytesRow>,
}

/// A customer that never pulled.
#[derive(Serialize)]
pub(super) struct UnpulledRow {
    pub id: CustomerId,
    pub name: String,
    pub created_at: i64,
}

impl From<Customer> for UnpulledRow {
    fn from(c: Customer) -> Self {
        Self {
            id: c.id,
            name: c.name,
            created_at: c.created_at_ms,
        }
    }
}

/// `GET /analytics/unpulled`.
#[derive(Serialize)]
pub(super) struct Unpulled {
    /// The artifact asked about; `null`: any artifact of the vendor.
    pub artifact_id: Option<ArtifactId>,
    /// Customers with an active entitlement (to the artifact) and no pull
    /// (of it), in the customer list's order.
    pub customers: Vec<UnpulledRow>,
}

/// Customer names by id.
pub(super) fn customer_names(customers: Vec<Customer>) -> HashMap<CustomerId, String> {
    customers.into_iter().map(|c| (c.id, c.name)).collect()
}
