//! ECR authentication of `OciUpstream` against real parts: `moto_server`
//! (pip package `moto[server]`) answers `GetAuthorizationToken`, and Debian's
//! CNCF Distribution (`/usr/bin/docker-registry`) plays the ECR registry,
//! with an htpasswd entry for the password moto hands out.
//!
//! moto's token is deterministic: base64 of `AWS:<account>-auth-token`, the
//! account being moto's default `123456789012` (independent of the region
//! and, unless IAM users are created, of the access key), with a fixed
//! `expiresAt` of 2015-01-01 — so the client's "no usable expiry → 12 h"
//! rule is exercised too. moto validates AWS credentials only when started
//! with `INITIAL_NO_AUTH_ACTION_COUNT=0`.
//!
//! In-test hyper proxies count `GetAuthorizationToken` calls on their way to
//! moto, and reject the first authenticated registry request (a stale token)
//! or demand Bearer tokens from a realm that takes the ECR password.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use distr_core::access::ArtifactUpstream;
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{Upstream, UpstreamAuth, UpstreamError, UpstreamRef};
use distr_core::{Digest, Reference};
use futures::TryStreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use distr_upstream_oci::OciConnector;
use distr_upstream_oci::{EcrTokenSource, OciUpstream};

const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// `moto_server`: `DISTR_TEST_MOTO_SERVER` (set by scripts/test to the one in
/// its venv), else the workspace venv's, else from `PATH`.
fn moto_bin() -> String {
    if let Ok(bin) = std::env::var("DISTR_TEST_MOTO_SERVER") {
        return bin;
    }
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/e2e-venv/bin/moto_server"
    );
    if std::path::Path::new(venv).exists() {
        return venv.to_owned();
    }
    "moto_server".to_owned()
}
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const REPO: &str = "team/app";
/// The password moto's `GetAuthorizationToken` hands out (default account).
const MOTO_PASSWORD: &str = "123456789012-auth-token";
const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const GET_TOKEN_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn basic(user: &str, pass: &str) -> String {
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {v}")
}

async fn wait_until_up(url: &str, what: &str, child: &mut Child) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
        if client.request(req).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------- processes

