//! `skopeo copy --all` of a generated multi-arch OCI image into distr and
//! back, byte-for-byte, before and after a server restart.
//!
//! Requires `skopeo` on PATH (scripts/test installs it); fails loudly if it
//! is missing.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

const REPO: &str = "acme/app";
const TAG: &str = "1.0";

fn push_with_skopeo(skopeo: &Path, layout: &GeneratedLayout, host: &str, repo: &str) {
    skopeo_push(skopeo, layout, host, repo, &creds(TEST_TOKEN));
}

fn pull_with_skopeo(skopeo: &Path, host: &str, repo: &str, tag: &str, out: &Path) {
    run_ok(skopeo_cmd(skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        &creds(TEST_TOKEN),
        &format!("docker://{host}/{repo}:{tag}"),
        &format!("oci:{}:{tag}", out.display()),
    ]));
}

fn inspect_raw(skopeo: &Path, host: &str, reference: &str) -> Vec<u8> {
    run_ok(skopeo_cmd(skopeo).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds(TEST_TOKEN),
        &format!("docker://{host}/{reference}"),
    ]))
    .stdout
}

/// Every digest in the pulled layout equals the generated one.
fn verify_pulled(out: &Path, generated: &GeneratedLayout, what: &str) {
    let (index_digest, index_bytes) = read_layout_ref(out, &generated.tag);
    assert_eq!(
        index_digest, generated.index_digest,
        "{what}: pulled index digest"
    );
    assert_eq!(index_bytes, generated.index, "{what}: pulled index bytes");

    let index: Value = serde_json::from_slice(&index_bytes).unwrap();
    let listed: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digest"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed.len(),
        2,
        "{what}: index lists two platform manifests"
    );

    for p in &generated.platforms {
        assert!(
            listed.contains(&p.manifest_digest.as_str()),
            "{what}: index lists {}",
            p.manifest_digest
        );
        let manifest_bytes = read_layout_blob(out, &p.manifest_digest);
        assert_eq!(
            &manifest_bytes, &generated.blobs[&p.manifest_digest],
            "{what}: {}/{} manifest bytes",
            p.os, p.arch
        );
        let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
        assert_eq!(
            manifest["config"]["digest"],
            p.config_digest.as_str(),
            "{what}: {} config digest",
            p.arch
        );
        let layers: Vec<&str> = manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = p.layer_digests.iter().map(String::as_str).collect();
        assert_eq!(layers, expected, "{what}: {} layer digests", p.arch);
        let config = read_layout_blob(out, &p.config_digest);
        assert_eq!(
            config, generated.blobs[&p.config_digest],
            "{what}: {} config bytes",
            p.arch
        );
        for l in &p.layer_digests {
            let layer = read_layout_blob(out, l);
            assert_eq!(
                layer, generated.blobs[l],
                "{what}: {} layer {l} bytes",
                p.arch
            );
        }
    }
    // And nothing was lost or rewritten.
    for (digest, bytes) in &generated.blobs {
        assert_eq!(
            &read_layout_blob(out, digest),
            bytes,
            "{what}: blob {digest}"
        );
    }
}

