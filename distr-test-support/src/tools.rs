//! External tools the tests drive. Each `require_*` fails loudly with how
//! to install the tool: the tests never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The Cargo workspace root (this crate sits at its top level).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("distr-test-support/ has a parent")
        .to_path_buf()
}

/// Path of `skopeo` (`$DISTR_TEST_SKOPEO`, else `skopeo` on PATH).
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
/// `<workspace>/target/e2e-venv/bin/python`.
pub fn require_python_with_oras() -> PathBuf {
    require_python_with("oras, oras.client", "oras")
}

/// A Python interpreter that can `import <modules>` (comma-separated), from
/// the PyPI packages `packages`: `$DISTR_TEST_PYTHON`, else
/// `<workspace>/target/e2e-venv/bin/python` (which `scripts/test` makes).
pub fn require_python_with(modules: &str, packages: &str) -> PathBuf {
    let venv = workspace_root().join("target/e2e-venv/bin/python");
    let (python, source) = match std::env::var_os("DISTR_TEST_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "$DISTR_TEST_PYTHON"),
        _ => (venv.clone(), "default venv"),
    };
    let check = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
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
                "A Python interpreter with {packages} (PyPI) is required by this test, but {} \
                 ({source}) cannot `import {modules}`: {detail}\n\
                 Run `scripts/test`, which creates {} with them and sets DISTR_TEST_PYTHON, or \
                 point DISTR_TEST_PYTHON at such an interpreter. This test never skips.",
                python.display(),
                venv.display()
            )
        }
    }
}

/// Where Debian's `docker-registry` package installs CNCF Distribution.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// [`REGISTRY_BIN`], which must exist.
pub fn require_registry_bin() -> &'static Path {
    assert!(
        Path::new(REGISTRY_BIN).exists(),
        "{REGISTRY_BIN} is required by this test: install it with \
         `apt-get install -y docker-registry` (scripts/test does). This test never skips."
    );
    Path::new(REGISTRY_BIN)
}

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

/// One `user:bcrypt-hash` line from `htpasswd -Bbn`.
pub fn htpasswd_line(user: &str, pass: &str) -> String {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, pass])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "htpasswd is required by this test but is not runnable ({e}): \
                 install it with `apt-get install -y apache2-utils` (scripts/test does). \
                 This test never skips."
            )
        });
    assert!(out.status.success(), "htpasswd -Bbn failed: {out:?}");
    String::from_utf8(out.stdout)
        .expect("htpasswd prints UTF-8")
        .trim()
        .to_owned()
}

/// Run a command (stdin closed) and return its output, whatever its status.
pub fn try_run(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("failed to run {desc}: {e}"))
}

/// Run a command and require success; returns its output. Panics with the
/// full command line, stdout and stderr otherwise.
pub fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = try_run(cmd);
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
