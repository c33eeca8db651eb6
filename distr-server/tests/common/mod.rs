//! Shared harness for the end-to-end tests of `distr-server`.
//!
//! * [`Server`] starts the real binary on `127.0.0.1:0` with a fresh data
//!   directory, learns the port from its `listening on <addr>` line, and stops
//!   it with SIGTERM (checking the exit status) on [`Server::stop`] or `Drop`.
//!   Access control is always on: by default the server bootstraps the vendor
//!   organisation [`TEST_ORG`] with the fixed vendor admin token
//!   [`TEST_TOKEN`] (`DISTR_BOOTSTRAP_ORG` / `DISTR_BOOTSTRAP_TOKEN`), which
//!   [`Server::registry`], [`Server::creds`] (skopeo) and [`raw_http_put`] use.
//!   [`Server::admin`] runs `distr-server admin …` on the same data dir.
//! * [`Registry`] is a small raw-HTTP client (reqwest) with helpers for the
//!   OCI Distribution endpoints, sending a token as HTTP Basic credentials.
//! * [`generate_multiarch_layout`] writes an OCI image layout with a real
//!   multi-arch image (index + linux/amd64 + linux/arm64, gzip'd tar layers).
//! * [`require_skopeo`] / [`require_python_with_oras`] locate the external
//!   tools and fail loudly (never skip) when they are missing.
#![allow(dead_code)]

pub mod faults;
pub mod fleet;
pub mod hardening;
pub mod upstream;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256, Sha512};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Accept header listing every manifest type we push.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// The vendor organisation every test server bootstraps (unless told otherwise).
pub const TEST_ORG: &str = "acme";
/// The vendor admin token of [`TEST_ORG`] (`DISTR_BOOTSTRAP_TOKEN`).
pub const TEST_TOKEN: &str = "distr_e2e0000000000000000000000000000000000000000000000000000000000";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(45); // server drains for up to 30 s

// ---------------------------------------------------------------------------
// paths and digests
// ---------------------------------------------------------------------------

/// The Cargo workspace root (parent of the `distr-server` package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("distr-server/ has a parent")
        .to_path_buf()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// `sha512:<hex>` of `data`.
pub fn sha512_digest(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

/// Deterministic pseudo-random bytes (xorshift), so blobs differ per test.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------
// the server process
// ---------------------------------------------------------------------------

/// How a test server bootstraps its tenancy model.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `DISTR_BOOTSTRAP_ORG`.
    pub bootstrap_org: String,
    /// `DISTR_BOOTSTRAP_TOKEN`; `None` lets the server generate (and print) one.
    pub bootstrap_token: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bootstrap_org: TEST_ORG.to_string(),
            bootstrap_token: Some(TEST_TOKEN.to_string()),
        }
    }
}

/// Every environment variable `distr-server` reads configuration from.
const DISTR_ENV: &[&str] = &[
    "DISTR_LISTEN",
    "DISTR_DATA_DIR",
    "DISTR_CONFIG",
    "DISTR_BLOB_STORE",
    "DISTR_MAX_MANIFEST_SIZE",
    "DISTR_BOOTSTRAP_ORG",
    "DISTR_BOOTSTRAP_TOKEN",
    "DISTR_BLOB_BUCKET",
    "DISTR_BLOB_PREFIX",
    "DISTR_S3_ENDPOINT",
    "DISTR_ECR_ENDPOINT",
    "DISTR_SECRET_KEY",
    "DISTR_SECRET_KEY_FILE",
    "DISTR_PREVIOUS_SECRET_KEYS",
    "DISTR_INSECURE_NO_AUTH",
    "DATABASE_URL",
    "DISTR_METRICS_LISTEN",
    "DISTR_ANALYTICS",
    "DISTR_ANALYTICS_WRITER_PRIORITY",
    "DISTR_TRUSTED_PROXIES",
    "DISTR_UPSTREAM_TIMEOUT_SECS",
    "DISTR_MAX_BLOB_SIZE",
    "DISTR_MAX_HEADER_BYTES",
    "DISTR_HEADER_READ_TIMEOUT_SECS",
    "DISTR_BODY_IDLE_TIMEOUT_SECS",
    "DISTR_MAX_UPLOADS_PER_TOKEN",
    "DISTR_RATE_LIMIT_PER_TOKEN",
    "DISTR_RATE_LIMIT_PER_TOKEN_BURST",
    "DISTR_RATE_LIMIT_PER_IP",
    "DISTR_RATE_LIMIT_PER_IP_BURST",
    "DISTR_UPSTREAM_MAX_CONNECTIONS",
];

