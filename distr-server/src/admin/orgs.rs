//! `admin org create|list`.

use anyhow::bail;
use distr_core::access::{AccessStore, Org, OrgId};
use distr_core::StoreError;
use serde_json::json;

use super::lookup::{format_instant, validate_slug};
use super::Output;

/// `admin org …`
#[derive(Debug, clap::Subcommand)]
pub enum OrgCommand {
    /// Create a vendor organisation (add its admin with `user create --role vendor_admin`).
    Create {
        /// URL slug: the first segment of the organisation's repository names.
        slug: String,
        /// Display name [default: the slug].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the vendor organisations.
    List,
}

/// JSON of an organisation.
pub fn to_json(o: &Org) -> serde_json::Value {
    json!({
        "id": o.id,
        "slug": o.slug,
        "name": o.name,
        "created_at": format_instant(o.created_at_ms),
    })
}

fn line(o: &Org) -> String {
    format!(
        "{}  {}  name={:?}  created={}",
        o.id,
        o.slug,
        o.name,
        format_instant(o.created_at_ms)
    )
}

pub(super) async fn run(
    cmd: &OrgCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        OrgCommand::Create { slug, name } => {
            validate_slug(slug)?;
            let org = Org {
                id: OrgId::new(),
                slug: slug.clone(),
                name: name.clone().unwrap_or_else(|| slug.clone()),
                created_at_ms: now_ms,
            };
            match store.create_org(&org).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    bail!("an organisation with slug {slug:?} already exists")
                }
                Err(e) => return Err(e.into()),
            }
            out.result(
                || {
                    format!(
                        "created organisation {} (id {}, name {:?})",
                        org.slug, org.id, org.name
                    )
                },
                || to_json(&org),
            )
        }
        OrgCommand::List => {
            let orgs = store.list_orgs().await?;
            out.list(&orgs, "no organisations", line, to_json)
        }
    }
}
