//! The README's walkthrough, run as written: every ```` ```sh ```` block the
//! README marks with `<!-- walkthrough -->`, extracted from README.md itself
//! and run in order by bash against a fresh server, so the README cannot
//! drift from what works.
//!
//! The server is started the way the Quick start says (the arguments after
//! `--` of its `cargo run` line, a generated token printed once), in a
//! fresh working directory whose `./distr-data` is the data directory. The
//! only substitutions: the test's port in place of `127.0.0.1:5000`, the
//! printed token as `DISTR_TOKEN`, this build's `distr-server` first on
//! `PATH`, and `scripts/` linked into the working directory.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const MARKER: &str = "<!-- walkthrough -->";
const README_ADDR: &str = "127.0.0.1:5000";
const RUN_COMMAND: &str = "cargo run --release -p distr-server";
const TOKEN_LINE: &str = "vendor admin token (shown once): ";

/// The `sh` blocks that follow a [`MARKER`] line, in order.
fn walkthrough_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != MARKER {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert_eq!(fence.trim(), "```sh", "{MARKER} must precede a ```sh block");
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

/// The arguments of the Quick start's first `cargo run` line (after `--`).
fn quick_start_args(readme: &str) -> Vec<String> {
    let quick_start = &readme[readme.find("## Quick start").expect("a Quick start")..];
    let line = quick_start
        .lines()
        .find(|l| l.starts_with(RUN_COMMAND))
        .expect("the Quick start runs the server");
    match line.split_once(" -- ") {
        Some((_, args)) => args.split_whitespace().map(str::to_owned).collect(),
        None => Vec::new(),
    }
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is required by the README walkthrough (apt-get install -y {tool}); \
         this test never skips"
    );
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = walkthrough_blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the README marks {} blocks",
        blocks.len()
    );
    let skopeo = require_skopeo();
    for tool in ["bash", "curl", "tar", "gzip", "sha256sum"] {
        require(tool);
    }

    let work = tempfile::Builder::new()
        .prefix("distr-readme-")
        .tempdir()
        .unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(SERVER_BIN, bin.join("distr-server")).unwrap();
    std::os::unix::fs::symlink(root.join("scripts"), work.path().join("scripts")).unwrap();

    let mut builder = ServerBuilder::new(SERVER_BIN)
        .name("distr-server")
        .data_dir(work.path().join("distr-data"))
        .env("DISTR_UPSTREAM_SYNC_CRON", "");
    for arg in quick_start_args(&readme) {
        builder = builder.arg(arg);
    }
    let mut server = builder.start();
    let log = server.log();
    let token = log
        .lines()
        .find_map(|l| l.split_once(TOKEN_LINE))
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_else(|| panic!("the first start prints a token:\n{log}"));
    assert!(
        log.contains("vendor organisation \"acme\" created"),
        "the Quick start bootstraps the organisation the README uses:\n{log}"
    );

    let mut script = String::from("set -eu\n");
    for block in &blocks {
        script.push_str(&block.replace(README_ADDR, &server.host_port()));
        script.push('\n');
    }
    let tool_dirs = [bin.as_path(), skopeo.parent().unwrap_or(Path::new(""))];
    let path = std::env::join_paths(tool_dirs.iter().map(|p| p.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env("DISTR_TOKEN", &token)
        .env_remove("DISTR_DATA_DIR")
        .env_remove("DISTR_CONFIG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README walkthrough failed ({}):\n--- script\n{script}\n--- stdout\n{stdout}\n\
         --- stderr\n{stderr}\n--- server log\n{}",
        out.status,
        server.log_tail()
    );
    // What the blocks claim, as they ran: the pulls landed, the customer
    // saw only its tag, and the walkthrough's last step revoked the token.
    for layout in ["pulled", "app", "my-image-layout"] {
        assert!(
            work.path().join(layout).join("index.json").is_file(),
            "{layout}"
        );
    }
    assert!(stdout.contains("not entitled to tag 1.1.0"), "{stdout}");
    let listed = admin_output(
        &work.path().join("distr-data"),
        &[
            "--json",
            "token",
            "list",
            "--org",
            "acme",
            "--email",
            "ops@initech.test",
        ],
    );
    let tokens: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(tokens[0]["status"], "revoked", "{tokens}");
    server.stop();
}
