//! `OciUpstream` against a real upstream: Debian's CNCF Distribution
//! (`/usr/bin/docker-registry`, package `docker-registry`), optionally behind
//! an in-test hyper proxy that paginates tag lists (Distribution 2.8 ignores
//! `n=`), corrupts content, or demands Bearer tokens from its own realm.
//!
//! The htpasswd file of the Basic-auth registry is made with `htpasswd -B`
//! (package `apache2-utils`).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use distr_core::upstream::{
    upstream_error, verified_stream, DynUpstream, Missing, Upstream, UpstreamAuth, UpstreamError,
    UpstreamExt, UpstreamRef,
};
use distr_core::{Digest, Reference};
use futures::TryStreamExt;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use distr_test_support::auth::basic_header;
use distr_test_support::media::{OCI_INDEX, OCI_MANIFEST};
use distr_test_support::proxy::{forward_client, reply, ForwardClient, HttpServer, TokenRealm};
use distr_test_support::upstream::UpstreamRegistry;
use distr_upstream_oci::OciUpstream;

const REPO: &str = "team/app";
const USER: &str = "puller";
const PASS: &str = "s3cret-pass";

// ---------------------------------------------------------------- registry

/// Distribution on a loopback port, behind htpasswd Basic auth for
/// `USER`/`PASS` when `htpasswd`.
async fn start_registry(htpasswd: bool) -> UpstreamRegistry {
    if htpasswd {
        UpstreamRegistry::start_with_htpasswd(USER, PASS).await
    } else {
        UpstreamRegistry::start().await
    }
}

// ---------------------------------------------------------------- raw HTTP

struct Raw {
    client: Client<HttpConnector, Full<Bytes>>,
    auth: Option<HeaderValue>,
}

type Reply = (StatusCode, HeaderMap, Bytes);

