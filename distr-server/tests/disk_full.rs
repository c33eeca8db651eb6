//! Disk full during a pull-through fill: the client gets an error, never a
//! complete `200` body; nothing half-written is left or served later; once
//! space is free again the next pull fills the blob with the right bytes.
//!
//! The server runs in its own mount namespace (`unshare -m`, or
//! `unshare -rm` when not root) with its data directory on a 40 MiB tmpfs,
//! mounted by the launcher just before it `exec`s `distr-server`; the test
//! sees that directory through `/proc/<pid>/root`. A ballast file leaves
//! about 8 MiB free; the upstream (a real CNCF Distribution) holds an image
//! with a 24 MiB layer. The test fails, never skips, when the namespace or
//! the mount cannot be set up.
//!
//! Invariants:
//!
//! 1. the first GET of the 24 MiB blob does not complete (error status, or a
//!    body cut short / ending in an error): the client learns it failed;
//! 2. afterwards no blob file and no staging file of it exists (the failed
//!    write was removed, so the space is not lost either), and a second GET
//!    with the disk still full fails the same way;
//! 3. with the ballast removed, a GET returns exactly the upstream's bytes,
//!    and the committed file hashes to its digest;
//! 4. the server kept serving throughout (`/v2/` and the manifest answer).
//!
//! Requires `unshare` (util-linux), `/usr/bin/docker-registry`.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::hardening::{scan_blob_dir, sha256_file, Node};
use common::upstream::{UpstreamRegistry, UPSTREAM_REPO};
use common::*;
use serde_json::json;

const REPO: &str = "acme/app";
const MIB: usize = 1024 * 1024;
const TMPFS_SIZE: &str = "40m";
const LEFT_FREE: u64 = 8 * MIB as u64;
const BIG: usize = 24 * MIB;

/// How a blob GET ended.
#[derive(Debug)]
struct Outcome {
    status: u16,
    announced: Option<u64>,
    received: usize,
    body_error: Option<String>,
    digest: String,
    text: String,
}

impl Outcome {
    fn complete(&self, want: &str) -> bool {
        self.status == 200
            && self.body_error.is_none()
            && self.announced == Some(self.received as u64)
            && self.digest == want
    }
}

async fn fetch(reg: &Registry, digest: &str) -> Outcome {
    use futures::StreamExt as _;
    use sha2::Digest as _;
    let resp = reg
        .client
        .get(reg.url(&format!("/v2/{REPO}/blobs/{digest}")))
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                status: 0,
                announced: None,
                received: 0,
                body_error: Some(e.to_string()),
                digest: String::new(),
                text: String::new(),
            };
        }
    };
    let status = resp.status().as_u16();
    let announced = resp.content_length();
    let mut hasher = sha2::Sha256::new();
    let mut received = 0;
    let mut body_error = None;
    let mut text = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => {
                received += c.len();
                hasher.update(&c);
                if text.len() < 4096 {
                    text.extend_from_slice(&c[..c.len().min(4096)]);
                }
            }
            Err(e) => {
                body_error = Some(format!("{e:?}"));
                break;
            }
        }
    }
    Outcome {
        status,
        announced,
        received,
        body_error,
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        text: if status == 200 {
            String::new()
        } else {
            String::from_utf8_lossy(&text).into_owned()
        },
    }
}

