//! At most so many requests in flight to one upstream host, whatever the
//! artifacts and clients: [`HostCaps`] hands out one semaphore per host,
//! [`CappedUpstream`] takes a place before each request (and keeps it while
//! a blob body streams).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use distr_core::upstream::{
    DynUpstream, ManifestHead, TagPage, Upstream, UpstreamBlob, UpstreamError, UpstreamManifest,
    UpstreamRef, UpstreamResult,
};
use distr_core::{Digest, Reference};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One semaphore of `max` places per upstream host (`host[:port]`), alive
/// while a client of the host is.
#[derive(Debug)]
pub(super) struct HostCaps {
    max: usize,
    hosts: Mutex<HashMap<String, Weak<Semaphore>>>,
}

impl HostCaps {
    /// `max` (at least 1) requests in flight per host.
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            hosts: Mutex::default(),
        }
    }

    /// The places of `host`.
    fn places(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = hosts.get(host).and_then(Weak::upgrade) {
            return s;
        }
        let s = Arc::new(Semaphore::new(self.max));
        hosts.retain(|_, s| s.strong_count() > 0);
        hosts.insert(host.to_owned(), Arc::downgrade(&s));
        s
    }

    /// `inner`, taking a place of its host before each request; a request
    /// waits up to `wait` for one.
    pub(super) fn wrap(&self, inner: Arc<DynUpstream>, wait: Duration) -> CappedUpstream {
        let host = inner.target().registry().to_owned();
        CappedUpstream {
            places: self.places(&host),
            max: self.max,
            host,
            wait,
            inner,
        }
    }
}

/// An upstream whose requests queue for a place of their host.
#[derive(Debug)]
pub(super) struct CappedUpstream {
    inner: Arc<DynUpstream>,
    places: Arc<Semaphore>,
    max: usize,
    host: String,
    wait: Duration,
}

impl CappedUpstream {
    /// A place for one request, waiting up to `wait`; then the upstream
    /// counts as unavailable (a 503 for the client, never an instant error).
    async fn place(&self) -> UpstreamResult<OwnedSemaphorePermit> {
        match tokio::time::timeout(self.wait, self.places.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(UpstreamError::Unavailable(format!(
                "no requests to {} are possible",
                self.host
            ))),
            Err(_elapsed) => {
                tracing::warn!(
                    host = %self.host,
                    max = self.max,
                    "upstream host busy: no request slot within the upstream timeout"
                );
                Err(UpstreamError::Unavailable(format!(
                    "{} requests to {} are in flight and none finished within {} s",
                    self.max,
                    self.host,
                    self.wait.as_secs()
                )))
            }
        }
    }
}

#[async_trait]
impl Upstream for CappedUpstream {
    fn target(&self) -> &UpstreamRef {
        self.inner.target()
    }

    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage> {
        let _place = self.place().await?;
        self.inner.list_tags(last, n).await
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        let _place = self.place().await?;
        self.inner.head_manifest(reference).await
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        let _place = self.place().await?;
        self.inner.get_manifest(reference).await
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        let place = self.place().await?;
        let mut blob = self.inner.get_blob(digest, range).await?;
        // The connection is busy until the body is read or dropped.
        let mut place = Some(place);
        blob.body = blob
            .body
            .map(move |item| {
                if item.is_err() {
                    place.take();
                }
                item
            })
            .boxed();
        Ok(blob)
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        let _place = self.place().await?;
        self.inner.check_access().await
    }
}
