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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use distr_core::access::ArtifactUpstream;
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{Upstream, UpstreamAuth, UpstreamError, UpstreamRef};
use distr_core::{Digest, Reference};
use distr_test_support::upstream::loopback_egress;
use futures::TryStreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use distr_test_support::auth::basic_header;
use distr_test_support::media::OCI_MANIFEST;
use distr_test_support::net::free_port;
use distr_test_support::proxy::{forward_client, reply, ForwardClient, HttpServer};
use distr_test_support::upstream::{Moto, UpstreamRegistry};
use distr_upstream_oci::OciConnector;
use distr_upstream_oci::{EcrTokenSource, OciUpstream};

const REPO: &str = "team/app";
/// The password moto's `GetAuthorizationToken` hands out (default account).
const MOTO_PASSWORD: &str = "123456789012-auth-token";
const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const GET_TOKEN_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// `moto_server` on a loopback port; with `validate_credentials`, moto checks
/// AWS signatures against its IAM (no users exist: every key is unknown).
fn start_moto(validate_credentials: bool) -> Moto {
    if validate_credentials {
        Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    } else {
        Moto::start()
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
    let auth = basic_header("AWS", MOTO_PASSWORD);
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
        &basic_header("AWS", MOTO_PASSWORD),
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
        .with_egress_policy(loopback_egress())
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
    client: Option<ForwardClient>,
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
                if auth != basic_header("AWS", MOTO_PASSWORD) {
                    return reply(StatusCode::UNAUTHORIZED, &[], "{}");
                }
                let n = self.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
                let body = serde_json::json!({"token": format!("tok-{n}"), "expires_in": 300});
                return reply(
                    StatusCode::OK,
                    &[("content-type", "application/json".into())],
                    body.to_string(),
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
            forward_auth = Some(basic_header("AWS", MOTO_PASSWORD));
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
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Response::from_parts(parts, Full::new(body))
    }
}

/// A [`ProxyState`] served on a loopback port (stopped on drop).
struct Proxy {
    state: Arc<ProxyState>,
    _server: HttpServer,
}

impl std::ops::Deref for Proxy {
    type Target = ProxyState;
    fn deref(&self) -> &ProxyState {
        &self.state
    }
}

async fn start_proxy(upstream: &str, bearer: bool) -> Proxy {
    let mut state = None;
    let server = HttpServer::start("ecr-proxy", |addr| {
        let st = Arc::new(ProxyState {
            upstream: upstream.to_owned(),
            own_url: format!("http://{addr}"),
            bearer,
            client: Some(forward_client()),
            ..Default::default()
        });
        state = Some(st.clone());
        move |req| {
            let st = st.clone();
            async move { st.handle(req).await }
        }
    });
    Proxy {
        state: state.expect("the handler was built"),
        _server: server,
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecr_pull_with_cached_singleflight_token() {
    let (moto, reg) = (
        start_moto(false),
        UpstreamRegistry::start_with_htpasswd("AWS", MOTO_PASSWORD).await,
    );
    let fx = push_fixture(&reg.url()).await;
    let ecr = start_proxy(&moto.endpoint(), false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);

    let up = ecr_upstream(&reg.url(), &ecr.own_url, None);
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
    let fresh = Arc::new(ecr_upstream(&reg.url(), &ecr.own_url, None));
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
        .with_egress_policy(loopback_egress())
        .with_ecr_endpoint(&ecr.own_url)
        .with_connect_timeout(Duration::from_secs(2));
    let artifact = ArtifactUpstream {
        reference: target(&reg.url()),
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
    let (moto, reg) = (
        start_moto(false),
        UpstreamRegistry::start_with_htpasswd("AWS", MOTO_PASSWORD).await,
    );
    let fx = push_fixture(&reg.url()).await;
    let ecr = start_proxy(&moto.endpoint(), false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);

    // A margin longer than the 12 h lifetime: every request needs a new token.
    let up = ecr_upstream(
        &reg.url(),
        &ecr.own_url,
        Some(Duration::from_secs(13 * 3600)),
    );
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
    let up = OciUpstream::builder(target(&reg.url()))
        .with_egress_policy(loopback_egress())
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
    let (moto, reg) = (
        start_moto(false),
        UpstreamRegistry::start_with_htpasswd("AWS", MOTO_PASSWORD).await,
    );
    let fx = push_fixture(&reg.url()).await;
    let ecr = start_proxy(&moto.endpoint(), false).await;
    let calls = || ecr.ecr_calls.load(Ordering::SeqCst);
    let front = start_proxy(&reg.url(), false).await;

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
    let other = UpstreamRegistry::start_with_htpasswd("AWS", "another-password").await;
    let up = ecr_upstream(&other.url(), &ecr.own_url, None);
    let before = calls();
    let e = up.get_manifest(&by_digest).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
    assert_eq!(calls() - before, 2, "fetched once, replaced once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecr_password_goes_to_the_token_realm() {
    let (moto, reg) = (
        start_moto(false),
        UpstreamRegistry::start_with_htpasswd("AWS", MOTO_PASSWORD).await,
    );
    let fx = push_fixture(&reg.url()).await;
    let front = start_proxy(&reg.url(), true).await;

    let up = ecr_upstream(&front.own_url, &moto.endpoint(), None);
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
    let moto = start_moto(true);
    // No registry request is made: the token fails first.
    let up = ecr_upstream("http://127.0.0.1:9", &moto.endpoint(), None);
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
