//! Helpers of the hardening tests (crash consistency, disk full, secrets at
//! rest):
//!
//! * [`Node`]: a `distr-server` process on a data directory the caller
//!   owns, with extra environment and an optional launcher prefix (e.g.
//!   `unshare -m sh -c …` to run it in its own mount namespace), which can
//!   be SIGKILLed ([`Node::kill9`]) or stopped gracefully ([`Node::stop`])
//!   and started again on the same data directory. Its stdout and stderr
//!   are kept whole in files, for inspection.
//! * [`scan_blob_dir`]: what lies under the data directory's `blobs/` and
//!   `uploads/`: committed blob files (named by their digest), staging files
//!   of writes in progress (`<name>#<digits>`, `object_store`'s local
//!   multipart files) and anything else.
//! * [`Db`]: read-only views of the SQLite database (manifests, tags,
//!   upload sessions, `PRAGMA integrity_check`), for checks the HTTP API
//!   cannot make (untagged manifests, orphaned sessions).
//! * [`find_bytes`]: byte search, for the secrets-at-rest test.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::{Registry, TEST_ORG, TEST_TOKEN};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// the server process
// ---------------------------------------------------------------------------

/// A `distr-server` on a caller-owned data directory ([`TEST_ORG`]
/// bootstrapped with [`TEST_TOKEN`]), restartable on the same directory.
/// SIGKILLed on drop if still running; its logs are printed when the test
/// is panicking.
pub struct Node {
    child: Option<Child>,
    addr: String,
    data_dir: PathBuf,
    env: Vec<(String, String)>,
    launcher: Vec<OsString>,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    starts: u32,
    _logs: tempfile::TempDir,
}

impl Node {
    /// Start `distr-server --listen 127.0.0.1:0 --data-dir <data_dir>` with
    /// `env` added to the clean environment of [`super::server_command`].
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Node {
        Self::start_with_launcher(data_dir, env, &[])
    }

    /// Like [`Node::start`], but runs `launcher… <distr-server> <args…>`:
    /// the launcher must end by `exec`ing its arguments, so that the pid
    /// of the child is the server's (SIGKILL reaches the server).
    pub fn start_with_launcher(
        data_dir: &Path,
        env: &[(&str, &str)],
        launcher: &[OsString],
    ) -> Node {
        let logs = tempfile::Builder::new()
            .prefix("distr-e2e-node-log-")
            .tempdir()
            .expect("create log dir");
        let mut node = Node {
            child: None,
            addr: String::new(),
            data_dir: data_dir.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            launcher: launcher.to_vec(),
            stdout_path: logs.path().join("stdout.log"),
            stderr_path: logs.path().join("stderr.log"),
            starts: 0,
            _logs: logs,
        };
        node.spawn();
        node
    }

