//! Download analytics in-process: manifest GETs and blob bytes recorded by
//! the service (HEADs not, client addresses through trusted proxies only),
//! and the management API over them: the pull log with filters, pages and
//! CSV, per-artifact and per-customer aggregates, unpulled customers, tag
//! `pull_count`, permissions and malformed queries. Also `tags/list` of an
//! artifact without tags.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use distr_core::access::*;
use distr_core::analytics::{MemoryAnalyticsStore, Recorder, RecorderConfig};
use distr_core::store::{MemoryStore, MetadataStore};
use distr_core::{BlobStore, Digest, Registry, RegistryConfig};
use distr_hyper::{
    AccessControl, ClientAddr, DistrService, ManagementApi, PullAnalytics, TrustedProxies,
};
use distr_test_support::access::{org, vendor_admin};
use distr_test_support::auth::basic_auth;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use tower::ServiceExt;

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ACCEPT: &str =
    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

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

    fn expect(self, status: StatusCode) -> Self {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    fn expect_err(self, status: StatusCode, code: &str) {
        let s = self.expect(status);
        assert_eq!(s.json()["error"]["code"], code, "{}", s.json());
    }
}

/// A request as it arrives from `peer`.
struct Req<'a> {
    method: Method,
    uri: &'a str,
    headers: Vec<(&'a str, String)>,
    peer: Option<SocketAddr>,
    body: Bytes,
}

impl<'a> Req<'a> {
    fn new(method: Method, uri: &'a str) -> Self {
        Self {
            method,
            uri,
            headers: Vec::new(),
            peer: None,
            body: Bytes::new(),
        }
    }

    fn header(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn from(mut self, peer: &str) -> Self {
        self.peer = Some(peer.parse().unwrap());
        self
    }

    fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    async fn send(self, svc: &DistrService) -> Resp {
        let mut req = Request::builder().method(self.method).uri(self.uri);
        for (k, v) in self.headers {
            req = req.header(k, v);
        }
        let mut req = req.body(Full::new(self.body)).unwrap();
        if let Some(p) = self.peer {
            req.extensions_mut().insert(ClientAddr(p));
        }
        let resp = svc.clone().oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        Resp {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }
}

struct World {
    svc: DistrService,
    store: Arc<MemoryAccessStore>,
    recorder: Option<Recorder>,
    acme: Org,
    /// Vendor admin of acme.
    va: String,
    /// Vendor admin of globex, another vendor.
    gva: String,
}

async fn world(analytics: bool) -> World {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let store = Arc::new(MemoryAccessStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default(),
    ));
    let authn = Arc::new(TokenAuthenticator::new(store.clone()));
    let control = AccessControl::new(Policy::new(store.clone(), meta.clone()), authn.clone());
    let mut api = ManagementApi::new(store.clone(), meta, authn);
    let mut svc = DistrService::new(registry).with_access_control(control);
    let mut recorder = None;
    if analytics {
        let events = Arc::new(MemoryAnalyticsStore::new());
        let r = Recorder::start(events.clone(), RecorderConfig::default());
        api = api.with_analytics(events);
        svc = svc.with_analytics(
            PullAnalytics::new(r.clone(), store.clone())
                .with_trusted_proxies("10.0.0.0/8".parse::<TrustedProxies>().unwrap()),
        );
        recorder = Some(r);
    }
    let svc = svc.with_management_api(api);
    let acme = org(store.as_ref(), "acme").await;
    let globex = org(store.as_ref(), "globex").await;
    let va = vendor_admin(store.as_ref(), &acme).await;
    let gva = vendor_admin(store.as_ref(), &globex).await;
    World {
        svc,
        store,
        recorder,
        acme,
        va,
        gva,
    }
}

/// A customer user with a token: ids and secret.
struct CustomerUser {
    customer: String,
    user: String,
    token_id: String,
    token: String,
}

impl World {
    async fn api(&self, method: &str, uri: &str, token: &str, body: Option<Value>) -> Resp {
        let mut r = Req::new(method.parse().unwrap(), uri)
            .header("authorization", format!("AccessToken {token}"));
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        r.send(&self.svc).await
    }

