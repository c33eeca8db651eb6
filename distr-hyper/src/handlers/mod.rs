//! Request handlers, one module per endpoint family.

mod blobs;
mod listing;
mod manifests;
mod uploads;

use bytes::Bytes;
use distr_core::access::Action;
use distr_core::pullthrough::PullThrough;
use distr_core::{Error, Registry, RepoName};
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;

use crate::access::{AccessControl, Guard};
use crate::analytics::{ArtifactIndex, Client, PullAnalytics};
use crate::body::{full, BoxError, ResponseBody};
use crate::error::{error_response, unknown_endpoint};
use crate::headers::with_headers;
use crate::public_url::{realm_base, PublicUrl};
use crate::query::Query;
use crate::ratelimit::ClientAddr;
use crate::route::Route;

/// What handlers read from the request line and headers.
pub(crate) struct Parts {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Query,
    /// The connection's peer address, when the server supplies it
    /// ([`ClientAddr`]).
    pub peer: Option<std::net::IpAddr>,
}

impl Parts {
    /// A header as text, if present and valid.
    pub(crate) fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Who asks, for analytics.
    pub(crate) fn client(&self) -> Client<'_> {
        Client {
            peer: self.peer,
            headers: &self.headers,
        }
    }

    /// The declared `Content-Length`.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse().ok())
    }
}

/// What requests are served from: the registry and, for artifacts with an
/// upstream, the pull-through cache in front of it; where pulls are recorded.
#[derive(Clone, Copy)]
pub(crate) struct Backend<'a> {
    pub registry: &'a Registry,
    pub pull_through: Option<&'a PullThrough>,
    /// Download analytics, when on.
    pub analytics: Option<&'a PullAnalytics>,
    /// The artifacts of the tenancy model, when known (for `tags/list` of
    /// an artifact without tags).
    pub artifacts: Option<&'a ArtifactIndex>,
}

/// Routes a request and renders any error as an OCI error response.
pub(crate) async fn dispatch<B>(
    backend: Backend<'_>,
    access: Option<&AccessControl>,
    req: Request<B>,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (head, body) = req.into_parts();
    let peer = head.extensions.get::<ClientAddr>().map(|a| a.0.ip());
    let parts = Parts {
        method: head.method,
        headers: head.headers,
        query: Query::parse(head.uri.query()),
        peer,
    };
    match Route::parse(head.uri.path()) {
        Ok(Some(Route::Token)) if access.is_none() => unknown_endpoint(head.uri.path()),
        Ok(Some(route)) => {
            let needs = needed_scope(&parts.method, &route);
            let mut challenge = access
                .filter(|a| a.issues_sessions())
                .map(|a| bearer_challenge(a.public_url(), &parts.headers, &needs));
            let result = match Guard::from_extensions(access, &head.extensions) {
                Ok(guard) => {
                    let result = handle(backend, &guard, route, needs, parts, body).await;
                    if guard.has_session() {
                        // The Docker token spec's answer to a valid session
                        // that lacks the scope the request needs.
                        if let Some(c) = challenge.as_mut() {
                            c.push_str(",error=\"insufficient_scope\"");
                        }
                    }
                    result
                }
                Err(e) => Err(e),
            };
            result.unwrap_or_else(|e| {
                let mut resp = error_response(&e);
                if let (Error::Unauthorized, Some(challenge)) = (&e, challenge) {
                    // With the token flow on, the Bearer challenge replaces the
                    // Basic one: clients that read every challenge (oras-py)
                    // would otherwise mix their parameters. Basic credentials
                    // sent up front are still accepted on every request.
                    if let Ok(v) = header::HeaderValue::from_str(&challenge) {
                        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                    }
                }
                resp
            })
        }
        Ok(None) => unknown_endpoint(head.uri.path()),
        Err(e) => error_response(&e),
    }
}

/// What a request needs from a session token: a repository (`None` for the
/// catalog) and an action. `None` when it needs nothing in particular.
type Needs = Option<(Option<RepoName>, Action)>;

