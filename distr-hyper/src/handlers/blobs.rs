//! `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>`.

use distr_core::range::ByteRange;
use distr_core::{Digest, Error, Registry, RepoName};
use http::{header, Method, Response, StatusCode};

use super::{Backend, Parts};
use crate::access::Guard;
use crate::body::{stream, ResponseBody};
use crate::headers::{respond, with_headers, DOCKER_CONTENT_DIGEST};

pub(crate) async fn get(
    backend: Backend<'_>,
    guard: &Guard<'_>,
    repo: &RepoName,
    digest: &str,
    parts: &Parts,
) -> Result<Response<ResponseBody>, Error> {
    let digest: Digest = digest.parse()?;
    guard.read(repo).await?.check_blob(&digest).await?;
    let mut headers = vec![
        (DOCKER_CONTENT_DIGEST, digest.to_string()),
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::ETAG, format!("\"{digest}\"")),
        (header::CACHE_CONTROL, "max-age=31536000".to_owned()),
    ];
    if parts.method == Method::HEAD {
        let blob = match backend.pull_through {
            Some(pt) => pt.stat_blob(repo, &digest).await?,
            None => backend.registry.stat_blob(repo, &digest).await?,
        };
        headers.push((header::CONTENT_LENGTH, blob.size.to_string()));
        return Ok(respond(StatusCode::OK, &headers));
    }
    let range = parts.header(header::RANGE).and_then(ByteRange::parse);
    let read = match backend.pull_through {
        Some(pt) => pt.read_blob(repo, &digest, range).await?,
        None => backend.registry.read_blob(repo, &digest, range).await?,
    };
    let status = match &read.range {
        Some(r) => {
            headers.push((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end - 1, read.size),
            ));
            headers.push((header::CONTENT_LENGTH, (r.end - r.start).to_string()));
            StatusCode::PARTIAL_CONTENT
        }
        None => {
            headers.push((header::CONTENT_LENGTH, read.size.to_string()));
            StatusCode::OK
        }
    };
    let body = match backend.analytics {
        Some(analytics) => analytics.count_blob(guard, repo, read.body).await,
        None => read.body,
    };
    Ok(with_headers(Response::new(stream(body)), status, &headers))
}

pub(crate) async fn delete(
    registry: &Registry,
    repo: &RepoName,
    digest: &str,
) -> Result<Response<ResponseBody>, Error> {
    let digest: Digest = digest.parse()?;
    registry.delete_blob(repo, &digest).await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        &[(header::CONTENT_LENGTH, "0".into())],
    ))
}
