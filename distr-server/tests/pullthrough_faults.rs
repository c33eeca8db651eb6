//! The pull-through cache against a failing upstream, end to end: a real
//! CNCF Distribution (`docker-registry`) behind the fault-injecting proxy of
//! `common/faults.rs`, the real `distr-server` in front (its mirrored
//! artifact `acme/app` points at the proxy), and reqwest as the customer.
//!
//! What is checked: one upstream fetch per blob however many clients ask;
//! corrupt, truncated, reset or mis-announced upstream bodies never end in
//! a complete, correct-looking response and are never cached (the next
//! request fetches again and succeeds); transient `5xx`/`429` are retried a
//! bounded number of times; a hanging upstream ends in a `503` within the
//! upstream timeout; and cached content keeps being served whatever the
//! upstream does.
//!
//! Requires `/usr/bin/docker-registry` (scripts/test installs it); fails
//! loudly when it is missing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::faults::{Fault, FaultProxy, Matcher, Times};
use common::upstream::{DistrProcess, UpstreamRegistry, UPSTREAM_REPO};
use common::*;
use serde_json::json;

/// The mirrored artifact's repository in distr.
const REPO: &str = "acme/app";
const MIB: usize = 1024 * 1024;
/// The upstream response-header timeout the server runs with
/// (`DISTR_UPSTREAM_TIMEOUT_SECS`; 30 s by default), short so that
/// `hanging_upstream_times_out` is quick.
const UPSTREAM_TIMEOUT_SECS: u64 = 3;
/// Attempts per upstream request (`RetryPolicy::default`).
const UPSTREAM_ATTEMPTS: u64 = 3;
/// Most backoff slept per upstream request (`RetryPolicy::default`).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// set-up
// ---------------------------------------------------------------------------

/// An upstream registry, the fault proxy in front of it and a distr-server
/// mirroring `team/app` through the proxy as `acme/app`.
struct Setup {
    upstream: UpstreamRegistry,
    proxy: FaultProxy,
    /// Kept running for the test; stopped on drop.
    _server: DistrProcess,
    /// distr, as the vendor admin.
    distr: Registry,
    mirrored: AtomicBool,
}

impl Setup {
    async fn start() -> Setup {
        let upstream = UpstreamRegistry::start().await;
        let proxy = FaultProxy::start(&upstream.host_port());
        let timeout = UPSTREAM_TIMEOUT_SECS.to_string();
        let server = DistrProcess::start(&[("DISTR_UPSTREAM_TIMEOUT_SECS", timeout.as_str())]);
        let distr = server.registry();
        Setup {
            upstream,
            proxy,
            _server: server,
            distr,
            mirrored: AtomicBool::new(false),
        }
    }

    /// Create the mirrored artifact (once; distr checks the upstream
    /// repository exists, so after the first push).
    async fn mirror(&self) {
        if self.mirrored.swap(true, Ordering::SeqCst) {
            return;
        }
        let distr = &self.distr;
        let resp = distr
            .client
            .post(distr.url("/api/v1/artifacts"))
            .header("authorization", format!("AccessToken {TEST_TOKEN}"))
            // On demand only: these tests count the fills of first pulls.
            .json(&json!({
                "name": "app",
                "upstream": {
                    "reference": self.proxy.reference(UPSTREAM_REPO),
                    "insecure": true,
                    "auth": {"kind": "none"}
                },
                "sync_now": false
            }))
            .send()
            .await
            .expect("POST /api/v1/artifacts");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 201, "create the mirrored artifact: {text}");
    }

    /// Push an image with these layers (and a small config) to the
    /// upstream directly (not through the proxy) under `tag`.
    async fn push_image(&self, tag: &str, layers: &[&[u8]]) -> Image {
        let up = Registry::new(&self.upstream.url());
        let mut layer_digests = Vec::new();
        for layer in layers {
            layer_digests.push(up.push_blob(UPSTREAM_REPO, layer).await);
        }
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": layer_digests},
            "config": {"Labels": {"tag": tag}}
        }))
        .unwrap();
        let config_digest = up.push_blob(UPSTREAM_REPO, &config).await;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers.iter().zip(&layer_digests).map(|(l, d)| json!({
                "mediaType": OCI_LAYER_GZIP, "digest": d, "size": l.len()
            })).collect::<Vec<_>>()
        }))
        .unwrap();
        up.put_manifest_ok(UPSTREAM_REPO, tag, OCI_MANIFEST, &manifest)
            .await;
        self.mirror().await;
        Image {
            tag: tag.to_owned(),
            manifest_digest: sha256_digest(&manifest),
            layers: layers
                .iter()
                .zip(layer_digests)
                .map(|(l, d)| (d, l.to_vec()))
                .collect(),
            config: (config_digest, config),
        }
    }

    /// `GET /v2/acme/app/manifests/<tag>` through distr must answer 200 with
    /// the image's manifest.
    async fn manifest_ok(&self, image: &Image, what: &str) {
        let resp = self.distr.get_manifest(REPO, &image.tag).await;
        let status = resp.status().as_u16();
        let digest = header(&resp, "docker-content-digest");
        let body = resp.bytes().await.unwrap_or_default();
        assert_eq!(
            status,
            200,
            "{what}: GET manifest {}: {}",
            image.tag,
            String::from_utf8_lossy(&body)
        );
        assert_eq!(
            digest.as_deref(),
            Some(image.manifest_digest.as_str()),
            "{what}"
        );
        assert_eq!(sha256_digest(&body), image.manifest_digest, "{what}");
    }

    /// `GET /v2/acme/app/blobs/<digest>` through distr, streamed.
    async fn fetch_blob(&self, digest: &str, want: &[u8]) -> Outcome {
        fetch_blob(&self.distr, digest, want).await
    }

    /// `GET` the blob through distr until it answers 200 with all of it,
    /// at most a few times (a failed fill may still be winding down for a
    /// moment after its client saw the failure). Panics otherwise.
    async fn blob_recovers(&self, digest: &str, want: &[u8], what: &str) -> Outcome {
        let mut last = None;
        for _ in 0..20 {
            let o = self.fetch_blob(digest, want).await;
            if o.complete() {
                return o;
            }
            last = Some(o);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what}: the blob never came through complete: {last:?}");
    }
}