fn needed_scope(method: &Method, route: &Route) -> Needs {
    use Route as R;
    let action = |m: &Method| match *m {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    };
    match route {
        R::Base | R::Token => None,
        R::Catalog => Some((None, Action::Pull)),
        R::UploadStart(repo) | R::Upload(repo, _) => Some((Some(repo.clone()), Action::Push)),
        R::Tags(repo) | R::Manifest(repo, _) | R::Blob(repo, _) | R::Referrers(repo, _) => {
            Some((Some(repo.clone()), action(method)))
        }
    }
}

/// `Bearer realm=…,service=…,scope=…` pointing at this server's `/v2/token`
/// (at the configured public URL, see [`crate::public_url`]).
fn bearer_challenge(
    public_url: Option<&PublicUrl>,
    headers: &header::HeaderMap,
    needs: &Needs,
) -> String {
    let base = realm_base(public_url, headers);
    let mut c = format!("Bearer realm=\"{base}/v2/token\",service=\"distr\"");
    match needs {
        Some((Some(repo), action)) => {
            let actions = match action {
                Action::Push => "pull,push",
                a => a.as_str(),
            };
            c.push_str(&format!(",scope=\"repository:{repo}:{actions}\""));
        }
        Some((None, _)) => c.push_str(",scope=\"registry:catalog:*\""),
        None => {}
    }
    c
}

async fn handle<B>(
    backend: Backend<'_>,
    guard: &Guard<'_>,
    route: Route,
    needs: Needs,
    parts: Parts,
    body: B,
) -> Result<Response<ResponseBody>, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use Method as M;
    use Route as R;
    if let Some((repo, action)) = &needs {
        guard.check_scope(repo.as_ref(), *action).await?;
    }
    // Every write is authorized here, in one place; reads are checked by
    // their handlers, which know what is being read.
    let written = match (&parts.method, &route) {
        (&M::PUT | &M::DELETE, R::Manifest(repo, _)) | (&M::DELETE, R::Blob(repo, _)) => Some(repo),
        (_, R::UploadStart(repo)) | (_, R::Upload(repo, _)) => Some(repo),
        _ => None,
    };
    if let Some(repo) = written {
        guard.write(repo).await?;
        if let Some(pt) = backend.pull_through {
            pt.check_writable(repo).await?;
        }
    }
    let registry = backend.registry;
    match (&parts.method, route) {
        (&M::GET, R::Token) => {
            let scopes = parts.query.get_all("scope");
            let (token, expires_in) = guard.issue_session(&scopes).await?;
            let body = serde_json::json!({ "token": token, "access_token": token, "expires_in": expires_in });
            let resp = Response::new(full(body.to_string()));
            Ok(with_headers(
                resp,
                StatusCode::OK,
                &[
                    (header::CONTENT_TYPE, "application/json".into()),
                    (header::CACHE_CONTROL, "no-store".into()),
                ],
            ))
        }
        (&M::GET | &M::HEAD, R::Base) => {
            let resp = Response::new(full("{}"));
            Ok(with_headers(
                resp,
                StatusCode::OK,
                &[(header::CONTENT_TYPE, "application/json".into())],
            ))
        }
        (&M::GET, R::Catalog) => listing::catalog(registry, guard, &parts).await,
        (&M::GET, R::Tags(repo)) => listing::tags(backend, guard, &repo, &parts).await,
        (&M::GET, R::Referrers(repo, digest)) => {
            listing::referrers(registry, guard, &repo, &digest, &parts).await
        }
        (&M::GET | &M::HEAD, R::Manifest(repo, reference)) => {
            manifests::get(backend, guard, &repo, &reference, &parts).await
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
            blobs::get(backend, guard, &repo, &digest, &parts).await
        }
        (&M::DELETE, R::Blob(repo, digest)) => {
            guard.check_blob_delete(&repo, &digest.parse()?).await?;
            blobs::delete(registry, &repo, &digest).await
        }
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
