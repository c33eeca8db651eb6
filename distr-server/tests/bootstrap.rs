//! First start of `distr-server`: the bootstrap organisation, its admin and
//! token (generated and shown once, or from DISTR_BOOTSTRAP_TOKEN), restarts,
//! bad configuration, and the admin CLI's errors.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::Value;

const GENERATED_PREFIX: &str = "vendor admin token (shown once): ";

/// The generated tokens printed in a server log.
fn printed_tokens(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split_once(GENERATED_PREFIX))
        .map(|(_, t)| t.trim().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_token_is_printed_once_and_keeps_working() {
    let mut server = Server::start_with(ServerOptions {
        bootstrap_org: "globex".into(),
        bootstrap_token: None,
    });
    let log = server.log();
    let tokens = printed_tokens(&log);
    assert_eq!(tokens.len(), 1, "one generated token on stderr:\n{log}");
    let token = &tokens[0];
    assert!(
        log.contains(&format!(
            "bootstrap: vendor organisation \"globex\" created; {GENERATED_PREFIX}distr_"
        )),
        "{log}"
    );
    assert!(token.starts_with("distr_") && token.len() >= 32, "{token}");
    // Only on that one line: never through the (structured) log.
    assert_eq!(log.matches(token.as_str()).count(), 1, "{log}");

    let reg = server.registry_as(Some(token));
    assert_eq!(reg.get("/v2/").await.status().as_u16(), 200);
    reg.push_image("globex/app", "1.0", 5).await;
    // Its org only: another organisation's namespace is not writable.
    let resp = reg
        .client
        .post(reg.url("/v2/acme/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 403, "DENIED", "push outside the vendor's org").await;

    let users = server.admin_json(&["user", "list", "--org", "globex"]);
    assert_eq!(users[0]["email"], "admin@globex");
    assert_eq!(users[0]["role"], "vendor_admin");
    // The push recorded the artifact.
    let artifacts = server.admin_json(&["artifact", "list", "--org", "globex"]);
    assert_eq!(artifacts[0]["repository"], "globex/app", "{artifacts}");

    // A restart creates nothing and prints no token; the token still works.
    server.restart();
    let log = server.log();
    assert_eq!(printed_tokens(&log).len(), 1, "{log}");
    let orgs = server.admin_json(&["org", "list"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    let reg = server.registry_as(Some(token));
    assert_eq!(reg.get_manifest("globex/app", "1.0").await.status(), 200);
    // A different bootstrap organisation on the existing database is not
    // created, and the log says so instead of ignoring it silently.
    server.restart_with(ServerOptions {
        bootstrap_org: "initech".into(),
        bootstrap_token: None,
    });
    let log = server.log();
    assert!(
        log.contains("DISTR_BOOTSTRAP_ORG is ignored") && log.contains("initech"),
        "{log}"
    );
    assert_eq!(printed_tokens(&log).len(), 1, "{log}");
    let orgs = server.admin_json(&["org", "list"]);
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    server.stop();
    // stdout carried the `listening on` line only.
    assert_eq!(server.extra_stdout(), "", "extra stdout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_token_survives_restarts() {
    let mut server = Server::start();
    assert!(
        printed_tokens(&server.log()).is_empty(),
        "a configured token is never printed"
    );
    assert!(!server.log().contains(TEST_TOKEN));
    server.registry().push_image("acme/app", "1.0", 6).await;
    server.restart();
    server.restart();
    let reg = server.registry();
    assert_eq!(reg.get_manifest("acme/app", "1.0").await.status(), 200);
    let tokens = server.admin_json(&["token", "list", "--org", "acme", "--email", "admin@acme"]);
    assert_eq!(
        tokens.as_array().unwrap().len(),
        1,
        "restarts with the same DISTR_BOOTSTRAP_TOKEN add nothing: {tokens}"
    );
    assert_eq!(tokens[0]["name"], "bootstrap");
    assert_eq!(tokens[0]["status"], "active");
    assert!(!server.log().contains(TEST_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_token_is_added_to_an_existing_organisation() {
    let mut server = Server::start_with(ServerOptions {
        bootstrap_org: TEST_ORG.into(),
        bootstrap_token: None,
    });
    let generated = printed_tokens(&server.log()).remove(0);

    // Unknown token, and DISTR_BOOTSTRAP_ORG names no existing organisation:
    // refused with the list of organisations.
    server.stop();
    let out = server_command()
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(server.data_dir())
        .env("DISTR_BOOTSTRAP_ORG", "other")
        .env("DISTR_BOOTSTRAP_TOKEN", TEST_TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("\"other\"") && stderr.contains("existing organisations: acme"),
        "{stderr}"
    );
    assert!(!stderr.contains(TEST_TOKEN), "{stderr}");

    // Restart with DISTR_BOOTSTRAP_TOKEN: added for the existing vendor admin.
    server.restart_with(ServerOptions::default());
    for token in [TEST_TOKEN, generated.as_str()] {
        let reg = server.registry_as(Some(token));
        assert_eq!(reg.get("/v2/").await.status().as_u16(), 200, "{token}");
    }
    let list = ["token", "list", "--org", "acme", "--email", "admin@acme"];
    assert_eq!(server.admin_json(&list).as_array().unwrap().len(), 2);
    server.restart();
    assert_eq!(
        server.admin_json(&list).as_array().unwrap().len(),
        2,
        "idempotent"
    );
    assert_eq!(printed_tokens(&server.log()).len(), 1);
}

/// The management API is mounted under /api/v1 and accepts the bootstrap
/// token; the admin CLI and the API see the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_is_served_with_the_same_tokens() {
    let server = Server::start();
    let anon = server.registry_as(None);
    let resp = anon.get("/api/v1/openapi.json").await;
    assert_eq!(resp.status().as_u16(), 200, "GET /api/v1/openapi.json");
    let doc: Value = resp.json().await.unwrap();
    assert!(doc.get("openapi").is_some(), "{doc}");
    let resp = anon.get("/api/v1/customers").await;
    assert_eq!(
        resp.status().as_u16(),
        401,
        "GET /api/v1/customers anonymously"
    );

    server.admin(&["customer", "create", "--org", TEST_ORG, "Initech"]);
    let resp = anon
        .client
        .get(anon.url("/api/v1/customers"))
        .header("authorization", format!("Bearer {TEST_TOKEN}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(
        status, 200,
        "GET /api/v1/customers as the vendor admin: {text}"
    );
    assert!(text.contains("Initech"), "{text}");
}

#[test]
fn bad_bootstrap_settings_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 4] = [
        (
            "DISTR_BOOTSTRAP_TOKEN",
            "distr_short",
            "DISTR_BOOTSTRAP_TOKEN must start with",
        ),
        (
            "DISTR_BOOTSTRAP_TOKEN",
            "ghp_0000000000000000000000000000000000000000",
            "DISTR_BOOTSTRAP_TOKEN must start with",
        ),
        (
            "DISTR_BOOTSTRAP_ORG",
            "Not/A Slug",
            "not a valid organisation slug",
        ),
        ("DISTR_BOOTSTRAP_ORG", "", "not a valid organisation slug"),
    ];
    for (var, value, message) in cases {
        let out = server_command()
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(dir.path())
            .env(var, value)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{var}={value:?} must fail: {stderr}");
        assert!(stderr.contains(message), "{var}={value:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{var}={value:?}: no `listening on` line expected"
        );
        if var == "DISTR_BOOTSTRAP_TOKEN" {
            assert!(!stderr.contains(value), "the secret is echoed: {stderr}");
        }
    }
}

#[test]
fn admin_cli_reports_errors_with_a_non_zero_status() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = server_command()
            .env("DISTR_LOG", "warn")
            .arg("--data-dir")
            .arg(dir.path())
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    // No database yet: only `org create` may create it.
    let (status, _, err) = run(&["org", "list"]);
    assert!(!status.success() && err.contains("no database"), "{err}");
    let (status, out, _) = run(&["org", "create", "acme", "--name", "Acme Corp"]);
    assert!(
        status.success() && out.contains("created organisation acme"),
        "{out}"
    );
    let (status, _, err) = run(&["org", "create", "acme"]);
    assert!(!status.success() && err.contains("already exists"), "{err}");
    let (status, _, err) = run(&["customer", "list", "--org", "nope"]);
    assert!(
        !status.success() && err.contains("unknown organisation \"nope\""),
        "{err}"
    );
    let (status, _, err) = run(&["entitlement", "delete", "not-a-uuid"]);
    assert!(!status.success() && err.contains("not-a-uuid"), "{err}");
    let (status, _, err) = run(&[
        "user", "create", "--org", "acme", "--email", "x@y", "--role", "root",
    ]);
    assert!(!status.success() && err.contains("unknown role"), "{err}");
    // --json before or after the noun.
    let (status, out, _) = run(&["--json", "org", "list"]);
    assert!(status.success());
    let orgs: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(orgs[0]["name"], "Acme Corp");
    let (status, out, _) = run(&["org", "list", "--json"]);
    assert!(status.success());
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), orgs);
}

/// With `DISTR_OPERATOR_TOKEN`, the operator creates a vendor organisation
/// and its first vendor admin through the API; that admin pushes at once.
/// The operator token is never logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_creates_an_organisation_through_the_api() {
    const OPERATOR: &str = "operator-e2e-0123456789abcdef0123456789";
    let server = Server::start_with_env(&[("DISTR_OPERATOR_TOKEN", OPERATOR)]);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/api/v1/orgs", server.base_url()))
        .bearer_auth(OPERATOR)
        .json(&serde_json::json!({ "slug": "initech", "admin_email": "ops@initech.test" }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap();
    let reg = server.registry_as(Some(token));
    reg.push_image("initech/app", "1.0", 7).await;
    assert_eq!(reg.get_manifest("initech/app", "1.0").await.status(), 200);
    // The vendor admin of acme may not create organisations.
    let resp = client
        .post(format!("{}/api/v1/orgs", server.base_url()))
        .bearer_auth(TEST_TOKEN)
        .json(&serde_json::json!({ "slug": "globex" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let orgs = server.admin_json(&["org", "list"]);
    assert_eq!(orgs.as_array().unwrap().len(), 2, "{orgs}");
    assert!(
        !server.log().contains(OPERATOR),
        "the operator token was logged"
    );
}
