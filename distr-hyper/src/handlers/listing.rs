//! `tags/list`, `_catalog` and `referrers`.

use distr_core::manifest::OCI_INDEX;
use distr_core::registry::Listing;
use distr_core::{Digest, Error, Registry, RepoName};
use http::{header, HeaderName, Response, StatusCode};
use serde_json::json;

use super::{Backend, Parts};
use crate::access::Guard;
use crate::body::{full, ResponseBody};
use crate::headers::{with_headers, OCI_FILTERS_APPLIED};
use crate::query::encode;

/// The `n` and `last` parameters.
fn page_params(parts: &Parts) -> Result<(Option<usize>, Option<String>), Error> {
    let n = parts
        .query
        .get("n")
        .map(|n| {
            n.parse::<usize>().map_err(|_| {
                Error::PaginationInvalid(format!("n={n:?} is not a non-negative integer"))
            })
        })
        .transpose()?;
    Ok((n, parts.query.get("last").map(str::to_owned)))
}

/// A JSON response, with a `Link` to the next page when there is one.
fn json_page<T: std::fmt::Display>(
    body: serde_json::Value,
    listing: &Listing<T>,
    path: &str,
    n: usize,
) -> Response<ResponseBody> {
    let mut headers: Vec<(HeaderName, String)> =
        vec![(header::CONTENT_TYPE, "application/json".into())];
    if let (true, Some(last)) = (listing.more, listing.items.last()) {
        headers.push((
            header::LINK,
            format!(
                "<{path}?n={n}&last={}>; rel=\"next\"",
                encode(&last.to_string())
            ),
        ));
    }
    with_headers(
        Response::new(full(body.to_string())),
        StatusCode::OK,
        &headers,
    )
}

pub(crate) async fn tags(
    backend: Backend<'_>,
    guard: &Guard<'_>,
    repo: &RepoName,
    parts: &Parts,
) -> Result<Response<ResponseBody>, Error> {
    let registry = backend.registry;
    let (n, last) = page_params(parts)?;
    let limit = registry.page_limit(n);
    let listing = match guard.read(repo).await?.visible_tags().await? {
        None => match registry.list_tags(repo, last, n).await {
            Err(Error::NameUnknown) if artifact_exists(backend, repo).await? => Listing {
                items: Vec::new(),
                more: false,
            },
            listing => listing?,
        },
        Some(visible) => Listing::paginate(visible, last.as_deref(), limit),
    };
    let tags: Vec<&str> = listing.items.iter().map(|t| t.as_str()).collect();
    let body = json!({ "name": repo.as_str(), "tags": tags });
    Ok(json_page(
        body,
        &listing,
        &format!("/v2/{repo}/tags/list"),
        limit,
    ))
}

/// True when the tenancy model has the artifact `repo` names (created
/// through the API, say, before anything was pushed): its tag list is then
/// empty rather than unknown. The caller already passed the read check.
async fn artifact_exists(backend: Backend<'_>, repo: &RepoName) -> Result<bool, Error> {
    match backend.artifacts {
        Some(index) => Ok(index.resolve(repo).await?.is_some()),
        None => Ok(false),
    }
}

pub(crate) async fn catalog(
    registry: &Registry,
    guard: &Guard<'_>,
    parts: &Parts,
) -> Result<Response<ResponseBody>, Error> {
    let (n, last) = page_params(parts)?;
    let limit = registry.page_limit(n);
    let listing = match guard.visible_repositories().await? {
        None => registry.catalog(last, n).await?,
        Some(visible) => Listing::paginate(visible, last.as_deref(), limit),
    };
    let repos: Vec<&str> = listing.items.iter().map(|r| r.as_str()).collect();
    let body = json!({ "repositories": repos });
    Ok(json_page(body, &listing, "/v2/_catalog", limit))
}

pub(crate) async fn referrers(
    registry: &Registry,
    guard: &Guard<'_>,
    repo: &RepoName,
    digest: &str,
    parts: &Parts,
) -> Result<Response<ResponseBody>, Error> {
    let subject: Digest = digest.parse()?;
    guard.read(repo).await?.check_manifest(&subject).await?;
    let filter = parts.query.get("artifactType").filter(|t| !t.is_empty());
    let index = registry.referrers(repo, &subject, filter).await?;
    let mut headers = vec![(header::CONTENT_TYPE, OCI_INDEX.to_owned())];
    if filter.is_some() {
        headers.push((OCI_FILTERS_APPLIED, "artifactType".to_owned()));
    }
    Ok(with_headers(
        Response::new(full(index)),
        StatusCode::OK,
        &headers,
    ))
}
