//! The pull-through cache end to end, with real parts only: a real CNCF
//! Distribution 2.8 (`docker-registry`) as the vendor's private upstream —
//! open, behind htpasswd Basic auth, or behind a Bearer token realm — images
//! pushed to it with `skopeo copy --all`, the real `distr-server` binary in
//! front, and skopeo (plus raw HTTP) as the customer.
//!
//! Every test starts its own upstream on a free loopback port and its own
//! distr-server (the harness turns scheduled syncs off), and
//! compares what it pulls through distr with what it generated, digest for
//! digest and byte for byte.
//!
//! Requires `skopeo`, `/usr/bin/docker-registry` and `htpasswd` (scripts/test
//! installs them); fails loudly if any is missing.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::upstream::*;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const REPO: &str = "acme/app";
const SYNC_TIMEOUT: Duration = Duration::from_secs(90);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

// ---------------------------------------------------------------------------
// skopeo as the customer
// ---------------------------------------------------------------------------

/// `skopeo copy --all` `<distr>/acme/app:<tag>` into the OCI layout `out`.
fn pull(skopeo: &Path, host: &str, token: &str, tag: &str, out: &Path) -> Output {
    skopeo_pull(skopeo, host, REPO, tag, &creds(token), out)
}

/// Pull `layout.tag` through distr into a fresh dir under `work` and compare
/// it with `layout`.
#[track_caller]
fn pull_and_verify(
    skopeo: &Path,
    host: &str,
    token: &str,
    layout: &GeneratedLayout,
    work: &Path,
    what: &str,
) {
    let out_dir = tempfile::tempdir_in(work).unwrap();
    let out = pull(skopeo, host, token, &layout.tag, out_dir.path());
    assert!(
        out.status.success(),
        "{what}: skopeo copy of {REPO}:{} through distr failed:\n{}",
        layout.tag,
        stderr(&out)
    );
    verify_pulled_layout(out_dir.path(), layout, what);
}

/// Pull `tag` through distr; it must fail. Returns skopeo's stderr.
#[track_caller]
fn pull_fails(
    skopeo: &Path,
    host: &str,
    token: &str,
    tag: &str,
    work: &Path,
    what: &str,
) -> String {
    let out_dir = tempfile::tempdir_in(work).unwrap();
    let out = pull(skopeo, host, token, tag, out_dir.path());
    assert!(
        !out.status.success(),
        "{what}: skopeo copy of {REPO}:{tag} must fail, but it succeeded"
    );
    stderr(&out)
}

