//! `/api/v1/artifacts`: a vendor's artifacts (repositories
//! `<org-slug>/<name>`) and their tags. Vendor admins only.

use distr_core::access::{Artifact, ArtifactId, Org};
use distr_core::RepoName;
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json;
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// `POST /artifacts` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArtifact {
    name: String,
}

/// An artifact as the API shows it.
#[derive(Serialize)]
struct ArtifactView {
    id: ArtifactId,
    name: String,
    /// `<org-slug>/<name>`: what clients pull.
    repository: String,
    created_at: i64,
}

fn view(org: &Org, a: Artifact) -> ArtifactView {
    ArtifactView {
        id: a.id,
        repository: format!("{}/{}", org.slug, a.name),
        name: a.name,
        created_at: a.created_at_ms,
    }
}

/// One tag of an artifact.
#[derive(Serialize)]
struct TagView {
    tag: String,
    digest: String,
    /// Size of the manifest the tag points at, in bytes.
    size: u64,
    media_type: String,
    /// When the manifest was first stored.
    created_at: i64,
    /// Always 0 until pull analytics exist.
    pull_count: u64,
}

/// The artifact named by the path, of the caller's vendor (404 otherwise).
async fn load(ctx: &Ctx<'_>) -> Result<Artifact, ApiError> {
    ctx.caller.require_vendor_admin()?;
    let id: ArtifactId = ctx.params.id("artifact_id")?;
    ctx.api
        .access
        .get_artifact(id)
        .await?
        .filter(|a| a.org_id == ctx.caller.org.id)
        .ok_or_else(|| ApiError::not_found("artifact"))
}

/// `GET /artifacts`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let org = &ctx.caller.org;
    let all = ctx.api.access.list_artifacts(org.id).await?;
    json::ok(&all.into_iter().map(|a| view(org, a)).collect::<Vec<_>>())
}

/// `POST /artifacts`: the name must make `<org-slug>/<name>` a valid
/// repository name; 409 when the vendor already has it.
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let body: CreateArtifact = json::parse(&ctx.body)?;
    let org = &ctx.caller.org;
    let repo: RepoName =
        format!("{}/{}", org.slug, body.name)
            .parse()
            .map_err(|e: distr_core::Error| {
                ApiError::bad_request(format!("invalid artifact name: {e}"))
            })?;
    if ctx
        .api
        .access
        .get_artifact_by_name(org.id, repo.artifact())
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "artifact {} exists",
            repo.artifact()
        )));
    }
    let artifact = Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: repo.artifact().to_owned(),
        created_at_ms: ctx.now,
    };
    ctx.api.access.create_artifact(&artifact).await?;
    json::created(&view(org, artifact))
}

/// `GET /artifacts/{artifact_id}`.
pub(super) async fn get(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    json::ok(&view(&ctx.caller.org, a))
}

/// `DELETE /artifacts/{artifact_id}`: refused with 400 `artifact_entitled`
/// while any entitlement names the artifact.
///
/// Otherwise the artifact goes with its repository: manifests, tags, blob
/// links and uploads (blob bytes are left to garbage collection).
pub(super) async fn delete(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    let naming = ctx.api.access.entitlements_for_artifact(a.id).await?;
    if !naming.is_empty() {
        let names: Vec<&str> = naming.iter().map(|e| e.name.as_str()).take(10).collect();
        return Err(ApiError::bad_request_code(
            "artifact_entitled",
            format!(
                "{} entitlement(s) name this artifact ({}); remove it from them first",
                naming.len(),
                names.join(", ")
            ),
        ));
    }
    let repo: RepoName = format!("{}/{}", ctx.caller.org.slug, a.name)
        .parse()
        .map_err(|e: distr_core::Error| ApiError::internal(format!("artifact {}: {e}", a.id)))?;
    if !ctx.api.access.delete_artifact(a.id).await? {
        return Err(ApiError::not_found("artifact"));
    }
    ctx.api.meta.delete_repository(&repo).await?;
    json::no_content()
}

/// `GET /artifacts/{artifact_id}/tags`: every tag with the manifest it points
/// at, ordered by tag. `pull_count` is 0 until pull analytics exist.
pub(super) async fn tags(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    let repo: RepoName = format!("{}/{}", ctx.caller.org.slug, a.name)
        .parse()
        .map_err(|e: distr_core::Error| ApiError::internal(format!("artifact {}: {e}", a.id)))?;
    let meta = &ctx.api.meta;
    let mut out = Vec::new();
    for (tag, digest) in meta.list_tag_targets(&repo).await? {
        // A tag whose manifest vanished meanwhile is skipped.
        if let Some(m) = meta.get_manifest(&repo, &digest).await? {
            out.push(TagView {
                tag: tag.as_str().to_owned(),
                digest: digest.to_string(),
                size: m.size(),
                media_type: m.media_type,
                created_at: m.created_at_ms,
                pull_count: 0,
            });
        }
    }
    json::ok(&out)
}