    /// Start the server again (after [`Node::kill9`] or [`Node::stop`]).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        self.starts += 1;
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("open stderr log");
        let mut stdout_log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stdout_path)
            .expect("open stdout log");
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_distr-server"));
        let template = super::server_command();
        let mut cmd = if self.launcher.is_empty() {
            Command::new(&bin)
        } else {
            let mut c = Command::new(&self.launcher[0]);
            c.args(&self.launcher[1..]).arg(&bin);
            c
        };
        // The clean environment of `server_command`, then ours.
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("DISTR_BOOTSTRAP_ORG", TEST_ORG)
            .env("DISTR_BOOTSTRAP_TOKEN", TEST_TOKEN);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let _ = stdout_log.write_all(first.as_bytes());
            let _ = tx.send(first);
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = stdout_log.write_all(&buf[..n]);
            }
        });
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => break String::new(),
            }
        };
        match line.trim().strip_prefix("listening on ") {
            Some(addr) => self.addr = addr.to_owned(),
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "distr-server (start #{}, exit {status:?}) did not announce `listening on \
                     <addr>` (got {line:?}).\n--- stderr ---\n{}",
                    self.starts,
                    self.stderr_tail()
                );
            }
        }
        self.child = Some(child);
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.clone()
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

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Raw registry client with the vendor admin token.
    pub fn registry(&self) -> Registry {
        Registry::with_token(&self.base_url(), TEST_TOKEN)
    }

    /// Raw registry client sending `token` as Basic credentials.
    pub fn registry_as_token(&self, token: &str) -> Registry {
        Registry::with_token(&self.base_url(), token)
    }

    /// SIGKILL the server (no clean-up of any kind) and reap it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server not running");
        child.kill().expect("SIGKILL distr-server");
        let _ = child.wait();
    }

    /// SIGTERM the server and require exit status 0 within 45 s.
    pub fn stop(&mut self) {
        let status = self.terminate().expect("server not running");
        assert!(
            status.success(),
            "distr-server must exit 0 after SIGTERM, got {status}.\n--- stderr ---\n{}",
            self.stderr_tail()
        );
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        super::terminate_child(self.child.take()?, "distr-server")
    }

    /// Everything the server wrote to stdout, over all starts.
    pub fn stdout_bytes(&self) -> Vec<u8> {
        fs::read(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the server wrote to stderr (its log), over all starts.
    pub fn stderr_bytes(&self) -> Vec<u8> {
        fs::read(&self.stderr_path).unwrap_or_default()
    }

    /// The stdout and stderr log files.
    pub fn log_paths(&self) -> [PathBuf; 2] {
        [self.stdout_path.clone(), self.stderr_path.clone()]
    }

    /// The last ~8 KiB of stderr.
    pub fn stderr_tail(&self) -> String {
        let text = self.stderr_bytes();
        let start = text.len().saturating_sub(8192);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- distr-server stderr ({} starts) ---\n{}",
                self.starts,
                self.stderr_tail()
            );
        }
    }
}