/// `n` skopeo clients pull `layout.tag` through distr at the same time;
/// each gets it all, byte for byte.
fn pull_concurrently(
    skopeo: &Path,
    host: &str,
    layout: &GeneratedLayout,
    work: &Path,
    n: usize,
    what: &str,
) {
    let dirs: Vec<tempfile::TempDir> = (0..n)
        .map(|_| tempfile::tempdir_in(work).unwrap())
        .collect();
    let children: Vec<std::process::Child> = dirs
        .iter()
        .map(|d| {
            let creds = creds(TEST_TOKEN);
            skopeo_pull_cmd(skopeo, host, REPO, &layout.tag, &creds, d.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn skopeo")
        })
        .collect();
    for (i, (child, dir)) in children.into_iter().zip(&dirs).enumerate() {
        let out = child.wait_with_output().expect("wait for skopeo");
        assert!(
            out.status.success(),
            "{what}: concurrent pull #{i} failed:\n{}",
            stderr(&out)
        );
        verify_pulled_layout(dir.path(), layout, &format!("{what} #{i}"));
    }
}

// ---------------------------------------------------------------------------
// the management API
// ---------------------------------------------------------------------------

/// `/api/v1` as the vendor admin, with the artifact and sync calls of
/// these tests on top of the harness's [`ManagementApi`].
struct Api(ManagementApi);

impl std::ops::Deref for Api {
    type Target = ManagementApi;
    fn deref(&self) -> &ManagementApi {
        &self.0
    }
}

impl Api {
    /// The API of the server at `base_url`, as the vendor admin.
    fn new(base_url: String) -> Api {
        Api(ManagementApi::new(base_url, TEST_TOKEN))
    }

    async fn create_artifact(&self, name: &str, upstream: Value) -> (u16, String, Value) {
        self.call(
            Method::POST,
            "/api/v1/artifacts",
            Some(&json!({"name": name, "upstream": upstream})),
        )
        .await
    }

    /// Create a mirrored artifact (its first sync starts at once); must be
    /// 201. Returns its view.
    async fn create_mirror(&self, name: &str, upstream: Value) -> Value {
        let (status, text, view) = self.create_artifact(name, upstream).await;
        assert_eq!(status, 201, "POST /api/v1/artifacts ({name}): {text}");
        view
    }

    /// [`Api::create_mirror`] with `sync_now: false`: nothing is fetched
    /// until a client asks for it.
    async fn create_on_demand_mirror(&self, name: &str, upstream: Value) -> Value {
        let (status, text, view) = self
            .call(
                Method::POST,
                "/api/v1/artifacts",
                Some(&json!({"name": name, "upstream": upstream, "sync_now": false})),
            )
            .await;
        assert_eq!(status, 201, "POST /api/v1/artifacts ({name}): {text}");
        view
    }

    async fn artifact(&self, id: &str) -> Value {
        self.expect(Method::GET, &format!("/api/v1/artifacts/{id}"), None, 200)
            .await
    }

    async fn artifact_names(&self) -> Vec<String> {
        let list = self
            .expect(Method::GET, "/api/v1/artifacts", None, 200)
            .await;
        list.as_array()
            .unwrap_or_else(|| panic!("GET /api/v1/artifacts is not a list: {list}"))
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// tag → (digest, media_type) from `GET /api/v1/artifacts/{id}/tags`.
    async fn tags(&self, id: &str) -> BTreeMap<String, (String, String)> {
        let v = self
            .expect(
                Method::GET,
                &format!("/api/v1/artifacts/{id}/tags"),
                None,
                200,
            )
            .await;
        v.as_array()
            .unwrap_or_else(|| panic!("tags is not a list: {v}"))
            .iter()
            .map(|t| {
                (
                    t["tag"].as_str().unwrap().to_owned(),
                    (
                        t["digest"].as_str().unwrap().to_owned(),
                        t["media_type"].as_str().unwrap_or_default().to_owned(),
                    ),
                )
            })
            .collect()
    }

    /// `POST /artifacts/{id}/sync`: 202 `started` or `joined`.
    async fn sync(&self, id: &str) -> String {
        let v = self
            .expect(
                Method::POST,
                &format!("/api/v1/artifacts/{id}/sync"),
                None,
                202,
            )
            .await;
        let state = v["state"].as_str().unwrap_or_default().to_owned();
        assert!(
            state == "started" || state == "joined",
            "POST sync: state must be started or joined: {v}"
        );
        state
    }

    /// Poll the artifact until a sync attempt newer than `after` has finished
    /// (`last_sync_attempt_at > after`, `running` false). Returns the view.
    async fn wait_sync(&self, id: &str, after: Option<i64>) -> Value {
        let deadline = Instant::now() + SYNC_TIMEOUT;
        loop {
            let a = self.artifact(id).await;
            let s = &a["sync"];
            assert!(s.is_object(), "a mirrored artifact has a sync object: {a}");
            let attempt = s["last_sync_attempt_at"].as_i64();
            let newer = attempt.is_some_and(|t| after.is_none_or(|p| t > p));
            if newer && s["running"] == json!(false) {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "no finished sync attempt after {after:?} within {SYNC_TIMEOUT:?}: {a}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn upstream_none(reference: &str) -> Value {
    json!({"reference": reference, "insecure": true, "auth": {"kind": "none"}})
}

fn upstream_basic(reference: &str, user: &str, pass: &str) -> Value {
    json!({
        "reference": reference,
        "insecure": true,
        "auth": {"kind": "basic", "username": user, "password": pass}
    })
}

/// A management-API error: `want` status and `{"error":{"code","message"}}`.
#[track_caller]
fn assert_api_error(status: u16, text: &str, body: &Value, want: u16, code: &str, what: &str) {
    assert_eq!(
        status, want,
        "{what}: expected {want} {code}, got {status}: {text}"
    );
    assert_eq!(
        body["error"]["code"], code,
        "{what}: expected error code {code}: {text}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: error without a message: {text}"
    );
}

/// The view of a freshly created mirrored artifact.
#[track_caller]
fn check_mirror_view(view: &Value, reference: &str, auth_kind: &str, username: Option<&str>) {
    assert_eq!(view["name"], "app", "{view}");
    assert_eq!(view["repository"], REPO, "{view}");
    assert!(view["id"].is_string(), "{view}");
    let up = &view["upstream"];
    assert_eq!(up["reference"], reference, "upstream.reference: {view}");
    assert_eq!(up["insecure"], true, "upstream.insecure: {view}");
    assert_eq!(up["auth_kind"], auth_kind, "upstream.auth_kind: {view}");
    match username {
        Some(u) => assert_eq!(up["username"], u, "upstream.username: {view}"),
        None => assert!(
            up["username"].is_null(),
            "upstream.username without credentials: {view}"
        ),
    }
    assert!(
        up.get("password").is_none() && up.get("auth").is_none(),
        "the view never carries the secret: {view}"
    );
    let sync = &view["sync"];
    for key in ["last_synced_at", "last_sync_attempt_at", "last_sync_error"] {
        assert!(sync.get(key).is_some(), "sync.{key} present: {view}");
    }
    assert!(sync["running"].is_boolean(), "sync.running: {view}");
}

/// A 502/503 answer with an OCI error body `{"errors":[{code,message}]}`.
async fn expect_gateway_error(resp: reqwest::Response, what: &str) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert!(
        status == 502 || status == 503,
        "{what}: expected 502 or 503 (upstream down, nothing cached), got {status}: {text}"
    );
    let body = oci_error_body(&text, what);
    (status, body)
}

#[track_caller]
fn oci_error_body(text: &str, what: &str) -> Value {
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {text}"));
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no `errors` array: {text}"));
    assert!(!errors.is_empty(), "{what}: empty `errors`: {text}");
    for e in errors {
        assert!(e["code"].is_string(), "{what}: error without code: {text}");
        assert!(
            e["message"].is_string(),
            "{what}: error without message: {text}"
        );
    }
    body
}

// ---------------------------------------------------------------------------
// the tests
// ---------------------------------------------------------------------------

/// Open upstream: pull through (multi-arch index and plain manifest), pull
/// again, kill the upstream, pull from the cache. Content not cached then
/// answers 502/503 with an OCI error, never a 404 claiming it does not exist
/// — except a blob no stored manifest references, which distr never fetches
/// (404 BLOB_UNKNOWN, by design).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_plain_upstream() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let mut upstream = UpstreamRegistry::start().await;
    let multi = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 11);
    let single = generate_single_layout(&work.path().join("src-single"), "single", 12);
    // 2.0: only its manifests get fetched (raw GETs), none of its blobs.
    let partial = generate_multiarch_layout_seeded(&work.path().join("src-2.0"), "2.0", 13);
    // 3.0: never touched through distr.
    let never = generate_multiarch_layout_seeded(&work.path().join("src-3.0"), "3.0", 14);
    for l in [&multi, &single, &partial, &never] {
        upstream.push_layout(&skopeo, l, UPSTREAM_REPO);
    }
    assert_eq!(
        upstream.tags(UPSTREAM_REPO).await,
        ["1.0", "2.0", "3.0", "single"]
    );

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let reference = upstream.reference(UPSTREAM_REPO);
    let view = api
        .create_on_demand_mirror("app", upstream_none(&reference))
        .await;
    check_mirror_view(&view, &reference, "none", None);
    let id = view["id"].as_str().unwrap().to_owned();
    assert_eq!(api.artifact(&id).await["upstream"], view["upstream"]);

    // First pulls, resolved on demand from the upstream: two clients at
    // once share the fetches and both get everything.
    pull_concurrently(&skopeo, &host, &multi, work.path(), 2, "first pull of 1.0");
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &single,
        work.path(),
        "first pull of single",
    );
    // Again.
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &multi,
        work.path(),
        "second pull of 1.0",
    );
    // The tag over raw HTTP: type, digest and bytes.
    let reg = server.registry();
    let resp = reg.get_manifest(REPO, "1.0").await;
    assert_eq!(resp.status().as_u16(), 200, "GET manifest 1.0");
    assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_INDEX));
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(multi.index_digest.as_str())
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), multi.index.as_slice());
    // 2.0's index and platform manifests, but none of its blobs.
    let mut wanted = vec![partial.index_digest.clone()];
    wanted.extend(partial.platforms.iter().map(|p| p.manifest_digest.clone()));
    for (i, digest) in wanted.iter().enumerate() {
        let reference = if i == 0 { "2.0" } else { digest.as_str() };
        let resp = reg.get_manifest(REPO, reference).await;
        assert_eq!(resp.status().as_u16(), 200, "GET manifest {reference}");
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            partial.blobs[digest].as_slice(),
            "manifest {reference}"
        );
    }

    // A range of a blob not cached yet (a 2.0 layer): forwarded or served
    // from the fill, exactly those bytes; then the whole blob.
    let layer = &partial.platforms[1].layer_digests[1];
    let bytes = &partial.blobs[layer];
    let resp = reg
        .client
        .get(reg.url(&format!("/v2/{REPO}/blobs/{layer}")))
        .header("range", "bytes=100-4195")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206, "Range GET of an uncached blob");
    assert_eq!(
        header(&resp, "content-range").as_deref(),
        Some(format!("bytes 100-4195/{}", bytes.len()).as_str())
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &bytes[100..4196]);
    assert_eq!(
        &reg.get_blob(REPO, layer).await,
        bytes,
        "whole blob after a range"
    );

    // Upstream outage: what was pulled comes from the cache.
    upstream.kill();
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &multi,
        work.path(),
        "1.0 with the upstream down",
    );
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &single,
        work.path(),
        "single with the upstream down",
    );
    let cached = &multi.platforms[1].layer_digests[1];
    assert_eq!(&reg.get_blob(REPO, cached).await, &multi.blobs[cached]);

    // A tag never pulled cannot be served, and distr must not claim it does
    // not exist: a gateway error, not 404 MANIFEST_UNKNOWN.
    let err = pull_fails(
        &skopeo,
        &host,
        TEST_TOKEN,
        "3.0",
        work.path(),
        "3.0, upstream down",
    );
    eprintln!("skopeo pulling the never-pulled 3.0 with the upstream down: {err}");
    let resp = reg.get_manifest(REPO, "3.0").await;
    let (status, body) = expect_gateway_error(resp, "GET uncached tag 3.0, upstream down").await;
    eprintln!("GET /v2/{REPO}/manifests/3.0 with the upstream down: {status} {body}");
    assert!(
        !body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "MANIFEST_UNKNOWN"),
        "uncached tag with the upstream down must not be MANIFEST_UNKNOWN: {body}"
    );
    let resp = reg.get_manifest(REPO, &never.index_digest).await;
    let (status, body) =
        expect_gateway_error(resp, "GET uncached manifest by digest, upstream down").await;
    eprintln!("GET of 3.0's index by digest with the upstream down: {status} {body}");

    // 2.0: its manifests are cached, its blobs are not: skopeo fails, and a
    // raw GET of one of its layers is a gateway error.
    let err = pull_fails(
        &skopeo,
        &host,
        TEST_TOKEN,
        "2.0",
        work.path(),
        "2.0 blobs, upstream down",
    );
    eprintln!("skopeo pulling 2.0 (manifests cached, blobs not) with the upstream down: {err}");
    let uncached_layer = &partial.platforms[0].layer_digests[1];
    assert!(
        !multi.blobs.contains_key(uncached_layer) && !single.blobs.contains_key(uncached_layer)
    );
    let resp = reg.get(&format!("/v2/{REPO}/blobs/{uncached_layer}")).await;
    let (status, body) = expect_gateway_error(resp, "GET of an uncached blob, upstream down").await;
    eprintln!("GET of an uncached (referenced) blob with the upstream down: {status} {body}");

    // A blob no stored manifest references is never fetched: unknown.
    let unreferenced = &never.platforms[0].layer_digests[1];
    let resp = reg.get(&format!("/v2/{REPO}/blobs/{unreferenced}")).await;
    expect_oci_error(
        resp,
        404,
        "BLOB_UNKNOWN",
        "GET of a blob no stored manifest references",
    )
    .await;
}

