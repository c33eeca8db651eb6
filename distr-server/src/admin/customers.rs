//! `admin customer create|list`.

use anyhow::bail;
use distr_core::access::{AccessStore, Customer, CustomerId};
use serde_json::json;

use super::lookup::{self, format_instant};
use super::Output;

/// `admin customer …`
#[derive(Debug, clap::Subcommand)]
pub enum CustomerCommand {
    /// Create a customer organisation of a vendor.
    Create {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The customer's name (unique within the vendor).
        name: String,
    },
    /// List a vendor's customers.
    List {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
    },
}

/// JSON of a customer.
pub fn to_json(c: &Customer, org_slug: &str) -> serde_json::Value {
    json!({
        "id": c.id,
        "org": org_slug,
        "name": c.name,
        "created_at": format_instant(c.created_at_ms),
    })
}

pub(super) async fn run(
    cmd: &CustomerCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        CustomerCommand::Create { org, name } => {
            let org = lookup::org(store, org).await?;
            let name = name.trim();
            if name.is_empty() {
                bail!("a customer needs a non-empty name");
            }
            if store
                .list_customers(org.id)
                .await?
                .iter()
                .any(|c| c.name == name)
            {
                bail!("{} already has a customer named {name:?}", org.slug);
            }
            let customer = Customer {
                id: CustomerId::new(),
                org_id: org.id,
                name: name.to_owned(),
                created_at_ms: now_ms,
            };
            store.create_customer(&customer).await?;
            out.result(
                || {
                    format!(
                        "created customer {:?} (id {}) of {}",
                        customer.name, customer.id, org.slug
                    )
                },
                || to_json(&customer, &org.slug),
            )
        }
        CustomerCommand::List { org } => {
            let org = lookup::org(store, org).await?;
            let customers = store.list_customers(org.id).await?;
            out.list(
                &customers,
                &format!("{} has no customers", org.slug),
                |c| {
                    format!(
                        "{}  {:?}  created={}",
                        c.id,
                        c.name,
                        format_instant(c.created_at_ms)
                    )
                },
                |c| to_json(c, &org.slug),
            )
        }
    }
}
