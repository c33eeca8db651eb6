//! Recorder behaviour: everything is written, overflow is counted without
//! waiting, shutdown flushes, failed writes are retried.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::{Recorder, RecorderConfig};
use crate::access::{ArtifactId, CustomerId, OrgId};
use crate::analytics::{
    AnalyticsStore, BytesServed, BytesTotal, CustomerPulls, MemoryAnalyticsStore, PullCursor,
    PullEvent, PullFilter, PullId, ReferencePulls, TagPulls,
};
use crate::digest::Digest;
use crate::error::{StoreError, StoreResult};

fn event(org: OrgId, artifact: ArtifactId, i: usize) -> PullEvent {
    PullEvent {
        id: PullId::new(),
        at_ms: i as i64,
        org,
        artifact,
        tag: Some("1.0".parse().unwrap()),
        digest: Digest::sha256(b"m"),
        index: false,
        customer: Some(CustomerId::new()),
        user: None,
        token: None,
        ip: None,
        user_agent: Some("x".repeat(1000)),
    }
}

fn bytes(org: OrgId, artifact: ArtifactId, n: u64) -> BytesServed {
    BytesServed {
        org,
        artifact,
        customer: None,
        bytes: n,
        at_ms: 1,
    }
}

async fn all_events(store: &MemoryAnalyticsStore, org: OrgId) -> Vec<PullEvent> {
    store
        .list_pulls(&PullFilter::org(org), None, usize::MAX - 1)
        .await
        .unwrap()
        .0
}

/// A store that fails its first `failures` writes (or panics, when asked),
/// and waits for a permit of `gate` before each write, then writes to a
/// [`MemoryAnalyticsStore`].
#[derive(Debug)]
struct Flaky {
    inner: MemoryAnalyticsStore,
    failures: AtomicU32,
    panic: bool,
    gate: Arc<Semaphore>,
    calls: AtomicU32,
    /// The pulls of every batch written (its byte counts arrive summed).
    batches: Mutex<Vec<usize>>,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Self {
            inner: MemoryAnalyticsStore::new(),
            failures: AtomicU32::new(failures),
            panic: false,
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            calls: AtomicU32::new(0),
            batches: Mutex::new(Vec::new()),
        }
    }
}

#[async_trait]
impl AnalyticsStore for Flaky {
    async fn record(&self, pulls: &[PullEvent], bytes: &[BytesServed]) -> StoreResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _permit = self.gate.acquire().await.map_err(StoreError::backend)?;
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1))
            .is_ok();
        if failing {
            assert!(!self.panic, "flaky store panics");
            return Err(StoreError::Conflict("flaky".into()));
        }
        self.inner.record(pulls, bytes).await?;
        self.batches.lock().unwrap().push(pulls.len());
        Ok(())
    }

    async fn list_pulls(
        &self,
        filter: &PullFilter,
        cursor: Option<&PullCursor>,
        limit: usize,
    ) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
        self.inner.list_pulls(filter, cursor, limit).await
    }

    async fn pulls_per_tag(&self, org: OrgId, artifact: ArtifactId) -> StoreResult<Vec<TagPulls>> {
        self.inner.pulls_per_tag(org, artifact).await
    }

    async fn artifact_customers(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<CustomerPulls>> {
        self.inner.artifact_customers(org, artifact).await
    }

    async fn customer_pulls(
        &self,
        org: OrgId,
        customer: CustomerId,
    ) -> StoreResult<Vec<ReferencePulls>> {
        self.inner.customer_pulls(org, customer).await
    }

    async fn bytes_served(
        &self,
        org: OrgId,
        artifact: Option<ArtifactId>,
    ) -> StoreResult<Vec<BytesTotal>> {
        self.inner.bytes_served(org, artifact).await
    }
}

