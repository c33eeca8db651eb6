//! Coalesced, teed fills of blobs from an upstream into the blob cache.
//!
//! # Design
//!
//! A *fill* is one upstream `get_blob` of a whole blob, run in a spawned task
//! so that no client can cancel it. Its body is digest-verified
//! (by [`BlobStore::write_verified`], as it is stored), which
//! commits atomically only when the digest (and announced size) match. On
//! the way into the store every chunk is also appended to the fill's
//! *window*, from which clients read.
//!
//! Every caller asking for a digest while its fill is in flight attaches to
//! that fill (one upstream fetch per digest). A reader replays the window
//! from its own offset and then follows the fill as chunks arrive. It ends
//! cleanly only after the blob was committed to the store; when the fill
//! fails (upstream error, digest or size mismatch, storage failure) every
//! reader's stream ends with an error and nothing is cached.
//!
//! # Memory bound
//!
//! The window keeps only bytes some attached reader has yet to return, and
//! never more than the most recent configured window size
//! ([`DEFAULT_FILL_WINDOW`], 16 MiB, by default) per in-flight digest,
//! however many readers there are (readers share the chunks, each only
//! holds a reference to the chunk it is returning). Readers that keep up
//! therefore cost almost nothing; the window only grows behind a lagging
//! reader. The fill never waits for readers. A reader whose next byte has
//! left the window (a slow client, or one that attached after bytes it
//! needs were dropped) waits for the fill to complete and continues from
//! the committed blob in the store at its offset. Readers that keep up are
//! streamed live; the others get every byte too, later.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::watch;

use crate::blob::{BlobStore, ByteStream};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::upstream::{DynUpstream, UpstreamError};

use self::reader::{Reader, Registration};

/// Default number of most recent bytes a fill keeps in memory for its readers.
pub const DEFAULT_FILL_WINDOW: u64 = 16 * 1024 * 1024;

/// A blob being served to one client.
pub struct FillRead {
    /// Size of the blob, when known (from the cache, or as announced by the
    /// upstream).
    pub size: Option<u64>,
    /// True when the blob was read from the cache, without an upstream fill.
    pub from_cache: bool,
    /// The bytes. When they come from a fill, the stream ends cleanly only
    /// after the blob was verified and committed; otherwise it ends with an
    /// error.
    pub body: ByteStream,
}

impl fmt::Debug for FillRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FillRead")
            .field("size", &self.size)
            .field("from_cache", &self.from_cache)
            .finish_non_exhaustive()
    }
}

/// Serves blobs missing from a [`BlobStore`] from an upstream while filling
/// the store, with one upstream fetch per digest however many callers ask.
///
/// Cheap to clone; clones share the in-flight fills.
#[derive(Clone)]
pub struct BlobFiller {
    inner: Arc<Inner>,
}

struct Inner {
    store: BlobStore,
    window: u64,
    fills: Mutex<HashMap<Digest, Arc<Fill>>>,
}

impl fmt::Debug for BlobFiller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobFiller")
            .field("store", &self.inner.store)
            .field("window", &self.inner.window)
            .field("in_flight", &lock(&self.inner.fills).len())
            .finish()
    }
}

impl BlobFiller {
    /// A filler of `store` with the [`DEFAULT_FILL_WINDOW`].
    pub fn new(store: BlobStore) -> Self {
        Self::with_window(store, DEFAULT_FILL_WINDOW)
    }

    /// A filler of `store` keeping at most `window` bytes of each in-flight
    /// fill in memory (see the [module docs](self)).
    pub fn with_window(store: BlobStore, window: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                window,
                fills: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The blob store being filled.
    pub fn store(&self) -> &BlobStore {
        &self.inner.store
    }

    /// True while a fill of `digest` is in flight.
    pub fn is_filling(&self, digest: &Digest) -> bool {
        lock(&self.inner.fills).contains_key(digest)
    }

    /// Number of fills in flight.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.fills).len()
    }

