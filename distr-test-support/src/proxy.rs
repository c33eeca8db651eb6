//! One accept loop for the tests' HTTP servers: the count, fault and
//! Bearer-token proxies in front of real registries, and the fake
//! registries of the client tests.
//!
//! [`HttpServer`] binds `127.0.0.1:0`, runs a two-worker tokio runtime on a
//! thread of its own (so it serves sync tests, async tests of either flavour
//! and `Drop` alike) and stops, dropping open connections, when it is
//! dropped. [`HttpServer::start`] serves HTTP/1.1 with a request handler;
//! [`HttpServer::start_connections`] hands each accepted TCP stream to the
//! caller (for proxies that wrap the socket, e.g. to reset it).
//! [`forward`] sends a request on to an upstream and buffers the answer.

use std::convert::Infallible;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The error type of boxed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A plain-HTTP client for forwarding buffered requests.
pub type ForwardClient = Client<HttpConnector, Full<Bytes>>;

/// A new [`ForwardClient`].
pub fn forward_client() -> ForwardClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// An HTTP server on a loopback port, on its own thread and runtime;
/// stopped on drop.
pub struct HttpServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Serve HTTP/1.1 with the handler `make` builds from the server's own
    /// address (a token realm needs to know its URL).
    pub fn start<H, Fut, B>(name: &str, make: impl FnOnce(SocketAddr) -> H) -> HttpServer
    where
        H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<B>> + Send + 'static,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        Self::start_connections(name, |addr| {
            let handler = Arc::new(make(addr));
            move |stream: tokio::net::TcpStream| serve_http1(TokioIo::new(stream), handler.clone())
        })
    }

    /// Run `serve` (built from the server's own address) on its own task
    /// for each accepted connection.
    pub fn start_connections<S, F>(name: &str, make: impl FnOnce(SocketAddr) -> S) -> HttpServer
    where
        S: Fn(tokio::net::TcpStream) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let serve = make(addr);
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("build the server's runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let _ = stream.set_nodelay(true);
                                tokio::spawn(serve(stream));
                            }
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn the server thread");
        HttpServer {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT/<repo>`: an upstream reference through this server.
    pub fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serve one HTTP/1.1 connection with `handler` until it closes.
pub async fn serve_http1<I, H, Fut, B>(io: I, handler: Arc<H>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let svc = hyper::service::service_fn(move |req| {
        let fut = handler(req);
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}

/// A response with a whole body.
pub fn reply(
    status: StatusCode,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Full::new(body.into()))
        .expect("a response from valid parts")
}

/// Forward `req` to `upstream` (`http://host:port`, same path and query),
/// copying only the `headers` named (all but hop-by-hop ones when `None`),
/// and return the upstream's answer with its body buffered and hop-by-hop
/// headers removed. 400 when the request body fails, 502 when the upstream
/// does.
pub async fn forward(
    client: &ForwardClient,
    upstream: &str,
    req: Request<Incoming>,
    headers: Option<&[&str]>,
) -> Response<Full<Bytes>> {
    let uri = match req.uri().path_and_query() {
        Some(pq) => format!("{upstream}{pq}"),
        None => format!("{upstream}{}", req.uri().path()),
    };
    let mut fwd = Request::builder().method(req.method().clone()).uri(uri);
    for (name, value) in req.headers() {
        let wanted = match headers {
            Some(list) => list.contains(&name.as_str()),
            None => !is_hop_by_hop(name.as_str()) && name != "host",
        };
        if wanted {
            fwd = fwd.header(name, value.clone());
        }
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return reply(StatusCode::BAD_REQUEST, &[], e.to_string()),
    };
    let fwd = match fwd.body(Full::new(body)) {
        Ok(r) => r,
        Err(e) => return reply(StatusCode::BAD_REQUEST, &[], e.to_string()),
    };
    let resp = match client.request(fwd).await {
        Ok(r) => r,
        Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
    };
    let (mut parts, body) = resp.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
    };
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Full::new(body))
}

/// True for the headers a proxy must not pass on.
pub fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade"
    )
}

/// Remove the response headers a proxy must not pass on.
pub fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    for hop in ["connection", "keep-alive", "transfer-encoding"] {
        headers.remove(hop);
    }
}

/// The tokens a fake token realm (`GET /token`) issued, each with its
/// expiry, for proxies that demand `Authorization: Bearer <token>`.
#[derive(Debug, Default)]
pub struct TokenRealm {
    tokens: std::sync::Mutex<Vec<(String, std::time::Instant)>>,
}

impl TokenRealm {
    /// Record `token` as valid for `ttl` from now.
    pub fn issue(&self, token: &str, ttl: Duration) {
        let expiry = std::time::Instant::now() + ttl;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.push((token.to_owned(), expiry));
        }
    }

    /// True when `authorization` is `Bearer <token>` with a token issued
    /// here and not expired.
    pub fn accepts(&self, authorization: &str) -> bool {
        let Some(presented) = authorization.strip_prefix("Bearer ") else {
            return false;
        };
        let now = std::time::Instant::now();
        self.tokens
            .lock()
            .map(|tokens| tokens.iter().any(|(t, exp)| t == presented && now < *exp))
            .unwrap_or(false)
    }
}
