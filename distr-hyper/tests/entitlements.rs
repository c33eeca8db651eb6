//! Entitlements enforced over HTTP, in-process: vendors, customers with
//! pattern, expired and missing entitlements, tokens, and changes that apply
//! on the next request.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use distr_core::access::*;
use distr_core::store::{MemoryStore, MetadataStore};
use distr_core::{BlobStore, Digest, Registry, RegistryConfig};
use distr_hyper::{AccessControl, DistrService};
use distr_test_support::access::user_token;
use distr_test_support::auth::basic_auth;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

struct World {
    svc: DistrService,
    access: Arc<MemoryAccessStore>,
    acme: Org,
    app: Artifact,
}

async fn send(
    svc: &DistrService,
    method: Method,
    uri: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: Bytes,
) -> (StatusCode, http::HeaderMap, Bytes) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", basic_auth(t));
    }
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    let resp = svc
        .clone()
        .oneshot(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

async fn get(svc: &DistrService, uri: &str, token: &str) -> (StatusCode, Bytes) {
    let (s, _, b) = send(svc, Method::GET, uri, Some(token), None, Bytes::new()).await;
    (s, b)
}

fn code(body: &Bytes) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_owned()
}

fn world() -> World {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let access = Arc::new(MemoryAccessStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let policy = Policy::new(access.clone(), meta);
    let control = AccessControl::new(policy, Arc::new(TokenAuthenticator::new(access.clone())));
    let acme = Org {
        id: OrgId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at_ms: 0,
    };
    let app = Artifact {
        id: ArtifactId::new(),
        org_id: acme.id,
        name: "app".into(),
        upstream: None,
        created_at_ms: 0,
    };
    World {
        svc: DistrService::new(registry).with_access_control(control),
        access,
        acme,
        app,
    }
}

/// `DELETE uri` as `token`.
async fn delete_as(
    svc: &DistrService,
    token: &str,
    uri: &str,
) -> (StatusCode, http::HeaderMap, Bytes) {
    send(svc, Method::DELETE, uri, Some(token), None, Bytes::new()).await
}

async fn push_blob(svc: &DistrService, token: &str, repo: &str, data: &[u8]) -> Digest {
    let d = Digest::sha256(data);
    let (s, _, _) = send(
        svc,
        Method::POST,
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        Some(token),
        None,
        Bytes::copy_from_slice(data),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    d
}

async fn push_manifest(
    svc: &DistrService,
    token: &str,
    repo: &str,
    reference: &str,
    ct: &str,
    body: String,
) -> Digest {
    let (s, h, b) = send(
        svc,
        Method::PUT,
        &format!("/v2/{repo}/manifests/{reference}"),
        Some(token),
        Some(ct),
        Bytes::from(body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b:?}");
    h["docker-content-digest"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn push_image(
    svc: &DistrService,
    token: &str,
    repo: &str,
    tag: &str,
    layer: &[u8],
    subject: Option<&Digest>,
) -> (Digest, Digest) {
    let config = push_blob(svc, token, repo, b"{}").await;
    let layer = push_blob(svc, token, repo, layer).await;
    let subject = subject
        .map(|s| format!(r#","subject":{{"mediaType":"{MANIFEST}","digest":"{s}","size":1}}"#))
        .unwrap_or_default();
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":1}}]{subject}}}"#
    );
    (
        push_manifest(svc, token, repo, tag, MANIFEST, m).await,
        layer,
    )
}

fn only(p: &str) -> TagSelection {
    TagSelection::Only(vec![p.parse().unwrap()])
}

#[tokio::test]
async fn customers_see_exactly_their_entitlements() {
    let w = world();
    let svc = &w.svc;
    let store = &*w.access;
    store.create_org(&w.acme).await.unwrap();
    store.create_artifact(&w.app).await.unwrap();
    let globex = Org {
        id: OrgId::new(),
        slug: "globex".into(),
        name: "Globex".into(),
        created_at_ms: 1,
    };
    store.create_org(&globex).await.unwrap();
    store
        .create_artifact(&Artifact {
            id: ArtifactId::new(),
            org_id: globex.id,
            name: "tool".into(),
            upstream: None,
            created_at_ms: 1,
        })
        .await
        .unwrap();
    let (admin, _) = user_token(store, &w.acme, None, Role::VendorAdmin).await;
    let (globex_admin, _) = user_token(store, &globex, None, Role::VendorAdmin).await;

    // The vendor pushes 1.1.0, 1.2.0, a multi-arch 1.2.1 and a signature of 1.2.0.
    let (v110, layer110) = push_image(svc, &admin, "acme/app", "1.1.0", b"layer-1.1.0", None).await;
    let (v120, layer120) = push_image(svc, &admin, "acme/app", "1.2.0", b"layer-1.2.0", None).await;
    let (amd, _) = push_image(
        svc,
        &admin,
        "acme/app",
        &Digest::sha256(b"x").to_string().replace("sha256:", "amd-"),
        b"amd",
        None,
    )
    .await;
    let (arm, arm_layer) = push_image(svc, &admin, "acme/app", "arm-build", b"arm", None).await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{amd}","size":1}},{{"mediaType":"{MANIFEST}","digest":"{arm}","size":1}}]}}"#
    );
    let v121 = push_manifest(svc, &admin, "acme/app", "1.2.1", INDEX, index).await;
    let (sig, _) = push_image(
        svc,
        &admin,
        "acme/app",
        &v120.to_string().replace(':', "-"),
        b"signature",
        Some(&v120),
    )
    .await;
    push_image(svc, &globex_admin, "globex/tool", "1.0", b"tool", None).await;

    let customer = |name: &str, org: &Org| Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: name.into(),
        created_at_ms: 2,
    };
    let (a, b, c, d) = (
        customer("a", &w.acme),
        customer("b", &w.acme),
        customer("c", &w.acme),
        customer("d", &w.acme),
    );
    let g = customer("g", &globex);
    for x in [&a, &b, &c, &d, &g] {
        store.create_customer(x).await.unwrap();
    }
    let ent = |c: &Customer, tags: TagSelection, expires: Option<i64>| Entitlement {
        id: EntitlementId::new(),
        org_id: c.org_id,
        customer_id: c.id,
        name: "main".into(),
        expires_at_ms: expires,
        items: vec![EntitlementItem {
            artifact_id: w.app.id,
            tags,
        }],
        created_at_ms: 3,
    };
    let ent_a = ent(&a, only("1.2.*"), None);
    store.create_entitlement(&ent_a).await.unwrap();
    store
        .create_entitlement(&ent(&b, only("1.1.*"), None))
        .await
        .unwrap();
    store
        .create_entitlement(&ent(&c, TagSelection::All, Some(1)))
        .await
        .unwrap();
    let (ta, token_a) = user_token(store, &w.acme, Some(&a), Role::CustomerMember).await;
    let (tb, _) = user_token(store, &w.acme, Some(&b), Role::CustomerAdmin).await;
    let (tc, _) = user_token(store, &w.acme, Some(&c), Role::CustomerMember).await;
    let (td, _) = user_token(store, &w.acme, Some(&d), Role::CustomerMember).await;
    let (tg, _) = user_token(store, &globex, Some(&g), Role::CustomerMember).await;

    // Authentication.
    let (s, h, body) = send(svc, Method::GET, "/v2/", None, None, Bytes::new()).await;
    assert_eq!(
        (s, code(&body).as_str()),
        (StatusCode::UNAUTHORIZED, "UNAUTHORIZED")
    );
    let challenges: Vec<&str> = h
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        challenges[0].starts_with("Bearer realm=\"http://localhost/v2/token\""),
        "{challenges:?}"
    );
    assert_eq!(
        challenges.len(),
        1,
        "only the Bearer challenge: {challenges:?}"
    );
    assert_eq!(
        get(svc, "/v2/", "distr_wrong").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(svc, "/v2/", &ta).await.0, StatusCode::OK);

    // A: 1.2.* — tags, digests, index children, blobs, referrers.
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.2.0", &ta).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.2.1", &ta).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/manifests/{arm}"), &ta)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/blobs/{arm_layer}"), &ta)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/blobs/{layer120}"), &ta)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/manifests/{sig}"), &ta)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/referrers/{v120}"), &ta)
            .await
            .0,
        StatusCode::OK
    );
    for denied in [
        "/v2/acme/app/manifests/1.1.0".to_string(),
        format!("/v2/acme/app/blobs/{layer110}"),
        format!("/v2/acme/app/referrers/{v110}"),
        "/v2/acme/app/manifests/arm-build".into(),
    ] {
        let (s, b) = get(svc, &denied, &ta).await;
        assert_eq!(
            (s, code(&b).as_str()),
            (StatusCode::FORBIDDEN, "DENIED"),
            "{denied}"
        );
    }
    // An unentitled manifest digest reads exactly like one that does not
    // exist: same status, same body (no existence oracle).
    let unknown = format!("sha256:{}", "0".repeat(64));
    let (s_unknown, b_unknown) = get(svc, &format!("/v2/acme/app/manifests/{unknown}"), &ta).await;
    let (s, b) = get(svc, &format!("/v2/acme/app/manifests/{v110}"), &ta).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN")
    );
    assert_eq!(s, s_unknown);
    let strip = |b: &[u8], d: &str| String::from_utf8_lossy(b).replace(d, "DIGEST");
    assert_eq!(strip(&b, &v110.to_string()), strip(&b_unknown, &unknown));
    let (_, tags) = get(svc, "/v2/acme/app/tags/list", &ta).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&tags).unwrap()["tags"],
        serde_json::json!(["1.2.0", "1.2.1"])
    );
    let (_, cat) = get(svc, "/v2/_catalog", &ta).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&cat).unwrap()["repositories"],
        serde_json::json!(["acme/app"])
    );
    // Customers never push or delete.
    let (s, _, b) = send(
        svc,
        Method::POST,
        "/v2/acme/app/blobs/uploads/",
        Some(&ta),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    let (s, _, _) = send(
        svc,
        Method::DELETE,
        "/v2/acme/app/manifests/1.2.0",
        Some(&ta),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // B: 1.1.* — the mirror image.
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.1.0", &tb).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/blobs/{layer110}"), &tb)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.2.0", &tb).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(svc, &format!("/v2/acme/app/manifests/{v121}"), &tb)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // C (expired) and D (none) do not even learn the artifact exists.
    for t in [&tc, &td] {
        let (s, b) = get(svc, "/v2/acme/app/manifests/1.2.0", t).await;
        assert_eq!(
            (s, code(&b).as_str()),
            (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
        );
        let (_, cat) = get(svc, "/v2/_catalog", t).await;
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&cat).unwrap()["repositories"],
            serde_json::json!([])
        );
    }

    // Another vendor's customer: its vendor has no entitlements, so it sees
    // all of globex and nothing of acme.
    assert_eq!(
        get(svc, "/v2/globex/tool/manifests/1.0", &tg).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.2.0", &tg).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, cat) = get(svc, "/v2/_catalog", &tg).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&cat).unwrap()["repositories"],
        serde_json::json!(["globex/tool"])
    );
    // Vendor admins stay inside their own organisation.
    assert_eq!(
        get(svc, "/v2/globex/tool/manifests/1.0", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _, _) = send(
        svc,
        Method::POST,
        "/v2/globex/tool/blobs/uploads/",
        Some(&admin),
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An entitlement change applies on the next request.
    let mut moved = ent_a.clone();
    moved.items = vec![EntitlementItem {
        artifact_id: w.app.id,
        tags: only("1.1.*"),
    }];
    store.update_entitlement(&moved).await.unwrap();
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.1.0", &ta).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.2.0", &ta).await.0,
        StatusCode::FORBIDDEN
    );
    store.delete_entitlement(ent_a.id).await.unwrap();
    assert_eq!(
        get(svc, "/v2/acme/app/manifests/1.1.0", &ta).await.0,
        StatusCode::NOT_FOUND
    );

    // A revoked token is refused once the one-second auth cache has passed.
    store.revoke_token(token_a.id, 5).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(svc, "/v2/", &ta).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pushes_create_artifacts_and_deletes_follow_the_rules() {
    let w = world();
    let svc = &w.svc;
    let store = &*w.access;
    store.create_org(&w.acme).await.unwrap();
    let (admin, _) = user_token(store, &w.acme, None, Role::VendorAdmin).await;
    let (v1, _) = push_image(svc, &admin, "acme/newapp", "1.0", b"one", None).await;
    push_image(svc, &admin, "acme/newapp", "2.0", b"two", None).await;
    let artifact = store
        .get_artifact_by_name(w.acme.id, "newapp")
        .await
        .unwrap()
        .expect("the push created the artifact");

    // The vendor has no entitlements yet: its customers see everything.
    let x = Customer {
        id: CustomerId::new(),
        org_id: w.acme.id,
        name: "x".into(),
        created_at_ms: 0,
    };
    store.create_customer(&x).await.unwrap();
    let (tx, _) = user_token(store, &w.acme, Some(&x), Role::CustomerMember).await;
    assert_eq!(
        get(svc, "/v2/acme/newapp/manifests/2.0", &tx).await.0,
        StatusCode::OK
    );

    let e = Entitlement {
        id: EntitlementId::new(),
        org_id: w.acme.id,
        customer_id: x.id,
        name: "one only".into(),
        expires_at_ms: None,
        items: vec![EntitlementItem {
            artifact_id: artifact.id,
            tags: only("1.0"),
        }],
        created_at_ms: 0,
    };
    store.create_entitlement(&e).await.unwrap();
    assert_eq!(
        get(svc, "/v2/acme/newapp/manifests/2.0", &tx).await.0,
        StatusCode::FORBIDDEN
    );

    // 1.0 is the last tag of its digest and an entitlement names it.
    let (s, _, b) = delete_as(svc, &admin, "/v2/acme/newapp/manifests/1.0").await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::BAD_REQUEST, "DENIED"));
    let (s, _, _) = delete_as(svc, &admin, &format!("/v2/acme/newapp/manifests/{v1}")).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "deleting the digest would remove the entitled tag too"
    );
    // With a second tag on the same digest, 1.0 may go. The tag comes from
    // a push by digest with `?tag=`, which needs the same write access as a
    // push by tag: a customer's is refused before anything is stored.
    let content = get(svc, "/v2/acme/newapp/manifests/1.0", &admin).await.1;
    let (s, h, b) = send(
        svc,
        Method::PUT,
        &format!("/v2/acme/newapp/manifests/{v1}?tag=stable"),
        Some(&tx),
        Some(MANIFEST),
        content.clone(),
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(h.get("oci-tag").is_none());
    assert_eq!(
        get(svc, "/v2/acme/newapp/manifests/stable", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, h, b) = send(
        svc,
        Method::PUT,
        &format!("/v2/acme/newapp/manifests/{v1}?tag=stable"),
        Some(&admin),
        Some(MANIFEST),
        content,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b:?}");
    assert_eq!(h["oci-tag"], "stable");
    // A second tag on the same digest does not free 1.0: the customer is
    // entitled to the tag itself.
    let (s, _, b) = delete_as(svc, &admin, "/v2/acme/newapp/manifests/1.0").await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::BAD_REQUEST, "DENIED"));
    assert_eq!(
        delete_as(svc, &admin, "/v2/acme/newapp/manifests/stable")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        delete_as(svc, &admin, "/v2/acme/newapp/manifests/2.0")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    // The last tag of an artifact stays: 400 DENIED, a status the
    // distribution-spec allows a manifest DELETE.
    store.delete_entitlement(e.id).await.unwrap();
    let (s, _, b) = delete_as(svc, &admin, "/v2/acme/newapp/manifests/1.0").await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::BAD_REQUEST, "DENIED"));
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("acme/newapp would have no tag left"),
        "{v}"
    );
    assert_eq!(
        get(svc, "/v2/acme/newapp/manifests/1.0", &admin).await.0,
        StatusCode::OK
    );
}

