//! `admin artifact create|list`.

use anyhow::bail;
use distr_core::access::{AccessStore, Artifact, ArtifactId};
use distr_core::StoreError;
use serde_json::json;

use super::lookup::{self, artifact_repository, format_instant};
use super::Output;

/// `admin artifact …`
#[derive(Debug, clap::Subcommand)]
pub enum ArtifactCommand {
    /// Record an artifact (a vendor admin's first push records it too).
    Create {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The artifact name: the repository is `<org>/<name>`.
        name: String,
    },
    /// List a vendor's artifacts.
    List {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
    },
}

/// JSON of an artifact.
pub fn to_json(a: &Artifact, org_slug: &str) -> serde_json::Value {
    json!({
        "id": a.id,
        "org": org_slug,
        "name": a.name,
        "repository": format!("{org_slug}/{}", a.name),
        "created_at": format_instant(a.created_at_ms),
    })
}

pub(super) async fn run(
    cmd: &ArtifactCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        ArtifactCommand::Create { org, name } => {
            let org = lookup::org(store, org).await?;
            let repo = artifact_repository(&org.slug, name)?;
            let artifact = Artifact {
                id: ArtifactId::new(),
                org_id: org.id,
                name: repo.artifact().to_owned(),
                upstream: None,
                created_at_ms: now_ms,
            };
            match store.create_artifact(&artifact).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => {
                    bail!("{} already has an artifact named {name:?}", org.slug)
                }
                Err(e) => return Err(e.into()),
            }
            out.result(
                || format!("created artifact {repo} (id {})", artifact.id),
                || to_json(&artifact, &org.slug),
            )
        }
        ArtifactCommand::List { org } => {
            let org = lookup::org(store, org).await?;
            let artifacts = store.list_artifacts(org.id).await?;
            out.list(
                &artifacts,
                &format!("{} has no artifacts", org.slug),
                |a| {
                    format!(
                        "{}  {}/{}  created={}",
                        a.id,
                        org.slug,
                        a.name,
                        format_instant(a.created_at_ms)
                    )
                },
                |a| to_json(a, &org.slug),
            )
        }
    }
}
