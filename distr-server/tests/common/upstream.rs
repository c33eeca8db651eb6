//! Real upstream registries for the pull-through end-to-end tests.
//!
//! * [`UpstreamRegistry`]: Debian's CNCF Distribution 2.8
//!   (`/usr/bin/docker-registry`, package `docker-registry`) on a free
//!   loopback port with its own config and storage (deletes enabled),
//!   optionally behind htpasswd Basic auth (`htpasswd -Bbn`, package
//!   `apache2-utils`). SIGKILLed on [`UpstreamRegistry::kill`] or drop; its
//!   temp dir goes with it.
//! * [`BearerProxy`]: a small HTTP proxy in front of such a registry that
//!   demands Bearer tokens from its own token realm (`/token`, issued for
//!   HTTP Basic credentials), the way Docker Hub, Harbor or GHCR do. It runs
//!   on its own thread and runtime and stops on drop. The registry behind it
//!   is the real one.
//! * [`generate_single_layout`]: an OCI layout with one plain image manifest
//!   (no index), next to [`super::generate_multiarch_layout_seeded`].
//! * [`verify_pulled_layout`]: a pulled OCI layout equals a generated one,
//!   digest for digest and byte for byte, with no extra blobs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};

use super::{
    image_config, make_layer, pseudo_random_bytes, read_layout_blob, read_layout_ref, run_ok,
    sha256_hex, skopeo_cmd, GeneratedLayout, PlatformImage, MANIFEST_ACCEPT, OCI_CONFIG, OCI_INDEX,
    OCI_LAYER_GZIP, OCI_MANIFEST,
};

/// Where Debian's `docker-registry` package installs Distribution.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// The repository the vendor's images live in upstream.
pub const UPSTREAM_REPO: &str = "team/app";
/// Credentials of the protected upstreams (htpasswd, token realm).
pub const UPSTREAM_USER: &str = "puller";
pub const UPSTREAM_PASS: &str = "s3cret-pass";

