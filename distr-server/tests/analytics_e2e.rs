//! Download analytics end to end with the real `distr-server` and skopeo:
//! customers pull (one multi-platform pull with `skopeo copy --all`, plain
//! manifest GETs), the vendor reads the exact events and aggregates through
//! the management API and the CSV export; a graceful shutdown right after
//! pulls loses nothing; a kill -9 leaves a consistent store (whole batches
//! or nothing; only the in-memory queue can be lost).
//!
//! Requires `skopeo` on PATH (scripts/test installs it).

mod common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

const REPO: &str = "acme/app";

/// A customer with one member and its token, made with `distr-server admin`.
fn customer(server: &Server, name: &str) -> String {
    server.customer(name, "customer_member").token
}

/// `GET /api/v1<path>` as the vendor admin: status and body.
async fn api(server: &Server, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1{path}", server.base_url()))
        .header("authorization", format!("AccessToken {TEST_TOKEN}"))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn api_json(server: &Server, path: &str) -> Value {
    let (status, text) = api(server, path).await;
    assert_eq!(status, 200, "GET /api/v1{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Every event of the pull log, following the cursor.
async fn all_pulls(server: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api_json(server, &format!("/analytics/pulls?limit=7{cursor}")).await;
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return out,
        }
    }
}

/// Counts the CSV records of an RFC 4180 text (quoted fields may hold line
/// breaks), header included.
fn csv_records(text: &str) -> usize {
    let mut quoted = false;
    let mut records = 0;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '\n' if !quoted => records += 1,
            _ => {}
        }
    }
    assert!(!quoted && text.ends_with("\r\n"));
    records
}

/// `n` manifest GETs of `tag` with `token`.
async fn get_manifests(server: &Server, token: &str, tag: &str, n: usize) {
    let reg = server.registry_as(Some(token));
    for _ in 0..n {
        let resp = reg.get_manifest(REPO, tag).await;
        assert_eq!(resp.status().as_u16(), 200);
    }
}

