//! `/v2/<name>/blobs/uploads/...`: starting, chunking, finishing and
//! cancelling uploads, and cross-repository mounts.

use bytes::Bytes;
use distr_core::range::parse_content_range;
use distr_core::store::UploadRecord;
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
        // A malformed or foreign `from` just falls back to a fresh upload.
        if let Some(from) = parts
            .query
            .get("from")
            .and_then(|f| f.parse::<RepoName>().ok())
        {
            if may_read_blob(guard, &from, &digest).await
                && registry.mount_blob(repo, &digest, &from).await?.is_some()
            {
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

/// True when the principal may read `digest` from `from`; a mount from a
/// repository it cannot read falls back to a plain upload, revealing nothing.
async fn may_read_blob(guard: &Guard<'_>, from: &RepoName, digest: &Digest) -> bool {
    match guard.read(from).await {
        Ok(scope) => scope.check_blob(digest).await.is_ok(),
        Err(_) => false,
    }
}