/// A `distr-server` command with no configuration inherited from the
/// environment (only what the caller adds applies).
pub fn server_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_distr-server"));
    for var in DISTR_ENV {
        cmd.env_remove(var);
    }
    // No scheduled syncs unless a test asks for them.
    cmd.env("DISTR_UPSTREAM_SYNC_CRON", "");
    cmd.env(
        "DISTR_LOG",
        std::env::var("DISTR_LOG").unwrap_or_else(|_| "info".into()),
    )
    .env("RUST_BACKTRACE", "1");
    cmd
}

/// A running `distr-server` child process with its own temporary data dir.
pub struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    data_dir: PathBuf,
    log_path: PathBuf,
    starts: u32,
    options: ServerOptions,
    /// Everything the server wrote to stdout after its first line.
    extra_stdout: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    // Keep the temp dirs alive for the server's lifetime (dropped last).
    _data_tmp: Option<tempfile::TempDir>,
    _log_tmp: tempfile::TempDir,
}

impl Server {
    /// Start a server on a fresh, empty temporary data directory, bootstrapping
    /// [`TEST_ORG`] with [`TEST_TOKEN`].
    pub fn start() -> Server {
        Self::start_with(ServerOptions::default())
    }

    /// Start a server on a fresh, empty temporary data directory.
    pub fn start_with(options: ServerOptions) -> Server {
        let data_tmp = tempfile::Builder::new()
            .prefix("distr-e2e-data-")
            .tempdir()
            .expect("create temp data dir");
        let data_dir = data_tmp.path().to_path_buf();
        Self::start_inner(data_dir, Some(data_tmp), options)
    }

    /// Start a server on an existing data directory (not removed on drop).
    pub fn start_with_data_dir(data_dir: &Path) -> Server {
        Self::start_inner(data_dir.to_path_buf(), None, ServerOptions::default())
    }

