//! The client matrix: podman and buildah (Debian's, `vfs` storage in a
//! temporary root, no daemon), docker (Debian's `docker.io`, a `dockerd` of
//! the test's own on `vfs`), containerd's `ctr` (a containerd of the test's
//! own) and Helm v4 (helm-python-sdk, see `helm_client.py`) against a real
//! `distr-server`, each through the Docker token flow: log in, a vendor push, a customer pull of an entitled tag, a
//! customer denied a tag it is not entitled to (the reason shown), a
//! customer push refused, and an artifact it may not see reading like one
//! that does not exist.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_pushes_and_pulls_charts_and_is_told_why_not() {
    let python = require_python_with("helm_python", "helm-python-sdk");
    let server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();
    let script = workspace_root().join("distr-server/tests/helm_client.py");
    let helm = |mode: &str, token: &str| {
        let out = Command::new(&python)
            .arg(&script)
            .args([mode, host.as_str(), token])
            .arg(work.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.trim() == "ok",
            "helm_client.py {mode}: {}\n{stdout}\n{}",
            out.status,
            stderr(&out)
        );
    };
    helm("vendor", TEST_TOKEN);
    let customer = server.customer("Initech", "customer_member");
    server.entitle(&customer, "web-0.1", "charts/web", "0.1.0", None);
    helm("customer", &customer.token);
}

/// A daemon a test starts for its client (containerd, dockerd): output in
/// `<dir>/<name>.log`, stopped (SIGTERM, then SIGKILL) on drop.
struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Checks that every binary of `package` in `bins` is installed, then
    /// runs `command` with its output in the log.
    fn spawn(
        name: &'static str,
        package: &str,
        bins: &[&str],
        dir: &Path,
        command: &mut Command,
    ) -> Daemon {
        for bin in bins {
            assert!(
                Path::new(bin).exists(),
                "{bin} is required by this test: apt-get install -y {package} \
                 (.ci/run installs it). This test never skips."
            );
        }
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Daemon {
            name,
            child: Some(child),
            log,
        }
    }

    /// Waits (polling every `every`, at most `limit`) until `ready`.
    fn wait_until(&self, limit: Duration, every: Duration, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            assert!(
                started.elapsed() < limit,
                "{} did not start: {}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(every);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate_child(child, self.name);
        }
    }
}

/// A containerd of the test's own: its root, state and socket in `dir`, the
/// CRI plugin off. Stopped on drop.
struct Containerd {
    _daemon: Daemon,
    socket: PathBuf,
}

