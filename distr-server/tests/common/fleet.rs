//! Several `distr-server` replicas over shared state, for the scale-out
//! tests: one PostgreSQL schema for the metadata and one S3 bucket (served by
//! moto) for the blobs.
//!
//! * [`PgSchema`] creates a fresh schema on the test Postgres
//!   (`DISTR_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/test`) and drops it on `Drop`.
//! * [`Moto`] starts `moto_server` on a free loopback port (found at
//!   `$DISTR_TEST_MOTO_SERVER`, else `target/e2e-venv/bin/moto_server`, else
//!   `moto_server` on PATH) and kills it on `Drop`; it creates buckets and
//!   lists their keys over plain HTTP.
//! * [`Shared`] is both, plus one bucket and key prefix; [`Shared::replica`]
//!   starts a [`Replica`]: a `distr-server` with its own port, data dir and
//!   stderr log file, configured only by what is set here (inherited
//!   `DISTR_*`, `AWS_*` and `DATABASE_URL` variables are dropped; all
//!   replicas share the master key [`FLEET_SECRET_KEY`]). It is stopped with
//!   SIGTERM on [`Replica::stop`] or `Drop`.
//!
//! Declare the [`Shared`] before the replicas, so the replicas stop before
//! the schema is dropped and moto is killed.

use std::fs;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{creds, workspace_root, Registry, TEST_ORG, TEST_TOKEN};

const POSTGRES_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const MOTO_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The master key every replica of a fleet shares (`DISTR_SECRET_KEY`, 32
/// bytes in hex): it seals upstream credentials in the shared database.
pub const FLEET_SECRET_KEY: &str =
    "6469737472206532652072657069636173206d6173746572206b657920303031";

/// A name unique across processes and within this one: `<prefix>_<pid>_<nanos>_<n>`.
fn unique_name(prefix: &str, sep: char) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{sep}{}{sep}{nanos}{sep}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `f` to completion on a fresh current-thread runtime on its own
/// thread, so it works from sync code, async tests and `Drop` alike.
fn block_on<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(f)
    });
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// A fresh schema on the test Postgres, dropped (with everything in it) on
/// `Drop`.
pub struct PgSchema {
    base_url: String,
    name: String,
}

async fn pg_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "cannot connect to the test Postgres at {url}: {e}\n\
             Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
             or point DISTR_TEST_POSTGRES_URL at another server. This test never skips."
        ),
        Err(_) => panic!("connecting to the test Postgres at {url} timed out after 10 s"),
    }
}

impl PgSchema {
    /// Creates a new, empty schema with a unique name.
    pub fn create() -> PgSchema {
        let base_url = std::env::var("DISTR_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| POSTGRES_DEFAULT_URL.to_owned());
        let name = unique_name("replicas", '_');
        let (url, schema) = (base_url.clone(), name.clone());
        block_on(async move {
            let mut conn = pg_connect(&url).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("CREATE SCHEMA {schema}: {e}"));
        });
        PgSchema { base_url, name }
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL with this schema as the search path (what the
    /// replicas get as `DATABASE_URL`).
    pub fn database_url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }

    /// The names of the tables in this schema, sorted.
    pub fn tables(&self) -> Vec<String> {
        let (url, schema) = (self.base_url.clone(), self.name.clone());
        block_on(async move {
            let mut conn = pg_connect(&url).await;
            sqlx::query_scalar::<_, String>(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = $1 ORDER BY table_name",
            )
            .bind(schema)
            .fetch_all(&mut conn)
            .await
            .expect("list the schema's tables")
        })
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.base_url.clone(), self.name.clone());
        let result = std::panic::catch_unwind(|| {
            block_on(async move {
                let mut conn = pg_connect(&url).await;
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping Postgres schema {}: {e}", self.name),
            Err(_) => eprintln!("dropping Postgres schema {} panicked", self.name),
        }
    }
}

// ---------------------------------------------------------------------------
// plain HTTP/1.0 (moto)
// ---------------------------------------------------------------------------

/// One HTTP/1.0 request without a body (the server closes the connection
/// after the response, which is never chunked); returns (status, body).
pub fn http10(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    stream.flush()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "{method} {path}: response without a header end: {:?}",
                String::from_utf8_lossy(&response)
            ))
        })?;
    let head = String::from_utf8_lossy(&response[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("{method} {path}: bad status line {head:?}"))
        })?;
    Ok((status, response[head_end + 4..].to_vec()))
}

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

/// A free loopback port (free when asked; someone may take it before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------
// moto (S3)
// ---------------------------------------------------------------------------

