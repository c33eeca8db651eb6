//! `/v2/<name>/manifests/<reference>`.

use bytes::Bytes;
use distr_core::manifest::accepts;
use distr_core::{Error, Reference, Registry, RepoName, TagName};
use http::{header, Method, Response, StatusCode};
use http_body::Body;

use super::{Backend, Parts};
use crate::access::Guard;
use crate::body::{drain, empty, full, read_limited, BoxError, ResponseBody};
use crate::headers::{respond, with_headers, DOCKER_CONTENT_DIGEST, OCI_SUBJECT, OCI_TAG};

pub(crate) async fn get(
    backend: Backend<'_>,
    guard: &Guard<'_>,
    repo: &RepoName,
    reference: &str,
    parts: &Parts,
) -> Result<Response<ResponseBody>, Error> {
    let reference = read_reference(repo, reference)?;
    let scope = guard.read(repo).await?;
    if let Reference::Tag(tag) = &reference {
        scope.check_tag(tag)?;
    }
    let manifest = match backend.pull_through {
        // Digests are fetched on demand only for callers who see the whole
        // repository; a customer's digests come from synced, entitled tags.
        Some(pt) => pt.get_manifest(repo, &reference, scope.is_full()).await?,
        None => backend.registry.get_manifest(repo, &reference).await?,
    };
    if let Reference::Digest(d) = &reference {
        // A digest the caller is not entitled to answers exactly like one
        // that does not exist: no existence oracle for other customers'
        // content.
        match scope.check_manifest(d).await {
            Err(Error::Denied(_)) => {
                return Err(Error::ManifestUnknown(format!("{repo}:{reference}")))
            }
            other => other?,
        }
    }
    let accept: Vec<&str> = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !accepts(&accept, &manifest.media_type) {
        return Err(Error::ManifestUnknown(format!(
            "{repo}:{reference} is a {}, which the request's Accept header does not allow",
            manifest.media_type
        )));
    }
    let headers = [
        (header::CONTENT_TYPE, manifest.media_type.clone()),
        (header::CONTENT_LENGTH, manifest.size().to_string()),
        (DOCKER_CONTENT_DIGEST, manifest.digest.to_string()),
        (header::ETAG, format!("\"{}\"", manifest.digest)),
    ];
    let body = if parts.method == Method::HEAD {
        empty()
    } else {
        if let Some(analytics) = backend.analytics {
            let tag = match &reference {
                Reference::Tag(t) => Some(t),
                Reference::Digest(_) => None,
            };
            analytics
                .record_pull(guard, repo, tag, &manifest, &parts.client())
                .await;
        }
        full(manifest.content)
    };
    Ok(with_headers(Response::new(body), StatusCode::OK, &headers))
}

/// The reference of a read: a tag that could never have been pushed
/// (`.INVALID_MANIFEST_NAME`) names no manifest, so it is MANIFEST_UNKNOWN
/// (404, as the conformance suite expects), not TAG_INVALID. A malformed
/// digest stays DIGEST_INVALID (400, which the spec allows).
fn read_reference(repo: &RepoName, reference: &str) -> Result<Reference, Error> {
    reference.parse().map_err(|e| match e {
        Error::TagInvalid(_) => Error::ManifestUnknown(format!("{repo}:{reference}")),
        e => e,
    })
}

pub(crate) async fn put<B>(
    registry: &Registry,
    repo: &RepoName,
    reference: &str,
    parts: &Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let reference: Reference = reference.parse()?;
    // The draft's `?tag=` parameters: every one is validated (TAG_INVALID)
    // before the body is read or anything is stored.
    let tags = parts
        .query
        .get_all("tag")
        .into_iter()
        .map(str::parse)
        .collect::<Result<Vec<TagName>, Error>>()?;
    let limit = registry.config().max_manifest_size;
    if let Some(len) = parts.content_length().filter(|&l| l > limit) {
        drain(body).await;
        return Err(Error::ManifestTooLarge { size: len, limit });
    }
    let content = read_limited(body, limit).await?;
    let pushed = registry
        .put_manifest_tagged(
            repo,
            &reference,
            parts.header(header::CONTENT_TYPE),
            content,
            &tags,
        )
        .await?;
    let mut headers = vec![
        (
            header::LOCATION,
            format!("/v2/{repo}/manifests/{}", pushed.digest),
        ),
        (DOCKER_CONTENT_DIGEST, pushed.digest.to_string()),
        (header::CONTENT_LENGTH, "0".into()),
    ];
    if let Some(subject) = pushed.subject {
        headers.push((OCI_SUBJECT, subject.to_string()));
    }
    headers.extend(pushed.tags.iter().map(|t| (OCI_TAG, t.to_string())));
    Ok(respond(StatusCode::CREATED, &headers))
}

pub(crate) async fn delete(
    registry: &Registry,
    repo: &RepoName,
    reference: &str,
) -> Result<Response<ResponseBody>, Error> {
    let reference: Reference = reference.parse()?;
    registry.delete_manifest(repo, &reference).await?;
    Ok(respond(
        StatusCode::ACCEPTED,
        &[(header::CONTENT_LENGTH, "0".into())],
    ))
}