impl Raw {
    fn new(basic: Option<(&str, &str)>) -> Raw {
        let auth = basic.map(|(u, p)| HeaderValue::from_str(&basic_header(u, p)).unwrap());
        Raw {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            auth,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, String> {
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = &self.auth {
            req = req.header("authorization", a.clone());
        }
        let resp = self
            .client
            .request(req.body(Full::new(body)).unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    async fn push_blob(&self, base: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256(data);
        let (s, h, b) = self
            .send(
                Method::POST,
                &format!("{base}/v2/{REPO}/blobs/uploads/"),
                &[],
                Bytes::new(),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::ACCEPTED, "{b:?}");
        let loc = h["location"].to_str().unwrap();
        let loc = if loc.starts_with('/') {
            format!("{base}{loc}")
        } else {
            loc.to_owned()
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let (s, _, b) = self
            .send(
                Method::PUT,
                &format!("{loc}{sep}digest={digest}"),
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(data),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b:?}");
        digest
    }

    async fn push_manifest(&self, base: &str, reference: &str, media_type: &str, body: &[u8]) {
        let (s, _, b) = self
            .send(
                Method::PUT,
                &format!("{base}/v2/{REPO}/manifests/{reference}"),
                &[("content-type", media_type)],
                Bytes::copy_from_slice(body),
            )
            .await
            .unwrap();
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
    }
}

// ---------------------------------------------------------------- content

struct Fixture {
    layer: Vec<u8>,
    layer_digest: Digest,
    manifest: Vec<u8>,
    manifest_digest: Digest,
    index: Vec<u8>,
    index_digest: Digest,
    tags: Vec<String>,
}

async fn push_fixture(base: &str, raw: &Raw) -> Fixture {
    // 300 kB of patterned bytes: several body chunks.
    let layer: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let layer_digest = raw.push_blob(base, &layer).await;
    let config_digest = raw.push_blob(base, config).await;
    let manifest = serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = Digest::sha256(&manifest);
    let mut tags = Vec::new();
    for i in 1..=5 {
        let tag = format!("v{i}");
        raw.push_manifest(base, &tag, OCI_MANIFEST, &manifest).await;
        tags.push(tag);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
                        "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let index_digest = Digest::sha256(&index);
    raw.push_manifest(base, "multi", OCI_INDEX, &index).await;
    tags.push("multi".into());
    tags.sort();
    Fixture {
        layer,
        layer_digest,
        manifest,
        manifest_digest,
        index,
        index_digest,
        tags,
    }
}

fn upstream(base: &str, repo: &str, auth: UpstreamAuth) -> OciUpstream {
    let authority = base.strip_prefix("http://").unwrap();
    let target: UpstreamRef = format!("{authority}/{repo}").parse().unwrap();
    OciUpstream::builder(target)
        .with_egress_policy(distr_test_support::upstream::loopback_egress())
        .with_insecure(true)
        .with_auth(auth)
        .with_connect_timeout(Duration::from_secs(2))
        .with_response_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn tag(s: &str) -> Reference {
    s.parse().unwrap()
}

fn by_digest(d: &Digest) -> Reference {
    Reference::Digest(d.clone())
}

async fn collect(body: distr_core::ByteStream) -> std::io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = body.try_collect().await?;
    Ok(chunks.concat())
}

fn sorted(tags: Vec<distr_core::TagName>) -> Vec<String> {
    let set: BTreeSet<String> = tags.iter().map(|t| t.as_str().to_owned()).collect();
    set.into_iter().collect()
}

// ---------------------------------------------------------------- proxy

#[derive(Clone, Default)]
struct ProxyConfig {
    /// Split `tags/list?n=` into pages with `Link` headers.
    paginate: bool,
    /// Flip a byte of every manifest and blob body.
    corrupt: bool,
    /// Drop `Range` headers (answer 200 with the whole blob).
    ignore_range: bool,
    /// Demand tokens from `/token`, issued for Basic `USER:PASS`, valid this long.
    bearer_expires_in: Option<u64>,
}

#[derive(Default)]
struct ProxyStats {
    token_fetches: AtomicUsize,
    tag_pages: AtomicUsize,
    challenges: AtomicUsize,
}

struct Proxy {
    url: String,
    stats: Arc<ProxyStats>,
    _server: HttpServer,
}

async fn start_proxy(upstream_url: String, config: ProxyConfig) -> Proxy {
    let stats = Arc::new(ProxyStats::default());
    let server = HttpServer::start("test-proxy", |addr| {
        let state = Arc::new(ProxyState {
            upstream: upstream_url,
            own_url: format!("http://{addr}"),
            config,
            stats: stats.clone(),
            client: forward_client(),
            tokens: TokenRealm::default(),
        });
        move |req| {
            let state = state.clone();
            async move { state.handle(req).await }
        }
    });
    Proxy {
        url: server.url(),
        stats,
        _server: server,
    }
}

struct ProxyState {
    upstream: String,
    own_url: String,
    config: ProxyConfig,
    stats: Arc<ProxyStats>,
    client: ForwardClient,
    /// Issued tokens and their expiry.
    tokens: TokenRealm,
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

impl ProxyState {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if let Some(expires_in) = self.config.bearer_expires_in {
            if path == "/token" {
                if auth != basic_header(USER, PASS) {
                    return reply(
                        StatusCode::UNAUTHORIZED,
                        &[],
                        r#"{"details":"bad credentials"}"#,
                    );
                }
                assert_eq!(
                    query_param(&query, "service").as_deref(),
                    Some("test-proxy")
                );
                assert_eq!(
                    query_param(&query, "scope").as_deref(),
                    Some("repository%3Ateam%2Fapp%3Apull")
                );
                let n = self.stats.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
                let token = format!("tok-{n}");
                self.tokens.issue(&token, Duration::from_secs(expires_in));
                let body = serde_json::json!({"token": token, "expires_in": expires_in});
                return reply(
                    StatusCode::OK,
                    &[("content-type", "application/json".into())],
                    body.to_string(),
                );
            }
            if !self.tokens.accepts(&auth) {
                self.stats.challenges.fetch_add(1, Ordering::SeqCst);
                let challenge = format!(
                    r#"Bearer realm="{}/token",service="test-proxy",scope="repository:{REPO}:pull""#,
                    self.own_url
                );
                return reply(
                    StatusCode::UNAUTHORIZED,
                    &[("www-authenticate", challenge)],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                );
            }
        }
        let paginate = self.config.paginate && path.ends_with("/tags/list");
        let forward_query = if paginate || query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let mut fwd = Request::builder()
            .method(req.method().clone())
            .uri(format!("{}{path}{forward_query}", self.upstream));
        let names: &[&str] = if self.config.ignore_range {
            &["accept"]
        } else {
            &["accept", "range"]
        };
        for &name in names {
            if let Some(v) = req.headers().get(name) {
                fwd = fwd.header(name, v.clone());
            }
        }
        let resp = match self
            .client
            .request(fwd.body(Full::new(Bytes::new())).unwrap())
            .await
        {
            Ok(r) => r,
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
        };
        let (mut parts, body) = resp.into_parts();
        let mut body = body.collect().await.unwrap().to_bytes().to_vec();
        if paginate && parts.status == StatusCode::OK {
            self.stats.tag_pages.fetch_add(1, Ordering::SeqCst);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let mut tags: Vec<String> = serde_json::from_value(v["tags"].clone()).unwrap();
            tags.sort();
            let last = query_param(&query, "last");
            let n: usize = query_param(&query, "n").map_or(usize::MAX, |n| n.parse().unwrap());
            let rest: Vec<String> = tags
                .into_iter()
                .filter(|t| last.as_ref().is_none_or(|l| t > l))
                .collect();
            let page: Vec<String> = rest.iter().take(n).cloned().collect();
            if rest.len() > page.len() {
                let link = format!(
                    r#"</v2/{REPO}/tags/list?n={n}&last={}>; rel="next""#,
                    page.last().unwrap()
                );
                parts
                    .headers
                    .insert("link", HeaderValue::from_str(&link).unwrap());
            }
            body = serde_json::to_vec(&serde_json::json!({"name": REPO, "tags": page})).unwrap();
            parts.headers.remove("content-length");
        }
        let is_content = path.contains("/blobs/") || path.contains("/manifests/");
        if self.config.corrupt && is_content && !body.is_empty() {
            let i = body.len() / 2;
            body[i] ^= 0x20;
        }
        Response::from_parts(parts, Full::new(Bytes::from(body)))
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_registry_roundtrip() {
    let reg = start_registry(false).await;
    let raw = Raw::new(None);
    let fx = push_fixture(&reg.url(), &raw).await;
    let up = upstream(&reg.url(), REPO, UpstreamAuth::None);
    assert!(format!("{up:?}").contains(REPO));

    up.check_access().await.unwrap();

    // Tags: Distribution 2.8 returns them all in one page (it ignores n=).
    let page = up.list_tags(None, None).await.unwrap();
    assert_eq!(sorted(page.tags), fx.tags);
    assert_eq!(page.next, None);
    assert_eq!(sorted(up.all_tags(Some(2)).await.unwrap()), fx.tags);

    // Manifests by tag and by digest, byte-exact.
    let m = up.get_manifest(&tag("v1")).await.unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    assert_eq!(
        (m.digest.clone(), m.media_type.as_str()),
        (fx.manifest_digest.clone(), OCI_MANIFEST)
    );
    let m = up
        .get_manifest(&by_digest(&fx.manifest_digest))
        .await
        .unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    let i = up.get_manifest(&tag("multi")).await.unwrap();
    assert_eq!(i.content.as_ref(), fx.index.as_slice());
    assert_eq!(
        (i.digest.clone(), i.media_type.as_str()),
        (fx.index_digest.clone(), OCI_INDEX)
    );
    let i = up.get_manifest(&by_digest(&fx.index_digest)).await.unwrap();
    assert_eq!(i.content.as_ref(), fx.index.as_slice());

    let h = up.head_manifest(&tag("v3")).await.unwrap().unwrap();
    assert_eq!(h.digest, fx.manifest_digest);
    assert_eq!(h.media_type, OCI_MANIFEST);
    assert_eq!(h.size, fx.manifest.len() as u64);
    let h = up
        .head_manifest(&by_digest(&fx.index_digest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.media_type.as_str(), h.size),
        (OCI_INDEX, fx.index.len() as u64)
    );

    // Blobs whole and by range.
    let b = up.get_blob(&fx.layer_digest, None).await.unwrap();
    assert_eq!(b.size, Some(fx.layer.len() as u64));
    assert_eq!(collect(b.body).await.unwrap(), fx.layer);
    let b = up
        .get_blob(&fx.layer_digest, Some(1000..5000))
        .await
        .unwrap();
    assert_eq!(
        (b.size, b.total_size),
        (Some(4000), Some(fx.layer.len() as u64))
    );
    assert_eq!(collect(b.body).await.unwrap(), &fx.layer[1000..5000]);
    let n = fx.layer.len() as u64;
    let b = up
        .get_blob(&fx.layer_digest, Some(n - 10..n + 100))
        .await
        .unwrap();
    assert_eq!(
        collect(b.body).await.unwrap(),
        &fx.layer[fx.layer.len() - 10..]
    );
    let e = up
        .get_blob(&fx.layer_digest, Some(n + 10..n + 20))
        .await
        .unwrap_err();
    assert!(
        matches!(e, UpstreamError::RangeNotSatisfiable { .. }),
        "{e:?}"
    );

    // Not found.
    assert_eq!(up.head_manifest(&tag("nope")).await.unwrap(), None);
    let e = up.get_manifest(&tag("nope")).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::NotFound(Missing::Manifest(r)) if r == "nope"),
        "{e:?}"
    );
    assert!(matches!(
        distr_core::Error::from(e),
        distr_core::Error::ManifestUnknown(_)
    ));
    let missing = Digest::sha256(b"not there");
    assert_eq!(up.head_manifest(&by_digest(&missing)).await.unwrap(), None);
    let e = up.get_blob(&missing, None).await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::NotFound(Missing::Blob(d)) if *d == missing),
        "{e:?}"
    );
    let other = upstream(&reg.url(), "team/other", UpstreamAuth::None);
    let e = other.check_access().await.unwrap_err();
    assert!(
        matches!(e, UpstreamError::NotFound(Missing::Repository)),
        "{e:?}"
    );
    let e = other.list_tags(None, None).await.unwrap_err();
    assert!(
        matches!(e, UpstreamError::NotFound(Missing::Repository)),
        "{e:?}"
    );

    // Distribution verifies digests itself: mismatches come from a corrupting proxy.
    let bad = start_proxy(
        reg.url(),
        ProxyConfig {
            corrupt: true,
            ..Default::default()
        },
    )
    .await;
    let up_bad = upstream(&bad.url, REPO, UpstreamAuth::None);
    let e = up_bad
        .get_manifest(&by_digest(&fx.manifest_digest))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpstreamError::DigestMismatch { expected, .. } if *expected == fx.manifest_digest),
        "{e:?}"
    );
    // By tag: checked against Docker-Content-Digest.
    let e = up_bad.get_manifest(&tag("v1")).await.unwrap_err();
    assert!(matches!(e, UpstreamError::DigestMismatch { .. }), "{e:?}");
    // Blob bodies come as sent (the pull-through store verifies them as it
    // writes them); `verified_stream` reports the mismatch.
    let b = up_bad.get_blob(&fx.layer_digest, None).await.unwrap();
    let e = collect(verified_stream(b.body, fx.layer_digest.clone(), b.size))
        .await
        .unwrap_err();
    assert!(
        matches!(upstream_error(&e), Some(UpstreamError::DigestMismatch { expected, .. }) if *expected == fx.layer_digest),
        "{e:?}"
    );

    // An upstream that ignores Range: the range is cut out of the whole blob.
    let whole = start_proxy(
        reg.url(),
        ProxyConfig {
            ignore_range: true,
            ..Default::default()
        },
    )
    .await;
    let up_whole: Arc<DynUpstream> = Arc::new(upstream(&whole.url, REPO, UpstreamAuth::None));
    let b = up_whole
        .get_blob(&fx.layer_digest, Some(70_000..200_001))
        .await
        .unwrap();
    assert_eq!(b.size, Some(130_001));
    assert_eq!(collect(b.body).await.unwrap(), &fx.layer[70_000..200_001]);
    assert_eq!(sorted(up_whole.all_tags(None).await.unwrap()), fx.tags);

    // Pagination with n= and Link, through a paginating proxy.
    let pager = start_proxy(
        reg.url(),
        ProxyConfig {
            paginate: true,
            ..Default::default()
        },
    )
    .await;
    let up_pages = upstream(&pager.url, REPO, UpstreamAuth::None);
    let first = up_pages.list_tags(None, Some(2)).await.unwrap();
    assert_eq!(sorted(first.tags), fx.tags[..2]);
    assert_eq!(first.next.as_deref(), Some(fx.tags[1].as_str()));
    let before = pager.stats.tag_pages.load(Ordering::SeqCst);
    let all = up_pages.all_tags(Some(2)).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|t| t.as_str().to_owned())
            .collect::<Vec<_>>(),
        fx.tags
    );
    assert_eq!(
        pager.stats.tag_pages.load(Ordering::SeqCst) - before,
        3,
        "6 tags, pages of 2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_registry() {
    let reg = start_registry(true).await;
    let raw = Raw::new(Some((USER, PASS)));
    let fx = push_fixture(&reg.url(), &raw).await;

    let up = upstream(&reg.url(), REPO, UpstreamAuth::basic(USER, PASS));
    up.check_access().await.unwrap();
    assert!(!format!("{up:?}").contains(PASS));
    let m = up.get_manifest(&tag("v2")).await.unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    let b = up.get_blob(&fx.layer_digest, Some(0..10)).await.unwrap();
    assert_eq!(collect(b.body).await.unwrap(), &fx.layer[..10]);
    assert_eq!(sorted(up.all_tags(None).await.unwrap()), fx.tags);

    for auth in [UpstreamAuth::basic(USER, "wrong"), UpstreamAuth::None] {
        let up = upstream(&reg.url(), REPO, auth);
        let e = up.check_access().await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
        let e = up.get_manifest(&tag("v2")).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow() {
    let reg = start_registry(false).await;
    let raw = Raw::new(None);
    let fx = push_fixture(&reg.url(), &raw).await;
    let proxy = start_proxy(
        reg.url(),
        ProxyConfig {
            bearer_expires_in: Some(2),
            paginate: true,
            ..Default::default()
        },
    )
    .await;
    let fetches = || proxy.stats.token_fetches.load(Ordering::SeqCst);

    let up = upstream(&proxy.url, REPO, UpstreamAuth::basic(USER, PASS));
    up.check_access().await.unwrap();
    assert_eq!(fetches(), 1);
    let m = up.get_manifest(&tag("v1")).await.unwrap();
    assert_eq!(m.content.as_ref(), fx.manifest.as_slice());
    let h = up.head_manifest(&tag("multi")).await.unwrap().unwrap();
    assert_eq!(h.digest, fx.index_digest);
    let b = up.get_blob(&fx.layer_digest, None).await.unwrap();
    assert_eq!(collect(b.body).await.unwrap(), fx.layer);
    assert_eq!(up.all_tags(Some(4)).await.unwrap().len(), fx.tags.len());
    assert_eq!(fetches(), 1, "the token is cached");
    assert_eq!(proxy.stats.challenges.load(Ordering::SeqCst), 1);

    // expires_in = 2 s: used for 1 s (margin min(10 s, half)), then refreshed.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    up.get_manifest(&by_digest(&fx.manifest_digest))
        .await
        .unwrap();
    assert_eq!(fetches(), 2, "an expiring token is refreshed");

    // Concurrent requests share one token fetch.
    let fresh = Arc::new(upstream(&proxy.url, REPO, UpstreamAuth::basic(USER, PASS)));
    let before = fetches();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let up = fresh.clone();
            let d = fx.manifest_digest.clone();
            tokio::spawn(async move { up.get_manifest(&Reference::Digest(d)).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fetches() - before, 1, "concurrent 401s fetch one token");

    // The realm rejects wrong or missing credentials.
    for auth in [UpstreamAuth::basic(USER, "wrong"), UpstreamAuth::None] {
        let up = upstream(&proxy.url, REPO, auth);
        let e = up.get_manifest(&tag("v1")).await.unwrap_err();
        assert!(matches!(e, UpstreamError::Unauthorized(_)), "{e:?}");
    }
}
