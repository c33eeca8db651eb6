//! Raw-HTTP end-to-end tests of the OCI Distribution v1.1 API served by
//! `distr-server`. Every test starts its own server on a fresh data dir, so
//! the tests are independent and run in parallel.

mod common;

use common::*;
use serde_json::{json, Value};

fn ranged(resp: &reqwest::Response) -> Option<String> {
    header(resp, "range")
}

async fn patch_chunk(
    reg: &Registry,
    location: &str,
    start: usize,
    chunk: &[u8],
) -> reqwest::Response {
    let end = start + chunk.len() - 1;
    reg.client
        .patch(location)
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{start}-{end}"))
        .body(chunk.to_vec())
        .send()
        .await
        .expect("PATCH")
}

// ---------------------------------------------------------------------------
// base
// ---------------------------------------------------------------------------

#[tokio::test]
async fn api_version_check() {
    let server = Server::start();
    let reg = server.registry();
    let resp = reg.get("/v2/").await;
    assert_eq!(resp.status().as_u16(), 200, "GET /v2/");
    // Docker-compatible clients look for this header on the ping.
    assert_eq!(
        header(&resp, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0"),
        "GET /v2/: Docker-Distribution-API-Version"
    );
    let resp = reg.head("/v2/").await;
    assert_eq!(resp.status().as_u16(), 200, "HEAD /v2/");
}

// ---------------------------------------------------------------------------
// authentication
// ---------------------------------------------------------------------------

/// The WWW-Authenticate challenges of a response.
fn challenges(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn requests_without_credentials_get_401_with_a_basic_challenge() {
    let server = Server::start();
    // Something to hide.
    server.registry().push_image("acme/app", "1.0", 1).await;
    let anon = server.registry_as(None);
    for path in [
        "/v2/",
        "/v2/_catalog",
        "/v2/acme/app/tags/list",
        "/v2/acme/app/manifests/1.0",
        "/v2/acme/never-pushed/tags/list",
    ] {
        let resp = anon.get(path).await;
        let found = challenges(&resp);
        assert!(
            found.len() == 1 && found[0].starts_with("Bearer realm=\"http://") && found[0].contains("/v2/token\",service=\"distr\""),
            "GET {path}: one WWW-Authenticate: Bearer realm=…/v2/token challenge expected, got {found:?}"
        );
        expect_oci_error(resp, 401, "UNAUTHORIZED", &format!("anonymous GET {path}")).await;
    }
    let resp = anon
        .client
        .post(anon.url("/v2/acme/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 401, "UNAUTHORIZED", "anonymous upload").await;
    let resp = anon
        .put_manifest("acme/app", "2.0", OCI_MANIFEST, b"{}")
        .await;
    expect_oci_error(resp, 401, "UNAUTHORIZED", "anonymous manifest PUT").await;
    // Nothing changed.
    let resp = server.registry().get_manifest("acme/app", "2.0").await;
    assert_eq!(resp.status().as_u16(), 404);
}

#[tokio::test]
async fn a_wrong_token_gets_401() {
    let server = Server::start();
    server.registry().push_image("acme/app", "1.0", 2).await;
    let wrong = format!("{}1", &TEST_TOKEN[..TEST_TOKEN.len() - 1]);
    for token in [wrong.as_str(), "distr_unknown", "not-even-a-distr-token"] {
        let reg = server.registry_as(Some(token));
        for path in ["/v2/", "/v2/acme/app/manifests/1.0", "/v2/_catalog"] {
            let resp = reg.get(path).await;
            assert!(
                !challenges(&resp).is_empty(),
                "GET {path} with a wrong token: no WWW-Authenticate"
            );
            expect_oci_error(
                resp,
                401,
                "UNAUTHORIZED",
                &format!("GET {path}, wrong token"),
            )
            .await;
        }
    }
    // As a Bearer value, and with an empty or malformed Basic header.
    let anon = server.registry_as(None);
    for auth in [
        format!("Bearer {wrong}"),
        "Basic ".to_string(),
        "Basic !!!not-base64".to_string(),
        format!("Basic {}", &basic_auth(TEST_TOKEN)[6..12]),
    ] {
        let resp = anon
            .client
            .get(anon.url("/v2/acme/app/tags/list"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap();
        expect_oci_error(resp, 401, "UNAUTHORIZED", &format!("Authorization: {auth}")).await;
    }
    // The right token still works (as Basic and as Bearer).
    assert_eq!(server.registry().get("/v2/").await.status().as_u16(), 200);
    let resp = anon
        .client
        .get(anon.url("/v2/acme/app/manifests/1.0"))
        .header("authorization", format!("Bearer {TEST_TOKEN}"))
        .header("accept", MANIFEST_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "Bearer <token>");
}

// ---------------------------------------------------------------------------
// uploads
// ---------------------------------------------------------------------------

#[tokio::test]
async fn chunked_upload_in_three_patches_then_put() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/chunked";
    let data = pseudo_random_bytes(7, 3 * 1000 + 123);
    let digest = sha256_digest(&data);

    let mut loc = reg.start_upload(repo).await;
    let chunks: Vec<&[u8]> = vec![&data[..1000], &data[1000..2500], &data[2500..]];
    let mut offset = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let resp = patch_chunk(&reg, &loc, offset, chunk).await;
        let status = resp.status().as_u16();
        let range = ranged(&resp);
        let new_loc = header(&resp, "location");
        let body = resp.text().await.unwrap_or_default();
        assert_eq!(
            status,
            202,
            "PATCH chunk {i} ({offset}-{}): expected 202, got {status}; {body}",
            offset + chunk.len() - 1
        );
        offset += chunk.len();
        assert_eq!(
            range.as_deref(),
            Some(format!("0-{}", offset - 1).as_str()),
            "PATCH chunk {i}: Range header"
        );
        loc = reg.url(&new_loc.unwrap_or_else(|| panic!("PATCH chunk {i}: 202 without Location")));

        // Upload status reflects the bytes received so far.
        let status_resp = reg.client.get(&loc).send().await.unwrap();
        assert_eq!(
            status_resp.status().as_u16(),
            204,
            "GET upload status after chunk {i}"
        );
        assert_eq!(
            ranged(&status_resp).as_deref(),
            Some(format!("0-{}", offset - 1).as_str()),
            "GET upload status after chunk {i}: Range"
        );
        assert!(
            header(&status_resp, "location").is_some(),
            "GET upload status: Location header"
        );
    }

    let resp = reg
        .client
        .put(with_query(&loc, "digest", &digest))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let dcd = header(&resp, "docker-content-digest");
    let location = header(&resp, "location");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "PUT ?digest= closing chunked upload: {body}");
    assert_eq!(
        dcd.as_deref(),
        Some(digest.as_str()),
        "PUT: Docker-Content-Digest"
    );
    let location = location.expect("PUT: Location header");
    assert!(
        location.ends_with(&format!("/v2/{repo}/blobs/{digest}")),
        "PUT: Location is the blob URL, got {location}"
    );

    assert_eq!(
        reg.get_blob(repo, &digest).await,
        data,
        "GET blob after chunked upload"
    );
    // The session is gone once completed.
    let resp = reg.client.get(&loc).send().await.unwrap();
    expect_oci_error(
        resp,
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "GET status of a completed upload",
    )
    .await;
}

#[tokio::test]
async fn chunked_upload_with_final_chunk_in_put() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/chunked";
    let data = pseudo_random_bytes(8, 5000);
    let digest = sha256_digest(&data);
    let loc = reg.start_upload(repo).await;
    let resp = patch_chunk(&reg, &loc, 0, &data[..3000]).await;
    assert_eq!(resp.status().as_u16(), 202, "PATCH first chunk");
    let loc = reg.url(&header(&resp, "location").expect("Location"));
    let resp = reg
        .client
        .put(with_query(&loc, "digest", &digest))
        .header("content-type", "application/octet-stream")
        .header("content-range", "3000-4999")
        .body(data[3000..].to_vec())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    assert_eq!(
        status,
        201,
        "PUT with last chunk: {}",
        resp.text().await.unwrap_or_default()
    );
    assert_eq!(reg.get_blob(repo, &digest).await, data);
}

#[tokio::test]
async fn out_of_order_chunk_is_416() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/chunked";
    let data = pseudo_random_bytes(9, 3000);
    let loc = reg.start_upload(repo).await;
    let resp = patch_chunk(&reg, &loc, 0, &data[..1000]).await;
    assert_eq!(resp.status().as_u16(), 202, "first PATCH 0-999");
    let loc = reg.url(&header(&resp, "location").expect("Location"));

    // Skips 1000..2000.
    let resp = patch_chunk(&reg, &loc, 2000, &data[2000..]).await;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        status, 416,
        "PATCH 2000-2999 after 0-999 must be 416 (out of order), got {status}; {body}"
    );

    // Overlapping / restarting at 0 is out of order too.
    let resp = patch_chunk(&reg, &loc, 0, &data[..1000]).await;
    assert_eq!(
        resp.status().as_u16(),
        416,
        "PATCH 0-999 again after 0-999 must be 416"
    );
}

