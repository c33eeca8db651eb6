//! [`FaultProxy`]: an HTTP/1.1 reverse proxy (the harness's [`HttpServer`],
//! like [`super::upstream::BearerProxy`]) in front of a real
//! registry, which counts requests per (method, [`PathKind`]) and applies
//! faults to matching requests, switchable at run time:
//!
//! * [`Fault::Delay`]: wait before answering (then forward normally);
//! * [`Fault::Hang`]: never answer;
//! * [`Fault::Truncate`]: forward the headers, send the first N body bytes,
//!   then close the connection;
//! * [`Fault::Corrupt`]: flip one byte of the body (same length);
//! * [`Fault::Reset`]: send the first N body bytes, then reset the
//!   connection (TCP RST, `SO_LINGER` 0);
//! * [`Fault::Status`]: answer a status (e.g. 503) with an OCI error body;
//! * [`Fault::TooManyRequests`]: answer 429 with `Retry-After`;
//! * [`Fault::WrongLength`]: announce a `Content-Length` larger than the
//!   body, send the whole body, then close.
//!
//! Each rule ([`FaultProxy::set`]) has a [`Matcher`] and applies to the
//! first K matching requests ([`Times::First`]) or to all ([`Times::Always`]);
//! the first rule whose matcher fits and which has uses left applies.
//! Requests are counted before any fault, whether they get one or not.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use distr_test_support::proxy::HttpServer;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;
type ForwardBody = BoxBody<Bytes, BoxError>;

/// What a registry request path addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// `/v2/` (the API version check).
    Base,
    /// `/v2/<name>/manifests/<reference>`.
    Manifest,
    /// `/v2/<name>/blobs/<digest>`.
    Blob,
    /// `/v2/<name>/blobs/uploads/...`.
    Upload,
    /// `/v2/<name>/tags/list`.
    Tags,
    /// `/token` (a token realm).
    Token,
    /// Anything else.
    Other,
}

impl PathKind {
    pub fn of(path: &str) -> PathKind {
        if path == "/v2/" || path == "/v2" {
            return PathKind::Base;
        }
        if path == "/token" {
            return PathKind::Token;
        }
        let Some(rest) = path.strip_prefix("/v2/") else {
            return PathKind::Other;
        };
        if rest.contains("/blobs/uploads") {
            PathKind::Upload
        } else if rest.contains("/blobs/") {
            PathKind::Blob
        } else if rest.contains("/manifests/") {
            PathKind::Manifest
        } else if rest.ends_with("/tags/list") {
            PathKind::Tags
        } else {
            PathKind::Other
        }
    }
}

/// Which requests a rule applies to (`None` fields match anything).
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    pub method: Option<Method>,
    pub kind: Option<PathKind>,
    /// The path must contain this (e.g. a digest or a tag).
    pub path_contains: Option<String>,
}

impl Matcher {
    /// Every request.
    pub fn any() -> Matcher {
        Matcher::default()
    }

    /// `method` requests of `kind`.
    pub fn of(method: Method, kind: PathKind) -> Matcher {
        Matcher {
            method: Some(method),
            kind: Some(kind),
            path_contains: None,
        }
    }

    /// `GET /v2/<name>/blobs/<digest>`.
    pub fn blob_get() -> Matcher {
        Matcher::of(Method::GET, PathKind::Blob)
    }

    /// `GET /v2/<name>/manifests/<reference>`.
    pub fn manifest_get() -> Matcher {
        Matcher::of(Method::GET, PathKind::Manifest)
    }

    /// Only paths containing `s`.
    pub fn containing(mut self, s: &str) -> Matcher {
        self.path_contains = Some(s.to_owned());
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.kind.is_none_or(|k| k == PathKind::of(path))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|s| path.contains(s))
    }
}

/// A fault applied to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long, then forward normally.
    Delay(Duration),
    /// Never answer (the connection stays open until the client gives up).
    Hang,
    /// Send the upstream's headers and the first N body bytes, then close.
    Truncate(u64),
    /// Flip the bits of the body byte at this offset (clamped to the body).
    Corrupt(u64),
    /// Send the first N body bytes, then reset the connection (RST).
    Reset(u64),
    /// Answer this status with an OCI error body, without asking upstream.
    Status(u16),
    /// Answer 429 with `Retry-After: <secs>`, without asking upstream.
    TooManyRequests { retry_after_secs: u64 },
    /// Announce N more bytes than the body has, send the body, then close.
    WrongLength(u64),
}

/// How many matching requests a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The first K matching requests after the rule was set.
    First(usize),
    /// Every matching request.
    Always,
}

struct Rule {
    matcher: Matcher,
    fault: Fault,
    left: Option<usize>,
    applied: usize,
}