/// A child process killed on drop.
struct Proc {
    child: Child,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` on a loopback port; with `validate_credentials`, moto checks
/// AWS signatures against its IAM (no users exist: every key is unknown).
async fn start_moto(validate_credentials: bool) -> Proc {
    let port = free_port();
    let moto = moto_bin();
    let mut cmd = Command::new(&moto);
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if validate_credentials {
        cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("{moto} not runnable ({e}): install it with `pip install 'moto[server]'`")
    });
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/moto-api/"), "moto_server", &mut child).await;
    Proc {
        child,
        url,
        _dir: None,
    }
}

/// Distribution on a loopback port with one htpasswd user.
async fn start_registry(user: &str, pass: &str) -> Proc {
    assert!(
        std::path::Path::new(REGISTRY_BIN).exists(),
        "{REGISTRY_BIN} is missing: install it with `apt-get install docker-registry`"
    );
    let dir = tempfile::tempdir().unwrap();
    let root: PathBuf = dir.path().join("data");
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .output()
        .unwrap_or_else(|e| {
            panic!("htpasswd not runnable ({e}): install it with `apt-get install apache2-utils`")
        });
    assert!(out.status.success(), "htpasswd failed: {out:?}");
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, out.stdout).unwrap();
    let port = free_port();
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: ecr-test\n    path: {}\n",
        root.display(),
        htpasswd.display()
    );
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start docker-registry");
    let url = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{url}/v2/"), "docker-registry", &mut child).await;
    Proc {
        child,
        url,
        _dir: Some(dir),
    }
}

// ---------------------------------------------------------------- content

struct Fixture {
    layer: Vec<u8>,
    layer_digest: Digest,
    manifest: Vec<u8>,
    manifest_digest: Digest,
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    auth: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, http::HeaderMap) {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", auth);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    let _ = body.collect().await;
    (parts.status, parts.headers)
}

async fn push_blob(client: &Client<HttpConnector, Full<Bytes>>, base: &str, data: &[u8]) -> Digest {
    let auth = basic("AWS", MOTO_PASSWORD);
    let digest = Digest::sha256(data);
    let (s, h) = send(
        client,
        Method::POST,
        &format!("{base}/v2/{REPO}/blobs/uploads/"),
        &auth,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let loc = h["location"].to_str().unwrap();
    let loc = if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        loc.to_owned()
    };
    let sep = if loc.contains('?') { '&' } else { '?' };
    let (s, _) = send(
        client,
        Method::PUT,
        &format!("{loc}{sep}digest={digest}"),
        &auth,
        Some("application/octet-stream"),
        data.to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    digest
}

async fn push_fixture(base: &str) -> Fixture {
    let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let layer: Vec<u8> = (0..100_000u32).map(|i| (i * 13 + i / 97) as u8).collect();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer_digest = push_blob(&client, base, &layer).await;
    let config_digest = push_blob(&client, base, config).await;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let (s, _) = send(
        &client,
        Method::PUT,
        &format!("{base}/v2/{REPO}/manifests/v1"),
        &basic("AWS", MOTO_PASSWORD),
        Some(OCI_MANIFEST),
        manifest.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    Fixture {
        layer,
        layer_digest,
        manifest_digest: Digest::sha256(&manifest),
        manifest,
    }
}

fn target(base: &str) -> UpstreamRef {
    let authority = base.strip_prefix("http://").unwrap();
    format!("{authority}/{REPO}").parse().unwrap()
}

fn ecr_auth() -> UpstreamAuth {
    UpstreamAuth::Ecr {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    }
}

fn ecr_upstream(registry: &str, ecr_endpoint: &str, margin: Option<Duration>) -> OciUpstream {
    let mut b = OciUpstream::builder(target(registry))
        .with_insecure(true)
        .with_auth(ecr_auth())
        .with_ecr_endpoint(ecr_endpoint)
        .with_connect_timeout(Duration::from_secs(2))
        .with_response_timeout(Duration::from_secs(10));
    if let Some(m) = margin {
        b = b.with_ecr_refresh_margin(m);
    }
    b.build().unwrap()
}

async fn collect(body: distr_core::ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = body.try_collect().await.unwrap();
    chunks.concat()
}

// ---------------------------------------------------------------- proxy

#[derive(Default)]
struct ProxyState {
    upstream: String,
    own_url: String,
    /// `GetAuthorizationToken` calls seen.
    ecr_calls: AtomicUsize,
    /// Answer 401 to the next request that carries `Authorization`.
    reject_next_auth: AtomicBool,
    /// Requests answered 401 by `reject_next_auth`.
    rejected: AtomicUsize,
    /// Demand Bearer tokens from `/token`, which takes Basic `AWS:<moto password>`;
    /// forward with that Basic.
    bearer: bool,
    token_fetches: AtomicUsize,
    client: Option<Client<HttpConnector, Full<Bytes>>>,
}

fn reply(status: StatusCode, headers: &[(&str, String)], body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap()
}

impl ProxyState {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let auth = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if parts
            .headers
            .get("x-amz-target")
            .is_some_and(|t| t == GET_TOKEN_TARGET)
        {
            self.ecr_calls.fetch_add(1, Ordering::SeqCst);
        }
        if !auth.is_empty() && self.reject_next_auth.swap(false, Ordering::SeqCst) {
            self.rejected.fetch_add(1, Ordering::SeqCst);
            return reply(
                StatusCode::UNAUTHORIZED,
                &[("www-authenticate", r#"Basic realm="ecr-test""#.into())],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#,
            );
        }
        let mut forward_auth = None;
        if self.bearer {
            if parts.uri.path() == "/token" {
                if auth != basic("AWS", MOTO_PASSWORD) {
                    return reply(StatusCode::UNAUTHORIZED, &[], "{}");
                }
                let n = self.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
                let body = serde_json::json!({"token": format!("tok-{n}"), "expires_in": 300});
                return reply(
                    StatusCode::OK,
                    &[("content-type", "application/json".into())],
                    &body.to_string(),
                );
            }
            if !auth.starts_with("Bearer tok-") {
                let challenge = format!(
                    r#"Bearer realm="{}/token",service="ecr-proxy",scope="repository:{REPO}:pull""#,
                    self.own_url
                );
                return reply(
                    StatusCode::UNAUTHORIZED,
                    &[("www-authenticate", challenge)],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
            }
            forward_auth = Some(basic("AWS", MOTO_PASSWORD));
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut fwd = Request::builder()
            .method(parts.method.clone())
            .uri(format!("{}{path}", self.upstream));
        for (k, v) in &parts.headers {
            if k != "host" && !(forward_auth.is_some() && k == "authorization") {
                fwd = fwd.header(k, v.clone());
            }
        }
        if let Some(a) = forward_auth {
            fwd = fwd.header("authorization", a);
        }
        let client = self.client.as_ref().unwrap();
        let resp = match client.request(fwd.body(Full::new(body)).unwrap()).await {
            Ok(r) => r,
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], &e.to_string()),
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Response::from_parts(parts, Full::new(body))
    }
}

async fn start_proxy(upstream: &str, bearer: bool) -> Arc<ProxyState> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = Arc::new(ProxyState {
        upstream: upstream.to_owned(),
        own_url: format!("http://{addr}"),
        bearer,
        client: Some(Client::builder(TokioExecutor::new()).build(HttpConnector::new())),
        ..Default::default()
    });
    let st = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let st = st.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let st = st.clone();
                    async move { Ok::<_, std::convert::Infallible>(st.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    state
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecr_pull_with_cached_singleflight_token() {
    let (moto, reg) = tokio::join!(start_moto(false), start_registry("AWS", MOTO_PASSWORD));
    let fx = push_fixture(&reg.url).await;
    let ecr = start_proxy(&moto.url, false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);

    let up = ecr_upstream(&reg.url, &ecr.own_url, None);
    assert!(!format!("{up:?}").contains(SECRET_KEY));
    up.check_access().await.unwrap();
    let m = up
        .get_manifest(&"v1".parse::<Reference>().unwrap())
        .await
        .unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    assert_eq!(m.digest, fx.manifest_digest);
    let b = up.get_blob(&fx.layer_digest, None).await.unwrap();
    assert_eq!(collect(b.body).await, fx.layer);
    let b = up.get_blob(&fx.layer_digest, Some(10..20)).await.unwrap();
    assert_eq!(collect(b.body).await, &fx.layer[10..20]);
    assert_eq!(calls(), 1, "one GetAuthorizationToken for all requests");

    // N concurrent requests on a fresh upstream: one GetAuthorizationToken.
    let fresh = Arc::new(ecr_upstream(&reg.url, &ecr.own_url, None));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let up = fresh.clone();
            let d = fx.manifest_digest.clone();
            tokio::spawn(async move { up.get_manifest(&Reference::Digest(d)).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(calls(), 2, "8 concurrent requests share one token fetch");

    // OciConnector: artifacts with the same credentials share one source.
    let connector = OciConnector::new()
        .unwrap()
        .with_ecr_endpoint(&ecr.own_url)
        .with_connect_timeout(Duration::from_secs(2));
    let artifact = ArtifactUpstream {
        reference: target(&reg.url),
        auth: ecr_auth(),
        insecure: true,
    };
    let a = connector.connect(&artifact).unwrap();
    let b = connector.connect(&artifact).unwrap();
    let tasks: Vec<_> = [a, b]
        .into_iter()
        .flat_map(|up| std::iter::repeat_n(up, 4))
        .map(|up| {
            let d = fx.layer_digest.clone();
            tokio::spawn(async move {
                let blob = up.get_blob(&d, None).await?;
                Ok::<_, UpstreamError>(collect(blob.body).await.len())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), fx.layer.len());
    }
    assert_eq!(calls(), 3, "two artifacts, one shared token source");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_token_refreshed_within_margin() {
    let (moto, reg) = tokio::join!(start_moto(false), start_registry("AWS", MOTO_PASSWORD));
    let fx = push_fixture(&reg.url).await;
    let ecr = start_proxy(&moto.url, false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);

    // A margin longer than the 12 h lifetime: every request needs a new token.
    let up = ecr_upstream(&reg.url, &ecr.own_url, Some(Duration::from_secs(13 * 3600)));
    let by_digest = Reference::Digest(fx.manifest_digest.clone());
    up.get_manifest(&by_digest).await.unwrap();
    assert_eq!(calls(), 1);
    up.get_manifest(&by_digest).await.unwrap();
    assert_eq!(calls(), 2, "the expiring token is refreshed");
    up.head_manifest(&by_digest).await.unwrap().unwrap();
    assert_eq!(calls(), 3);

    // The same through a shared EcrTokenSource, which counts its calls.
    let source = Arc::new(
        EcrTokenSource::builder(ACCESS_KEY, SECRET_KEY, "eu-west-1")
            .with_endpoint(&ecr.own_url)
            .with_refresh_margin(Duration::from_secs(13 * 3600))
            .build()
            .unwrap(),
    );
    let up = OciUpstream::builder(target(&reg.url))
        .with_insecure(true)
        .with_ecr_token_source(source.clone())
        .build()
        .unwrap();
    up.get_manifest(&by_digest).await.unwrap();
    up.get_manifest(&by_digest).await.unwrap();
    assert_eq!(source.fetch_count(), 2);
    assert_eq!(calls(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_rejected_token_is_replaced_and_retried_once() {
    let (moto, reg) = tokio::join!(start_moto(false), start_registry("AWS", MOTO_PASSWORD));
    let fx = push_fixture(&reg.url).await;
    let ecr = start_proxy(&moto.url, false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);
    let front = start_proxy(&reg.url, false).await;

    let up = ecr_upstream(&front.own_url, &ecr.own_url, None);
    let by_digest = Reference::Digest(fx.manifest_digest.clone());
    up.get_manifest(&by_digest).await.unwrap();
    assert_eq!(calls(), 1);

    // The registry rejects the cached token once: invalidate, fetch, retry.
    front.reject_next_auth.store(true, Ordering::SeqCst);
    let m = up.get_manifest(&by_digest).await.unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    assert_eq!(front.rejected.load(Ordering::SeqCst), 1);
    assert_eq!(calls(), 2, "a rejected token is replaced");
    up.get_blob(&fx.layer_digest, Some(0..4)).await.unwrap();
    assert_eq!(calls(), 2, "the new token is cached");

    // A registry that never accepts the password: one retry, then the error.
    let other = start_registry("AWS", "another-password").await;
    let up = ecr_upstream(&other.url, &ecr.own_url, None);
    let before = calls();
    let e = up.get_manifest(&by_digest).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
    assert_eq!(calls() - before, 2, "fetched once, replaced once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_password_goes_to_the_token_realm() {
    let (moto, reg) = tokio::join!(start_moto(false), start_registry("AWS", MOTO_PASSWORD));
    let fx = push_fixture(&reg.url).await;
    let front = start_proxy(&reg.url, true).await;

    let up = ecr_upstream(&front.own_url, &moto.url, None);
    let m = up
        .get_manifest(&"v1".parse::<Reference>().unwrap())
        .await
        .unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    let b = up.get_blob(&fx.layer_digest, None).await.unwrap();
    assert_eq!(collect(b.body).await, fx.layer);
    assert_eq!(front.token_fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_bad_credentials_are_an_auth_error() {
    let moto = start_moto(true).await;
    // No registry request is made: the token fails first.
    let up = ecr_upstream("http://127.0.0.1:9", &moto.url, None);
    let e = up.check_access().await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
    assert!(!e.is_transient());
    let msg = e.to_string();
    assert!(
        msg.contains("GetAuthorizationToken") && msg.contains(ACCESS_KEY),
        "{msg}"
    );
    assert!(
        !msg.contains(SECRET_KEY) && !format!("{e:?}").contains(SECRET_KEY),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_unreachable_is_transient() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let up = ecr_upstream("http://127.0.0.1:9", &closed, None);
    let started = Instant::now();
    let e = up.check_access().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(matches!(e, UpstreamError::Unavailable(_)), "{e:?}");
    assert!(!e.to_string().contains(SECRET_KEY));
    assert!(started.elapsed() < Duration::from_secs(30));
}
