//! A deterministic pseudo-random blob, generated chunk by chunk so that it is
//! never held whole in memory: one pass computes its digest, a second pass
//! streams it as a request body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::client::BoxError;

/// Bytes per generated chunk (a multiple of 8).
pub const CHUNK: usize = 1 << 20;

/// Chunks buffered between the generator thread and the HTTP body.
const IN_FLIGHT: usize = 4;

/// Incompressible bytes from SplitMix64, reproducible from `(seed, len)`.
#[derive(Debug, Clone)]
pub struct BlobGen {
    state: u64,
    remaining: u64,
}

impl BlobGen {
    /// The generator of the `len`-byte blob for `seed`.
    pub fn new(seed: u64, len: u64) -> BlobGen {
        BlobGen {
            state: seed ^ 0x6469_7374_722d_626e, // "distr-bn"
            remaining: len,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next chunk of at most [`CHUNK`] bytes, or `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let n = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut buf = vec![0u8; n];
        for word in buf.chunks_mut(8) {
            let x = self.next_u64().to_le_bytes();
            word.copy_from_slice(&x[..word.len()]);
        }
        self.remaining -= n as u64;
        Some(Bytes::from(buf))
    }
}

/// The `sha256:<hex>` digest of the blob (CPU-bound; call from a blocking
/// thread).
pub fn digest(seed: u64, len: u64) -> String {
    let mut gen = BlobGen::new(seed, len);
    let mut hasher = Sha256::new();
    while let Some(chunk) = gen.next_chunk() {
        hasher.update(&chunk);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// A request body fed by a generator thread through a bounded channel; its
/// exact length is known up front so it is sent with `Content-Length`.
#[derive(Debug)]
pub struct StreamedBlob {
    rx: mpsc::Receiver<Bytes>,
    remaining: u64,
}

/// Starts generating the blob on a blocking thread and returns it as a body.
/// Generation stops early if the body is dropped.
pub fn stream(seed: u64, len: u64) -> StreamedBlob {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut gen = BlobGen::new(seed, len);
        while let Some(chunk) = gen.next_chunk() {
            if tx.blocking_send(chunk).is_err() {
                break;
            }
        }
    });
    StreamedBlob { rx, remaining: len }
}

impl Body for StreamedBlob {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(Some(Err(format!(
                "blob generator stopped with {} bytes left",
                self.remaining
            )
            .into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_exact_length() {
        let collect = |seed, len| {
            let mut g = BlobGen::new(seed, len);
            let mut v = Vec::new();
            while let Some(c) = g.next_chunk() {
                v.extend_from_slice(&c);
            }
            v
        };
        let a = collect(1, 3 * CHUNK as u64 + 5);
        assert_eq!(a.len(), 3 * CHUNK + 5);
        assert_eq!(a, collect(1, 3 * CHUNK as u64 + 5));
        assert_ne!(a[..64], collect(2, 64)[..]);
        // A shorter blob is a prefix of a longer one with the same seed.
        assert_eq!(a[..100], collect(1, 100)[..]);
        assert_eq!(
            digest(1, 0),
            format!("sha256:{}", hex::encode(Sha256::digest(b"")))
        );
    }
}
