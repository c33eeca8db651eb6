use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt;

use super::*;
use crate::reference::Reference;
use crate::upstream::{
    ManifestHead, Missing, TagPage, Upstream, UpstreamBlob, UpstreamManifest, UpstreamRef,
    UpstreamResult,
};

/// How the fake upstream misbehaves.
#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// The body fails after this many bytes.
    BreakAfter(usize),
    /// The last byte is flipped.
    WrongBytes,
    /// The blob does not exist.
    Missing,
}

/// An upstream serving one blob in chunks, counting `get_blob` calls; the
/// first `faulty_calls` calls get `fault`.
#[derive(Debug)]
struct FakeUpstream {
    target: UpstreamRef,
    data: Bytes,
    chunk: usize,
    delay: Duration,
    fault: Fault,
    faulty_calls: usize,
    calls: AtomicUsize,
    /// When set, bodies send nothing until it turns true.
    gate: Option<watch::Receiver<bool>>,
}

impl FakeUpstream {
    fn new(data: Bytes) -> Self {
        Self {
            target: "example.com/fake/repo".parse().unwrap(),
            data,
            chunk: 256 * 1024,
            delay: Duration::from_millis(1),
            fault: Fault::None,
            faulty_calls: 0,
            calls: AtomicUsize::new(0),
            gate: None,
        }
    }

    fn gated(mut self, gate: watch::Receiver<bool>) -> Self {
        self.gate = Some(gate);
        self
    }

    fn failing(mut self, fault: Fault, calls: usize) -> Self {
        self.fault = fault;
        self.faulty_calls = calls;
        self
    }

    fn chunked(mut self, chunk: usize, delay: Duration) -> Self {
        self.chunk = chunk;
        self.delay = delay;
        self
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Upstream for FakeUpstream {
    fn target(&self) -> &UpstreamRef {
        &self.target
    }
    async fn list_tags(&self, _: Option<&str>, _: Option<u32>) -> UpstreamResult<TagPage> {
        Err(UpstreamError::Unsupported("fake".into()))
    }
    async fn head_manifest(&self, _: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        Err(UpstreamError::Unsupported("fake".into()))
    }
    async fn get_manifest(&self, _: &Reference) -> UpstreamResult<UpstreamManifest> {
        Err(UpstreamError::Unsupported("fake".into()))
    }
    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        assert!(range.is_none(), "fills fetch whole blobs");
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = if call < self.faulty_calls {
            self.fault
        } else {
            Fault::None
        };
        let mut data = self.data.to_vec();
        let mut break_at = None;
        match fault {
            Fault::None => {}
            Fault::BreakAfter(n) => break_at = Some(n),
            Fault::WrongBytes => {
                if let Some(last) = data.last_mut() {
                    *last ^= 0xff;
                }
            }
            Fault::Missing => return Err(UpstreamError::NotFound(Missing::Blob(digest.clone()))),
        }
        let size = data.len() as u64;
        let data = Bytes::from(data);
        let (chunk, delay) = (self.chunk, self.delay);
        let gate = self.gate.clone();
        let body = futures::stream::unfold(0usize, move |at| {
            let data = data.clone();
            let mut gate = gate.clone();
            async move {
                if at >= data.len() {
                    return None;
                }
                if let Some(gate) = gate.as_mut() {
                    let _ = gate.wait_for(|open| *open).await;
                }
                tokio::time::sleep(delay).await;
                if break_at.is_some_and(|n| at >= n) {
                    let e = io::Error::new(io::ErrorKind::ConnectionReset, "upstream went away");
                    return Some((Err(e), usize::MAX));
                }
                let end = (at + chunk).min(data.len());
                Some((Ok(data.slice(at..end)), end))
            }
        })
        .boxed();
        Ok(UpstreamBlob {
            size: Some(size),
            total_size: Some(size),
            body,
        })
    }
    async fn check_access(&self) -> UpstreamResult<()> {
        Ok(())
    }
}

fn blob(len: usize) -> (Bytes, Digest) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 13) as u8)
        .collect();
    let digest = Digest::sha256(&data);
    (Bytes::from(data), digest)
}

async fn read_all(read: FillRead) -> io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = read.body.try_collect().await?;
    Ok(chunks.concat())
}