/// htpasswd upstream: bad credentials and bad upstreams are refused at
/// creation with the documented codes and nothing is saved; the right
/// password pulls. `PUT .../upstream` validates the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_basic_auth_upstream() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start_with_htpasswd(UPSTREAM_USER, UPSTREAM_PASS).await;
    let multi = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 21);
    let single = generate_single_layout(&work.path().join("src-1.1"), "1.1", 22);
    upstream.push_layout(&skopeo, &multi, UPSTREAM_REPO);
    upstream.push_layout(&skopeo, &single, UPSTREAM_REPO);

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let reference = upstream.reference(UPSTREAM_REPO);

    let refused: Vec<(&str, Value, &str)> = vec![
        (
            "wrong password",
            upstream_basic(&reference, UPSTREAM_USER, "not-the-password"),
            "upstream_auth_failed",
        ),
        (
            "unknown user",
            upstream_basic(&reference, "nobody", UPSTREAM_PASS),
            "upstream_auth_failed",
        ),
        (
            "no credentials for a protected upstream",
            upstream_none(&reference),
            "upstream_auth_failed",
        ),
        (
            "missing upstream repository",
            upstream_basic(
                &upstream.reference("team/missing"),
                UPSTREAM_USER,
                UPSTREAM_PASS,
            ),
            "upstream_not_found",
        ),
        (
            "unreachable upstream",
            upstream_basic(
                &format!("127.0.0.1:{}/team/app", free_port()),
                UPSTREAM_USER,
                UPSTREAM_PASS,
            ),
            "upstream_unreachable",
        ),
        (
            "malformed reference",
            upstream_basic("not a reference!", UPSTREAM_USER, UPSTREAM_PASS),
            "invalid_upstream",
        ),
        (
            "reference without a repository",
            upstream_none(&format!("{}/", upstream.host_port())),
            "invalid_upstream",
        ),
    ];
    for (what, up, code) in &refused {
        let (status, text, body) = api.create_artifact("app", up.clone()).await;
        assert_api_error(status, &text, &body, 400, code, what);
        assert!(
            !text.contains(UPSTREAM_PASS),
            "{what}: the error must not echo the password: {text}"
        );
        assert_eq!(
            api.artifact_names().await,
            Vec::<String>::new(),
            "{what}: nothing is saved on 400"
        );
    }

    let (status, text, view) = api
        .create_artifact(
            "app",
            upstream_basic(&reference, UPSTREAM_USER, UPSTREAM_PASS),
        )
        .await;
    assert_eq!(status, 201, "the right password: {text}");
    assert!(
        !text.contains(UPSTREAM_PASS),
        "the view never shows the password: {text}"
    );
    check_mirror_view(&view, &reference, "basic", Some(UPSTREAM_USER));
    let id = view["id"].as_str().unwrap().to_owned();
    assert_eq!(api.artifact_names().await, ["app"]);
    let (_, text, _) = api
        .call(Method::GET, &format!("/api/v1/artifacts/{id}"), None)
        .await;
    assert!(
        !text.contains(UPSTREAM_PASS),
        "GET artifact shows no password: {text}"
    );
    let (_, text, _) = api.call(Method::GET, "/api/v1/artifacts", None).await;
    assert!(
        !text.contains(UPSTREAM_PASS),
        "the list shows no password: {text}"
    );

    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &multi,
        work.path(),
        "1.0 via htpasswd upstream",
    );
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &single,
        work.path(),
        "1.1 via htpasswd upstream",
    );

    // PUT .../upstream is validated like creation and changes nothing on 400.
    let path = format!("/api/v1/artifacts/{id}/upstream");
    let (status, text, body) = api
        .call(
            Method::PUT,
            &path,
            Some(&upstream_basic(&reference, UPSTREAM_USER, "wrong-again")),
        )
        .await;
    assert_api_error(
        status,
        &text,
        &body,
        400,
        "upstream_auth_failed",
        "PUT upstream, wrong password",
    );
    let after = api.artifact(&id).await;
    assert_eq!(
        after["upstream"], view["upstream"],
        "a refused PUT changes nothing"
    );
    // Detach: a plain artifact again; the view says so.
    let detached = api
        .expect(Method::PUT, &path, Some(&Value::Null), 200)
        .await;
    assert!(
        detached["upstream"].is_null(),
        "PUT null detaches: {detached}"
    );
    assert!(api.artifact(&id).await["upstream"].is_null());
    // And attach again with the right password.
    let again = api
        .expect(
            Method::PUT,
            &path,
            Some(&upstream_basic(&reference, UPSTREAM_USER, UPSTREAM_PASS)),
            200,
        )
        .await;
    assert_eq!(again["upstream"]["auth_kind"], "basic", "{again}");
    assert_eq!(again["upstream"]["username"], UPSTREAM_USER, "{again}");
    assert_no_secret_in_log(&server, &[UPSTREAM_PASS, "not-the-password", "wrong-again"]);
}