    async fn get(&self, uri: &str) -> Resp {
        self.api("GET", uri, &self.va, None).await
    }

    async fn customer(&self, name: &str, role: &str) -> CustomerUser {
        let c = self
            .api(
                "POST",
                "/api/v1/customers",
                &self.va,
                Some(json!({ "name": name })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        let customer = c["id"].as_str().unwrap().to_owned();
        let u = self
            .api(
                "POST",
                &format!("/api/v1/customers/{customer}/users"),
                &self.va,
                Some(json!({ "email": format!("{name}@c.test"), "role": role })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        let user = u["id"].as_str().unwrap().to_owned();
        let t = self
            .api(
                "POST",
                &format!("/api/v1/users/{user}/tokens"),
                &self.va,
                Some(json!({ "name": "t" })),
            )
            .await
            .expect(StatusCode::CREATED)
            .json();
        CustomerUser {
            customer,
            user,
            token_id: t["id"].as_str().unwrap().to_owned(),
            token: t["token"].as_str().unwrap().to_owned(),
        }
    }

    async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let d = Digest::sha256(data);
        let uri = format!("/v2/{repo}/blobs/uploads/?digest={d}");
        Req::new(Method::POST, &uri)
            .header("authorization", basic_auth(&self.va))
            .body(Bytes::copy_from_slice(data))
            .send(&self.svc)
            .await
            .expect(StatusCode::CREATED);
        d
    }

    async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, m: &str) -> Digest {
        let uri = format!("/v2/{repo}/manifests/{reference}");
        Req::new(Method::PUT, &uri)
            .header("authorization", basic_auth(&self.va))
            .header("content-type", media_type)
            .body(m.to_owned())
            .send(&self.svc)
            .await
            .expect(StatusCode::CREATED);
        Digest::sha256(m.as_bytes())
    }

    /// A one-layer image whose layer is `layer`: (manifest digest, size).
    async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Digest, usize, Digest) {
        let config = self.push_blob(repo, b"{}").await;
        let l = self.push_blob(repo, layer).await;
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{l}","size":{}}}]}}"#,
            layer.len()
        );
        let d = self.put_manifest(repo, tag, MANIFEST, &m).await;
        (d, m.len(), l)
    }

    /// GET (or HEAD) of a manifest with `token` from `peer`.
    async fn pull(
        &self,
        method: Method,
        repo: &str,
        reference: &str,
        token: &str,
        peer: &str,
        xff: Option<&str>,
    ) -> Resp {
        let uri = format!("/v2/{repo}/manifests/{reference}");
        let mut r = Req::new(method, &uri)
            .header("authorization", basic_auth(token))
            .header("accept", ACCEPT)
            .header("user-agent", "docker/27.0 (test)")
            .from(peer);
        if let Some(x) = xff {
            r = r.header("x-forwarded-for", x);
        }
        r.send(&self.svc).await.expect(StatusCode::OK)
    }

    /// Waits until every queued event is written (and stops recording).
    async fn flush(&mut self) {
        if let Some(r) = self.recorder.take() {
            r.shutdown().await;
        }
    }

    /// Every event of the pull log, page by page with `limit`, following
    /// `next_cursor`.
    async fn all_pulls(&self, query: &str, limit: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut uri = format!("/api/v1/analytics/pulls?limit={limit}{query}");
            if let Some(c) = &cursor {
                uri.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&uri).await.expect(StatusCode::OK).json();
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
            assert!(out.len() < 10_000, "runaway pagination");
        }
    }
}

/// A minimal RFC 4180 reader: rows of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CR must start CRLF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && row.is_empty(),
        "the last line ends with CRLF"
    );
    rows
}

