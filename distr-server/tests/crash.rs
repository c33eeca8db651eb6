//! Crash consistency: a `kill -9` in the middle of uploads leaves no visible
//! partial blob, and what was committed before the crash is intact.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_leaves_no_partial_blob_and_keeps_open_sessions() {
    let mut server = Server::start();
    let reg = server.registry();
    let committed = reg
        .push_blob("acme/app", b"committed before the crash")
        .await;

    // A chunked session with one chunk stored before the crash.
    let first = pseudo_random_bytes(7, 1024 * 1024);
    let second = pseudo_random_bytes(8, 512 * 1024);
    let location = reg.start_upload("acme/app").await;
    let client = reg.client.clone();
    let patch = client
        .patch(reg.url(&location))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("0-{}", first.len() - 1))
        .body(first.clone())
        .send()
        .await
        .expect("PATCH");
    assert_eq!(patch.status(), 202);
    let location = header(&patch, "location").expect("Location");

    // A monolithic upload whose body stalls half way (past the first 8 MiB
    // multipart part, so bytes reach the disk): the server is killed while
    // it is writing the blob.
    let blob = pseudo_random_bytes(9, 24 * 1024 * 1024);
    let digest = sha256_digest(&blob);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_stream(rx));
    let url = reg.url(&format!("/v2/acme/app/blobs/uploads/?digest={digest}"));
    let stalled = tokio::spawn(async move {
        client
            .post(url)
            .header("content-length", blob.len().to_string())
            .body(body)
            .send()
            .await
    });
    tx.send(Ok(pseudo_random_bytes(9, 24 * 1024 * 1024)
        [..12 * 1024 * 1024]
        .to_vec()))
        .await
        .unwrap();
    // Wait until the server is demonstrably mid-write: a staging file for
    // the blob exists next to where the blob will be committed.
    let hex = digest.trim_start_matches("sha256:").to_owned();
    let blob_dir = server
        .data_dir()
        .join("blobs")
        .join("sha256")
        .join(&hex[..2]);
    let mut staged = false;
    for _ in 0..100 {
        staged = std::fs::read_dir(&blob_dir)
            .map(|d| d.count() > 0)
            .unwrap_or(false);
        if staged {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        staged,
        "the upload never started writing under {}",
        blob_dir.display()
    );

    server.crash_and_restart();
    drop(tx);
    let _ = stalled.await;
    let reg = server.registry();

    // Nothing of the half-written blob is visible, through the API or on disk.
    assert_eq!(
        reg.head(&format!("/v2/acme/app/blobs/{digest}"))
            .await
            .status(),
        404
    );
    let on_disk = blob_dir.join(&hex);
    assert!(
        !on_disk.exists(),
        "a partial blob file is visible at {}",
        on_disk.display()
    );

    // What was committed is intact.
    assert_eq!(
        reg.get_blob("acme/app", &committed).await,
        b"committed before the crash"
    );

    // The chunked session survived and can be completed.
    let status = reg.get(&location).await;
    assert_eq!(status.status(), 204);
    assert_eq!(
        header(&status, "range").as_deref(),
        Some(format!("0-{}", first.len() - 1).as_str())
    );
    let whole: Vec<u8> = [first.as_slice(), second.as_slice()].concat();
    let whole_digest = sha256_digest(&whole);
    let put = reg
        .client
        .put(with_query(&reg.url(&location), "digest", &whole_digest))
        .header("content-type", "application/octet-stream")
        .body(second)
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 201, "{:?}", put.text().await);
    assert_eq!(reg.get_blob("acme/app", &whole_digest).await, whole);
}

/// A body stream fed by a channel, so the test decides when bytes flow.
fn futures_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
