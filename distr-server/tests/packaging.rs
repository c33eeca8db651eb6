//! What can be checked of the packaging here: the systemd unit passes
//! `systemd-analyze verify` (warnings count as failures), and the
//! Dockerfile builds this package and runs it unprivileged, with the data
//! volume and a health check on `/readyz`. (Building the image needs base
//! images from a registry, which these machines do not reach.)

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_systemd_unit_verifies() {
    let root = workspace_root();
    let unit =
        std::fs::read_to_string(root.join("packaging/systemd/distr-server.service")).unwrap();
    let installed = "/usr/local/bin/distr-server";
    assert!(unit.contains(&format!("ExecStart={installed} ")), "{unit}");
    // `verify` checks that ExecStart is executable: point it at this build.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("distr-server.service");
    std::fs::write(&path, unit.replace(installed, SERVER_BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is required (apt-get install -y systemd): {e}; this test never skips")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert_eq!(stderr.trim(), "", "systemd-analyze verify warned");
}

#[test]
fn the_dockerfile_runs_the_server_unprivileged_with_a_volume_and_a_health_check() {
    let root = workspace_root();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let instructions: Vec<String> = dockerfile
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let find = |keyword: &str| -> Vec<&String> {
        instructions
            .iter()
            .filter(|l| l.split_whitespace().next() == Some(keyword))
            .collect()
    };
    assert_eq!(find("FROM").len(), 2, "multi-stage: {instructions:?}");
    assert!(
        find("RUN")
            .iter()
            .any(|l| l.contains("cargo build --release --locked -p distr-server")),
        "{instructions:?}"
    );
    let user = find("USER");
    assert_eq!(user.len(), 1, "{instructions:?}");
    let uid = user[0].split_whitespace().nth(1).unwrap();
    assert!(
        !uid.starts_with("0") && !uid.starts_with("root"),
        "runs as {uid}"
    );
    // The final stage's settings, after its FROM.
    let last_from = instructions
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .unwrap();
    let last_user = instructions
        .iter()
        .rposition(|l| l.starts_with("USER "))
        .unwrap();
    assert!(last_user > last_from, "USER belongs to the final stage");
    assert!(
        find("VOLUME").iter().any(|l| l.contains("/var/lib/distr")),
        "{instructions:?}"
    );
    assert!(
        find("ENV")
            .iter()
            .any(|l| l.contains("DISTR_DATA_DIR=/var/lib/distr")
                && l.contains("DISTR_LISTEN=0.0.0.0:5000")),
        "{instructions:?}"
    );
    assert!(
        find("HEALTHCHECK")
            .iter()
            .any(|l| l.contains("http://127.0.0.1:5000/readyz")),
        "{instructions:?}"
    );
    assert!(
        find("ENTRYPOINT")
            .iter()
            .any(|l| l.contains("/usr/local/bin/distr-server")),
        "{instructions:?}"
    );
    // The build context leaves out what would make it slow or leak data.
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    for entry in ["target/", "distr-data/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), "{entry}");
    }
}