const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// `Basic base64(user:pass)`.
pub fn basic_header(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// One `user:bcrypt-hash` line from `htpasswd -Bbn`.
pub fn htpasswd_line(user: &str, pass: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "htpasswd is required by this end-to-end test but is not runnable ({e}): \
                 install it with `apt-get install -y apache2-utils` (scripts/test does). \
                 This test never skips."
            )
        });
    assert!(out.status.success(), "htpasswd -Bbn failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

// ---------------------------------------------------------------------------
// the upstream registry
// ---------------------------------------------------------------------------

/// A CNCF Distribution process on a loopback port.
pub struct UpstreamRegistry {
    child: Option<Child>,
    port: u16,
    basic: Option<(String, String)>,
    client: reqwest::Client,
    log_path: PathBuf,
    dir: tempfile::TempDir,
}

impl UpstreamRegistry {
    /// A registry anyone may pull from and push to.
    pub async fn start() -> UpstreamRegistry {
        Self::start_inner(None).await
    }

    /// A registry behind htpasswd Basic auth for `user`/`pass`.
    pub async fn start_with_htpasswd(user: &str, pass: &str) -> UpstreamRegistry {
        Self::start_inner(Some((user.to_owned(), pass.to_owned()))).await
    }

    async fn start_inner(basic: Option<(String, String)>) -> UpstreamRegistry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "{REGISTRY_BIN} is required by this end-to-end test: install it with \
             `apt-get install -y docker-registry` (scripts/test does). This test never skips."
        );
        let dir = tempfile::Builder::new()
            .prefix("distr-e2e-upstream-")
            .tempdir()
            .expect("create upstream temp dir");
        let mut auth = String::new();
        if let Some((user, pass)) = &basic {
            let path = dir.path().join("htpasswd");
            fs::write(&path, htpasswd_line(user, pass) + "\n").unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: e2e-upstream\n    path: {}\n",
                path.display()
            );
        }
        let log_path = dir.path().join("registry.log");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut reg = UpstreamRegistry {
            child: None,
            port: 0,
            basic,
            client,
            log_path,
            dir,
        };
        // free_port() can race with another process taking the port: retry
        // on a new one when the registry exits early.
        for attempt in 1..=5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                reg.dir.path().join("data").display()
            );
            let config_path = reg.dir.path().join("config.yml");
            fs::write(&config_path, config).unwrap();
            let log = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&reg.log_path)
                .unwrap();
            let child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config_path)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {REGISTRY_BIN}: {e}"));
            reg.child = Some(child);
            reg.port = port;
            match reg.wait_ready().await {
                Ok(()) => return reg,
                Err(why) if attempt < 5 => {
                    eprintln!("upstream registry on port {port}: {why}; retrying on another port");
                    reg.kill();
                }
                Err(why) => panic!(
                    "upstream registry did not come up on port {port}: {why}\n--- log ---\n{}",
                    reg.log()
                ),
            }
        }
        unreachable!()
    }

    /// Poll `GET /v2/` until it answers 200 (or 401 behind htpasswd).
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("{}/v2/", self.url());
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("exited early with {status}"));
            }
            if let Ok(resp) = self.client.get(&url).send().await {
                let s = resp.status().as_u16();
                match (s, self.basic.is_some()) {
                    (200, false) | (401, true) => return Ok(()),
                    _ => return Err(format!("GET /v2/ answered {s}")),
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no answer on GET /v2/ within {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// `127.0.0.1:PORT/<repo>`: the upstream reference distr is given.
    pub fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host_port())
    }

    /// `user:pass` for skopeo's `--dest-creds`, when behind htpasswd.
    pub fn skopeo_creds(&self) -> Option<String> {
        self.basic.as_ref().map(|(u, p)| format!("{u}:{p}"))
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL the registry (an outage: no goodbye) and make sure its port
    /// refuses connections afterwards.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.port != 0 {
            let addr: SocketAddr = self.host_port().parse().unwrap();
            assert!(
                TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
                "port {} still accepts connections after the upstream registry was killed",
                self.port
            );
        }
    }

    /// The registry's log (its access log included).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.basic {
            Some((u, p)) => req.basic_auth(u, Some(p)),
            None => req,
        }
    }

    /// `skopeo copy --all --preserve-digests` the layout's tag to
    /// `<repo>:<tag>` upstream.
    pub fn push_layout(&self, skopeo: &Path, layout: &GeneratedLayout, repo: &str) {
        self.push_layout_as(skopeo, layout, repo, &layout.tag);
    }

    /// Like [`Self::push_layout`] under another tag (moves `tag` if it exists).
    pub fn push_layout_as(&self, skopeo: &Path, layout: &GeneratedLayout, repo: &str, tag: &str) {
        let mut cmd = skopeo_cmd(skopeo);
        cmd.args([
            "copy",
            "--all",
            "--preserve-digests",
            "--retry-times",
            "0",
            "--dest-tls-verify=false",
        ]);
        if let Some(creds) = self.skopeo_creds() {
            cmd.args(["--dest-creds", &creds]);
        } else {
            cmd.arg("--dest-no-creds");
        }
        cmd.arg(format!("oci:{}:{}", layout.dir.display(), layout.tag))
            .arg(format!("docker://{}/{repo}:{tag}", self.host_port()));
        run_ok(&mut cmd);
    }

    /// The digest `repo:tag` points at upstream (`None` when unknown).
    pub async fn manifest_digest(&self, repo: &str, tag: &str) -> Option<String> {
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.url());
        let resp = self
            .authed(self.client.head(&url).header("accept", MANIFEST_ACCEPT))
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD {url}: {e}"));
        match resp.status().as_u16() {
            200 => Some(
                resp.headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .expect("Docker-Content-Digest")
                    .to_owned(),
            ),
            404 => None,
            s => panic!("HEAD {url}: unexpected {s}"),
        }
    }

    /// The tags of `repo` upstream, sorted.
    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let url = format!("{}/v2/{repo}/tags/list", self.url());
        let resp = self
            .authed(self.client.get(&url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {url}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let mut tags: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Delete `repo:tag` upstream. Distribution 2.8 deletes manifests by
    /// digest only (every tag on that digest goes with it), so this resolves
    /// the tag first. Returns the deleted digest.
    pub async fn delete_tag(&self, repo: &str, tag: &str) -> String {
        let digest = self
            .manifest_digest(repo, tag)
            .await
            .unwrap_or_else(|| panic!("upstream has no {repo}:{tag} to delete"));
        let url = format!("{}/v2/{repo}/manifests/{digest}", self.url());
        let resp = self
            .authed(self.client.delete(&url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, 202, "DELETE {url}: {text}");
        assert!(
            !self.tags(repo).await.contains(&tag.to_owned()),
            "upstream still lists {tag} after deleting {digest}"
        );
        digest
    }
}

impl Drop for UpstreamRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let start = log.len().saturating_sub(8192);
            let start = (start..log.len())
                .find(|i| log.is_char_boundary(*i))
                .unwrap_or(log.len());
            eprintln!(
                "--- upstream registry log (127.0.0.1:{}) ---\n{}",
                self.port,
                &log[start..]
            );
        }
    }
}