#[tokio::test]
async fn upload_status_and_cancel() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/cancel";
    let data = pseudo_random_bytes(10, 777);
    let loc = reg.start_upload(repo).await;

    // Status of a fresh session: 204 with Range 0-0 (nothing yet) per spec
    // examples; accept a missing Range too, but not a wrong one.
    let resp = reg.client.get(&loc).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204, "GET status of a new upload");
    assert!(header(&resp, "location").is_some(), "GET status: Location");

    let resp = patch_chunk(&reg, &loc, 0, &data).await;
    assert_eq!(resp.status().as_u16(), 202, "PATCH");
    let loc = reg.url(&header(&resp, "location").unwrap());
    let resp = reg.client.get(&loc).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204, "GET status after PATCH");
    assert_eq!(
        ranged(&resp).as_deref(),
        Some("0-776"),
        "GET status: Range after 777 bytes"
    );

    let resp = reg.client.delete(&loc).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204, "DELETE upload (cancel)");

    let resp = reg.client.get(&loc).send().await.unwrap();
    expect_oci_error(resp, 404, "BLOB_UPLOAD_UNKNOWN", "GET status after cancel").await;
    let resp = patch_chunk(&reg, &loc, 777, b"more").await;
    expect_oci_error(resp, 404, "BLOB_UPLOAD_UNKNOWN", "PATCH after cancel").await;
    let resp = reg
        .client
        .put(with_query(&loc, "digest", &sha256_digest(&data)))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 404, "BLOB_UPLOAD_UNKNOWN", "PUT after cancel").await;
    let resp = reg
        .head(&format!("/v2/{repo}/blobs/{}", sha256_digest(&data)))
        .await;
    assert_eq!(
        resp.status().as_u16(),
        404,
        "cancelled upload must not create the blob"
    );
}

#[tokio::test]
async fn monolithic_post_with_digest() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/mono";
    let data = pseudo_random_bytes(11, 4096);
    let digest = sha256_digest(&data);
    let url = reg.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}"));
    let resp = reg
        .client
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let dcd = header(&resp, "docker-content-digest");
    let location = header(&resp, "location");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 201, "POST ?digest= with body: {body}");
    assert_eq!(
        dcd.as_deref(),
        Some(digest.as_str()),
        "POST ?digest=: Docker-Content-Digest"
    );
    let location = location.expect("POST ?digest=: Location");
    assert!(
        location.ends_with(&format!("/v2/{repo}/blobs/{digest}")),
        "Location {location}"
    );
    assert_eq!(reg.get_blob(repo, &digest).await, data);

    // The two-step monolithic flow (POST, then PUT with the whole body).
    let data2 = pseudo_random_bytes(12, 100);
    let d2 = reg.push_blob(repo, &data2).await;
    assert_eq!(reg.get_blob(repo, &d2).await, data2);
}