    fn start_inner(
        data_dir: PathBuf,
        data_tmp: Option<tempfile::TempDir>,
        options: ServerOptions,
    ) -> Server {
        let log_tmp = tempfile::Builder::new()
            .prefix("distr-e2e-log-")
            .tempdir()
            .expect("create temp log dir");
        let log_path = log_tmp.path().join("server.log");
        let mut server = Server {
            child: None,
            addr: "127.0.0.1:0".parse().unwrap(),
            data_dir,
            log_path,
            starts: 0,
            options,
            extra_stdout: Default::default(),
            _data_tmp: data_tmp,
            _log_tmp: log_tmp,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open server log");
        writeln!(&log, "===== start #{} =====", self.starts).ok();
        let bin = env!("CARGO_BIN_EXE_distr-server");
        // Only the flags and variables set here configure the server: DISTR_*
        // settings inherited from the environment are dropped.
        let mut cmd = server_command();
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("DISTR_BOOTSTRAP_ORG", &self.options.bootstrap_org);
        if let Some(token) = &self.options.bootstrap_token {
            cmd.env("DISTR_BOOTSTRAP_TOKEN", token);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {bin}: {e}"));

        // Read the first stdout line on a helper thread; keep draining stdout
        // afterwards so the server never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
        let extra = self.extra_stdout.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let res = reader.read_line(&mut first).map(|_| first);
            let _ = tx.send(res);
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                extra.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(line)) if !line.is_empty() => break line,
                Ok(Ok(_)) => {
                    let status = child.wait().ok();
                    panic!(
                        "distr-server exited (status {status:?}) without printing \
                         `listening on <addr>` on stdout.\n--- server log ---\n{}",
                        self.log_tail()
                    );
                }
                Ok(Err(e)) => panic!("reading distr-server stdout: {e}"),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "distr-server exited early with {status} before printing \
                             `listening on <addr>`.\n--- server log ---\n{}",
                            self.log_tail()
                        );
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "distr-server did not print `listening on <addr>` within {:?}.\n\
                             --- server log ---\n{}",
                            STARTUP_TIMEOUT,
                            self.log_tail()
                        );
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("stdout reader thread died")
                }
            }
        };
        let line = line.trim_end();
        let addr_text = line.strip_prefix("listening on ").unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "first stdout line of distr-server must be `listening on <ip>:<port>`, got {line:?}"
            )
        });
        self.addr = addr_text.trim().parse().unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cannot parse address in {line:?}: {e}")
        });
        assert_ne!(self.addr.port(), 0, "server reported port 0: {line:?}");
        self.child = Some(child);
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// Raw-HTTP client bound to this server, authenticated with the bootstrap
    /// token (the vendor admin of [`TEST_ORG`] by default).
    pub fn registry(&self) -> Registry {
        Registry::with_token(
            &self.base_url(),
            self.options
                .bootstrap_token
                .as_deref()
                .expect("this server generated its token: use registry_as"),
        )
    }

    /// Raw-HTTP client bound to this server, sending `token` (or nothing).
    pub fn registry_as(&self, token: Option<&str>) -> Registry {
        match token {
            Some(t) => Registry::with_token(&self.base_url(), t),
            None => Registry::new(&self.base_url()),
        }
    }

    /// `anyone:<bootstrap token>`, for skopeo's `--creds`/`--src-creds`/`--dest-creds`.
    pub fn creds(&self) -> String {
        creds(
            self.options
                .bootstrap_token
                .as_deref()
                .expect("this server generated its token"),
        )
    }

    /// What the server wrote to stdout after its `listening on` line (it
    /// should be nothing); complete once the server has stopped.
    pub fn extra_stdout(&self) -> String {
        String::from_utf8_lossy(&self.extra_stdout.lock().unwrap()).into_owned()
    }

    /// The whole stderr log of every start so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// Run `distr-server admin <args>` on this server's data dir (the server
    /// may be running) and return its output, whatever the exit status.
    pub fn admin_output(&self, args: &[&str]) -> Output {
        let mut cmd = server_command();
        cmd.env("DISTR_LOG", "warn")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("admin")
            .args(args)
            .stdin(Stdio::null());
        cmd.output()
            .unwrap_or_else(|e| panic!("failed to run distr-server admin {args:?}: {e}"))
    }

    /// Run `distr-server admin <args>`, require success, return stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = self.admin_output(args);
        assert!(
            out.status.success(),
            "distr-server admin {args:?} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("admin stdout is UTF-8")
    }

    /// `distr-server admin --json <args>`, parsed.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.admin(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("admin {args:?}: stdout is not JSON ({e}): {text}"))
    }

    /// SIGTERM the server and require a graceful exit with status 0.
    pub fn stop(&mut self) {
        let status = self.terminate().expect("server was not running");
        assert!(
            status.success(),
            "distr-server must exit 0 after SIGTERM, got {status}.\n--- server log ---\n{}",
            self.log_tail()
        );
    }

    /// Stop (SIGTERM, expecting exit 0) and start again on the same data dir.
    /// The port usually changes; use `base_url()` / `registry()` afresh.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Start again (after [`Server::stop`]) with other bootstrap settings.
    pub fn restart_with(&mut self, options: ServerOptions) {
        if self.child.is_some() {
            self.stop();
        }
        self.options = options;
        self.spawn();
    }

    /// SIGKILL the server (no chance to clean up), then start it again on
    /// the same data dir.
    pub fn crash_and_restart(&mut self) {
        let mut child = self.child.take().expect("server was not running");
        child.kill().expect("SIGKILL distr-server");
        let _ = child.wait();
        self.spawn();
    }

    /// Send SIGTERM, wait up to SHUTDOWN_TIMEOUT, SIGKILL if still alive.
    fn terminate(&mut self) -> Option<ExitStatus> {
        terminate_child(self.child.take()?, "distr-server")
    }

    /// The last ~8 KiB of the server's stderr log.
    pub fn log_tail(&self) -> String {
        let text = fs::read(&self.log_path).unwrap_or_default();
        let start = text.len().saturating_sub(8192);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let status = self.terminate();
        if std::thread::panicking() {
            eprintln!(
                "--- distr-server log ({}; exit {:?}) ---\n{}",
                self.log_path.display(),
                status,
                self.log_tail()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// raw HTTP client
// ---------------------------------------------------------------------------

/// Thin wrapper around a reqwest client for the OCI Distribution API.
#[derive(Clone)]
pub struct Registry {
    pub base: String,
    pub client: reqwest::Client,
}

/// A pushed single-platform image.
#[derive(Clone, Debug)]
pub struct PushedImage {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config_digest: String,
    pub config_size: usize,
    pub layer: Vec<u8>,
    pub layer_digest: String,
}

impl Registry {
    /// A client that sends no credentials.
    pub fn new(base: &str) -> Registry {
        Self::build(base, reqwest::header::HeaderMap::new())
    }

    /// A client that sends `token` as the password of HTTP Basic credentials
    /// on every request (as `docker login` / `skopeo --creds` do).
    pub fn with_token(base: &str, token: &str) -> Registry {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(&basic_auth(token))
            .expect("token is a valid header value");
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Self::build(base, headers)
    }

    fn build(base: &str, headers: reqwest::header::HeaderMap) -> Registry {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .build()
            .expect("build reqwest client");
        Registry {
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// Absolute URL for a path (`/v2/...`) or an absolute/relative `Location`.
    pub fn url(&self, path_or_location: &str) -> String {
        if path_or_location.starts_with("http://") || path_or_location.starts_with("https://") {
            path_or_location.to_string()
        } else if path_or_location.starts_with('/') {
            format!("{}{}", self.base, path_or_location)
        } else {
            format!("{}/{}", self.base, path_or_location)
        }
    }

    /// Start an upload session; returns the absolute Location URL.
    pub async fn start_upload(&self, repo: &str) -> String {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self.client.post(&url).send().await.expect("POST upload");
        let status = resp.status().as_u16();
        let loc = header(&resp, "location");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, 202,
            "POST {url}: expected 202, got {status}; body {body}"
        );
        let loc = loc.unwrap_or_else(|| panic!("POST {url}: 202 without Location header"));
        self.url(&loc)
    }

    /// Upload a blob with POST + PUT?digest= (the "monolithic, two-step" flow).
    pub async fn push_blob_with_digest(&self, repo: &str, data: &[u8], digest: &str) {
        let loc = self.start_upload(repo).await;
        let url = with_query(&loc, "digest", digest);
        let resp = self
            .client
            .put(&url)
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .expect("PUT blob");
        let status = resp.status().as_u16();
        let got_digest = header(&resp, "docker-content-digest");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status, 201,
            "PUT {url}: expected 201, got {status}; body {body}"
        );
        assert_eq!(
            got_digest.as_deref(),
            Some(digest),
            "PUT {url}: Docker-Content-Digest header"
        );
    }

    /// Upload a blob (sha256) and return its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        self.push_blob_with_digest(repo, data, &digest).await;
        digest
    }

    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.client
            .put(&url)
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("PUT manifest")
    }

    /// PUT a manifest and require 201 with the right Docker-Content-Digest.
    pub async fn put_manifest_ok(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let resp = self.put_manifest(repo, reference, media_type, body).await;
        let status = resp.status().as_u16();
        if status != 201 {
            let text = resp.text().await.unwrap_or_default();
            panic!("PUT /v2/{repo}/manifests/{reference}: expected 201, got {status}; body {text}");
        }
        assert_eq!(
            header(&resp, "docker-content-digest").as_deref(),
            Some(sha256_digest(body).as_str()),
            "PUT /v2/{repo}/manifests/{reference}: Docker-Content-Digest"
        );
        assert!(
            header(&resp, "location").is_some(),
            "PUT /v2/{repo}/manifests/{reference}: 201 without Location"
        );
        resp
    }

    /// GET a manifest (with a broad Accept header).
    pub async fn get_manifest(&self, repo: &str, reference: &str) -> reqwest::Response {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        self.client
            .get(&url)
            .header("accept", MANIFEST_ACCEPT)
            .send()
            .await
            .expect("GET manifest")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = self.url(path);
        self.client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        let url = self.url(path);
        self.client
            .head(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("HEAD {url}: {e}"))
    }

    /// GET a blob and return its bytes (requires 200).
    pub async fn get_blob(&self, repo: &str, digest: &str) -> Vec<u8> {
        let path = format!("/v2/{repo}/blobs/{digest}");
        let resp = self.get(&path).await;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.expect("blob body").to_vec();
        assert_eq!(
            status,
            200,
            "GET {path}: expected 200, got {status}; body {}",
            String::from_utf8_lossy(&body)
        );
        body
    }

    /// Push a small single-platform image (config + one gzip'd tar layer)
    /// under `reference` (a tag). `seed` makes the content unique.
    pub async fn push_image(&self, repo: &str, reference: &str, seed: u64) -> PushedImage {
        let files = vec![(format!("data-{seed}.bin"), pseudo_random_bytes(seed, 2048))];
        let (layer, diff_id) = make_layer(&files);
        let config = image_config("amd64", "linux", &[diff_id]);
        let layer_digest = self.push_blob(repo, &layer).await;
        let config_digest = self.push_blob(repo, &config).await;
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer.len()}],
            "annotations": {"org.example.seed": seed.to_string()}
        }))
        .unwrap();
        let resp = self
            .put_manifest_ok(repo, reference, OCI_MANIFEST, &manifest)
            .await;
        drop(resp);
        PushedImage {
            manifest_digest: sha256_digest(&manifest),
            manifest,
            config_digest,
            config_size: config.len(),
            layer,
            layer_digest,
        }
    }

    /// Follow `Link: <...>; rel="next"` from `first_path`, returning each
    /// page's parsed JSON body and the Link header it carried.
    pub async fn paginate(
        &self,
        first_path: &str,
        max_pages: usize,
    ) -> Vec<(Value, Option<String>)> {
        let mut pages = Vec::new();
        let mut next = Some(first_path.to_string());
        while let Some(path) = next.take() {
            assert!(
                pages.len() < max_pages,
                "pagination from {first_path} did not end after {max_pages} pages"
            );
            let resp = self.get(&path).await;
            let status = resp.status().as_u16();
            let link = header(&resp, "link");
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(
                status, 200,
                "GET {path}: expected 200, got {status}; body {text}"
            );
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("GET {path}: body is not JSON ({e}): {text}"));
            if let Some(link) = &link {
                next = Some(
                    parse_next_link(link)
                        .unwrap_or_else(|| panic!("GET {path}: malformed Link header {link:?}")),
                );
            }
            pages.push((value, link));
        }
        pages
    }
}

