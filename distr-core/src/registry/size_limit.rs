//! The blob size limit of uploads
//! ([`RegistryConfig::max_blob_size`](crate::RegistryConfig::max_blob_size)):
//! declared sizes are checked before a byte is read, and the bytes are
//! counted while they stream, so a body without a declared length cannot
//! exceed it either.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;

use crate::blob::ByteStream;
use crate::error::{Error, Result};

/// How many more bytes an upload may take.
#[derive(Clone, Copy, Debug)]
pub(super) struct SizeLimit {
    /// The configured limit (`None`: none).
    limit: Option<u64>,
    /// Bytes the upload already holds.
    already: u64,
}

impl SizeLimit {
    /// The limit `limit` for an upload that already holds `already` bytes.
    pub(super) fn new(limit: Option<u64>, already: u64) -> Self {
        Self { limit, already }
    }

    /// Fails with [`Error::BlobTooLarge`] when what the upload holds plus
    /// `declared` more bytes (when declared) exceeds the limit.
    pub(super) fn check_declared(&self, declared: Option<u64>) -> Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        // A total past u64::MAX is over any limit.
        match self.already.checked_add(declared.unwrap_or(0)) {
            Some(total) if total <= limit => Ok(()),
            _ => Err(Error::BlobTooLarge { limit }),
        }
    }

    /// Bytes still allowed; `None` without a limit.
    fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.already))
    }
}

/// Set when a [`capped`] stream ran over its limit.
#[derive(Clone, Debug, Default)]
pub(super) struct Tripwire {
    tripped: Arc<AtomicBool>,
    limit: u64,
}

impl Tripwire {
    /// `e`, or [`Error::BlobTooLarge`] when the stream it came from ran over
    /// the limit (whatever error the writer made of that).
    pub(super) fn explain(&self, e: Error) -> Error {
        if self.tripped.load(Ordering::Acquire) {
            Error::BlobTooLarge { limit: self.limit }
        } else {
            e
        }
    }
}

/// The error a capped stream ends with (the writer turns it into a failed
/// write; [`Tripwire::explain`] turns that into [`Error::BlobTooLarge`]).
#[derive(Debug)]
struct Exceeded(u64);

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the blob exceeds the limit of {} bytes", self.0)
    }
}

impl std::error::Error for Exceeded {}

/// `body`, ending with an error as soon as it carries more bytes than
/// `limit` still allows; the tripwire tells that this happened.
pub(super) fn capped(body: ByteStream, limit: SizeLimit) -> (ByteStream, Tripwire) {
    let Some(remaining) = limit.remaining() else {
        return (body, Tripwire::default());
    };
    let wire = Tripwire {
        tripped: Arc::default(),
        limit: limit.limit.unwrap_or(u64::MAX),
    };
    let tripped = wire.tripped.clone();
    let total = wire.limit;
    let mut seen = 0u64;
    let stream = body
        .map(move |item| {
            let chunk = item?;
            seen = seen.saturating_add(chunk.len() as u64);
            if seen > remaining {
                tripped.store(true, Ordering::Release);
                return Err(std::io::Error::other(Exceeded(total)));
            }
            Ok(chunk)
        })
        .boxed();
    (stream, wire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::TryStreamExt;

    fn chunks(sizes: &[usize]) -> ByteStream {
        let items: Vec<std::io::Result<Bytes>> = sizes
            .iter()
            .map(|&n| Ok(Bytes::from(vec![0u8; n])))
            .collect();
        futures::stream::iter(items).boxed()
    }

    async fn total(s: ByteStream) -> std::io::Result<usize> {
        s.try_fold(0, |n, c| async move { Ok(n + c.len()) }).await
    }

    #[test]
    fn declared_sizes_count_what_the_upload_holds() {
        let l = SizeLimit::new(Some(10), 4);
        assert!(l.check_declared(Some(6)).is_ok());
        assert!(l.check_declared(None).is_ok());
        assert!(matches!(
            l.check_declared(Some(7)),
            Err(Error::BlobTooLarge { limit: 10 })
        ));
        assert!(SizeLimit::new(Some(10), 11).check_declared(None).is_err());
        assert!(SizeLimit::new(None, 11)
            .check_declared(Some(u64::MAX))
            .is_ok());
        assert!(SizeLimit::new(Some(u64::MAX), 5)
            .check_declared(Some(u64::MAX))
            .is_err());
    }

    #[tokio::test]
    async fn streams_are_cut_after_the_limit() {
        let (s, wire) = capped(chunks(&[3, 3]), SizeLimit::new(Some(10), 4));
        assert_eq!(total(s).await.unwrap(), 6, "exactly the limit");
        assert!(matches!(
            wire.explain(Error::Unauthorized),
            Error::Unauthorized
        ));

        let (s, wire) = capped(chunks(&[3, 3, 1]), SizeLimit::new(Some(10), 4));
        let err = total(s).await.unwrap_err();
        assert!(err.to_string().contains("10 bytes"), "{err}");
        assert!(matches!(
            wire.explain(Error::BodyRead(err)),
            Error::BlobTooLarge { limit: 10 }
        ));

        let (s, _) = capped(chunks(&[1000]), SizeLimit::new(None, 0));
        assert_eq!(total(s).await.unwrap(), 1000);
    }
}
