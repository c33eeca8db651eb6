//! `distr-bench count-proxy`: forwards every HTTP/1.1 request to one
//! upstream registry and counts them by kind, so a benchmark can tell how
//! many upstream fetches a cache made.
//!
//! Requests are forwarded unchanged (the `Host` header included) over
//! keep-alive connections, and responses streamed back as they come. The
//! counts are served by the proxy itself at `GET /-/counts` as one line of
//! `key=value` pairs (see [`Counts::line`]); they only grow, so callers take
//! differences. The proxy prints `listening on <ip>:<port>` on stdout once
//! it accepts connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::client::Registry;

/// Arguments of `count-proxy`.
#[derive(Debug, Args)]
pub struct CountProxyArgs {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The registry every request is forwarded to (`http://127.0.0.1:PORT`).
    #[arg(long)]
    pub upstream: String,
}

/// What kind of registry request a path and method are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /v2/<name>/blobs/<digest>`.
    BlobGet,
    /// `HEAD /v2/<name>/blobs/<digest>`.
    BlobHead,
    /// `GET /v2/<name>/manifests/<reference>`.
    ManifestGet,
    /// `HEAD /v2/<name>/manifests/<reference>`.
    ManifestHead,
    /// `GET /v2/<name>/tags/list`.
    TagsList,
    /// Anything else (`/v2/`, uploads, token requests, …).
    Other,
}

impl Kind {
    /// Classifies a request by its method and path.
    pub fn of(method: &Method, path: &str) -> Kind {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Kind::Other;
        };
        let get = method == Method::GET;
        let head = method == Method::HEAD;
        if rest.ends_with("/tags/list") && get {
            return Kind::TagsList;
        }
        // The last two segments: `blobs/<digest>` or `manifests/<ref>`.
        let mut parts = rest.rsplitn(3, '/');
        let (Some(last), Some(section), Some(_name)) = (parts.next(), parts.next(), parts.next())
        else {
            return Kind::Other;
        };
        match section {
            "blobs" if last != "uploads" && get => Kind::BlobGet,
            "blobs" if last != "uploads" && head => Kind::BlobHead,
            "manifests" if get => Kind::ManifestGet,
            "manifests" if head => Kind::ManifestHead,
            _ => Kind::Other,
        }
    }
}

/// Request counters of one proxy.
#[derive(Debug, Default)]
pub struct Counts {
    blob_get: AtomicU64,
    blob_head: AtomicU64,
    manifest_get: AtomicU64,
    manifest_head: AtomicU64,
    tags_list: AtomicU64,
    other: AtomicU64,
    /// Response body bytes of blob GETs.
    blob_bytes: AtomicU64,
}

impl Counts {
    /// Counts one request of `kind`.
    pub fn add(&self, kind: Kind) {
        let c = match kind {
            Kind::BlobGet => &self.blob_get,
            Kind::BlobHead => &self.blob_head,
            Kind::ManifestGet => &self.manifest_get,
            Kind::ManifestHead => &self.manifest_head,
            Kind::TagsList => &self.tags_list,
            Kind::Other => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// `total=… blob_get=… blob_head=… manifest_get=… manifest_head=…
    /// tags_list=… other=… blob_bytes=…`.
    pub fn line(&self) -> String {
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let counted = [
            &self.blob_get,
            &self.blob_head,
            &self.manifest_get,
            &self.manifest_head,
            &self.tags_list,
            &self.other,
        ];
        let total: u64 = counted.iter().map(|c| v(c)).sum();
        format!(
            "total={total} blob_get={} blob_head={} manifest_get={} manifest_head={} tags_list={} other={} blob_bytes={}",
            v(&self.blob_get),
            v(&self.blob_head),
            v(&self.manifest_get),
            v(&self.manifest_head),
            v(&self.tags_list),
            v(&self.other),
            v(&self.blob_bytes),
        )
    }
}

/// Response bodies the proxy sends.
type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A body that adds the length of every data frame to a counter.
struct Counted {
    inner: Incoming,
    bytes: Arc<Counts>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes
                    .blob_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A small in-memory response.
fn small(status: StatusCode, text: String) -> Response<ProxyBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp
}

/// Shared state of the proxy.
struct Proxy {
    upstream: SocketAddr,
    client: Client<HttpConnector, Incoming>,
    counts: Arc<Counts>,
}

impl Proxy {
    /// Serves `/-/counts`, or counts and forwards the request.
    async fn handle(&self, mut req: Request<Incoming>) -> Response<ProxyBody> {
        let path = req.uri().path().to_owned();
        if path == "/-/counts" {
            return small(StatusCode::OK, format!("{}\n", self.counts.line()));
        }
        let kind = Kind::of(req.method(), &path);
        self.counts.add(kind);
        let pq = req
            .uri()
            .path_and_query()
            .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
        let uri: Uri = match format!("http://{}{pq}", self.upstream).parse() {
            Ok(u) => u,
            Err(e) => return small(StatusCode::BAD_REQUEST, format!("bad URI: {e}\n")),
        };
        *req.uri_mut() = uri;
        match self.client.request(req).await {
            Ok(resp) if kind == Kind::BlobGet => resp.map(|inner| {
                Counted {
                    inner,
                    bytes: Arc::clone(&self.counts),
                }
                .boxed()
            }),
            Ok(resp) => resp.map(BodyExt::boxed),
            Err(e) => small(
                StatusCode::BAD_GATEWAY,
                format!("count-proxy: upstream request failed: {e}\n"),
            ),
        }
    }
}

/// Runs the proxy until the process is stopped.
pub async fn run(args: CountProxyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "count-proxy only listens on loopback addresses"
    );
    let upstream = Registry::resolve(&args.upstream).await?.addr();
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let proxy = Arc::new(Proxy {
        upstream,
        client: Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(256)
            .build(http),
        counts: Arc::default(),
    });
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await.context("accepting")?;
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let proxy = Arc::clone(&proxy);
                async move { Ok::<_, Infallible>(proxy.handle(req).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("count-proxy: connection ended with an error: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let d = "sha256:0123";
        assert_eq!(
            Kind::of(&Method::GET, &format!("/v2/a/b/blobs/{d}")),
            Kind::BlobGet
        );
        assert_eq!(
            Kind::of(&Method::HEAD, &format!("/v2/a/blobs/{d}")),
            Kind::BlobHead
        );
        assert_eq!(
            Kind::of(&Method::GET, "/v2/a/b/c/manifests/v1"),
            Kind::ManifestGet
        );
        assert_eq!(
            Kind::of(&Method::HEAD, "/v2/a/manifests/v1"),
            Kind::ManifestHead
        );
        assert_eq!(Kind::of(&Method::GET, "/v2/a/b/tags/list"), Kind::TagsList);
        assert_eq!(Kind::of(&Method::GET, "/v2/"), Kind::Other);
        assert_eq!(Kind::of(&Method::POST, "/v2/a/blobs/uploads/"), Kind::Other);
        assert_eq!(Kind::of(&Method::GET, "/v2/blobs/x"), Kind::Other);
    }

    #[test]
    fn counts_line() {
        let c = Counts::default();
        c.add(Kind::BlobGet);
        c.add(Kind::TagsList);
        c.add(Kind::TagsList);
        assert_eq!(
            c.line(),
            "total=3 blob_get=1 blob_head=0 manifest_get=0 manifest_head=0 tags_list=2 other=0 blob_bytes=0"
        );
    }
}
