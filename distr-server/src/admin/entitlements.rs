//! `admin entitlement create|list|delete`.

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use distr_core::access::{
    AccessStore, ArtifactId, Entitlement, EntitlementId, EntitlementItem, TagSelection,
};
use distr_core::StoreError;
use serde_json::json;

use super::lookup::{self, format_expiry, format_instant, format_tags, json_instant};
use super::Output;

/// `admin entitlement …`
#[derive(Debug, clap::Subcommand)]
pub enum EntitlementCommand {
    /// Grant a customer tags of one or more artifacts.
    ///
    /// Once a vendor has any entitlement, each of its customers sees only what
    /// its active entitlements grant (before that, customers see everything).
    Create {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The customer (id or name).
        #[arg(long)]
        customer: String,
        /// A name, unique per customer.
        #[arg(long)]
        name: String,
        /// An artifact name, or its repository name (`app` or `acme/app`); repeat for several.
        #[arg(long = "artifact", required = true)]
        artifacts: Vec<String>,
        /// `all`, or tag names and patterns separated by commas (`1.2.*,latest`).
        #[arg(long)]
        tags: String,
        /// Expiry: RFC 3339 (`2027-01-31T00:00:00Z`) or ms since the Unix epoch [default: never].
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List a customer's entitlements (expired ones included).
    List {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The customer (id or name).
        #[arg(long)]
        customer: String,
    },
    /// Delete an entitlement; it stops granting on the next request.
    Delete {
        /// The entitlement id (from `entitlement list`).
        id: EntitlementId,
    },
}

fn status(e: &Entitlement, now_ms: i64) -> &'static str {
    if e.is_active(now_ms) {
        "active"
    } else {
        "expired"
    }
}

/// JSON of an entitlement, with artifact names from `names`.
pub fn to_json(
    e: &Entitlement,
    customer: &str,
    names: &HashMap<ArtifactId, String>,
    now_ms: i64,
) -> serde_json::Value {
    let items: Vec<_> = e
        .items
        .iter()
        .map(|i| {
            let tags = match &i.tags {
                TagSelection::All => json!("all"),
                TagSelection::Only(ps) => json!(ps.iter().map(|p| p.as_str()).collect::<Vec<_>>()),
            };
            json!({
                "artifact_id": i.artifact_id,
                "artifact": names.get(&i.artifact_id),
                "tags": tags,
            })
        })
        .collect();
    json!({
        "id": e.id,
        "customer_id": e.customer_id,
        "customer": customer,
        "name": e.name,
        "status": status(e, now_ms),
        "expires_at": json_instant(e.expires_at_ms),
        "created_at": format_instant(e.created_at_ms),
        "items": items,
    })
}

fn text(e: &Entitlement, names: &HashMap<ArtifactId, String>, now_ms: i64) -> String {
    let items: Vec<String> = e
        .items
        .iter()
        .map(|i| {
            let name = names
                .get(&i.artifact_id)
                .cloned()
                .unwrap_or_else(|| i.artifact_id.to_string());
            format!("{name}:{}", format_tags(&i.tags))
        })
        .collect();
    format!(
        "{}  {:?}  status={}  expires={}  grants={}",
        e.id,
        e.name,
        status(e, now_ms),
        format_expiry(e.expires_at_ms),
        items.join(" ")
    )
}

async fn artifact_names(
    store: &dyn AccessStore,
    org: distr_core::access::OrgId,
) -> anyhow::Result<HashMap<ArtifactId, String>> {
    Ok(store
        .list_artifacts(org)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

pub(super) async fn run(
    cmd: &EntitlementCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        EntitlementCommand::Create {
            org,
            customer,
            name,
            artifacts,
            tags,
            expires_at,
        } => {
            let org = lookup::org(store, org).await?;
            let customer = lookup::customer(store, &org, customer).await?;
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let tags = lookup::parse_tags(tags)?;
            let expires_at_ms = expires_at
                .as_deref()
                .map(lookup::parse_instant)
                .transpose()?;
            let mut items: Vec<EntitlementItem> = Vec::new();
            for a in artifacts {
                let artifact = lookup::artifact(store, &org, a).await?;
                if items.iter().all(|i| i.artifact_id != artifact.id) {
                    items.push(EntitlementItem {
                        artifact_id: artifact.id,
                        tags: tags.clone(),
                    });
                }
            }
            let e = Entitlement {
                id: EntitlementId::new(),
                org_id: org.id,
                customer_id: customer.id,
                name: name.to_owned(),
                expires_at_ms,
                items,
                created_at_ms: now_ms,
            };
            let taken = || {
                anyhow!(
                    "customer {:?} already has an entitlement named {name:?}",
                    customer.name
                )
            };
            if store
                .list_entitlements(customer.id)
                .await?
                .iter()
                .any(|x| x.name == name)
            {
                return Err(taken());
            }
            match store.create_entitlement(&e).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Err(taken()),
                Err(err) => return Err(err.into()),
            }
            if !e.is_active(now_ms) && !out.is_json() {
                out.note("note: this entitlement has already expired; it grants nothing")?;
            }
            let names = artifact_names(store, org.id).await?;
            out.result(
                || {
                    format!(
                        "created entitlement for customer {:?}: {}",
                        customer.name,
                        text(&e, &names, now_ms)
                    )
                },
                || to_json(&e, &customer.name, &names, now_ms),
            )
        }
        EntitlementCommand::List { org, customer } => {
            let org = lookup::org(store, org).await?;
            let customer = lookup::customer(store, &org, customer).await?;
            let names = artifact_names(store, org.id).await?;
            let list = store.list_entitlements(customer.id).await?;
            out.list(
                &list,
                &format!("customer {:?} has no entitlements", customer.name),
                |e| text(e, &names, now_ms),
                |e| to_json(e, &customer.name, &names, now_ms),
            )
        }
        EntitlementCommand::Delete { id } => {
            let e = store
                .get_entitlement(*id)
                .await?
                .ok_or_else(|| anyhow!("unknown entitlement {id}"))?;
            if !store.delete_entitlement(*id).await? {
                bail!("unknown entitlement {id}");
            }
            out.result(
                || format!("deleted entitlement {id} ({:?})", e.name),
                || json!({ "id": e.id, "name": e.name, "deleted": true }),
            )
        }
    }
}