    /// Serves `digest` from the fill in flight for it, or starts one from
    /// `upstream`. The caller is expected to have checked the cache (see
    /// [`read_or_fill`](Self::read_or_fill)).
    ///
    /// Returns the upstream's error when the fill fails before any byte was
    /// received (for example [`Error::BlobUnknown`] when the upstream does
    /// not have the blob); later failures end the body with an error.
    pub async fn serve(&self, upstream: Arc<DynUpstream>, digest: &Digest) -> Result<FillRead> {
        let fill = self.join_or_start(upstream, digest);
        self.attach(fill).await
    }

    /// Serves `digest` cache-first: joins a fill in flight, else reads the
    /// cached blob, else starts a fill from `upstream`.
    pub async fn read_or_fill(
        &self,
        upstream: Arc<DynUpstream>,
        digest: &Digest,
    ) -> Result<FillRead> {
        let in_flight = lock(&self.inner.fills).get(digest).cloned();
        if let Some(fill) = in_flight {
            return self.attach(fill).await;
        }
        match self.inner.store.read(digest, None).await {
            Ok(body) => {
                return Ok(FillRead {
                    size: None,
                    from_cache: true,
                    body,
                })
            }
            Err(Error::BlobUnknown(_)) => {}
            Err(e) => return Err(e),
        }
        self.serve(upstream, digest).await
    }

    /// Serves `digest` from the fill in flight for it, if there is one.
    pub async fn join(&self, digest: &Digest) -> Option<Result<FillRead>> {
        let in_flight = lock(&self.inner.fills).get(digest).cloned()?;
        Some(self.attach(in_flight).await)
    }

    /// Joins the fill in flight for `digest`, or starts one from `upstream`,
    /// and waits for it to end without reading it. Returns the size of the
    /// committed blob, or the fill's error (nothing was cached then).
    pub async fn fill(&self, upstream: Arc<DynUpstream>, digest: &Digest) -> Result<u64> {
        let fill = self.join_or_start(upstream, digest);
        let mut rx = fill.progress.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let st = fill.lock();
                match (&st.phase, st.size) {
                    (Phase::Failed(e), _) => return Err(replicate(e)),
                    (Phase::Done, Some(size)) => return Ok(size),
                    (Phase::Done, None) => {
                        return Err(Error::Upstream(UpstreamError::Protocol(
                            "filled blob has no size".into(),
                        )))
                    }
                    _ => {}
                }
            }
            // The sender lives in `fill`, which we hold: never closed.
            let _ = rx.changed().await;
        }
    }

    fn join_or_start(&self, upstream: Arc<DynUpstream>, digest: &Digest) -> Arc<Fill> {
        let mut fills = lock(&self.inner.fills);
        if let Some(fill) = fills.get(digest) {
            return Arc::clone(fill);
        }
        let fill = Arc::new(Fill::new(digest.clone()));
        fills.insert(digest.clone(), Arc::clone(&fill));
        drop(fills);
        let finish = Finish {
            inner: Arc::clone(&self.inner),
            fill: Arc::clone(&fill),
            outcome: None,
        };
        tokio::spawn(run_fill(finish, upstream));
        fill
    }

    /// Waits until the fill has an answer from the upstream, then returns a
    /// reader of it.
    async fn attach(&self, fill: Arc<Fill>) -> Result<FillRead> {
        let mut rx = fill.progress.subscribe();
        // Registered before waiting, so the fill keeps this reader's bytes
        // from the first chunk on; unregistered when the reader is dropped.
        let registration = Registration {
            fill: Arc::clone(&fill),
            id: fill.add_reader(),
        };
        let size = loop {
            rx.borrow_and_update();
            {
                let st = fill.lock();
                match &st.phase {
                    Phase::Connecting => {}
                    Phase::Failed(e) => return Err(replicate(e)),
                    Phase::Streaming | Phase::Done => break st.size,
                }
            }
            // The sender lives in `fill`, which we hold: never closed.
            let _ = rx.changed().await;
        };
        let reader = Reader {
            store: self.inner.store.clone(),
            fill,
            rx,
            pos: 0,
            cached: None,
            done: false,
            window: self.inner.window,
            registration,
        };
        let body = futures::stream::unfold(reader, |mut r| async move {
            let item = r.next().await?;
            Some((item, r))
        })
        .boxed();
        Ok(FillRead {
            size,
            from_cache: false,
            body,
        })
    }
}

