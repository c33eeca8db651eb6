//! Request limits through the tower service: the blob size limit (declared
//! and streamed), request rates per token and per address, and concurrent
//! uploads per token.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use distr_core::access::*;
use distr_core::store::{MemoryStore, MetadataStore};
use distr_core::{BlobStore, Digest, Registry, RegistryConfig};
use distr_hyper::{
    AccessControl, BoxError, ClientAddr, DistrService, ForwardedHeader, ManagementApi, Rate,
    RequestLimits, TrustedProxies,
};
use distr_test_support::access::vendor_admin;
use distr_test_support::auth::basic_auth;
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tower::ServiceExt;

type Resp = (StatusCode, http::HeaderMap, serde_json::Value);

struct World {
    svc: DistrService,
    registry: Arc<Registry>,
    a: String,
    b: String,
}

/// acme with two vendor admin tokens, a 1000-byte blob limit and `limits`.
async fn world(limits: RequestLimits) -> World {
    let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
    let access = Arc::new(MemoryAccessStore::new());
    let registry = Arc::new(Registry::new(
        meta.clone(),
        BlobStore::in_memory(),
        RegistryConfig::default().with_max_blob_size(Some(1000)),
    ));
    let acme = Org {
        id: OrgId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at_ms: 0,
    };
    access.create_org(&acme).await.unwrap();
    let a = vendor_admin(access.as_ref(), &acme).await;
    let b = vendor_admin(access.as_ref(), &acme).await;
    let authn = Arc::new(TokenAuthenticator::new(access.clone()));
    let control = AccessControl::new(Policy::new(access.clone(), meta.clone()), authn.clone());
    let api = ManagementApi::new(access.clone(), meta, authn);
    let svc = DistrService::new(registry.clone())
        .with_access_control(control)
        .with_management_api(api)
        .with_limits(limits);
    World {
        svc,
        registry,
        a,
        b,
    }
}

fn request<B>(
    method: Method,
    uri: &str,
    token: Option<&str>,
    peer: &str,
    headers: &[(&str, String)],
    body: B,
) -> Request<B> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", basic_auth(t));
    }
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let mut req = req.body(body).unwrap();
    let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ClientAddr(addr));
    req
}

async fn call<B>(svc: &DistrService, req: Request<B>) -> Resp
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let resp = svc.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

async fn get(svc: &DistrService, uri: &str, token: Option<&str>, peer: &str) -> Resp {
    call(
        svc,
        request(Method::GET, uri, token, peer, &[], Full::new(Bytes::new())),
    )
    .await
}

/// A body of `chunks`, without a declared length.
fn streamed(
    chunks: Vec<Bytes>,
) -> StreamBody<impl futures::Stream<Item = Result<Frame<Bytes>, std::io::Error>>> {
    StreamBody::new(futures::stream::iter(
        chunks.into_iter().map(|c| Ok(Frame::data(c))),
    ))
}