/// An image pushed upstream.
struct Image {
    tag: String,
    manifest_digest: String,
    /// (digest, bytes) of each layer.
    layers: Vec<(String, Vec<u8>)>,
    config: (String, Vec<u8>),
}

/// How a blob GET through distr ended.
#[derive(Debug)]
struct Outcome {
    status: u16,
    /// `Content-Length` of the response.
    announced: Option<u64>,
    /// Body bytes received.
    received: u64,
    /// The body ended with an error (connection closed or reset early).
    body_error: Option<String>,
    /// Every byte received equals the original at its offset and all of it
    /// arrived (the sha256 then matches too).
    matches: bool,
    /// The body, when it was not a blob (an error), as text.
    text: String,
    retry_after: Option<String>,
    elapsed: Duration,
}

impl Outcome {
    /// 200, the announced length, no body error, the original bytes.
    fn complete(&self) -> bool {
        self.status == 200
            && self.body_error.is_none()
            && self.announced == Some(self.received)
            && self.matches
    }

    fn oci_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.text).ok()?;
        v["errors"][0]["code"].as_str().map(str::to_owned)
    }
}

async fn fetch_blob(distr: &Registry, digest: &str, want: &[u8]) -> Outcome {
    let started = Instant::now();
    let url = distr.url(&format!("/v2/{REPO}/blobs/{digest}"));
    let mut resp = distr
        .client
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: no response: {e}"));
    let status = resp.status().as_u16();
    let announced = resp.content_length();
    let retry_after = header(&resp, "retry-after");
    let mut received = 0u64;
    let mut matches = true;
    let mut body_error = None;
    let mut text = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let at = received as usize;
                let end = at + chunk.len();
                if status == 200 {
                    matches &= end <= want.len() && want[at..end] == chunk[..];
                } else if text.len() < 64 * 1024 {
                    text.extend_from_slice(&chunk);
                }
                received += chunk.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                body_error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    matches &= received == want.len() as u64;
    Outcome {
        status,
        announced,
        received,
        body_error,
        matches,
        text: String::from_utf8_lossy(&text).into_owned(),
        retry_after,
        elapsed: started.elapsed(),
    }
}

/// Distinct pseudo-random bytes (a "layer").
fn blob(seed: u64, len: usize) -> Vec<u8> {
    pseudo_random_bytes(seed, len)
}

// ---------------------------------------------------------------------------
// the tests
// ---------------------------------------------------------------------------

