//! Helpers of the hardening tests (crash consistency, disk full, secrets at
//! rest):
//!
//! * [`Node`]: a preset of the harness's [`ServerProcess`] on a data
//!   directory the caller owns, with extra environment and an optional
//!   launcher prefix (e.g. `unshare -m sh -c …` to run it in its own mount
//!   namespace), SIGKILLed on drop; it can be SIGKILLed
//!   ([`ServerProcess::kill9`]) or stopped gracefully
//!   ([`ServerProcess::stop`]) and started again on the same data directory
//!   ([`ServerProcess::spawn`]). Its stdout and stderr are kept whole in
//!   files, for inspection.
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
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Stdio;

pub use distr_test_support::digest::{find_bytes, sha256_file};
use distr_test_support::ServerProcess;

use super::{server_builder, Registry, TEST_TOKEN};

// ---------------------------------------------------------------------------
// the server process
// ---------------------------------------------------------------------------

/// A `distr-server` on a caller-owned data directory ([`super::TEST_ORG`]
/// bootstrapped with [`TEST_TOKEN`]), restartable on the same directory,
/// SIGKILLed on drop if still running: a preset of [`ServerProcess`] (which
/// it derefs to).
pub struct Node(ServerProcess);

impl Deref for Node {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl DerefMut for Node {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl Node {
    /// Start `distr-server --listen 127.0.0.1:0 --data-dir <data_dir>` with
    /// `env` added.
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
        Node(
            server_builder()
                .data_dir(data_dir)
                .envs(env.iter().copied())
                .launcher(launcher)
                .kill_on_drop()
                .start(),
        )
    }

    /// Raw registry client with the vendor admin token.
    pub fn registry(&self) -> Registry {
        Registry::with_token(&self.base_url(), TEST_TOKEN)
    }

    /// Raw registry client sending `token` as Basic credentials.
    pub fn registry_as_token(&self, token: &str) -> Registry {
        Registry::with_token(&self.base_url(), token)
    }

    /// The last ~8 KiB of stderr.
    pub fn stderr_tail(&self) -> String {
        self.log_tail()
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
