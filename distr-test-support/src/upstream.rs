//! Real registries and cloud look-alikes on loopback ports.
//!
//! * [`UpstreamRegistry`]: Debian's CNCF Distribution 2.8
//!   (`/usr/bin/docker-registry`, package `docker-registry`) on a free
//!   loopback port with its own config and storage (deletes enabled),
//!   optionally behind htpasswd Basic auth (`htpasswd -Bbn`, package
//!   `apache2-utils`). SIGKILLed on [`UpstreamRegistry::kill`] or drop; its
//!   temp dir goes with it.
//! * [`Moto`]: `moto_server` (an S3 and ECR look-alike, `pip install
//!   "moto[server]"`) on a free loopback port, killed on drop; it creates
//!   buckets and lists their keys over plain HTTP.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use distr_core::upstream::EgressPolicy;
use serde_json::Value;

use crate::media::MANIFEST_ACCEPT;
use crate::net::{free_port, http10};
use crate::tools::{
    htpasswd_line, moto_server_path, require_registry_bin, run_ok, skopeo_cmd, REGISTRY_BIN,
};
use crate::GeneratedLayout;

/// The egress policy of in-process upstream clients under test: loopback
/// (where every test registry listens) listed, as the server's harness does
/// with `DISTR_UPSTREAM_ALLOW=127.0.0.1`.
pub fn loopback_egress() -> std::sync::Arc<EgressPolicy> {
    std::sync::Arc::new(
        EgressPolicy::parse(crate::process::LOOPBACK_UPSTREAMS).expect("a valid allow-list"),
    )
}

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const MOTO_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

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
        let bin = require_registry_bin();
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
            let child = Command::new(bin)
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
// moto (S3, ECR)
// ---------------------------------------------------------------------------

/// Percent-encodes a query parameter value.
fn query_escape(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The texts of every `<tag>…</tag>` element of `xml`, XML entities decoded.
fn xml_elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    out
}

/// A running `moto_server` (an S3 look-alike) on a loopback port.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
    _log_tmp: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it
    /// answers HTTP (`GET /moto-api/`). Fails loudly (never skips) when it cannot be run.
    pub fn start() -> Moto {
        Self::start_with_env(&[])
    }

    /// [`Moto::start`] with extra environment for `moto_server` (e.g.
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`: check every request's signature).
    pub fn start_with_env(env: &[(&str, &str)]) -> Moto {
        let bin = moto_server_path();
        let log_tmp = tempfile::Builder::new()
            .prefix("distr-e2e-moto-")
            .tempdir()
            .expect("create moto temp dir");
        let log_path = log_tmp.path().join("moto.log");
        let mut last_error = String::new();
        // A port found free may be taken before moto binds it: retry.
        for attempt in 1..=3 {
            let port = free_port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let log = fs::File::create(&log_path).expect("create moto log");
            let spawned = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(log_tmp.path())
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().expect("clone moto log")))
                .stderr(Stdio::from(log))
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot run moto_server ({}): {e}\n\
                     This test needs moto's S3 server: `pip install \"moto[server]\"` (or set \
                     DISTR_TEST_MOTO_SERVER to its moto_server executable, or install it in \
                     target/e2e-venv). This test never skips.",
                    bin.display()
                ),
            };
            let deadline = Instant::now() + MOTO_STARTUP_TIMEOUT;
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!(
                        "attempt {attempt}: moto_server exited with {status}:\n{}",
                        fs::read_to_string(&log_path).unwrap_or_default()
                    );
                    break;
                }
                // moto's own dashboard answers whatever the auth settings
                // (with signatures checked, `GET /` is refused).
                if let Ok((status, _)) = http10(addr, "GET", "/moto-api/") {
                    if status < 500 {
                        return Moto {
                            child,
                            addr,
                            log_path,
                            _log_tmp: log_tmp,
                        };
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!(
                        "attempt {attempt}: moto_server did not answer on {addr} within \
                         {MOTO_STARTUP_TIMEOUT:?}:\n{}",
                        fs::read_to_string(&log_path).unwrap_or_default()
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("cannot start {}: {last_error}", bin.display())
    }

    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates `bucket` with a plain `PUT /<bucket>` (moto accepts it
    /// unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http10(self.addr, "PUT", &format!("/{bucket}"))
            .unwrap_or_else(|e| panic!("PUT /{bucket} on moto: {e}"));
        assert_eq!(
            status,
            200,
            "creating bucket {bucket} on moto: PUT /{bucket} → {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Every key in `bucket` (ListObjectsV2, all pages), sorted.
    pub fn list_keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let mut path = format!("/{bucket}?list-type=2");
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", query_escape(t)));
            }
            let (status, body) = http10(self.addr, "GET", &path)
                .unwrap_or_else(|e| panic!("GET {path} on moto: {e}"));
            let text = String::from_utf8_lossy(&body).into_owned();
            assert_eq!(status, 200, "GET {path} on moto → {status}: {text}");
            keys.extend(xml_elements(&text, "Key"));
            let truncated = xml_elements(&text, "IsTruncated")
                .first()
                .is_some_and(|t| t == "true");
            if !truncated {
                keys.sort();
                return keys;
            }
            token = Some(
                xml_elements(&text, "NextContinuationToken")
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| panic!("truncated listing without a token: {text}")),
            );
        }
        panic!("listing bucket {bucket} did not end after 1000 pages")
    }

    /// moto's own log (requests it served).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
