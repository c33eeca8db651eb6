//! The HTTP surface, exercised in-process through the tower service.

use std::sync::Arc;

use bytes::Bytes;
use distr_core::{Digest, Registry};
use distr_hyper::DistrService;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

type Resp = (StatusCode, http::HeaderMap, Bytes);

async fn call(svc: &DistrService, req: Request<Full<Bytes>>) -> Resp {
    let resp: Response<_> = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

fn req(method: Method, uri: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body.into()))
        .unwrap()
}

fn service() -> DistrService {
    DistrService::new(Arc::new(Registry::in_memory()))
}

fn error_code(body: &Bytes) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("error bodies are JSON");
    let e = &v["errors"][0];
    assert!(e["message"].is_string(), "{v}");
    e["code"].as_str().expect("code").to_owned()
}

async fn push_blob(svc: &DistrService, repo: &str, data: &'static [u8]) -> Digest {
    let d = Digest::sha256(data);
    let (s, h, _) = call(
        svc,
        req(
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            data,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h["docker-content-digest"], d.to_string().as_str());
    d
}

#[tokio::test]
async fn base_endpoint_and_version_header() {
    let (s, h, b) = call(&service(), req(Method::GET, "/v2/", "")).await;
    assert_eq!((s, &b[..]), (StatusCode::OK, &b"{}"[..]));
    assert_eq!(h["docker-distribution-api-version"], "registry/2.0");
}

#[tokio::test]
async fn chunked_upload_with_status_and_out_of_order_chunk() {
    let svc = service();
    let (s, h, _) = call(&svc, req(Method::POST, "/v2/acme/app/blobs/uploads/", "")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let loc = h["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("/v2/acme/app/blobs/uploads/"));
    let patch = |range: &str, body: &'static [u8]| {
        Request::builder()
            .method(Method::PATCH)
            .uri(&loc)
            .header("content-range", range)
            .body(Full::new(Bytes::from_static(body)))
            .unwrap()
    };
    let (s, h, _) = call(&svc, patch("0-2", b"abc")).await;
    assert_eq!(
        (s, h["range"].to_str().unwrap()),
        (StatusCode::ACCEPTED, "0-2")
    );
    let (s, h, b) = call(&svc, patch("5-7", b"xyz")).await;
    assert_eq!(s, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        (error_code(&b).as_str(), h["range"].to_str().unwrap()),
        ("RANGE_INVALID", "0-2")
    );
    let (s, h, _) = call(&svc, patch("3-5", b"def")).await;
    assert_eq!(
        (s, h["range"].to_str().unwrap()),
        (StatusCode::ACCEPTED, "0-5")
    );
    let (s, h, _) = call(&svc, req(Method::GET, &loc, "")).await;
    assert_eq!(
        (s, h["range"].to_str().unwrap()),
        (StatusCode::NO_CONTENT, "0-5")
    );
    let d = Digest::sha256(b"abcdefg");
    let (s, h, _) = call(&svc, req(Method::PUT, &format!("{loc}?digest={d}"), "g")).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(h["location"], format!("/v2/acme/app/blobs/{d}").as_str());
    let (s, _, b) = call(&svc, req(Method::GET, &loc, "")).await;
    assert_eq!(
        (s, error_code(&b).as_str()),
        (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN")
    );
    let range = Request::builder()
        .uri(format!("/v2/acme/app/blobs/{d}"))
        .header("range", "bytes=4-")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (s, h, b) = call(&svc, range).await;
    assert_eq!(
        (s, &b[..], h["content-range"].to_str().unwrap()),
        (StatusCode::PARTIAL_CONTENT, &b"efg"[..], "bytes 4-6/7")
    );
}

#[tokio::test]
async fn manifest_push_pull_negotiation_and_referrers() {
    let svc = service();
    let config = push_blob(&svc, "acme/app", b"{}").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[]}}"#
    );
    let put = |uri: String, body: String| {
        Request::builder()
            .method(Method::PUT)
            .uri(uri)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    let (s, h, _) = call(
        &svc,
        put("/v2/acme/app/manifests/1.0".into(), manifest.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let digest = h["docker-content-digest"].to_str().unwrap().to_owned();
    assert_eq!(digest, Digest::sha256(manifest.as_bytes()).to_string());
    let (s, h, b) = call(&svc, req(Method::GET, "/v2/acme/app/manifests/1.0", "")).await;
    assert_eq!(
        (s, std::str::from_utf8(&b).unwrap()),
        (StatusCode::OK, manifest.as_str())
    );
    assert_eq!(
        h["content-type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let head = call(&svc, req(Method::HEAD, "/v2/acme/app/manifests/1.0", "")).await;
    assert_eq!(
        (head.0, head.1["content-length"].to_str().unwrap()),
        (StatusCode::OK, manifest.len().to_string().as_str())
    );
    let docker_only = Request::builder()
        .uri("/v2/acme/app/manifests/1.0")
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (s, _, b) = call(&svc, docker_only).await;
    assert_eq!(
        (s, error_code(&b).as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );

    let signature = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig.v1","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{digest}","size":{}}}}}"#,
        manifest.len()
    );
    let sig_digest = Digest::sha256(signature.as_bytes());
    let (s, h, _) = call(
        &svc,
        put(format!("/v2/acme/app/manifests/{sig_digest}"), signature),
    )
    .await;
    assert_eq!(
        (s, h["oci-subject"].to_str().unwrap()),
        (StatusCode::CREATED, digest.as_str())
    );
    let (s, h, b) = call(
        &svc,
        req(
            Method::GET,
            &format!(
                "/v2/acme/app/referrers/{digest}?artifactType=application%2Fvnd.example.sig.v1"
            ),
            "",
        ),
    )
    .await;
    assert_eq!(
        (s, h["oci-filters-applied"].to_str().unwrap()),
        (StatusCode::OK, "artifactType")
    );
    let index: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(index["manifests"][0]["digest"], sig_digest.to_string());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/vnd.example.sig.v1"
    );

    // Tag deletion keeps the digest; the tag is gone.
    let (s, _, _) = call(&svc, req(Method::DELETE, "/v2/acme/app/manifests/1.0", "")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _, b) = call(&svc, req(Method::GET, "/v2/acme/app/manifests/1.0", "")).await;
    assert_eq!(
        (s, error_code(&b).as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    assert_eq!(
        call(
            &svc,
            req(Method::GET, &format!("/v2/acme/app/manifests/{digest}"), "")
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn oversized_manifest_is_413() {
    let svc = service();
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    let (s, _, b) = call(&svc, req(Method::PUT, "/v2/acme/app/manifests/big", big)).await;
    assert_eq!(
        (s, error_code(&b).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID")
    );
}

#[tokio::test]
async fn tag_and_catalog_pagination_links() {
    let svc = service();
    let config = push_blob(&svc, "acme/app", b"{}").await;
    let manifest = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{config}","size":2}},"layers":[]}}"#
    );
    for t in ["c", "a", "e", "b", "d"] {
        let (s, _, _) = call(
            &svc,
            req(
                Method::PUT,
                &format!("/v2/acme/app/manifests/{t}"),
                manifest.clone(),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut uri = "/v2/acme/app/tags/list?n=2".to_owned();
    let mut seen = Vec::new();
    loop {
        let (s, h, b) = call(&svc, req(Method::GET, &uri, "")).await;
        assert_eq!(s, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        seen.extend(
            v["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned()),
        );
        match h.get("link") {
            Some(link) => {
                let l = link.to_str().unwrap();
                uri = l[1..l.find('>').unwrap()].to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    push_blob(&svc, "acme/zeta", b"z").await;
    let (_, h, b) = call(&svc, req(Method::GET, "/v2/_catalog?n=1", "")).await;
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["repositories"], serde_json::json!(["acme/app"]));
    assert_eq!(h["link"], "</v2/_catalog?n=1&last=acme/app>; rel=\"next\"");
    let (s, _, b) = call(&svc, req(Method::GET, "/v2/acme/app/tags/list?n=-1", "")).await;
    assert_eq!(
        (s, error_code(&b).as_str()),
        (StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID")
    );
}

#[tokio::test]
async fn client_mistakes_get_spec_codes() {
    let svc = service();
    let d = Digest::sha256(b"nothing");
    for (method, uri, body, status, code) in [
        (
            Method::GET,
            "/v2/Acme/app/tags/list".to_owned(),
            "",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/acme/../app/tags/list".to_owned(),
            "",
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
        ),
        (
            Method::GET,
            "/v2/acme/app/tags/list".to_owned(),
            "",
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
        ),
        (
            Method::GET,
            format!("/v2/acme/app/blobs/{d}"),
            "",
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
        ),
        (
            Method::GET,
            "/v2/acme/app/blobs/sha256:abc".to_owned(),
            "",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        // A tag that could never be pushed names no manifest: 404, as the
        // conformance suite expects of `.INVALID_MANIFEST_NAME`.
        (
            Method::GET,
            "/v2/acme/app/manifests/-bad".to_owned(),
            "",
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
        ),
        (
            Method::PUT,
            "/v2/acme/app/manifests/-bad".to_owned(),
            "{}",
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
        ),
        (
            Method::PUT,
            "/v2/acme/app/manifests/x".to_owned(),
            "{nope",
            StatusCode::BAD_REQUEST,
            "MANIFEST_INVALID",
        ),
        (
            Method::POST,
            format!("/v2/acme/app/blobs/uploads/?digest={d}"),
            "other",
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
        ),
        (
            Method::PATCH,
            "/v2/acme/app/blobs/uploads/nope".to_owned(),
            "x",
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            Method::POST,
            "/v2/acme/app/tags/list".to_owned(),
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
        ),
        (
            Method::GET,
            "/v2/acme/app/unknown/thing".to_owned(),
            "",
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
        ),
    ] {
        let (s, h, b) = call(&svc, req(method.clone(), &uri, body)).await;
        assert_eq!(
            (s, error_code(&b).as_str()),
            (status, code),
            "{method} {uri}"
        );
        assert_eq!(h["content-type"], "application/json");
    }
    // Nothing was stored by the failed monolithic upload.
    assert_eq!(
        call(
            &svc,
            req(Method::HEAD, &format!("/v2/acme/app/blobs/{d}"), "")
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}

mod never_5xx {
    use super::*;
    use proptest::prelude::*;

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            Just(Method::GET),
            Just(Method::HEAD),
            Just(Method::PUT),
            Just(Method::POST),
            Just(Method::PATCH),
            Just(Method::DELETE)
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        let seg = prop_oneof![
            Just("acme".to_owned()),
            Just("app".to_owned()),
            Just("blobs".to_owned()),
            Just("uploads".to_owned()),
            Just("manifests".to_owned()),
            Just("tags".to_owned()),
            Just("list".to_owned()),
            Just("referrers".to_owned()),
            Just("_catalog".to_owned()),
            Just(Digest::sha256(b"x").to_string()),
            "[a-zA-Z0-9._:-]{0,12}",
        ];
        proptest::collection::vec(seg, 0..7).prop_map(|s| format!("/v2/{}", s.join("/")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn random_requests_never_get_a_server_error(
            method in method(),
            path in path(),
            query in "(n=[0-9-]{0,3}&last=[a-z]{0,3}|digest=[a-z0-9:]{0,10}|mount=sha256:[a-f]{0,4}&from=[a-z/]{0,5}|)",
            range in "(bytes=[0-9]{0,3}-[0-9]{0,3}|[0-9]{0,3}-[0-9]{0,3}|)",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let svc = service();
            let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
            let Ok(request) = Request::builder().method(method).uri(&uri).header("range", range.clone()).header("content-range", range).body(Full::new(Bytes::from(body))) else {
                return Ok(());
            };
            let (status, _, body) = rt.block_on(call(&svc, request));
            prop_assert!(!status.is_server_error(), "{uri} -> {status}: {body:?}");
            if status.is_client_error() && !body.is_empty() {
                let _ = error_code(&body);
            }
        }
    }
}