// ---------------------------------------------------------------------------
// the Bearer token proxy
// ---------------------------------------------------------------------------

/// What a [`BearerProxy`] saw.
#[derive(Default, Debug)]
pub struct ProxyStats {
    /// Tokens issued at `/token` (good Basic credentials).
    pub token_fetches: AtomicUsize,
    /// `/token` requests refused (missing or wrong Basic credentials).
    pub token_refusals: AtomicUsize,
    /// Registry requests answered 401 with a Bearer challenge.
    pub challenges: AtomicUsize,
    /// Registry requests with a valid token, forwarded upstream.
    pub forwarded: AtomicUsize,
}

impl ProxyStats {
    pub fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }
}

/// A Bearer-token front for a registry: every `/v2/...` request needs
/// `Authorization: Bearer <token>` with a token from `GET /token`, which
/// wants HTTP Basic `user:pass`. Others get 401 with
/// `WWW-Authenticate: Bearer realm="http://<proxy>/token",service=...,scope=...`.
pub struct BearerProxy {
    addr: SocketAddr,
    pub stats: Arc<ProxyStats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The service name in the proxy's challenges.
pub const PROXY_SERVICE: &str = "distr-e2e-token-proxy";

struct ProxyState {
    upstream: String,
    own_url: String,
    basic: String,
    stats: Arc<ProxyStats>,
    client: Client<HttpConnector, Full<Bytes>>,
    tokens: Mutex<Vec<(String, Instant)>>,
}

impl BearerProxy {
    /// Front `upstream_host_port` (plain HTTP), issuing tokens for `user`/`pass`.
    pub fn start(upstream_host_port: &str, user: &str, pass: &str) -> BearerProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ProxyStats::default());
        let state = Arc::new(ProxyState {
            upstream: format!("http://{upstream_host_port}"),
            own_url: format!("http://{addr}"),
            basic: basic_header(user, pass),
            stats: stats.clone(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            tokens: Mutex::new(Vec::new()),
        });
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bearer-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    loop {
                        tokio::select! {
                            _ = &mut rx => break,
                            accepted = listener.accept() => {
                                let Ok((stream, _)) = accepted else { continue };
                                let state = state.clone();
                                tokio::spawn(async move {
                                    let svc = hyper::service::service_fn(move |req| {
                                        let state = state.clone();
                                        async move {
                                            Ok::<_, std::convert::Infallible>(state.handle(req).await)
                                        }
                                    });
                                    let _ = hyper::server::conn::http1::Builder::new()
                                        .serve_connection(TokioIo::new(stream), svc)
                                        .await;
                                });
                            }
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("spawn proxy thread");
        BearerProxy {
            addr,
            stats,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `127.0.0.1:PORT/<repo>`
    pub fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }
}

impl Drop for BearerProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reply(
    status: StatusCode,
    headers: &[(&str, String)],
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::builder().status(status);
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    r.body(Full::new(body.into())).unwrap()
}

/// The repository a `/v2/<name>/{manifests,blobs,tags}/...` path names.
fn repository_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| rest.rfind(m).map(|i| &rest[..i]))
        .max_by_key(|name| name.len())
}

impl ProxyState {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().map(str::to_owned);
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if path == "/token" {
            if auth != self.basic {
                self.stats.token_refusals.fetch_add(1, Ordering::SeqCst);
                return reply(
                    StatusCode::UNAUTHORIZED,
                    &[
                        ("content-type", "application/json".into()),
                        ("www-authenticate", "Basic realm=\"token\"".into()),
                    ],
                    r#"{"details":"incorrect username or password"}"#,
                );
            }
            let n = self.stats.token_fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let token = format!(
                "e2e-{n}-{}",
                sha256_hex(format!("{n}{:?}", Instant::now()).as_bytes())
            );
            self.tokens
                .lock()
                .unwrap()
                .push((token.clone(), Instant::now() + Duration::from_secs(300)));
            let body = json!({"token": token, "access_token": token, "expires_in": 300});
            return reply(
                StatusCode::OK,
                &[("content-type", "application/json".into())],
                body.to_string(),
            );
        }
        let valid = auth.strip_prefix("Bearer ").is_some_and(|t| {
            self.tokens
                .lock()
                .unwrap()
                .iter()
                .any(|(tok, exp)| tok == t && Instant::now() < *exp)
        });
        if !valid {
            self.stats.challenges.fetch_add(1, Ordering::SeqCst);
            let mut challenge = format!(
                r#"Bearer realm="{}/token",service="{PROXY_SERVICE}""#,
                self.own_url
            );
            if let Some(repo) = repository_of(&path) {
                challenge.push_str(&format!(r#",scope="repository:{repo}:pull""#));
            }
            return reply(
                StatusCode::UNAUTHORIZED,
                &[
                    ("www-authenticate", challenge),
                    ("content-type", "application/json".into()),
                ],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#,
            );
        }
        self.stats.forwarded.fetch_add(1, Ordering::SeqCst);
        let uri = match &query {
            Some(q) => format!("{}{path}?{q}", self.upstream),
            None => format!("{}{path}", self.upstream),
        };
        let mut fwd = Request::builder().method(req.method().clone()).uri(uri);
        for name in ["accept", "range", "content-type", "if-none-match"] {
            for v in req.headers().get_all(name) {
                fwd = fwd.header(name, v.clone());
            }
        }
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return reply(StatusCode::BAD_REQUEST, &[], e.to_string()),
        };
        let resp = match self
            .client
            .request(fwd.body(Full::new(body)).unwrap())
            .await
        {
            Ok(r) => r,
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
        };
        let (mut parts, body) = resp.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return reply(StatusCode::BAD_GATEWAY, &[], e.to_string()),
        };
        for hop in ["connection", "keep-alive", "transfer-encoding"] {
            parts.headers.remove(hop);
        }
        Response::from_parts(parts, Full::new(body))
    }
}