/// 32 clients ask for the same uncached 64 MiB blob at once: distr fetches
/// it upstream exactly once, and every client gets every byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coalescing_32_concurrent_first_pulls() {
    let s = Setup::start().await;
    let big = blob(9001, 64 * MIB);
    let image = s.push_image("big", &[&big]).await;
    let (digest, _) = &image.layers[0];
    s.manifest_ok(&image, "the manifest first").await;
    assert_eq!(s.proxy.blob_gets(), 0, "no blob fetched yet");

    let original = std::sync::Arc::new(big);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let distr = s.distr.clone();
            let digest = digest.clone();
            let original = original.clone();
            tokio::spawn(async move { fetch_blob(&distr, &digest, &original).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let o = t.await.unwrap();
        assert!(o.complete(), "client #{i}: {o:?}");
    }
    assert_eq!(
        s.proxy.blob_gets(),
        1,
        "one upstream GET for 32 concurrent clients: {:?}",
        s.proxy.counts()
    );
    // Cached now: served without the upstream.
    let o = s.fetch_blob(digest, &original).await;
    assert!(o.complete(), "{o:?}");
    assert_eq!(s.proxy.blob_gets(), 1, "{:?}", s.proxy.counts());
}

/// A blob corrupted on its way from the upstream never reaches a client as
/// a complete, correct response and is not cached: with the corruption
/// gone the next GET fetches it again and gets it right, the one after
/// comes from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_upstream_blob_is_never_cached() {
    let s = Setup::start().await;
    let data = blob(9101, 4 * MIB);
    let image = s.push_image("v1", &[&data]).await;
    let (digest, _) = &image.layers[0];
    s.manifest_ok(&image, "manifest").await;

    s.proxy.set(
        Matcher::blob_get().containing(digest),
        Fault::Corrupt(2 * MIB as u64),
        Times::Always,
    );
    let o = s.fetch_blob(digest, &data).await;
    eprintln!("corrupted upstream body, what the client saw: {o:?}");
    assert!(
        !o.complete(),
        "a corrupted upstream blob must not reach the client as a complete, matching body: {o:?}"
    );
    // Not even a complete-looking body: distr holds the last byte back until
    // the digest is verified, so the client sees the response cut short.
    assert!(
        o.status != 200 || (o.body_error.is_some() && o.announced != Some(o.received)),
        "the client got every announced byte of a corrupted blob: {o:?}"
    );
    assert_eq!(s.proxy.blob_gets(), 1, "{:?}", s.proxy.counts());

    s.proxy.clear();
    let o = s.blob_recovers(digest, &data, "after the corruption").await;
    assert!(o.complete(), "{o:?}");
    assert_eq!(
        s.proxy.blob_gets(),
        2,
        "the corrupt copy was not cached: fetched again ({:?})",
        s.proxy.counts()
    );
    let o = s.fetch_blob(digest, &data).await;
    assert!(o.complete(), "{o:?}");
    assert_eq!(
        s.proxy.blob_gets(),
        2,
        "the good copy is cached: {:?}",
        s.proxy.counts()
    );
}

/// Upstream bodies cut short (closed, reset, or shorter than their
/// `Content-Length`) fail the client's GET, are neither retried mid-stream
/// nor cached, and the next GET fetches the blob again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_reset_upstream_bodies_fail_cleanly_then_recover() {
    let s = Setup::start().await;
    let layers: Vec<Vec<u8>> = (0..3).map(|i| blob(9200 + i, 4 * MIB)).collect();
    let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
    let image = s.push_image("v1", &refs).await;
    s.manifest_ok(&image, "manifest").await;

    let cases = [
        (
            "truncated after 1 MiB",
            Fault::Truncate(MIB as u64),
            Times::Always,
        ),
        (
            "reset after 1 MiB",
            Fault::Reset(MIB as u64),
            Times::First(1),
        ),
        (
            "Content-Length 1000 bytes too large",
            Fault::WrongLength(1000),
            Times::Always,
        ),
    ];
    for ((what, fault, times), (digest, data)) in cases.into_iter().zip(&image.layers) {
        let before = s.proxy.blob_gets();
        s.proxy
            .set(Matcher::blob_get().containing(digest), fault, times);
        let o = s.fetch_blob(digest, data).await;
        eprintln!("{what}: {o:?}");
        assert!(
            !o.complete(),
            "{what}: the client got a complete body: {o:?}"
        );
        if o.status == 200 {
            assert!(
                o.body_error.is_some() && o.received < data.len() as u64,
                "{what}: a 200 must end early, with an error: {o:?}"
            );
        } else {
            assert!(
                o.status == 502 || o.status == 503,
                "{what}: an upstream fault is a 502/503: {o:?}"
            );
            assert_eq!(
                o.oci_code().as_deref(),
                Some("UNAVAILABLE"),
                "{what}: {o:?}"
            );
        }
        assert!(o.elapsed < Duration::from_secs(30), "{what}: {o:?}");
        assert_eq!(
            s.proxy.blob_gets() - before,
            1,
            "{what}: one upstream GET, never retried mid-stream ({:?})",
            s.proxy.counts()
        );

        if times == Times::Always {
            s.proxy.clear();
        }
        s.blob_recovers(digest, data, what).await;
        assert_eq!(
            s.proxy.blob_gets() - before,
            2,
            "{what}: the broken body was not cached, fetched again ({:?})",
            s.proxy.counts()
        );
        let o = s.fetch_blob(digest, data).await;
        assert!(o.complete(), "{what}: from the cache: {o:?}");
        assert_eq!(
            s.proxy.blob_gets() - before,
            2,
            "{what}: then cached ({:?})",
            s.proxy.counts()
        );
    }
}

