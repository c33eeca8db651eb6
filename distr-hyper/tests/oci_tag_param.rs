//! The distribution-spec draft's tag parameters on a manifest push by digest
//! (`PUT /v2/<name>/manifests/<digest>?tag=a&tag=b`), in-process through the
//! tower service: sha256 and sha512 digests, one `OCI-Tag` header per tag
//! applied, TAG_INVALID before anything is stored, and automatic mounts.

use std::sync::Arc;

use bytes::Bytes;
use distr_core::{Algorithm, Digest, Registry};
use distr_hyper::DistrService;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

type Resp = (StatusCode, http::HeaderMap, Bytes);

/// Sends one request through the service (with a `Content-Type` when given).
async fn call(
    svc: &DistrService,
    method: Method,
    uri: &str,
    ct: Option<&str>,
    body: Bytes,
) -> Resp {
    let req = ct
        .into_iter()
        .fold(Request::builder().method(method).uri(uri), |r, ct| {
            r.header("content-type", ct)
        })
        .body(Full::new(body))
        .expect("request");
    let resp = svc.clone().oneshot(req).await.expect("infallible service");
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, bytes)
}

fn code(body: &Bytes) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("error bodies are JSON");
    v["errors"][0]["code"].as_str().expect("code").to_owned()
}

fn oci_tags(h: &http::HeaderMap) -> Vec<String> {
    h.get_all("oci-tag")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

async fn push_blob(svc: &DistrService, repo: &str, data: &[u8], algo: Algorithm) -> Digest {
    let d = Digest::of(algo, data);
    let (s, _, b) = call(
        svc,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        None,
        Bytes::copy_from_slice(data),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b:?}");
    d
}

/// An image manifest whose config and layer are pushed with `algo`.
async fn image(svc: &DistrService, repo: &str, seed: &str, algo: Algorithm) -> Bytes {
    let config = push_blob(svc, repo, b"{}", algo).await;
    let layer = push_blob(svc, repo, seed.as_bytes(), algo).await;
    Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
        seed.len()
    ))
}

async fn resolve(svc: &DistrService, repo: &str, tag: &str) -> Option<String> {
    let (s, h, _) = call(
        svc,
        Method::HEAD,
        &format!("/v2/{repo}/manifests/{tag}"),
        None,
        Bytes::new(),
    )
    .await;
    (s == StatusCode::OK).then(|| h["docker-content-digest"].to_str().unwrap().to_owned())
}