// ---------------------------------------------------------------------------
// content
// ---------------------------------------------------------------------------

fn put_blob(dir: &Path, blobs: &mut BTreeMap<String, Vec<u8>>, data: Vec<u8>) -> String {
    let hex = sha256_hex(&data);
    fs::write(dir.join("blobs/sha256").join(&hex), &data).expect("write blob");
    let digest = format!("sha256:{hex}");
    blobs.insert(digest.clone(), data);
    digest
}

/// Write an OCI image layout at `dir` holding one plain (single-platform)
/// image manifest tagged `tag`: a config and one gzip'd tar layer, unique per
/// `seed`. In the returned [`GeneratedLayout`], `index`/`index_digest` are the
/// manifest's bytes and digest (what the tag points at) and `platforms` has
/// the one image.
pub fn generate_single_layout(dir: &Path, tag: &str, seed: u64) -> GeneratedLayout {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut blobs = BTreeMap::new();
    let (layer, diff_id) = make_layer(&[
        (
            format!("opt/single-{seed}.bin"),
            pseudo_random_bytes(5_000 + seed, 48 * 1024),
        ),
        ("etc/tag".to_string(), format!("{tag}\n").into_bytes()),
    ]);
    let layer_len = layer.len();
    let layer_digest = put_blob(dir, &mut blobs, layer);
    let config = image_config("amd64", "linux", &[diff_id]);
    let config_len = config.len();
    let config_digest = put_blob(dir, &mut blobs, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_len},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_len}],
        "annotations": {"org.example.seed": seed.to_string(), "org.opencontainers.image.version": tag}
    }))
    .unwrap();
    let manifest_len = manifest.len();
    let manifest_digest = put_blob(dir, &mut blobs, manifest.clone());
    let layout_index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_len,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    }))
    .unwrap();
    fs::write(dir.join("index.json"), layout_index).unwrap();
    GeneratedLayout {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        index: manifest,
        index_digest: manifest_digest.clone(),
        platforms: vec![PlatformImage {
            os: "linux".into(),
            arch: "amd64".into(),
            manifest_digest,
            config_digest,
            layer_digests: vec![layer_digest],
        }],
        blobs,
    }
}