fn quick() -> RecorderConfig {
    RecorderConfig::default().with_backoff(Duration::from_millis(1), Duration::from_millis(4))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_is_written() {
    let store = Arc::new(MemoryAnalyticsStore::new());
    let recorder = Recorder::start(store.clone(), quick().with_capacity(100_000));
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let r = recorder.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..1_000 {
                assert!(r.record_pull(event(org, artifact, t * 1_000 + i)));
                assert!(r.record_bytes(bytes(org, artifact, 2)));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let probe = recorder.clone();
    recorder.shutdown().await;
    let events = all_events(&store, org).await;
    assert_eq!(events.len(), 4_000);
    assert!(events
        .iter()
        .all(|e| e.user_agent.as_ref().unwrap().chars().count() == 256));
    let served = store.bytes_served(org, None).await.unwrap();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].bytes, 8_000);
    assert_eq!(probe.written(), 8_000);
    assert_eq!(
        (probe.dropped(), probe.lost(), probe.queue_depth()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_waiting() {
    let store = Arc::new(Flaky::new(0));
    let gate = store.gate.clone();
    // Hold every permit: the writer blocks on its first batch.
    let held = gate
        .acquire_many(Semaphore::MAX_PERMITS as u32)
        .await
        .unwrap();
    let recorder = Recorder::start(store.clone(), quick().with_capacity(10).with_max_batch(1));
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    assert!(recorder.record_pull(event(org, artifact, 0)));
    // Wait until the writer took the first event and is stuck writing it.
    while store.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let accepted = (1..1_001)
        .filter(|&i| recorder.record_pull(event(org, artifact, i)))
        .count();
    assert_eq!(accepted, 10);
    assert_eq!(recorder.queue_depth(), 10);
    assert_eq!(recorder.dropped(), 990);
    drop(held);
    let probe = recorder.clone();
    recorder.shutdown().await;
    assert_eq!(probe.written(), 11);
    assert_eq!(store.inner_len(org).await, 11);
}

impl Flaky {
    async fn inner_len(&self, org: OrgId) -> usize {
        all_events(&self.inner, org).await.len()
    }
}

#[tokio::test]
async fn shutdown_flushes_without_waiting_for_the_batch_to_fill() {
    let store = Arc::new(MemoryAnalyticsStore::new());
    let recorder = Recorder::start(
        store.clone(),
        quick()
            .with_max_delay(Duration::from_secs(3_600))
            .with_max_batch(1_000_000),
    );
    let other = recorder.clone();
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    for i in 0..50 {
        other.record_pull(event(org, artifact, i));
    }
    tokio::time::timeout(Duration::from_secs(10), recorder.shutdown())
        .await
        .expect("shutdown does not wait for max_delay");
    assert_eq!(all_events(&store, org).await.len(), 50);
    // Later items are refused and counted.
    assert!(!other.record_pull(event(org, artifact, 99)));
    assert_eq!((other.written(), other.dropped()), (50, 1));
    // Shutting down again returns at once.
    tokio::time::timeout(Duration::from_secs(10), other.shutdown())
        .await
        .unwrap();
}

#[tokio::test]
async fn dropping_every_handle_writes_what_was_queued() {
    let store = Arc::new(MemoryAnalyticsStore::new());
    let recorder = Recorder::start(
        store.clone(),
        quick().with_max_delay(Duration::from_secs(3_600)),
    );
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    for i in 0..7 {
        recorder.record_pull(event(org, artifact, i));
    }
    drop(recorder);
    for _ in 0..1_000 {
        if all_events(&store, org).await.len() == 7 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("queued events were not written after the last handle went away");
}

#[tokio::test]
async fn a_store_failing_once_loses_nothing() {
    let store = Arc::new(Flaky::new(1));
    let recorder = Recorder::start(store.clone(), quick());
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    for i in 0..20 {
        recorder.record_pull(event(org, artifact, i));
    }
    recorder.record_bytes(bytes(org, artifact, 5));
    let probe = recorder.clone();
    recorder.shutdown().await;
    assert_eq!(store.inner_len(org).await, 20);
    assert_eq!((probe.written(), probe.lost()), (21, 0));
    assert!(store.calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test]
async fn a_store_that_keeps_failing_or_panicking_loses_counted_items_only() {
    for panic in [false, true] {
        let mut flaky = Flaky::new(u32::MAX);
        flaky.panic = panic;
        let store = Arc::new(flaky);
        let recorder = Recorder::start(store.clone(), quick().with_max_attempts(3));
        let (org, artifact) = (OrgId::new(), ArtifactId::new());
        for i in 0..5 {
            recorder.record_pull(event(org, artifact, i));
        }
        let probe = recorder.clone();
        recorder.shutdown().await;
        assert_eq!((probe.written(), probe.lost()), (0, 5));
        assert_eq!(store.calls.load(Ordering::SeqCst) % 3, 0);
    }
}

#[tokio::test]
async fn full_batches_are_written_without_waiting_for_the_delay() {
    let store = Arc::new(Flaky::new(0));
    let recorder = Recorder::start(
        store.clone(),
        quick()
            .with_max_delay(Duration::from_secs(3_600))
            .with_max_batch(10),
    );
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    for i in 0..25 {
        assert!(recorder.record_pull(event(org, artifact, i)));
    }
    // Two full batches go out at once; the last 5 wait for the delay (an
    // hour), so they are only written by the shutdown. The timeout guards
    // against a hang, it measures nothing.
    tokio::time::timeout(Duration::from_secs(600), async {
        while store.batches.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("full batches are written before the delay is up");
    assert_eq!(*store.batches.lock().unwrap(), vec![10, 10]);
    // The writer may already hold the first of the last 5.
    assert!((4..=5).contains(&recorder.queue_depth()));
    let probe = recorder.clone();
    recorder.shutdown().await;
    assert_eq!(*store.batches.lock().unwrap(), vec![10, 10, 5]);
    assert_eq!((probe.written(), probe.dropped()), (25, 0));
}

#[tokio::test]
async fn batches_never_exceed_max_batch() {
    let store = Arc::new(Flaky::new(0));
    let gate = store.gate.clone();
    let held = gate
        .acquire_many(Semaphore::MAX_PERMITS as u32)
        .await
        .unwrap();
    let recorder = Recorder::start(store.clone(), quick().with_max_batch(7));
    let (org, artifact) = (OrgId::new(), ArtifactId::new());
    assert!(recorder.record_pull(event(org, artifact, 0)));
    // While the writer is stuck on its first batch, 100 items pile up.
    while store.calls.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    for i in 1..=50 {
        assert!(recorder.record_pull(event(org, artifact, i)));
        assert!(recorder.record_bytes(bytes(org, artifact, 1)));
    }
    drop(held);
    let probe = recorder.clone();
    recorder.shutdown().await;
    let batches = store.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), 51);
    assert!(batches.iter().all(|&n| (1..=7).contains(&n)), "{batches:?}");
    assert_eq!(store.inner_len(org).await, 51);
    assert_eq!(
        store.inner.bytes_served(org, None).await.unwrap()[0].bytes,
        50
    );
    assert_eq!((probe.written(), probe.dropped()), (101, 0));
}