async fn start_upload(w: &World, token: &str) -> String {
    let (s, h, _) = call(
        &w.svc,
        request(
            Method::POST,
            "/v2/acme/app/blobs/uploads/",
            Some(token),
            "10.0.0.1",
            &[],
            Full::new(Bytes::new()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    h["location"].to_str().unwrap().to_owned()
}

fn assert_size_invalid(resp: &Resp) {
    assert_eq!(resp.0, StatusCode::PAYLOAD_TOO_LARGE, "{:?}", resp.2);
    assert_eq!(resp.2["errors"][0]["code"], "SIZE_INVALID", "{:?}", resp.2);
    assert_eq!(resp.2["errors"][0]["detail"]["limit"], 1000);
}

#[tokio::test]
async fn blobs_over_the_size_limit_are_413_declared_or_streamed() {
    let w = world(RequestLimits::default()).await;
    let big = Bytes::from(vec![7u8; 1001]);
    let digest = Digest::sha256(&big);
    // Monolithic, declared: refused before the body is read.
    let resp = call(
        &w.svc,
        request(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={digest}"),
            Some(&w.a),
            "10.0.0.1",
            &[("content-length", "1001".into())],
            Full::new(big.clone()),
        ),
    )
    .await;
    assert_size_invalid(&resp);
    // Monolithic, streamed without a length.
    let resp = call(
        &w.svc,
        request(
            Method::POST,
            &format!("/v2/acme/app/blobs/uploads/?digest={digest}"),
            Some(&w.a),
            "10.0.0.1",
            &[],
            streamed(vec![big.slice(..600), big.slice(600..)]),
        ),
    )
    .await;
    assert_size_invalid(&resp);
    assert!(!w.registry.blobs().exists(&digest).await.unwrap());

    // Chunked: 600 bytes stored, then a 401-byte chunk, declared by
    // Content-Range, by Content-Length, or streamed, is refused and the
    // session stays at 600 bytes.
    let loc = start_upload(&w, &w.a).await;
    let resp = call(
        &w.svc,
        request(
            Method::PATCH,
            &loc,
            Some(&w.a),
            "10.0.0.1",
            &[],
            streamed(vec![big.slice(..600)]),
        ),
    )
    .await;
    assert_eq!(resp.0, StatusCode::ACCEPTED);
    let rest = big.slice(600..);
    for headers in [
        vec![("content-range", "600-1000".to_owned())],
        vec![("content-length", "401".to_owned())],
        vec![],
    ] {
        let resp = call(
            &w.svc,
            request(
                Method::PATCH,
                &loc,
                Some(&w.a),
                "10.0.0.1",
                &headers,
                streamed(vec![rest.slice(..200), rest.slice(200..)]),
            ),
        )
        .await;
        assert_size_invalid(&resp);
        let (s, h, _) = get(&w.svc, &loc, Some(&w.a), "10.0.0.1").await;
        assert_eq!(
            (s, h["range"].to_str().unwrap()),
            (StatusCode::NO_CONTENT, "0-599")
        );
    }
    // The final PUT with too much data is refused too, and the session
    // stays open.
    let resp = call(
        &w.svc,
        request(
            Method::PUT,
            &format!("{loc}?digest={digest}"),
            Some(&w.a),
            "10.0.0.1",
            &[],
            streamed(vec![rest.clone()]),
        ),
    )
    .await;
    assert_size_invalid(&resp);
    assert!(!w.registry.blobs().exists(&digest).await.unwrap());
    // Exactly the limit is fine.
    let ok = big.slice(..1000);
    let ok_digest = Digest::sha256(&ok);
    let resp = call(
        &w.svc,
        request(
            Method::PUT,
            &format!("{loc}?digest={ok_digest}"),
            Some(&w.a),
            "10.0.0.1",
            &[],
            streamed(vec![ok.slice(600..)]),
        ),
    )
    .await;
    assert_eq!(resp.0, StatusCode::CREATED, "{:?}", resp.2);
}

#[tokio::test]
async fn each_token_has_its_own_rate() {
    let w = world(RequestLimits::default().with_token_rate(Rate::new(0.01, 3))).await;
    for _ in 0..3 {
        assert_eq!(
            get(&w.svc, "/v2/", Some(&w.a), "10.0.0.1").await.0,
            StatusCode::OK
        );
    }
    let (s, h, v) = get(&w.svc, "/v2/", Some(&w.a), "10.0.0.2").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    // The management API answers with its own error shape, same token.
    let (s, h, v) = call(
        &w.svc,
        request(
            Method::GET,
            "/api/v1/me",
            None,
            "10.0.0.3",
            &[("authorization", format!("Bearer {}", w.a))],
            Full::new(Bytes::new()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    assert_eq!(v["error"]["code"], "rate_limited");
    // Another token, and requests without a token, are not affected.
    assert_eq!(
        get(&w.svc, "/v2/", Some(&w.b), "10.0.0.1").await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&w.svc, "/v2/", None, "10.0.0.1").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn each_address_has_its_own_rate_behind_trusted_proxies() {
    let w = world(
        RequestLimits::default()
            .with_ip_rate(Rate::new(0.01, 2))
            .with_trusted_proxies("10.9.0.0/16".parse().unwrap()),
    )
    .await;
    let via_proxy = |client: &str| {
        request(
            Method::GET,
            "/v2/",
            Some(&w.a),
            "10.9.0.1",
            &[("x-forwarded-for", client.to_owned())],
            Full::new(Bytes::new()),
        )
    };
    for _ in 0..2 {
        assert_eq!(call(&w.svc, via_proxy("1.1.1.1")).await.0, StatusCode::OK);
    }
    let (s, h, v) = call(&w.svc, via_proxy("1.1.1.1")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    // Another client behind the same proxy, with the same token, is not.
    assert_eq!(call(&w.svc, via_proxy("2.2.2.2")).await.0, StatusCode::OK);
    // Unauthenticated requests count too.
    assert_eq!(
        get(&w.svc, "/v2/", None, "3.3.3.3").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&w.svc, "/v2/", None, "3.3.3.3").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&w.svc, "/v2/", None, "3.3.3.3").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn proxies_that_write_the_forwarded_header_are_followed_too() {
    let proxies = "10.9.0.0/16"
        .parse::<TrustedProxies>()
        .unwrap()
        .with_header(ForwardedHeader::Forwarded);
    let w = world(
        RequestLimits::default()
            .with_ip_rate(Rate::new(0.01, 2))
            .with_trusted_proxies(proxies),
    )
    .await;
    let via_proxy = |headers: &[(&str, &str)]| {
        let headers: Vec<(&str, String)> =
            headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        request(
            Method::GET,
            "/v2/",
            Some(&w.a),
            "10.9.0.1",
            &headers,
            Full::new(Bytes::new()),
        )
    };
    let client = [("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")];
    for _ in 0..2 {
        assert_eq!(call(&w.svc, via_proxy(&client)).await.0, StatusCode::OK);
    }
    assert_eq!(
        call(&w.svc, via_proxy(&client)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client of that proxy has its own rate; an X-Forwarded-For the
    // client wrote (this proxy does not) changes nothing.
    let other = [
        ("forwarded", "for=192.0.2.60"),
        ("x-forwarded-for", "2001:db8::7"),
    ];
    assert_eq!(call(&w.svc, via_proxy(&other)).await.0, StatusCode::OK);
    assert_eq!(call(&w.svc, via_proxy(&other)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_uploads_per_token_are_capped() {
    let w = world(RequestLimits::default().with_max_uploads_per_token(1)).await;
    let loc = start_upload(&w, &w.a).await;
    // An upload whose body keeps coming until we say so.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (more_tx, more_rx) = tokio::sync::mpsc::channel::<Bytes>(1);
    let mut started_tx = Some(started_tx);
    let first = futures::stream::once(async { Bytes::from_static(b"abc") })
        .chain(futures::stream::unfold(more_rx, |mut rx| async move {
            rx.recv().await.map(|b| (b, rx))
        }))
        .map(move |b| {
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
            Ok::<_, std::io::Error>(Frame::data(b))
        });
    let svc = w.svc.clone();
    let a = w.a.clone();
    let loc2 = loc.clone();
    let in_flight = tokio::spawn(async move {
        call(
            &svc,
            request(
                Method::PATCH,
                &loc2,
                Some(&a),
                "10.0.0.1",
                &[],
                StreamBody::new(first),
            ),
        )
        .await
    });
    started_rx.await.unwrap();
    // The same token, even from another address, must wait.
    let (s, h, v) = call(
        &w.svc,
        request(
            Method::POST,
            "/v2/acme/app/blobs/uploads/",
            Some(&w.a),
            "10.0.0.2",
            &[],
            Full::new(Bytes::new()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(v["errors"][0]["code"], "TOOMANYREQUESTS");
    // Reads are not uploads; another token may upload.
    assert_eq!(
        get(&w.svc, &loc, Some(&w.a), "10.0.0.1").await.0,
        StatusCode::NO_CONTENT
    );
    start_upload(&w, &w.b).await;
    // When the first upload ends, the token may upload again.
    more_tx.send(Bytes::from_static(b"def")).await.unwrap();
    drop(more_tx);
    let (s, h, _) = in_flight.await.unwrap();
    assert_eq!(
        (s, h["range"].to_str().unwrap()),
        (StatusCode::ACCEPTED, "0-5")
    );
    start_upload(&w, &w.a).await;
}

#[tokio::test]
async fn failed_authentications_lock_out_the_forwarded_client_not_the_proxy() {
    let w =
        world(RequestLimits::default().with_trusted_proxies("10.9.0.0/16".parse().unwrap())).await;
    let via_proxy = |client: &str, token: &str| {
        request(
            Method::GET,
            "/v2/",
            Some(token),
            "10.9.0.1",
            &[("x-forwarded-for", client.to_owned())],
            Full::new(Bytes::new()),
        )
    };
    // 21 guesses from one client behind the proxy: the last are refused.
    let mut statuses = Vec::new();
    for _ in 0..21 {
        statuses.push(
            call(&w.svc, via_proxy("198.51.100.1", "distr_guess"))
                .await
                .0,
        );
    }
    assert!(statuses[..20]
        .iter()
        .all(|s| *s == StatusCode::UNAUTHORIZED));
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not locked out...
    assert_eq!(
        call(&w.svc, via_proxy("198.51.100.2", "distr_guess"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&w.svc, via_proxy("198.51.100.2", &w.a)).await.0,
        StatusCode::OK
    );
    // ...and a valid token is accepted even from the locked-out client.
    assert_eq!(
        call(&w.svc, via_proxy("198.51.100.1", &w.a)).await.0,
        StatusCode::OK
    );
}