#[tokio::test]
async fn cross_repo_mount() {
    let server = Server::start();
    let reg = server.registry();
    let data = pseudo_random_bytes(13, 2000);
    let digest = reg.push_blob("acme/source", &data).await;

    let url = reg.url(&format!(
        "/v2/acme/target/blobs/uploads/?mount={digest}&from=acme/source"
    ));
    let resp = reg.client.post(&url).send().await.unwrap();
    let status = resp.status().as_u16();
    let dcd = header(&resp, "docker-content-digest");
    let location = header(&resp, "location");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        status, 201,
        "POST ?mount=&from= of an existing blob: {body}"
    );
    assert_eq!(
        dcd.as_deref(),
        Some(digest.as_str()),
        "mount: Docker-Content-Digest"
    );
    let location = location.expect("mount: Location");
    assert!(
        location.ends_with(&format!("/v2/acme/target/blobs/{digest}")),
        "mount Location {location}"
    );
    assert_eq!(
        reg.get_blob("acme/target", &digest).await,
        data,
        "mounted blob readable in target"
    );

    // Mounting something the source does not have falls back to an upload
    // session (202 + Location), as the spec requires.
    let missing = sha256_digest(b"not there");
    let url = reg.url(&format!(
        "/v2/acme/other/blobs/uploads/?mount={missing}&from=acme/source"
    ));
    let resp = reg.client.post(&url).send().await.unwrap();
    assert_eq!(
        resp.status().as_u16(),
        202,
        "mount of an unknown blob falls back to an upload"
    );
    assert!(
        header(&resp, "location").is_some(),
        "fallback upload has a Location"
    );
}

#[tokio::test]
async fn sha512_blob_upload() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/sha512";
    let data = pseudo_random_bytes(14, 3333);
    let digest = sha512_digest(&data);
    reg.push_blob_with_digest(repo, &data, &digest).await;

    let resp = reg.head(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(resp.status().as_u16(), 200, "HEAD sha512 blob");
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(header(&resp, "content-length").as_deref(), Some("3333"));
    assert_eq!(reg.get_blob(repo, &digest).await, data, "GET sha512 blob");

    // Monolithic POST with a sha512 digest as well.
    let data2 = pseudo_random_bytes(15, 100);
    let d2 = sha512_digest(&data2);
    let resp = reg
        .client
        .post(reg.url(&format!("/v2/{repo}/blobs/uploads/?digest={d2}")))
        .header("content-type", "application/octet-stream")
        .body(data2.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "POST ?digest=sha512:...");
    assert_eq!(reg.get_blob(repo, &d2).await, data2);
}

// ---------------------------------------------------------------------------
// blob reads
// ---------------------------------------------------------------------------

#[tokio::test]
async fn head_blob_headers() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/heads";
    let data = pseudo_random_bytes(16, 12345);
    let digest = reg.push_blob(repo, &data).await;

    let resp = reg.head(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(resp.status().as_u16(), 200, "HEAD blob");
    assert_eq!(
        header(&resp, "content-length").as_deref(),
        Some("12345"),
        "HEAD blob: Content-Length"
    );
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(digest.as_str()),
        "HEAD blob: Docker-Content-Digest"
    );
    assert!(resp.bytes().await.unwrap().is_empty(), "HEAD has no body");

    let resp = reg.get(&format!("/v2/{repo}/blobs/{digest}")).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "content-length").as_deref(),
        Some("12345"),
        "GET blob: Content-Length"
    );
    assert_eq!(
        header(&resp, "docker-content-digest").as_deref(),
        Some(digest.as_str()),
        "GET blob: Docker-Content-Digest"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), data.as_slice());

    // A blob is not visible in an unrelated repository.
    let resp = reg
        .head(&format!("/v2/acme/elsewhere/blobs/{digest}"))
        .await;
    assert_eq!(
        resp.status().as_u16(),
        404,
        "HEAD blob in a repo that never received it"
    );
    let resp = reg.get(&format!("/v2/acme/elsewhere/blobs/{digest}")).await;
    let st = resp.status().as_u16();
    assert_eq!(st, 404, "GET blob in another repo");
}

#[tokio::test]
async fn blob_range_reads() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/ranges";
    let data = pseudo_random_bytes(17, 1000);
    let digest = reg.push_blob(repo, &data).await;
    let url = reg.url(&format!("/v2/{repo}/blobs/{digest}"));

    let cases: [(&str, usize, usize); 4] = [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=0-0", 0, 0),
        ("bytes=500-5000", 500, 999),
    ];
    for (range, a, b) in cases {
        let resp = reg
            .client
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let cr = header(&resp, "content-range");
        let cl = header(&resp, "content-length");
        let body = resp.bytes().await.unwrap();
        assert_eq!(status, 206, "GET blob Range: {range}");
        assert_eq!(
            cr.as_deref(),
            Some(format!("bytes {a}-{b}/1000").as_str()),
            "Content-Range for {range}"
        );
        assert_eq!(
            cl.as_deref(),
            Some((b - a + 1).to_string().as_str()),
            "Content-Length for {range}"
        );
        assert_eq!(body.as_ref(), &data[a..=b], "body for {range}");
    }

    for range in ["bytes=1000-1100", "bytes=5000-"] {
        let resp = reg
            .client
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            416,
            "GET blob Range: {range} (unsatisfiable)"
        );
        assert_eq!(
            header(&resp, "content-range").as_deref(),
            Some("bytes */1000"),
            "416 Content-Range for {range}"
        );
    }
}

