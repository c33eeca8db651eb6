//! The per-upstream-host request cap of [`OciConnector`]: a counting
//! registry stand-in on loopback sees at most N requests at once, however
//! many artifacts mirror it and however many pulls run; requests over the
//! cap wait and then succeed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use distr_core::access::ArtifactUpstream;
use distr_core::pullthrough::UpstreamConnector;
use distr_core::upstream::{Upstream, UpstreamAuth};
use distr_core::Reference;
use distr_test_support::upstream::loopback_egress;
use distr_upstream_oci::OciConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Requests in flight now and the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
    served: AtomicUsize,
}

/// Answers every request with `404` after holding it for a while, counting
/// the requests it holds at once.
async fn counting_registry() -> (String, Arc<Gauge>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let gauge = Arc::new(Gauge::default());
    let g = gauge.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(serve_connection(stream, g.clone()));
        }
    });
    (addr, gauge)
}

async fn serve_connection(mut stream: TcpStream, gauge: Arc<Gauge>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request head (HEAD requests have no body).
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        buf.drain(..end);
        let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
        gauge.peak.fetch_max(now, Ordering::SeqCst);
        // Long enough for every client request to be waiting meanwhile.
        tokio::time::sleep(Duration::from_millis(150)).await;
        gauge.now.fetch_sub(1, Ordering::SeqCst);
        gauge.served.fetch_add(1, Ordering::SeqCst);
        let resp = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(resp).await.is_err() {
            return;
        }
    }
}

fn artifact(addr: &str, repo: &str) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: format!("{addr}/{repo}").parse().unwrap(),
        auth: UpstreamAuth::None,
        insecure: true,
    }
}

/// Runs 12 manifest HEADs, over two artifacts of the same host, at once.
async fn twelve_at_once(connector: &OciConnector, addr: &str) {
    let a = connector.connect(&artifact(addr, "team/a")).unwrap();
    let b = connector.connect(&artifact(addr, "team/b")).unwrap();
    let reference: Reference = "latest".parse().unwrap();
    let calls = (0..12).map(|i| {
        let up = if i % 2 == 0 { a.clone() } else { b.clone() };
        let reference = reference.clone();
        tokio::spawn(async move { up.head_manifest(&reference).await })
    });
    for call in futures::future::join_all(calls).await {
        assert_eq!(call.unwrap().expect("waits, then succeeds"), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_n_requests_per_upstream_host() {
    let (addr, gauge) = counting_registry().await;
    let connector = OciConnector::new()
        .unwrap()
        .with_egress_policy(loopback_egress())
        .with_response_timeout(Duration::from_secs(30))
        .with_max_requests_per_host(2);
    twelve_at_once(&connector, &addr).await;
    assert_eq!(gauge.served.load(Ordering::SeqCst), 12);
    assert_eq!(
        gauge.peak.load(Ordering::SeqCst),
        2,
        "the cap is reached and never exceeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cap_requests_run_side_by_side() {
    // The control: the stand-in does see concurrency when nothing caps it.
    let (addr, gauge) = counting_registry().await;
    let connector = OciConnector::new()
        .unwrap()
        .with_egress_policy(loopback_egress())
        .with_max_requests_per_host(0);
    twelve_at_once(&connector, &addr).await;
    assert!(gauge.peak.load(Ordering::SeqCst) > 2);
}
