//! `/v2/<name>/blobs/uploads/...`: starting, chunking, finishing and
//! cancelling uploads, and cross-repository mounts.

use bytes::Bytes;
use distr_core::range::parse_content_range;
use distr_core::store::{Page, UploadRecord};
use distr_core::{Digest, Error, Registry, RepoName};
use http::{header, HeaderName, Response, StatusCode};
use http_body::Body;

use super::Parts;
use crate::access::Guard;
use crate::body::{into_stream, BoxError, ResponseBody};
use crate::headers::{respond, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID};

fn blob_created(repo: &RepoName, digest: &Digest) -> Response<ResponseBody> {
    respond(
        StatusCode::CREATED,
        &[
            (header::LOCATION, format!("/v2/{repo}/blobs/{digest}")),
            (DOCKER_CONTENT_DIGEST, digest.to_string()),
            (header::CONTENT_LENGTH, "0".into()),
        ],
    )
}

fn upload_headers(upload: &UploadRecord) -> Vec<(HeaderName, String)> {
    vec![
        (
            header::LOCATION,
            format!("/v2/{}/blobs/uploads/{}", upload.repo, upload.id),
        ),
        (
            header::RANGE,
            format!("0-{}", upload.size().saturating_sub(1)),
        ),
        (DOCKER_UPLOAD_UUID, upload.id.clone()),
        (header::CONTENT_LENGTH, "0".into()),
    ]
}

fn digest_param(parts: &Parts) -> Result<Option<Digest>, Error> {
    parts.query.get("digest").map(str::parse).transpose()
}

pub(crate) async fn start<B>(
    registry: &Registry,
    guard: &Guard<'_>,
    repo: &RepoName,
    parts: &Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if let Some(mount) = parts.query.get("mount") {
        let digest: Digest = mount.parse()?;
        let source = match parts.query.get("from") {
            // A malformed or foreign `from` just falls back to a fresh upload.
            Some(from) => match from.parse::<RepoName>() {
                Ok(from) if may_read_blob(guard, &from, &digest).await => Some(from),
                _ => None,
            },
            None => anonymous_mount_source(registry, guard, repo, &digest).await?,
        };
        if let Some(from) = source {
            if registry.mount_blob(repo, &digest, &from).await?.is_some() {
                return Ok(blob_created(repo, &digest));
            }
        }
    } else if let Some(digest) = digest_param(parts)? {
        let blob = registry
            .upload_monolithic(repo, &digest, parts.content_length(), into_stream(body))
            .await?;
        return Ok(blob_created(repo, &blob.digest));
    }
    let upload = registry.start_upload(repo).await?;
    Ok(respond(StatusCode::ACCEPTED, &upload_headers(&upload)))
}

pub(crate) async fn status(
    registry: &Registry,
    repo: &RepoName,
    id: &str,
) -> Result<Response<ResponseBody>, Error> {
    let upload = registry.upload_status(repo, id).await?;
    Ok(respond(StatusCode::NO_CONTENT, &upload_headers(&upload)))
}

pub(crate) async fn patch<B>(
    registry: &Registry,
    repo: &RepoName,
    id: &str,
    parts: &Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let range = parts
        .header(header::CONTENT_RANGE)
        .map(parse_content_range)
        .transpose()?;
    let upload = registry
        .append_chunk_sized(repo, id, range, parts.content_length(), into_stream(body))
        .await?;
    Ok(respond(StatusCode::ACCEPTED, &upload_headers(&upload)))
}

pub(crate) async fn finish<B>(
    registry: &Registry,
    repo: &RepoName,
    id: &str,
    parts: &Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let digest = digest_param(parts)?.ok_or_else(|| {
        Error::DigestInvalid("the digest query parameter is required to complete an upload".into())
    })?;
    let range = parts
        .header(header::CONTENT_RANGE)
        .map(parse_content_range)
        .transpose()?;
    let blob = registry
        .finish_upload_sized(
            repo,
            id,
            &digest,
            range,
            parts.content_length(),
            Some(into_stream(body)),
        )
        .await?;
    Ok(blob_created(repo, &blob.digest))
}

pub(crate) async fn cancel(
    registry: &Registry,
    repo: &RepoName,
    id: &str,
) -> Result<Response<ResponseBody>, Error> {
    registry.cancel_upload(repo, id).await?;
    Ok(respond(StatusCode::NO_CONTENT, &[]))
}

/// For a mount without `from` (the spec's automatic content discovery): the
/// target itself when it holds the blob already, else the first repository
/// the principal may see that holds it and from which it may read it. Only
/// repositories visible to the principal are searched, so the answer (201 or
/// the 202 of a plain upload) reveals nothing about anybody else's content.
async fn anonymous_mount_source(
    registry: &Registry,
    guard: &Guard<'_>,
    repo: &RepoName,
    digest: &Digest,
) -> Result<Option<RepoName>, Error> {
    let store = registry.store();
    if store.get_blob(repo, digest).await?.is_some() {
        return Ok(Some(repo.clone()));
    }
    let candidates = match guard.visible_repositories().await? {
        Some(repos) => repos,
        None => store.list_repositories(&Page::default()).await?,
    };
    for from in candidates.iter().filter(|r| *r != repo) {
        if store.get_blob(from, digest).await?.is_some() && may_read_blob(guard, from, digest).await
        {
            return Ok(Some(from.clone()));
        }
    }
    Ok(None)
}

/// True when the principal may read `digest` from `from`; a mount from a
/// repository it cannot read falls back to a plain upload, revealing nothing.
async fn may_read_blob(guard: &Guard<'_>, from: &RepoName, digest: &Digest) -> bool {
    match guard.read(from).await {
        Ok(scope) => scope.check_blob(digest).await.is_ok(),
        Err(_) => false,
    }
}
