//! `admin user create|list`.

use std::collections::HashMap;

use anyhow::{anyhow, bail};
use distr_core::access::{AccessStore, Customer, CustomerId, Role, User, UserId};
use distr_core::StoreError;
use serde_json::json;

use super::lookup::{self, format_instant, normalize_email};
use super::Output;

/// `admin user …`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user (then give them a token with `token create`).
    Create {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The customer (id or name), for customer roles.
        #[arg(long)]
        customer: Option<String>,
        /// Email address, unique within the customer (or among the vendor's
        /// own users).
        #[arg(long)]
        email: String,
        /// vendor_admin, customer_admin or customer_member.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List the users of a vendor organisation and of its customers.
    List {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
    },
}

/// A role name (`vendor_admin`, `customer-admin`, …).
pub fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(&s.trim().to_lowercase().replace('-', "_")).ok_or_else(|| {
        format!("unknown role {s:?}: use vendor_admin, customer_admin or customer_member")
    })
}

/// JSON of a user.
pub fn to_json(u: &User, org_slug: &str, customer: Option<&Customer>) -> serde_json::Value {
    json!({
        "id": u.id,
        "org": org_slug,
        "email": u.email,
        "role": u.role.as_str(),
        "customer_id": u.customer_id,
        "customer": customer.map(|c| c.name.clone()),
        "created_at": format_instant(u.created_at_ms),
    })
}

pub(super) async fn run(
    cmd: &UserCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            org,
            customer,
            email,
            role,
        } => {
            let org = lookup::org(store, org).await?;
            let email = normalize_email(email)?;
            let customer = match (role, customer) {
                (Role::VendorAdmin, Some(_)) => {
                    bail!("a vendor_admin belongs to the vendor: drop --customer")
                }
                (Role::VendorAdmin, None) => None,
                (_, None) => bail!("a {} needs --customer", role.as_str()),
                (_, Some(c)) => Some(lookup::customer(store, &org, c).await?),
            };
            let user = User {
                id: UserId::new(),
                org_id: org.id,
                customer_id: customer.as_ref().map(|c| c.id),
                email: email.clone(),
                role: *role,
                created_at_ms: now_ms,
            };
            let of = customer
                .as_ref()
                .map(|c| format!("customer {:?} of {}", c.name, org.slug))
                .unwrap_or_else(|| format!("the vendor {}", org.slug));
            let taken = || anyhow!("{of} already has a user with email {email:?}");
            match store.create_user(&user).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Err(taken()),
                Err(e) => return Err(e.into()),
            }
            out.result(
                || {
                    format!(
                        "created user {} (id {}, role {}) in {of}",
                        user.email,
                        user.id,
                        user.role.as_str()
                    )
                },
                || to_json(&user, &org.slug, customer.as_ref()),
            )
        }
        UserCommand::List { org } => {
            let org = lookup::org(store, org).await?;
            let customers: HashMap<CustomerId, Customer> = store
                .list_customers(org.id)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let users = store.list_users(org.id, None).await?;
            let customer_of = |u: &User| u.customer_id.and_then(|id| customers.get(&id));
            out.list(
                &users,
                &format!("{} has no users", org.slug),
                |u| {
                    let customer = customer_of(u)
                        .map(|c| format!("{:?}", c.name))
                        .unwrap_or_else(|| "-".to_owned());
                    format!(
                        "{}  {}  role={}  customer={customer}  created={}",
                        u.id,
                        u.email,
                        u.role.as_str(),
                        format_instant(u.created_at_ms)
                    )
                },
                |u| to_json(u, &org.slug, customer_of(u)),
            )
        }
    }
}