#[derive(Default)]
struct Shared {
    rules: Mutex<Vec<Rule>>,
    counts: Mutex<BTreeMap<(String, PathKind), usize>>,
    faults_applied: Mutex<BTreeMap<String, usize>>,
}

struct State {
    upstream: String,
    shared: Arc<Shared>,
    client: Client<HttpConnector, ForwardBody>,
}

/// A fault-injecting HTTP/1.1 reverse proxy in front of a registry. Stops
/// (dropping hanging connections) on drop.
pub struct FaultProxy {
    server: HttpServer,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Front `upstream_host_port` (plain HTTP).
    pub fn start(upstream_host_port: &str) -> FaultProxy {
        let shared = Arc::new(Shared::default());
        let state = Arc::new(State {
            upstream: format!("http://{upstream_host_port}"),
            shared: shared.clone(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        });
        let server = HttpServer::start_connections("fault-proxy", |_| {
            move |stream| serve_connection(state.clone(), stream)
        });
        FaultProxy { server, shared }
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.server.host_port()
    }

    /// `127.0.0.1:PORT/<repo>`: an upstream reference through the proxy.
    pub fn reference(&self, repo: &str) -> String {
        self.server.reference(repo)
    }

    /// Add a rule (after the existing ones).
    pub fn set(&self, matcher: Matcher, fault: Fault, times: Times) {
        let left = match times {
            Times::First(k) => Some(k),
            Times::Always => None,
        };
        self.shared.rules.lock().unwrap().push(Rule {
            matcher,
            fault,
            left,
            applied: 0,
        });
    }

    /// Remove every rule: requests are forwarded untouched again.
    pub fn clear(&self) {
        self.shared.rules.lock().unwrap().clear();
    }

    /// Requests received (faulted or not) with `method` and `kind`.
    pub fn count(&self, method: &Method, kind: PathKind) -> usize {
        self.shared
            .counts
            .lock()
            .unwrap()
            .get(&(method.as_str().to_owned(), kind))
            .copied()
            .unwrap_or(0)
    }

    /// `GET`s of blobs received.
    pub fn blob_gets(&self) -> usize {
        self.count(&Method::GET, PathKind::Blob)
    }

    /// `GET`s of manifests received.
    pub fn manifest_gets(&self) -> usize {
        self.count(&Method::GET, PathKind::Manifest)
    }

    /// Requests received, of any kind.
    pub fn total(&self) -> usize {
        self.shared.counts.lock().unwrap().values().sum()
    }

    /// Every count, for messages: `{(method, kind): n}`.
    pub fn counts(&self) -> BTreeMap<(String, PathKind), usize> {
        self.shared.counts.lock().unwrap().clone()
    }

    /// How often each fault (by its `Debug`) was applied.
    pub fn faults_applied(&self) -> BTreeMap<String, usize> {
        self.shared.faults_applied.lock().unwrap().clone()
    }
}

/// A TCP stream that is reset (SO_LINGER 0, then closed) instead of shut
/// down once `reset` is set.
struct ResettableIo {
    inner: tokio::net::TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableIo {
    fn check(&self) -> std::io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault proxy: reset",
            ));
        }
        Ok(())
    }
}

impl Drop for ResettableIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_connection(state: Arc<State>, stream: tokio::net::TcpStream) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = ResettableIo {
        inner: stream,
        reset: reset.clone(),
    };
    let handler = move |req| {
        let (state, reset) = (state.clone(), reset.clone());
        async move { state.handle(req, reset).await }
    };
    distr_test_support::proxy::serve_http1(TokioIo::new(io), Arc::new(handler)).await;
}

fn full(
    status: StatusCode,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Response<ProxyBody> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(
        Full::new(body.into())
            .map_err(|e| match e {})
            .boxed_unsync(),
    )
    .unwrap()
}

fn oci_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({"errors": [{"code": code, "message": message, "detail": null}]});
    full(
        status,
        &[("content-type", "application/json".into())],
        body.to_string(),
    )
}

/// What happens to the body on its way to the client.
#[derive(Clone, Copy)]
enum BodyFault {
    /// End (with an error: the connection is closed) after this many bytes.
    CutAfter(u64),
    /// End after this many bytes and reset the connection.
    ResetAfter(u64),
    /// Flip this byte.
    Flip(u64),
}

impl State {
    /// The fault for a request, if a rule applies (using one of its uses).
    fn pick(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = self.shared.rules.lock().unwrap();
        let rule = rules
            .iter_mut()
            .find(|r| r.left != Some(0) && r.matcher.matches(method, path))?;
        if let Some(left) = rule.left.as_mut() {
            *left -= 1;
        }
        rule.applied += 1;
        let fault = rule.fault.clone();
        *self
            .shared
            .faults_applied
            .lock()
            .unwrap()
            .entry(format!("{fault:?}"))
            .or_default() += 1;
        Some(fault)
    }