/// `Basic base64("anyone:<token>")`: any user name, the token as password.
pub fn basic_auth(token: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"))
    )
}

/// `anyone:<token>`, for skopeo's `--creds`, `--src-creds` and `--dest-creds`.
pub fn creds(token: &str) -> String {
    format!("anyone:{token}")
}

/// PUT `body` over a plain TCP socket (HTTP/1.1, `Connection: close`) and
/// return (status, response body). Unlike hyper-based clients it still reads
/// the response when the server answers early and stops reading the body.
/// Authenticates with [`TEST_TOKEN`].
pub fn raw_http_put(
    host_port: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    use std::net::TcpStream;
    let mut stream = TcpStream::connect(host_port).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: {content_type}\r\n\
         Authorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        basic_auth(TEST_TOKEN),
        body.len()
    );
    let mut writer = stream.try_clone().expect("clone socket");
    let payload = [head.as_bytes(), body].concat();
    let sender = std::thread::spawn(move || {
        // The server may close early; ignore write errors.
        let _ = writer.write_all(&payload);
        let _ = writer.flush();
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if response.is_empty() => panic!("PUT {path}: no response ({e})"),
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("PUT {path}: malformed response {text:?}"));
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(response.len());
    (status, response[body_start..].to_vec())
}

/// Header value as a String (None if absent or not UTF-8).
pub fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Append `key=value` to a URL that may already have a query.
pub fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// Extract the target of `<...>; rel="next"`.
pub fn parse_next_link(link: &str) -> Option<String> {
    let link = link.trim();
    let start = link.find('<')?;
    let end = link.find('>')?;
    let rest = &link[end + 1..];
    if !rest.contains("rel=\"next\"") && !rest.contains("rel=next") {
        return None;
    }
    Some(link[start + 1..end].to_string())
}