// ---------------------------------------------------------------------------
// manifests and tags
// ---------------------------------------------------------------------------

#[tokio::test]
async fn manifest_get_head_by_tag_and_digest() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/manifests";
    let img = reg.push_image(repo, "1.0", 20).await;

    for reference in ["1.0", img.manifest_digest.as_str()] {
        let resp = reg.get_manifest(repo, reference).await;
        assert_eq!(resp.status().as_u16(), 200, "GET manifest {reference}");
        assert_eq!(
            header(&resp, "content-type").as_deref(),
            Some(OCI_MANIFEST),
            "GET {reference}: Content-Type"
        );
        assert_eq!(
            header(&resp, "docker-content-digest").as_deref(),
            Some(img.manifest_digest.as_str())
        );
        assert_eq!(
            resp.bytes().await.unwrap().as_ref(),
            img.manifest.as_slice(),
            "GET {reference}: exact bytes"
        );

        let resp = reg
            .client
            .head(reg.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header("accept", MANIFEST_ACCEPT)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "HEAD manifest {reference}");
        assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(
            header(&resp, "docker-content-digest").as_deref(),
            Some(img.manifest_digest.as_str())
        );
        assert_eq!(
            header(&resp, "content-length"),
            Some(img.manifest.len().to_string()),
            "HEAD {reference}: Content-Length"
        );
    }

    // PUT by digest works too (no tag).
    let resp = reg
        .put_manifest_ok(repo, &img.manifest_digest, OCI_MANIFEST, &img.manifest)
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    // Re-pushing the same tag is idempotent.
    let resp = reg
        .put_manifest_ok(repo, "1.0", OCI_MANIFEST, &img.manifest)
        .await;
    assert_eq!(resp.status().as_u16(), 201);

    // Unknown tag / digest.
    let resp = reg.get_manifest(repo, "nope").await;
    expect_oci_error(resp, 404, "MANIFEST_UNKNOWN", "GET unknown tag").await;
    let resp = reg
        .get_manifest(repo, &sha256_digest(b"unknown manifest"))
        .await;
    expect_oci_error(resp, 404, "MANIFEST_UNKNOWN", "GET unknown digest").await;
}

#[tokio::test]
async fn tag_listing_paginates_with_link_headers() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/tagged";
    let img = reg.push_image(repo, "latest", 21).await;
    // Insert in non-lexical order.
    let extra = ["v2", "1.0", "v10", "beta", "0.9", "alpha"];
    for t in extra {
        reg.put_manifest_ok(repo, t, OCI_MANIFEST, &img.manifest)
            .await;
    }
    let mut expected: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    expected.push("latest".into());
    expected.sort();
    assert_eq!(expected.len(), 7);

    // Unpaginated.
    let pages = reg.paginate(&format!("/v2/{repo}/tags/list"), 5).await;
    assert_eq!(pages.len(), 1, "no Link header without n");
    assert_eq!(pages[0].0["name"], repo);
    assert_eq!(
        pages[0].0["tags"],
        json!(expected),
        "all tags in lexical order"
    );

    // n=2, follow Link until exhausted.
    let pages = reg.paginate(&format!("/v2/{repo}/tags/list?n=2"), 10).await;
    let mut collected = Vec::new();
    for (i, (page, link)) in pages.iter().enumerate() {
        let tags = page["tags"]
            .as_array()
            .unwrap_or_else(|| panic!("page {i}: no tags array: {page}"));
        assert!(
            tags.len() <= 2,
            "page {i} has {} tags (n=2): {page}",
            tags.len()
        );
        collected.extend(tags.iter().map(|t| t.as_str().unwrap().to_string()));
        if let Some(link) = link {
            let last = collected.last().unwrap();
            assert_eq!(
                link,
                &format!("</v2/{repo}/tags/list?n=2&last={last}>; rel=\"next\""),
                "page {i}: Link header"
            );
        }
    }
    assert_eq!(collected, expected, "tags collected across pages");
    assert_eq!(pages.len(), 4, "7 tags with n=2 → 4 pages");
    assert!(pages.last().unwrap().1.is_none(), "last page has no Link");

    // last= alone.
    let pages = reg
        .paginate(&format!("/v2/{repo}/tags/list?last=beta"), 5)
        .await;
    let want: Vec<&String> = expected.iter().filter(|t| t.as_str() > "beta").collect();
    assert_eq!(pages[0].0["tags"], json!(want), "tags after last=beta");
}

#[tokio::test]
async fn catalog_paginates_with_link_headers() {
    let server = Server::start();
    let reg = server.registry();
    let repos = [
        "acme/web",
        "acme/api",
        "acme/zeta/tool",
        "acme/charts/web",
        "acme/beta/app",
    ];
    for (i, r) in repos.iter().enumerate() {
        reg.push_image(r, "1.0", 30 + i as u64).await;
    }
    let mut expected: Vec<&str> = repos.to_vec();
    expected.sort();

    let pages = reg.paginate("/v2/_catalog", 5).await;
    assert_eq!(pages[0].0["repositories"], json!(expected), "full catalog");

    let pages = reg.paginate("/v2/_catalog?n=2", 10).await;
    let mut collected = Vec::new();
    for (i, (page, link)) in pages.iter().enumerate() {
        let repos = page["repositories"]
            .as_array()
            .unwrap_or_else(|| panic!("page {i}: {page}"));
        assert!(repos.len() <= 2, "catalog page {i}: {page}");
        collected.extend(repos.iter().map(|r| r.as_str().unwrap().to_string()));
        if let Some(link) = link {
            let last = collected.last().unwrap();
            assert_eq!(
                link,
                &format!("</v2/_catalog?n=2&last={last}>; rel=\"next\""),
                "catalog page {i}: Link"
            );
        }
    }
    assert_eq!(collected, expected, "catalog collected across pages");
    assert_eq!(pages.len(), 3, "5 repos with n=2 → 3 pages");
}

