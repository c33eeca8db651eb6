//! `admin org create|list|access-mode`.

use anyhow::bail;
use distr_core::access::{AccessMode, AccessModeRecord, AccessStore, Org, OrgId};
use distr_core::StoreError;
use serde_json::json;

use super::lookup::{self, format_instant, validate_slug};
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
    /// Show or set a vendor's access mode. `open`: every customer may pull
    /// every artifact; `entitled`: only what active entitlements grant. The
    /// first entitlement switches a vendor to `entitled`; only this command
    /// (or `PUT /api/v1/access-mode`) opens it again. Changes are recorded
    /// (`changed_by=cli`) and logged on the `distr::audit` target.
    AccessMode {
        /// The organisation's slug.
        slug: String,
        /// The mode to set; without it, the current one is shown.
        #[arg(value_parser = parse_mode)]
        mode: Option<AccessMode>,
    },
}

fn parse_mode(text: &str) -> Result<AccessMode, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn mode_json(org: &Org, r: &AccessModeRecord) -> serde_json::Value {
    json!({
        "org": org.slug,
        "access_mode": r.mode,
        "changed_at": r.changed_at_ms.map(format_instant),
        "changed_by": r.changed_by,
    })
}

fn mode_line(org: &Org, r: &AccessModeRecord) -> String {
    let changed = match (r.changed_at_ms, &r.changed_by) {
        (Some(at), Some(by)) => format!("  changed={}  by={by}", format_instant(at)),
        _ => "  (never changed)".to_owned(),
    };
    format!("{}  access_mode={}{changed}", org.slug, r.mode)
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
        OrgCommand::AccessMode { slug, mode } => {
            let org = lookup::org(store, slug).await?;
            if let Some(mode) = *mode {
                let before = store.access_mode(org.id).await?.mode;
                if !store.set_access_mode(org.id, mode, "cli", now_ms).await? {
                    bail!("no organisation {slug:?}");
                }
                tracing::info!(
                    target: "distr::audit",
                    org = %org.slug,
                    user = "cli",
                    from = %before,
                    to = %mode,
                    "access mode set"
                );
            }
            let record = store.access_mode(org.id).await?;
            out.result(|| mode_line(&org, &record), || mode_json(&org, &record))
        }
    }
}
