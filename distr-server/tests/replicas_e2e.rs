//! Scale out: two `distr-server` replicas over one PostgreSQL schema (the
//! metadata) and one S3 bucket (the blobs, served by moto), as a fleet behind
//! a load balancer would run.
//!
//! * `two_replicas_share_postgres_and_s3`: what the vendor pushes through
//!   replica A, replica B serves byte for byte; the blobs are in the bucket
//!   and not in either data dir; customers, entitlements and tokens managed
//!   through A's API are enforced by B, changes included.
//! * `scheduled_sync_runs_once_across_replicas`: with a schedule every
//!   second on both replicas, each scheduled time is run by exactly one.
//!
//! Requires (and fails loudly, never skips, without): PostgreSQL at
//! `DISTR_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `moto_server` (`pip install "moto[server]"`; see `common::fleet`) and
//! `skopeo`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::fleet::{log_field_i64, strip_ansi, Replica, Shared};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const REPO: &str = "acme/app";

fn push(skopeo: &Path, replica: &Replica, layout: &GeneratedLayout) {
    skopeo_push(skopeo, layout, &replica.host_port(), REPO, &replica.creds());
}

fn pull(skopeo: &Path, replica: &Replica, token: &str, tag: &str, out: &Path) -> Output {
    skopeo_pull(skopeo, &replica.host_port(), REPO, tag, &creds(token), out)
}

/// The pulled layout holds exactly the generated index, and every blob of
/// the generated image byte for byte.
fn verify_pulled(out: &Path, generated: &GeneratedLayout, what: &str) {
    let (digest, bytes) = read_layout_ref(out, &generated.tag);
    assert_eq!(digest, generated.index_digest, "{what}: index digest");
    assert_eq!(bytes, generated.index, "{what}: index bytes");
    for (digest, bytes) in &generated.blobs {
        assert_eq!(
            &read_layout_blob(out, digest),
            bytes,
            "{what}: blob {digest}"
        );
    }
}

/// `method path` on the management API of `replica` as the vendor admin;
/// requires `want` and returns the JSON body (`null` when empty).
async fn api(
    replica: &Replica,
    method: Method,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let (status, text, value) = ManagementApi::new(replica.base_url(), TEST_TOKEN)
        .call(method.clone(), path, body.as_ref())
        .await;
    assert_eq!(
        status,
        want,
        "{method} {path} on replica {} (body {body:?}): expected {want}, got {status}: {text}",
        replica.name()
    );
    value
}

/// Status of `GET /v2/<REPO>/manifests/<tag>` on `reg`.
async fn manifest_status(reg: &Registry, tag: &str) -> u16 {
    reg.client
        .get(reg.url(&format!("/v2/{REPO}/manifests/{tag}")))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET manifest {tag}: {e}"))
        .status()
        .as_u16()
}