/// No upstream password, right or wrong, ever reaches the server's log.
#[track_caller]
fn assert_no_secret_in_log(server: &Server, secrets: &[&str]) {
    let log = server.log();
    for secret in secrets {
        assert!(
            !log.contains(secret),
            "the server log contains the upstream password {secret:?}"
        );
    }
}

/// An upstream behind a Bearer token realm (the real registry behind an
/// in-test token proxy): distr fetches tokens with the Basic credentials and
/// pulls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_through_bearer_upstream() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start().await;
    let multi = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 31);
    let single = generate_single_layout(&work.path().join("src-1.1"), "1.1", 32);
    upstream.push_layout(&skopeo, &multi, UPSTREAM_REPO);
    upstream.push_layout(&skopeo, &single, UPSTREAM_REPO);
    let proxy = BearerProxy::start(&upstream.host_port(), UPSTREAM_USER, UPSTREAM_PASS);

    // The proxy really demands tokens: anonymous is challenged, and skopeo
    // (its own Bearer client) gets the exact index through it.
    let anon = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = anon
        .get(format!(
            "http://{}/v2/{UPSTREAM_REPO}/tags/list",
            proxy.host_port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        401,
        "the proxy challenges anonymous requests"
    );
    let challenge = header(&resp, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=") && challenge.contains("repository:team/app:pull"),
        "{challenge}"
    );
    let raw = run_ok(skopeo_cmd(&skopeo).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &format!("{UPSTREAM_USER}:{UPSTREAM_PASS}"),
        &format!("docker://{}/{UPSTREAM_REPO}:1.0", proxy.host_port()),
    ]))
    .stdout;
    assert_eq!(raw, multi.index, "skopeo through the token proxy");

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let reference = proxy.reference(UPSTREAM_REPO);

    let refusals = ProxyStats::get(&proxy.stats.token_refusals);
    let (status, text, body) = api
        .create_artifact(
            "app",
            upstream_basic(&reference, UPSTREAM_USER, "bad-password"),
        )
        .await;
    assert_api_error(
        status,
        &text,
        &body,
        400,
        "upstream_auth_failed",
        "Bearer realm, wrong password",
    );
    assert!(
        ProxyStats::get(&proxy.stats.token_refusals) > refusals,
        "distr asked the token realm (and was refused): {:?}",
        proxy.stats
    );
    assert_eq!(
        api.artifact_names().await,
        Vec::<String>::new(),
        "nothing saved"
    );

    let fetches = ProxyStats::get(&proxy.stats.token_fetches);
    let forwarded = ProxyStats::get(&proxy.stats.forwarded);
    let view = api
        .create_mirror(
            "app",
            upstream_basic(&reference, UPSTREAM_USER, UPSTREAM_PASS),
        )
        .await;
    check_mirror_view(&view, &reference, "basic", Some(UPSTREAM_USER));

    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &multi,
        work.path(),
        "1.0 via Bearer upstream",
    );
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &single,
        work.path(),
        "1.1 via Bearer upstream",
    );
    assert!(
        ProxyStats::get(&proxy.stats.token_fetches) > fetches,
        "distr fetched tokens from the realm: {:?}",
        proxy.stats
    );
    assert!(
        ProxyStats::get(&proxy.stats.forwarded) > forwarded,
        "distr's requests reached the registry with a valid token: {:?}",
        proxy.stats
    );
    assert_no_secret_in_log(&server, &[UPSTREAM_PASS, "bad-password"]);
}