/// Free bytes of the file system holding `path` (`stat -f`).
fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(path)
        .output()
        .expect("run stat -f");
    assert!(out.status.success(), "stat -f {}: {out:?}", path.display());
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_during_a_fill_fails_the_client_and_serves_nothing_half_written() {
    // An image with a 24 MiB layer upstream.
    let upstream = UpstreamRegistry::start().await;
    let up = Registry::new(&upstream.url());
    let big = pseudo_random_bytes(424_242, BIG);
    let big_digest = up.push_blob(UPSTREAM_REPO, &big).await;
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [big_digest]}
    }))
    .unwrap();
    let config_digest = up.push_blob(UPSTREAM_REPO, &config).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": big_digest, "size": big.len()}]
    }))
    .unwrap();
    up.put_manifest_ok(UPSTREAM_REPO, "big", OCI_MANIFEST, &manifest)
        .await;

    // distr on a small tmpfs, in its own mount namespace.
    let tmp = tempfile::Builder::new()
        .prefix("distr-e2e-diskfull-")
        .tempdir()
        .unwrap();
    let data_dir = tmp.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let script = format!(
        "mount -t tmpfs -o size={TMPFS_SIZE} distr-e2e-full \"$1\" && shift && exec \"$@\""
    );
    let launcher: Vec<OsString> = [
        "unshare",
        if is_root { "-m" } else { "-rm" },
        "sh",
        "-c",
        &script,
        "sh",
    ]
    .iter()
    .map(OsString::from)
    .chain([data_dir.clone().into_os_string()])
    .collect();
    let mut node = Node::start_with_launcher(
        &data_dir,
        &[("DISTR_UPSTREAM_TIMEOUT_SECS", "10")],
        &launcher,
    );
    let pid = node.pid();
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        mountinfo
            .lines()
            .any(|l| l.contains(&format!(" {} ", data_dir.display())) && l.contains(" - tmpfs ")),
        "the server's data directory {} is not on a tmpfs in its mount namespace:\n{mountinfo}",
        data_dir.display()
    );
    // The data directory as the server sees it.
    let view: PathBuf =
        Path::new(&format!("/proc/{pid}/root")).join(data_dir.strip_prefix("/").unwrap());
    assert!(
        view.join("distr.db").exists(),
        "no distr.db under {}",
        view.display()
    );

    let reg = node.registry();
    let resp = reg
        .client
        .post(reg.url("/api/v1/artifacts"))
        .header("authorization", format!("AccessToken {TEST_TOKEN}"))
        .json(&json!({
            "name": "app",
            "upstream": {"reference": upstream.reference(UPSTREAM_REPO), "insecure": true, "auth": {"kind": "none"}}
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "create the mirrored artifact: {text}");
    let m = reg.get_manifest(REPO, "big").await;
    assert_eq!(m.status().as_u16(), 200, "first pull of the manifest");
    assert_eq!(m.bytes().await.unwrap().as_ref(), manifest.as_slice());

    // Leave about 8 MiB free.
    let free = free_bytes(&view);
    assert!(
        free > LEFT_FREE + MIB as u64,
        "only {free} bytes free on the tmpfs"
    );
    std::fs::write(
        view.join("ballast.bin"),
        vec![0u8; (free - LEFT_FREE) as usize],
    )
    .expect("write the ballast");
    let free = free_bytes(&view);
    assert!(
        free < BIG as u64 / 2,
        "{free} bytes free after the ballast: the blob would fit"
    );

    // 1. The fill runs out of space: the client sees an error.
    let first = fetch(&reg, &big_digest).await;
    assert!(
        !first.complete(&big_digest),
        "the disk is full, yet the client got the whole blob: {first:?}"
    );
    assert!(
        first.status != 200
            || first.body_error.is_some()
            || first.announced != Some(first.received as u64),
        "a failed fill must look failed to the client (error status, or a body cut short \
         with an error), got {first:?}"
    );
    eprintln!(
        "disk full: first GET: status {}, {} of {:?} bytes, body error {:?}, {}",
        first.status, first.received, first.announced, first.body_error, first.text
    );

    // 2. Nothing of it is left, or served.
    let hex = big_digest.trim_start_matches("sha256:");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let dir = scan_blob_dir(&view);
        let leftovers: Vec<String> = dir
            .blobs
            .keys()
            .filter(|d| *d == &big_digest)
            .cloned()
            .chain(
                dir.staging
                    .iter()
                    .filter(|p| p.to_string_lossy().contains(hex))
                    .map(|p| p.display().to_string()),
            )
            .collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after the failed fill, files of the blob are still on disk: {leftovers:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = fetch(&reg, &big_digest).await;
    assert!(
        !second.complete(&big_digest),
        "the disk is still full, yet a second GET got the whole blob: {second:?}"
    );
    let v2 = reg.get("/v2/").await;
    assert_eq!(
        v2.status().as_u16(),
        200,
        "the server serves with the disk full"
    );

    // 3. Free the space: the next pull fills the blob, byte for byte.
    std::fs::remove_file(view.join("ballast.bin")).expect("remove the ballast");
    let mut last = None;
    for _ in 0..50 {
        let o = fetch(&reg, &big_digest).await;
        if o.complete(&big_digest) {
            last = None;
            break;
        }
        last = Some(o);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        last.is_none(),
        "with space free again the blob never came through complete: {last:?}"
    );
    assert_eq!(reg.get_blob(REPO, &big_digest).await, big, "cached bytes");
    let dir = scan_blob_dir(&view);
    let path = dir
        .blobs
        .get(&big_digest)
        .unwrap_or_else(|| panic!("the blob is not cached after the refill: {dir:?}"));
    assert_eq!(sha256_file(path).unwrap(), big_digest, "the cached file");
    assert!(
        dir.staging.is_empty(),
        "staging files left after the refill: {:?}",
        dir.staging
    );

    // 4. Still serving.
    let m = reg.get_manifest(REPO, "big").await;
    assert_eq!(m.status().as_u16(), 200, "manifest after the episode");
    node.stop();
}