/// Assert an OCI error response: status, JSON `{"errors":[{code,message,..}]}`
/// and that one of the errors carries `code`. Returns the parsed body.
pub async fn expect_oci_error(
    resp: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> Value {
    let got_status = resp.status().as_u16();
    let content_type = header(&resp, "content-type");
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(
        got_status, status,
        "{what}: expected HTTP {status} ({code}), got {got_status}; body {text:?}"
    );
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("{what}: error body is not JSON ({e}); content-type {content_type:?}; body {text:?}")
    });
    let errors = value
        .get("errors")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{what}: error body lacks an `errors` array: {text}"));
    assert!(!errors.is_empty(), "{what}: empty `errors` array");
    for e in errors {
        assert!(
            e.get("code").and_then(Value::as_str).is_some(),
            "{what}: error without string `code`: {e}"
        );
        assert!(
            e.get("message").and_then(Value::as_str).is_some(),
            "{what}: error without string `message`: {e}"
        );
    }
    assert!(
        errors.iter().any(|e| e["code"] == code),
        "{what}: expected error code {code}, got {text}"
    );
    if let Some(ct) = content_type {
        assert!(
            ct.starts_with("application/json"),
            "{what}: error Content-Type is {ct:?}"
        );
    }
    value
}

// ---------------------------------------------------------------------------
// image content
// ---------------------------------------------------------------------------