/// Creating a mirror syncs it at once; `POST .../sync` mirrors the
/// upstream's tags: additions, moves and deletions; status fields; a failed
/// sync keeps `last_synced_at`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_job_tracks_upstream_tags() {
    let started = now_ms();
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let mut upstream = UpstreamRegistry::start().await;
    let v10 = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 41);
    let v11 = generate_single_layout(&work.path().join("src-1.1"), "1.1", 42);
    upstream.push_layout(&skopeo, &v10, UPSTREAM_REPO);
    upstream.push_layout(&skopeo, &v11, UPSTREAM_REPO);

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let view = api
        .create_mirror("app", upstream_none(&upstream.reference(UPSTREAM_REPO)))
        .await;
    let id = view["id"].as_str().unwrap().to_owned();

    // The first sync starts with the creation (this server schedules no
    // syncs, and nothing calls POST .../sync).
    let a = api.wait_sync(&id, None).await;
    let s = &a["sync"];
    assert!(s["last_sync_error"].is_null(), "first sync succeeded: {a}");
    let synced1 = s["last_synced_at"]
        .as_i64()
        .unwrap_or_else(|| panic!("last_synced_at set after a good sync: {a}"));
    let attempt1 = s["last_sync_attempt_at"].as_i64().unwrap();
    assert!(
        synced1 >= started - 5_000 && synced1 <= now_ms() + 5_000,
        "last_synced_at is a ms timestamp of now: {synced1}"
    );
    assert!(
        attempt1 >= started - 5_000 && attempt1 <= now_ms() + 5_000,
        "{attempt1}"
    );
    let tags = api.tags(&id).await;
    let want: BTreeMap<String, (String, String)> = [
        (
            "1.0".to_owned(),
            (v10.index_digest.clone(), OCI_INDEX.to_owned()),
        ),
        (
            "1.1".to_owned(),
            (v11.index_digest.clone(), OCI_MANIFEST.to_owned()),
        ),
    ]
    .into();
    assert_eq!(tags, want, "tags after the first sync");

    // Upstream changes: 1.1 moves to other content, 1.0 goes, 2.0 appears.
    let v11b = generate_multiarch_layout_seeded(&work.path().join("src-1.1b"), "1.1", 43);
    let v20 = generate_single_layout(&work.path().join("src-2.0"), "2.0", 44);
    upstream.push_layout(&skopeo, &v11b, UPSTREAM_REPO);
    upstream.push_layout(&skopeo, &v20, UPSTREAM_REPO);
    let deleted = upstream.delete_tag(UPSTREAM_REPO, "1.0").await;
    assert_eq!(deleted, v10.index_digest);
    assert_eq!(upstream.tags(UPSTREAM_REPO).await, ["1.1", "2.0"]);
    assert_eq!(
        upstream
            .manifest_digest(UPSTREAM_REPO, "1.1")
            .await
            .as_deref(),
        Some(v11b.index_digest.as_str())
    );

    api.sync(&id).await;
    let a = api.wait_sync(&id, Some(attempt1)).await;
    let s = &a["sync"];
    assert!(s["last_sync_error"].is_null(), "second sync succeeded: {a}");
    let synced2 = s["last_synced_at"].as_i64().unwrap();
    let attempt2 = s["last_sync_attempt_at"].as_i64().unwrap();
    assert!(synced2 > synced1, "last_synced_at advanced: {a}");
    let tags = api.tags(&id).await;
    let want: BTreeMap<String, (String, String)> = [
        (
            "1.1".to_owned(),
            (v11b.index_digest.clone(), OCI_INDEX.to_owned()),
        ),
        (
            "2.0".to_owned(),
            (v20.index_digest.clone(), OCI_MANIFEST.to_owned()),
        ),
    ]
    .into();
    assert_eq!(
        tags, want,
        "tags follow the upstream: 1.1 moved, 1.0 gone, 2.0 new"
    );
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &v11b,
        work.path(),
        "moved 1.1 after sync",
    );
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &v20,
        work.path(),
        "new 2.0 after sync",
    );

    // A sync against a dead upstream: error recorded, last good sync kept,
    // tags untouched, cached content still served.
    upstream.kill();
    api.sync(&id).await;
    let a = api.wait_sync(&id, Some(attempt2)).await;
    let s = &a["sync"];
    assert!(
        s["last_sync_error"].as_str().is_some_and(|e| !e.is_empty()),
        "a failed sync records last_sync_error: {a}"
    );
    assert_eq!(
        s["last_synced_at"].as_i64(),
        Some(synced2),
        "a failed sync keeps last_synced_at: {a}"
    );
    assert!(
        s["last_sync_attempt_at"].as_i64().unwrap() > attempt2,
        "{a}"
    );
    assert_eq!(api.tags(&id).await, want, "a failed sync changes no tag");
    let resp = server.registry().get_manifest(REPO, "1.1").await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "cached 1.1 with the upstream down"
    );
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(v11b.index_digest.as_str())
    );
}

