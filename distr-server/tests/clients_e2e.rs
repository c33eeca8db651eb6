//! The client matrix, part one: podman and buildah (Debian's, `vfs` storage
//! in a temporary root, no daemon) against a real `distr-server`, each
//! through the Docker token flow: log in, a vendor push, a customer pull of
//! an entitled tag, a customer denied a tag it is not entitled to (the
//! reason shown), a customer push refused, and an artifact it may not see
//! reading like one that does not exist.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::*;

/// A container tool with its own storage under `dir`.
struct Tool {
    name: &'static str,
    bin: PathBuf,
    dir: PathBuf,
}

impl Tool {
    /// `name` (`podman`, `buildah`), which must be installed.
    fn new(name: &'static str, dir: &Path) -> Tool {
        let bin = PathBuf::from(format!("/usr/bin/{name}"));
        let version = Command::new(&bin).arg("--version").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "{name} is required by this test: apt-get install -y {name} \
             (.ci/run installs it). This test never skips."
        );
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("auth.json"), "{}").unwrap();
        Tool { name, bin, dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", self.dir.join("auth.json"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.name,
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{} {args:?} succeeded", self.name);
        stderr(&out)
    }

    fn login(&self, host: &str, token: &str) {
        self.ok(&["logout", "--all"]);
        let out = self.ok(&[
            "login",
            "--tls-verify=false",
            "-u",
            "someone",
            "-p",
            token,
            host,
        ]);
        assert!(out.contains("Login Succeeded"), "{}: {out}", self.name);
    }
}

/// A scratch directory with a lower-case name: podman names an image pulled
/// from `oci:<dir>` after the directory, which must then be a valid
/// reference (a random `tempfile` suffix has capitals). Removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> WorkDir {
        let dir = std::env::temp_dir().join(format!("distr-clients-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn podman_and_buildah_push_pull_and_are_told_why_not() {
    let server = Server::start();
    let host = server.host_port();
    let work = WorkDir::new();
    let customer = server.customer("Initech", "customer_member");

    for (n, name) in ["podman", "buildah"].into_iter().enumerate() {
        let tool = Tool::new(name, work.0.as_path());
        let repo = format!("{TEST_ORG}/{name}-app");
        let layout = generate_single_layout(
            &work.0.as_path().join(format!("src-{name}")),
            "1.0",
            70 + n as u64,
        );
        tool.ok(&["pull", &format!("oci:{}:1.0", layout.dir.display())]);
        let listed = tool.ok(&["images", "-q"]);
        let image = listed
            .lines()
            .next()
            .expect("the pulled image")
            .trim()
            .to_owned();
        // The vendor pushes 1.0 and 2.0 of one image.
        tool.login(&host, TEST_TOKEN);
        for tag in ["1.0", "2.0"] {
            let target = format!("docker://{host}/{repo}:{tag}");
            tool.ok(&["push", "--tls-verify=false", &image, &target]);
        }
        server.entitle(
            &customer,
            &format!("{name}-1"),
            &format!("{name}-app"),
            "1.0",
            None,
        );

        // The customer pulls 1.0 and is told why not 2.0.
        tool.login(&host, &customer.token);
        tool.ok(&["pull", "--tls-verify=false", &format!("{host}/{repo}:1.0")]);
        let denied = tool.fails(&["pull", "--tls-verify=false", &format!("{host}/{repo}:2.0")]);
        assert!(
            denied.contains("denied: not entitled to tag 2.0"),
            "{name}: {denied}"
        );
        // A push is refused (403), never challenged again and again.
        let push = tool.fails(&[
            "push",
            "--tls-verify=false",
            &image,
            &format!("docker://{host}/{repo}:3.0"),
        ]);
        assert!(
            push.contains("403") || push.contains("denied"),
            "{name} customer push: {push}"
        );
        assert!(
            !push.contains("401") && !push.contains("unauthorized"),
            "{name}: {push}"
        );
        // Another vendor's repository reads like a missing one.
        let unknown = tool.fails(&[
            "pull",
            "--tls-verify=false",
            &format!("{host}/globex/app:1.0"),
        ]);
        let missing = tool.fails(&[
            "pull",
            "--tls-verify=false",
            &format!("{host}/{TEST_ORG}/nothing:1.0"),
        ]);
        for out in [&unknown, &missing] {
            assert!(out.contains("name unknown"), "{name}: {out}");
        }
    }
}
