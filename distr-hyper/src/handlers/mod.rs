//! Request handlers, one module per endpoint family.

mod blobs;
mod listing;
mod manifests;
mod uploads;

use bytes::Bytes;
use distr_core::{Error, Registry};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;

use crate::access::{AccessControl, Guard};
use crate::body::{full, BoxError, ResponseBody};
use crate::error::{error_response, unknown_endpoint};
use crate::headers::with_headers;
use crate::query::Query;
use crate::route::Route;

/// What handlers read from the request line and headers.
pub(crate) struct Parts {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
}

impl Parts {
    /// A header as text, if present and valid.
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The declared `Content-Length`.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse().ok())
    }
}

/// Routes a request and renders any error as an OCI error response.
pub(crate) async fn dispatch<B>(
    registry: &Registry,
    access: Option<&AccessControl>,
    req: Request<B>,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (head, body) = req.into_parts();
    let parts = Parts {
        method: head.method,
        headers: head.headers,
        query: Query::parse(head.uri.query()),
    };
    match Route::parse(head.uri.path()) {
        Ok(Some(route)) => {
            let guard = match Guard::authenticate(access, &parts.headers).await {
                Ok(g) => g,
                Err(e) => return error_response(&e),
            };
            handle(registry, &guard, route, parts, body)
                .await
                .unwrap_or_else(|e| error_response(&e))
        }
        Ok(None) => unknown_endpoint(head.uri.path()),
        Err(e) => error_response(&e),
    }
}

async fn handle<B>(
    registry: &Registry,
    guard: &Guard<'_>,
    route: Route,
    parts: Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use Method as M;
    use Route as R;
    // Every write is authorized here, in one place; reads are checked by
    // their handlers, which know what is being read.
    let written = match (&parts.method, &route) {
        (&M::PUT | &M::DELETE, R::Manifest(repo, _)) | (&M::DELETE, R::Blob(repo, _)) => Some(repo),
        (_, R::UploadStart(repo)) | (_, R::Upload(repo, _)) => Some(repo),
        _ => None,
    };
    if let Some(repo) = written {
        guard.write(repo).await?;
    }
    match (&parts.method, route) {
        (&M::GET | &M::HEAD, R::Base) => {
            let resp = Response::new(full("{}"));
            Ok(with_headers(
                resp,
                StatusCode::OK,
                &[(header::CONTENT_TYPE, "application/json".into())],
            ))
        }
        (&M::GET, R::Catalog) => listing::catalog(registry, guard, &parts).await,
        (&M::GET, R::Tags(repo)) => listing::tags(registry, guard, &repo, &parts).await,
        (&M::GET, R::Referrers(repo, digest)) => {
            listing::referrers(registry, guard, &repo, &digest, &parts).await
        }
        (&M::GET | &M::HEAD, R::Manifest(repo, reference)) => {
            manifests::get(registry, guard, &repo, &reference, &parts).await
        }
        (&M::PUT, R::Manifest(repo, reference)) => {
            let resp = manifests::put(registry, &repo, &reference, &parts, body).await?;
            guard.after_push(&repo).await;
            Ok(resp)
        }
        (&M::DELETE, R::Manifest(repo, reference)) => {
            guard.check_delete(&repo, &reference.parse()?).await?;
            manifests::delete(registry, &repo, &reference).await
        }
        (&M::GET | &M::HEAD, R::Blob(repo, digest)) => {
            blobs::get(registry, guard, &repo, &digest, &parts).await
        }
        (&M::DELETE, R::Blob(repo, digest)) => blobs::delete(registry, &repo, &digest).await,
        (&M::POST, R::UploadStart(repo)) => {
            uploads::start(registry, guard, &repo, &parts, body).await
        }
        (&M::GET, R::Upload(repo, id)) => uploads::status(registry, &repo, &id).await,
        (&M::PATCH, R::Upload(repo, id)) => {
            uploads::patch(registry, &repo, &id, &parts, body).await
        }
        (&M::PUT, R::Upload(repo, id)) => uploads::finish(registry, &repo, &id, &parts, body).await,
        (&M::DELETE, R::Upload(repo, id)) => uploads::cancel(registry, &repo, &id).await,
        (m, _) => Err(Error::Unsupported(format!(
            "method {m} is not supported on this endpoint"
        ))),
    }
}