/// Nobody pushes into a mirrored artifact: skopeo fails, raw PUT manifest and
/// blob uploads answer 403 DENIED; a plain artifact still takes pushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_mirrored_artifact_is_denied() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start().await;
    let v10 = generate_single_layout(&work.path().join("src-1.0"), "1.0", 51);
    upstream.push_layout(&skopeo, &v10, UPSTREAM_REPO);

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let view = api
        .create_mirror("app", upstream_none(&upstream.reference(UPSTREAM_REPO)))
        .await;
    let id = view["id"].as_str().unwrap().to_owned();

    let evil = generate_multiarch_layout_seeded(&work.path().join("src-evil"), "evil", 52);
    let out = try_run(skopeo_cmd(&skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--retry-times",
        "0",
        "--dest-tls-verify=false",
        "--dest-creds",
        &server.creds(),
        &format!("oci:{}:evil", evil.dir.display()),
        &format!("docker://{host}/{REPO}:evil"),
    ]));
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "skopeo push into a mirrored artifact must fail"
    );
    assert!(
        err.to_lowercase().contains("denied"),
        "skopeo's error names the denial: {err}"
    );

    let reg = server.registry();
    let resp = reg
        .client
        .post(reg.url(&format!("/v2/{REPO}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 403, "DENIED", "blob upload into a mirrored artifact").await;
    let p = &evil.platforms[0];
    let manifest = &evil.blobs[&p.manifest_digest];
    let resp = reg.put_manifest(REPO, "evil", OCI_MANIFEST, manifest).await;
    expect_oci_error(
        resp,
        403,
        "DENIED",
        "PUT manifest by tag into a mirrored artifact",
    )
    .await;
    let resp = reg
        .put_manifest(REPO, &p.manifest_digest, OCI_MANIFEST, manifest)
        .await;
    expect_oci_error(
        resp,
        403,
        "DENIED",
        "PUT manifest by digest into a mirrored artifact",
    )
    .await;
    let resp = reg
        .put_manifest(
            REPO,
            &format!("{}?tag=evil&tag=1.0", p.manifest_digest),
            OCI_MANIFEST,
            manifest,
        )
        .await;
    assert!(resp.headers().get("oci-tag").is_none());
    expect_oci_error(
        resp,
        403,
        "DENIED",
        "PUT manifest by digest with ?tag= into a mirrored artifact",
    )
    .await;
    // Over a plain socket too (the harness's raw client).
    let (status, body) = raw_http_put(
        &host,
        &format!("/v2/{REPO}/manifests/1.0"),
        OCI_MANIFEST,
        manifest,
    );
    assert_eq!(
        status,
        403,
        "raw PUT over the 1.0 tag: {}",
        String::from_utf8_lossy(&body)
    );
    let body = oci_error_body(&String::from_utf8_lossy(&body), "raw PUT manifest");
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["code"] == "DENIED"),
        "{body}"
    );

    // Nothing changed: not in distr, not upstream; 1.0 still pulls as is.
    let tags = api.tags(&id).await;
    assert!(!tags.contains_key("evil"), "no tag was pushed: {tags:?}");
    assert_eq!(upstream.tags(UPSTREAM_REPO).await, ["1.0"]);
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &v10,
        work.path(),
        "1.0 after refused pushes",
    );

    // The refusal is about the mirror: a plain artifact takes the push.
    reg.push_image("acme/plain", "1.0", 53).await;
}