/// The registry serves the index, both manifests and every blob over HTTP.
async fn verify_over_http(reg: &Registry, repo: &str, generated: &GeneratedLayout, what: &str) {
    let resp = reg.get_manifest(repo, TAG).await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{what}: GET /v2/{repo}/manifests/{TAG}"
    );
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some(OCI_INDEX),
        "{what}: Content-Type of the index"
    );
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(generated.index_digest.as_str()),
        "{what}: Docker-Content-Digest of the index"
    );
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        generated.index.as_slice(),
        "{what}: index bytes"
    );

    for p in &generated.platforms {
        let resp = reg.get_manifest(repo, &p.manifest_digest).await;
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{what}: GET manifest {}",
            p.manifest_digest
        );
        assert_eq!(
            header(&resp, "content-type").as_deref(),
            Some(OCI_MANIFEST),
            "{what}: manifest Content-Type"
        );
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            generated.blobs[&p.manifest_digest].as_slice(),
            "{what}: manifest {} bytes",
            p.manifest_digest
        );
        let mut blobs = vec![p.config_digest.clone()];
        blobs.extend(p.layer_digests.iter().cloned());
        for d in blobs {
            let resp = reg.head(&format!("/v2/{repo}/blobs/{d}")).await;
            assert_eq!(resp.status().as_u16(), 200, "{what}: HEAD blob {d}");
            assert_eq!(
                header(&resp, "content-length").and_then(|v| v.parse::<usize>().ok()),
                Some(generated.blobs[&d].len()),
                "{what}: HEAD blob {d} Content-Length"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copy_all_multiarch_roundtrip_and_restart() {
    let skopeo = require_skopeo();
    let mut server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let layout = generate_multiarch_layout(&work.path().join("src-layout"), TAG);

    // Push the whole index with skopeo.
    push_with_skopeo(&skopeo, &layout, &server.host_port(), REPO);
    verify_over_http(&server.registry(), REPO, &layout, "after skopeo push").await;

    // `skopeo inspect --raw` returns the exact index bytes.
    let raw = inspect_raw(&skopeo, &server.host_port(), &format!("{REPO}:{TAG}"));
    assert_eq!(
        raw, layout.index,
        "skopeo inspect --raw must return the pushed index bytes"
    );
    // ... and a platform manifest by digest.
    let amd64 = &layout.platforms[0];
    let raw = inspect_raw(
        &skopeo,
        &server.host_port(),
        &format!("{REPO}@{}", amd64.manifest_digest),
    );
    assert_eq!(
        raw, layout.blobs[&amd64.manifest_digest],
        "inspect --raw of the amd64 manifest"
    );

    // Pull everything back into a fresh OCI layout and compare digests.
    let out1 = work.path().join("pulled-1");
    pull_with_skopeo(&skopeo, &server.host_port(), REPO, TAG, &out1);
    verify_pulled(&out1, &layout, "first pull");

    // skopeo list-tags goes through /tags/list.
    let tags = run_ok(skopeo_cmd(&skopeo).args([
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &server.creds(),
        &format!("docker://{}/{REPO}", server.host_port()),
    ]))
    .stdout;
    let tags: Value = serde_json::from_slice(&tags).expect("list-tags prints JSON");
    assert_eq!(
        tags["Tags"],
        serde_json::json!([TAG]),
        "skopeo list-tags: {tags}"
    );

    // Registry-to-registry copy into a second repository of the same
    // registry (skopeo uses cross-repository blob mounts for this).
    run_ok(skopeo_cmd(&skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        &server.creds(),
        "--dest-creds",
        &server.creds(),
        &format!("docker://{}/{REPO}:{TAG}", server.host_port()),
        &format!("docker://{}/acme/app-mirror:{TAG}", server.host_port()),
    ]));
    verify_over_http(
        &server.registry(),
        "acme/app-mirror",
        &layout,
        "mirror repo",
    )
    .await;

    // Restart on the same data dir: everything is still there.
    server.restart();
    verify_over_http(&server.registry(), REPO, &layout, "after restart").await;
    verify_over_http(
        &server.registry(),
        "acme/app-mirror",
        &layout,
        "mirror after restart",
    )
    .await;
    let raw = inspect_raw(&skopeo, &server.host_port(), &format!("{REPO}:{TAG}"));
    assert_eq!(raw, layout.index, "inspect --raw after restart");
    let out2 = work.path().join("pulled-2");
    pull_with_skopeo(&skopeo, &server.host_port(), REPO, TAG, &out2);
    verify_pulled(&out2, &layout, "pull after restart");

    server.stop();
}

/// Docker-format push: skopeo converts the index to a Docker manifest list
/// (v2s2) on the way in; distr stores and serves it as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_docker_v2s2_manifest_list() {
    let skopeo = require_skopeo();
    let server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();
    let layout = generate_multiarch_layout(&work.path().join("src-layout"), TAG);
    let repo = "acme/app-docker";
    run_ok(skopeo_cmd(&skopeo).args([
        "copy",
        "--all",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        "--dest-creds",
        &server.creds(),
        &format!("oci:{}:{TAG}", layout.dir.display()),
        &format!("docker://{host}/{repo}:{TAG}"),
    ]));
    let raw = inspect_raw(&skopeo, &host, &format!("{repo}:{TAG}"));
    let list: Value = serde_json::from_slice(&raw).expect("manifest list JSON");
    assert_eq!(list["mediaType"], DOCKER_LIST, "pushed list: {list}");
    let reg = server.registry();
    let resp = reg.get_manifest(repo, TAG).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some(DOCKER_LIST),
        "served Content-Type"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), raw.as_slice());
    for child in list["manifests"].as_array().unwrap() {
        let d = child["digest"].as_str().unwrap();
        let resp = reg.get_manifest(repo, d).await;
        assert_eq!(resp.status().as_u16(), 200, "child {d}");
        assert_eq!(
            header(&resp, "content-type").as_deref(),
            Some(DOCKER_MANIFEST),
            "child {d} Content-Type"
        );
    }
    // Pull back: layers keep their digests (configs are rewritten by the
    // OCI → Docker conversion, so only the layers are compared).
    let out = work.path().join("pulled");
    pull_with_skopeo_converting(&skopeo, &host, repo, TAG, &out);
    for p in &layout.platforms {
        for d in &p.layer_digests {
            assert_eq!(
                &read_layout_blob(&out, d),
                &layout.blobs[d],
                "blob {d} after docker round trip"
            );
        }
    }
}

fn pull_with_skopeo_converting(skopeo: &Path, host: &str, repo: &str, tag: &str, out: &Path) {
    run_ok(skopeo_cmd(skopeo).args([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        &creds(TEST_TOKEN),
        &format!("docker://{host}/{repo}:{tag}"),
        &format!("oci:{}:{tag}", out.display()),
    ]));
}