/// Build a deterministic gzip'd tar of `files`; returns (tar.gz bytes,
/// diff_id = sha256 of the uncompressed tar).
pub fn make_layer(files: &[(String, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder
            .append_data(&mut h, name, data.as_slice())
            .expect("tar append");
    }
    let tar_bytes = builder.into_inner().expect("finish tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    let gz_bytes = gz.finish().unwrap();
    (gz_bytes, sha256_digest(&tar_bytes))
}

/// A minimal but valid OCI image config JSON.
pub fn image_config(arch: &str, os: &str, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": os,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/hello"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| json!({"created": "2024-01-01T00:00:00Z", "created_by": "distr e2e"})).collect::<Vec<_>>()
    }))
    .unwrap()
}

/// One platform of a generated multi-arch image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    pub os: String,
    pub arch: String,
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

/// What [`generate_multiarch_layout`] wrote.
#[derive(Clone, Debug)]
pub struct GeneratedLayout {
    pub dir: PathBuf,
    pub tag: String,
    pub index: Vec<u8>,
    pub index_digest: String,
    pub platforms: Vec<PlatformImage>,
    /// Every blob written (digest → bytes), index and manifests included.
    pub blobs: BTreeMap<String, Vec<u8>>,
}

fn write_blob(dir: &Path, blobs: &mut BTreeMap<String, Vec<u8>>, data: Vec<u8>) -> String {
    let hex = sha256_hex(&data);
    fs::write(dir.join("blobs/sha256").join(&hex), &data).expect("write blob");
    let digest = format!("sha256:{hex}");
    blobs.insert(digest.clone(), data);
    digest
}

