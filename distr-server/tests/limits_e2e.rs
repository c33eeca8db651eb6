//! The limits of a real `distr-server` process, with short timeouts set
//! through its environment: slow-header clients are disconnected, oversized
//! header blocks refused, a stalled upload body aborted with the upload
//! session intact and no partial blob, and request rates answered with 429
//! and `Retry-After`.
//!
//! Durations are never asserted to be short: only that a disconnect
//! happens within a generous bound.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// Far more than any timeout configured here: a disconnect must come
/// before it.
const GENEROUS: Duration = Duration::from_secs(20);

/// A connection to `server` that waits up to [`GENEROUS`] for data.
fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(GENEROUS)).unwrap();
    s
}

/// Everything the server sends until it closes the connection; fails when
/// it keeps the connection open for [`GENEROUS`].
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!(
                "the server kept the connection open ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[test]
fn slow_and_oversized_headers_are_cut_off() {
    let server = Server::start_with_env(&[
        ("DISTR_HEADER_READ_TIMEOUT_SECS", "1"),
        ("DISTR_MAX_HEADER_BYTES", "16384"),
    ]);

    // Slowloris: half a header block, then nothing.
    let mut s = connect(&server);
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: distr\r\nX-Slow: a")
        .unwrap();
    let got = read_until_closed(&mut s);
    assert!(
        got.is_empty() || got.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // A connection that never sends a byte is closed too, and so is one
    // that stalls before the server could even tell HTTP/1 from HTTP/2.
    let mut s = connect(&server);
    read_until_closed(&mut s);
    let mut s = connect(&server);
    s.write_all(b"GET /v2/ HT").unwrap();
    read_until_closed(&mut s);
    // A keep-alive connection idle after a request is closed too.
    let mut s = connect(&server);
    s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: distr\r\n\r\n")
        .unwrap();
    let got = read_until_closed(&mut s);
    assert!(
        got.starts_with(b"HTTP/1.1 401"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // A header block over the limit: 431, and the connection is closed.
    let mut s = connect(&server);
    let big = format!(
        "GET /v2/ HTTP/1.1\r\nHost: distr\r\nX-Big: {}\r\n\r\n",
        "a".repeat(32 * 1024)
    );
    // The server may stop reading before everything is written.
    let _ = s.write_all(big.as_bytes());
    let got = read_until_closed(&mut s);
    assert!(
        got.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );

    // Headers under the limit, sent promptly, are served.
    let mut s = connect(&server);
    let ok = format!(
        "GET /v2/ HTTP/1.1\r\nHost: distr\r\nX-Fine: {}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(8 * 1024),
        basic_auth(TEST_TOKEN)
    );
    s.write_all(ok.as_bytes()).unwrap();
    let got = read_until_closed(&mut s);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_aborted_and_the_session_stays_resumable() {
    let server = Server::start_with_env(&[("DISTR_BODY_IDLE_TIMEOUT_SECS", "1")]);
    let auth = basic_auth(TEST_TOKEN);
    let http = client();
    let data = pseudo_random_bytes(7, 3000);
    let digest = sha256_digest(&data);

    // A session with the first 1000 bytes.
    let resp = http
        .post(format!("{}/v2/acme/app/blobs/uploads/", server.base_url()))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let location = header(&resp, "location").unwrap();
    let upload = format!("{}{location}", server.base_url());
    let resp = http
        .patch(&upload)
        .header("authorization", &auth)
        .header("content-range", "0-999")
        .body(data[..1000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);

    // The next chunk promises 1000 bytes, sends 10 and stalls.
    let addr = server.addr();
    let (auth2, location2, chunk) = (auth.clone(), location.clone(), data[1000..1010].to_vec());
    let got = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(GENEROUS)).unwrap();
        let head = format!(
            "PATCH {location2} HTTP/1.1\r\nHost: distr\r\nAuthorization: {auth2}\r\n\
             Content-Range: 1000-1999\r\nContent-Length: 1000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&chunk).unwrap();
        read_until_closed(&mut s)
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("BLOB_UPLOAD_INVALID"), "{text}");
    assert!(text.contains("no request body data received"), "{text}");
    assert!(server.log().contains("request body idle too long"));

    // The session still holds exactly the first chunk; the upload resumes.
    let resp = http
        .get(&upload)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(header(&resp, "range").as_deref(), Some("0-999"));
    let resp = http
        .put(with_query(&upload, "digest", &digest))
        .header("authorization", &auth)
        .header("content-range", "1000-2999")
        .body(data[1000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let blob = http
        .get(format!("{}/v2/acme/app/blobs/{digest}", server.base_url()))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(blob.bytes().await.unwrap().as_ref(), &data[..]);

    // A stalled monolithic upload leaves no blob behind.
    let other = pseudo_random_bytes(8, 2000);
    let other_digest = sha256_digest(&other);
    let auth3 = auth.clone();
    let digest3 = other_digest.clone();
    let got = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(GENEROUS)).unwrap();
        let head = format!(
            "POST /v2/acme/app/blobs/uploads/?digest={digest3} HTTP/1.1\r\nHost: distr\r\n\
             Authorization: {auth3}\r\nContent-Length: 2000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&other[..500]).unwrap();
        read_until_closed(&mut s)
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    let resp = http
        .head(format!(
            "{}/v2/acme/app/blobs/{other_digest}",
            server.base_url()
        ))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_rates_get_429_with_retry_after() {
    // 0.01 a second: nothing refills during the test.
    let server = Server::start_with_env(&[
        ("DISTR_RATE_LIMIT_PER_TOKEN", "0.01"),
        ("DISTR_RATE_LIMIT_PER_TOKEN_BURST", "5"),
        ("DISTR_RATE_LIMIT_PER_IP", "0.01"),
        ("DISTR_RATE_LIMIT_PER_IP_BURST", "20"),
    ]);
    let http = client();
    let v2 = format!("{}/v2/", server.base_url());
    for _ in 0..5 {
        let resp = http
            .get(&v2)
            .header("authorization", basic_auth(TEST_TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = http
        .get(&v2)
        .header("authorization", basic_auth(TEST_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = header(&resp, "retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOOMANYREQUESTS");

    // The management API, same token: its own error shape.
    let resp = http
        .get(format!("{}/api/v1/me", server.base_url()))
        .header("authorization", format!("Bearer {TEST_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(header(&resp, "retry-after").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // The address: 7 requests spent, 13 left of its burst of 20, then 429
    // (without any token).
    let mut statuses = Vec::new();
    for _ in 0..14 {
        statuses.push(http.get(&v2).send().await.unwrap().status().as_u16());
    }
    assert!(statuses[..13].iter().all(|&s| s == 401), "{statuses:?}");
    assert_eq!(statuses[13], 429, "{statuses:?}");
}