/// Every regular file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The config and layer digests of a generated image (the blobs a registry
/// must keep in its blob store).
fn config_and_layer_digests(layout: &GeneratedLayout) -> BTreeSet<String> {
    layout
        .platforms
        .iter()
        .flat_map(|p| {
            std::iter::once(p.config_digest.clone()).chain(p.layer_digests.iter().cloned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_postgres_and_s3() {
    let skopeo = require_skopeo();
    let shared = Shared::start();
    // One after the other: A bootstraps the vendor org into the empty schema,
    // B's bootstrap finds it.
    let a = shared.replica("A", "");
    let b = shared.replica("B", "");
    let work = tempfile::tempdir().unwrap();

    assert!(
        a.log().contains("bootstrap: vendor organisation created"),
        "replica A bootstraps the empty database:\n{}",
        a.log()
    );
    assert!(
        !b.log().contains("vendor organisation created"),
        "replica B must find A's organisation, not create one:\n{}",
        b.log()
    );
    let tables = shared.schema.tables();
    assert!(
        !tables.is_empty(),
        "the replicas migrated schema {}, which has no tables",
        shared.schema.name()
    );
    let me = api(&b, Method::GET, "/api/v1/me", None, 200).await;
    assert!(
        me.to_string().contains("admin@acme"),
        "B knows the vendor admin A created: {me}"
    );

    // The vendor pushes two versions of a multi-arch image through A.
    let v1 = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 1);
    let v2 = generate_multiarch_layout_seeded(&work.path().join("src-2.0"), "2.0", 2);
    push(&skopeo, &a, &v1);
    push(&skopeo, &a, &v2);

    // B serves both, byte for byte.
    for l in [&v1, &v2] {
        let out_dir = tempfile::tempdir_in(work.path()).unwrap();
        let out = pull(&skopeo, &b, TEST_TOKEN, &l.tag, out_dir.path());
        assert!(
            out.status.success(),
            "vendor pulls {} through B: {}",
            l.tag,
            stderr(&out)
        );
        verify_pulled(
            out_dir.path(),
            l,
            &format!("vendor pull of {} via B", l.tag),
        );
    }

    // The blobs are in the bucket, under the prefix, and in no data dir.
    let keys = shared.bucket_keys();
    let blob_prefix = format!("{}/blobs/", shared.prefix);
    let blob_keys: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&blob_prefix))
        .collect();
    assert!(
        !blob_keys.is_empty(),
        "no `{blob_prefix}` keys in bucket {}: {keys:?}",
        shared.bucket
    );
    for key in &keys {
        assert!(
            key.starts_with(&format!("{}/", shared.prefix)),
            "key {key:?} outside the prefix {:?}",
            shared.prefix
        );
    }
    let mut wanted = config_and_layer_digests(&v1);
    wanted.extend(config_and_layer_digests(&v2));
    assert_eq!(
        wanted.len(),
        9,
        "one shared base layer, a config and a layer per version and platform"
    );
    for digest in &wanted {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let key = format!("{blob_prefix}sha256/{}/{hex}", &hex[..2]);
        assert!(
            keys.contains(&key),
            "blob {digest} is not in the bucket as {key:?}; keys: {keys:?}"
        );
    }
    let all_hex: BTreeSet<&str> = v1
        .blobs
        .keys()
        .chain(v2.blobs.keys())
        .map(|d| d.strip_prefix("sha256:").unwrap())
        .collect();
    for replica in [&a, &b] {
        let files = files_under(replica.data_dir());
        for f in &files {
            assert!(
                !f.starts_with("blobs") && !f.starts_with("uploads"),
                "replica {} keeps blob data in its data dir: {f} (all files: {files:?})",
                replica.name()
            );
            assert!(
                !all_hex.iter().any(|h| f.contains(h)),
                "replica {} has a file named by a blob digest: {f}",
                replica.name()
            );
            assert!(
                !f.ends_with("distr.db"),
                "replica {} keeps SQLite metadata although DATABASE_URL is set: {f}",
                replica.name()
            );
        }
    }

    // A customer, its user, token and entitlement (1.*), through A's API.
    let artifacts = api(&a, Method::GET, "/api/v1/artifacts", None, 200).await;
    let artifact_id = artifacts
        .as_array()
        .unwrap_or_else(|| panic!("GET /api/v1/artifacts is not a list: {artifacts}"))
        .iter()
        .find(|x| x["name"] == "app")
        .unwrap_or_else(|| panic!("the push through A recorded artifact app: {artifacts}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = ManagementApi::new(a.base_url(), TEST_TOKEN)
        .customer_login("Globex", "ops@globex.test")
        .await;
    let (customer_id, token, token_id) = (login.customer_id, login.token, login.token_id);
    let entitlement = api(
        &a,
        Method::POST,
        &format!("/api/v1/customers/{customer_id}/entitlements"),
        Some(json!({"name": "v1", "items": [{"artifact_id": artifact_id, "tags": ["1.*"]}]})),
        201,
    )
    .await;
    let entitlement_id = entitlement["id"].as_str().unwrap().to_owned();

    // The customer pulls the entitled tag through B, and not the other one.
    let out_dir = tempfile::tempdir_in(work.path()).unwrap();
    let out = pull(&skopeo, &b, &token, "1.0", out_dir.path());
    assert!(
        out.status.success(),
        "customer pulls 1.0 through B: {}",
        stderr(&out)
    );
    verify_pulled(out_dir.path(), &v1, "customer pull of 1.0 via B");
    let out_dir = tempfile::tempdir_in(work.path()).unwrap();
    let out = pull(&skopeo, &b, &token, "2.0", out_dir.path());
    assert!(
        !out.status.success(),
        "customer must NOT pull 2.0 through B"
    );
    assert!(
        stderr(&out).contains("not entitled to tag"),
        "customer pulling 2.0 through B: expected `not entitled to tag` in: {}",
        stderr(&out)
    );
    let customer_b = b.registry_as(&token);
    assert_eq!(manifest_status(&customer_b, "1.0").await, 200, "B: 1.0");
    assert_eq!(manifest_status(&customer_b, "2.0").await, 403, "B: 2.0");

    // The vendor moves the entitlement to 2.* through A. B re-reads the
    // database's access version at most every 100 ms (ACCESS_VERSION_TTL in
    // distr-server), so after 150 ms B must enforce the new entitlement.
    api(
        &a,
        Method::PUT,
        &format!("/api/v1/customers/{customer_id}/entitlements/{entitlement_id}"),
        Some(json!({"name": "v2", "items": [{"artifact_id": artifact_id, "tags": ["2.*"]}]})),
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        manifest_status(&customer_b, "2.0").await,
        200,
        "B 150 ms after the entitlement moved to 2.*: 2.0"
    );
    assert_eq!(
        manifest_status(&customer_b, "1.0").await,
        403,
        "B 150 ms after the entitlement moved to 2.*: 1.0"
    );
    let out_dir = tempfile::tempdir_in(work.path()).unwrap();
    let out = pull(&skopeo, &b, &token, "2.0", out_dir.path());
    assert!(
        out.status.success(),
        "customer pulls 2.0 through B after the change: {}",
        stderr(&out)
    );
    verify_pulled(out_dir.path(), &v2, "customer pull of 2.0 via B");

    // The vendor revokes the customer's token through A: B (which has just
    // authenticated it, so it sits in B's token cache) refuses it within
    // about a second. Poll for up to 2 s.
    let resp = customer_b.get("/v2/").await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "B: customer /v2/ before revocation"
    );
    api(
        &a,
        Method::DELETE,
        &format!("/api/v1/tokens/{token_id}"),
        None,
        204,
    )
    .await;
    let revoked_at = Instant::now();
    let mut last = 0;
    while revoked_at.elapsed() < Duration::from_secs(2) {
        last = customer_b.get("/v2/").await.status().as_u16();
        if last == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = revoked_at.elapsed();
    assert_eq!(
        last, 401,
        "B still accepts the customer token {took:?} after A revoked it"
    );
    eprintln!("B refused the revoked token after {took:?}");
    let resp = customer_b.get(&format!("/v2/{REPO}/manifests/2.0")).await;
    expect_oci_error(resp, 401, "UNAUTHORIZED", "B: revoked token on a manifest").await;
    let resp = a.registry_as(&token).get("/v2/").await;
    expect_oci_error(resp, 401, "UNAUTHORIZED", "A: revoked token").await;

    // The vendor is unaffected, on either replica.
    assert_eq!(manifest_status(&a.registry(), "1.0").await, 200);
    assert_eq!(manifest_status(&b.registry(), "2.0").await, 200);
}

/// The scheduled times in a replica's log whose sync it ran: the `at_ms` of
/// each `scheduled upstream sync done` line, in log order.
fn sync_runs(log: &str) -> Vec<i64> {
    strip_ansi(log)
        .lines()
        .filter(|l| l.contains("scheduled upstream sync done"))
        .map(|l| {
            log_field_i64(l, "at_ms")
                .unwrap_or_else(|| panic!("`scheduled upstream sync done` without at_ms: {l:?}"))
        })
        .collect()
}

#[test]
fn sync_runs_parses_log_lines() {
    let log = "2026-11-23T10:00:01.002Z  INFO distr_server: scheduled upstream sync done \
               at_ms=1795429201000 report=SyncReport { synced: 0 }\n\
               \u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m scheduled upstream sync done \
               \u{1b}[3mat_ms\u{1b}[0m\u{1b}[2m=\u{1b}[0m1795429202000\n\
               other line at_ms=5\n";
    assert_eq!(sync_runs(log), [1_795_429_201_000, 1_795_429_202_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_sync_runs_once_across_replicas() {
    let shared = Shared::start();
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut a = shared.replica("A", "* * * * * *");
    let mut b = shared.replica("B", "* * * * * *");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Stop both, so their logs are complete.
    a.stop();
    b.stop();
    let stopped_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    let mut owner: BTreeMap<i64, &str> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for r in [&a, &b] {
        let log = r.log();
        assert!(
            log.contains("upstream sync scheduled"),
            "replica {} did not schedule the upstream sync:\n{log}",
            r.name()
        );
        let runs = sync_runs(&log);
        counts.insert(r.name().to_owned(), runs.len());
        for at in runs {
            assert_eq!(
                at % 1000,
                0,
                "replica {}: at_ms={at} is not a whole second",
                r.name()
            );
            assert!(
                (started_ms - 1000..=stopped_ms).contains(&at),
                "replica {}: at_ms={at} outside the test's run [{started_ms}, {stopped_ms}]",
                r.name()
            );
            if let Some(first) = owner.insert(at, r.name()) {
                panic!(
                    "the sync scheduled at at_ms={at} ran twice: by replica {first} and by \
                     replica {}.\n--- A ---\n{}\n--- B ---\n{}",
                    r.name(),
                    a.log(),
                    b.log()
                );
            }
        }
    }
    eprintln!("scheduled syncs run: {counts:?}; times: {owner:?}");
    assert!(
        owner.len() >= 3,
        "expected at least 3 scheduled syncs in ~4 s across the replicas, got {} ({counts:?}).\n\
         --- A ---\n{}\n--- B ---\n{}",
        owner.len(),
        a.log(),
        b.log()
    );
}
