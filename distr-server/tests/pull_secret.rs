//! The Kubernetes pull secret from the management API works for a real
//! client: its `.dockerconfigjson` is an auth file `skopeo --authfile`
//! pulls with, as a customer entitled to the image.

mod common;

use std::process::Stdio;

use base64::Engine;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_secret_works_as_a_skopeo_authfile() {
    let skopeo = require_skopeo();
    let server = Server::start();
    let reg = server.registry();
    let host = server.host_port();
    reg.push_image("acme/app", "1.0", 11).await;
    reg.push_image("acme/app", "2.0", 12).await;

    // A customer entitled to 1.* only, with one user and a token, via the API.
    let api = server.api();
    let artifact = api.artifact_id("app").await;
    let login = api.customer_login("Initech", "ops@initech.test").await;
    let cid = login.customer_id;
    api.entitle(&cid, "v1", &artifact, &["1.*"]).await;

    // The pull secret, as YAML, with a token made for it in the same call.
    let yaml = reqwest::Client::new()
        .post(reg.url(&format!("/api/v1/customers/{cid}/pull-secret")))
        .header("authorization", format!("AccessToken {TEST_TOKEN}"))
        .json(&serde_json::json!({
            "registry": host, "namespace": "prod", "user_id": login.user_id
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(yaml.status(), 201);
    let token_id = yaml.headers()["distr-token-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(token_id, login.token_id, "a dedicated token");
    let yaml = yaml.text().await.unwrap();
    assert!(
        yaml.contains("type: kubernetes.io/dockerconfigjson"),
        "{yaml}"
    );
    assert!(yaml.contains("namespace: prod"), "{yaml}");
    let encoded = yaml
        .lines()
        .find_map(|l| l.trim().strip_prefix(".dockerconfigjson:"))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("no .dockerconfigjson in {yaml}"));
    let config = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect(".dockerconfigjson is base64");
    let parsed: Value = serde_json::from_slice(&config).expect(".dockerconfigjson is JSON");
    assert!(
        parsed["auths"][host.as_str()]["auth"].is_string(),
        "{parsed}"
    );

    // skopeo pulls with it: the entitled tag, not the other one.
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    std::fs::write(&authfile, &config).unwrap();
    let inspect = |tag: &str| {
        skopeo_cmd(&skopeo)
            .args([
                "inspect",
                "--raw",
                "--retry-times",
                "0",
                "--tls-verify=false",
                "--authfile",
            ])
            .arg(&authfile)
            .arg(format!("docker://{host}/acme/app:{tag}"))
            .stdin(Stdio::null())
            .output()
            .expect("run skopeo")
    };
    let ok = inspect("1.0");
    assert!(
        ok.status.success(),
        "skopeo with the pull secret: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let copy = skopeo_cmd(&skopeo)
        .args([
            "copy",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            "--authfile",
        ])
        .arg(&authfile)
        .arg(format!("docker://{host}/acme/app:1.0"))
        .arg(format!("oci:{}:1.0", dir.path().join("layout").display()))
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(
        copy.status.success(),
        "skopeo copy with the pull secret: {}",
        String::from_utf8_lossy(&copy.stderr)
    );
    let denied = inspect("2.0");
    assert!(!denied.status.success(), "2.0 is not entitled");
    // Without the auth file there are no credentials at all.
    let anonymous = skopeo_cmd(&skopeo)
        .args([
            "inspect",
            "--raw",
            "--retry-times",
            "0",
            "--tls-verify=false",
            "--no-creds",
        ])
        .arg(format!("docker://{host}/acme/app:1.0"))
        .stdin(Stdio::null())
        .output()
        .expect("run skopeo");
    assert!(!anonymous.status.success());
}