#[tokio::test]
async fn delete_tag_keeps_digest() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/deltag";
    let img = reg.push_image(repo, "1.0", 40).await;
    reg.put_manifest_ok(repo, "keep", OCI_MANIFEST, &img.manifest)
        .await;

    let resp = reg
        .client
        .delete(reg.url(&format!("/v2/{repo}/manifests/1.0")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        202,
        "DELETE /v2/{repo}/manifests/1.0"
    );

    let resp = reg.get_manifest(repo, "1.0").await;
    expect_oci_error(resp, 404, "MANIFEST_UNKNOWN", "GET deleted tag").await;
    let resp = reg.get_manifest(repo, &img.manifest_digest).await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "manifest still resolves by digest after tag delete"
    );
    assert_eq!(
        resp.bytes().await.unwrap().as_ref(),
        img.manifest.as_slice()
    );
    let resp = reg.get_manifest(repo, "keep").await;
    assert_eq!(resp.status().as_u16(), 200, "other tag still resolves");

    let pages = reg.paginate(&format!("/v2/{repo}/tags/list"), 5).await;
    assert_eq!(
        pages[0].0["tags"],
        json!(["keep"]),
        "deleted tag no longer listed"
    );

    // Deleting it again: unknown.
    let resp = reg
        .client
        .delete(reg.url(&format!("/v2/{repo}/manifests/1.0")))
        .send()
        .await
        .unwrap();
    expect_oci_error(
        resp,
        404,
        "MANIFEST_UNKNOWN",
        "DELETE an already deleted tag",
    )
    .await;
}

#[tokio::test]
async fn delete_manifest_by_digest() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/deldigest";
    let img = reg.push_image(repo, "1.0", 41).await;
    // Another tagged image: the artifact must keep at least one tag.
    let other = reg.push_image(repo, "2.0", 42).await;
    let resp = reg
        .client
        .delete(reg.url(&format!("/v2/{repo}/manifests/{}", img.manifest_digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "DELETE manifest by digest");
    let resp = reg.get_manifest(repo, &img.manifest_digest).await;
    expect_oci_error(
        resp,
        404,
        "MANIFEST_UNKNOWN",
        "GET deleted manifest by digest",
    )
    .await;
    let resp = reg.get_manifest(repo, "1.0").await;
    expect_oci_error(
        resp,
        404,
        "MANIFEST_UNKNOWN",
        "GET tag of a deleted manifest",
    )
    .await;
    // Deleting the last tagged manifest of an artifact is refused with 400
    // DENIED (a status the distribution-spec allows a DELETE): that would be
    // deleting the artifact.
    let resp = reg
        .client
        .delete(reg.url(&format!("/v2/{repo}/manifests/{}", other.manifest_digest)))
        .send()
        .await
        .unwrap();
    expect_oci_error(
        resp,
        400,
        "DENIED",
        "DELETE the artifact's last tagged manifest",
    )
    .await;
    assert_eq!(reg.get_manifest(repo, "2.0").await.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------
// referrers
// ---------------------------------------------------------------------------

#[tokio::test]
async fn referrers_of_signature_artifact() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/signed";
    let img = reg.push_image(repo, "1.0", 50).await;

    // The empty config `{}`.
    let empty = b"{}";
    let empty_digest = reg.push_blob(repo, empty).await;
    assert_eq!(
        empty_digest,
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    );

    // A signature-like artifact: artifactType + empty config + subject.
    let sig_payload = b"fake signature payload".to_vec();
    let sig_layer = reg.push_blob(repo, &sig_payload).await;
    let subject = json!({"mediaType": OCI_MANIFEST, "digest": img.manifest_digest, "size": img.manifest.len()});
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": "application/vnd.example.signature.v1+bin", "digest": sig_layer, "size": sig_payload.len()}],
        "subject": subject,
        "annotations": {"org.example.signer": "ci"}
    }))
    .unwrap();
    let sig_digest = sha256_digest(&sig);
    let resp = reg
        .put_manifest_ok(repo, &sig_digest, OCI_MANIFEST, &sig)
        .await;
    assert_eq!(
        header(&resp, "oci-subject").as_deref(),
        Some(img.manifest_digest.as_str()),
        "PUT of a manifest with subject must return OCI-Subject"
    );

    // An SBOM-like artifact without artifactType: its config media type is
    // the artifactType reported by the referrers API.
    let sbom_config = br#"{"format":"spdx"}"#.to_vec();
    let sbom_config_digest = reg.push_blob(repo, &sbom_config).await;
    let sbom = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.sbom.v1+json", "digest": sbom_config_digest, "size": sbom_config.len()},
        "layers": [{"mediaType": "application/vnd.example.sbom.v1+bin", "digest": sig_layer, "size": sig_payload.len()}],
        "subject": subject
    }))
    .unwrap();
    let sbom_digest = sha256_digest(&sbom);
    let resp = reg.put_manifest_ok(repo, "sbom", OCI_MANIFEST, &sbom).await;
    assert_eq!(
        header(&resp, "oci-subject").as_deref(),
        Some(img.manifest_digest.as_str()),
        "OCI-Subject for sbom"
    );

    // A manifest without subject does not get OCI-Subject.
    let plain = reg.push_image(repo, "plain", 51).await;
    let resp = reg
        .put_manifest_ok(repo, "plain", OCI_MANIFEST, &plain.manifest)
        .await;
    assert!(
        header(&resp, "oci-subject").is_none(),
        "no OCI-Subject without subject"
    );

    // All referrers.
    let path = format!("/v2/{repo}/referrers/{}", img.manifest_digest);
    let resp = reg.get(&path).await;
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    assert_eq!(
        header(&resp, "content-type").as_deref(),
        Some(OCI_INDEX),
        "referrers Content-Type"
    );
    assert!(
        header(&resp, "oci-filters-applied").is_none(),
        "no filter → no OCI-Filters-Applied"
    );
    let index: Value = resp.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let manifests = index["manifests"].as_array().expect("manifests");
    assert_eq!(manifests.len(), 2, "two referrers: {index}");
    let find = |d: &str| {
        manifests
            .iter()
            .find(|m| m["digest"] == d)
            .unwrap_or_else(|| panic!("referrer {d} missing: {index}"))
    };
    let s = find(&sig_digest);
    assert_eq!(s["mediaType"], OCI_MANIFEST);
    assert_eq!(s["size"], sig.len());
    assert_eq!(s["artifactType"], "application/vnd.example.signature.v1");
    assert_eq!(
        s["annotations"]["org.example.signer"], "ci",
        "referrer descriptor carries annotations"
    );
    let b = find(&sbom_digest);
    assert_eq!(b["size"], sbom.len());
    assert_eq!(
        b["artifactType"], "application/vnd.example.sbom.v1+json",
        "artifactType falls back to config.mediaType"
    );

    // Filtered.
    let resp = reg
        .get(&format!(
            "{path}?artifactType=application/vnd.example.signature.v1"
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        header(&resp, "oci-filters-applied").as_deref(),
        Some("artifactType"),
        "filtered referrers header"
    );
    let index: Value = resp.json().await.unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "filtered referrers: {index}");
    assert_eq!(manifests[0]["digest"], sig_digest.as_str());

    // Unknown subject → 200 with an empty list.
    let resp = reg
        .get(&format!(
            "/v2/{repo}/referrers/{}",
            sha256_digest(b"no such subject")
        ))
        .await;
    assert_eq!(
        resp.status().as_u16(),
        200,
        "referrers of an unknown subject"
    );
    let index: Value = resp.json().await.unwrap();
    assert_eq!(index["manifests"], json!([]), "no referrers: {index}");

    // Invalid digest → 400.
    let resp = reg
        .get(&format!("/v2/{repo}/referrers/sha256:nothex"))
        .await;
    assert_eq!(
        resp.status().as_u16(),
        400,
        "referrers with an invalid digest"
    );

    // Deleting the signature removes it from the referrers list.
    let resp = reg
        .client
        .delete(reg.url(&format!("/v2/{repo}/manifests/{sig_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202, "DELETE signature manifest");
    let index: Value = reg.get(&path).await.json().await.unwrap();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(
        manifests.len(),
        1,
        "referrers after deleting the signature: {index}"
    );
    assert_eq!(manifests[0]["digest"], sbom_digest.as_str());
}

#[tokio::test]
async fn image_index_push_requires_children() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/multi";
    let a = reg.push_image(repo, "amd", 60).await;
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": a.manifest_digest, "size": a.manifest.len(),
                       "platform": {"architecture": "amd64", "os": "linux"}}]
    }))
    .unwrap();
    reg.put_manifest_ok(repo, "multi", OCI_INDEX, &index).await;
    let resp = reg.get_manifest(repo, "multi").await;
    assert_eq!(header(&resp, "content-type").as_deref(), Some(OCI_INDEX));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), index.as_slice());

    // An index pointing at a manifest the repo lacks.
    let bad = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": sha256_digest(b"missing"), "size": 7}]
    }))
    .unwrap();
    let resp = reg.put_manifest(repo, "bad", OCI_INDEX, &bad).await;
    expect_oci_error(
        resp,
        400,
        "MANIFEST_BLOB_UNKNOWN",
        "PUT index with unknown child",
    )
    .await;
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