/// Write an OCI image layout at `dir` holding a multi-arch image tagged
/// `tag`: an image index over linux/amd64 and linux/arm64 manifests, each
/// with a config and two gzip'd tar layers (one shared base layer, one
/// per-platform layer).
pub fn generate_multiarch_layout(dir: &Path, tag: &str) -> GeneratedLayout {
    generate_multiarch_layout_seeded(dir, tag, 0)
}

/// [`generate_multiarch_layout`] with different per-platform layers, configs,
/// manifests and index for each `seed` (the base layer is the same for all
/// seeds, like a base image shared by several versions). Seed 0 is exactly
/// what [`generate_multiarch_layout`] writes.
pub fn generate_multiarch_layout_seeded(dir: &Path, tag: &str, seed: u64) -> GeneratedLayout {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut blobs = BTreeMap::new();

    let (base_layer, base_diff) = make_layer(&[
        (
            "etc/os-release".to_string(),
            b"NAME=distr-e2e\nVERSION=1.0\n".to_vec(),
        ),
        (
            "usr/share/doc/README".to_string(),
            pseudo_random_bytes(1, 64 * 1024),
        ),
    ]);
    let base_digest = write_blob(dir, &mut blobs, base_layer.clone());

    let mut platforms = Vec::new();
    let mut index_manifests = Vec::new();
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let (layer, diff) = make_layer(&[
            (
                format!("bin/hello-{arch}"),
                pseudo_random_bytes(100 + i as u64 + seed * 1000, 96 * 1024),
            ),
            ("etc/arch".to_string(), format!("{arch}\n").into_bytes()),
        ]);
        let layer_len = layer.len();
        let layer_digest = write_blob(dir, &mut blobs, layer);
        let config = image_config(arch, "linux", &[base_diff.clone(), diff]);
        let config_len = config.len();
        let config_digest = write_blob(dir, &mut blobs, config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_len},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": base_digest, "size": base_layer.len()},
                {"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_len}
            ]
        }))
        .unwrap();
        let manifest_len = manifest.len();
        let manifest_digest = write_blob(dir, &mut blobs, manifest);
        index_manifests.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_len,
            "platform": {"architecture": arch, "os": "linux"}
        }));
        platforms.push(PlatformImage {
            os: "linux".into(),
            arch: arch.to_string(),
            manifest_digest,
            config_digest,
            layer_digests: vec![base_digest.clone(), layer_digest],
        });
    }

    let mut annotations = json!({"org.opencontainers.image.title": "distr e2e multi-arch"});
    if seed != 0 {
        annotations["org.opencontainers.image.version"] = json!(tag);
        annotations["org.example.seed"] = json!(seed.to_string());
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": index_manifests,
        "annotations": annotations
    }))
    .unwrap();
    let index_len = index.len();
    let index_digest = write_blob(dir, &mut blobs, index.clone());

    let layout_index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": index_digest,
            "size": index_len,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    }))
    .unwrap();
    fs::write(dir.join("index.json"), layout_index).unwrap();

    GeneratedLayout {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        index,
        index_digest,
        platforms,
        blobs,
    }
}

