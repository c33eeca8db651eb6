//! The presets of `distr-server`'s end-to-end tests over the shared harness
//! (`distr-test-support`, re-exported here whole: [`Registry`], digests,
//! media types, layouts, tools, …).
//!
//! * [`Server`] is a [`ServerProcess`] of this crate's binary on
//!   `127.0.0.1:0` with a fresh data directory. Access control is always
//!   on: by default the server bootstraps the vendor organisation
//!   [`TEST_ORG`] with the fixed vendor admin token [`TEST_TOKEN`]
//!   (`DISTR_BOOTSTRAP_ORG` / `DISTR_BOOTSTRAP_TOKEN`), which
//!   [`Server::registry`], [`Server::creds`] (skopeo) and [`raw_http_put`]
//!   use. [`Server::admin`] runs `distr-server admin …` on the same data dir.
//!   Everything else (stop, restart, logs, …) is [`ServerProcess`]'s,
//!   through `Deref`.
//! * [`fleet`], [`hardening`], [`upstream`], [`faults`]: the presets and
//!   fixtures of the scale-out, hardening and pull-through tests.
// Each test file compiles `common` anew and uses a part of it (and of what
// it re-exports).
#![allow(dead_code, unused_imports)]

pub mod faults;
pub mod fleet;
pub mod hardening;
pub mod upstream;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub use distr_test_support::process::{clean_command, ServerBuilder, ServerProcess};
pub use distr_test_support::tenancy::{CliCustomer, CustomerLogin, ManagementApi};
pub use distr_test_support::*;

/// The vendor organisation every test server bootstraps (unless told otherwise).
pub const TEST_ORG: &str = "acme";
/// The vendor admin token of [`TEST_ORG`] (`DISTR_BOOTSTRAP_TOKEN`).
pub const TEST_TOKEN: &str = "distr_e2e0000000000000000000000000000000000000000000000000000000000";

/// This crate's server binary (only known to this crate's tests).
pub const SERVER_BIN: &str = env!("CARGO_BIN_EXE_distr-server");

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

/// A `distr-server` command with no configuration inherited from the
/// environment (only what the caller adds applies) and no scheduled syncs.
pub fn server_command() -> Command {
    let mut cmd = clean_command(Path::new(SERVER_BIN));
    cmd.env("DISTR_UPSTREAM_SYNC_CRON", "");
    cmd
}

/// The builder every preset starts from: this crate's binary, no scheduled
/// syncs, [`TEST_ORG`] bootstrapped with [`TEST_TOKEN`].
pub fn server_builder() -> ServerBuilder {
    ServerBuilder::new(SERVER_BIN)
        .name("distr-server")
        .env("DISTR_UPSTREAM_SYNC_CRON", "")
        .env("DISTR_BOOTSTRAP_ORG", TEST_ORG)
        .env("DISTR_BOOTSTRAP_TOKEN", TEST_TOKEN)
}

fn with_options(builder: ServerBuilder, options: &ServerOptions) -> ServerBuilder {
    let builder = builder.env("DISTR_BOOTSTRAP_ORG", &options.bootstrap_org);
    match &options.bootstrap_token {
        Some(token) => builder.env("DISTR_BOOTSTRAP_TOKEN", token),
        None => builder.env_remove("DISTR_BOOTSTRAP_TOKEN"),
    }
}

/// A running `distr-server` with its bootstrap settings: a preset of
/// [`ServerProcess`] (which it derefs to).
pub struct Server {
    process: ServerProcess,
    options: ServerOptions,
}

impl Deref for Server {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

impl DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

impl Server {
    /// Start a server on a fresh, empty temporary data directory, bootstrapping
    /// [`TEST_ORG`] with [`TEST_TOKEN`].
    pub fn start() -> Server {
        Self::start_with(ServerOptions::default())
    }

    /// Start a server on a fresh, empty temporary data directory.
    pub fn start_with(options: ServerOptions) -> Server {
        Self::from_builder(server_builder(), options)
    }

    /// [`Server::start`] with extra environment variables (applied last),
    /// e.g. `DISTR_UPSTREAM_SYNC_CRON` or limits.
    pub fn start_with_env(env: &[(&str, &str)]) -> Server {
        Self::from_builder(
            server_builder().envs(env.iter().copied()),
            ServerOptions::default(),
        )
    }