fn artifact_id(artifacts: &Value) -> String {
    artifacts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "app")
        .expect("artifact app")["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_are_counted_exported_and_survive_shutdown_and_crash() {
    let skopeo = require_skopeo();
    let mut server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();
    server.admin(&["artifact", "create", "--org", TEST_ORG, "app"]);

    // The vendor pushes a multi-arch 1.0 with skopeo and a plain 2.0.
    let layout = generate_multiarch_layout_seeded(&work.path().join("src"), "1.0", 3);
    run_ok(skopeo_cmd(&skopeo).args([
        "copy",
        "--all",
        "--preserve-digests",
        "--retry-times",
        "0",
        "--dest-tls-verify=false",
        "--dest-creds",
        &server.creds(),
        &format!("oci:{}:1.0", layout.dir.display()),
        &format!("docker://{host}/{REPO}:1.0"),
    ]));
    server.registry().push_image(REPO, "2.0", 9).await;
    let a = customer(&server, "alpha");
    let b = customer(&server, "beta");
    let c = customer(&server, "gamma");
    assert_eq!(all_pulls(&server).await.len(), 0, "pushes are no pulls");

    // alpha: one multi-platform pull; beta: three GETs of 2.0.
    let out = work.path().join("pulled");
    run_ok(skopeo_cmd(&skopeo).args([
        "copy",
        "--all",
        "--retry-times",
        "0",
        "--src-tls-verify=false",
        "--src-creds",
        &creds(&a),
        &format!("docker://{host}/{REPO}:1.0"),
        &format!("oci:{}:1.0", out.display()),
    ]));
    get_manifests(&server, &b, "2.0", 3).await;
    // The recorder writes within ~100 ms; poll until everything is there.
    let platforms = layout.platforms.len();
    let expected = 1 + platforms + 3;
    let mut events = Vec::new();
    for _ in 0..100 {
        events = all_pulls(&server).await;
        if events.len() >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(events.len(), expected, "{events:#?}");
    let index_get = events
        .iter()
        .find(|e| e["tag"] == "1.0")
        .expect("the index GET by tag");
    assert_eq!(index_get["index"], true);
    assert_eq!(index_get["digest"], layout.index_digest.as_str());
    assert_eq!(index_get["ip"], "127.0.0.1");
    assert!(index_get["user_agent"]
        .as_str()
        .unwrap_or("")
        .contains("skopeo"));
    let mut children: Vec<&str> = events
        .iter()
        .filter(|e| e["tag"].is_null())
        .map(|e| e["digest"].as_str().unwrap())
        .collect();
    children.sort_unstable();
    let mut want: Vec<&str> = layout
        .platforms
        .iter()
        .map(|p| p.manifest_digest.as_str())
        .collect();
    want.sort_unstable();
    assert_eq!(children, want, "every platform manifest by digest");
    assert_eq!(
        events.iter().filter(|e| e["tag"] == "2.0").count(),
        3,
        "beta's GETs"
    );

    // Aggregates: the multi-platform pull counts once.
    let art = artifact_id(&api_json(&server, "/artifacts").await);
    let aa = api_json(&server, &format!("/artifacts/{art}/analytics")).await;
    assert_eq!(
        aa["tags"],
        serde_json::json!([
            { "tag": "1.0", "pulls": 1, "customers": 1 },
            { "tag": "2.0", "pulls": 3, "customers": 1 }
        ])
    );
    let per_customer: Vec<(String, u64)> = aa["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["customer"].as_str().unwrap().to_owned(),
                c["pulls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        per_customer,
        [("beta".to_owned(), 3), ("alpha".to_owned(), 1)]
    );
    // alpha downloaded every layer and config of both platforms.
    let served: u64 = aa["bytes_served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bytes"].as_u64().unwrap())
        .sum();
    assert!(served > 0, "{aa}");
    let tags = api_json(&server, &format!("/artifacts/{art}/tags")).await;
    let counts: Vec<u64> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pull_count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 3]);

    // Entitled but never pulled: gamma.
    server.admin(&[
        "entitlement",
        "create",
        "--org",
        TEST_ORG,
        "--customer",
        "gamma",
        "--name",
        "all",
        "--artifact",
        "app",
        "--tags",
        "all",
    ]);
    let un = api_json(&server, &format!("/analytics/unpulled?artifact_id={art}")).await;
    assert_eq!(un["customers"][0]["name"], "gamma", "{un}");
    assert_eq!(un["customers"].as_array().unwrap().len(), 1);

    // CSV: a header and one record per event.
    let (status, csv) = api(&server, "/analytics/pulls.csv").await;
    assert_eq!(status, 200);
    assert_eq!(csv_records(&csv), expected + 1);

    // A graceful shutdown right after pulls loses nothing.
    get_manifests(&server, &c, "2.0", 5).await;
    server.restart();
    let after_restart = all_pulls(&server).await;
    assert_eq!(after_restart.len(), expected + 5);

    // kill -9 while pulls stream in: the store stays consistent (every
    // batch whole or absent); what was still queued in memory may be lost.
    let before = after_restart.len();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let puller = {
        let reg = server.registry_as(Some(&c));
        let served = served.clone();
        tokio::spawn(async move {
            use std::sync::atomic::Ordering;
            loop {
                let url = reg.url(&format!("/v2/{REPO}/manifests/2.0"));
                let sent = reg.client.get(url).header("accept", MANIFEST_ACCEPT).send();
                let ok = matches!(sent.await, Ok(r) if r.status().is_success());
                if !ok {
                    return served.load(Ordering::SeqCst);
                }
                served.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Kill once a few hundred pulls were served (some still queued).
    for _ in 0..200 {
        if served.load(std::sync::atomic::Ordering::SeqCst) >= 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = server.pid();
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stdout(Stdio::null())
        .status();
    let served_before_crash = puller.await.unwrap();
    server.crash_and_restart();
    let after_crash = all_pulls(&server).await;
    let recorded = after_crash.len() - before;
    assert!(
        recorded <= served_before_crash,
        "{recorded} recorded of {served_before_crash} served"
    );
    // Consistent: the log, the CSV and the aggregates agree.
    let (_, csv) = api(&server, "/analytics/pulls.csv").await;
    assert_eq!(csv_records(&csv), after_crash.len() + 1);
    let aa = api_json(&server, &format!("/artifacts/{art}/analytics")).await;
    let by_tag_20 = after_crash.iter().filter(|e| e["tag"] == "2.0").count() as u64;
    assert_eq!(aa["tags"][1]["pulls"].as_u64().unwrap(), by_tag_20);
    eprintln!(
        "kill -9: {served_before_crash} manifest GETs served before the crash, {recorded} recorded"
    );
}

/// A data directory from before `analytics.db`: the pull events and byte
/// counters an earlier version kept in `distr.db` are moved into
/// `analytics.db` on start, served by the API, and no longer in `distr.db`.
#[tokio::test(flavor = "multi_thread")]
async fn analytics_kept_in_the_metadata_database_move_on_start() {
    use distr_core::access::{AccessStore, ArtifactId, CustomerId};
    use distr_core::analytics::{AnalyticsStore, BytesServed, PullEvent, PullFilter, PullId};
    use distr_store_sqlite::SqliteStore;

    let mut server = Server::start();
    server.stop();
    let main_db = server.data_dir().join("distr.db");
    let org = {
        let main = SqliteStore::open(&main_db).await.unwrap();
        let org = main.get_org_by_slug(TEST_ORG).await.unwrap().unwrap().id;
        let (artifact, customer) = (ArtifactId::new(), CustomerId::new());
        let events: Vec<PullEvent> = (0..5)
            .map(|i| PullEvent {
                id: PullId::new(),
                at_ms: 1_000 + i,
                org,
                artifact,
                tag: Some("1.0".parse().unwrap()),
                digest: distr_core::Digest::sha256(b"old manifest"),
                index: false,
                customer: Some(customer),
                user: None,
                token: None,
                ip: None,
                user_agent: Some("old-version".into()),
            })
            .collect();
        let bytes = BytesServed {
            org,
            artifact,
            customer: Some(customer),
            bytes: 4_096,
            at_ms: 1_000,
        };
        main.record(&events, &[bytes]).await.unwrap();
        main.close().await;
        org
    };
    // As an earlier version left it: no analytics database at all.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(server.data_dir().join(format!("analytics.db{suffix}")));
    }
    server.restart_with(ServerOptions::default());
    let events = all_pulls(&server).await;
    assert_eq!(events.len(), 5, "{events:#?}");
    assert!(events.iter().all(|e| e["user_agent"] == "old-version"));
    server.stop();
    let main = SqliteStore::open(&main_db).await.unwrap();
    let (left, _) = main
        .list_pulls(&PullFilter::org(org), None, 10)
        .await
        .unwrap();
    assert_eq!(left, vec![], "the events were moved, not copied");
    assert_eq!(main.bytes_served(org, None).await.unwrap(), vec![]);
    main.close().await;
    let own = SqliteStore::open(server.data_dir().join("analytics.db"))
        .await
        .unwrap();
    assert_eq!(own.bytes_served(org, None).await.unwrap()[0].bytes, 4_096);
    own.close().await;
}
