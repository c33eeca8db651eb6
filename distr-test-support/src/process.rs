//! One way to run a server binary under test: [`ServerBuilder`] says what
//! to run (binary, data dir, environment, arguments, an optional launcher),
//! [`ServerProcess`] is the running server.
//!
//! The server is started as `[launcher…] <bin> --listen 127.0.0.1:0
//! --data-dir <dir> <args…>` with stdin closed. It is ready when the first
//! line it prints on stdout is `listening on <ip>:<port>`; that address is
//! where [`ServerProcess::base_url`] points. Everything it writes to stdout
//! and stderr is kept whole in files (over all starts), for inspection and
//! for the failure messages; a panicking test prints the stderr tail.
//!
//! Only what the builder sets configures the server: inherited `DISTR_*`
//! and `AWS_*` variables and `DATABASE_URL` are dropped (`DISTR_LOG` is
//! passed on, `info` by default), so a developer's shell cannot change a
//! test.
//!
//! The binary's path is passed in by the caller: `CARGO_BIN_EXE_<name>` is
//! only defined for the tests of the package that builds the binary, so
//! `distr-server`'s tests pass `env!("CARGO_BIN_EXE_distr-server")` to
//! their presets (`tests/common`).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::logs::tail;

/// How long a server may take to print `listening on <addr>`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM (it drains for up to
/// 30 s) before it is SIGKILLed.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(45);
/// How much of a log the failure messages show.
const TAIL_BYTES: usize = 8192;

/// True for the inherited variables a server under test must not see.
fn is_scrubbed(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("DISTR_") || name.starts_with("AWS_") || name == "DATABASE_URL"
}

/// `bin` with no configuration inherited from the environment: every
/// inherited `DISTR_*`, `AWS_*` and `DATABASE_URL` is removed, `DISTR_LOG`
/// is the caller's (else `info`), `RUST_BACKTRACE=1`, and
/// `DISTR_UPSTREAM_ALLOW=127.0.0.1` (the tests' upstreams listen on
/// loopback; a test of the egress rules sets it to something else). For one-shot
/// subcommands (`admin`, `gc`) and as the base of [`ServerBuilder::start`].
pub fn clean_command(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        if is_scrubbed(&key) {
            cmd.env_remove(&key);
        }
    }
    cmd.env(
        "DISTR_LOG",
        std::env::var("DISTR_LOG").unwrap_or_else(|_| "info".into()),
    )
    .env("RUST_BACKTRACE", "1")
    .env("DISTR_UPSTREAM_ALLOW", LOOPBACK_UPSTREAMS);
    cmd
}

/// What servers under test may reach although it is not public: the
/// loopback address every test upstream listens on.
pub const LOOPBACK_UPSTREAMS: &str = "127.0.0.1";

/// Sends SIGTERM to `child`, waits up to [`SHUTDOWN_TIMEOUT`] and SIGKILLs
/// it if it is still alive (saying so, with `what` naming it). The exit
/// status, a signal's when it had to be killed; `None` if it could not be
/// waited for.
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

/// What to run: see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    bin: PathBuf,
    name: String,
    data_dir: Option<PathBuf>,
    env: Vec<(OsString, Option<OsString>)>,
    args: Vec<OsString>,
    launcher: Vec<OsString>,
    kill_on_drop: bool,
}