/// A customer entitled to `1.1*` of a mirrored artifact pulls 1.1 (resolved
/// on demand) and is denied 1.0, whose content distr must not hand out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_sees_only_entitled_mirrored_tags() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start().await;
    let v10 = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 61);
    let v11 = generate_multiarch_layout_seeded(&work.path().join("src-1.1"), "1.1", 62);
    let v11h = generate_single_layout(&work.path().join("src-1.1-hotfix"), "1.1-hotfix", 63);
    for l in [&v10, &v11, &v11h] {
        upstream.push_layout(&skopeo, l, UPSTREAM_REPO);
    }

    let server = Server::start();
    let host = server.host_port();
    let api = Api::new(server.base_url());
    let view = api
        .create_mirror("app", upstream_none(&upstream.reference(UPSTREAM_REPO)))
        .await;
    let artifact_id = view["id"].as_str().unwrap().to_owned();

    // Customer, user, token and entitlement through the management API.
    let login = api.customer_login("Globex", "ops@globex.test").await;
    let token = login.token;
    api.entitle(&login.customer_id, "mirror-1.1", &artifact_id, &["1.1*"])
        .await;

    // Entitled: pulled through, byte for byte.
    pull_and_verify(
        &skopeo,
        &host,
        &token,
        &v11,
        work.path(),
        "customer pulls 1.1",
    );
    pull_and_verify(
        &skopeo,
        &host,
        &token,
        &v11h,
        work.path(),
        "customer pulls 1.1-hotfix",
    );

    // Not entitled: refused by skopeo and over raw HTTP, by tag and by digest.
    let err = pull_fails(
        &skopeo,
        &host,
        &token,
        "1.0",
        work.path(),
        "customer pulls 1.0",
    );
    assert!(
        err.contains("not entitled to tag") || err.to_lowercase().contains("denied"),
        "customer pulling 1.0: {err}"
    );
    let creg = server.registry_as(Some(&token));
    let resp = creg.get_manifest(REPO, "1.0").await;
    expect_oci_error(resp, 403, "DENIED", "customer GET manifest 1.0").await;
    let resp = creg.get_manifest(REPO, &v10.index_digest).await;
    let status = resp.status().as_u16();
    assert!(
        status == 403 || status == 404,
        "customer GET of 1.0's index by digest must be refused, got {status}"
    );
    let own_layer = &v10.platforms[0].layer_digests[1];
    let resp = creg.get(&format!("/v2/{REPO}/blobs/{own_layer}")).await;
    let status = resp.status().as_u16();
    assert!(
        status == 403 || status == 404,
        "customer GET of a layer only 1.0 has must be refused, got {status}"
    );

    // 1.0 itself is fine: the vendor pulls it.
    pull_and_verify(
        &skopeo,
        &host,
        TEST_TOKEN,
        &v10,
        work.path(),
        "vendor pulls 1.0",
    );
    // And still refused to the customer once cached.
    let resp = creg.get_manifest(REPO, "1.0").await;
    expect_oci_error(resp, 403, "DENIED", "customer GET manifest 1.0 once cached").await;
    let resp = creg.get(&format!("/v2/{REPO}/blobs/{own_layer}")).await;
    assert_eq!(
        resp.status().as_u16(),
        403,
        "customer GET of a cached layer only 1.0 has"
    );
}