/// The pulled layout at `out` holds exactly what `generated` holds: the tag
/// points at the same digest with the same bytes (index or manifest), every
/// child manifest, config and layer is there byte for byte, and there is no
/// other blob.
#[track_caller]
pub fn verify_pulled_layout(out: &Path, generated: &GeneratedLayout, what: &str) {
    let (digest, bytes) = read_layout_ref(out, &generated.tag);
    assert_eq!(
        digest, generated.index_digest,
        "{what}: digest the tag points at"
    );
    assert_eq!(bytes, generated.index, "{what}: top-level manifest bytes");
    let top: Value = serde_json::from_slice(&bytes).unwrap();
    if top["mediaType"] == OCI_INDEX {
        let listed: BTreeSet<&str> = top["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = generated
            .platforms
            .iter()
            .map(|p| p.manifest_digest.as_str())
            .collect();
        assert_eq!(listed, want, "{what}: child manifests of the index");
        assert!(listed.len() >= 2, "{what}: a multi-platform index");
    }
    for p in &generated.platforms {
        let m: Value = serde_json::from_slice(&read_layout_blob(out, &p.manifest_digest)).unwrap();
        assert_eq!(
            m["config"]["digest"],
            p.config_digest.as_str(),
            "{what}: {} config",
            p.arch
        );
        let layers: Vec<&str> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = p.layer_digests.iter().map(String::as_str).collect();
        assert_eq!(layers, want, "{what}: {} layers", p.arch);
    }
    for (digest, bytes) in &generated.blobs {
        assert_eq!(
            &read_layout_blob(out, digest),
            bytes,
            "{what}: blob {digest}"
        );
    }
    let on_disk: BTreeSet<String> = fs::read_dir(out.join("blobs/sha256"))
        .unwrap_or_else(|e| panic!("{what}: read {}/blobs/sha256: {e}", out.display()))
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    let want: BTreeSet<String> = generated.blobs.keys().cloned().collect();
    assert_eq!(on_disk, want, "{what}: the set of pulled blobs");
}

// ---------------------------------------------------------------------------
// a distr-server with extra environment
// ---------------------------------------------------------------------------

/// A `distr-server` (fresh data dir, [`super::TEST_ORG`] bootstrapped with
/// [`super::TEST_TOKEN`]) started with extra environment variables, which
/// [`super::Server`] does not take: e.g. `DISTR_UPSTREAM_SYNC_CRON`.
/// SIGTERM on drop (SIGKILL after 30 s); the log is printed if the test
/// panicked.
pub struct DistrProcess {
    child: Option<Child>,
    addr: String,
    log_path: PathBuf,
    _data: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

impl DistrProcess {
    pub fn start(env: &[(&str, &str)]) -> DistrProcess {
        let data = tempfile::Builder::new()
            .prefix("distr-e2e-data-")
            .tempdir()
            .unwrap();
        let logs = tempfile::Builder::new()
            .prefix("distr-e2e-log-")
            .tempdir()
            .unwrap();
        let log_path = logs.path().join("server.log");
        let log = fs::File::create(&log_path).unwrap();
        let mut cmd = super::server_command();
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data.path())
            .env("DISTR_BOOTSTRAP_ORG", super::TEST_ORG)
            .env("DISTR_BOOTSTRAP_TOKEN", super::TEST_TOKEN);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn distr-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::{BufRead, Read};
            let mut reader = std::io::BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let mut proc = DistrProcess {
            child: Some(child),
            addr: String::new(),
            log_path,
            _data: data,
            _logs: logs,
        };
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        match line.trim().strip_prefix("listening on ") {
            Some(addr) => proc.addr = addr.to_owned(),
            None => panic!(
                "distr-server (env {env:?}) did not announce `listening on <addr>` (got {line:?})\n\
                 --- log ---\n{}",
                proc.log()
            ),
        }
        proc
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.clone()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Raw registry client with the vendor admin token.
    pub fn registry(&self) -> super::Registry {
        super::Registry::with_token(&self.base_url(), super::TEST_TOKEN)
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }
}

impl Drop for DistrProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = log
                .chars()
                .rev()
                .take(8192)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!("--- distr-server log ({}) ---\n{tail}", self.addr);
        }
    }
}
