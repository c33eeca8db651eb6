//! Customers and entitlements end to end, with real skopeo: the vendor pushes
//! three versions of a multi-arch image, `distr-server admin` (run on the
//! same data dir while the server runs) sets up four customers, and each
//! customer's token pulls, lists and browses exactly what its entitlements
//! grant. Deleting an entitlement applies on the next request; revoking a
//! token within about a second.
//!
//! Requires `skopeo` on PATH (scripts/test installs it); fails loudly if it
//! is missing.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const REPO: &str = "acme/app";
const TAGS: [&str; 3] = ["1.1.0", "1.2.0", "1.2.3"];

fn pull(skopeo: &Path, host: &str, token: &str, tag: &str, out: &Path) -> Output {
    skopeo_pull(skopeo, host, REPO, tag, &creds(token), out)
}

fn list_tags(skopeo: &Path, host: &str, token: &str) -> Output {
    try_run(skopeo_cmd(skopeo).args([
        "list-tags",
        "--retry-times",
        "0",
        "--tls-verify=false",
        "--creds",
        &creds(token),
        &format!("docker://{host}/{REPO}"),
    ]))
}

/// Every digest and byte of the pulled layout equals the generated one.
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

/// A customer with one member and its token (admin CLI).
type Customer = CliCustomer;

async fn catalog(reg: &Registry) -> Value {
    let resp = reg.get("/v2/_catalog").await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "GET /v2/_catalog: {text}");
    serde_json::from_str::<Value>(&text).unwrap()["repositories"].clone()
}