/// Waits (bounded) until the filler has no fill in flight.
async fn settled(filler: &BlobFiller) {
    for _ in 0..2000 {
        if filler.in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("fill did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let (data, digest) = blob(8 * 1024 * 1024);
    // The body is held back until all 32 callers are attached, so none can
    // arrive after the fill completed.
    let (open, gate) = watch::channel(false);
    let fake = Arc::new(FakeUpstream::new(data.clone()).gated(gate));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let attached = Arc::new(tokio::sync::Barrier::new(33));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (filler, fake, digest) = (filler.clone(), fake.clone(), digest.clone());
            let attached = attached.clone();
            tokio::spawn(async move {
                let read = filler.serve(fake, &digest).await.unwrap();
                attached.wait().await;
                assert_eq!(read.size, Some(8 * 1024 * 1024));
                read_all(read).await.unwrap()
            })
        })
        .collect();
    attached.wait().await;
    open.send_replace(true);
    for task in tasks {
        assert!(task.await.unwrap() == data, "a caller got wrong bytes");
    }
    assert_eq!(fake.calls(), 1);
    settled(&filler).await;
    assert!(filler.store().exists(&digest).await.unwrap());
}

#[tokio::test]
async fn wrong_bytes_fail_every_client_and_cache_nothing() {
    let (data, digest) = blob(1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data).failing(Fault::WrongBytes, 1));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let reads = futures::future::join_all((0..8).map(|_| async {
        let read = filler.serve(fake.clone(), &digest).await.unwrap();
        read_all(read).await
    }))
    .await;
    for r in reads {
        assert!(r.is_err(), "a client saw a complete response");
    }
    assert_eq!(fake.calls(), 1);
    settled(&filler).await;
    assert!(!filler.store().exists(&digest).await.unwrap());
}

#[tokio::test]
async fn upstream_error_midway_fails_clients_and_next_call_refetches() {
    let (data, digest) = blob(2 * 1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data.clone()).failing(Fault::BreakAfter(1024 * 1024), 1));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let reads = futures::future::join_all((0..4).map(|_| async {
        let read = filler.serve(fake.clone(), &digest).await.unwrap();
        read_all(read).await
    }))
    .await;
    assert!(reads.iter().all(Result::is_err));
    settled(&filler).await;
    assert!(!filler.store().exists(&digest).await.unwrap());

    let read = filler.read_or_fill(fake.clone(), &digest).await.unwrap();
    assert!(!read.from_cache);
    assert!(read_all(read).await.unwrap() == data);
    assert_eq!(fake.calls(), 2);
    settled(&filler).await;
    assert!(filler.store().exists(&digest).await.unwrap());
}

#[tokio::test]
async fn dropped_client_does_not_cancel_the_fill() {
    let (data, digest) = blob(4 * 1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data.clone()));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let mut read = filler.serve(fake.clone(), &digest).await.unwrap();
    let first = read.body.try_next().await.unwrap().unwrap();
    assert_eq!(first, data.slice(..first.len()));
    drop(read);
    settled(&filler).await;
    assert!(filler.store().exists(&digest).await.unwrap());
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn late_joiner_after_completion_reads_the_cache() {
    let (data, digest) = blob(1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data.clone()));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let read = filler.read_or_fill(fake.clone(), &digest).await.unwrap();
    assert!(read_all(read).await.unwrap() == data);
    settled(&filler).await;
    let read = filler.read_or_fill(fake.clone(), &digest).await.unwrap();
    assert!(read.from_cache);
    assert!(read_all(read).await.unwrap() == data);
    assert_eq!(fake.calls(), 1);
}