/// Runs `distr-server gc` on `data_dir` with `env` (e.g. `DISTR_GC_GRACE=0`)
/// and returns its stdout; panics with its output unless it exits 0.
pub fn run_gc(data_dir: &Path, env: &[(&str, &str)]) -> String {
    let mut cmd = super::server_command();
    cmd.env("DISTR_LOG", "warn")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("gc")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run distr-server gc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "distr-server gc failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

// ---------------------------------------------------------------------------
// what lies on disk
// ---------------------------------------------------------------------------

/// The files under a data directory's `blobs/` and `uploads/`.
#[derive(Debug, Default)]
pub struct BlobDir {
    /// `blobs/<alg>/<2 hex>/<hex>`: digest (`sha256:<hex>`) → path.
    pub blobs: BTreeMap<String, PathBuf>,
    /// `uploads/<session>/<key>`: committed upload chunks.
    pub parts: Vec<PathBuf>,
    /// `…#<digits>`: staging files of multipart writes in progress (or
    /// interrupted), under `blobs/` or `uploads/`.
    pub staging: Vec<PathBuf>,
    /// Anything else under `blobs/` (misplaced or misnamed files).
    pub stray: Vec<PathBuf>,
}

/// True for `object_store`'s local staging names: `<name>#<digits>`.
pub fn is_staging_name(name: &str) -> bool {
    name.split_once('#')
        .is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Every regular file under `dir`, recursively.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Classify the files under `<data_dir>/blobs` and `<data_dir>/uploads`.
pub fn scan_blob_dir(data_dir: &Path) -> BlobDir {
    let mut found = BlobDir::default();
    for path in all_files(&data_dir.join("blobs")) {
        let rel = path.strip_prefix(data_dir.join("blobs")).unwrap();
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let name = parts.last().cloned().unwrap_or_default();
        if is_staging_name(&name) {
            found.staging.push(path);
            continue;
        }
        match parts.as_slice() {
            [alg, prefix, hex]
                if alg == "sha256"
                    && hex.len() == 64
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    && hex.starts_with(prefix.as_str()) =>
            {
                found.blobs.insert(format!("sha256:{hex}"), path);
            }
            _ => found.stray.push(path),
        }
    }
    for path in all_files(&data_dir.join("uploads")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if is_staging_name(&name) {
            found.staging.push(path);
        } else {
            found.parts.push(path);
        }
    }
    found
}

/// `sha256:<hex>` of a file's content, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Offsets of every occurrence of `needle` in `haystack`.
pub fn find_bytes(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

// ---------------------------------------------------------------------------
// the SQLite database, read directly
// ---------------------------------------------------------------------------

/// A manifest row of the SQLite store.
#[derive(Clone, Debug)]
pub struct StoredManifest {
    pub repo: String,
    pub digest: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// A connection to `<data_dir>/distr.db` (open it only while no server
/// runs, or read-only while one does).
pub struct Db {
    conn: sqlx::sqlite::SqliteConnection,
}

impl Db {
    /// Open the database of `data_dir` (it must exist).
    pub async fn open(data_dir: &Path) -> Db {
        use sqlx::ConnectOptions as _;
        let path = data_dir.join("distr.db");
        assert!(path.exists(), "no database at {}", path.display());
        let conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(false)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        Db { conn }
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a sound database.
    pub async fn integrity_check(&mut self) -> Vec<String> {
        sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
            .fetch_all(&mut self.conn)
            .await
            .expect("PRAGMA integrity_check")
    }

    /// `PRAGMA foreign_key_check`: rows violating a foreign key, as text.
    pub async fn foreign_key_violations(&mut self) -> Vec<String> {
        use sqlx::Row as _;
        sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut self.conn)
            .await
            .expect("PRAGMA foreign_key_check")
            .iter()
            .map(|r| {
                format!(
                    "table {} rowid {:?} parent {}",
                    r.get::<String, _>(0),
                    r.get::<Option<i64>, _>(1),
                    r.get::<String, _>(2)
                )
            })
            .collect()
    }

    /// Every stored manifest, tagged or not, in every repository.
    pub async fn manifests(&mut self) -> Vec<StoredManifest> {
        sqlx::query_as::<_, (String, String, String, Vec<u8>)>(
            "SELECT r.name, m.digest, m.media_type, m.content \
             FROM manifests m JOIN repositories r ON r.id = m.repo_id \
             ORDER BY r.name, m.digest",
        )
        .fetch_all(&mut self.conn)
        .await
        .expect("read manifests")
        .into_iter()
        .map(|(repo, digest, media_type, content)| StoredManifest {
            repo,
            digest,
            media_type,
            content,
        })
        .collect()
    }

    /// Every tag: (repository, tag, digest).
    pub async fn tags(&mut self) -> Vec<(String, String, String)> {
        sqlx::query_as::<_, (String, String, String)>(
            "SELECT r.name, t.name, t.digest FROM tags t \
             JOIN repositories r ON r.id = t.repo_id ORDER BY r.name, t.name",
        )
        .fetch_all(&mut self.conn)
        .await
        .expect("read tags")
    }

    /// Ids of the upload sessions still recorded.
    pub async fn upload_ids(&mut self) -> Vec<String> {
        sqlx::query_scalar::<_, String>("SELECT id FROM uploads ORDER BY id")
            .fetch_all(&mut self.conn)
            .await
            .expect("read uploads")
    }

    /// Number of pull events recorded.
    pub async fn pull_event_count(&mut self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pull_events")
            .fetch_one(&mut self.conn)
            .await
            .expect("count pull events")
    }

    pub async fn close(self) {
        use sqlx::Connection as _;
        let _ = self.conn.close().await;
    }
}

/// The digests a manifest's JSON lists as blobs (config, layers, `blobs`
/// of artifact manifests) and as child manifests (`manifests` of an index).
pub fn manifest_references(content: &[u8]) -> (Vec<String>, Vec<String>) {
    let v: serde_json::Value = match serde_json::from_slice(content) {
        Ok(v) => v,
        Err(_) => return (Vec::new(), Vec::new()),
    };
    let digest_of = |d: &serde_json::Value| d["digest"].as_str().map(str::to_owned);
    let mut blobs = Vec::new();
    if let Some(d) = digest_of(&v["config"]) {
        blobs.push(d);
    }
    for key in ["layers", "blobs"] {
        if let Some(list) = v[key].as_array() {
            blobs.extend(list.iter().filter_map(digest_of));
        }
    }
    let children = v["manifests"]
        .as_array()
        .map(|l| l.iter().filter_map(digest_of).collect())
        .unwrap_or_default();
    (blobs, children)
}