/// Where a fill is.
enum Phase {
    /// Waiting for the upstream's answer.
    Connecting,
    /// Bytes are flowing.
    Streaming,
    /// The blob is verified and committed to the store.
    Done,
    /// The fill failed; nothing was cached.
    Failed(Arc<Error>),
}

struct FillState {
    phase: Phase,
    /// Announced size while streaming, actual size once done.
    size: Option<u64>,
    /// The most recent chunks with their offsets, covering `base..received`.
    window: VecDeque<(u64, Bytes)>,
    /// Offset of the first byte still in `window`.
    base: u64,
    /// Bytes received so far.
    received: u64,
    /// Offset of the next byte of each attached reader, by reader id.
    readers: BTreeMap<u64, u64>,
    /// Id of the next reader to attach.
    next_reader: u64,
}

impl FillState {
    /// Drops chunks no attached reader still needs, and chunks older than
    /// the most recent `window` bytes.
    fn trim(&mut self, window: u64) {
        let needed_from = self
            .readers
            .values()
            .copied()
            .min()
            .unwrap_or(self.received);
        let floor = needed_from.max(self.received.saturating_sub(window));
        while let Some((start, chunk)) = self.window.front() {
            if start + chunk.len() as u64 > floor {
                break;
            }
            self.base = start + chunk.len() as u64;
            self.window.pop_front();
        }
    }
}

/// One in-flight upstream fetch, shared by its readers.
struct Fill {
    digest: Digest,
    state: Mutex<FillState>,
    /// Bumped on every change of `state`.
    progress: watch::Sender<u64>,
}

impl Fill {
    fn new(digest: Digest) -> Self {
        Self {
            digest,
            state: Mutex::new(FillState {
                phase: Phase::Connecting,
                size: None,
                window: VecDeque::new(),
                base: 0,
                received: 0,
                readers: BTreeMap::new(),
                next_reader: 0,
            }),
            progress: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FillState> {
        lock(&self.state)
    }

    fn update(&self, f: impl FnOnce(&mut FillState)) {
        f(&mut self.lock());
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Appends a received chunk, dropping what no reader needs any more
    /// (see [`FillState::trim`]).
    fn push(&self, chunk: Bytes, window: u64) {
        if chunk.is_empty() {
            return;
        }
        self.update(|st| {
            let start = st.received;
            st.received += chunk.len() as u64;
            st.window.push_back((start, chunk));
            st.trim(window);
        });
    }

    /// Registers a reader starting at offset 0; returns its id.
    fn add_reader(&self) -> u64 {
        let mut st = self.lock();
        let id = st.next_reader;
        st.next_reader += 1;
        st.readers.insert(id, 0);
        id
    }
}

/// Completes a fill when dropped: publishes its outcome (a failure when the
/// task ended without one, e.g. it panicked or the runtime shut down) and
/// removes it from the in-flight map.
struct Finish {
    inner: Arc<Inner>,
    fill: Arc<Fill>,
    outcome: Option<Result<u64>>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            Err(Error::Upstream(UpstreamError::Unavailable(
                "the fill ended before completing".into(),
            )))
        });
        match outcome {
            Ok(size) => self.fill.update(|st| {
                st.size = Some(size);
                st.phase = Phase::Done;
            }),
            Err(e) => {
                tracing::warn!(digest = %self.fill.digest, error = %e, "pull-through fill failed");
                self.fill.update(|st| {
                    st.phase = Phase::Failed(Arc::new(e));
                    st.window.clear();
                    st.base = st.received;
                });
            }
        }
        let mut fills = lock(&self.inner.fills);
        if fills
            .get(&self.fill.digest)
            .is_some_and(|f| Arc::ptr_eq(f, &self.fill))
        {
            fills.remove(&self.fill.digest);
        }
    }
}