    /// Start a server on an existing data directory (not removed on drop).
    pub fn start_with_data_dir(data_dir: &Path) -> Server {
        Self::from_builder(
            server_builder().data_dir(data_dir),
            ServerOptions::default(),
        )
    }

    /// Start `builder` (a [`server_builder`] with more settings) with
    /// `options` for the bootstrap.
    pub fn from_builder(builder: ServerBuilder, options: ServerOptions) -> Server {
        let builder = with_options(builder, &options);
        Server {
            process: builder.start(),
            options,
        }
    }

    /// The process underneath.
    pub fn process(&mut self) -> &mut ServerProcess {
        &mut self.process
    }

    /// Raw-HTTP client bound to this server, authenticated with the bootstrap
    /// token (the vendor admin of [`TEST_ORG`] by default).
    pub fn registry(&self) -> Registry {
        Registry::with_token(&self.base_url(), self.bootstrap_token())
    }

    /// Raw-HTTP client bound to this server, sending `token` (or nothing).
    pub fn registry_as(&self, token: Option<&str>) -> Registry {
        match token {
            Some(t) => Registry::with_token(&self.base_url(), t),
            None => Registry::new(&self.base_url()),
        }
    }

    /// `/api/v1` as the bootstrap vendor admin.
    pub fn api(&self) -> ManagementApi {
        ManagementApi::new(self.base_url(), self.bootstrap_token())
    }

    fn bootstrap_token(&self) -> &str {
        self.options
            .bootstrap_token
            .as_deref()
            .expect("this server generated its token: use registry_as")
    }

    /// `anyone:<bootstrap token>`, for skopeo's `--creds`/`--src-creds`/`--dest-creds`.
    pub fn creds(&self) -> String {
        creds(self.bootstrap_token())
    }

    /// Run `distr-server admin <args>` on this server's data dir (the server
    /// may be running) and return its output, whatever the exit status.
    pub fn admin_output(&self, args: &[&str]) -> Output {
        admin_output(self.data_dir(), args)
    }

    /// Run `distr-server admin <args>`, require success, return stdout.
    pub fn admin(&self, args: &[&str]) -> String {
        admin(self.data_dir(), args)
    }

    /// `distr-server admin --json <args>`, parsed.
    pub fn admin_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.admin(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("admin {args:?}: stdout is not JSON ({e}): {text}"))
    }

    /// A customer of [`TEST_ORG`] with one member of `role` and a token,
    /// made with the admin CLI.
    pub fn customer(&self, name: &str, role: &str) -> CliCustomer {
        CliCustomer::create(|args| self.admin(args), TEST_ORG, name, role)
    }

    /// Entitle `customer` to `tags` of the artifact `artifact` (admin CLI).
    pub fn entitle(
        &self,
        customer: &CliCustomer,
        entitlement: &str,
        artifact: &str,
        tags: &str,
        expires_at: Option<&str>,
    ) {
        customer.entitle(
            |args| self.admin(args),
            TEST_ORG,
            entitlement,
            artifact,
            tags,
            expires_at,
        );
    }

    /// Start again (after [`ServerProcess::stop`]) with other bootstrap settings.
    pub fn restart_with(&mut self, options: ServerOptions) {
        if self.process.is_running() {
            self.process.stop();
        }
        self.process
            .set_env("DISTR_BOOTSTRAP_ORG", Some(&options.bootstrap_org));
        self.process
            .set_env("DISTR_BOOTSTRAP_TOKEN", options.bootstrap_token.as_deref());
        self.options = options;
        self.process.spawn();
    }
}

/// `distr-server admin <args>` on `data_dir`: its output, whatever the status.
pub fn admin_output(data_dir: &Path, args: &[&str]) -> Output {
    server_command()
        .env("DISTR_LOG", "warn")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("admin")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("failed to run distr-server admin {args:?}: {e}"))
}

/// `distr-server admin <args>` on `data_dir`: require success, return stdout.
pub fn admin(data_dir: &Path, args: &[&str]) -> String {
    let out = admin_output(data_dir, args);
    assert!(
        out.status.success(),
        "distr-server admin {args:?} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("admin stdout is UTF-8")
}

/// PUT `body` over a plain TCP socket (see
/// [`distr_test_support::raw_http_put_with_token`]), authenticated with
/// [`TEST_TOKEN`].
pub fn raw_http_put(
    host_port: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    raw_http_put_with_token(TEST_TOKEN, host_port, path, content_type, body)
}
