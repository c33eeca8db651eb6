//! Push and pull a Helm chart as an OCI artifact with oras-py (PyPI `oras`).
//!
//! The interpreter comes from `$DISTR_TEST_PYTHON` (set by scripts/test) or
//! `<workspace>/target/e2e-venv/bin/python`; the test fails loudly if neither
//! can `import oras`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Value};

const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const REPO: &str = "acme/charts/web";

struct Chart {
    tgz: PathBuf,
    config: PathBuf,
    tgz_bytes: Vec<u8>,
    config_bytes: Vec<u8>,
}

/// Package a small but real Helm chart (`helm package` layout) and its
/// config JSON (Chart.yaml as JSON, as Helm pushes it).
fn make_chart(dir: &Path, version: &str, padding: usize) -> Chart {
    std::fs::create_dir_all(dir).unwrap();
    let chart_yaml = format!(
        "apiVersion: v2\nname: web\ndescription: distr e2e chart\ntype: application\nversion: {version}\nappVersion: \"1.0\"\n"
    );
    let values = "replicaCount: 1\nimage:\n  repository: 127.0.0.1/acme/app\n  tag: \"1.0\"\n";
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\ndata:\n  hello: world\n";
    // Incompressible-ish text so chunked uploads really take several chunks.
    let notes = hex::encode(pseudo_random_bytes(
        version.len() as u64 + padding as u64,
        padding,
    ));
    let (tgz_bytes, _) = make_layer(&[
        ("web/Chart.yaml".to_string(), chart_yaml.into_bytes()),
        ("web/values.yaml".to_string(), values.as_bytes().to_vec()),
        (
            "web/templates/configmap.yaml".to_string(),
            template.as_bytes().to_vec(),
        ),
        ("web/templates/NOTES.txt".to_string(), notes.into_bytes()),
    ]);
    let config_bytes = serde_json::to_vec(&json!({
        "name": "web",
        "version": version,
        "description": "distr e2e chart",
        "apiVersion": "v2",
        "appVersion": "1.0",
        "type": "application"
    }))
    .unwrap();
    let tgz = dir.join(format!("web-{version}.tgz"));
    let config = dir.join("config.json");
    std::fs::write(&tgz, &tgz_bytes).unwrap();
    std::fs::write(&config, &config_bytes).unwrap();
    Chart {
        tgz,
        config,
        tgz_bytes,
        config_bytes,
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oras_helm.py")
}

/// Run the helper and parse the JSON on the last stdout line.
fn run_helper(python: &Path, args: &[&str]) -> Value {
    // The helper authenticates with the vendor admin token from the environment.
    let out = run_ok(
        Command::new(python)
            .arg(script())
            .args(args)
            .env("DISTR_E2E_TOKEN", TEST_TOKEN),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "oras_helm.py {args:?}: last stdout line is not JSON ({e}).\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn oras_push(
    python: &Path,
    host: &str,
    reference: &str,
    chart: &Chart,
    chunk: Option<usize>,
) -> Value {
    let mut args = vec![
        "push".to_string(),
        "--registry".into(),
        host.into(),
        "--ref".into(),
        reference.into(),
        "--chart".into(),
        chart.tgz.display().to_string(),
        "--config".into(),
        chart.config.display().to_string(),
    ];
    if let Some(size) = chunk {
        args.extend([
            "--chunked".to_string(),
            "--chunk-size".into(),
            size.to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_helper(python, &args)
}

fn oras_pull(python: &Path, host: &str, reference: &str, outdir: &Path) -> Vec<PathBuf> {
    let v = run_helper(
        python,
        &[
            "pull",
            "--registry",
            host,
            "--ref",
            reference,
            "--outdir",
            &outdir.display().to_string(),
        ],
    );
    v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect()
}

/// The manifest served over HTTP is a Helm chart manifest for `chart`.
async fn check_manifest(reg: &Registry, tag: &str, chart: &Chart) -> String {
    let resp = reg.get_manifest(REPO, tag).await;
    let status = resp.status().as_u16();
    let ct = header(&resp, "content-type");
    let dcd = header(&resp, "docker-content-digest");
    let body = resp.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "GET /v2/{REPO}/manifests/{tag}: {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        ct.as_deref(),
        Some(OCI_MANIFEST),
        "GET /v2/{REPO}/manifests/{tag}: Content-Type"
    );
    assert_eq!(
        dcd.as_deref(),
        Some(sha256_digest(&body).as_str()),
        "Docker-Content-Digest of {tag}"
    );
    let m: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(m["schemaVersion"], 2);
    assert_eq!(
        m["config"]["mediaType"], HELM_CONFIG,
        "config media type: {m}"
    );
    assert_eq!(
        m["config"]["digest"],
        sha256_digest(&chart.config_bytes).as_str(),
        "config digest: {m}"
    );
    assert_eq!(
        m["config"]["size"],
        chart.config_bytes.len(),
        "config size: {m}"
    );
    let layers = m["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one chart layer: {m}");
    assert_eq!(layers[0]["mediaType"], HELM_CHART, "layer media type: {m}");
    assert_eq!(
        layers[0]["digest"],
        sha256_digest(&chart.tgz_bytes).as_str(),
        "layer digest: {m}"
    );
    assert_eq!(layers[0]["size"], chart.tgz_bytes.len(), "layer size: {m}");
    // The blobs themselves.
    assert_eq!(
        reg.get_blob(REPO, &sha256_digest(&chart.config_bytes))
            .await,
        chart.config_bytes,
        "config blob"
    );
    assert_eq!(
        reg.get_blob(REPO, &sha256_digest(&chart.tgz_bytes)).await,
        chart.tgz_bytes,
        "chart blob"
    );
    dcd.unwrap()
}

fn check_pulled(files: &[PathBuf], chart: &Chart, what: &str) {
    assert_eq!(files.len(), 1, "{what}: oras pulled {files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        name,
        chart.tgz.file_name().unwrap().to_string_lossy(),
        "{what}: pulled file name"
    );
    let bytes = std::fs::read(&files[0]).unwrap();
    assert!(
        bytes == chart.tgz_bytes,
        "{what}: pulled chart bytes differ from pushed ({} vs {} bytes)",
        bytes.len(),
        chart.tgz_bytes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oras_py_pushes_and_pulls_helm_chart() {
    let python = require_python_with_oras();
    let server = Server::start();
    let host = server.host_port();
    let reg = server.registry();
    let work = tempfile::tempdir().unwrap();

    // 1. Monolithic push (oras-py default: POST + PUT?digest=).
    let chart1 = make_chart(&work.path().join("c1"), "0.1.0", 512);
    let pushed = oras_push(&python, &host, &format!("{REPO}:0.1.0"), &chart1, None);
    assert_eq!(
        pushed["status"], 201,
        "oras push 0.1.0 manifest PUT status: {pushed}"
    );
    let digest = check_manifest(&reg, "0.1.0", &chart1).await;
    assert_eq!(
        pushed["digest"],
        digest.as_str(),
        "Docker-Content-Digest seen by oras: {pushed}"
    );

    let files = oras_pull(
        &python,
        &host,
        &format!("{REPO}:0.1.0"),
        &work.path().join("out1"),
    );
    check_pulled(&files, &chart1, "pull 0.1.0");

    // 2. Chunked push (POST, several PATCHes, PUT) of a second version.
    let chart2 = make_chart(&work.path().join("c2"), "0.2.0", 12 * 1024);
    assert!(
        chart2.tgz_bytes.len() > 3 * 4096,
        "chart 0.2.0 must span several 4 KiB chunks"
    );
    let pushed = oras_push(
        &python,
        &host,
        &format!("{REPO}:0.2.0"),
        &chart2,
        Some(4096),
    );
    assert_eq!(pushed["status"], 201, "oras chunked push 0.2.0: {pushed}");
    check_manifest(&reg, "0.2.0", &chart2).await;
    let files = oras_pull(
        &python,
        &host,
        &format!("{REPO}:0.2.0"),
        &work.path().join("out2"),
    );
    check_pulled(&files, &chart2, "pull 0.2.0");

    // Both versions are listed as tags.
    let pages = reg.paginate(&format!("/v2/{REPO}/tags/list"), 10).await;
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].0["name"], REPO);
    assert_eq!(pages[0].0["tags"], json!(["0.1.0", "0.2.0"]));
}