/// Transient upstream statuses are retried: two 503s then success is a
/// success (3 upstream GETs); a persistent 503 is a 503 `UNAVAILABLE` after
/// 3 attempts; a persistent 429 is passed on as a 429 `TOOMANYREQUESTS`
/// with the upstream's `Retry-After` (after 3 attempts when that is short,
/// at once when it is longer than the client waits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_5xx_and_429_are_retried_then_reported() {
    let s = Setup::start().await;
    let layers: Vec<Vec<u8>> = (0..4).map(|i| blob(9300 + i, MIB)).collect();
    let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
    let image = s.push_image("v1", &refs).await;

    // The manifest, after two 503s.
    s.proxy.set(
        Matcher::manifest_get().containing("/v1"),
        Fault::Status(503),
        Times::First(2),
    );
    s.manifest_ok(&image, "manifest after two 503s").await;
    assert_eq!(s.proxy.manifest_gets(), 3, "{:?}", s.proxy.counts());

    let [(a, a_data), (b, b_data), (c, c_data), (d, d_data)] = &image.layers[..] else {
        unreachable!()
    };

    // A blob after two 503s.
    s.proxy.set(
        Matcher::blob_get().containing(a),
        Fault::Status(503),
        Times::First(2),
    );
    let o = s.fetch_blob(a, a_data).await;
    assert!(o.complete(), "blob after two 503s: {o:?}");
    assert_eq!(s.proxy.blob_gets(), 3, "{:?}", s.proxy.counts());

    // Always 503: a 503 UNAVAILABLE after 3 attempts, quickly.
    s.proxy.set(
        Matcher::blob_get().containing(b),
        Fault::Status(503),
        Times::Always,
    );
    let o = s.fetch_blob(b, b_data).await;
    assert_eq!(o.status, 503, "{o:?}");
    assert_eq!(o.oci_code().as_deref(), Some("UNAVAILABLE"), "{o:?}");
    assert!(o.elapsed < MAX_BACKOFF + Duration::from_secs(5), "{o:?}");
    assert_eq!(s.proxy.blob_gets(), 6, "3 attempts: {:?}", s.proxy.counts());

    // Always 429 with a short Retry-After: waited for, then passed on.
    s.proxy.set(
        Matcher::blob_get().containing(c),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Times::Always,
    );
    let o = s.fetch_blob(c, c_data).await;
    assert_eq!(o.status, 429, "{o:?}");
    assert_eq!(o.oci_code().as_deref(), Some("TOOMANYREQUESTS"), "{o:?}");
    assert_eq!(o.retry_after.as_deref(), Some("1"), "{o:?}");
    assert!(
        o.elapsed >= Duration::from_secs(2) && o.elapsed < Duration::from_secs(10),
        "two waits of Retry-After: 1: {o:?}"
    );
    assert_eq!(s.proxy.blob_gets(), 9, "3 attempts: {:?}", s.proxy.counts());

    // A long Retry-After: no waiting, passed on at once.
    s.proxy.set(
        Matcher::blob_get().containing(d),
        Fault::TooManyRequests {
            retry_after_secs: 120,
        },
        Times::Always,
    );
    let o = s.fetch_blob(d, d_data).await;
    assert_eq!(o.status, 429, "{o:?}");
    assert_eq!(o.oci_code().as_deref(), Some("TOOMANYREQUESTS"), "{o:?}");
    assert_eq!(o.retry_after.as_deref(), Some("120"), "{o:?}");
    assert!(o.elapsed < Duration::from_secs(2), "{o:?}");
    assert_eq!(s.proxy.blob_gets(), 10, "1 attempt: {:?}", s.proxy.counts());

    // Nothing failed was cached: all come through once the upstream is well.
    s.proxy.clear();
    for (digest, data) in [(b, b_data), (c, c_data), (d, d_data)] {
        s.blob_recovers(digest, data, "after the upstream recovered")
            .await;
    }
    assert_eq!(s.proxy.blob_gets(), 13, "{:?}", s.proxy.counts());
}

