//! Everything a client pushed survives a graceful restart (SIGTERM → exit 0,
//! start again on the same --data-dir), checked over raw HTTP. The skopeo
//! test (skopeo_multiarch.rs) repeats this with a real client.

mod common;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_blobs_manifests_tags_and_referrers() {
    let mut server = Server::start();
    let reg = server.registry();

    let img = reg.push_image("acme/app", "1.0", 1).await;
    reg.put_manifest_ok("acme/app", "latest", OCI_MANIFEST, &img.manifest)
        .await;
    let other = reg.push_image("acme/charts/web", "0.1.0", 2).await;

    let big = pseudo_random_bytes(3, 256 * 1024 + 17);
    let big512 = sha512_digest(&big);
    reg.push_blob_with_digest("acme/app", &big, &big512).await;

    let empty_digest = reg.push_blob("acme/app", b"{}").await;
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": img.manifest_digest, "size": img.manifest.len()}
    }))
    .unwrap();
    let sig_digest = sha256_digest(&sig);
    reg.put_manifest_ok("acme/app", &sig_digest, OCI_MANIFEST, &sig)
        .await;

    // A deleted tag stays deleted.
    reg.put_manifest_ok("acme/app", "doomed", OCI_MANIFEST, &img.manifest)
        .await;
    let resp = reg
        .client
        .delete(reg.url("/v2/acme/app/manifests/doomed"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "DELETE tag doomed");

    let old_addr = server.host_port();
    server.restart();
    let reg = server.registry();
    eprintln!("restarted: {old_addr} -> {}", server.host_port());

    // Manifests by tag and digest, byte-exact.
    for (repo, reference, bytes) in [
        ("acme/app", "1.0", &img.manifest),
        ("acme/app", "latest", &img.manifest),
        ("acme/app", img.manifest_digest.as_str(), &img.manifest),
        ("acme/app", sig_digest.as_str(), &sig),
        ("acme/charts/web", "0.1.0", &other.manifest),
    ] {
        let resp = reg.get_manifest(repo, reference).await;
        assert_eq!(
            resp.status().as_u16(),
            200,
            "after restart: GET /v2/{repo}/manifests/{reference}"
        );
        assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "after restart: {repo}:{reference} bytes"
        );
    }
    let resp = reg.get_manifest("acme/app", "doomed").await;
    expect_oci_error(resp, 404, "MANIFEST_UNKNOWN", "after restart: deleted tag").await;

    // Blobs, including sha512 and ranges.
    assert_eq!(reg.get_blob("acme/app", &img.layer_digest).await, img.layer);
    assert_eq!(
        reg.get_blob("acme/app", &big512).await,
        big,
        "after restart: sha512 blob"
    );
    let resp = reg
        .client
        .get(reg.url(&format!("/v2/acme/app/blobs/{big512}")))
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(
        header(&resp, "content-range"),
        Some(format!("bytes 100-199/{}", big.len()))
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &big[100..200]);

    // Tags, catalog, referrers.
    let pages = reg.paginate("/v2/acme/app/tags/list", 5).await;
    assert_eq!(
        pages[0].0["tags"],
        json!(["1.0", "latest"]),
        "after restart: tags"
    );
    let pages = reg.paginate("/v2/_catalog", 5).await;
    assert_eq!(
        pages[0].0["repositories"],
        json!(["acme/app", "acme/charts/web"]),
        "after restart: catalog"
    );
    let index: Value = reg
        .get(&format!("/v2/acme/app/referrers/{}", img.manifest_digest))
        .await
        .json()
        .await
        .unwrap();
    let manifests = index["manifests"].as_array().expect("referrers manifests");
    assert_eq!(manifests.len(), 1, "after restart: referrers {index}");
    assert_eq!(manifests[0]["digest"], sig_digest.as_str());
    assert_eq!(
        manifests[0]["artifactType"],
        "application/vnd.example.signature.v1"
    );

    // And it still accepts writes.
    let again = reg.push_image("acme/app", "2.0", 4).await;
    assert_eq!(
        reg.get_manifest("acme/app", "2.0").await.status().as_u16(),
        200
    );
    drop(again);

    // A second restart, for good measure, with the new tag present.
    server.restart();
    let reg = server.registry();
    let pages = reg.paginate("/v2/acme/app/tags/list", 5).await;
    assert_eq!(
        pages[0].0["tags"],
        json!(["1.0", "2.0", "latest"]),
        "after second restart: tags"
    );

    server.stop();
}

/// The server handles SIGTERM from the moment it prints `listening on`:
/// stopping it right away is still a graceful exit 0 (the handlers are
/// installed before the line is printed).
#[test]
fn sigterm_right_after_the_listening_line_exits_0() {
    let mut server = Server::start();
    for _ in 0..5 {
        server.restart();
    }
    server.stop();
}
