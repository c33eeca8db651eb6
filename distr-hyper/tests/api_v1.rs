//! The management API (`/api/v1`) in-process: every endpoint's happy path,
//! the permission matrix (vendor admin, customer admin, member, another
//! vendor), malformed input, conflicts, tokens against the registry,
//! entitlements changing registry access, pull secrets and the OpenAPI
//! document.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use distr_core::access::*;
use distr_core::store::{MemoryStore, MetadataStore};
use distr_core::{BlobStore, Digest, Registry, RegistryConfig};
use distr_hyper::{AccessControl, ClientAddr, DistrService, ManagementApi};
use distr_test_support::access::{org, vendor_admin};
use distr_test_support::auth::basic_auth;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::ServiceExt;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Longer than the token authenticator's cache.
const AFTER_CACHE: Duration = Duration::from_millis(1_150);

struct World {
    svc: DistrService,
    store: Arc<MemoryAccessStore>,
    acme: Org,
    /// A vendor admin token of acme.
    va: String,
    /// A vendor admin token of globex, another vendor.
    gva: String,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.json()))
            .to_owned()
    }

    /// Asserts the status (showing the body when it differs).
    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// Asserts an error status and code.
    fn expect_err(self, status: StatusCode, code: &str) {
        let s = self.expect(status);
        assert_eq!(s.code(), code);
        assert_eq!(s.headers["content-type"], "application/json");
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn b64(s: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn raw(
    svc: &DistrService,
    method: Method,
    uri: &str,
    authorization: Option<String>,
    body: Bytes,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let resp = svc
        .clone()
        .oneshot(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// An API call with `Authorization: AccessToken <token>` and a JSON body.
async fn call(
    svc: &DistrService,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    raw(
        svc,
        method.parse().unwrap(),
        uri,
        Some(format!("AccessToken {token}")),
        body,
    )
    .await
}

/// The operator token of the test API.
const OPERATOR_TOKEN: &str = "distr_operator000000000000000000000000000";

async fn world() -> World {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let store = Arc::new(MemoryAccessStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let authn = Arc::new(TokenAuthenticator::new(store.clone()));
    let control = AccessControl::new(Policy::new(store.clone(), meta.clone()), authn.clone());
    let api = ManagementApi::new(store.clone(), meta, authn)
        .with_operator_token(&PlainToken::from_secret(OPERATOR_TOKEN));
    let svc = DistrService::new(registry)
        .with_access_control(control)
        .with_management_api(api);
    let acme = org(store.as_ref(), "acme").await;
    let globex = org(store.as_ref(), "globex").await;
    let va = vendor_admin(store.as_ref(), &acme).await;
    let gva = vendor_admin(store.as_ref(), &globex).await;
    World {
        svc,
        store,
        acme,
        va,
        gva,
    }
}

impl World {
    async fn call(&self, method: &str, uri: &str, token: &str, body: Option<Value>) -> Resp {
        call(&self.svc, method, uri, token, body).await
    }

    async fn customer(&self, name: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/v1/customers",
                &self.va,
                Some(json!({ "name": name })),
            )
            .await
            .expect(StatusCode::CREATED);
        id(&r.json())
    }

    /// A customer user created through the API, with a first token issued
    /// by the vendor admin: (user id, token).
    async fn user(&self, customer: &str, email: &str, role: &str) -> (String, String) {
        let u = self
            .call(
                "POST",
                &format!("/api/v1/customers/{customer}/users"),
                &self.va,
                Some(json!({ "email": email, "role": role })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        let t = self.token_for(&id(&u)).await;
        (id(&u), t)
    }

    /// A token for `user`, issued by the vendor admin.
    async fn token_for(&self, user: &str) -> String {
        let t = self
            .call(
                "POST",
                &format!("/api/v1/users/{user}/tokens"),
                &self.va,
                Some(json!({ "name": "first" })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        t["token"].as_str().unwrap().to_owned()
    }

    async fn artifact(&self, name: &str) -> String {
        let r = self
            .call(
                "POST",
                "/api/v1/artifacts",
                &self.va,
                Some(json!({ "name": name })),
            )
            .await
            .expect(StatusCode::CREATED);
        id(&r.json())
    }

    /// The registry status of `GET uri` with the token over Basic.
    async fn registry(&self, uri: &str, token: &str) -> StatusCode {
        raw(
            &self.svc,
            Method::GET,
            uri,
            Some(basic_auth(token)),
            Bytes::new(),
        )
        .await
        .status
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        let r = raw(
            &self.svc,
            Method::POST,
            &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
            Some(basic_auth(&self.va)),
            Bytes::copy_from_slice(data),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED);
        d
    }

    /// Pushes a one-layer image as the vendor admin; returns its digest and size.
    async fn push_image(&self, repo: &str, tag: &str) -> (Digest, usize) {
        let config = self.push_blob(repo, b"{}").await;
        let layer = self.push_blob(repo, tag.as_bytes()).await;
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer}","size":{}}}]}}"#,
            tag.len()
        );
        let mut req = Request::builder()
            .method(Method::PUT)
            .uri(format!("/v2/{repo}/manifests/{tag}"))
            .header("authorization", basic_auth(&self.va))
            .header("content-type", MANIFEST);
        req = req.header("content-length", m.len());
        let resp = self
            .svc
            .clone()
            .oneshot(req.body(Full::new(Bytes::from(m.clone()))).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        (Digest::sha256(m.as_bytes()), m.len())
    }
}

#[tokio::test]
async fn me_authentication_and_mounting() {
    let w = world().await;
    let me = w
        .call("GET", "/api/v1/me", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["org_id"], w.acme.id.to_string());
    assert_eq!(me["org_slug"], "acme");
    assert_eq!(me["role"], "vendor_admin");
    assert!(me.get("customer_id").is_none());
    assert!(me["user_id"].as_str().unwrap().parse::<UserId>().is_ok());

    // Bearer works too; Basic, nothing, or a wrong token do not.
    let bearer = raw(
        &w.svc,
        Method::GET,
        "/api/v1/me",
        Some(format!("Bearer {}", w.va)),
        Bytes::new(),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK);
    for auth in [
        None,
        Some(basic_auth(&w.va)),
        Some("AccessToken distr_0000".into()),
        Some("AccessToken".into()),
    ] {
        let r = raw(&w.svc, Method::GET, "/api/v1/me", auth, Bytes::new()).await;
        assert!(r.headers.contains_key("www-authenticate"));
        r.expect_err(StatusCode::UNAUTHORIZED, "unauthorized");
    }

    // A customer user sees their customer.
    let c = w.customer("one").await;
    let (uid, member) = w.user(&c, "m@one.test", "customer_member").await;
    let me = w
        .call("GET", "/api/v1/me", &member, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(me["customer_id"], c);
    assert_eq!(me["user_id"], uid);
    assert_eq!(me["role"], "customer_member");
    assert_eq!(me["email"], "m@one.test");

    // Unknown paths and methods.
    w.call("GET", "/api/v1/nope", &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    let r = w.call("PUT", "/api/v1/me", &w.va, None).await;
    assert_eq!(r.headers["allow"], "GET");
    r.expect_err(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    // Without the management API the paths are not served at all.
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let plain = DistrService::new(registry).with_access_control(AccessControl::new(
        Policy::new(w.store.clone(), meta),
        Arc::new(TokenAuthenticator::new(w.store.clone())),
    ));
    let r = call(&plain, "GET", "/api/v1/me", &w.va, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = call(&plain, "GET", "/api/v1/openapi.json", &w.va, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The registry still answers next to the API.
    assert_eq!(w.registry("/v2/", &w.va).await, StatusCode::OK);
}

#[tokio::test]
async fn artifacts_crud_tags_and_entitled_delete() {
    let w = world().await;
    let app = w.artifact("app").await;
    let r = w
        .call(
            "POST",
            "/api/v1/artifacts",
            &w.va,
            Some(json!({ "name": "charts/db" })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(r["repository"], "acme/charts/db");
    let db = id(&r);

    w.call(
        "POST",
        "/api/v1/artifacts",
        &w.va,
        Some(json!({ "name": "app" })),
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");
    for bad in ["App", "", "a//b", "-x", "a b", "x/"] {
        w.call(
            "POST",
            "/api/v1/artifacts",
            &w.va,
            Some(json!({ "name": bad })),
        )
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    // An upstream's field given next to the name: the error names the fix.
    for field in ["insecure", "reference", "auth"] {
        let r = w
            .call(
                "POST",
                "/api/v1/artifacts",
                &w.va,
                Some(json!({ "name": "mirror", field: true })),
            )
            .await
            .expect(StatusCode::BAD_REQUEST);
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(
            message.contains(&format!("`{field}` is a field of `upstream`")),
            "{message}"
        );
    }
    // Another vendor may use the same name.
    let g = call(
        &w.svc,
        "POST",
        "/api/v1/artifacts",
        &w.gva,
        Some(json!({ "name": "app" })),
    )
    .await
    .expect(StatusCode::CREATED)
    .json();

    let list = w
        .call("GET", "/api/v1/artifacts", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    let mut names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["app", "charts/db"]);
    let one = w
        .call("GET", &format!("/api/v1/artifacts/{app}"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(one["name"], "app");
    assert_eq!(one["repository"], "acme/app");
    assert!(one["created_at"].as_i64().unwrap() > 1_600_000_000_000);
    // The other vendor's artifact is not found, not forbidden.
    w.call("GET", &format!("/api/v1/artifacts/{}", id(&g)), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call(
        "GET",
        &format!("/api/v1/artifacts/{}", ArtifactId::new()),
        &w.va,
        None,
    )
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("GET", "/api/v1/artifacts/not-a-uuid", &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");

    // Tags come from the registry.
    let (d1, size1) = w.push_image("acme/app", "1.0.0").await;
    let (dl, _) = w.push_image("acme/app", "latest").await;
    let tags = w
        .call("GET", &format!("/api/v1/artifacts/{app}/tags"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    let tags = tags.as_array().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["tag"], "1.0.0");
    assert_eq!(tags[0]["digest"], d1.to_string());
    assert_eq!(tags[0]["size"], size1);
    assert_eq!(tags[0]["pull_count"], 0);
    assert_eq!(tags[0]["media_type"], MANIFEST);
    assert!(tags[0]["created_at"].as_i64().unwrap() > 0);
    assert_eq!(tags[1]["tag"], "latest");
    assert_eq!(tags[1]["digest"], dl.to_string());
    let empty = w
        .call("GET", &format!("/api/v1/artifacts/{db}/tags"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(empty, json!([]));

    // An entitled artifact cannot be deleted.
    let c = w.customer("one").await;
    let e = w
        .call(
            "POST",
            &format!("/api/v1/customers/{c}/entitlements"),
            &w.va,
            Some(json!({ "name": "std", "items": [{ "artifact_id": app, "tags": "all" }] })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    w.call("DELETE", &format!("/api/v1/artifacts/{app}"), &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "artifact_entitled");
    w.call(
        "DELETE",
        &format!("/api/v1/customers/{c}/entitlements/{}", id(&e)),
        &w.va,
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        w.registry("/v2/acme/app/manifests/1.0.0", &w.va).await,
        StatusCode::OK
    );
    w.call("DELETE", &format!("/api/v1/artifacts/{app}"), &w.va, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    // The repository went with it.
    assert_eq!(
        w.registry("/v2/acme/app/manifests/1.0.0", &w.va).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        w.registry("/v2/acme/app/tags/list", &w.va).await,
        StatusCode::NOT_FOUND
    );
    w.call("GET", &format!("/api/v1/artifacts/{app}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("DELETE", &format!("/api/v1/artifacts/{app}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    // The other vendor cannot delete acme's.
    call(
        &w.svc,
        "DELETE",
        &format!("/api/v1/artifacts/{db}"),
        &w.gva,
        None,
    )
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn customers_crud() {
    let w = world().await;
    let a = w.customer("Alpha Corp").await;
    let b = w.customer("Beta").await;
    let list = w
        .call("GET", "/api/v1/customers", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let alpha = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a.as_str())
        .unwrap();
    assert_eq!(alpha["name"], "Alpha Corp");
    let got = w
        .call("GET", &format!("/api/v1/customers/{a}"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(got["name"], "Alpha Corp");
    let renamed = w
        .call(
            "PATCH",
            &format!("/api/v1/customers/{a}"),
            &w.va,
            Some(json!({ "name": "  Alpha Inc  " })),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(renamed["name"], "Alpha Inc");
    let got = w
        .call("GET", &format!("/api/v1/customers/{a}"), &w.va, None)
        .await
        .json();
    assert_eq!(got["name"], "Alpha Inc");

    // Bad bodies.
    for body in [
        "{",
        "[]",
        "",
        r#"{"name":""}"#,
        r#"{"name":"   "}"#,
        r#"{"name":42}"#,
        r#"{"name":"x","extra":1}"#,
        r#"{"name":"a\u0007b"}"#,
    ] {
        let r = raw(
            &w.svc,
            Method::POST,
            "/api/v1/customers",
            Some(format!("AccessToken {}", w.va)),
            Bytes::from(body),
        )
        .await;
        r.expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = raw(
        &w.svc,
        Method::PATCH,
        &format!("/api/v1/customers/{a}"),
        Some(format!("AccessToken {}", w.va)),
        Bytes::from("not json"),
    )
    .await;
    r.expect_err(StatusCode::BAD_REQUEST, "bad_request");
    // Over 1 MiB.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(1024 * 1024));
    let r = raw(
        &w.svc,
        Method::POST,
        "/api/v1/customers",
        Some(format!("AccessToken {}", w.va)),
        Bytes::from(big),
    )
    .await;
    r.expect_err(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // The other vendor sees none of it.
    let theirs = call(&w.svc, "GET", "/api/v1/customers", &w.gva, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(theirs, json!([]));
    for (m, body) in [
        ("GET", None),
        ("PATCH", Some(json!({ "name": "x" }))),
        ("DELETE", None),
    ] {
        call(&w.svc, m, &format!("/api/v1/customers/{a}"), &w.gva, body)
            .await
            .expect_err(StatusCode::NOT_FOUND, "not_found");
    }

    // Deleting takes the customer's users (and their tokens) along.
    let (uid, member) = w.user(&b, "m@beta.test", "customer_member").await;
    w.call("GET", "/api/v1/me", &member, None)
        .await
        .expect(StatusCode::OK);
    w.call("DELETE", &format!("/api/v1/customers/{b}"), &w.va, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    w.call("GET", &format!("/api/v1/customers/{b}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("GET", &format!("/api/v1/users/{uid}/tokens"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("GET", "/api/v1/me", &member, None)
        .await
        .expect_err(StatusCode::UNAUTHORIZED, "unauthorized");
    w.call("DELETE", &format!("/api/v1/customers/{b}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("GET", "/api/v1/customers/123", &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn permission_matrix() {
    let w = world().await;
    let a = w.customer("a").await;
    let b = w.customer("b").await;
    let (admin_a_id, admin_a) = w.user(&a, "admin@a.test", "customer_admin").await;
    let (member_a_id, member_a) = w.user(&a, "member@a.test", "customer_member").await;
    let (_, admin_b) = w.user(&b, "admin@b.test", "customer_admin").await;
    let gva = w.gva.clone();
    let va_id = w.call("GET", "/api/v1/me", &w.va, None).await.json()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let art = w.artifact("app").await;

    // Vendor-only endpoints: customer users are forbidden, the other vendor
    // does not find acme's records.
    let vendor_only: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/api/v1/artifacts".into(), None),
        (
            "POST",
            "/api/v1/artifacts".into(),
            Some(json!({ "name": "x" })),
        ),
        ("GET", format!("/api/v1/artifacts/{art}"), None),
        ("DELETE", format!("/api/v1/artifacts/{art}"), None),
        ("GET", format!("/api/v1/artifacts/{art}/tags"), None),
        ("GET", "/api/v1/customers".into(), None),
        (
            "POST",
            "/api/v1/customers".into(),
            Some(json!({ "name": "x" })),
        ),
        ("GET", format!("/api/v1/customers/{a}"), None),
        (
            "PATCH",
            format!("/api/v1/customers/{a}"),
            Some(json!({ "name": "x" })),
        ),
        ("DELETE", format!("/api/v1/customers/{a}"), None),
        ("GET", format!("/api/v1/customers/{a}/entitlements"), None),
        (
            "POST",
            format!("/api/v1/customers/{a}/entitlements"),
            Some(json!({ "name": "x", "items": [] })),
        ),
        (
            "GET",
            format!(
                "/api/v1/customers/{a}/entitlements/{}",
                EntitlementId::new()
            ),
            None,
        ),
    ];
    for (m, uri, body) in &vendor_only {
        for t in [&admin_a, &member_a] {
            w.call(m, uri, t, body.clone())
                .await
                .expect_err(StatusCode::FORBIDDEN, "forbidden");
        }
        if uri.contains('-') {
            // Paths naming acme's records.
            w.call(m, uri, &gva, body.clone())
                .await
                .expect_err(StatusCode::NOT_FOUND, "not_found");
        }
    }

    // Customer users: vendor admin and own admin yes; member 403; other
    // customer's admin and other vendor 404.
    let users_a = format!("/api/v1/customers/{a}/users");
    for (t, status) in [
        (&w.va, StatusCode::OK),
        (&admin_a, StatusCode::OK),
        (&member_a, StatusCode::FORBIDDEN),
        (&admin_b, StatusCode::NOT_FOUND),
        (&gva, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(w.call("GET", &users_a, t, None).await.status, status);
    }
    let listed = w.call("GET", &users_a, &admin_a, None).await.json();
    // Listings are ordered by creation time (ms), then id: same-millisecond
    // records come in id order, so compare as sets.
    let mut emails: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["admin@a.test", "member@a.test"]);
    let member = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "member@a.test")
        .unwrap();
    assert_eq!(member["role"], "customer_member");
    assert_eq!(member["customer_id"], a);
    assert_eq!(member["id"], member_a_id);

    let new_user = |email: &str| Some(json!({ "email": email, "role": "customer_member" }));
    for (t, status) in [
        (&member_a, StatusCode::FORBIDDEN),
        (&admin_b, StatusCode::NOT_FOUND),
        (&gva, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            w.call("POST", &users_a, t, new_user("x@a.test"))
                .await
                .status,
            status
        );
    }
    let by_admin = w
        .call("POST", &users_a, &admin_a, new_user("Second@A.test"))
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(by_admin["email"], "second@a.test");
    w.call("POST", &users_a, &w.va, new_user("second@a.test"))
        .await
        .expect_err(StatusCode::CONFLICT, "conflict");
    for bad in [
        json!({ "email": "x@a.test", "role": "vendor_admin" }),
        json!({ "email": "x@a.test", "role": "boss" }),
        json!({ "email": "nope", "role": "customer_member" }),
        json!({ "email": "x@a.test" }),
    ] {
        w.call("POST", &users_a, &admin_a, Some(bad))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    let second = id(&by_admin);
    for (t, status) in [
        (&member_a, StatusCode::FORBIDDEN),
        (&admin_b, StatusCode::NOT_FOUND),
        (&gva, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            w.call("DELETE", &format!("{users_a}/{second}"), t, None)
                .await
                .status,
            status
        );
    }
    // A user of B is not found under A's path.
    let b_user = w
        .call(
            "POST",
            &format!("/api/v1/customers/{b}/users"),
            &admin_b,
            new_user("u@b.test"),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    w.call("DELETE", &format!("{users_a}/{}", id(&b_user)), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("DELETE", &format!("{users_a}/{second}"), &admin_a, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    w.call("DELETE", &format!("{users_a}/{second}"), &admin_a, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");

    // Listing a user's tokens: own, own customer's (admins), the vendor's
    // (vendor admins).
    let tokens_of = |u: &str| format!("/api/v1/users/{u}/tokens");
    for (t, user, status) in [
        (&w.va, &member_a_id, StatusCode::OK),
        (&admin_a, &member_a_id, StatusCode::OK),
        (&member_a, &member_a_id, StatusCode::OK),
        (&member_a, &admin_a_id, StatusCode::FORBIDDEN),
        (&admin_b, &member_a_id, StatusCode::NOT_FOUND),
        (&gva, &member_a_id, StatusCode::NOT_FOUND),
        (&admin_a, &va_id, StatusCode::NOT_FOUND),
        (&w.va, &va_id, StatusCode::OK),
    ] {
        assert_eq!(
            w.call("GET", &tokens_of(user), t, None).await.status,
            status,
            "{user}"
        );
    }
    let listed = w
        .call("GET", &tokens_of(&member_a_id), &admin_a, None)
        .await
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token").is_none() && listed[0].get("hash").is_none());

    // Issuing tokens for others follows the same scope.
    let issue = json!({ "name": "ci" });
    for (t, user, status) in [
        (&admin_a, &member_a_id, StatusCode::CREATED),
        (&member_a, &admin_a_id, StatusCode::FORBIDDEN),
        (&admin_b, &member_a_id, StatusCode::NOT_FOUND),
        (&gva, &member_a_id, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            w.call("POST", &tokens_of(user), t, Some(issue.clone()))
                .await
                .status,
            status
        );
    }

    // Revoking: tokens of member A, each revoked by someone allowed; the
    // others are refused first.
    let mut member_tokens = Vec::new();
    for _ in 0..3 {
        let t = w
            .call(
                "POST",
                "/api/v1/tokens",
                &member_a,
                Some(json!({ "name": "x" })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        member_tokens.push(id(&t));
    }
    let colleague_token = id(&w
        .call(
            "POST",
            "/api/v1/tokens",
            &admin_a,
            Some(json!({ "name": "adm" })),
        )
        .await
        .json());
    w.call(
        "DELETE",
        &format!("/api/v1/tokens/{colleague_token}"),
        &member_a,
        None,
    )
    .await
    .expect_err(StatusCode::FORBIDDEN, "forbidden");
    w.call(
        "POST",
        &format!("/api/v1/tokens/{colleague_token}/rotate"),
        &member_a,
        None,
    )
    .await
    .expect_err(StatusCode::FORBIDDEN, "forbidden");
    for t in [&admin_b, &gva] {
        w.call(
            "DELETE",
            &format!("/api/v1/tokens/{}", member_tokens[0]),
            t,
            None,
        )
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
        w.call(
            "POST",
            &format!("/api/v1/tokens/{}/rotate", member_tokens[0]),
            t,
            None,
        )
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    }
    // A customer admin cannot touch the vendor admin's tokens.
    let va_token = id(&w
        .call(
            "POST",
            "/api/v1/tokens",
            &w.va,
            Some(json!({ "name": "va" })),
        )
        .await
        .json());
    w.call(
        "DELETE",
        &format!("/api/v1/tokens/{va_token}"),
        &admin_a,
        None,
    )
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
    for (t, token) in [
        (&member_a, &member_tokens[0]),
        (&admin_a, &member_tokens[1]),
        (&w.va, &member_tokens[2]),
    ] {
        w.call("DELETE", &format!("/api/v1/tokens/{token}"), t, None)
            .await
            .expect(StatusCode::NO_CONTENT);
    }
    let mine = w
        .call("GET", "/api/v1/tokens", &member_a, None)
        .await
        .json();
    let revoked = mine
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| !t["revoked_at"].is_null())
        .count();
    assert_eq!(revoked, 3);
    // Idempotent; malformed and unknown ids.
    w.call(
        "DELETE",
        &format!("/api/v1/tokens/{}", member_tokens[0]),
        &w.va,
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    w.call("DELETE", "/api/v1/tokens/zzz", &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    w.call(
        "DELETE",
        &format!("/api/v1/tokens/{}", TokenId::new()),
        &w.va,
        None,
    )
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn token_create_use_revoke_and_rotate() {
    let w = world().await;
    let created = w
        .call(
            "POST",
            "/api/v1/tokens",
            &w.va,
            Some(json!({ "name": "laptop" })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(created.headers["cache-control"], "no-store");
    let created = created.json();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(TOKEN_PREFIX));
    assert_eq!(created["name"], "laptop");
    assert!(created["expires_at"].is_null());
    assert!(created["created_at"].as_i64().unwrap() > 0);
    let token_id = id(&created);

    // The new token works on the registry (Basic) and on the API.
    assert_eq!(w.registry("/v2/", &secret).await, StatusCode::OK);
    w.call("GET", "/api/v1/me", &secret, None)
        .await
        .expect(StatusCode::OK);

    // Listed without its secret or hash.
    let list = w
        .call("GET", "/api/v1/tokens", &w.va, None)
        .await
        .expect(StatusCode::OK);
    let text = String::from_utf8_lossy(&list.body).into_owned();
    assert!(!text.contains(&secret));
    assert!(!text.contains(&PlainToken::from_secret(secret.clone()).hash()));
    let list = list.json();
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .expect("listed");
    assert_eq!(mine["name"], "laptop");
    assert_eq!(mine["active"], true);
    assert!(mine["revoked_at"].is_null());
    assert!(mine.get("token").is_none() && mine.get("hash").is_none());

    // Rotation: a token with an expiry, rotated into a new secret.
    let expires = created["created_at"].as_i64().unwrap() + 3_600_000;
    let old = w
        .call(
            "POST",
            "/api/v1/tokens",
            &w.va,
            Some(json!({ "name": "ci", "expires_at": expires })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    let old_secret = old["token"].as_str().unwrap().to_owned();
    assert_eq!(w.registry("/v2/", &old_secret).await, StatusCode::OK);
    let rotated = w
        .call(
            "POST",
            &format!("/api/v1/tokens/{}/rotate", id(&old)),
            &w.va,
            None,
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(rotated.headers["cache-control"], "no-store");
    let rotated = rotated.json();
    let new_secret = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, old_secret);
    assert_ne!(rotated["id"], old["id"]);
    assert_eq!(rotated["name"], "ci");
    assert_eq!(rotated["expires_at"], expires);
    assert_eq!(w.registry("/v2/", &new_secret).await, StatusCode::OK);
    // An expiry may be given as RFC 3339 too, as the admin CLI takes it.
    let dated = w
        .call(
            "POST",
            "/api/v1/tokens",
            &w.va,
            Some(json!({ "name": "dated", "expires_at": "2099-12-31T23:59:59+01:00" })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(dated["expires_at"], 4_102_441_199_000_i64);
    // Rotating the revoked one again is a conflict.
    w.call(
        "POST",
        &format!("/api/v1/tokens/{}/rotate", id(&old)),
        &w.va,
        None,
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");

    // Revoke the first one; both revoked tokens stop working once the
    // authenticator's one-second cache has lapsed.
    w.call("DELETE", &format!("/api/v1/tokens/{token_id}"), &w.va, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    tokio::time::sleep(AFTER_CACHE).await;
    assert_eq!(w.registry("/v2/", &secret).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.registry("/v2/", &old_secret).await,
        StatusCode::UNAUTHORIZED
    );
    w.call("GET", "/api/v1/me", &secret, None)
        .await
        .expect_err(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(w.registry("/v2/", &new_secret).await, StatusCode::OK);
    let list = w.call("GET", "/api/v1/tokens", &w.va, None).await.json();
    let first = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .unwrap();
    assert_eq!(first["active"], false);
    assert!(first["revoked_at"].as_i64().is_some());

    // Bad bodies.
    for body in [
        json!({ "name": "x", "expires_at": 1 }),
        json!({ "name": "x", "expires_at": "tomorrow" }),
        json!({ "name": "" }),
        json!({ "name": "x".repeat(101) }),
        json!({}),
    ] {
        w.call("POST", "/api/v1/tokens", &w.va, Some(body))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    w.call("POST", "/api/v1/tokens/nope/rotate", &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    w.call(
        "POST",
        &format!("/api/v1/tokens/{}/rotate", TokenId::new()),
        &w.va,
        None,
    )
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");

    // A member rotates their own token.
    let c = w.customer("one").await;
    let (_, member) = w.user(&c, "m@one.test", "customer_member").await;
    let own = w
        .call(
            "POST",
            "/api/v1/tokens",
            &member,
            Some(json!({ "name": "own" })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    let r = w
        .call(
            "POST",
            &format!("/api/v1/tokens/{}/rotate", id(&own)),
            &member,
            None,
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(r["name"], "own");
}

#[tokio::test]
async fn entitlement_crud_changes_registry_access() {
    let w = world().await;
    let app = w.artifact("app").await;
    let tool = w.artifact("tool").await;
    w.push_image("acme/app", "1.2.0").await;
    w.push_image("acme/app", "2.0.0").await;
    let a = w.customer("a").await;
    let b = w.customer("b").await;
    let (_, member_a) = w.user(&a, "m@a.test", "customer_member").await;
    let m120 = "/v2/acme/app/manifests/1.2.0";
    let m200 = "/v2/acme/app/manifests/2.0.0";
    // No entitlement at all yet: customers see everything of the vendor.
    assert_eq!(w.registry(m200, &member_a).await, StatusCode::OK);

    // An entitlement of B alone takes A's access away.
    let ents_b = format!("/api/v1/customers/{b}/entitlements");
    w.call(
        "POST",
        &ents_b,
        &w.va,
        Some(json!({ "name": "b", "items": [{ "artifact_id": tool, "tags": "all" }] })),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(w.registry(m120, &member_a).await, StatusCode::NOT_FOUND);

    // A gets 1.2.* of app.
    let ents = format!("/api/v1/customers/{a}/entitlements");
    let created = w
        .call(
            "POST",
            &ents,
            &w.va,
            Some(json!({
                "name": "standard",
                "expires_at": null,
                "items": [{ "artifact_id": app, "tags": ["1.2.*", "latest"] }]
            })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(created["name"], "standard");
    assert_eq!(created["customer_id"], a);
    assert_eq!(created["active"], true);
    assert!(created["expires_at"].is_null());
    assert_eq!(
        created["items"],
        json!([{ "artifact_id": app, "tags": ["1.2.*", "latest"] }])
    );
    let eid = id(&created);
    assert_eq!(w.registry(m120, &member_a).await, StatusCode::OK);
    assert_eq!(w.registry(m200, &member_a).await, StatusCode::FORBIDDEN);

    // Read back.
    let one = w
        .call("GET", &format!("{ents}/{eid}"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(one, created);
    let list = w
        .call("GET", &ents, &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(list, json!([created]));
    // Not under B's path, nor for the other vendor.
    w.call("GET", &format!("{ents_b}/{eid}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    call(&w.svc, "GET", &format!("{ents}/{eid}"), &w.gva, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");

    // Replace: every tag of app.
    let replaced = w
        .call(
            "PUT",
            &format!("{ents}/{eid}"),
            &w.va,
            Some(json!({ "name": "everything", "items": [{ "artifact_id": app, "tags": "all" }] })),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(replaced["items"][0]["tags"], "all");
    assert_eq!(replaced["name"], "everything");
    assert_eq!(w.registry(m200, &member_a).await, StatusCode::OK);

    // An expired entitlement grants nothing (the expiry given as RFC 3339).
    let expired = w
        .call(
            "PUT",
            &format!("{ents}/{eid}"),
            &w.va,
            Some(json!({ "name": "everything", "expires_at": "1970-01-01T00:00:01Z", "items": [{ "artifact_id": app, "tags": "all" }] })),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(expired["expires_at"], 1000);
    assert_eq!(expired["active"], false);
    assert_eq!(w.registry(m120, &member_a).await, StatusCode::NOT_FOUND);

    // Conflicts: a second entitlement named like the first, or renamed to it.
    let other = w
        .call(
            "POST",
            &ents,
            &w.va,
            Some(json!({ "name": "other", "items": [] })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    w.call(
        "POST",
        &ents,
        &w.va,
        Some(json!({ "name": "everything", "items": [] })),
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");
    w.call(
        "PUT",
        &format!("{ents}/{}", id(&other)),
        &w.va,
        Some(json!({ "name": "everything", "items": [] })),
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");
    // The same name is fine for another customer.
    w.call(
        "POST",
        &ents_b,
        &w.va,
        Some(json!({ "name": "everything", "items": [] })),
    )
    .await
    .expect(StatusCode::CREATED);

    // Validation.
    let globex_art = id(&call(
        &w.svc,
        "POST",
        "/api/v1/artifacts",
        &w.gva,
        Some(json!({ "name": "x" })),
    )
    .await
    .json());
    let item = |artifact: &str, tags: Value| json!({ "name": "n", "items": [{ "artifact_id": artifact, "tags": tags }] });
    for body in [
        item(&app, json!(["a b"])),
        item(&app, json!(["-x"])),
        item(&app, json!([])),
        item(&app, json!("some")),
        item(&app, json!([7])),
        item(&ArtifactId::new().to_string(), json!("all")),
        item(&globex_art, json!("all")),
        item("not-a-uuid", json!("all")),
        json!({ "name": "n", "items": [
            { "artifact_id": app, "tags": "all" }, { "artifact_id": app, "tags": ["1"] }
        ] }),
        json!({ "name": "n", "expires_at": "soon", "items": [] }),
        json!({ "name": "n", "expires_at": "2030-02-30T00:00:00Z", "items": [] }),
        json!({ "name": "n", "expires_at": "1969-12-31T23:59:59Z", "items": [] }),
        json!({ "name": "n", "expires_at": -1, "items": [] }),
        json!({ "name": "", "items": [] }),
        json!({ "name": "n" }),
        json!({ "name": "n", "items": [], "customer_id": b }),
    ] {
        w.call("POST", &ents, &w.va, Some(body.clone()))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
        w.call("PUT", &format!("{ents}/{eid}"), &w.va, Some(body))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    w.call("GET", &format!("{ents}/x"), &w.va, None)
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");

    // Back to 1.2.*, then delete: access goes with it.
    w.call(
        "PUT",
        &format!("{ents}/{eid}"),
        &w.va,
        Some(json!({ "name": "everything", "items": [{ "artifact_id": app, "tags": ["1.2.*"] }] })),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(w.registry(m120, &member_a).await, StatusCode::OK);
    w.call("DELETE", &format!("{ents}/{eid}"), &w.va, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(w.registry(m120, &member_a).await, StatusCode::NOT_FOUND);
    w.call("DELETE", &format!("{ents}/{eid}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.call("GET", &format!("{ents}/{eid}"), &w.va, None)
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deleting_the_last_entitlement_never_opens_access() {
    let w = world().await;
    let app = w.artifact("app").await;
    w.push_image("acme/app", "1.0.0").await;
    let a = w.customer("a").await;
    let (_, member) = w.user(&a, "m@a.test", "customer_member").await;
    let (_, admin) = w.user(&a, "admin@a.test", "customer_admin").await;
    let m = "/v2/acme/app/manifests/1.0.0";
    let mode = w
        .call("GET", "/api/v1/access-mode", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        mode,
        json!({ "access_mode": "open", "changed_at": null, "changed_by": null })
    );
    assert_eq!(w.registry(m, &member).await, StatusCode::OK);

    // The first entitlement switches the vendor to entitled, recorded.
    let ents = format!("/api/v1/customers/{a}/entitlements");
    let e = w
        .call(
            "POST",
            &ents,
            &w.va,
            Some(json!({ "name": "all", "items": [{ "artifact_id": app, "tags": "all" }] })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    let mode = w
        .call("GET", "/api/v1/access-mode", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(mode["access_mode"], "entitled");
    assert_eq!(mode["changed_by"], format!("entitlement:{}", id(&e)));

    // Deleting the last entitlement leaves the customer with nothing.
    w.call("DELETE", &format!("{ents}/{}", id(&e)), &w.va, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(w.registry(m, &member).await, StatusCode::NOT_FOUND);
    assert_eq!(
        w.call("GET", "/api/v1/access-mode", &w.va, None)
            .await
            .json()["access_mode"],
        "entitled"
    );

    // Only vendor admins read or change the mode; bad bodies change nothing.
    for token in [&member, &admin] {
        w.call("GET", "/api/v1/access-mode", token, None)
            .await
            .expect_err(StatusCode::FORBIDDEN, "forbidden");
        w.call(
            "PUT",
            "/api/v1/access-mode",
            token,
            Some(json!({ "access_mode": "open" })),
        )
        .await
        .expect_err(StatusCode::FORBIDDEN, "forbidden");
    }
    for body in [
        json!({ "access_mode": "Open" }),
        json!({ "access_mode": "" }),
        json!({}),
        json!({ "access_mode": "open", "extra": 1 }),
    ] {
        w.call("PUT", "/api/v1/access-mode", &w.va, Some(body))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    assert_eq!(w.registry(m, &member).await, StatusCode::NOT_FOUND);

    // The explicit call opens the vendor, recorded as its admin; another
    // vendor's mode is its own.
    let opened = w
        .call(
            "PUT",
            "/api/v1/access-mode",
            &w.va,
            Some(json!({ "access_mode": "open" })),
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(opened["access_mode"], "open");
    let me = w
        .call("GET", "/api/v1/me", &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        opened["changed_by"],
        format!("user:{}", me["user_id"].as_str().unwrap())
    );
    assert!(opened["changed_at"].is_i64());
    assert_eq!(w.registry(m, &member).await, StatusCode::OK);
    assert_eq!(
        call(&w.svc, "GET", "/api/v1/access-mode", &w.gva, None)
            .await
            .expect(StatusCode::OK)
            .json()["access_mode"],
        "open"
    );
    // And back to entitled without an entitlement: nothing again.
    w.call(
        "PUT",
        "/api/v1/access-mode",
        &w.va,
        Some(json!({ "access_mode": "entitled" })),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(w.registry(m, &member).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_customers_addresses_neither_conflict_nor_show() {
    let w = world().await;
    let (a, b) = (w.customer("a").await, w.customer("b").await);
    let (_, admin_a) = w.user(&a, "admin@a.test", "customer_admin").await;
    w.user(&b, "ops@b.test", "customer_member").await;
    let users_a = format!("/api/v1/customers/{a}/users");
    // A's admin adds the address B uses: no conflict, no hint that it exists.
    let created = w
        .call(
            "POST",
            &users_a,
            &admin_a,
            Some(json!({ "email": "ops@b.test", "role": "customer_member" })),
        )
        .await
        .expect(StatusCode::CREATED)
        .json();
    assert_eq!(created["customer_id"], a);
    // Within A it is taken now.
    w.call(
        "POST",
        &users_a,
        &admin_a,
        Some(json!({ "email": "OPS@b.test", "role": "customer_admin" })),
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");
    // B's user is untouched and still only B's.
    let listed = w
        .call("GET", &format!("/api/v1/customers/{b}/users"), &w.va, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["customer_id"], b);
}

/// The value of `key: value` on its own (indented) line of a YAML document.
fn yaml_value<'a>(yaml: &'a str, key: &str) -> Option<&'a str> {
    yaml.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{key}: ")))
}

/// The `.dockerconfigjson` of a pull secret's YAML, checked to be a Secret.
fn docker_config(yaml: &str) -> Value {
    assert!(yaml.starts_with("apiVersion: v1\nkind: Secret\n"), "{yaml}");
    assert_eq!(
        yaml_value(yaml, "type"),
        Some("kubernetes.io/dockerconfigjson")
    );
    let encoded = yaml_value(yaml, ".dockerconfigjson").expect("data");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&decoded).unwrap()
}

#[tokio::test]
async fn pull_secret_yaml() {
    let w = world().await;
    let a = w.customer("a").await;
    let b = w.customer("b").await;
    let (_, admin_a) = w.user(&a, "admin@a.test", "customer_admin").await;
    let (puller_a, member_a) = w.user(&a, "puller@a.test", "customer_member").await;
    let (puller_b, member_b) = w.user(&b, "puller@b.test", "customer_member").await;
    let registry = "registry.example.com:5000";
    let url = |customer: &str| format!("/api/v1/customers/{customer}/pull-secret");

    // One call: a dedicated token for a user of the customer, in the secret.
    let r = w
        .call(
            "POST",
            &url(&a),
            &w.va,
            Some(json!({ "registry": registry, "user_id": puller_a, "namespace": "apps" })),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.headers["content-type"], "application/yaml");
    assert_eq!(r.headers["cache-control"], "no-store");
    let token_id = r.headers["distr-token-id"].to_str().unwrap().to_owned();
    let yaml = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(yaml_value(&yaml, "name"), Some("distr-pull-secret"));
    assert_eq!(yaml_value(&yaml, "namespace"), Some("apps"));
    let config = docker_config(&yaml);
    let entry = &config["auths"][registry];
    assert_eq!(config["auths"].as_object().unwrap().len(), 1);
    assert_eq!(entry["username"], "puller@a.test");
    let created = entry["password"].as_str().unwrap().to_owned();
    assert_ne!(created, member_a);
    let auth = base64::engine::general_purpose::STANDARD
        .decode(entry["auth"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(auth.clone()).unwrap(),
        format!("puller@a.test:{created}")
    );
    // The credentials work against the registry as Docker would send them.
    let r = raw(
        &w.svc,
        Method::GET,
        "/v2/",
        Some(format!("Basic {}", b64(&auth))),
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // The token is the user's, named for the secret, and revocable by its id.
    let tokens_of_a = || async {
        let v = w
            .call(
                "GET",
                &format!("/api/v1/users/{puller_a}/tokens"),
                &w.va,
                None,
            )
            .await
            .json();
        v.as_array().unwrap().clone()
    };
    let tokens = tokens_of_a().await;
    let listed = tokens
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .expect("the secret's token is listed");
    assert_eq!(listed["name"], "pull-secret");

    // An existing token in the body (never in the URL); a custom name, no
    // namespace; the customer's admin may ask too.
    let r = w
        .call(
            "POST",
            &url(&a),
            &admin_a,
            Some(json!({ "registry": registry, "token": member_a, "name": "pull.acme" })),
        )
        .await
        .expect(StatusCode::OK);
    assert!(r.headers.get("distr-token-id").is_none());
    let yaml = String::from_utf8(r.body.to_vec()).unwrap();
    assert_eq!(yaml_value(&yaml, "name"), Some("pull.acme"));
    assert_eq!(yaml_value(&yaml, "namespace"), None);
    assert_eq!(
        docker_config(&yaml)["auths"][registry]["password"],
        member_a.as_str()
    );
    // A named, expiring token, the expiry as RFC 3339.
    let r = w
        .call(
            "POST",
            &url(&a),
            &admin_a,
            Some(json!({ "registry": registry, "user_id": puller_a, "token_name": "cluster-eu", "expires_at": "2099-01-01T00:00:00Z" })),
        )
        .await
        .expect(StatusCode::CREATED);
    let id2 = r.headers["distr-token-id"].to_str().unwrap().to_owned();
    let tokens = tokens_of_a().await;
    let named = tokens.iter().find(|t| t["id"] == id2.as_str()).unwrap();
    assert_eq!(
        (named["name"].as_str(), named["expires_at"].as_i64()),
        (Some("cluster-eu"), Some(4_070_908_800_000))
    );

    // Who may ask.
    let body = json!({ "registry": registry, "token": member_a });
    for (t, status) in [
        (&member_a, StatusCode::FORBIDDEN),
        (&w.gva, StatusCode::NOT_FOUND),
    ] {
        assert_eq!(
            w.call("POST", &url(&a), t, Some(body.clone())).await.status,
            status
        );
    }
    let (_, admin_b) = w.user(&b, "admin@b.test", "customer_admin").await;
    w.call("POST", &url(&a), &admin_b, Some(body.clone()))
        .await
        .expect_err(StatusCode::NOT_FOUND, "not_found");
    // The old GET with the token in the query string is gone.
    assert_eq!(
        w.call(
            "GET",
            &format!("{}?token={member_a}&registry={registry}", url(&a)),
            &w.va,
            None
        )
        .await
        .status,
        StatusCode::METHOD_NOT_ALLOWED
    );

    // Tokens and users of another customer, of a vendor admin, none, both,
    // and bad names.
    let bad_bodies = [
        json!({ "registry": registry, "token": member_b }),
        json!({ "registry": registry, "token": w.va }),
        json!({ "registry": registry, "token": "distr_nope" }),
        json!({ "registry": registry, "token": "" }),
        json!({ "registry": registry, "user_id": puller_b }),
        json!({ "registry": registry, "user_id": UserId::new() }),
        json!({ "registry": registry }),
        json!({ "registry": registry, "token": member_a, "user_id": puller_a }),
        json!({ "registry": registry, "token": member_a, "token_name": "x" }),
        json!({ "registry": registry, "user_id": puller_a, "expires_at": 1 }),
        json!({ "registry": registry, "user_id": puller_a, "token_name": "" }),
        json!({ "registry": registry, "token": member_a, "name": "Bad_Name" }),
        json!({ "registry": registry, "token": member_a, "namespace": "a.b" }),
        json!({ "registry": registry, "token": member_a, "name": "" }),
        json!({ "token": member_a }),
        json!({ "registry": "a b", "token": member_a }),
        json!({ "registry": registry, "token": member_a, "extra": 1 }),
    ];
    for body in bad_bodies {
        w.call("POST", &url(&a), &w.va, Some(body.clone()))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    // None of the refused calls made a token.
    let tokens = tokens_of_a().await;
    assert_eq!(tokens.len(), 3, "{tokens:?}");
}

#[tokio::test]
async fn the_operator_creates_organisations_with_their_first_admin() {
    let w = world().await;
    let body = json!({ "slug": "initech", "name": "Initech", "admin_email": "Ops@Initech.test" });
    // Users' tokens, even a vendor admin's, may not; no token at all is 401.
    for token in [&w.va, &w.gva] {
        w.call("POST", "/api/v1/orgs", token, Some(body.clone()))
            .await
            .expect_err(StatusCode::FORBIDDEN, "forbidden");
        w.call("GET", "/api/v1/orgs", token, None)
            .await
            .expect_err(StatusCode::FORBIDDEN, "forbidden");
    }
    w.call("GET", "/api/v1/orgs", "distr_nope", None)
        .await
        .expect_err(StatusCode::UNAUTHORIZED, "unauthorized");

    let r = w
        .call("POST", "/api/v1/orgs", OPERATOR_TOKEN, Some(body.clone()))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(r.headers["cache-control"], "no-store");
    let created = r.json();
    assert_eq!(created["org"]["slug"], "initech");
    assert_eq!(created["org"]["name"], "Initech");
    assert_eq!(created["admin_email"], "ops@initech.test");
    let token = created["token"].as_str().unwrap().to_owned();
    // The new vendor admin works at once, in their own organisation only.
    let me = w.call("GET", "/api/v1/me", &token, None).await.json();
    assert_eq!(
        (me["org_slug"].as_str(), me["role"].as_str()),
        (Some("initech"), Some("vendor_admin"))
    );
    w.call(
        "POST",
        "/api/v1/artifacts",
        &token,
        Some(json!({ "name": "app" })),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(
        w.registry("/v2/initech/app/tags/list", &w.va).await,
        StatusCode::NOT_FOUND
    );

    // Listed; a taken slug is a conflict; bad bodies are 400.
    let list = w
        .call("GET", "/api/v1/orgs", OPERATOR_TOKEN, None)
        .await
        .json();
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs.len(), 3, "{list}");
    assert!(
        slugs.contains(&"initech") && slugs.contains(&"acme"),
        "{list}"
    );
    w.call(
        "POST",
        "/api/v1/orgs",
        OPERATOR_TOKEN,
        Some(json!({ "slug": "acme" })),
    )
    .await
    .expect_err(StatusCode::CONFLICT, "conflict");
    for bad in [
        json!({ "slug": "Bad Slug" }),
        json!({ "slug": "a/b" }),
        json!({ "slug": "" }),
        json!({ "slug": "ok", "admin_email": "nope" }),
        json!({ "slug": "ok", "name": "" }),
        json!({ "slug": "ok", "extra": 1 }),
    ] {
        w.call("POST", "/api/v1/orgs", OPERATOR_TOKEN, Some(bad))
            .await
            .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    }
    // The operator token is nothing but that: no user, no registry access.
    w.call("GET", "/api/v1/me", OPERATOR_TOKEN, None)
        .await
        .expect_err(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        w.registry("/v2/", OPERATOR_TOKEN).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn openapi_covers_every_route() {
    let w = world().await;
    // Served without authentication.
    let r = raw(
        &w.svc,
        Method::GET,
        "/api/v1/openapi.json",
        None,
        Bytes::new(),
    )
    .await
    .expect(StatusCode::OK);
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();

    let routes: Vec<(&str, &str)> = ManagementApi::routes().collect();
    assert!(routes.len() >= 27);
    for (method, path) in &routes {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        if *path != "/api/v1/openapi.json" {
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
    }
    // Nothing documented that is not served.
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                routes
                    .iter()
                    .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but not served"
            );
        }
    }
    // Every listed route really is served: with made-up ids it answers
    // about records, never "no endpoint" or "method not allowed".
    for (method, path) in &routes {
        let uri = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    UserId::new().to_string()
                } else {
                    s.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let r = w.call(method, &uri, &w.gva, Some(json!({}))).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        if r.status == StatusCode::NOT_FOUND {
            let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(!message.starts_with("no API endpoint"), "{method} {uri}");
        }
    }
    // The document's error schema names every code the API uses.
    let codes =
        &doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"];
    for code in [
        "bad_request",
        "artifact_entitled",
        "unauthorized",
        "forbidden",
        "not_found",
        "conflict",
        "internal",
    ] {
        assert!(codes.as_array().unwrap().contains(&json!(code)), "{code}");
    }
}

/// A management API of its own over fresh stores (their metadata store),
/// with a vendor admin token of `acme`.
async fn lone_api() -> (Arc<dyn MetadataStore>, String, ManagementApi) {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let store = Arc::new(MemoryAccessStore::new());
    let acme = org(store.as_ref(), "acme").await;
    let va = vendor_admin(store.as_ref(), &acme).await;
    let authn = Arc::new(TokenAuthenticator::new(store.clone()));
    let api = ManagementApi::new(store, meta.clone(), authn);
    (meta, va, api)
}

#[tokio::test]
async fn failed_authentications_are_rate_limited() {
    let (meta, va, api) = lone_api().await;
    let api = api.with_failed_auth_limit(2, Duration::from_secs(60));
    let registry = Arc::new(Registry::new(
        meta,
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let svc = DistrService::new(registry).with_management_api(api);
    let send = |token: String, ip: [u8; 4]| {
        let svc = svc.clone();
        async move {
            let mut req = Request::builder()
                .uri("/api/v1/me")
                .header("authorization", format!("AccessToken {token}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            req.extensions_mut().insert(ClientAddr((ip, 40000).into()));
            svc.oneshot(req).await.unwrap()
        }
    };
    for _ in 0..2 {
        assert_eq!(
            send("distr_bad".into(), [10, 0, 0, 1]).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // A valid token is accepted; another guess from the address is not.
    assert_eq!(
        send(va.clone(), [10, 0, 0, 1]).await.status(),
        StatusCode::OK
    );
    let blocked = send("distr_bad".into(), [10, 0, 0, 1]).await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers().contains_key("retry-after"));
    assert_eq!(send(va, [10, 0, 0, 2]).await.status(), StatusCode::OK);
}

/// One failed-authentication limiter for the registry and the API: guesses
/// against either count for both, whichever order the service is built in.
#[tokio::test]
async fn registry_and_api_share_the_failed_authentication_limit() {
    for api_first in [false, true] {
        let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let store = Arc::new(MemoryAccessStore::new());
        let acme = org(store.as_ref(), "acme").await;
        let va = vendor_admin(store.as_ref(), &acme).await;
        let authn = Arc::new(TokenAuthenticator::new(store.clone()));
        let control = AccessControl::new(Policy::new(store.clone(), meta.clone()), authn.clone())
            .with_failed_auth_limit(3, Duration::from_secs(60));
        let api = ManagementApi::new(store.clone(), meta.clone(), authn);
        let registry = Arc::new(Registry::new(
            meta,
            BlobStore::in_memory(),
            RegistryConfig::default(),
        ));
        let svc = DistrService::new(registry);
        let svc = if api_first {
            svc.with_management_api(api).with_access_control(control)
        } else {
            svc.with_access_control(control).with_management_api(api)
        };
        let send = |uri: &'static str, auth: String, ip: [u8; 4]| {
            let svc = svc.clone();
            async move {
                let mut req = Request::builder()
                    .uri(uri)
                    .header("authorization", auth)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                req.extensions_mut().insert(ClientAddr((ip, 40000).into()));
                svc.oneshot(req).await.unwrap().status()
            }
        };
        let guesser = [10, 0, 0, 9];
        for _ in 0..2 {
            assert_eq!(
                send("/v2/", basic_auth("distr_guess"), guesser).await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            send("/api/v1/me", "AccessToken distr_guess".into(), guesser).await,
            StatusCode::UNAUTHORIZED
        );
        // The third failure, on the API, used up the registry's budget too
        // (valid credentials still pass on both).
        assert_eq!(
            send("/v2/", basic_auth("distr_guess"), guesser).await,
            StatusCode::TOO_MANY_REQUESTS,
            "api_first={api_first}"
        );
        assert_eq!(
            send("/api/v1/me", "AccessToken distr_guess".into(), guesser).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(send("/v2/", basic_auth(&va), guesser).await, StatusCode::OK);
        assert_eq!(
            send("/api/v1/me", format!("AccessToken {va}"), guesser).await,
            StatusCode::OK
        );
        let other = [10, 0, 0, 10];
        assert_eq!(send("/v2/", basic_auth(&va), other).await, StatusCode::OK);
        assert_eq!(
            send("/api/v1/me", format!("AccessToken {va}"), other).await,
            StatusCode::OK
        );
    }
}

/// The API is a tower service of its own: mounted without a `DistrService`
/// it authenticates its requests itself.
#[tokio::test]
async fn the_api_serves_on_its_own() {
    let (_, va, api) = lone_api().await;
    let me = |auth: String| {
        Request::builder()
            .uri("/api/v1/me")
            .header("authorization", auth)
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let ok = api
        .clone()
        .oneshot(me(format!("AccessToken {va}")))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body = ok.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["org_slug"], "acme");
    for refused in [basic_auth(&va), "AccessToken distr_bad".into()] {
        let r = api.clone().oneshot(me(refused)).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

/// A revoked token is final for the management API: refused at once by the
/// replica that revoked it, and no replica lets it write (mint a token)
/// while its one-second authentication cache still holds the token.
#[tokio::test]
async fn a_revoked_token_cannot_mint_a_new_one_on_any_replica() {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let store = Arc::new(MemoryAccessStore::new());
    let acme = org(store.as_ref(), "acme").await;
    let va = vendor_admin(store.as_ref(), &acme).await;
    let replica = |store: Arc<MemoryAccessStore>| {
        ManagementApi::new(
            store.clone(),
            meta.clone(),
            Arc::new(TokenAuthenticator::new(store)),
        )
    };
    let (a, b) = (replica(store.clone()), replica(store.clone()));
    let call = |api: &ManagementApi, method: &str, uri: String, token: &str, body: &str| {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("AccessToken {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let api = api.clone();
        async move {
            let resp = api.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    // A token of the vendor admin, used on both replicas (their caches now
    // hold it).
    let (s, created) = call(&a, "POST", "/api/v1/tokens".into(), &va, r#"{"name":"ci"}"#).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    for api in [&a, &b] {
        assert_eq!(
            call(api, "GET", "/api/v1/me".into(), &secret, "").await.0,
            StatusCode::OK
        );
    }
    let (s, _) = call(&a, "DELETE", format!("/api/v1/tokens/{id}"), &va, "").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // At once, within the cache's second: refused by the revoking replica...
    assert_eq!(
        call(&a, "GET", "/api/v1/me".into(), &secret, "").await.0,
        StatusCode::UNAUTHORIZED
    );
    // ...and no replica lets it mint a successor.
    for api in [&a, &b] {
        let (s, body) = call(
            api,
            "POST",
            "/api/v1/tokens".into(),
            &secret,
            r#"{"name":"x"}"#,
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    }
}