/// The `moto_server` executable: `$DISTR_TEST_MOTO_SERVER`, else
/// `<workspace>/target/e2e-venv/bin/moto_server`, else `moto_server` on PATH.
pub fn moto_server_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DISTR_TEST_MOTO_SERVER").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join("target/e2e-venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("moto_server")
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
    /// answers HTTP. Fails loudly (never skips) when it cannot be run.
    pub fn start() -> Moto {
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
                if let Ok((status, _)) = http10(addr, "GET", "/") {
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

// ---------------------------------------------------------------------------
// the shared state and the replicas
// ---------------------------------------------------------------------------

/// What the replicas share: one Postgres schema, one moto with one bucket,
/// one key prefix in it.
pub struct Shared {
    pub schema: PgSchema,
    pub moto: Moto,
    pub bucket: String,
    pub prefix: String,
}

impl Shared {
    /// A fresh schema, a moto server and a fresh bucket on it.
    pub fn start() -> Shared {
        let schema = PgSchema::create();
        let moto = Moto::start();
        let bucket = unique_name("distr-e2e", '-');
        moto.create_bucket(&bucket);
        Shared {
            schema,
            moto,
            bucket,
            prefix: "e2e/replicas".to_owned(),
        }
    }

    /// Every key of the bucket.
    pub fn bucket_keys(&self) -> Vec<String> {
        self.moto.list_keys(&self.bucket)
    }

    /// Starts a replica named `name` (for messages) over this state, with
    /// `DISTR_UPSTREAM_SYNC_CRON` set to `sync_cron` (empty: no schedule).
    pub fn replica(&self, name: &str, sync_cron: &str) -> Replica {
        Replica::start(self, name, sync_cron)
    }
}

/// A running `distr-server` over [`Shared`] state, with its own port, data
/// directory and stderr log file.
pub struct Replica {
    name: String,
    child: Option<Child>,
    addr: SocketAddr,
    log_path: PathBuf,
    data_tmp: tempfile::TempDir,
    _log_tmp: tempfile::TempDir,
}

impl Replica {
    fn start(shared: &Shared, name: &str, sync_cron: &str) -> Replica {
        let data_tmp = tempfile::Builder::new()
            .prefix(&format!("distr-e2e-replica-{name}-data-"))
            .tempdir()
            .expect("create replica data dir");
        let log_tmp = tempfile::Builder::new()
            .prefix(&format!("distr-e2e-replica-{name}-log-"))
            .tempdir()
            .expect("create replica log dir");
        let log_path = log_tmp.path().join("stderr.log");
        let log = fs::File::create(&log_path).expect("create replica log");

        let bin = env!("CARGO_BIN_EXE_distr-server");
        let mut cmd = Command::new(bin);
        // Only what is set here configures the replica.
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            if key_text.starts_with("DISTR_")
                || key_text.starts_with("AWS_")
                || key_text == "DATABASE_URL"
            {
                cmd.env_remove(&key);
            }
        }
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_tmp.path())
            .env("DISTR_LOG", "info")
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .env("DATABASE_URL", shared.schema.database_url())
            .env("DISTR_BLOB_STORE", "s3")
            .env("DISTR_BLOB_BUCKET", &shared.bucket)
            .env("DISTR_BLOB_PREFIX", &shared.prefix)
            .env("DISTR_S3_ENDPOINT", shared.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("DISTR_UPSTREAM_SYNC_CRON", sync_cron)
            .env("DISTR_BOOTSTRAP_ORG", TEST_ORG)
            .env("DISTR_BOOTSTRAP_TOKEN", TEST_TOKEN)
            .env("DISTR_SECRET_KEY", FLEET_SECRET_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {bin}: {e}"));

        // The first stdout line is `listening on <addr>`; keep draining
        // stdout afterwards so the server never blocks on a full pipe.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<std::io::Result<String>>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let res = reader.read_line(&mut first).map(|_| first);
            let _ = tx.send(res);
            let mut sink = std::io::sink();
            let _ = std::io::copy(&mut reader, &mut sink);
        });
        let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(line)) if !line.is_empty() => break line,
                Ok(Ok(_)) | Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "replica {name} exited (status {status:?}) without printing \
                         `listening on <addr>`.\n--- replica {name} stderr ---\n{}",
                        read_log()
                    );
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "replica {name} exited early with {status}.\n\
                             --- replica {name} stderr ---\n{}",
                            read_log()
                        );
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "replica {name} did not print `listening on <addr>` within \
                             {STARTUP_TIMEOUT:?}.\n--- replica {name} stderr ---\n{}",
                            read_log()
                        );
                    }
                }
            }
        };
        let addr = line
            .trim_end()
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "replica {name}: first stdout line must be `listening on <addr>`, got {line:?}"
                )
            });
        Replica {
            name: name.to_owned(),
            child: Some(child),
            addr,
            log_path,
            data_tmp,
            _log_tmp: log_tmp,
        }
    }

    /// The replica's name (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The replica's own data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_tmp.path()
    }

    /// Raw-HTTP client authenticated as the vendor admin ([`TEST_TOKEN`]).
    pub fn registry(&self) -> Registry {
        Registry::with_token(&self.base_url(), TEST_TOKEN)
    }

    /// Raw-HTTP client sending `token`.
    pub fn registry_as(&self, token: &str) -> Registry {
        Registry::with_token(&self.base_url(), token)
    }

    /// `anyone:<vendor admin token>`, for skopeo.
    pub fn creds(&self) -> String {
        creds(TEST_TOKEN)
    }

    /// Everything the replica wrote to stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM the replica and require a graceful exit with status 0.
    pub fn stop(&mut self) {
        let status = self.terminate().expect("replica was not running");
        assert!(
            status.success(),
            "replica {} must exit 0 after SIGTERM, got {status}.\n--- stderr ---\n{}",
            self.name,
            self.log_tail()
        );
    }

    /// The last ~8 KiB of the stderr log.
    pub fn log_tail(&self) -> String {
        let text = fs::read(&self.log_path).unwrap_or_default();
        let start = text.len().saturating_sub(8192);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// SIGTERM, wait up to the shutdown timeout, SIGKILL if still alive.
    fn terminate(&mut self) -> Option<ExitStatus> {
        let name = format!("replica {}", self.name);
        super::terminate_child(self.child.take()?, &name)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let status = self.terminate();
        if std::thread::panicking() {
            eprintln!(
                "--- replica {} stderr ({}; exit {status:?}) ---\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail()
            );
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ … letter`) from log text.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The integer value of `field=<n>` in a log line, if present.
pub fn log_field_i64(line: &str, field: &str) -> Option<i64> {
    let needle = format!("{field}=");
    let mut rest = line;
    while let Some(pos) = rest.find(&needle) {
        // Only a whole field name: preceded by nothing or a non-identifier.
        let before = rest[..pos].chars().next_back();
        let after = &rest[pos + needle.len()..];
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) {
            let digits: String = after
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
        rest = after;
    }
    None
}