/// Read an OCI layout written by skopeo: find the descriptor tagged `tag` in
/// `index.json` and return (digest, bytes) of what it points to.
pub fn read_layout_ref(dir: &Path, tag: &str) -> (String, Vec<u8>) {
    let index: Value = serde_json::from_slice(
        &fs::read(dir.join("index.json"))
            .unwrap_or_else(|e| panic!("read {}/index.json: {e}", dir.display())),
    )
    .expect("index.json is JSON");
    let desc = index["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no ref {tag:?} in {}/index.json: {index}", dir.display()));
    let digest = desc["digest"].as_str().unwrap().to_string();
    (digest.clone(), read_layout_blob(dir, &digest))
}

/// Read a blob from an OCI layout and verify its content matches its name.
pub fn read_layout_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("digest has algorithm");
    let path = dir.join("blobs").join(alg).join(hex);
    let data = fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "blob {digest} missing from pulled layout ({}): {e}",
            path.display()
        )
    });
    assert_eq!(
        sha256_digest(&data),
        digest,
        "pulled blob {} content does not match its digest",
        path.display()
    );
    data
}

// ---------------------------------------------------------------------------
// external tools
// ---------------------------------------------------------------------------

/// Path of `skopeo`, or a loud failure explaining how to get it.
pub fn require_skopeo() -> PathBuf {
    let candidate = std::env::var_os("DISTR_TEST_SKOPEO")
        .map(PathBuf::from)
        .unwrap_or_else(|| "skopeo".into());
    match Command::new(&candidate).arg("--version").output() {
        Ok(out) if out.status.success() => candidate,
        other => panic!(
            "skopeo is required by this end-to-end test but `{} --version` failed ({:?}).\n\
             Run `scripts/test` (it installs skopeo via apt-get when run as root) or install \
             skopeo yourself (e.g. `apt-get install -y skopeo`). This test never skips.",
            candidate.display(),
            other.map(|o| o.status)
        ),
    }
}

/// A Python interpreter that can `import oras`: `$DISTR_TEST_PYTHON`, else
/// `<workspace>/target/e2e-venv/bin/python`. Fails loudly otherwise.
pub fn require_python_with_oras() -> PathBuf {
    let venv = workspace_root().join("target/e2e-venv/bin/python");
    let (python, source) = match std::env::var_os("DISTR_TEST_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "$DISTR_TEST_PYTHON"),
        _ => (venv.clone(), "default venv"),
    };
    let check = Command::new(&python)
        .args(["-c", "import oras, oras.client; print(oras.__version__ if hasattr(oras, '__version__') else 'ok')"])
        .output();
    match check {
        Ok(out) if out.status.success() => python,
        other => {
            let detail = match other {
                Ok(out) => format!(
                    "exit {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ),
                Err(e) => e.to_string(),
            };
            panic!(
                "A Python interpreter with the `oras` package (oras-py from PyPI) is required by \
                 this end-to-end test, but {} ({source}) cannot `import oras`: {detail}\n\
                 Run `scripts/test`, which creates {} with `pip install oras` and sets \
                 DISTR_TEST_PYTHON, or point DISTR_TEST_PYTHON at such an interpreter. This test \
                 never skips.",
                python.display(),
                venv.display()
            )
        }
    }
}

/// Run a command and require success; returns its output. Panics with the
/// full command line, stdout and stderr otherwise.
pub fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("failed to run {desc}: {e}"));
    if !out.status.success() {
        panic!(
            "command failed ({}): {desc}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// A `skopeo` command with an insecure (accept-anything) policy, so the
/// test does not depend on /etc/containers/policy.json.
pub fn skopeo_cmd(skopeo: &Path) -> Command {
    let mut cmd = Command::new(skopeo);
    cmd.arg("--insecure-policy");
    cmd
}

/// Sends SIGTERM to `child`, waits up to [`SHUTDOWN_TIMEOUT`] and SIGKILLs it
/// if it is still alive (saying so, with `what` naming it). The exit status,
/// a signal's when it had to be killed; `None` if it could not be waited for.
pub fn terminate_child(mut child: Child, what: &str) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                eprintln!("{what} did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM; killed");
                return child.wait().ok();
            }
        }
    }
}
