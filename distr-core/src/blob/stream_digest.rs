//! Hashing of a blob write, on its own thread when the blob is large.
//!
//! A verified write receives a chunk, hashes it and stores it. Done on one
//! task, a large blob's throughput is the sum of the three: SHA-256 alone
//! runs at about 1.5 GB/s with SHA-NI, slower than loopback. Large blobs are
//! therefore hashed on a blocking thread fed through a bounded channel, so the
//! hash overlaps with receiving and storing and the write runs at the speed
//! of its slowest stage.

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::digest::{Algorithm, Digest, Digester};

/// Blobs at least this large (or of unknown size) are hashed on a thread.
const PARALLEL_FROM_BYTES: u64 = 4 * 1024 * 1024;
/// Chunks queued for the hashing thread. The chunks are shared with the
/// writer (`Bytes` clones), so this bounds memory only by chunk count; the
/// sources that feed large writes yield chunks of at most about 1 MiB.
const QUEUED_CHUNKS: usize = 8;

/// A digest computed inline or on a blocking thread.
pub(crate) enum StreamDigest {
    /// Small blobs: hashing costs less than a thread hand-off.
    Inline(Box<Digester>),
    /// Large blobs: chunks go to a hashing thread.
    Parallel {
        chunks: mpsc::Sender<Bytes>,
        hashed: JoinHandle<Digest>,
    },
}

impl StreamDigest {
    /// A hash of `algorithm` for a blob of `size` bytes (`None`: unknown).
    pub(crate) fn new(algorithm: Algorithm, size: Option<u64>) -> Self {
        if size.is_some_and(|n| n < PARALLEL_FROM_BYTES) {
            return StreamDigest::Inline(Box::new(Digester::new(algorithm)));
        }
        let (chunks, mut rx) = mpsc::channel::<Bytes>(QUEUED_CHUNKS);
        let hashed = tokio::task::spawn_blocking(move || {
            let mut digester = Digester::new(algorithm);
            while let Some(chunk) = rx.blocking_recv() {
                digester.update(&chunk);
            }
            digester.finish()
        });
        StreamDigest::Parallel { chunks, hashed }
    }

    /// Feeds `chunk` into the hash; waits only when the hashing thread is
    /// [`QUEUED_CHUNKS`] chunks behind.
    pub(crate) async fn update(&mut self, chunk: &Bytes) {
        match self {
            StreamDigest::Inline(d) => d.update(chunk),
            StreamDigest::Parallel { chunks, .. } => {
                // The thread only stops when the sender is dropped, so a send
                // cannot fail while `self` is alive; if it did, `finish`
                // would report the wrong digest and the write is rejected.
                let _ = chunks.send(chunk.clone()).await;
            }
        }
    }

    /// The digest of everything fed in; `None` when the hashing thread failed.
    pub(crate) async fn finish(self) -> Option<Digest> {
        match self {
            StreamDigest::Inline(d) => Some(d.finish()),
            StreamDigest::Parallel { chunks, hashed } => {
                drop(chunks);
                hashed.await.ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    async fn digest_in_chunks(bytes: &[u8], size: Option<u64>, chunk: usize) -> Digest {
        let mut d = StreamDigest::new(Algorithm::Sha256, size);
        for part in bytes.chunks(chunk) {
            d.update(&Bytes::copy_from_slice(part)).await;
        }
        d.finish().await.expect("hashing thread")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inline_and_threaded_hashes_equal_the_one_shot_digest() {
        let big = data(5 * 1024 * 1024 + 17);
        let want = Digest::of(Algorithm::Sha256, &big);
        assert!(matches!(
            StreamDigest::new(Algorithm::Sha256, None),
            StreamDigest::Parallel { .. }
        ));
        assert_eq!(digest_in_chunks(&big, None, 65_536).await, want);
        assert_eq!(
            digest_in_chunks(&big, Some(big.len() as u64), 1_000).await,
            want
        );

        let small = data(1000);
        assert!(matches!(
            StreamDigest::new(Algorithm::Sha256, Some(1000)),
            StreamDigest::Inline(_)
        ));
        assert_eq!(
            digest_in_chunks(&small, Some(1000), 7).await,
            Digest::of(Algorithm::Sha256, &small)
        );
        // Nothing fed in: the empty blob's digest, on either path.
        let empty = Digest::of(Algorithm::Sha256, b"");
        assert_eq!(digest_in_chunks(b"", None, 1).await, empty);
        assert_eq!(digest_in_chunks(b"", Some(0), 1).await, empty);
    }
}