/// An upstream that never answers: the client gets a 503 `UNAVAILABLE`
/// after the upstream timeout (per attempt, 3 attempts), for a manifest
/// and for a blob, instead of waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_upstream_times_out() {
    let s = Setup::start().await;
    let data = blob(9401, MIB);
    let v1 = s.push_image("v1", &[&data]).await;
    let v2 = s.push_image("v2", &[&blob(9402, 1024)]).await;
    s.manifest_ok(&v1, "v1 before the hang").await;
    let (digest, _) = &v1.layers[0];

    s.proxy.set(
        Matcher::blob_get().containing(digest),
        Fault::Hang,
        Times::Always,
    );
    s.proxy.set(
        Matcher::manifest_get().containing("/v2"),
        Fault::Hang,
        Times::Always,
    );
    let timeout = Duration::from_secs(UPSTREAM_TIMEOUT_SECS);
    let bound = timeout * UPSTREAM_ATTEMPTS as u32 + MAX_BACKOFF + Duration::from_secs(10);

    let manifest = {
        let distr = s.distr.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = distr.get_manifest(REPO, "v2").await;
            (resp, started.elapsed())
        })
    };
    let o = s.fetch_blob(digest, &data).await;
    assert_eq!(o.status, 503, "hanging blob GET: {o:?}");
    assert_eq!(o.oci_code().as_deref(), Some("UNAVAILABLE"), "{o:?}");
    assert!(
        o.elapsed >= timeout && o.elapsed < bound,
        "hanging blob GET answered after {:?} (timeout {timeout:?}, bound {bound:?})",
        o.elapsed
    );
    let (resp, took) = manifest.await.unwrap();
    assert!(
        took >= timeout && took < bound,
        "hanging manifest GET answered after {took:?} (timeout {timeout:?}, bound {bound:?})"
    );
    expect_oci_error(resp, 503, "UNAVAILABLE", "hanging manifest GET").await;
    assert_eq!(
        s.proxy.blob_gets(),
        UPSTREAM_ATTEMPTS as usize,
        "{:?}",
        s.proxy.counts()
    );
    // v1 once, v2 three times.
    assert_eq!(
        s.proxy.manifest_gets(),
        1 + UPSTREAM_ATTEMPTS as usize,
        "{:?}",
        s.proxy.counts()
    );

    s.proxy.clear();
    s.manifest_ok(&v2, "v2 after the hang").await;
    s.blob_recovers(digest, &data, "after the hang").await;
}

/// Once pulled, a tag and its blobs are served from the cache whatever the
/// upstream does: no fault reaches the client, and the upstream is not
/// even asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_content_serves_while_upstream_fails() {
    let s = Setup::start().await;
    let layers: Vec<Vec<u8>> = (0..2).map(|i| blob(9500 + i, 2 * MIB)).collect();
    let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
    let image = s.push_image("v1", &refs).await;
    s.manifest_ok(&image, "first pull").await;
    let mut blobs = image.layers.clone();
    blobs.push(image.config.clone());
    for (digest, data) in &blobs {
        let o = s.fetch_blob(digest, data).await;
        assert!(o.complete(), "first pull of {digest}: {o:?}");
    }
    let seen = s.proxy.total();

    let faults = [
        Fault::Hang,
        Fault::Delay(Duration::from_secs(60)),
        Fault::Truncate(10),
        Fault::Corrupt(0),
        Fault::Reset(10),
        Fault::WrongLength(100),
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    ];
    for fault in faults {
        s.proxy.clear();
        s.proxy.set(Matcher::any(), fault.clone(), Times::Always);
        let what = format!("{fault:?}");
        s.manifest_ok(&image, &what).await;
        let head = s
            .distr
            .client
            .head(s.distr.url(&format!("/v2/{REPO}/manifests/{}", image.tag)))
            .header("accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status().as_u16(), 200, "{what}: HEAD manifest");
        for (digest, data) in &blobs {
            let o = s.fetch_blob(digest, data).await;
            assert!(o.complete(), "{what}: cached blob {digest}: {o:?}");
            let head = s.distr.head(&format!("/v2/{REPO}/blobs/{digest}")).await;
            assert_eq!(head.status().as_u16(), 200, "{what}: HEAD blob");
            assert_eq!(
                header(&head, "content-length"),
                Some(data.len().to_string()),
                "{what}: HEAD blob length"
            );
        }
    }
    assert_eq!(
        s.proxy.total(),
        seen,
        "cached content is served without asking the upstream: {:?}",
        s.proxy.counts()
    );
}