/// What a customer is entitled to cannot be deleted out from under it: a
/// tag selected by name (even with an alias on its digest), an index child,
/// a layer or config of an entitled manifest, a referrer of one. What no
/// active entitlement reaches can go.
#[tokio::test]
async fn deletes_cannot_take_what_a_customer_is_entitled_to() {
    let w = world();
    let svc = &w.svc;
    let store = &*w.access;
    store.create_org(&w.acme).await.unwrap();
    store.create_artifact(&w.app).await.unwrap();
    let (admin, _) = user_token(store, &w.acme, None, Role::VendorAdmin).await;
    let repo = "acme/app";
    let (v120, layer120) = push_image(svc, &admin, repo, "1.2.0", b"layer-1.2.0", None).await;
    let (amd, amd_layer) = push_image(svc, &admin, repo, "amd-build", b"amd", None).await;
    let (arm, _) = push_image(svc, &admin, repo, "arm-build", b"arm", None).await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{amd}","size":1}},{{"mediaType":"{MANIFEST}","digest":"{arm}","size":1}}]}}"#
    );
    let v200 = push_manifest(svc, &admin, repo, "2.0", INDEX, index).await;
    let (sig, _) = push_image(svc, &admin, repo, "sig", b"signature", Some(&v120)).await;
    let (v300, layer300) = push_image(svc, &admin, repo, "3.0", b"layer-3.0", None).await;
    // `latest` aliases 1.2.0.
    let content = get(svc, "/v2/acme/app/manifests/1.2.0", &admin).await.1;
    push_manifest(
        svc,
        &admin,
        repo,
        "latest",
        MANIFEST,
        String::from_utf8(content.to_vec()).unwrap(),
    )
    .await;
    // The tags the children and the signature were pushed under go first
    // (nothing grants them).
    for t in ["amd-build", "arm-build", "sig"] {
        assert_eq!(
            delete_as(svc, &admin, &format!("/v2/{repo}/manifests/{t}"))
                .await
                .0,
            StatusCode::ACCEPTED,
            "{t}"
        );
    }

    let c = Customer {
        id: CustomerId::new(),
        org_id: w.acme.id,
        name: "c".into(),
        created_at_ms: 0,
    };
    store.create_customer(&c).await.unwrap();
    let e = Entitlement {
        id: EntitlementId::new(),
        org_id: w.acme.id,
        customer_id: c.id,
        name: "current".into(),
        expires_at_ms: None,
        items: vec![EntitlementItem {
            artifact_id: w.app.id,
            tags: TagSelection::Only(vec!["1.2.0".parse().unwrap(), "2.*".parse().unwrap()]),
        }],
        created_at_ms: 0,
    };
    store.create_entitlement(&e).await.unwrap();

    let refused = [
        "/v2/acme/app/manifests/1.2.0".to_owned(),
        format!("/v2/acme/app/manifests/{v120}"),
        format!("/v2/acme/app/manifests/{amd}"),
        format!("/v2/acme/app/manifests/{sig}"),
        format!("/v2/acme/app/manifests/{v200}"),
        format!("/v2/acme/app/blobs/{layer120}"),
        format!("/v2/acme/app/blobs/{amd_layer}"),
        format!("/v2/acme/app/blobs/{}", Digest::sha256(b"{}")),
    ];
    for uri in &refused {
        let (s, _, b) = delete_as(svc, &admin, uri).await;
        assert_eq!(
            (s, code(&b).as_str()),
            (StatusCode::BAD_REQUEST, "DENIED"),
            "{uri}"
        );
    }
    // Nothing was lost: the customer still pulls all of it.
    let (tc, _) = user_token(store, &w.acme, Some(&c), Role::CustomerMember).await;
    for uri in [
        "/v2/acme/app/manifests/1.2.0".to_owned(),
        format!("/v2/acme/app/manifests/{amd}"),
        format!("/v2/acme/app/manifests/{sig}"),
        format!("/v2/acme/app/blobs/{layer120}"),
        format!("/v2/acme/app/blobs/{amd_layer}"),
    ] {
        assert_eq!(get(svc, &uri, &tc).await.0, StatusCode::OK, "{uri}");
    }
    // What no entitlement reaches goes: the alias, and 3.0 with its layer.
    assert_eq!(
        delete_as(svc, &admin, "/v2/acme/app/manifests/latest")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        delete_as(svc, &admin, &format!("/v2/acme/app/blobs/{layer300}"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        delete_as(svc, &admin, &format!("/v2/acme/app/manifests/{v300}"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    // Expired, the entitlement protects nothing.
    let mut expired = e.clone();
    expired.expires_at_ms = Some(1);
    store.update_entitlement(&expired).await.unwrap();
    assert_eq!(
        delete_as(svc, &admin, &format!("/v2/acme/app/manifests/{sig}"))
            .await
            .0,
        StatusCode::ACCEPTED
    );
}

async fn bearer(svc: &DistrService, method: Method, uri: &str, session: &str) -> StatusCode {
    bearer_response(svc, method, uri, session).await.0
}

/// The status, `WWW-Authenticate` challenge (empty when none) and body of a
/// request made with a session token.
async fn bearer_response(
    svc: &DistrService,
    method: Method,
    uri: &str,
    session: &str,
) -> (StatusCode, String, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {session}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = svc.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, body)
}

async fn session(svc: &DistrService, pat: &str, scope: &str) -> String {
    let (s, b) = get(svc, &format!("/v2/token?service=distr&scope={scope}"), pat).await;
    assert_eq!(s, StatusCode::OK, "{b:?}");
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(v["token"], v["access_token"]);
    assert_eq!(v["expires_in"], 300);
    v["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn docker_token_flow_issues_scoped_sessions() {
    let w = world();
    let svc = &w.svc;
    let store = &*w.access;
    store.create_org(&w.acme).await.unwrap();
    store.create_artifact(&w.app).await.unwrap();
    let (admin, admin_token) = user_token(store, &w.acme, None, Role::VendorAdmin).await;
    push_image(svc, &admin, "acme/app", "1.0", b"one", None).await;
    let c = Customer {
        id: CustomerId::new(),
        org_id: w.acme.id,
        name: "c".into(),
        created_at_ms: 0,
    };
    store.create_customer(&c).await.unwrap();
    let (customer, _) = user_token(store, &w.acme, Some(&c), Role::CustomerMember).await;

    // An anonymous pull is challenged towards the token endpoint with the scope it needs.
    let (s, h, _) = send(
        svc,
        Method::GET,
        "/v2/acme/app/manifests/1.0",
        None,
        None,
        Bytes::new(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get_all("www-authenticate").iter().next().unwrap().to_str().unwrap(),
        "Bearer realm=\"http://localhost/v2/token\",service=\"distr\",scope=\"repository:acme/app:pull\""
    );
    let (s, _) = get(
        svc,
        "/v2/token?service=distr&scope=repository:acme/app:pull",
        "distr_wrong",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The vendor admin gets pull and push; the session works without the PAT.
    let admin_session = session(svc, &admin, "repository:acme/app:pull,push").await;
    assert_eq!(
        bearer(
            svc,
            Method::GET,
            "/v2/acme/app/manifests/1.0",
            &admin_session
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        bearer(
            svc,
            Method::POST,
            "/v2/acme/app/blobs/uploads/",
            &admin_session
        )
        .await,
        StatusCode::ACCEPTED
    );
    // Outside its scope a session is challenged again, for the scope the
    // request needs, as the Docker token spec says.
    let (s, challenge, _) =
        bearer_response(svc, Method::GET, "/v2/acme/other/tags/list", &admin_session).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        "Bearer realm=\"http://localhost/v2/token\",service=\"distr\",\
         scope=\"repository:acme/other:pull\",error=\"insufficient_scope\""
    );
    assert_eq!(
        bearer(svc, Method::GET, "/v2/_catalog", &admin_session).await,
        StatusCode::UNAUTHORIZED
    );
    let catalog_session = session(svc, &admin, "registry:catalog:*").await;
    assert_eq!(
        bearer(svc, Method::GET, "/v2/_catalog", &catalog_session).await,
        StatusCode::OK
    );

    // A customer asking for push gets pull only.
    let customer_session = session(svc, &customer, "repository:acme/app:pull,push").await;
    assert_eq!(
        bearer(
            svc,
            Method::GET,
            "/v2/acme/app/manifests/1.0",
            &customer_session
        )
        .await,
        StatusCode::OK
    );
    // … and its push is refused, saying why: no challenge for a token it
    // could never get (clients would ask again and again).
    let (s, challenge, b) = bearer_response(
        svc,
        Method::POST,
        "/v2/acme/app/blobs/uploads/",
        &customer_session,
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(
        String::from_utf8_lossy(&b).contains("customers cannot push or delete"),
        "{b:?}"
    );
    assert_eq!(challenge, "");
    let (s, _, b) = bearer_response(
        svc,
        Method::DELETE,
        "/v2/acme/app/manifests/1.0",
        &customer_session,
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    // Another vendor's repository grants nothing, and reads exactly like
    // one that does not exist.
    let foreign = session(svc, &customer, "repository:globex/tool:pull").await;
    let (s, challenge, b) =
        bearer_response(svc, Method::GET, "/v2/globex/tool/tags/list", &foreign).await;
    assert_eq!(
        (s, code(&b).as_str()),
        (StatusCode::NOT_FOUND, "NAME_UNKNOWN")
    );
    assert_eq!(challenge, "");
    let missing = session(svc, &customer, "repository:acme/missing:pull").await;
    let (s2, _, b2) =
        bearer_response(svc, Method::GET, "/v2/acme/missing/tags/list", &missing).await;
    assert_eq!((s2, b2), (s, b));

    // A scope asked for 500 times is granted once: the session stays small.
    let repeated = vec!["scope=repository:acme/app:pull"; 500].join("&");
    let (s, b) = get(svc, &format!("/v2/token?service=distr&{repeated}"), &admin).await;
    assert_eq!(s, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
    let once = session(svc, &admin, "repository:acme/app:pull").await;
    assert_eq!(v["token"].as_str().unwrap().len(), once.len());
    // More than 32 distinct scopes are refused with a clear error.
    let many: Vec<String> = (0..33)
        .map(|i| format!("scope=repository:acme/app{i}:pull"))
        .collect();
    let (s, b) = get(
        svc,
        &format!("/v2/token?service=distr&{}", many.join("&")),
        &admin,
    )
    .await;
    assert_eq!((s, code(&b).as_str()), (StatusCode::FORBIDDEN, "DENIED"));
    assert!(String::from_utf8_lossy(&b).contains("at most 32"));

    // A forged or altered session is no credential.
    let mut altered = admin_session.clone();
    altered.insert(
        3,
        if altered.as_bytes()[3] == b'A' {
            'B'
        } else {
            'A'
        },
    );
    assert_eq!(
        bearer(svc, Method::GET, "/v2/acme/app/manifests/1.0", &altered).await,
        StatusCode::UNAUTHORIZED
    );

    // Revoking the access token ends its sessions within a second.
    store.revoke_token(admin_token.id, 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        bearer(
            svc,
            Method::GET,
            "/v2/acme/app/manifests/1.0",
            &admin_session
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn failed_authentication_is_rate_limited_per_client_address() {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let access = Arc::new(MemoryAccessStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let control = AccessControl::new(
        Policy::new(access.clone(), meta),
        Arc::new(TokenAuthenticator::new(access.clone())),
    )
    .with_failed_auth_limit(3, Duration::from_secs(60));
    let svc = DistrService::new(registry).with_access_control(control);
    let org = Org {
        id: OrgId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at_ms: 0,
    };
    access.create_org(&org).await.unwrap();
    let (good, _) = user_token(access.as_ref(), &org, None, Role::VendorAdmin).await;
    let from = |ip: &str, token: &str| {
        let mut req = Request::builder()
            .uri("/v2/")
            .header("authorization", basic_auth(token))
            .body(Full::new(Bytes::new()))
            .unwrap();
        req.extensions_mut().insert(distr_hyper::ClientAddr(
            format!("{ip}:40000").parse().unwrap(),
        ));
        req
    };
    for _ in 0..3 {
        assert_eq!(
            svc.clone()
                .oneshot(from("192.0.2.7", "distr_guess"))
                .await
                .unwrap()
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Valid credentials are never refused for earlier failures.
    assert_eq!(
        svc.clone()
            .oneshot(from("192.0.2.7", &good))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let blocked = svc
        .clone()
        .oneshot(from("192.0.2.7", "distr_guess"))
        .await
        .unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        blocked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let body = blocked.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(code(&body), "TOOMANYREQUESTS");
    // Other addresses are unaffected.
    assert_eq!(
        svc.clone()
            .oneshot(from("192.0.2.8", &good))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

/// The realm of `GET /v2/` with `host` as the `Host` header, from `svc`.
async fn realm_for_host(svc: &DistrService, host: &str) -> String {
    let req = Request::builder()
        .uri("/v2/")
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = svc.clone().oneshot(req).await.unwrap();
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    challenge
        .strip_prefix("Bearer realm=\"")
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_token_realm_comes_from_configuration_not_a_hostile_host() {
    let w = world();
    // Without a configured URL, a plain Host is used, a hostile one is not.
    assert_eq!(
        realm_for_host(&w.svc, "reg.example.com:5000").await,
        "http://reg.example.com:5000/v2/token"
    );
    for hostile in [
        "evil.example\",realm=\"https://evil.example",
        "evil.example, service=x",
        "evil.example/path?x=",
    ] {
        assert_eq!(
            realm_for_host(&w.svc, hostile).await,
            "http://localhost/v2/token",
            "{hostile}"
        );
    }
    // Configured, the realm ignores the Host header.
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let access = Arc::new(MemoryAccessStore::new());
    let control = AccessControl::new(
        Policy::new(access.clone(), meta.clone()),
        Arc::new(TokenAuthenticator::new(access)),
    )
    .with_public_url("https://registry.example.com/".parse().unwrap());
    let registry = Arc::new(Registry::new(
        meta,
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let svc = DistrService::new(registry).with_access_control(control);
    assert_eq!(
        realm_for_host(&svc, "evil.example").await,
        "https://registry.example.com/v2/token"
    );
}