/// `DISTR_UPSTREAM_SYNC_CRON` drives scheduled syncs: with a schedule of
/// every 2 seconds (six fields: seconds first), a mirrored artifact gets its
/// tags without any `POST .../sync` (the first at its creation), and a tag
/// pushed upstream later shows up by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sync_follows_cron() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start().await;
    let v10 = generate_single_layout(&work.path().join("src-1.0"), "1.0", 71);
    upstream.push_layout(&skopeo, &v10, UPSTREAM_REPO);

    let server = DistrProcess::start(&[("DISTR_UPSTREAM_SYNC_CRON", "*/2 * * * * *")]);
    let api = Api::new(server.base_url());
    let view = api
        .create_mirror("app", upstream_none(&upstream.reference(UPSTREAM_REPO)))
        .await;
    let id = view["id"].as_str().unwrap().to_owned();

    let a = api.wait_sync(&id, None).await;
    assert!(
        a["sync"]["last_sync_error"].is_null(),
        "scheduled sync: {a}"
    );
    assert!(a["sync"]["last_synced_at"].is_i64(), "scheduled sync: {a}");
    let tags = api.tags(&id).await;
    assert_eq!(
        tags.get("1.0").map(|(d, _)| d.as_str()),
        Some(v10.index_digest.as_str()),
        "the first sync brought 1.0: {tags:?}"
    );

    let v11 = generate_single_layout(&work.path().join("src-1.1"), "1.1", 72);
    upstream.push_layout(&skopeo, &v11, UPSTREAM_REPO);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tags = api.tags(&id).await;
        if tags.get("1.1").map(|(d, _)| d.as_str()) == Some(v11.index_digest.as_str()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "1.1, pushed upstream, did not appear within 30 s of 2-second scheduled syncs: {tags:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    pull_and_verify(
        &skopeo,
        &server.host_port(),
        TEST_TOKEN,
        &v11,
        work.path(),
        "1.1 after a scheduled sync",
    );
}

/// Without `DISTR_UPSTREAM_ALLOW`, a vendor cannot point an artifact at the
/// server's inside: a real registry on loopback, `localhost`, `127.1` and a
/// closed port are each refused with the same generic `upstream_unreachable`
/// (no port, address or peer bytes in the answer), nothing is created, and
/// the operator's log says why. With loopback listed (the harness default)
/// the same registry is mirrored.
#[tokio::test]
async fn upstreams_on_the_inside_need_the_operators_allow_list() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream = UpstreamRegistry::start().await;
    let v10 = generate_single_layout(&work.path().join("src-1.0"), "1.0", 61);
    upstream.push_layout(&skopeo, &v10, UPSTREAM_REPO);
    let port = upstream.host_port().rsplit(':').next().unwrap().to_owned();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = Server::start_with_env(&[("DISTR_UPSTREAM_ALLOW", "")]);
    let api = Api::new(server.base_url());
    let mut messages = Vec::new();
    for (i, reference) in [
        upstream.reference(UPSTREAM_REPO),
        format!("localhost:{port}/{UPSTREAM_REPO}"),
        format!("127.1:{port}/{UPSTREAM_REPO}"),
        format!("127.0.0.1:{closed}/{UPSTREAM_REPO}"),
    ]
    .iter()
    .enumerate()
    {
        for insecure in [true, false] {
            let body =
                json!({"reference": reference, "insecure": insecure, "auth": {"kind": "none"}});
            let (status, text, view) = api.create_artifact(&format!("inside-{i}"), body).await;
            assert_api_error(status, &text, &view, 400, "upstream_unreachable", reference);
            for leak in [
                port.as_str(),
                &closed.to_string(),
                "127.0.0.1",
                "refused",
                "os error",
            ] {
                assert!(
                    !text.contains(leak),
                    "{reference}: the answer shows {leak:?}: {text}"
                );
            }
            messages.push(view["error"]["message"].clone());
        }
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "every refusal reads alike: {messages:?}");
    let (_, text, list) = api.call(Method::GET, "/api/v1/artifacts", None).await;
    assert!(
        !text.contains("inside-"),
        "refused artifacts are not created: {list}"
    );
    assert!(
        server.log().contains("egress policy"),
        "the operator's log says why:\n{}",
        server.log_tail()
    );

    let allowed = Server::start();
    Api::new(allowed.base_url())
        .create_mirror("app", upstream_none(&upstream.reference(UPSTREAM_REPO)))
        .await;
}
