//! Counting the bytes of a blob body as it streams.

use distr_core::access::{ArtifactId, CustomerId, OrgId};
use distr_core::analytics::{BytesServed, Recorder};
use distr_core::{now_ms, ByteStream};
use futures::{StreamExt, TryStreamExt};

/// Bytes handed to the connection so far; recorded once, when dropped
/// (after the last chunk, or when the client goes away mid-body).
pub(super) struct Counter {
    recorder: Recorder,
    org: OrgId,
    artifact: ArtifactId,
    customer: Option<CustomerId>,
    bytes: u64,
}

impl Counter {
    pub(super) fn new(
        recorder: Recorder,
        org: OrgId,
        artifact: ArtifactId,
        customer: Option<CustomerId>,
    ) -> Self {
        Self {
            recorder,
            org,
            artifact,
            customer,
            bytes: 0,
        }
    }

    fn add(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.recorder.record_bytes(BytesServed {
                org: self.org,
                artifact: self.artifact,
                customer: self.customer,
                bytes: self.bytes,
                at_ms: now_ms(),
            });
        }
    }
}

/// `body`, adding the length of every chunk it yields to `counter`. The
/// closure owns the whole counter (a method call, not a field access, so
/// the closure cannot capture a copy of the count alone), which is dropped,
/// and so recorded, with the stream.
pub(super) fn count(body: ByteStream, mut counter: Counter) -> ByteStream {
    body.inspect_ok(move |chunk| counter.add(chunk.len()))
        .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use bytes::Bytes;
    use distr_core::analytics::{AnalyticsStore, MemoryAnalyticsStore, RecorderConfig};

    #[tokio::test]
    async fn counts_what_was_streamed_even_when_dropped_early() {
        let store = Arc::new(MemoryAnalyticsStore::new());
        let recorder = Recorder::start(store.clone(), RecorderConfig::default());
        let (org, artifact) = (OrgId::new(), ArtifactId::new());
        let chunks = vec![
            Ok(Bytes::from_static(b"abc")),
            Ok(Bytes::from_static(b"defgh")),
            Ok(Bytes::from_static(b"never read")),
        ];
        let mut body = count(
            futures::stream::iter(chunks).boxed(),
            Counter::new(recorder.clone(), org, artifact, None),
        );
        assert_eq!(body.next().await.unwrap().unwrap().len(), 3);
        assert_eq!(body.next().await.unwrap().unwrap().len(), 5);
        drop(body);
        // A body never polled records nothing.
        drop(count(
            futures::stream::empty().boxed(),
            Counter::new(recorder.clone(), org, artifact, None),
        ));
        recorder.shutdown().await;
        let served = store.bytes_served(org, None).await.unwrap();
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].bytes, 8);
    }
}