impl Containerd {
    fn start(dir: &Path) -> Containerd {
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = {:?}\n",
                dir.join("root"),
                dir.join("state"),
                socket
            ),
        )
        .unwrap();
        let daemon = Daemon::spawn(
            "containerd",
            "containerd",
            &["/usr/bin/containerd", "/usr/bin/ctr"],
            dir,
            Command::new("/usr/bin/containerd")
                .arg("--config")
                .arg(&config),
        );
        daemon.wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
            socket.exists()
        });
        Containerd {
            _daemon: daemon,
            socket,
        }
    }

    /// `ctr <args>`; a `ctr` still running after a minute hung (the loop
    /// this test guards against) and fails the test.
    fn ctr(&self, args: &[&str]) -> Output {
        let mut child = Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("ctr {args:?} hung for a minute");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_ctr_pulls_and_a_customer_push_fails_at_once() {
    let skopeo = require_skopeo();
    let server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();
    for (i, tag) in ["1.0", "2.0"].into_iter().enumerate() {
        let layout = generate_single_layout(&work.path().join(tag), tag, 90 + i as u64);
        skopeo_push(
            &skopeo,
            &layout,
            &host,
            "acme/app",
            &format!("vendor:{TEST_TOKEN}"),
        );
    }
    let customer = server.customer("Initech", "customer_member");
    server.entitle(&customer, "app-1", "app", "1.0", None);
    let containerd = Containerd::start(work.path());
    let as_customer = format!("ops:{}", customer.token);
    let pull = |tag: &str, user: &str| {
        containerd.ctr(&[
            "images",
            "pull",
            "--plain-http",
            "--snapshotter",
            "native",
            "--user",
            user,
            &format!("{host}/acme/app:{tag}"),
        ])
    };
    let ok = pull("1.0", &as_customer);
    assert!(ok.status.success(), "ctr pull of 1.0: {}", stderr(&ok));
    let denied = pull("2.0", &as_customer);
    assert!(!denied.status.success(), "ctr pulled 2.0");
    assert!(stderr(&denied).contains("403"), "{}", stderr(&denied));
    // The customer's push is refused at once (no 401 loop, no hang).
    let local = format!("{host}/acme/app:1.0");
    let pushed = format!("{host}/acme/app:9.0");
    let tagged = containerd.ctr(&["images", "tag", &local, &pushed]);
    assert!(tagged.status.success(), "{}", stderr(&tagged));
    let push =
        |user: &str| containerd.ctr(&["images", "push", "--plain-http", "--user", user, &pushed]);
    let refused = push(&as_customer);
    assert!(!refused.status.success(), "a customer pushed with ctr");
    let message = stderr(&refused);
    assert!(message.contains("403"), "{message}");
    // The vendor's push of the same image works.
    let vendor = push(&format!("vendor:{TEST_TOKEN}"));
    assert!(vendor.status.success(), "vendor push: {}", stderr(&vendor));
    let reg = server.registry();
    assert_eq!(reg.get_manifest("acme/app", "9.0").await.status(), 200);
}

/// A `dockerd` of the test's own (`vfs` storage, no iptables, no bridge;
/// data root, exec root and socket in `dir`), with a `docker` client config
/// of its own. Stopped on drop.
struct Dockerd {
    daemon: Daemon,
    socket: PathBuf,
    config: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Dockerd {
        let socket = dir.join("docker.sock");
        let daemon = Daemon::spawn(
            "dockerd",
            "docker.io",
            &["/usr/sbin/dockerd", "/usr/bin/docker"],
            dir,
            Command::new("/usr/sbin/dockerd")
                .args([
                    "--storage-driver",
                    "vfs",
                    "--iptables=false",
                    "--bridge=none",
                ])
                .arg("--data-root")
                .arg(dir.join("data"))
                .arg("--exec-root")
                .arg(dir.join("exec"))
                .arg("--pidfile")
                .arg(dir.join("dockerd.pid"))
                .arg("--host")
                .arg(format!("unix://{}", socket.display())),
        );
        let docker = Dockerd {
            daemon,
            socket,
            config: dir.join("client"),
        };
        docker
            .daemon
            .wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
                docker.run(&["version"], None).status.success()
            });
        docker
    }

    /// `docker <args>` (with `input` on stdin).
    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        use std::io::Write as _;
        let mut child = Command::new("/usr/bin/docker")
            .arg("--host")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .env("DOCKER_CONFIG", &self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input.unwrap_or("").as_bytes()).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The failure of `docker <args>`: its whole output (docker writes the
    /// daemon's error to stderr, a push's progress and error to stdout).
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(!out.status.success(), "docker {args:?} succeeded");
        format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))
    }

    fn login(&self, host: &str, token: &str) {
        let out = self.run(
            &["login", "-u", "someone", "--password-stdin", host],
            Some(token),
        );
        assert!(out.status.success(), "docker login: {}", stderr(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_pushes_pulls_and_says_why_not() {
    let server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();
    let docker = Dockerd::start(work.path());
    let repo = format!("{host}/{TEST_ORG}/app");
    // Two images, imported from root file systems (no registry needed).
    docker.login(&host, TEST_TOKEN);
    for tag in ["1.0", "2.0"] {
        let (tar_gz, _) = distr_test_support::layout::make_layer(&[(
            "hello.txt".to_owned(),
            format!("hello from {tag}\n").into_bytes(),
        )]);
        let file = work.path().join(format!("rootfs-{tag}.tar.gz"));
        std::fs::write(&file, tar_gz).unwrap();
        let image = format!("{repo}:{tag}");
        docker.ok(&["import", file.to_str().unwrap(), &image]);
        docker.ok(&["push", &image]);
        docker.ok(&["rmi", &image]);
    }
    let customer = server.customer("Initech", "customer_member");
    server.entitle(&customer, "app-1", "app", "1.0", None);

    docker.login(&host, &customer.token);
    docker.ok(&["pull", &format!("{repo}:1.0")]);
    let denied = docker.fails(&["pull", &format!("{repo}:2.0")]);
    assert!(
        denied.contains("denied: not entitled to tag 2.0"),
        "{denied}"
    );
    docker.ok(&["tag", &format!("{repo}:1.0"), &format!("{repo}:3.0")]);
    let push = docker.fails(&["push", &format!("{repo}:3.0")]);
    assert!(
        push.contains("denied: customers cannot push or delete"),
        "{push}"
    );
    let unknown = docker.fails(&["pull", &format!("{host}/globex/app:1.0")]);
    assert!(unknown.contains("name unknown"), "{unknown}");
}
