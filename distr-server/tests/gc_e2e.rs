//! `distr-server gc`: with a zero grace period, the blobs of a deleted
//! manifest are removed from the data directory while the server runs;
//! the blobs of a live image stay.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::*;

/// Files named `name` under `dir`.
fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            found.extend(find(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
    found
}

fn hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_the_blobs_of_deleted_manifests() {
    let server = Server::start();
    let reg = server.registry();
    let doomed = reg.push_image("acme/app", "1.0", 1).await;
    let kept = reg.push_image("acme/app", "2.0", 2).await;
    let data = server.data_dir();
    assert_eq!(find(data, hex(&doomed.layer_digest)).len(), 1);

    let resp = reg
        .client
        .delete(reg.url(&format!(
            "/v2/acme/app/manifests/{}",
            doomed.manifest_digest
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "DELETE manifest");

    let out = server_command()
        .env("DISTR_LOG", "warn")
        .env("DISTR_GC_GRACE", "0")
        .arg("--data-dir")
        .arg(data)
        .arg("gc")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "distr-server gc failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deleted: 2"), "{stdout}");

    assert!(find(data, hex(&doomed.layer_digest)).is_empty());
    assert!(find(data, hex(&doomed.config_digest)).is_empty());
    assert_eq!(find(data, hex(&kept.layer_digest)).len(), 1);
    let gone = reg
        .client
        .get(reg.url(&format!("/v2/acme/app/blobs/{}", doomed.layer_digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404);
    let live = reg
        .client
        .get(reg.url(&format!("/v2/acme/app/blobs/{}", kept.layer_digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 200);
    assert_eq!(live.bytes().await.unwrap().as_ref(), kept.layer.as_slice());
}
