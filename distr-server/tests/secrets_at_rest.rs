//! Secrets at rest: after a full run with verbose logs, neither the SQLite
//! database (main file, `-wal`, `-shm`), nor any other file of the data
//! directory, nor the server's stdout and stderr hold the upstream password,
//! any personal access token, a session token or the master key.
//!
//! The run, with `DISTR_LOG` at `debug` (and `trace` for distr's own
//! crates): a real CNCF Distribution behind htpasswd Basic auth with a
//! random password holds a multi-arch image; the vendor admin creates the
//! mirrored artifact with that password, a customer, two users and tokens
//! for them and for itself through `/api/v1`; a sync runs; skopeo pulls
//! with a customer token (Docker token flow: Basic, then a session token),
//! raw HTTP pulls use Basic and Bearer access tokens and a session token;
//! a token is rotated (the old one is then refused, the new one pulls); a
//! pull secret is fetched (its token travels in the query string); the
//! server stops with SIGTERM.
//!
//! Then every file is searched, byte for byte — the data directory twice
//! (while the server runs, with the `-wal` and `-shm` files, and after the
//! stop), and the captured stdout and stderr — for each secret in the forms
//! it could leak in: as is, and as the base64 of the `user:secret` Basic
//! credentials that carried it; and for the master key (generated in
//! `<data-dir>/master.key`, the one file allowed to hold it) raw, in hex, in
//! base64 and as its file text. Positive controls show the search works:
//! the database files hold the customer's name, the upstream user name and
//! a sealed value (`distr-sealed:v1:`); the log holds `DEBUG` lines and the
//! start line; stdout holds `listening on`.
//!
//! Requires `skopeo`, `/usr/bin/docker-registry` and `htpasswd`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::hardening::{all_files, find_bytes, Node};
use common::upstream::{verify_pulled_layout, UpstreamRegistry, UPSTREAM_REPO};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const REPO: &str = "acme/app";
const UPSTREAM_USER: &str = "robot-secrets-e2e";
const LOG_FILTER: &str = "debug,distr_core=trace,distr_hyper=trace,distr_store_sqlite=trace,\
                          distr_server=trace,distr_server=trace";

fn random_hex(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    sha256_hex(format!("{tag}/{nanos}/{}", std::process::id()).as_bytes())[..32].to_owned()
}

/// `/api/v1` with a token as `Authorization: Bearer`.
async fn api(
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client
        .request(method.clone(), format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, text, value)
}

async fn api_ok(
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    want: u16,
) -> Value {
    let (status, text, value) = api(base, token, method.clone(), path, body).await;
    assert_eq!(
        status, want,
        "{method} {path}: expected {want}, got {status}: {text}"
    );
    value
}

/// A pull with skopeo through distr into a fresh layout; must match.
fn skopeo_pull(
    skopeo: &Path,
    host: &str,
    user: &str,
    token: &str,
    layout: &GeneratedLayout,
    work: &Path,
) {
    let out = tempfile::tempdir_in(work).unwrap();
    run_ok(skopeo_cmd(skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--retry-times",
        "0",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("{user}:{token}"),
        &format!("docker://{host}/{REPO}:{}", layout.tag),
        &format!("oci:{}:{}", out.path().display(), layout.tag),
    ]));
    verify_pulled_layout(
        out.path(),
        layout,
        &format!("skopeo pull of {} as {user}", layout.tag),
    );
}

/// A token from an "issued token" response, recorded as a secret; returns
/// (token id, token).
fn issue(secrets: &mut BTreeMap<String, String>, v: Value, name: &str) -> (String, String) {
    let token = v["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {v}"))
        .to_owned();
    assert!(token.starts_with("distr_"), "{name}: {token:?}");
    secrets.insert(name.to_owned(), token.clone());
    (v["id"].as_str().unwrap().to_owned(), token)
}

/// Every file of the data directory but `master.key` (the one place the
/// key belongs), with its bytes.
fn snapshot(data_dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let files: Vec<(PathBuf, Vec<u8>)> = all_files(data_dir)
        .into_iter()
        .filter(|p| p.file_name().is_none_or(|n| n != "master.key"))
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect();
    assert!(
        files.iter().any(|(p, _)| p.ends_with("distr.db")),
        "no distr.db in {}",
        data_dir.display()
    );
    files
}