async fn tags_of(svc: &DistrService, repo: &str) -> Vec<String> {
    let (s, _, b) = call(
        svc,
        Method::GET,
        &format!("/v2/{repo}/tags/list"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect()
}

fn service() -> DistrService {
    DistrService::new(Arc::new(Registry::in_memory()))
}

async fn tags_a_push_by_digest(algo: Algorithm) {
    let svc = service();
    let repo = "acme/app";
    let m = image(&svc, repo, "layer", algo).await;
    let d = Digest::of(algo, &m);
    let (s, h, b) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{d}?tag=1.2.3&tag=1.2&tag=latest&tag=1.2"),
        Some(MANIFEST),
        m.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b:?}");
    assert_eq!(h["docker-content-digest"], d.to_string().as_str());
    assert_eq!(h["location"], format!("/v2/{repo}/manifests/{d}").as_str());
    // One header per tag applied, in request order, a repeat applied once.
    assert_eq!(oci_tags(&h), ["1.2.3", "1.2", "latest"]);
    for tag in ["1.2.3", "1.2", "latest"] {
        assert_eq!(resolve(&svc, repo, tag).await, Some(d.to_string()), "{tag}");
    }
    assert_eq!(tags_of(&svc, repo).await, ["1.2", "1.2.3", "latest"]);
    // The content comes back byte for byte by digest and by every tag.
    for reference in [d.to_string(), "1.2".into()] {
        let (s, h, body) = call(
            &svc,
            Method::GET,
            &format!("/v2/{repo}/manifests/{reference}"),
            None,
            Bytes::new(),
        )
        .await;
        assert_eq!((s, &body), (StatusCode::OK, &m));
        assert_eq!(h["content-type"], MANIFEST);
    }

    // A second push by digest moves an existing tag and adds a new one.
    let m2 = image(&svc, repo, "other layer", algo).await;
    let d2 = Digest::of(algo, &m2);
    let (s, h, _) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{d2}?tag=latest&tag=2.0"),
        Some(MANIFEST),
        m2,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(oci_tags(&h), ["latest", "2.0"]);
    assert_eq!(resolve(&svc, repo, "latest").await, Some(d2.to_string()));
    assert_eq!(resolve(&svc, repo, "1.2").await, Some(d.to_string()));

    // Without tag parameters a push by digest sets no tag and no header.
    let m3 = image(&svc, repo, "untagged", algo).await;
    let d3 = Digest::of(algo, &m3);
    let (s, h, _) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{d3}"),
        Some(MANIFEST),
        m3,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(oci_tags(&h).is_empty());
    assert_eq!(tags_of(&svc, repo).await, ["1.2", "1.2.3", "2.0", "latest"]);
}

#[tokio::test]
async fn tag_parameters_with_a_sha256_digest() {
    tags_a_push_by_digest(Algorithm::Sha256).await;
}

#[tokio::test]
async fn tag_parameters_with_a_sha512_digest() {
    tags_a_push_by_digest(Algorithm::Sha512).await;
}

#[tokio::test]
async fn an_index_pushed_by_sha512_digest_with_tags_and_its_referrers() {
    let svc = service();
    let repo = "acme/multi";
    let child = image(&svc, repo, "child", Algorithm::Sha512).await;
    let child_d = Digest::of(Algorithm::Sha512, &child);
    let (s, _, _) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{child_d}"),
        Some(MANIFEST),
        child.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let index = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{child_d}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
        child.len()
    ));
    let index_d = Digest::of(Algorithm::Sha512, &index);
    let (s, h, b) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{index_d}?tag=multi&tag=multi-1"),
        Some(INDEX),
        index.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b:?}");
    assert_eq!(oci_tags(&h), ["multi", "multi-1"]);
    let (s, h, body) = call(
        &svc,
        Method::GET,
        &format!("/v2/{repo}/manifests/multi-1"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!((s, &body), (StatusCode::OK, &index));
    assert_eq!(h["docker-content-digest"], index_d.to_string().as_str());

    // A sha512 referrer of the sha512 index, pushed by digest with a tag.
    let empty = push_blob(&svc, repo, b"{}", Algorithm::Sha512).await;
    let referrer = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","artifactType":"application/vnd.example.sbom","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}}],"subject":{{"mediaType":"{INDEX}","digest":"{index_d}","size":{}}}}}"#,
        index.len()
    ));
    let referrer_d = Digest::of(Algorithm::Sha512, &referrer);
    let (s, h, _) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{referrer_d}?tag=sbom"),
        Some(MANIFEST),
        referrer,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h["oci-subject"], index_d.to_string().as_str());
    assert_eq!(oci_tags(&h), ["sbom"]);
    let (s, _, b) = call(
        &svc,
        Method::GET,
        &format!("/v2/{repo}/referrers/{index_d}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["manifests"][0]["digest"], referrer_d.to_string().as_str());
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
}

#[tokio::test]
async fn invalid_tags_are_refused_before_anything_is_stored() {
    let svc = service();
    let repo = "acme/app";
    let m = image(&svc, repo, "layer", Algorithm::Sha256).await;
    let d = Digest::sha256(&m);
    for query in [
        "tag=good&tag=-bad",
        "tag=good&tag=",
        "tag=.dot",
        "tag=has%20space",
        &format!("tag=good&tag={}", "x".repeat(129)),
    ] {
        let (s, h, b) = call(
            &svc,
            Method::PUT,
            &format!("/v2/{repo}/manifests/{d}?{query}"),
            Some(MANIFEST),
            m.clone(),
        )
        .await;
        assert_eq!(
            (s, code(&b).as_str()),
            (StatusCode::BAD_REQUEST, "TAG_INVALID"),
            "{query}"
        );
        assert!(oci_tags(&h).is_empty(), "{query}");
        // Neither the manifest nor the valid tag before the bad one.
        assert_eq!(resolve(&svc, repo, "good").await, None, "{query}");
        assert_eq!(resolve(&svc, repo, &d.to_string()).await, None, "{query}");
    }
    // The longest valid tag is fine.
    let longest = "x".repeat(128);
    let (s, h, _) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{d}?tag={longest}"),
        Some(MANIFEST),
        m.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(oci_tags(&h), [longest]);
}

#[tokio::test]
async fn tag_parameters_need_a_digest_reference_and_matching_content() {
    let svc = service();
    let repo = "acme/app";
    let m = image(&svc, repo, "layer", Algorithm::Sha256).await;
    // With a tag reference the parameters are refused, and nothing is stored.
    let (s, _, b) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/v1?tag=v2"),
        Some(MANIFEST),
        m.clone(),
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "TAG_INVALID")
    );
    assert_eq!(resolve(&svc, repo, "v1").await, None);
    assert_eq!(resolve(&svc, repo, "v2").await, None);
    // Content that does not hash to the digest: DIGEST_INVALID, no tag.
    let wrong = Digest::sha256(b"something else");
    let (s, _, b) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{wrong}?tag=v3"),
        Some(MANIFEST),
        m.clone(),
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "DIGEST_INVALID")
    );
    assert_eq!(resolve(&svc, repo, "v3").await, None);
    // A manifest whose blobs are missing: MANIFEST_BLOB_UNKNOWN, no tag.
    let orphan = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":3}},"layers":[]}}"#,
        Digest::sha256(b"nope")
    ));
    let od = Digest::sha256(&orphan);
    let (s, _, b) = call(
        &svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{od}?tag=v4"),
        Some(MANIFEST),
        orphan,
    )
    .await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN")
    );
    assert_eq!(resolve(&svc, repo, "v4").await, None);
}

#[tokio::test]
async fn a_mount_without_from_finds_the_blob_in_another_repository() {
    let svc = service();
    let d = push_blob(&svc, "acme/source", b"shared bytes", Algorithm::Sha256).await;
    let (s, h, _) = call(
        &svc,
        Method::POST,
        &format!("/v2/acme/target/blobs/uploads/?mount={d}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h["location"], format!("/v2/acme/target/blobs/{d}").as_str());
    let (s, _, body) = call(
        &svc,
        Method::GET,
        &format!("/v2/acme/target/blobs/{d}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!((s, &body[..]), (StatusCode::OK, &b"shared bytes"[..]));
    // A blob nobody holds falls back to an upload session.
    let missing = Digest::sha256(b"nobody has this");
    let (s, h, _) = call(
        &svc,
        Method::POST,
        &format!("/v2/acme/target/blobs/uploads/?mount={missing}"),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(h["location"]
        .to_str()
        .unwrap()
        .starts_with("/v2/acme/target/blobs/uploads/"));
}