#[tokio::test]
async fn error_codes_for_bad_inputs() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/errors";
    let img = reg.push_image(repo, "1.0", 70).await;

    // NAME_INVALID: upper case, single segment.
    let resp = reg
        .client
        .post(reg.url("/v2/Acme/App/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 400, "NAME_INVALID", "POST upload to Acme/App").await;
    let resp = reg.get("/v2/Acme/App/tags/list").await;
    expect_oci_error(resp, 400, "NAME_INVALID", "GET /v2/Acme/App/tags/list").await;
    let resp = reg
        .put_manifest("ACME/app", "1.0", OCI_MANIFEST, &img.manifest)
        .await;
    expect_oci_error(resp, 400, "NAME_INVALID", "PUT manifest to ACME/app").await;
    let resp = reg
        .client
        .post(reg.url("/v2/single/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    expect_oci_error(
        resp,
        400,
        "NAME_INVALID",
        "POST upload to single-segment name",
    )
    .await;

    // NAME_UNKNOWN: a repository that was never pushed to.
    let resp = reg.get("/v2/acme/never-pushed/tags/list").await;
    expect_oci_error(
        resp,
        404,
        "NAME_UNKNOWN",
        "tags/list of an unknown repository",
    )
    .await;

    // BLOB_UNKNOWN.
    let unknown = sha256_digest(b"never uploaded");
    let resp = reg.get(&format!("/v2/{repo}/blobs/{unknown}")).await;
    expect_oci_error(resp, 404, "BLOB_UNKNOWN", "GET unknown blob").await;
    let resp = reg.head(&format!("/v2/{repo}/blobs/{unknown}")).await;
    assert_eq!(resp.status().as_u16(), 404, "HEAD unknown blob");

    // DIGEST_INVALID: malformed digests.
    for bad in [
        "sha256:xyz",
        "sha256:ABCDEF",
        "md5:d41d8cd98f00b204e9800998ecf8427e",
        "sha256:",
    ] {
        let resp = reg.get(&format!("/v2/{repo}/blobs/{bad}")).await;
        expect_oci_error(resp, 400, "DIGEST_INVALID", &format!("GET blob {bad}")).await;
    }

    // DIGEST_INVALID on a monolithic POST with the wrong digest; nothing stored.
    let data = pseudo_random_bytes(71, 500);
    let wrong = sha256_digest(b"something else");
    let resp = reg
        .client
        .post(reg.url(&format!("/v2/{repo}/blobs/uploads/?digest={wrong}")))
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 400, "DIGEST_INVALID", "POST ?digest=<wrong>").await;
    for d in [&wrong, &sha256_digest(&data)] {
        let resp = reg.head(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(
            resp.status().as_u16(),
            404,
            "nothing stored under {d} after a rejected POST"
        );
    }

    // DIGEST_INVALID on PUT closing an upload; nothing stored.
    let loc = reg.start_upload(repo).await;
    let resp = reg
        .client
        .put(with_query(&loc, "digest", &wrong))
        .header("content-type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await
        .unwrap();
    expect_oci_error(resp, 400, "DIGEST_INVALID", "PUT ?digest=<wrong>").await;
    for d in [&wrong, &sha256_digest(&data)] {
        let resp = reg.head(&format!("/v2/{repo}/blobs/{d}")).await;
        assert_eq!(
            resp.status().as_u16(),
            404,
            "nothing stored under {d} after a rejected PUT"
        );
    }

    // PUT without digest: 400 (DIGEST_INVALID or BLOB_UPLOAD_INVALID).
    let loc = reg.start_upload(repo).await;
    let resp = reg
        .client
        .put(&loc)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(st, 400, "PUT upload without ?digest=: {v}");
    let code = v["errors"][0]["code"].as_str().unwrap_or("");
    assert!(
        matches!(code, "DIGEST_INVALID" | "BLOB_UPLOAD_INVALID"),
        "PUT without digest: code {code}: {v}"
    );

    // BLOB_UPLOAD_UNKNOWN: made-up session.
    let resp = reg
        .get(&format!(
            "/v2/{repo}/blobs/uploads/00000000-0000-4000-8000-000000000000"
        ))
        .await;
    expect_oci_error(
        resp,
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "GET status of an unknown upload",
    )
    .await;

    // MANIFEST_INVALID: not JSON / missing fields.
    let resp = reg
        .put_manifest(repo, "broken", OCI_MANIFEST, b"{not json")
        .await;
    expect_oci_error(resp, 400, "MANIFEST_INVALID", "PUT non-JSON manifest").await;
    let resp = reg
        .put_manifest(
            repo,
            "broken",
            OCI_MANIFEST,
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        )
        .await;
    expect_oci_error(
        resp,
        400,
        "MANIFEST_INVALID",
        "PUT manifest without config/layers",
    )
    .await;

    // MANIFEST_BLOB_UNKNOWN: references a blob the repo lacks.
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": img.config_digest, "size": img.config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": unknown, "size": 14}]
    }))
    .unwrap();
    let resp = reg.put_manifest(repo, "dangling", OCI_MANIFEST, &m).await;
    expect_oci_error(
        resp,
        400,
        "MANIFEST_BLOB_UNKNOWN",
        "PUT manifest with unknown layer",
    )
    .await;
    let resp = reg.get_manifest(repo, "dangling").await;
    assert_eq!(resp.status().as_u16(), 404, "rejected manifest not tagged");

    // PUT by a digest that does not match the body.
    let resp = reg
        .put_manifest(repo, &sha256_digest(b"other"), OCI_MANIFEST, &img.manifest)
        .await;
    expect_oci_error(
        resp,
        400,
        "DIGEST_INVALID",
        "PUT manifest by mismatching digest",
    )
    .await;

    // Manifests over 4 MiB → 413.
    let big = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": img.config_digest, "size": 10},
        "layers": [],
        "annotations": {"padding": "x".repeat(4 * 1024 * 1024 + 1)}
    }))
    .unwrap();
    // Sent over a raw socket: the server may answer before reading the whole
    // body, which hyper-based clients report as a broken pipe.
    let (status, body) = raw_http_put(
        &server.host_port(),
        &format!("/v2/{repo}/manifests/huge"),
        OCI_MANIFEST,
        &big,
    );
    assert_eq!(
        status,
        413,
        "PUT a manifest of {} bytes: {}",
        big.len(),
        String::from_utf8_lossy(&body)
    );
    let resp = reg.get_manifest(repo, "huge").await;
    assert_eq!(resp.status().as_u16(), 404, "oversized manifest not stored");

    // The registry still works after all that.
    let resp = reg.get_manifest(repo, "1.0").await;
    assert_eq!(resp.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------
// edge cases real clients hit
// ---------------------------------------------------------------------------

#[tokio::test]
async fn streamed_patch_without_content_range() {
    // containerd / docker / containers-image send PATCH without Content-Range.
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/streamed";
    let data = pseudo_random_bytes(80, 10_000);
    let digest = sha256_digest(&data);
    let mut loc = reg.start_upload(repo).await;
    for (i, chunk) in [&data[..6000], &data[6000..]].iter().enumerate() {
        let resp = reg
            .client
            .patch(&loc)
            .header("content-type", "application/octet-stream")
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status().as_u16(),
            202,
            "PATCH {i} without Content-Range"
        );
        let end = if i == 0 { 5999 } else { 9999 };
        assert_eq!(ranged(&resp), Some(format!("0-{end}")), "PATCH {i}: Range");
        loc = reg.url(&header(&resp, "location").expect("Location"));
    }
    let resp = reg
        .client
        .put(with_query(&loc, "digest", &digest))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "PUT after streamed PATCHes");
    assert_eq!(reg.get_blob(repo, &digest).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blob_in_three_chunks() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/large";
    let size = 24 * 1024 * 1024 + 5;
    let data = pseudo_random_bytes(81, size);
    let digest = sha256_digest(&data);
    let mut loc = reg.start_upload(repo).await;
    let third = size / 3;
    let mut offset = 0;
    for chunk in [&data[..third], &data[third..2 * third], &data[2 * third..]] {
        let resp = patch_chunk(&reg, &loc, offset, chunk).await;
        assert_eq!(resp.status().as_u16(), 202, "PATCH at {offset}");
        offset += chunk.len();
        loc = reg.url(&header(&resp, "location").expect("Location"));
    }
    let resp = reg
        .client
        .put(with_query(&loc, "digest", &digest))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "PUT of a 24 MiB chunked upload"
    );
    let got = reg.get_blob(repo, &digest).await;
    assert_eq!(got.len(), size, "size of the 24 MiB blob");
    assert_eq!(sha256_digest(&got), digest, "content of the 24 MiB blob");
    let resp = reg
        .client
        .get(reg.url(&format!("/v2/{repo}/blobs/{digest}")))
        .header("range", format!("bytes={}-", size - 10))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &data[size - 10..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_of_the_same_content() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/race";
    let layer = pseudo_random_bytes(82, 200_000);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let reg = reg.clone();
        let layer = layer.clone();
        tasks.push(tokio::spawn(
            async move { reg.push_blob(repo, &layer).await },
        ));
    }
    for t in tasks {
        t.await.expect("concurrent blob push");
    }
    // Same manifest pushed to the same and to different tags concurrently.
    let img = reg.push_image(repo, "base", 83).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let reg = reg.clone();
        let manifest = img.manifest.clone();
        let tag = if i % 2 == 0 {
            "same".to_string()
        } else {
            format!("t{i}")
        };
        tasks.push(tokio::spawn(async move {
            reg.put_manifest_ok(repo, &tag, OCI_MANIFEST, &manifest)
                .await;
        }));
    }
    for t in tasks {
        t.await.expect("concurrent manifest push");
    }
    assert_eq!(reg.get_blob(repo, &sha256_digest(&layer)).await, layer);
    let pages = reg.paginate(&format!("/v2/{repo}/tags/list"), 5).await;
    assert_eq!(
        pages[0].0["tags"],
        json!(["base", "same", "t1", "t3", "t5", "t7"])
    );
}