/// `Basic` credentials' base64, as a client sends them.
fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// The master key's bytes from its file text (hex or base64).
fn decode_key(text: &str) -> Vec<u8> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(t).unwrap();
    }
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        if let Ok(k) = engine.decode(t) {
            return k;
        }
    }
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(k) = engine.decode(t) {
            return k;
        }
    }
    panic!(
        "master.key holds neither hex nor base64: {} characters",
        t.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_database_files_or_the_logs() {
    let skopeo = require_skopeo();
    let work = tempfile::tempdir().unwrap();
    let upstream_pass = format!("UpstreamPw-{}", random_hex("upstream"));
    let customer_name = format!("Initech-Marker-{}", &random_hex("customer")[..8]);

    // The upstream, behind htpasswd, with two images.
    let upstream = UpstreamRegistry::start_with_htpasswd(UPSTREAM_USER, &upstream_pass).await;
    let multi = generate_multiarch_layout_seeded(&work.path().join("src-1.0"), "1.0", 71);
    let single = common::upstream::generate_single_layout(&work.path().join("src-1.1"), "1.1", 72);
    upstream.push_layout(&skopeo, &multi, UPSTREAM_REPO);
    upstream.push_layout(&skopeo, &single, UPSTREAM_REPO);

    let data = tempfile::Builder::new()
        .prefix("distr-e2e-secrets-")
        .tempdir()
        .unwrap();
    let data_dir = data.path().join("data");
    let mut node = Node::start(
        &data_dir,
        &[("DISTR_LOG", LOG_FILTER), ("DISTR_ANALYTICS", "on")],
    );
    let base = node.base_url();
    let host = node.host_port();
    // name → secret, everything that must not be at rest.
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    secrets.insert("upstream password".into(), upstream_pass.clone());
    secrets.insert("bootstrap token".into(), TEST_TOKEN.into());

    // The mirrored artifact, with the upstream password.
    let view = api_ok(
        &base,
        TEST_TOKEN,
        Method::POST,
        "/api/v1/artifacts",
        Some(json!({
            "name": "app",
            "upstream": {
                "reference": upstream.reference(UPSTREAM_REPO),
                "insecure": true,
                "auth": {"kind": "basic", "username": UPSTREAM_USER, "password": upstream_pass}
            }
        })),
        201,
    )
    .await;
    let artifact_id = view["id"].as_str().unwrap().to_owned();
    assert!(
        !view.to_string().contains(&upstream_pass),
        "the view shows the password"
    );

    // A customer, two users, tokens.
    let customer = api_ok(
        &base,
        TEST_TOKEN,
        Method::POST,
        "/api/v1/customers",
        Some(json!({"name": customer_name})),
        201,
    )
    .await;
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let mut users = Vec::new();
    for (email, role) in [
        ("ops@initech.test", "customer_member"),
        ("boss@initech.test", "customer_admin"),
    ] {
        let u = api_ok(
            &base,
            TEST_TOKEN,
            Method::POST,
            &format!("/api/v1/customers/{customer_id}/users"),
            Some(json!({"email": email, "role": role})),
            201,
        )
        .await;
        users.push(u["id"].as_str().unwrap().to_owned());
    }
    let (ops_id, ops_token) = issue(
        &mut secrets,
        api_ok(
            &base,
            TEST_TOKEN,
            Method::POST,
            &format!("/api/v1/users/{}/tokens", users[0]),
            Some(json!({"name": "ci"})),
            201,
        )
        .await,
        "ops token",
    );
    let (_, boss_token) = issue(
        &mut secrets,
        api_ok(
            &base,
            TEST_TOKEN,
            Method::POST,
            &format!("/api/v1/users/{}/tokens", users[1]),
            Some(json!({"name": "laptop"})),
            201,
        )
        .await,
        "boss token",
    );
    let (_, vendor_token) = issue(
        &mut secrets,
        api_ok(
            &base,
            TEST_TOKEN,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "vendor-extra"})),
            201,
        )
        .await,
        "vendor token",
    );

    // A sync (authenticates to the upstream with the password).
    api_ok(
        &base,
        vendor_token.as_str(),
        Method::POST,
        &format!("/api/v1/artifacts/{artifact_id}/sync"),
        None,
        202,
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let a = api_ok(
            &base,
            TEST_TOKEN,
            Method::GET,
            &format!("/api/v1/artifacts/{artifact_id}"),
            None,
            200,
        )
        .await;
        let s = &a["sync"];
        if s["last_sync_attempt_at"].is_i64() && s["running"] == json!(false) {
            assert!(s["last_sync_error"].is_null(), "the sync failed: {a}");
            break;
        }
        assert!(Instant::now() < deadline, "the sync did not finish: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Pulls: skopeo (Docker token flow) as the customer member, raw HTTP
    // with Basic and Bearer access tokens and with a session token.
    skopeo_pull(&skopeo, &host, "ops", &ops_token, &multi, work.path());
    let reg = node.registry_as_token(&boss_token);
    let m = reg.get_manifest(REPO, "1.1").await;
    assert_eq!(m.status().as_u16(), 200, "Basic pull with the boss token");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("{base}/v2/{REPO}/manifests/1.0"))
        .header("accept", MANIFEST_ACCEPT)
        .header("authorization", format!("Bearer {vendor_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "Bearer access token pull");
    let resp = client
        .get(format!(
            "{base}/v2/token?service=distr&scope=repository:{REPO}:pull"
        ))
        .basic_auth("boss", Some(&boss_token))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "/v2/token");
    let session: Value = resp.json().await.unwrap();
    let session = session["token"].as_str().expect("session token").to_owned();
    secrets.insert("session token".into(), session.clone());
    let resp = client
        .get(format!("{base}/v2/{REPO}/manifests/1.1"))
        .header("accept", MANIFEST_ACCEPT)
        .header("authorization", format!("Bearer {session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "session token pull");

    // Rotate the ops token: the old one is refused, the new one pulls.
    let rotated = api_ok(
        &base,
        &ops_token,
        Method::POST,
        &format!("/api/v1/tokens/{ops_id}/rotate"),
        None,
        201,
    )
    .await;
    let (_, new_ops_token) = issue(&mut secrets, rotated, "rotated ops token");
    // A token check is cached for up to a second: the old token is refused
    // within about a second.
    let old = node.registry_as_token(&ops_token);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = old.get("/v2/").await.status().as_u16();
        if status == 401 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated-away token still answers {status} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    skopeo_pull(&skopeo, &host, "ops", &new_ops_token, &single, work.path());

    // A pull secret: the token travels in the request body.
    let (status, text, _) = api(
        &base,
        TEST_TOKEN,
        Method::POST,
        &format!("/api/v1/customers/{customer_id}/pull-secret"),
        Some(json!({ "registry": host, "token": new_ops_token })),
    )
    .await;
    assert_eq!(status, 200, "pull secret: {text}");
    // Analytics read (the vendor's view of the customer's pulls).
    api_ok(
        &base,
        TEST_TOKEN,
        Method::GET,
        "/api/v1/analytics/pulls",
        None,
        200,
    )
    .await;
    // The search.
    let key_text = std::fs::read_to_string(data_dir.join("master.key")).expect("master.key");
    let key = decode_key(&key_text);
    assert_eq!(key.len(), 32, "a 256-bit master key");
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, secret) in &secrets {
        needles.push((name.clone(), secret.as_bytes().to_vec()));
        for user in ["anyone", "ops", "boss", UPSTREAM_USER] {
            needles.push((
                format!("{name} as Basic credentials of {user}"),
                b64(&format!("{user}:{secret}")).into_bytes(),
            ));
        }
    }
    needles.push(("master key (raw)".into(), key.clone()));
    needles.push(("master key (hex)".into(), hex::encode(&key).into_bytes()));
    needles.push((
        "master key (base64)".into(),
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(&key)
            .into_bytes(),
    ));
    needles.push((
        "master key (file text)".into(),
        key_text.trim().as_bytes().to_vec(),
    ));

    // A snapshot of the data directory while the server runs (the WAL and
    // its index exist only then), and everything again after a graceful
    // stop (when the WAL was checkpointed into the database).
    let live = snapshot(&data_dir);
    assert!(
        live.iter().any(|(p, _)| p.ends_with("distr.db-wal")),
        "no distr.db-wal while the server runs: {:?}",
        live.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    node.stop();
    let mut files = live;
    files.extend(snapshot(&data_dir));
    let db_bytes: Vec<u8> = files
        .iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("distr.db"))
        })
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    for path in node.log_paths() {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        files.push((path, bytes));
    }
    let mut leaks = Vec::new();
    let mut searched = 0usize;
    for (path, bytes) in &files {
        searched += bytes.len();
        for (name, needle) in &needles {
            for at in find_bytes(bytes, needle) {
                let from = at.saturating_sub(120);
                let to = (at + needle.len() + 120).min(bytes.len());
                leaks.push(format!(
                    "{name} in {} at byte {at}: …{}…",
                    path.display(),
                    String::from_utf8_lossy(&bytes[from..to])
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets found at rest ({} hits):\n{}",
        leaks.len(),
        leaks.join("\n")
    );

    // Positive controls: the search finds what is meant to be there.
    for (what, marker) in [
        ("the customer's name", customer_name.as_bytes()),
        ("the upstream user name", UPSTREAM_USER.as_bytes()),
        ("a sealed upstream secret", b"distr-sealed:v1:".as_slice()),
    ] {
        assert!(
            !find_bytes(&db_bytes, marker).is_empty(),
            "the database files do not contain {what} ({:?}): the search cannot be trusted",
            String::from_utf8_lossy(marker)
        );
    }
    let log = node.stderr_bytes();
    for marker in [b"DEBUG".as_slice(), b"distr-server started"] {
        assert!(
            !find_bytes(&log, marker).is_empty(),
            "the server log lacks {:?}: the log search cannot be trusted",
            String::from_utf8_lossy(marker)
        );
    }
    assert!(
        !find_bytes(&node.stdout_bytes(), b"listening on").is_empty(),
        "the captured stdout lacks `listening on`"
    );
    eprintln!(
        "secrets_at_rest: {} secrets in {} forms searched in {} files ({} bytes): none found",
        secrets.len(),
        needles.len(),
        files.len(),
        searched
    );
}
