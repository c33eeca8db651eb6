//! The skopeo invocations the end-to-end tests repeat: push a generated
//! layout to a registry, pull a tag into a fresh layout (plain HTTP,
//! `--all`, digests preserved, no retries, so a failure shows at once).

use std::path::Path;
use std::process::{Command, Output};

use crate::layout::GeneratedLayout;
use crate::tools::{run_ok, skopeo_cmd, try_run};

/// `skopeo copy --all --preserve-digests` of `layout`'s tag to
/// `docker://<host>/<repo>:<tag>` with `creds` (`user:password`); must
/// succeed.
pub fn skopeo_push(skopeo: &Path, layout: &GeneratedLayout, host: &str, repo: &str, creds: &str) {
    run_ok(skopeo_cmd(skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--retry-times",
        "0",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        &format!("oci:{}:{}", layout.dir.display(), layout.tag),
        &format!("docker://{host}/{repo}:{}", layout.tag),
    ]));
}

/// The command of [`skopeo_pull`], for callers that spawn it themselves.
pub fn skopeo_pull_cmd(
    skopeo: &Path,
    host: &str,
    repo: &str,
    tag: &str,
    creds: &str,
    out: &Path,
) -> Command {
    let mut cmd = skopeo_cmd(skopeo);
    cmd.args([
        "copy",
        "--all",
        "--preserve-digests",
        "--retry-times",
        "0",
        "--src-tls-verify=false",
        "--src-creds",
        creds,
        &format!("docker://{host}/{repo}:{tag}"),
        &format!("oci:{}:{tag}", out.display()),
    ]);
    cmd
}

/// `skopeo copy --all --preserve-digests` of `docker://<host>/<repo>:<tag>`
/// with `creds` into the OCI layout `out`; its output, whatever its status.
pub fn skopeo_pull(
    skopeo: &Path,
    host: &str,
    repo: &str,
    tag: &str,
    creds: &str,
    out: &Path,
) -> Output {
    try_run(&mut skopeo_pull_cmd(skopeo, host, repo, tag, creds, out))
}

/// A command's stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