#[tokio::test]
async fn referrer_pushed_before_its_subject() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/early";
    // Compute the subject's digest without pushing it yet: build the image
    // content by hand (same as push_image would) in a scratch repo first.
    let scratch = reg.push_image("acme/scratch", "x", 84).await;
    let empty_digest = reg.push_blob(repo, b"{}").await;
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2},
        "layers": [{"mediaType": OCI_EMPTY, "digest": empty_digest, "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": scratch.manifest_digest, "size": scratch.manifest.len()}
    }))
    .unwrap();
    let resp = reg
        .put_manifest_ok(repo, &sha256_digest(&sig), OCI_MANIFEST, &sig)
        .await;
    assert_eq!(
        header(&resp, "oci-subject").as_deref(),
        Some(scratch.manifest_digest.as_str()),
        "OCI-Subject for a subject not (yet) in the repository"
    );
    let index: Value = reg
        .get(&format!("/v2/{repo}/referrers/{}", scratch.manifest_digest))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(1),
        "referrer listed before its subject exists: {index}"
    );

    // Now push the subject itself; the referrer is still listed.
    reg.push_image(repo, "x", 84).await;
    let index: Value = reg
        .get(&format!("/v2/{repo}/referrers/{}", scratch.manifest_digest))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(1),
        "{index}"
    );
}