fn strs(v: &[Value], key: &str) -> Vec<String> {
    v.iter()
        .map(|e| e[key].as_str().unwrap_or("null").to_owned())
        .collect()
}

#[tokio::test]
async fn pulls_are_recorded_listed_filtered_paged_exported_and_aggregated() {
    let mut w = world(true).await;
    let (d1, _, layer) = w.push_image("acme/app", "1.0", b"layer one").await;
    let (d2, _, _) = w.push_image("acme/app", "2.0", b"layer two!").await;
    let a = w.customer("alpha", "customer_admin").await;
    let b = w.customer("beta", "customer_member").await;
    let c = w.customer("gamma", "customer_member").await;

    // alpha through a trusted proxy (twice), beta directly with a forged
    // header, a HEAD (not recorded), the vendor by digest.
    w.pull(
        Method::GET,
        "acme/app",
        "1.0",
        &a.token,
        "10.0.0.1:5000",
        Some("198.51.100.7, 203.0.113.9"),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    w.pull(
        Method::GET,
        "acme/app",
        "1.0",
        &a.token,
        "10.0.0.1:5000",
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    w.pull(
        Method::GET,
        "acme/app",
        "2.0",
        &b.token,
        "192.0.2.44:1234",
        Some("1.1.1.1"),
    )
    .await;
    w.pull(
        Method::HEAD,
        "acme/app",
        "1.0",
        &b.token,
        "192.0.2.44:1234",
        None,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    w.pull(
        Method::GET,
        "acme/app",
        &d2.to_string(),
        &w.va,
        "127.0.0.1:1",
        None,
    )
    .await;
    // alpha downloads a layer: its bytes are counted.
    let uri = format!("/v2/acme/app/blobs/{layer}");
    let blob = Req::new(Method::GET, &uri)
        .header("authorization", basic_auth(&a.token))
        .send(&w.svc)
        .await
        .expect(StatusCode::OK);
    assert_eq!(&blob.body[..], b"layer one");
    w.flush().await;

    // The log: newest first, every field.
    let all = w.all_pulls("", 100).await;
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(strs(&all, "tag"), ["null", "2.0", "1.0", "1.0"]);
    assert_eq!(
        strs(&all, "customer_id"),
        [
            "null".to_owned(),
            b.customer.clone(),
            a.customer.clone(),
            a.customer.clone()
        ]
    );
    assert_eq!(
        strs(&all, "ip"),
        ["127.0.0.1", "192.0.2.44", "10.0.0.1", "203.0.113.9"]
    );
    let first = &all[3];
    assert_eq!(first["digest"], d1.to_string());
    assert_eq!(first["index"], false);
    assert_eq!(first["user_id"], a.user.as_str());
    assert_eq!(first["token_id"], a.token_id.as_str());
    assert_eq!(first["user_agent"], "docker/27.0 (test)");
    assert_eq!(all[0]["digest"], d2.to_string());
    assert!(all[0]["user_id"].is_string() && all[0]["customer_id"].is_null());
    let times: Vec<i64> = all.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|t| t[0] >= t[1]), "{times:?}");

    // Pages of one give the same events in the same order.
    assert_eq!(w.all_pulls("", 1).await, all);
    assert_eq!(w.all_pulls("", 3).await, all);

    // Filters.
    let count = |q: String| {
        let w = &w;
        async move { w.all_pulls(&q, 100).await.len() }
    };
    assert_eq!(count(format!("&customer_id={}", a.customer)).await, 2);
    assert_eq!(count(format!("&user_id={}", b.user)).await, 1);
    assert_eq!(count("&tag=1.0".into()).await, 2);
    assert_eq!(count("&ip=203.0.113.9".into()).await, 1);
    assert_eq!(count("&ip=1.1.1.1".into()).await, 0, "forged XFF ignored");
    let art = w.get("/api/v1/artifacts").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(count(format!("&artifact_id={art}")).await, 4);
    assert_eq!(
        count(format!("&artifact_id={}", ArtifactId::new())).await,
        0
    );
    let t1 = all[2]["at"].as_i64().unwrap();
    assert_eq!(
        count(format!("&from={t1}")).await,
        all.iter()
            .filter(|e| e["at"].as_i64().unwrap() >= t1)
            .count()
    );
    assert_eq!(
        count(format!("&to={t1}")).await,
        all.iter()
            .filter(|e| e["at"].as_i64().unwrap() < t1)
            .count()
    );

    // The CSV export: a header and one row per event, same order.
    let csv = w
        .get("/api/v1/analytics/pulls.csv")
        .await
        .expect(StatusCode::OK);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let rows = parse_csv(std::str::from_utf8(&csv.body).unwrap());
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0][0], "id");
    assert_eq!(rows[0].len(), 14);
    assert!(rows.iter().all(|r| r.len() == 14));
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, strs(&all, "id"));
    assert_eq!(rows[4][4], "app");
    assert_eq!(rows[4][9], "alpha");
    assert_eq!(rows[4][13], "docker/27.0 (test)");
    let filtered = w
        .get(&format!(
            "/api/v1/analytics/pulls.csv?customer_id={}",
            b.customer
        ))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        parse_csv(std::str::from_utf8(&filtered.body).unwrap()).len(),
        2
    );

    // Per artifact.
    let aa = w
        .get(&format!("/api/v1/artifacts/{art}/analytics"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(
        aa["tags"],
        json!([
            { "tag": "1.0", "pulls": 2, "customers": 1 },
            { "tag": "2.0", "pulls": 1, "customers": 1 }
        ])
    );
    let customers = aa["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 2);
    assert_eq!(customers[0]["customer_id"], a.customer.as_str());
    assert_eq!(customers[0]["customer"], "alpha");
    assert_eq!(customers[0]["pulls"], 2);
    assert!(customers[0]["first_pull_at"].as_i64() < customers[0]["last_pull_at"].as_i64());
    assert_eq!(customers[1]["pulls"], 1);
    let bytes = aa["bytes_served"].as_array().unwrap();
    assert_eq!(bytes.len(), 1, "{bytes:?}");
    assert_eq!(bytes[0]["customer_id"], a.customer.as_str());
    assert_eq!(bytes[0]["bytes"], 9);

    // Per customer.
    let ca = w
        .get(&format!("/api/v1/customers/{}/analytics", a.customer))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(ca["pulls"].as_array().unwrap().len(), 1);
    assert_eq!(ca["pulls"][0]["artifact"], "app");
    assert_eq!(ca["pulls"][0]["reference"], "1.0");
    assert_eq!(ca["pulls"][0]["pulls"], 2);
    assert_eq!(ca["bytes_served"][0]["bytes"], 9);
    let cc = w
        .get(&format!("/api/v1/customers/{}/analytics", c.customer))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(cc["pulls"], json!([]));

    // Tag listing counts.
    let tags = w
        .get(&format!("/api/v1/artifacts/{art}/tags"))
        .await
        .expect(StatusCode::OK)
        .json();
    let counts: Vec<(String, u64)> = tags
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["pull_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, [("1.0".to_owned(), 2), ("2.0".to_owned(), 1)]);

    // Entitled customers who never pulled: gamma (alpha pulled; beta has
    // no entitlement).
    for cu in [&a, &c] {
        w.api(
            "POST",
            &format!("/api/v1/customers/{}/entitlements", cu.customer),
            &w.va,
            Some(json!({ "name": "e", "items": [{ "artifact_id": art, "tags": "all" }] })),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    for uri in [
        format!("/api/v1/analytics/unpulled?artifact_id={art}"),
        "/api/v1/analytics/unpulled".to_owned(),
    ] {
        let un = w.get(&uri).await.expect(StatusCode::OK).json();
        assert_eq!(strs(un["customers"].as_array().unwrap(), "name"), ["gamma"]);
    }
}

#[tokio::test]
async fn bad_filters_and_cursors_are_400_with_stable_codes() {
    let w = world(true).await;
    for (q, code) in [
        ("limit=0", "invalid_filter"),
        ("limit=1001", "invalid_filter"),
        ("limit=ten", "invalid_filter"),
        ("cursor=nope", "invalid_cursor"),
        ("cursor=12.not-a-uuid", "invalid_cursor"),
        ("tag=%2Fbad", "invalid_filter"),
        ("ip=300.1.1.1", "invalid_filter"),
        ("from=yesterday", "invalid_filter"),
        ("from=10&to=5", "invalid_filter"),
        ("customer_id=x", "invalid_filter"),
        ("customer=x", "invalid_filter"),
        ("tag=a&tag=b", "invalid_filter"),
    ] {
        w.get(&format!("/api/v1/analytics/pulls?{q}"))
            .await
            .expect_err(StatusCode::BAD_REQUEST, code);
    }
    w.get("/api/v1/analytics/pulls.csv?cursor=x")
        .await
        .expect_err(StatusCode::BAD_REQUEST, "invalid_filter");
    w.get("/api/v1/analytics/pulls.csv?ip=x")
        .await
        .expect_err(StatusCode::BAD_REQUEST, "invalid_filter");
    w.get("/api/v1/analytics/unpulled?artifact_id=x")
        .await
        .expect_err(StatusCode::BAD_REQUEST, "invalid_filter");
    w.get(&format!(
        "/api/v1/analytics/unpulled?artifact_id={}",
        ArtifactId::new()
    ))
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
    w.get("/api/v1/artifacts/x/analytics")
        .await
        .expect_err(StatusCode::BAD_REQUEST, "bad_request");
    w.get(&format!(
        "/api/v1/customers/{}/analytics",
        CustomerId::new()
    ))
    .await
    .expect_err(StatusCode::NOT_FOUND, "not_found");
    // An empty log is a page without a cursor, and a CSV with its header.
    let page = w
        .get("/api/v1/analytics/pulls")
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(page, json!({ "items": [], "next_cursor": null }));
    let csv = w
        .get("/api/v1/analytics/pulls.csv")
        .await
        .expect(StatusCode::OK);
    assert_eq!(parse_csv(std::str::from_utf8(&csv.body).unwrap()).len(), 1);
}

#[tokio::test]
async fn customer_users_and_other_vendors_see_no_analytics() {
    let mut w = world(true).await;
    w.push_image("acme/app", "1.0", b"l").await;
    let a = w.customer("alpha", "customer_admin").await;
    let m = w.customer("beta", "customer_member").await;
    w.pull(Method::GET, "acme/app", "1.0", &a.token, "10.9.9.9:1", None)
        .await;
    w.flush().await;
    let art = w.get("/api/v1/artifacts").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uris = [
        "/api/v1/analytics/pulls".to_owned(),
        "/api/v1/analytics/pulls.csv".to_owned(),
        "/api/v1/analytics/unpulled".to_owned(),
        format!("/api/v1/artifacts/{art}/analytics"),
        format!("/api/v1/customers/{}/analytics", a.customer),
    ];
    for token in [&a.token, &m.token] {
        for uri in &uris {
            w.api("GET", uri, token, None)
                .await
                .expect_err(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    for uri in &uris {
        w.api("GET", uri, "distr_nope", None)
            .await
            .expect_err(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Another vendor: acme's objects do not exist, its log is empty.
    for uri in &uris[3..] {
        w.api("GET", uri, &w.gva, None)
            .await
            .expect_err(StatusCode::NOT_FOUND, "not_found");
    }
    let page = w
        .api("GET", "/api/v1/analytics/pulls", &w.gva, None)
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(page["items"], json!([]));
    let page = w
        .api(
            "GET",
            &format!("/api/v1/analytics/pulls?artifact_id={art}"),
            &w.gva,
            None,
        )
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(page["items"], json!([]));
    assert_eq!(w.all_pulls("", 10).await.len(), 1);
}

#[tokio::test]
async fn a_multi_platform_pull_is_one_pull_of_its_tag() {
    let mut w = world(true).await;
    let (child, size, _) = w.push_image("acme/app", "amd64", b"x").await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{child}","size":{size},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
    );
    let idx = w.put_manifest("acme/app", "1.0", INDEX, &index).await;
    let a = w.customer("alpha", "customer_member").await;
    // docker: the index by tag, then the platform manifest by digest.
    w.pull(Method::GET, "acme/app", "1.0", &a.token, "10.1.1.1:1", None)
        .await;
    w.pull(
        Method::GET,
        "acme/app",
        &child.to_string(),
        &a.token,
        "10.1.1.1:1",
        None,
    )
    .await;
    w.flush().await;
    let all = w.all_pulls("", 100).await;
    assert_eq!(all.len(), 2, "every GET is in the log");
    let first = all.iter().find(|e| e["tag"] == "1.0").unwrap();
    assert_eq!(first["index"], true);
    assert_eq!(first["digest"], idx.to_string());
    let second = all.iter().find(|e| e["tag"].is_null()).unwrap();
    assert_eq!(second["index"], false);
    let art = w.get("/api/v1/artifacts").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let aa = w
        .get(&format!("/api/v1/artifacts/{art}/analytics"))
        .await
        .json();
    assert_eq!(
        aa["tags"],
        json!([{ "tag": "1.0", "pulls": 1, "customers": 1 }])
    );
    assert_eq!(aa["customers"][0]["pulls"], 1);
    let ca = w
        .get(&format!("/api/v1/customers/{}/analytics", a.customer))
        .await
        .json();
    assert_eq!(ca["pulls"].as_array().unwrap().len(), 1, "{ca}");
}

#[tokio::test]
async fn without_analytics_nothing_is_recorded_and_the_endpoints_say_so() {
    let w = world(false).await;
    w.push_image("acme/app", "1.0", b"l").await;
    w.pull(Method::GET, "acme/app", "1.0", &w.va, "10.0.0.1:1", None)
        .await;
    for uri in [
        "/api/v1/analytics/pulls",
        "/api/v1/analytics/pulls.csv",
        "/api/v1/analytics/unpulled",
    ] {
        w.get(uri)
            .await
            .expect_err(StatusCode::NOT_FOUND, "analytics_disabled");
    }
    let art = w.get("/api/v1/artifacts").await.json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tags = w
        .get(&format!("/api/v1/artifacts/{art}/tags"))
        .await
        .expect(StatusCode::OK)
        .json();
    assert_eq!(tags[0]["pull_count"], 0);
}

#[tokio::test]
async fn tags_list_of_an_artifact_without_tags_is_an_empty_list() {
    for analytics in [true, false] {
        let w = world(analytics).await;
        w.api(
            "POST",
            "/api/v1/artifacts",
            &w.va,
            Some(json!({ "name": "fresh" })),
        )
        .await
        .expect(StatusCode::CREATED);
        let a = w.customer("alpha", "customer_member").await;
        for token in [&w.va, &a.token] {
            let r = Req::new(Method::GET, "/v2/acme/fresh/tags/list")
                .header("authorization", basic_auth(token))
                .send(&w.svc)
                .await
                .expect(StatusCode::OK);
            assert_eq!(r.json(), json!({ "name": "acme/fresh", "tags": [] }));
        }
        // Unknown artifacts, and other vendors' ones, stay unknown.
        for (uri, token) in [
            ("/v2/acme/nothing/tags/list", &w.va),
            ("/v2/acme/fresh/tags/list", &w.gva),
        ] {
            let r = Req::new(Method::GET, uri)
                .header("authorization", basic_auth(token))
                .send(&w.svc)
                .await
                .expect(StatusCode::NOT_FOUND);
            assert_eq!(r.json()["errors"][0]["code"], "NAME_UNKNOWN");
        }
        drop(w.store);
        let _ = w.acme;
    }
}