/// Waits until the fill of `digest` dropped its first bytes, checking that
/// it never holds more than its window.
async fn wait_until_evicted(filler: &BlobFiller, digest: &Digest) {
    for _ in 0..2000 {
        let fill = lock(&filler.inner.fills).get(digest).cloned();
        let fill = fill.expect("the fill ended before its window moved");
        {
            let st = fill.lock();
            let held: usize = st.window.iter().map(|(_, c)| c.len()).sum();
            assert!(held as u64 <= filler.inner.window);
            assert_eq!(st.received - st.base, held as u64);
            if st.base > 0 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the window never moved");
}

#[tokio::test]
async fn readers_behind_the_window_continue_from_the_cache() {
    let (data, digest) = blob(1024 * 1024);
    let fake =
        Arc::new(FakeUpstream::new(data.clone()).chunked(16 * 1024, Duration::from_millis(1)));
    let filler = BlobFiller::with_window(BlobStore::in_memory(), 64 * 1024);
    // Attached at the start but not read until the fill is over.
    let idle = filler.serve(fake.clone(), &digest).await.unwrap();
    // Reads some live, then stalls past the window.
    let mut slow = filler.serve(fake.clone(), &digest).await.unwrap();
    let mut slow_bytes = slow.body.try_next().await.unwrap().unwrap().to_vec();
    // Joins mid-fill, after the start has left the window.
    wait_until_evicted(&filler, &digest).await;
    let late = filler.serve(fake.clone(), &digest).await.unwrap();
    settled(&filler).await;
    while let Some(chunk) = slow.body.try_next().await.unwrap() {
        slow_bytes.extend_from_slice(&chunk);
    }
    assert!(slow_bytes == data);
    assert!(read_all(idle).await.unwrap() == data);
    assert!(read_all(late).await.unwrap() == data);
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn missing_upstream_blob_is_blob_unknown_for_every_caller() {
    let (data, digest) = blob(1024);
    let fake = Arc::new(FakeUpstream::new(data).failing(Fault::Missing, 1));
    let filler = BlobFiller::new(BlobStore::in_memory());
    let (a, b) = futures::join!(
        filler.serve(fake.clone(), &digest),
        filler.serve(fake.clone(), &digest)
    );
    assert!(matches!(a, Err(Error::BlobUnknown(ref d)) if *d == digest));
    assert!(matches!(b, Err(Error::BlobUnknown(ref d)) if *d == digest));
    assert_eq!(fake.calls(), 1);
    settled(&filler).await;
    assert_eq!(filler.in_flight(), 0);
}

/// Most bytes the fill of `digest` holds while it runs, sampled every ms.
async fn peak_held(filler: BlobFiller, digest: Digest) -> u64 {
    let mut peak = 0;
    loop {
        let Some(fill) = lock(&filler.inner.fills).get(&digest).cloned() else {
            return peak;
        };
        {
            let st = fill.lock();
            let held: u64 = st.window.iter().map(|(_, c)| c.len() as u64).sum();
            peak = peak.max(held);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_keep_up_hold_the_window_small() {
    let chunk = 16 * 1024;
    let (data, digest) = blob(4 * 1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data.clone()).chunked(chunk, Duration::from_millis(1)));
    // A window as large as the blob: only what readers still need is kept.
    let filler = BlobFiller::with_window(BlobStore::in_memory(), 4 * 1024 * 1024);
    let a = filler.serve(fake.clone(), &digest).await.unwrap();
    let b = filler.serve(fake.clone(), &digest).await.unwrap();
    let sampler = tokio::spawn(peak_held(filler.clone(), digest.clone()));
    let (ra, rb) = tokio::join!(read_all(a), read_all(b));
    assert!(ra.unwrap() == data && rb.unwrap() == data);
    let peak = sampler.await.unwrap();
    // Readers lag the fill by a few chunks at most, never by the window.
    assert!(peak <= 16 * chunk as u64, "held {peak} bytes");
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_fill_without_readers_holds_nothing() {
    let chunk = 16 * 1024;
    let (data, digest) = blob(1024 * 1024);
    let fake = Arc::new(FakeUpstream::new(data.clone()).chunked(chunk, Duration::from_millis(1)));
    let filler = BlobFiller::with_window(BlobStore::in_memory(), 1024 * 1024);
    let read = filler.serve(fake.clone(), &digest).await.unwrap();
    drop(read); // the client went away: the fill goes on, holding nothing
    let peak = peak_held(filler.clone(), digest.clone()).await;
    assert!(peak <= chunk as u64, "held {peak} bytes");
    settled(&filler).await;
    let cached = filler.read_or_fill(fake.clone(), &digest).await.unwrap();
    assert!(cached.from_cache && read_all(cached).await.unwrap() == data);
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn wrong_bytes_never_reach_a_client_in_full() {
    let (data, digest) = blob(256 * 1024);
    let len = data.len();
    let fake = Arc::new(
        FakeUpstream::new(data)
            .failing(Fault::WrongBytes, 1)
            .chunked(16 * 1024, Duration::from_millis(1)),
    );
    let filler = BlobFiller::new(BlobStore::in_memory());
    let mut read = filler.serve(fake.clone(), &digest).await.unwrap();
    let mut got = 0;
    let mut failed = false;
    while let Some(item) = read.body.next().await {
        match item {
            Ok(chunk) => got += chunk.len(),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    // The last byte is held back until the digest is verified, so a client
    // that stops at Content-Length never sees a complete body.
    assert!(failed, "the body ended cleanly");
    assert!(got < len, "all {len} bytes were delivered before the error");
}