#[tokio::test]
async fn more_invalid_requests() {
    let server = Server::start();
    let reg = server.registry();
    let repo = "acme/invalid";
    let img = reg.push_image(repo, "1.0", 85).await;

    // TAG_INVALID.
    let resp = reg
        .put_manifest(repo, "-bad", OCI_MANIFEST, &img.manifest)
        .await;
    expect_oci_error(resp, 400, "TAG_INVALID", "PUT manifest with tag -bad").await;

    // An upload session belongs to its repository.
    let loc = reg.start_upload(repo).await;
    let id = loc
        .split('?')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let resp = reg.get(&format!("/v2/acme/other/blobs/uploads/{id}")).await;
    expect_oci_error(
        resp,
        404,
        "BLOB_UPLOAD_UNKNOWN",
        "upload session used under another repository",
    )
    .await;

    // Catalog/tag pagination past the end: empty, no Link.
    let resp = reg.get("/v2/_catalog?n=5&last=zzz/zzz").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        header(&resp, "link").is_none(),
        "no Link past the end of the catalog"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["repositories"], json!([]), "catalog past the end: {v}");
    let resp = reg.get(&format!("/v2/{repo}/tags/list?n=5&last=zzz")).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(header(&resp, "link").is_none(), "no Link past the last tag");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["tags"], json!([]), "tags past the end: {v}");

    // Mount without `from` is an ordinary upload session.
    let resp = reg
        .client
        .post(reg.url(&format!(
            "/v2/{repo}/blobs/uploads/?mount={}",
            img.layer_digest
        )))
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    assert!(
        st == 202 || st == 201,
        "POST ?mount= without from: got {st}"
    );
}

#[tokio::test]
async fn repeated_failed_authentications_are_rate_limited() {
    let server = Server::start();
    let wrong = server.registry_as(Some("distr_wrong_token_for_the_rate_limit_test"));
    // distr-server passes the peer address to the limiter: 20 failures per
    // address per minute, then 429 with Retry-After.
    for i in 0..20 {
        let resp = wrong.get("/v2/").await;
        assert_eq!(resp.status().as_u16(), 401, "failure #{}", i + 1);
    }
    let resp = wrong.get("/v2/").await;
    let retry_after = header(&resp, "retry-after");
    expect_oci_error(resp, 429, "TOOMANYREQUESTS", "21st failure within a minute").await;
    let secs: u64 = retry_after
        .expect("429 carries Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
}
