//! `/api/v1/artifacts`: a vendor's artifacts (repositories
//! `<org-slug>/<name>`) and their tags. Vendor admins only.

use distr_core::access::{Artifact, ArtifactId};
use distr_core::analytics::AnalyticsStoreExt;
use distr_core::RepoName;
use http::Response;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json;
use super::upstream::{self, SyncView, UpstreamBody, UpstreamView};
use super::Ctx;
use crate::body::ResponseBody;

type Reply = Result<Response<ResponseBody>, ApiError>;

/// `POST /artifacts` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateArtifact {
    name: String,
    /// The upstream repository to mirror (pull-through cache).
    #[serde(default)]
    upstream: Option<UpstreamBody>,
    /// With an upstream: start its first sync at once (default), or leave
    /// the tags to the next scheduled or requested sync.
    #[serde(default = "sync_now_default")]
    sync_now: bool,
}

fn sync_now_default() -> bool {
    true
}

/// `PUT /artifacts/{id}/upstream` body: an upstream, or `null` to detach.
type SetUpstream = Option<UpstreamBody>;

/// An artifact as the API shows it.
#[derive(Serialize)]
struct ArtifactView {
    id: ArtifactId,
    name: String,
    /// `<org-slug>/<name>`: what clients pull.
    repository: String,
    /// The mirrored upstream repository, without secrets; `null` for pushed artifacts.
    upstream: Option<UpstreamView>,
    /// Sync status; `null` for pushed artifacts.
    sync: Option<SyncView>,
    created_at: i64,
}

/// The view of `a`, with its sync status when it has an upstream.
async fn view(ctx: &Ctx<'_>, a: Artifact) -> Result<ArtifactView, ApiError> {
    let org = &ctx.caller.org;
    let sync = match &a.upstream {
        Some(_) => {
            let status = ctx.api.access.get_sync_status(a.id).await?;
            Some(upstream::sync_view(status, ctx.api.is_syncing(a.id)))
        }
        None => None,
    };
    Ok(ArtifactView {
        id: a.id,
        repository: format!("{}/{}", org.slug, a.name),
        upstream: a.upstream.as_ref().map(upstream::view),
        sync,
        name: a.name,
        created_at: a.created_at_ms,
    })
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
    /// GETs by this tag recorded by download analytics (0 without them).
    pull_count: u64,
}

/// The artifact named by the path, of the caller's vendor (404 otherwise).
pub(super) async fn load(ctx: &Ctx<'_>) -> Result<Artifact, ApiError> {
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
    let all = ctx.api.access.list_artifacts(ctx.caller.org.id).await?;
    let mut out = Vec::with_capacity(all.len());
    for a in all {
        out.push(view(ctx, a).await?);
    }
    json::ok(&out)
}

/// `POST /artifacts`: the name must make `<org-slug>/<name>` a valid
/// repository name; 409 when the vendor already has it. An `upstream` is
/// checked against the upstream registry first (400 when its credentials or
/// repository do not work; nothing is saved), and its first tag sync starts
/// in the background at once (unless `sync_now` is false).
pub(super) async fn create(ctx: &Ctx<'_>) -> Reply {
    ctx.caller.require_vendor_admin()?;
    let body: CreateArtifact =
        json::parse(&ctx.body).map_err(|e| match misplaced_upstream_field(&ctx.body) {
            Some(field) => ApiError::bad_request(format!(
                "`{field}` is a field of `upstream`, not of the artifact: \
                 {{\"name\": …, \"upstream\": {{\"reference\": …, \"{field}\": …}}}}"
            )),
            None => e,
        })?;
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
    let upstream = match body.upstream {
        Some(u) => {
            let config = u.into_config()?;
            upstream::verify(ctx.api.connector(), None, &config).await?;
            Some(config)
        }
        None => None,
    };
    let artifact = Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: repo.artifact().to_owned(),
        upstream,
        created_at_ms: ctx.now,
    };
    ctx.api.access.create_artifact(&artifact).await?;
    if artifact.upstream.is_some() && body.sync_now {
        first_sync(ctx, artifact.id);
    }
    json::created(&view(ctx, artifact).await?)
}

/// A field of an upstream given at the top level of a create body.
fn misplaced_upstream_field(body: &[u8]) -> Option<&'static str> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let fields = value.as_object()?;
    ["insecure", "reference", "auth"]
        .into_iter()
        .find(|f| fields.contains_key(*f))
}

/// Starts the first sync of an artifact that just got an upstream, so its
/// tags show at once rather than at the next scheduled sync.
fn first_sync(ctx: &Ctx<'_>, artifact: ArtifactId) {
    if let Err(e) = ctx.api.trigger_sync(artifact) {
        tracing::debug!(%artifact, error = ?e, "no first sync");
    }
}

/// `GET /artifacts/{artifact_id}`.
pub(super) async fn get(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    json::ok(&view(ctx, a).await?)
}

/// `PUT /artifacts/{artifact_id}/upstream`: sets (checked like on create, and
/// synced at once) or, with `null`, removes the artifact's upstream. Content
/// already cached stays.
pub(super) async fn set_upstream(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    let body: SetUpstream = json::parse(&ctx.body)?;
    let upstream = match body {
        Some(u) => {
            let config = u.into_config()?;
            upstream::verify(ctx.api.connector(), Some(a.id), &config).await?;
            Some(config)
        }
        None => None,
    };
    if !ctx
        .api
        .access
        .update_artifact_upstream(a.id, upstream.as_ref())
        .await?
    {
        return Err(ApiError::not_found("artifact"));
    }
    if upstream.is_some() {
        first_sync(ctx, a.id);
    }
    json::ok(&view(ctx, Artifact { upstream, ..a }).await?)
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

/// `POST /artifacts/{artifact_id}/sync`: 202 `{"state":"started"|"joined"}`;
/// the sync runs in the background. 400 `no_upstream` without an upstream.
pub(super) async fn sync(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    if a.upstream.is_none() {
        return Err(ApiError::bad_request_code(
            "no_upstream",
            "the artifact has no upstream to sync from",
        ));
    }
    let state = ctx.api.trigger_sync(a.id)?;
    json::respond(
        http::StatusCode::ACCEPTED,
        &serde_json::json!({ "state": state }),
    )
}

/// `GET /artifacts/{artifact_id}/tags`: every tag with the manifest it points
/// at, ordered by tag, and its `pull_count` (0 without download analytics).
pub(super) async fn tags(ctx: &Ctx<'_>) -> Reply {
    let a = load(ctx).await?;
    let pulls = match &ctx.api.analytics {
        Some(store) => store.pull_counts_by_tag(ctx.caller.org.id, a.id).await?,
        None => Default::default(),
    };
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
                pull_count: pulls.get(&tag).copied().unwrap_or(0),
            });
        }
    }
    json::ok(&out)
}