async fn run_fill(mut finish: Finish, upstream: Arc<DynUpstream>) {
    let outcome = fetch_and_store(&finish.inner, &finish.fill, upstream).await;
    finish.outcome = Some(outcome);
}

async fn fetch_and_store(
    inner: &Inner,
    fill: &Arc<Fill>,
    upstream: Arc<DynUpstream>,
) -> Result<u64> {
    let blob = upstream.get_blob(&fill.digest, None).await?;
    let size = blob.size.or(blob.total_size);
    fill.update(|st| {
        st.size = size;
        st.phase = Phase::Streaming;
    });
    let tee = Arc::clone(fill);
    let window = inner.window;
    // Hashed once, by the store (the upstream body comes unverified): it
    // commits only when digest and size match, and readers never see the
    // last byte before the commit.
    let body = blob
        .body
        .inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                tee.push(chunk.clone(), window);
            }
        })
        .boxed();
    let written = inner
        .store
        .write_verified(&fill.digest, size, vec![body])
        .await
        .map_err(|e| match e {
            Error::DigestInvalid(m) | Error::SizeInvalid(m) => Error::Upstream(
                UpstreamError::Protocol(format!("the upstream sent other bytes: {m}")),
            ),
            other => other,
        })?;
    Ok(written.size)
}

/// A copy of a fill's error for each of its callers (errors are not
/// `Clone`): kinds a client acts on are kept, the rest become an upstream
/// fault carrying the message.
pub(crate) fn replicate(e: &Error) -> Error {
    match e {
        Error::BlobUnknown(d) => Error::BlobUnknown(d.clone()),
        Error::ManifestUnknown(m) => Error::ManifestUnknown(m.clone()),
        Error::NameUnknown => Error::NameUnknown,
        Error::NameInvalid(m) => Error::NameInvalid(m.clone()),
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        Error::Denied(m) => Error::Denied(m.clone()),
        Error::RangeNotSatisfiable { size } => Error::RangeNotSatisfiable { size: *size },
        Error::TooManyRequests { retry_after_secs } => Error::TooManyRequests {
            retry_after_secs: *retry_after_secs,
        },
        Error::Upstream(u) => Error::Upstream(replicate_upstream(u)),
        other => Error::Upstream(UpstreamError::Unavailable(other.to_string())),
    }
}

/// A copy of an upstream error, of the same kind.
fn replicate_upstream(e: &UpstreamError) -> UpstreamError {
    match e {
        UpstreamError::InvalidReference(m) => UpstreamError::InvalidReference(m.clone()),
        UpstreamError::Unauthorized(m) => UpstreamError::Unauthorized(m.clone()),
        UpstreamError::Denied(m) => UpstreamError::Denied(m.clone()),
        UpstreamError::NotFound(what) => UpstreamError::NotFound(what.clone()),
        UpstreamError::RateLimited { retry_after_secs } => UpstreamError::RateLimited {
            retry_after_secs: *retry_after_secs,
        },
        UpstreamError::RangeNotSatisfiable { size } => {
            UpstreamError::RangeNotSatisfiable { size: *size }
        }
        UpstreamError::Unavailable(m) => UpstreamError::Unavailable(m.clone()),
        UpstreamError::Protocol(m) => UpstreamError::Protocol(m.clone()),
        UpstreamError::DigestMismatch { expected, actual } => UpstreamError::DigestMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        },
        UpstreamError::Unsupported(m) => UpstreamError::Unsupported(m.clone()),
        UpstreamError::PlainHttp => UpstreamError::PlainHttp,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

mod reader;
#[cfg(test)]
mod tests;