async fn status_of(reg: &Registry, path: &str) -> u16 {
    reg.client
        .get(reg.url(path))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_pull_list_and_browse_only_what_they_are_entitled_to() {
    let skopeo = require_skopeo();
    let server = Server::start();
    let host = server.host_port();
    let work = tempfile::tempdir().unwrap();

    // The vendor records the artifact, then pushes three versions with skopeo.
    let out = server.admin(&["artifact", "create", "--org", TEST_ORG, "app"]);
    assert!(out.contains("created artifact acme/app"), "{out}");
    let layouts: Vec<GeneratedLayout> = TAGS
        .iter()
        .enumerate()
        .map(|(i, tag)| {
            generate_multiarch_layout_seeded(
                &work.path().join(format!("src-{tag}")),
                tag,
                i as u64 + 1,
            )
        })
        .collect();
    for l in &layouts {
        run_ok(skopeo_cmd(&skopeo).args([
            "copy",
            "--all",
            "--preserve-digests",
            "--retry-times",
            "0",
            "--dest-tls-verify=false",
            "--dest-creds",
            &server.creds(),
            &format!("oci:{}:{}", l.dir.display(), l.tag),
            &format!("docker://{host}/{REPO}:{}", l.tag),
        ]));
    }
    let digests: std::collections::BTreeSet<&str> =
        layouts.iter().map(|l| l.index_digest.as_str()).collect();
    assert_eq!(digests.len(), 3, "each version has its own index");
    // A second repository: the vendor's push records its artifact by itself.
    let vendor = server.registry();
    vendor.push_image("acme/other", "1.0", 77).await;
    let artifacts = server.admin_json(&["artifact", "list", "--org", TEST_ORG]);
    let names: Vec<&str> = artifacts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "other"], "{artifacts}");

    let a = server.customer("A", "customer_admin");
    let b = server.customer("B", "customer_member");
    let c = server.customer("C", "customer_member");
    let d = server.customer("D", "customer_member");
    let users = server.admin_json(&["user", "list", "--org", TEST_ORG]);
    assert_eq!(users.as_array().unwrap().len(), 5, "admin + 4: {users}");

    // Until the vendor has any entitlement, customers see everything.
    let d_reg = server.registry_as(Some(&d.token));
    assert_eq!(
        catalog(&d_reg).await,
        json!(["acme/app", "acme/other"]),
        "no entitlements yet: everything is visible"
    );

    server.entitle(&a, "patch-1.2", "app", "1.2.*", None);
    server.entitle(&b, "legacy", "app", "1.1.*", None);
    server.entitle(&c, "lapsed", "app", "all", Some("2024-01-01T00:00:00Z"));
    let listed = server.admin(&["entitlement", "list", "--org", TEST_ORG, "--customer", "C"]);
    assert!(listed.contains("status=expired"), "{listed}");

    // Pulls with skopeo: exactly the entitled tags, byte for byte. A denied
    // pull fails with `failure` in skopeo's message: a tag outside the
    // entitlement is DENIED; without any access to the repository, the token
    // endpoint grants no scope and the registry answers 401.
    let expect_pull = |who: &Customer, tag: &str, failure: Option<&str>| {
        let out_dir = tempfile::tempdir_in(work.path()).unwrap();
        let out = pull(&skopeo, &host, &who.token, tag, out_dir.path());
        match failure {
            None => {
                assert!(
                    out.status.success(),
                    "customer {} must pull {tag}: {}",
                    who.name,
                    stderr(&out)
                );
                let layout = layouts.iter().find(|l| l.tag == tag).unwrap();
                verify_pulled(
                    out_dir.path(),
                    layout,
                    &format!("customer {} {tag}", who.name),
                );
            }
            Some(message) => {
                let err = stderr(&out);
                assert!(
                    !out.status.success(),
                    "customer {} must NOT pull {tag}",
                    who.name
                );
                assert!(
                    err.contains(message),
                    "customer {} pulling {tag}: expected {message:?} in: {err}",
                    who.name
                );
            }
        }
    };
    const NOT_ENTITLED: Option<&str> = Some("not entitled to tag");
    // A repository a customer may not see reads like one that does not
    // exist (through the token flow too: no 401 loop).
    const NO_ACCESS: Option<&str> = Some("name unknown");
    for tag in TAGS {
        let a_may = tag.starts_with("1.2.");
        expect_pull(&a, tag, if a_may { None } else { NOT_ENTITLED });
        expect_pull(&b, tag, if a_may { NOT_ENTITLED } else { None });
        expect_pull(&c, tag, NO_ACCESS);
        expect_pull(&d, tag, NO_ACCESS);
    }

    // skopeo list-tags: only the entitled tags.
    for (who, want) in [(&a, json!(["1.2.0", "1.2.3"])), (&b, json!(["1.1.0"]))] {
        let out = list_tags(&skopeo, &host, &who.token);
        assert!(
            out.status.success(),
            "list-tags as {}: {}",
            who.name,
            stderr(&out)
        );
        let tags: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(tags["Tags"], want, "list-tags as {}: {tags}", who.name);
    }
    for who in [&c, &d] {
        let out = list_tags(&skopeo, &host, &who.token);
        assert!(
            !out.status.success(),
            "list-tags as {} must fail: {}",
            who.name,
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // The catalog over raw HTTP.
    assert_eq!(catalog(&vendor).await, json!(["acme/app", "acme/other"]));
    for (who, want) in [
        (&a, json!(["acme/app"])),
        (&b, json!(["acme/app"])),
        (&c, json!([])),
        (&d, json!([])),
    ] {
        let reg = server.registry_as(Some(&who.token));
        assert_eq!(catalog(&reg).await, want, "catalog as {}", who.name);
    }

    // By digest, too: B cannot fetch 1.2.0's index or its own layers; A can
    // fetch the base layer its versions share with 1.1.0, not 1.1.0's own.
    let (a_reg, b_reg) = (
        server.registry_as(Some(&a.token)),
        server.registry_as(Some(&b.token)),
    );
    let v110 = &layouts[0];
    let v120 = &layouts[1];
    let path = format!("/v2/{REPO}/manifests/{}", v120.index_digest);
    assert_eq!(
        status_of(&b_reg, &path).await,
        404,
        "B: 1.2.0 index by digest reads as unknown (no existence oracle)"
    );
    assert_eq!(
        status_of(&a_reg, &path).await,
        200,
        "A: 1.2.0 index by digest"
    );
    let own_layer = &v120.platforms[0].layer_digests[1];
    assert_eq!(
        status_of(&b_reg, &format!("/v2/{REPO}/blobs/{own_layer}")).await,
        403,
        "B: a layer only 1.2.0 has"
    );
    let base = &v110.platforms[0].layer_digests[0];
    assert_eq!(
        base, &v120.platforms[0].layer_digests[0],
        "shared base layer"
    );
    assert_eq!(
        status_of(&a_reg, &format!("/v2/{REPO}/blobs/{base}")).await,
        200,
        "A: the shared base layer"
    );
    let old_layer = &v110.platforms[0].layer_digests[1];
    assert_eq!(
        status_of(&a_reg, &format!("/v2/{REPO}/blobs/{old_layer}")).await,
        403,
        "A: a layer only 1.1.0 has"
    );
    // Customers never write.
    let resp = a_reg
        .client
        .post(a_reg.url(&format!("/v2/{REPO}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 403, "DENIED", "customer upload").await;

    let ents = server.admin_json(&["entitlement", "list", "--org", TEST_ORG, "--customer", "A"]);
    assert_eq!(ents.as_array().unwrap().len(), 1, "{ents}");
    assert_eq!(ents[0]["items"][0]["tags"], json!(["1.2.*"]));
    let id = ents[0]["id"].as_str().unwrap();

    // Edit A's entitlement through the management API (the server's own
    // writer): the change applies on the very next request.
    let edited = reqwest::Client::new()
        .put(server.registry().url(&format!("/api/v1/customers/{}/entitlements/{id}", ents[0]["customer_id"].as_str().unwrap())))
        .header("authorization", format!("AccessToken {TEST_TOKEN}"))
        .json(&json!({ "name": ents[0]["name"], "items": [{ "artifact_id": ents[0]["items"][0]["artifact_id"], "tags": ["1.1.*"] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200, "{:?}", edited.text().await);
    assert_eq!(
        status_of(&a_reg, &format!("/v2/{REPO}/manifests/1.1.0")).await,
        200,
        "A after the edit: 1.1.0"
    );
    assert_eq!(
        status_of(&a_reg, &format!("/v2/{REPO}/manifests/1.2.0")).await,
        403,
        "A after the edit: 1.2.0"
    );

    // Delete it with the admin command line, another process: the server
    // sees changes made behind its back within 100 ms (README).
    let out = server.admin(&["entitlement", "delete", id]);
    assert!(out.contains("deleted entitlement"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let path = format!("/v2/{REPO}/manifests/1.2.0");
    let status = status_of(&a_reg, &path).await;
    assert!(
        status == 403 || status == 404,
        "A after its entitlement was deleted: GET {path} → {status}"
    );
    assert_eq!(
        catalog(&a_reg).await,
        json!([]),
        "A's catalog after the delete"
    );
    expect_pull(&a, "1.2.3", NO_ACCESS);
    // B is unaffected.
    assert_eq!(
        status_of(&b_reg, &format!("/v2/{REPO}/manifests/1.1.0")).await,
        200
    );

    // Revoke B's token: refused after at most about a second.
    let tokens = server.admin_json(&["token", "list", "--org", TEST_ORG, "--email", &b.email]);
    assert_eq!(tokens[0]["status"], "active", "{tokens}");
    assert!(
        !tokens[0]["last_used_at"].is_null(),
        "B's token use is recorded: {tokens}"
    );
    let token_id = tokens[0]["id"].as_str().unwrap();
    let out = server.admin(&["token", "revoke", token_id]);
    assert!(out.contains("revoked token"), "{out}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp = b_reg.get("/v2/").await;
    expect_oci_error(resp, 401, "UNAUTHORIZED", "B's revoked token after 1.1 s").await;
    let resp = b_reg.get(&format!("/v2/{REPO}/manifests/1.1.0")).await;
    expect_oci_error(resp, 401, "UNAUTHORIZED", "B's revoked token on a manifest").await;
    expect_pull(&b, "1.1.0", Some("invalid username/password"));
    let tokens = server.admin_json(&["token", "list", "--org", TEST_ORG, "--email", &b.email]);
    assert_eq!(tokens[0]["status"], "revoked", "{tokens}");

    // The vendor is untouched by all of this.
    assert_eq!(
        status_of(&vendor, &format!("/v2/{REPO}/manifests/1.1.0")).await,
        200
    );
}
