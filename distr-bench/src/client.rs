//! HTTP plumbing: a keep-alive HTTP/1.1 client (hyper-util's legacy client)
//! that only ever talks to a registry on this machine.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The error type of request bodies.
pub type BoxError = Box<dyn StdError + Send + Sync>;
/// Every request body the tool sends (empty, small, or streamed).
pub type ReqBody = BoxBody<Bytes, BoxError>;
/// The HTTP client used everywhere.
pub type HttpClient = Client<CountingConnector, ReqBody>;

/// A registry base URL, resolved and checked to be a loopback address.
#[derive(Clone, Debug)]
pub struct Registry {
    addr: SocketAddr,
}

impl Registry {
    /// Parses `http://HOST[:PORT]` and resolves HOST; every address it
    /// resolves to must be a loopback address. Requests then go to the
    /// resolved IP, so no later name lookup can send them elsewhere.
    pub async fn resolve(url: &str) -> anyhow::Result<Registry> {
        let uri: Uri = url
            .trim_end_matches('/')
            .parse()
            .with_context(|| format!("invalid registry URL {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("registry URL {url:?}: only plain http:// is supported");
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            bail!("registry URL {url:?} must not have a path or query");
        }
        let authority = uri
            .authority()
            .with_context(|| format!("registry URL {url:?} has no host"))?;
        if authority.as_str().contains('@') {
            bail!("registry URL {url:?} must not carry credentials");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(80);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("resolving {host}"))?
            .collect();
        let Some(first) = addrs.first().copied() else {
            bail!("{host} resolves to no address");
        };
        if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            bail!("refusing to benchmark {host} ({bad}): only loopback registries are allowed");
        }
        Ok(Registry { addr: first })
    }

    /// The absolute URI of `path_and_query` (which must start with `/`).
    pub fn uri(&self, path_and_query: &str) -> anyhow::Result<Uri> {
        format!("http://{}{path_and_query}", self.addr)
            .parse()
            .with_context(|| format!("building a URI for {path_and_query:?}"))
    }

    /// The resolved socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// An [`HttpConnector`] that counts the TCP connections it opens, to check
/// that keep-alive really reuses connections.
#[derive(Clone, Debug)]
pub struct CountingConnector {
    inner: HttpConnector,
    opened: Arc<AtomicU64>,
}

impl tower_service::Service<Uri> for CountingConnector {
    type Response = <HttpConnector as tower_service::Service<Uri>>::Response;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = <HttpConnector as tower_service::Service<Uri>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.inner.call(dst)
    }
}

/// A keep-alive HTTP/1.1 client with TCP_NODELAY whose connection attempts
/// are added to `opened`. It keeps at most `max_idle` idle connections.
///
/// hyper-util's legacy pool takes a connection back from a separate task
/// once a response body has ended, and a checkout that finds no idle
/// connection starts connecting while it waits. So a request sent right
/// after a large body was read can open a second connection, which is kept
/// and reused. `opened` shows how often that happens; it never raises the
/// number of requests in flight.
pub fn client(max_idle: usize, opened: Arc<AtomicU64>) -> HttpClient {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    http.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(max_idle)
        .build(CountingConnector {
            inner: http,
            opened,
        })
}

/// An empty request body.
pub fn empty() -> ReqBody {
    Empty::<Bytes>::new()
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

/// A request body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into())
        .map_err(|never| -> BoxError { match never {} })
        .boxed()
}

/// `e` and all its sources, joined with `: `.
pub fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The `Authorization` header every request carries, set once at start-up
/// from `--token` (HTTP Basic with the token as password, as `docker login`
/// sends it).
static AUTHORIZATION: std::sync::OnceLock<http::HeaderValue> = std::sync::OnceLock::new();

/// Makes every request authenticate with `token`.
pub fn set_token(token: &str) -> anyhow::Result<()> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("bench:{token}"));
    let value = http::HeaderValue::from_str(&format!("Basic {basic}"))
        .context("token is not a valid header value")?;
    let _ = AUTHORIZATION.set(value);
    Ok(())
}

/// Sends `req`, turning a transport failure into a readable message.
pub async fn send(
    client: &HttpClient,
    mut req: Request<ReqBody>,
) -> Result<Response<Incoming>, String> {
    if let Some(auth) = AUTHORIZATION.get() {
        req.headers_mut()
            .entry(http::header::AUTHORIZATION)
            .or_insert_with(|| auth.clone());
    }
    let what = format!("{} {}", req.method(), req.uri().path());
    client
        .request(req)
        .await
        .map_err(|e| format!("{what}: {}", error_chain(&e)))
}

/// Reads `body` to its end, handing each data chunk to `sink`; returns the
/// number of body bytes.
pub async fn drain(mut body: Incoming, mut sink: impl FnMut(&[u8])) -> Result<u64, String> {
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the body: {}", error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            sink(&data);
        }
    }
    Ok(n)
}

/// Reads up to `limit` bytes of `body` as (lossy) text, for error messages.
pub async fn text(body: Incoming, limit: usize) -> String {
    let mut buf = Vec::new();
    let res = drain(body, |chunk| {
        let room = limit.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
    })
    .await;
    let mut s = String::from_utf8_lossy(&buf).trim().to_owned();
    if let Err(e) = res {
        s.push_str(&format!(" [{e}]"));
    }
    s
}

/// Fails with the status and (start of the) body unless `resp` has status
/// `want`; otherwise returns it unchanged.
pub async fn expect_status(
    what: &str,
    resp: Response<Incoming>,
    want: http::StatusCode,
) -> anyhow::Result<Response<Incoming>> {
    if resp.status() == want {
        return Ok(resp);
    }
    let status = resp.status();
    let body = text(resp.into_body(), 512).await;
    bail!("{what}: expected {want}, got {status}: {body}")
}