impl ServerBuilder {
    /// A server from the binary at `bin`, on a fresh temporary data dir
    /// (removed when the [`ServerProcess`] is dropped).
    pub fn new(bin: impl Into<PathBuf>) -> ServerBuilder {
        let bin = bin.into();
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "server".into());
        ServerBuilder {
            bin,
            name,
            data_dir: None,
            env: Vec::new(),
            args: Vec::new(),
            launcher: Vec::new(),
            kill_on_drop: false,
        }
    }

    /// The name used in messages (`replica a`, …); the binary's by default.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Run on this existing directory, which the caller owns (it outlives
    /// the process and is never removed).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Set an environment variable (later settings win).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Set several environment variables, in order.
    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Remove an environment variable set earlier (or inherited).
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Add an argument after `--listen … --data-dir …`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Run `launcher… <bin> <args…>` (e.g. `unshare -m sh -c '…; exec "$0"
    /// "$@"'`). The launcher must end by `exec`ing its arguments, so that
    /// the child's pid is the server's and signals reach it.
    pub fn launcher<S: AsRef<OsStr>>(mut self, launcher: impl IntoIterator<Item = S>) -> Self {
        self.launcher = launcher
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect();
        self
    }

    /// SIGKILL instead of SIGTERM when the [`ServerProcess`] is dropped
    /// still running (for tests that crash servers anyway).
    pub fn kill_on_drop(mut self) -> Self {
        self.kill_on_drop = true;
        self
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Start the server and wait until it is listening.
    pub fn start(self) -> ServerProcess {
        let (data_dir, data_tmp) = match &self.data_dir {
            Some(dir) => (dir.clone(), None),
            None => {
                let tmp = tempfile::Builder::new()
                    .prefix("distr-e2e-data-")
                    .tempdir()
                    .expect("create temp data dir");
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let logs = tempfile::Builder::new()
            .prefix("distr-e2e-log-")
            .tempdir()
            .expect("create temp log dir");
        let mut process = ServerProcess {
            stdout_path: logs.path().join("stdout.log"),
            stderr_path: logs.path().join("stderr.log"),
            spec: self,
            child: None,
            addr: None,
            data_dir,
            extra_stdout: Arc::default(),
            starts: 0,
            _data_tmp: data_tmp,
            _logs: logs,
        };
        process.spawn();
        process
    }
}

/// A running (or stopped, restartable) server: see the
/// [module documentation](self). Stopped with SIGTERM (SIGKILL with
/// [`ServerBuilder::kill_on_drop`]) on drop.
pub struct ServerProcess {
    spec: ServerBuilder,
    child: Option<Child>,
    addr: Option<SocketAddr>,
    data_dir: PathBuf,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// What the server wrote to stdout after each start's first line.
    extra_stdout: Arc<Mutex<Vec<u8>>>,
    starts: u32,
    // Kept for the process's lifetime, dropped after it is stopped.
    _data_tmp: Option<tempfile::TempDir>,
    _logs: tempfile::TempDir,
}

impl ServerProcess {
    /// Start the server again on the same data dir (after [`Self::stop`]
    /// or [`Self::kill9`]) and wait until it listens. The port usually
    /// changes: take [`Self::base_url`] afresh.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.spec.name);
        self.starts += 1;
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .expect("open stderr log");
        writeln!(&stderr, "===== start #{} =====", self.starts).ok();
        let mut cmd = self.command_for_start();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("failed to spawn {cmd:?}: {e}"));
        let first_line = self.watch_stdout(&mut child);
        match self.await_listening(&mut child, first_line) {
            Ok(addr) => {
                self.addr = Some(addr);
                self.child = Some(child);
            }
            Err(why) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "{} (start #{}, exit {status:?}) {why}\n--- stderr ---\n{}",
                    self.spec.name,
                    self.starts,
                    self.log_tail()
                );
            }
        }
    }

    fn command_for_start(&self) -> Command {
        let template = clean_command(&self.spec.bin);
        let mut cmd = match self.spec.launcher.split_first() {
            None => Command::new(&self.spec.bin),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.spec.bin);
                c
            }
        };
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        for (k, v) in &self.spec.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.spec.args);
        cmd
    }

    /// Copy the child's stdout into the stdout log on a helper thread (so
    /// it never blocks on a full pipe); the first line comes back on the
    /// channel.
    fn watch_stdout(&self, child: &mut Child) -> mpsc::Receiver<std::io::Result<String>> {
        let stdout = child.stdout.take().expect("piped stdout");
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stdout_path)
            .expect("open stdout log");
        let extra = self.extra_stdout.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let res = reader.read_line(&mut first).map(|_| first);
            if let Ok(line) = &res {
                let _ = log.write_all(line.as_bytes());
            }
            let _ = tx.send(res);
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = log.write_all(&buf[..n]);
                if let Ok(mut extra) = extra.lock() {
                    extra.extend_from_slice(&buf[..n]);
                }
            }
        });
        rx
    }

    fn await_listening(
        &self,
        child: &mut Child,
        first_line: mpsc::Receiver<std::io::Result<String>>,
    ) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let line = loop {
            match first_line.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(line)) if !line.is_empty() => break line,
                Ok(Ok(_)) => return Err("closed stdout without `listening on <addr>`".into()),
                Ok(Err(e)) => return Err(format!("stdout unreadable: {e}")),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("stdout reader thread died".into())
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        return Err(format!(
                            "exited early with {status} before `listening on <addr>`"
                        ));
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "did not print `listening on <addr>` within {STARTUP_TIMEOUT:?}"
                        ));
                    }
                }
            }
        };
        let line = line.trim_end();
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.trim().parse().ok())
            .ok_or_else(|| {
                format!("first stdout line must be `listening on <ip>:<port>`, got {line:?}")
            })?;
        if addr.port() == 0 {
            return Err(format!("reported port 0: {line:?}"));
        }
        Ok(addr)
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The binary.
    pub fn bin(&self) -> &Path {
        &self.spec.bin
    }

    /// The address of the last start.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("server never started")
    }

    /// `127.0.0.1:PORT`
    pub fn host_port(&self) -> String {
        self.addr().to_string()
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The data directory (the same over restarts).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The pid of the running server (or of its launcher, which `exec`s it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// How often the server was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Set an environment variable for the next starts.
    pub fn set_env(&mut self, key: impl AsRef<OsStr>, value: Option<&str>) {
        self.spec
            .env
            .push((key.as_ref().to_owned(), value.map(OsString::from)));
    }

    /// [`clean_command`] for this binary with this server's environment
    /// and `--data-dir`, for one-shot subcommands on the same data dir.
    pub fn command(&self) -> Command {
        let mut cmd = clean_command(&self.spec.bin);
        for (k, v) in &self.spec.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.arg("--data-dir").arg(&self.data_dir);
        cmd
    }

    /// SIGTERM the server and require a graceful exit with status 0.
    pub fn stop(&mut self) {
        let status = self.terminate().expect("server was not running");
        assert!(
            status.success(),
            "{} must exit 0 after SIGTERM, got {status}.\n--- stderr ---\n{}",
            self.spec.name,
            self.log_tail()
        );
    }

    /// SIGTERM, wait up to [`SHUTDOWN_TIMEOUT`], SIGKILL if still alive;
    /// the exit status (`None` if it was not running).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let child = self.child.take()?;
        terminate_child(child, &self.spec.name)
    }

    /// SIGKILL the server (no clean-up of any kind) and reap it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server not running");
        child.kill().expect("SIGKILL the server");
        let _ = child.wait();
    }

    /// Stop (SIGTERM, expecting exit 0) and start again on the same data dir.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILL the server, then start it again on the same data dir.
    pub fn crash_and_restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Everything written to stdout, over all starts.
    pub fn stdout_bytes(&self) -> Vec<u8> {
        fs::read(&self.stdout_path).unwrap_or_default()
    }

    /// What was written to stdout after each start's `listening on` line
    /// (complete once the server has stopped).
    pub fn extra_stdout(&self) -> String {
        let extra = self
            .extra_stdout
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        String::from_utf8_lossy(&extra).into_owned()
    }

    /// Everything written to stderr (the log), over all starts, each
    /// preceded by a `===== start #N =====` line.
    pub fn stderr_bytes(&self) -> Vec<u8> {
        fs::read(&self.stderr_path).unwrap_or_default()
    }

    /// [`Self::stderr_bytes`] as text.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&self.stderr_bytes()).into_owned()
    }

    /// The last ~8 KiB of the stderr log.
    pub fn log_tail(&self) -> String {
        tail(&self.stderr_bytes(), TAIL_BYTES)
    }

    /// The stdout and stderr log files.
    pub fn log_paths(&self) -> [PathBuf; 2] {
        [self.stdout_path.clone(), self.stderr_path.clone()]
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let status = match self.child.take() {
            Some(mut child) if self.spec.kill_on_drop => {
                let _ = child.kill();
                child.wait().ok()
            }
            Some(child) => terminate_child(child, &self.spec.name),
            None => None,
        };
        if std::thread::panicking() {
            eprintln!(
                "--- {} stderr ({}; {} starts; exit {status:?}) ---\n{}",
                self.spec.name,
                self.stderr_path.display(),
                self.starts,
                self.log_tail()
            );
        }
    }
}
