//! The Helm chart of distr (`packaging/helm/distr`) lints clean and renders
//! both shapes (one replica on SQLite + a claim; Postgres + S3 with N
//! replicas, secrets from a Secret) and refuses the shapes that cannot work,
//! with a real Helm v4 (`helm-python-sdk`): see `helm_chart.py`.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_chart_lints_and_renders_both_shapes() {
    let python = require_python_with("helm_python, yaml", "helm-python-sdk pyyaml");
    let root = workspace_root();
    let out = Command::new(&python)
        .arg(root.join("distr-server/tests/helm_chart.py"))
        .arg(root.join("packaging/helm/distr"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "helm_chart.py: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