    async fn handle(&self, req: Request<Incoming>, reset: Arc<AtomicBool>) -> Response<ProxyBody> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        *self
            .shared
            .counts
            .lock()
            .unwrap()
            .entry((method.as_str().to_owned(), PathKind::of(&path)))
            .or_default() += 1;
        let fault = self.pick(&method, &path);
        let mut body_fault = None;
        let mut extra_length = 0;
        match &fault {
            None => {}
            Some(Fault::Delay(d)) => tokio::time::sleep(*d).await,
            Some(Fault::Hang) => std::future::pending::<()>().await,
            Some(Fault::Status(code)) => {
                let status = StatusCode::from_u16(*code).expect("a valid status");
                return oci_error(status, "UNAVAILABLE", "fault proxy: injected status");
            }
            Some(Fault::TooManyRequests { retry_after_secs }) => {
                let mut r = oci_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOOMANYREQUESTS",
                    "fault proxy: slow down",
                );
                r.headers_mut()
                    .insert("retry-after", (*retry_after_secs).into());
                return r;
            }
            Some(Fault::Truncate(n)) => body_fault = Some(BodyFault::CutAfter(*n)),
            Some(Fault::Reset(n)) => body_fault = Some(BodyFault::ResetAfter(*n)),
            Some(Fault::Corrupt(at)) => body_fault = Some(BodyFault::Flip(*at)),
            Some(Fault::WrongLength(extra)) => extra_length = *extra,
        }

        let uri = match req.uri().query() {
            Some(q) => format!("{}{path}?{q}", self.upstream),
            None => format!("{}{path}", self.upstream),
        };
        let (parts, body) = req.into_parts();
        let mut fwd = Request::builder().method(parts.method.clone()).uri(uri);
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "host" | "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade"
            ) {
                fwd = fwd.header(name, value.clone());
            }
        }
        let fwd = fwd
            .body(body.map_err(|e| Box::new(e) as BoxError).boxed())
            .unwrap();
        let resp = match self.client.request(fwd).await {
            Ok(r) => r,
            Err(e) => return oci_error(StatusCode::BAD_GATEWAY, "UNKNOWN", &e.to_string()),
        };
        let (mut parts, body) = resp.into_parts();
        for hop in ["connection", "keep-alive", "transfer-encoding"] {
            parts.headers.remove(hop);
        }
        let length: Option<u64> = parts
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        if extra_length > 0 {
            if let Some(n) = length {
                parts
                    .headers
                    .insert("content-length", (n + extra_length).into());
            }
        }
        // Flip a byte inside the body (the last one when `at` is past it).
        let body_fault = match (body_fault, length) {
            (Some(BodyFault::Flip(at)), Some(n)) if n > 0 => Some(BodyFault::Flip(at.min(n - 1))),
            (other, _) => other,
        };
        let frames = body
            .into_data_stream()
            .map(|c| c.map_err(|e| Box::new(e) as BoxError));
        let stream = futures::stream::unfold(
            (frames.boxed(), 0u64, body_fault, false),
            move |(mut frames, pos, fault, done)| {
                let reset = reset.clone();
                async move {
                    if done {
                        return None;
                    }
                    let cut = match fault {
                        Some(BodyFault::CutAfter(n)) | Some(BodyFault::ResetAfter(n)) => Some(n),
                        _ => None,
                    };
                    if cut.is_some_and(|n| pos >= n) {
                        if matches!(fault, Some(BodyFault::ResetAfter(_))) {
                            reset.store(true, Ordering::SeqCst);
                        }
                        let e: BoxError = "fault proxy: body cut".into();
                        return Some((Err(e), (frames, pos, fault, true)));
                    }
                    match frames.next().await {
                        None => None,
                        Some(Err(e)) => Some((Err(e), (frames, pos, fault, true))),
                        Some(Ok(chunk)) => {
                            let len = chunk.len() as u64;
                            let mut chunk = match cut {
                                Some(n) if pos + len > n => chunk.slice(..(n - pos) as usize),
                                _ => chunk,
                            };
                            if let Some(BodyFault::Flip(at)) = fault {
                                if at >= pos && at < pos + chunk.len() as u64 {
                                    let mut v = chunk.to_vec();
                                    v[(at - pos) as usize] ^= 0xff;
                                    chunk = Bytes::from(v);
                                }
                            }
                            let next = pos + chunk.len() as u64;
                            Some((Ok(Frame::data(chunk)), (frames, next, fault, false)))
                        }
                    }
                }
            },
        );
        Response::from_parts(parts, BodyExt::boxed_unsync(StreamBody::new(stream)))
    }
}
